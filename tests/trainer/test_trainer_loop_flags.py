"""Each loop flag of issue 2 §4, run under Lightning and fastlit with the same module/data: what a user observes
(global_step, current_epoch, which train/val batches ran in which epoch, logged metric keys, the rows of
CSVLogger's metrics.csv, checkpoint file names, final weights) must match. Plus Lightning-independent checks."""
from __future__ import annotations

import math
import os
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import fastlit
from helpers import find_files, randn_dataset, read_metrics_csv

pl_lightning = pytest.importorskip("pytorch_lightning")

N_TRAIN, N_VAL = 4, 3  # batches per epoch (batch size 4)


def _recording_module(pl: Any) -> type:
    class Rec(pl.LightningModule):
        def __init__(self, stop_at: Any = None, log_epoch: bool = False) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(8, 2)
            self.calls: list = []
            self.stop_at = stop_at
            self.log_epoch = log_epoch

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.calls.append(("train", self.current_epoch, batch_idx, self.global_step))
            loss = F.mse_loss(self.layer(batch[0]), batch[1])
            self.log("train_loss", loss, on_epoch=self.log_epoch)
            if self.stop_at is not None and (self.current_epoch, batch_idx) == self.stop_at:
                self.trainer.should_stop = True
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.calls.append(("val", self.current_epoch, batch_idx, self.global_step, self.trainer.sanity_checking))
            self.log("val_loss", F.mse_loss(self.layer(batch[0]), batch[1]))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.05)

    return Rec


def observe(pl: Any, root: str, module_kw: Any = None, **trainer_kw: Any) -> dict[str, Any]:
    """Fit once and collect everything a user could look at afterwards."""
    torch.manual_seed(0)
    model = _recording_module(pl)(**(module_kw or {}))
    kw = dict(default_root_dir=root, max_epochs=2, enable_progress_bar=False, enable_model_summary=False,
              logger=pl.loggers.CSVLogger(root), log_every_n_steps=1)
    kw.update(trainer_kw)
    if kw.get("logger") is False or kw.get("fast_dev_run"):
        kw.pop("logger") if kw.get("logger") is not False else None
    trainer = pl.Trainer(**kw)
    train = DataLoader(randn_dataset(4 * N_TRAIN, seed=1), batch_size=4)
    val = DataLoader(randn_dataset(4 * N_VAL, seed=2), batch_size=4)
    trainer.fit(model, train, val)
    csv_rows = []
    for f in find_files(root, "metrics.csv"):
        for row in read_metrics_csv(os.path.join(root, f)):
            csv_rows.append({k: round(float(v), 5) for k, v in row.items() if v != ""})
    return {
        "global_step": trainer.global_step,
        "current_epoch": trainer.current_epoch,
        "calls": model.calls,
        "callback_metrics": sorted(trainer.callback_metrics),
        "logged_metrics": sorted(trainer.logged_metrics),
        "csv": csv_rows,
        "files": [f for f in find_files(root, "") if not f.endswith(("hparams.yaml",))],
        "num_training_batches": trainer.num_training_batches,
        "num_val_batches": list(trainer.num_val_batches),
        "weights": [p.detach().clone() for p in model.parameters()],
    }


def assert_same(expected: dict, got: dict) -> None:
    for key in expected:
        if key == "weights":
            for a, b in zip(expected[key], got[key]):
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
        else:
            assert got[key] == expected[key], f"{key}:\n lightning {expected[key]}\n fastlit   {got[key]}"


CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "max_epochs_3": {"max_epochs": 3},
    "max_steps_6": {"max_steps": 6, "max_epochs": -1},
    "max_steps_within_epoch": {"max_steps": 3},
    "limit_train_int": {"limit_train_batches": 2},
    "limit_train_float": {"limit_train_batches": 0.5},
    "limit_val_int": {"limit_val_batches": 1},
    "limit_val_float": {"limit_val_batches": 0.7},
    "limit_val_zero": {"limit_val_batches": 0},
    "val_check_interval_float": {"val_check_interval": 0.5},
    "val_check_interval_int": {"val_check_interval": 2},
    "val_check_interval_int_no_epoch": {"val_check_interval": 3, "check_val_every_n_epoch": None, "max_epochs": 2},
    "check_val_every_2": {"check_val_every_n_epoch": 2, "max_epochs": 3},
    "sanity_0": {"num_sanity_val_steps": 0},
    "sanity_all": {"num_sanity_val_steps": -1},
    "sanity_1": {"num_sanity_val_steps": 1},
    "accumulate_2": {"accumulate_grad_batches": 2},
    "accumulate_3_partial": {"accumulate_grad_batches": 3},
    "clip_norm": {"gradient_clip_val": 0.01},
    "clip_value": {"gradient_clip_val": 0.001, "gradient_clip_algorithm": "value"},
    "log_every_3": {"log_every_n_steps": 3, "max_epochs": 3},
    "log_every_default": {"log_every_n_steps": None},
    "no_checkpointing": {"enable_checkpointing": False},
    "no_logger": {"logger": False},
    "min_epochs_with_stop": {"min_epochs": 3, "max_epochs": 5, "_module": {"stop_at": (0, 1)}},
    "stop_no_min": {"max_epochs": 5, "_module": {"stop_at": (1, 1)}},
    "log_on_epoch": {"_module": {"log_epoch": True}},
    "accumulate_3_val_half": {"accumulate_grad_batches": 3, "val_check_interval": 0.5},
    "accumulate_2_log_every_2": {"accumulate_grad_batches": 2, "log_every_n_steps": 2, "max_epochs": 3},
    "check_val_2_interval_half": {"check_val_every_n_epoch": 2, "val_check_interval": 0.5, "max_epochs": 2},
    "limit_train_zero": {"limit_train_batches": 0},
    "min_steps_with_stop": {"min_steps": 6, "max_epochs": 5, "_module": {"stop_at": (0, 0)}},
    "max_steps_and_accumulate": {"max_steps": 3, "accumulate_grad_batches": 2, "max_epochs": -1},
    "overfit_batches_int": {"overfit_batches": 2},
    "overfit_batches_float": {"overfit_batches": 0.5},
}


@pytest.mark.parametrize("case", list(CASES))
def test_loop_flag_matches_lightning(case: str, tmp_path: Any) -> None:
    kw = dict(CASES[case])
    module_kw = kw.pop("_module", None)
    if kw.get("log_every_n_steps", 1) is None:
        kw.pop("log_every_n_steps")
    expected = observe(pl_lightning, str(tmp_path / "pl"), module_kw, **kw)
    got = observe(fastlit, str(tmp_path / "fl"), module_kw, **kw)
    if case == "limit_train_zero":  # Lightning leaves the attribute at inf when it skips setup; fastlit says 0
        assert (expected.pop("num_training_batches"), got.pop("num_training_batches")) == (math.inf, 0)
    assert_same(expected, got)


@pytest.mark.parametrize("fdr", [True, 3])
def test_fast_dev_run_matches_lightning_and_writes_nothing(fdr: Any, tmp_path: Any) -> None:
    expected = observe(pl_lightning, str(tmp_path / "pl"), fast_dev_run=fdr, logger=None)
    got = observe(fastlit, str(tmp_path / "fl"), fast_dev_run=fdr, logger=None)
    assert_same(expected, got)
    n = 1 if fdr is True else fdr
    assert got["global_step"] == n
    assert [c for c in got["calls"] if c[0] == "val"] == [("val", 0, i, n, False) for i in range(min(n, N_VAL))]
    assert got["files"] == [] and not os.path.exists(tmp_path / "fl" / "lightning_logs")


# ------------------------------------------------------------------------------------ Lightning-independent checks
def test_counts_without_lightning(tmp_path: Any) -> None:
    got = observe(fastlit, str(tmp_path), max_epochs=3, limit_train_batches=3, limit_val_batches=2,
                  val_check_interval=1.0, num_sanity_val_steps=1)
    train = [c for c in got["calls"] if c[0] == "train"]
    val = [c for c in got["calls"] if c[0] == "val"]
    assert got["global_step"] == 9 and got["current_epoch"] == 3
    assert [c[1:3] for c in train] == [(e, b) for e in range(3) for b in range(3)]
    assert [c[1:] for c in val] == [(0, 0, 0, True)] + [(e, b, 3 * (e + 1), False) for e in range(3) for b in range(2)]
    assert got["files"].count("lightning_logs/version_0/checkpoints/epoch=2-step=9.ckpt") == 1


def _grad_model(lr: float = 0.0) -> fastlit.LightningModule:
    class M(fastlit.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(8, 2)
            self.grads: list = []

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return F.mse_loss(self.layer(batch[0]), batch[1]) * 50

        def on_before_optimizer_step(self, optimizer: Any) -> None:
            self.grads.append([p.grad.clone() for p in self.parameters()])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=lr)  # lr 0: every step sees the same weights

    return M()


def _reference_grads(batches: list, clip: Any = None) -> list[torch.Tensor]:
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 2)
    loss = sum(F.mse_loss(layer(x), y) * 50 * x.shape[0] for x, y in batches) / sum(x.shape[0] for x, _ in batches)
    loss.backward()
    if clip == "norm":
        torch.nn.utils.clip_grad_norm_(list(layer.parameters()), 0.5)
    elif clip == "value":
        torch.nn.utils.clip_grad_value_(list(layer.parameters()), 0.05)
    return [p.grad for p in layer.parameters()]


def test_accumulated_grads_equal_big_batch() -> None:
    ds = randn_dataset(16, seed=3)
    model = _grad_model()
    trainer = fastlit.Trainer(max_epochs=1, accumulate_grad_batches=2, logger=False, enable_checkpointing=False,
                              enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, DataLoader(ds, batch_size=4))
    assert trainer.global_step == 2 and len(model.grads) == 2
    batches = [ds.tensors[0].split(4), ds.tensors[1].split(4)]
    pairs = list(zip(*batches))
    for step, grads in enumerate(model.grads):
        ref = _reference_grads(pairs[2 * step:2 * step + 2])
        for g, r in zip(grads, ref):
            torch.testing.assert_close(g, r)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_clipping_equals_torch_clip(algorithm: str, fused: bool) -> None:
    """One SGD step with lr=1: the weight change is exactly the clipped gradient. (With the fused optimizer, norm
    clipping is folded into the step, so ``p.grad`` itself is left unclipped; the update is what counts.)"""
    ds = randn_dataset(4, seed=4)
    model = _grad_model(lr=1.0)
    before = [p.detach().clone() for p in model.parameters()]
    clip = 0.5 if algorithm == "norm" else 0.05
    trainer = fastlit.Trainer(max_epochs=1, gradient_clip_val=clip, gradient_clip_algorithm=algorithm, logger=False,
                              enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                              fused_optimizer=fused)
    trainer.fit(model, DataLoader(ds, batch_size=4))
    assert trainer.global_step == 1
    applied = [b - a.detach() for b, a in zip(before, model.parameters())]
    batch = [(ds.tensors[0], ds.tensors[1])]
    unclipped, clipped = _reference_grads(batch), _reference_grads(batch, clip=algorithm)
    assert any(not torch.allclose(u, c) for u, c in zip(unclipped, clipped))  # the clip does bite here
    for g, r in zip(applied, clipped):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)
    if algorithm == "value":
        assert max(g.abs().max().item() for g in applied) <= clip + 1e-6
    else:
        assert math.isclose(torch.cat([g.flatten() for g in applied]).norm().item(), clip, rel_tol=1e-4)


def test_enable_flags_off_adds_no_callbacks(tmp_path: Any) -> None:
    trainer = fastlit.Trainer(default_root_dir=str(tmp_path), enable_checkpointing=False, enable_progress_bar=False,
                              enable_model_summary=False, logger=False, max_epochs=1)
    assert trainer.callbacks == [] and trainer.loggers == [] and trainer.checkpoint_callback is None
    assert trainer.progress_bar_callback is None
    on = fastlit.Trainer(default_root_dir=str(tmp_path), max_epochs=1)
    names = sorted(type(c).__name__ for c in on.callbacks)
    assert names == ["ModelCheckpoint", "ModelSummary", "TQDMProgressBar"]
    assert type(on.logger).__name__ == "TensorBoardLogger"
