"""TQDMProgressBar with a fake trainer: what it prints, and how often it redraws.

Run this file directly (``python tests/callbacks/test_progress_tqdm.py``) for the per-batch micro-benchmark.
"""
import re
import sys
import time
from types import SimpleNamespace

import pytest
import torch

import fastlit.callbacks.progress.tqdm_progress as tqdm_progress
from fastlit.callbacks.progress import ProgressBar, TQDMProgressBar


class FakeLogger:
    version = 3


class FakeTrainer(SimpleNamespace):
    """The attributes a progress bar reads, as TRAINER_API.md documents them."""

    def __init__(self, **kwargs):
        defaults = dict(
            is_global_zero=True, num_training_batches=10, max_epochs=1, max_steps=-1, global_step=0,
            current_epoch=0, loggers=[FakeLogger()], sanity_checking=False, num_val_batches=[4],
            num_sanity_val_batches=[2], num_test_batches=[5], num_predict_batches=[6],
            state=SimpleNamespace(fn="fit"), check_val_every_n_epoch=1, enable_validation=True,
        )
        defaults.update(kwargs)
        super().__init__(**defaults)
        self.metric_reads = 0
        self._metrics = {"loss": torch.tensor(0.25)}

    @property
    def progress_bar_metrics(self):
        self.metric_reads += 1
        return self._metrics


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(tqdm_progress, "_clock", c)
    return c


def run_train_epoch(bar, trainer, batches, clock=None, step=0.0):
    bar.on_train_epoch_start(trainer, None)
    for i in range(batches):
        if clock is not None:
            clock.now += step
        bar.on_train_batch_end(trainer, None, None, None, i)
    bar.on_train_epoch_end(trainer, None)


def count_refreshes(monkeypatch, bar_obj):
    calls = []
    original = bar_obj.refresh

    def refresh(*args, **kwargs):
        calls.append(bar_obj.n)
        return original(*args, **kwargs)

    monkeypatch.setattr(bar_obj, "refresh", refresh)
    return calls


def test_epoch_line_shows_counts_metrics_and_v_num(capsys):
    trainer = FakeTrainer(num_training_batches=8)
    bar = TQDMProgressBar()
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)
    run_train_epoch(bar, trainer, 8)
    bar.on_train_end(trainer, None)
    out = capsys.readouterr().out  # Lightning 2.x's bars write to stdout
    last = out.split("\r")[-1]
    assert last.startswith("Epoch 0: 100%")
    assert "8/8" in last
    assert "v_num=3" in last and "loss=0.250" in last  # tensor metric turned into a float, padded to 5 chars


def test_refresh_throttled_by_time(monkeypatch, clock):
    trainer = FakeTrainer(num_training_batches=100)
    bar = TQDMProgressBar(refresh_rate=1)
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)
    calls = count_refreshes(monkeypatch, bar.train_progress_bar)
    bar.on_train_epoch_start(trainer, None)
    calls.clear()
    reads_before = trainer.metric_reads
    for i in range(100):
        clock.now += 0.0625  # 1/16 s per batch: a redraw is due every 2nd batch (0.125 s >= 0.1 s)
        bar.on_train_batch_end(trainer, None, None, None, i)
    # batch 1 (first), then 3, 5, ..., 99 (every 2 batches), and 100 (the last batch always draws)
    assert calls == [1] + list(range(3, 100, 2)) + [100]
    assert trainer.metric_reads - reads_before == len(calls)  # metrics are read only on redraw


def test_no_redraw_between_refresh_rate_batches(monkeypatch, clock):
    trainer = FakeTrainer(num_training_batches=23)
    bar = TQDMProgressBar(refresh_rate=5)
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)
    calls = count_refreshes(monkeypatch, bar.train_progress_bar)
    bar.on_train_epoch_start(trainer, None)
    calls.clear()
    for i in range(23):
        clock.now += 1.0  # time is never the limit here
        bar.on_train_batch_end(trainer, None, None, None, i)
    assert calls == [5, 10, 15, 20, 23]  # multiples of refresh_rate and the last batch, as in Lightning


def test_zero_interval_is_lightnings_schedule(monkeypatch):
    trainer = FakeTrainer(num_training_batches=7)
    bar = TQDMProgressBar(refresh_rate=3)
    bar.refresh_interval = 0  # no time limit: every refresh_rate-th batch and the last, like Lightning
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)
    calls = count_refreshes(monkeypatch, bar.train_progress_bar)
    bar.on_train_epoch_start(trainer, None)
    calls.clear()
    for i in range(7):
        bar.on_train_batch_end(trainer, None, None, None, i)
    assert calls == [3, 6, 7]


def test_fast_epoch_still_ends_with_exact_numbers(monkeypatch, clock, capsys):
    trainer = FakeTrainer(num_training_batches=float("inf"))  # unknown length: no "last batch" to force a draw
    bar = TQDMProgressBar()
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)
    calls = count_refreshes(monkeypatch, bar.train_progress_bar)
    bar.on_train_epoch_start(trainer, None)
    calls.clear()
    for i in range(50):  # the clock does not move: only the very first batch draws
        bar.on_train_batch_end(trainer, None, None, None, i)
    assert calls == [1]
    trainer._metrics = {"loss": 0.5}
    bar.on_train_epoch_end(trainer, None)
    assert bar.train_progress_bar.n == 50
    assert bar.train_progress_bar.total is None
    last = capsys.readouterr().out.split("\r")[-1]
    assert "50/?" in last and "loss=0.500" in last


def test_eval_bars_throttled_and_synced(monkeypatch, clock, capsys):
    trainer = FakeTrainer(num_val_batches=[30], state=SimpleNamespace(fn="validate"))
    bar = TQDMProgressBar()
    bar.setup(trainer, None, "validate")
    bar.on_validation_start(trainer, None)
    calls = count_refreshes(monkeypatch, bar.val_progress_bar)
    for i in range(30):
        bar.on_validation_batch_start(trainer, None, None, i, 0)
        bar.on_validation_batch_end(trainer, None, None, None, i, 0)
    assert [n for n in calls if n] == [1, 30]  # (the n=0 draws come from resetting the bar for dataloader 0)
    bar.on_validation_end(trainer, None)
    out = capsys.readouterr().out
    assert "Validation DataLoader 0: 100%" in out and "30/30" in out


def test_multiple_dataloaders_reset_the_bar(capsys):
    trainer = FakeTrainer(num_test_batches=[3, 2], state=SimpleNamespace(fn="test"))
    bar = TQDMProgressBar()
    bar.setup(trainer, None, "test")
    bar.on_test_start(trainer, None)
    for dl, n in enumerate((3, 2)):
        for i in range(n):
            bar.on_test_batch_start(trainer, None, None, i, dl)
            bar.on_test_batch_end(trainer, None, None, None, i, dl)
    bar.on_test_end(trainer, None)
    out = capsys.readouterr().out
    assert "Testing DataLoader 0: 100%" in out and "3/3" in out
    assert "Testing DataLoader 1: 100%" in out and "2/2" in out


def test_sanity_validation_and_predict_descriptions(capsys):
    trainer = FakeTrainer(sanity_checking=True)
    bar = TQDMProgressBar()
    bar.setup(trainer, None, "fit")
    bar.on_sanity_check_start(trainer, None)
    bar.on_validation_start(trainer, None)
    for i in range(2):
        bar.on_validation_batch_start(trainer, None, None, i)
        bar.on_validation_batch_end(trainer, None, None, None, i)
    bar.on_validation_end(trainer, None)
    bar.on_sanity_check_end(trainer, None)
    trainer.state.fn = "predict"
    bar.on_predict_start(trainer, None)
    for i in range(6):
        bar.on_predict_batch_start(trainer, None, None, i)
        bar.on_predict_batch_end(trainer, None, None, None, i)
    bar.on_predict_end(trainer, None)
    out = capsys.readouterr().out
    assert "Sanity Checking DataLoader 0: 100%" in out and "2/2" in out
    assert "Predicting DataLoader 0: 100%" in out and "6/6" in out


def test_validation_metrics_reach_train_bar(capsys):
    trainer = FakeTrainer(num_training_batches=4)
    bar = TQDMProgressBar()
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)
    bar.on_train_epoch_start(trainer, None)
    for i in range(4):
        bar.on_train_batch_end(trainer, None, None, None, i)
    bar.on_validation_start(trainer, None)
    for i in range(4):
        bar.on_validation_batch_start(trainer, None, None, i)
        bar.on_validation_batch_end(trainer, None, None, None, i)
    trainer._metrics = {"loss": 0.25, "val_acc": 0.9}
    bar.on_validation_end(trainer, None)
    bar.on_train_epoch_end(trainer, None)
    bar.on_train_end(trainer, None)
    last = capsys.readouterr().out.split("\r")[-1]
    assert last.startswith("Epoch 0: 100%") and "val_acc=0.900" in last and "v_num=3" in last


def test_disabled_bar_prints_nothing(capsys):
    trainer = FakeTrainer()
    bar = TQDMProgressBar(refresh_rate=0)
    assert bar.is_disabled
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)
    run_train_epoch(bar, trainer, 10)
    bar.on_train_end(trainer, None)
    assert capsys.readouterr().out == ""
    assert trainer.metric_reads == 0


def test_non_zero_rank_is_disabled(capsys):
    trainer = FakeTrainer(is_global_zero=False)
    bar = TQDMProgressBar()
    bar.setup(trainer, None, "fit")
    assert bar.is_disabled
    bar.on_train_start(trainer, None)
    run_train_epoch(bar, trainer, 10)
    assert capsys.readouterr().out == ""


def test_get_metrics_override_and_version_strings():
    class NoVersion(TQDMProgressBar):
        def get_metrics(self, trainer, pl_module):
            items = super().get_metrics(trainer, pl_module)
            items.pop("v_num", None)
            return items

    trainer = FakeTrainer()
    assert NoVersion().get_metrics(trainer, None) == {"loss": 0.25}
    assert TQDMProgressBar().get_metrics(trainer, None) == {"v_num": 3, "loss": 0.25}
    trainer.loggers = [SimpleNamespace(version="version_12345")]
    assert TQDMProgressBar().get_metrics(trainer, None)["v_num"] == "2345"  # last 4 chars, as Lightning
    trainer.loggers = []
    assert "v_num" not in TQDMProgressBar().get_metrics(trainer, None)


def test_total_train_batches_with_max_steps():
    trainer = FakeTrainer(num_training_batches=100, max_epochs=-1, max_steps=30, global_step=10)
    bar = TQDMProgressBar()
    bar.setup(trainer, None, "fit")
    assert bar.total_train_batches == 20


def test_leave_keeps_one_line_per_epoch(capsys):
    trainer = FakeTrainer(num_training_batches=3, max_epochs=2)
    bar = TQDMProgressBar(leave=True)
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)
    for epoch in range(2):
        trainer.current_epoch = epoch
        run_train_epoch(bar, trainer, 3)
    bar.on_train_end(trainer, None)
    out = capsys.readouterr().out
    assert "Epoch 0: 100%" in out and "Epoch 1: 100%" in out


def test_pickle_drops_bars():
    import pickle

    trainer = FakeTrainer()
    bar = TQDMProgressBar()
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)
    bar._trainer = None
    clone = pickle.loads(pickle.dumps(bar))
    assert clone._train_progress_bar is None and clone.refresh_rate == 1


def test_unset_bar_and_trainer_raise_clear_errors():
    bar = TQDMProgressBar()
    with pytest.raises(TypeError, match="_train_progress_bar"):
        bar.train_progress_bar
    with pytest.raises(TypeError, match="_trainer"):
        bar.trainer
    with pytest.raises(NotImplementedError):
        ProgressBar().disable()


def test_padding_of_postfix_numbers():
    Tqdm = tqdm_progress._get_tqdm_class()
    assert Tqdm.format_num(0.1) == "0.100"
    assert Tqdm.format_num(1.0) == "1.000"
    assert Tqdm.format_num(3) == "3"
    assert Tqdm.format_num("ab") == "ab"
    assert Tqdm.format_num(1e-7) == "1e-7"


def test_tqdm_is_imported_lazily():
    import subprocess

    code = ("import sys, fastlit.callbacks.progress.tqdm_progress as m;"
            "print(m._tqdm_class is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_validation_bar_after_sanity_check_starts_at_zero(capsys):
    trainer = FakeTrainer(sanity_checking=True, num_val_batches=[3])
    bar = TQDMProgressBar()
    bar.setup(trainer, None, "fit")
    bar.on_sanity_check_start(trainer, None)
    bar.on_validation_start(trainer, None)
    for i in range(2):
        bar.on_validation_batch_start(trainer, None, None, i)
        bar.on_validation_batch_end(trainer, None, None, None, i)
    bar.on_validation_end(trainer, None)
    bar.on_sanity_check_end(trainer, None)
    trainer.sanity_checking = False
    bar.on_train_start(trainer, None)
    run_train_epoch(bar, trainer, 10)
    capsys.readouterr()
    bar.on_validation_start(trainer, None)
    bar.on_validation_batch_start(trainer, None, None, 0)
    bar.on_validation_batch_end(trainer, None, None, None, 0)
    bar.on_validation_end(trainer, None)
    out = capsys.readouterr().out
    assert "2/?" not in out  # the sanity check's count never leaks into the new bar
    assert "Validation DataLoader 0:" in out and "1/3" in out


class TinyModule:
    """Built lazily so importing this file does not need the Trainer."""

    @staticmethod
    def make():
        import fastlit

        class Tiny(fastlit.LightningModule):
            def __init__(self):
                super().__init__()
                self.layer = torch.nn.Linear(4, 1)

            def training_step(self, batch, batch_idx):
                loss = self.layer(batch[0]).pow(2).mean()
                self.log("train_loss", loss, prog_bar=True)
                return loss

            def validation_step(self, batch, batch_idx):
                self.log("val_loss", self.layer(batch[0]).pow(2).mean(), prog_bar=True)

            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=0.1)

        return Tiny()


def test_trainer_fit_shows_epoch_line(tmp_path, capsys):
    import fastlit
    from fastlit.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    data = DataLoader(TensorDataset(torch.randn(40, 4)), batch_size=4)
    trainer = fastlit.Trainer(max_epochs=2, default_root_dir=tmp_path, enable_model_summary=False,
                              logger=CSVLogger(tmp_path, version=7), enable_checkpointing=False,
                              limit_val_batches=3, log_every_n_steps=1)
    assert isinstance(trainer.progress_bar_callback, TQDMProgressBar)
    trainer.fit(TinyModule.make(), data, data)
    out = capsys.readouterr().out
    last = out.split("\r")[-1]
    assert re.match(r"Epoch 1: 100%\|.*\| 10/10 \[.*it/s, v_num=7, train_loss=[0-9.e-]+, val_loss=[0-9.e-]+\]", last)
    assert "Sanity Checking DataLoader 0: 100%" in out and "Validation DataLoader 0: 100%" in out


def test_trainer_without_progress_bar_prints_nothing(tmp_path, capsys):
    import fastlit
    from torch.utils.data import DataLoader, TensorDataset

    trainer = fastlit.Trainer(max_epochs=1, default_root_dir=tmp_path, enable_progress_bar=False,
                              enable_model_summary=False, logger=False, enable_checkpointing=False)
    assert trainer.progress_bar_callback is None
    trainer.fit(TinyModule.make(), DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=4))
    assert capsys.readouterr().out == ""


def _normalize(line):
    line = re.sub(r"\[[^\]]*\]", lambda m: re.sub(r"[0-9.e+-]+", "N", m.group(0)), line)  # times, rates, metrics
    line = line.replace("\x1b[A", "")  # cursor-up codes and tqdm's blank padding depend on earlier lines' width
    return re.sub(r"\|[^|]*\|", "|BAR|", line, count=1).rstrip()


def test_final_lines_match_lightning(tmp_path, capsys, lightning_without_rich):
    pl = pytest.importorskip("pytorch_lightning")
    import fastlit
    from torch.utils.data import DataLoader, TensorDataset

    def fit(lib, root):
        class Tiny(lib.LightningModule):
            def __init__(self):
                super().__init__()
                self.layer = torch.nn.Linear(4, 1)

            def training_step(self, batch, batch_idx):
                loss = self.layer(batch[0]).pow(2).mean()
                self.log("train_loss", loss, prog_bar=True)
                return loss

            def validation_step(self, batch, batch_idx):
                self.log("val_loss", self.layer(batch[0]).pow(2).mean(), prog_bar=True)

            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=0.1)

        data = DataLoader(TensorDataset(torch.randn(24, 4)), batch_size=4)
        trainer = lib.Trainer(max_epochs=2, default_root_dir=root, enable_model_summary=False,
                              enable_checkpointing=False, log_every_n_steps=1, limit_val_batches=2)
        trainer.fit(Tiny(), data, data)
        out = capsys.readouterr().out
        # each bar's last state, in order of appearance
        finals = {}
        for chunk in re.split(r"[\r\n]", out):
            m = re.match(r"(Sanity Checking DataLoader 0|Validation DataLoader 0|Epoch \d+):", chunk)
            if m:
                finals[m.group(1)] = _normalize(chunk)
        return finals

    theirs = fit(pl, tmp_path / "pl")
    ours = fit(fastlit, tmp_path / "fl")
    assert list(ours) == list(theirs) == ["Sanity Checking DataLoader 0", "Epoch 0", "Validation DataLoader 0",
                                          "Epoch 1"]
    assert ours == theirs


def _benchmark(n: int = 10_000, repeats: int = 5) -> None:
    """Per-batch cost of on_train_batch_end: fake trainer, real tqdm writing to a throwaway stream."""
    import io

    trainer = FakeTrainer(num_training_batches=n)
    for rate in (1, 10):
        bar = TQDMProgressBar(refresh_rate=rate)
        bar.setup(trainer, None, "fit")
        stdout, sys.stdout = sys.stdout, io.StringIO()
        try:
            bar.on_train_start(trainer, None)
            best = float("inf")
            for _ in range(repeats):
                bar.on_train_epoch_start(trainer, None)
                hook = bar.on_train_batch_end
                t0 = time.perf_counter()
                for i in range(n):
                    hook(trainer, None, None, None, i)
                best = min(best, time.perf_counter() - t0)
                bar.on_train_epoch_end(trainer, None)
            bar.on_train_end(trainer, None)
        finally:
            sys.stdout = stdout
        t0 = time.perf_counter()
        for i in range(n):
            pass
        loop = time.perf_counter() - t0
        print(f"refresh_rate={rate}: on_train_batch_end {1e6 * best / n:.3f} us/batch "
              f"(empty loop {1e6 * loop / n:.3f} us), metric reads: {trainer.metric_reads}")


if __name__ == "__main__":
    _benchmark()
