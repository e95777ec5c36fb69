"""Timer: duration formats, the stop point under a fake clock (vs Lightning), and its checkpoint state."""
from __future__ import annotations

import warnings
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit
import fastlit.callbacks.timer as timer_mod
from fastlit.callbacks import Timer
from fastlit.utilities.exceptions import MisconfigurationException


class FakeClock:
    """``time.monotonic`` that only moves when a training step says so (10 s per step)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def _fit(pl: Any, clock: FakeClock, timer: Any, tmp_path: Any = None, max_epochs: int = 4, **kw: Any) -> Any:
    torch.manual_seed(0)

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            clock.now += 10.0
            return self.layer(batch[0]).pow(2).mean()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    loader = DataLoader(TensorDataset(torch.randn(12, 2)), batch_size=4)  # 3 batches per epoch
    args = dict(max_epochs=max_epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
                enable_checkpointing=tmp_path is not None, callbacks=[timer])
    if tmp_path is not None:
        args["default_root_dir"] = str(tmp_path)
    args.update(kw)
    trainer = pl.Trainer(**args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Model(), loader)
    return trainer


@pytest.fixture
def clocks(monkeypatch, lightning):
    ours, theirs = FakeClock(), FakeClock()
    monkeypatch.setattr(timer_mod, "time", SimpleNamespace(monotonic=ours.monotonic))
    import pytorch_lightning.callbacks.timer as lit_timer

    monkeypatch.setattr(lit_timer, "time", SimpleNamespace(monotonic=theirs.monotonic))
    return ours, theirs


@pytest.mark.parametrize(("duration", "interval"), [("00:00:00:35", "step"), (timedelta(seconds=35), "epoch"),
                                                     ({"seconds": 65}, "step"), ({"minutes": 1}, "epoch")])
def test_stops_where_lightning_stops(clocks, lightning, duration, interval):
    ours, theirs = clocks
    t_ours = _fit(fastlit, ours, fastlit.callbacks.Timer(duration, interval=interval))
    t_lit = _fit(lightning, theirs, lightning.callbacks.Timer(duration, interval=interval))
    assert (t_ours.global_step, t_ours.current_epoch) == (t_lit.global_step, t_lit.current_epoch)
    assert t_ours.global_step < 12  # the budget, not max_epochs, ended the run
    timer = t_ours.callbacks[0]
    assert timer.time_elapsed("train") == pytest.approx(t_lit.callbacks[0].time_elapsed("train"))
    assert timer.time_remaining() <= 0


def test_step_interval_stops_mid_epoch(clocks):
    ours, _ = clocks
    trainer = _fit(fastlit, ours, Timer("00:00:00:35"))
    # 4 steps * 10 s >= 35 s: stops after the first batch of epoch 1, which still counts as finished (Lightning)
    assert trainer.global_step == 4 and trainer.current_epoch == 2


def test_no_duration_only_measures(clocks):
    ours, _ = clocks
    timer = Timer()
    trainer = _fit(fastlit, ours, timer, max_epochs=2)
    assert trainer.global_step == 6
    assert timer.time_elapsed("train") == pytest.approx(60.0)
    assert timer.time_remaining() is None
    assert timer.start_time("validate") is None and timer.time_elapsed("test") == 0


def test_checkpoint_state_and_resume(clocks, lightning, tmp_path):
    ours, theirs = clocks
    t_ours = _fit(fastlit, ours, Timer("00:00:01:00"), tmp_path=tmp_path / "f", max_epochs=2)
    t_lit = _fit(lightning, theirs, lightning.callbacks.Timer("00:00:01:00"), tmp_path=tmp_path / "l", max_epochs=2)
    ck_ours = torch.load(t_ours.checkpoint_callback.best_model_path, weights_only=False)
    ck_lit = torch.load(t_lit.checkpoint_callback.best_model_path, weights_only=False)
    assert ck_ours["callbacks"]["Timer"].keys() == ck_lit["callbacks"]["Timer"].keys()
    assert ck_ours["callbacks"]["Timer"]["time_elapsed"].keys() == ck_lit["callbacks"]["Timer"]["time_elapsed"].keys()
    assert ck_ours["callbacks"]["Timer"]["time_elapsed"]["train"] == pytest.approx(60.0)

    # a restored timer whose budget is spent stops the resumed run at once (checked in on_fit_start)
    resumed = Timer("00:00:01:00")
    resumed.load_state_dict(ck_ours["callbacks"]["Timer"])
    assert resumed.time_elapsed() == pytest.approx(60.0)
    trainer = _fit(fastlit, ours, resumed, max_epochs=5)
    theirs_resumed = lightning.callbacks.Timer("00:00:01:00")
    theirs_resumed.load_state_dict(ck_lit["callbacks"]["Timer"])
    t_lit = _fit(lightning, theirs, theirs_resumed, max_epochs=5)
    assert trainer.global_step == t_lit.global_step


def test_duration_formats_and_errors():
    assert Timer("01:02:03:04")._duration == timedelta(days=1, hours=2, minutes=3, seconds=4).total_seconds()
    assert Timer(timedelta(weeks=1))._duration == 7 * 24 * 3600
    assert Timer(dict(days=2, hours=1))._duration == 49 * 3600
    with pytest.raises(MisconfigurationException, match="DD:HH:MM:SS"):
        Timer("1:2:3")
    with pytest.raises(MisconfigurationException, match="Unsupported parameter value `Timer\\(interval=batch\\)`"):
        Timer("00:00:00:01", interval="batch")


def test_state_dict_keys_match_lightning(lightning):
    assert Timer().state_dict().keys() == lightning.callbacks.Timer().state_dict().keys()
    assert Timer().state_dict()["time_elapsed"].keys() == lightning.callbacks.Timer().state_dict()["time_elapsed"].keys()


def test_import_paths():
    from fastlit.callbacks.timer import Interval, Timer as T

    assert T is Timer and Interval.step == "step" and Interval("epoch") is Interval.epoch
