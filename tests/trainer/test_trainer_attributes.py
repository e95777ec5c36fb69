"""Trainer attributes right after construction and after a fit, compared with Lightning's for several argument
sets (defaults, limits, fast_dev_run, max_steps only, ...)."""
from __future__ import annotations

import os
from typing import Any

import pytest

import fastlit
from helpers import models, quiet, randn_loader

pl_lightning = pytest.importorskip("pytorch_lightning")

ATTRS = ["max_epochs", "min_epochs", "max_steps", "min_steps", "limit_train_batches", "limit_val_batches",
         "limit_test_batches", "limit_predict_batches", "val_check_interval", "check_val_every_n_epoch",
         "num_sanity_val_steps", "log_every_n_steps", "accumulate_grad_batches", "gradient_clip_val",
         "gradient_clip_algorithm", "fast_dev_run", "current_epoch", "global_step", "should_stop",
         "sanity_checking", "training", "validating", "testing", "predicting", "is_global_zero", "world_size",
         "global_rank", "local_rank", "num_nodes", "num_devices", "enable_validation", "overfit_batches",
         "reload_dataloaders_every_n_epochs", "precision"]

CASES = [
    {},
    {"max_epochs": None, "max_steps": 6},
    {"max_steps": 10},
    {"max_epochs": 3, "min_epochs": 2, "limit_train_batches": 0.5, "limit_val_batches": 2},
    {"fast_dev_run": True},
    {"fast_dev_run": 4},
    {"num_sanity_val_steps": -1, "log_every_n_steps": 5, "val_check_interval": 0.25},
    {"check_val_every_n_epoch": None, "val_check_interval": 3, "max_epochs": 2},
    {"gradient_clip_val": 1, "gradient_clip_algorithm": "value", "accumulate_grad_batches": 4},
    {"precision": 64},
    {"precision": "bf16-mixed"},
    # whole-number floats above 1 are batch counts (Lightning turns them into ints)
    {"limit_train_batches": 2.0, "limit_val_batches": 3.0, "val_check_interval": 2.0, "max_epochs": 1},
]


def _attrs(trainer: Any) -> dict:
    out = {}
    for name in ATTRS:
        v = getattr(trainer, name)
        out[name] = getattr(v, "value", v) if not isinstance(v, (int, float, str, type(None))) else v
    return out


@pytest.mark.parametrize("kw", CASES, ids=[str(c) for c in CASES])
def test_trainer_attributes_match_lightning(kw: dict, tmp_path: Any) -> None:
    if not {"max_epochs", "max_steps", "fast_dev_run"} & set(kw):
        kw = {**kw, "max_epochs": 2}  # not the default 1000 epochs
    pl_t = pl_lightning.Trainer(**quiet(default_root_dir=str(tmp_path / "pl"), **kw))
    fl_t = fastlit.Trainer(**quiet(default_root_dir=str(tmp_path / "fl"), **kw))
    # Lightning resolves max_epochs/min_epochs defaults only when fit starts (None before); fastlit at once
    before_pl, before_fl = _attrs(pl_t), _attrs(fl_t)
    for name in ("max_epochs", "min_epochs"):
        before_pl.pop(name), before_fl.pop(name)
    assert before_fl == before_pl
    assert _rel(fl_t.log_dir, tmp_path / "fl") == _rel(pl_t.log_dir, tmp_path / "pl")
    for t in (pl_t, fl_t):
        t.fit(models(pl_lightning if t is pl_t else fastlit).BoringModel(), randn_loader(16), randn_loader(8))
    after_pl, after_fl = _attrs(pl_t), _attrs(fl_t)
    if after_pl["min_epochs"] == 0 and after_fl["min_epochs"] is None:  # Lightning's fit loop resolves None to 0
        after_pl["min_epochs"] = None
    assert after_fl == after_pl
    for name in ("num_training_batches", "num_val_batches", "num_sanity_val_batches", "val_check_batch"):
        assert getattr(fl_t, name) == getattr(pl_t, name), name
    assert _rel(fl_t.log_dir, tmp_path / "fl") == _rel(pl_t.log_dir, tmp_path / "pl")


def _rel(path: Any, root: Any) -> Any:
    return os.path.relpath(path, root) if path else path


@pytest.mark.parametrize("with_val", [True, False])
def test_attributes_seen_by_setup_hooks_match_lightning(with_val: bool, tmp_path: Any) -> None:
    """What a callback reads in ``setup``/``on_fit_start`` (e.g. ``enable_validation``, which ThroughputMonitor
    uses to prepare its validation meter) is what Lightning shows there."""
    seen = {}
    for pl in (pl_lightning, fastlit):
        class Spy(pl.Callback):
            def setup(self, trainer, pl_module, stage):
                seen[pl.__name__, "setup"] = _attrs(trainer)

            def on_fit_start(self, trainer, pl_module):
                seen[pl.__name__, "fit_start"] = _attrs(trainer)

        trainer = pl.Trainer(**quiet(default_root_dir=str(tmp_path / pl.__name__), max_epochs=1, callbacks=[Spy()]))
        trainer.fit(models(pl).BoringModel(), randn_loader(16), randn_loader(8) if with_val else None)
    for hook in ("setup", "fit_start"):
        ours, theirs = seen["fastlit", hook], seen["pytorch_lightning", hook]
        ours.pop("min_epochs"), theirs.pop("min_epochs")  # Lightning's fit loop resolves None to 0 later on
        assert ours == theirs, hook
        assert ours["enable_validation"] is with_val
