"""``self.log``: defaults per hook, ``name_step``/``name_epoch`` keys, reduce_fx, batch_size weighting, and the
trainer's callback_metrics / logged_metrics / progress_bar_metrics plus CSVLogger rows, compared with Lightning."""
from __future__ import annotations

import os
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import fastlit
from helpers import find_files, quiet, randn_dataset, read_metrics_csv

pl_lightning = pytest.importorskip("pytorch_lightning")


def _logging_module(pl: Any) -> type:
    class Logs(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(8, 2)

        def _loss(self, batch: Any) -> torch.Tensor:
            return F.mse_loss(self.layer(batch[0]), batch[1])

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self._loss(batch)
            self.log("t_default", loss)
            self.log("t_both", loss, on_step=True, on_epoch=True, prog_bar=True)
            self.log("t_epoch_max", loss, on_step=False, on_epoch=True, reduce_fx="max")
            self.log("t_epoch_min", loss, on_step=False, on_epoch=True, reduce_fx=torch.min)
            self.log("t_epoch_sum", loss, on_step=False, on_epoch=True, reduce_fx="sum")
            self.log("t_no_logger", loss, logger=False, prog_bar=True)
            self.log("t_python", float(batch_idx), on_epoch=True)
            self.log("t_weighted", batch[0].shape[0] * 1.0, on_step=False, on_epoch=True)
            self.log("t_bs", loss, on_step=False, on_epoch=True, batch_size=batch_idx + 1)
            self.log_dict({"d_a": loss * 2, "d_b": loss * 3}, on_epoch=True)
            return loss

        def on_train_epoch_end(self) -> None:
            self.log("train_epoch_end", float(self.current_epoch))

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            loss = self._loss(batch)
            self.log("v_default", loss)
            self.log("v_both", loss, on_step=True, prog_bar=True)
            self.log("v_sum", loss, reduce_fx="sum")
            self.log("v_weighted", batch[0].shape[0] * 1.0)

        def on_validation_epoch_end(self) -> None:
            self.log("val_epoch_end", 1.0 + self.current_epoch, prog_bar=True)

        def test_step(self, batch: Any, batch_idx: int) -> None:
            self.log("test_default", self._loss(batch))
            self.log("test_step_too", self._loss(batch), on_step=True)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.05)

    return Logs


def _values(d: dict) -> dict:
    return {k: round(float(v), 5) for k, v in d.items()}


def _csv(root: str) -> list[dict]:
    rows = []
    for f in find_files(root, "metrics.csv"):
        rows += [{k: round(float(v), 5) for k, v in r.items() if v != ""} for r in read_metrics_csv(os.path.join(root, f))]
    return rows


def _observe(pl: Any, root: str, log_every: int = 1) -> dict:
    model = _logging_module(pl)()
    trainer = pl.Trainer(**quiet(default_root_dir=root, max_epochs=2, logger=pl.loggers.CSVLogger(root),
                                 log_every_n_steps=log_every, enable_checkpointing=False))
    # 10 samples at batch size 4: the last batch has 2, so size-weighted means differ from plain means
    train = DataLoader(randn_dataset(10, seed=1), batch_size=4)
    val = DataLoader(randn_dataset(10, seed=2), batch_size=4)
    trainer.fit(model, train, val)
    out = {"fit": (_values(trainer.callback_metrics), _values(trainer.logged_metrics),
                   _values(trainer.progress_bar_metrics))}
    val_res = trainer.validate(model, val, verbose=False)
    out["validate"] = (_values(trainer.callback_metrics), _values(trainer.logged_metrics), val_res)
    test_res = trainer.test(model, val, verbose=False)
    out["test"] = (_values(trainer.callback_metrics), _values(trainer.logged_metrics), test_res)
    out["csv"] = _csv(root)
    return out


@pytest.mark.parametrize("log_every", [1, 2])
def test_logged_metrics_match_lightning(log_every: int, tmp_path: Any) -> None:
    expected = _observe(pl_lightning, str(tmp_path / "pl"), log_every)
    got = _observe(fastlit, str(tmp_path / "fl"), log_every)
    for stage in ("fit", "validate", "test"):
        for what, e, g in zip(("callback_metrics", "logged_metrics", "third"), expected[stage], got[stage]):
            assert g == e, f"{stage} {what}:\n lightning {e}\n fastlit   {g}"
    assert got["csv"] == expected["csv"]


def test_logging_defaults_without_lightning(tmp_path: Any) -> None:
    got = _observe(fastlit, str(tmp_path))
    cb, logged, pbar = got["fit"]
    # both on -> forked keys; on_epoch only -> plain key; the plain name of a forked metric is in callback_metrics
    assert {"t_both_step", "t_both_epoch", "t_both"} <= set(cb)
    assert "t_both" not in logged and {"t_both_step", "t_both_epoch"} <= set(logged)
    assert "t_no_logger" not in logged and "t_no_logger" in pbar
    # epoch means are weighted by batch size: sizes 4, 4, 2
    assert cb["t_weighted"] == pytest.approx((4 * 4 + 4 * 4 + 2 * 2) / 10)
    assert cb["t_bs"] == pytest.approx(cb["t_bs"])  # explicit batch_size accepted
    assert cb["v_weighted"] == pytest.approx((16 + 16 + 4) / 10)
    # after the epoch the plain name of a forked metric holds the epoch value
    assert cb["t_python"] == cb["t_python_epoch"] == pytest.approx((0 * 4 + 1 * 4 + 2 * 2) / 10)
    assert logged["t_python_step"] == 2.0  # the last batch's value (batch_idx 2)
    assert cb["train_epoch_end"] == 1.0 and cb["val_epoch_end"] == 2.0


def test_reduce_fx_and_batch_size_on_a_known_sequence(tmp_path: Any) -> None:
    values = [3.0, 1.0, 2.0]

    class M(fastlit.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(8, 2)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            v = torch.tensor(values[batch_idx])
            for fx in ("mean", "sum", "max", "min"):
                self.log(f"r_{fx}", v, on_step=False, on_epoch=True, reduce_fx=fx)
            self.log("weighted", v, on_step=False, on_epoch=True, batch_size=[1, 2, 7][batch_idx])
            return self.layer(batch[0]).sum()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.0)

    trainer = fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    trainer.fit(M(), DataLoader(randn_dataset(12), batch_size=4))
    cb = trainer.callback_metrics
    assert float(cb["r_mean"]) == pytest.approx(2.0)
    assert float(cb["r_sum"]) == 6.0 and float(cb["r_max"]) == 3.0 and float(cb["r_min"]) == 1.0
    assert float(cb["weighted"]) == pytest.approx((3 * 1 + 1 * 2 + 2 * 7) / 10)


@pytest.mark.parametrize("fx,kwargs,match", [
    ("on_train_epoch_end", {"on_step": True}, "on_step=True"),
    ("training_step", {"reduce_fx": "median"}, "reduce_fx"),
])
def test_invalid_log_calls_are_clear_errors(fx: str, kwargs: dict, match: str) -> None:
    class M(fastlit.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(8, 2)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if fx == "training_step":
                self.log("x", 1.0, **kwargs)
            return self.layer(batch[0]).sum()

        def on_train_epoch_end(self) -> None:
            if fx == "on_train_epoch_end":
                self.log("x", 1.0, **kwargs)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.0)

    trainer = fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    with pytest.raises(Exception, match=match):
        trainer.fit(M(), DataLoader(randn_dataset(8), batch_size=4))


def test_log_tensor_must_be_scalar() -> None:
    class M(fastlit.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(8, 2)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            out = self.layer(batch[0])
            self.log("vec", out.mean(0))
            return out.sum()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.0)

    trainer = fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    with pytest.raises(Exception, match="vec"):
        trainer.fit(M(), DataLoader(randn_dataset(8), batch_size=4))
