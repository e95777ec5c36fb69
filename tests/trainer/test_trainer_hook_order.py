"""Hook order, differential against Lightning: the same recording module + callback run under
``pytorch_lightning`` and ``fastlit``; the recorded call lists (hook name plus its int/str/float arguments such
as batch_idx, dataloader_idx and stage) must be identical."""
from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import fastlit
from helpers import randn_dataset

pl_lightning = pytest.importorskip("pytorch_lightning")

CALLBACK_HOOKS = [
    "setup", "teardown", "on_fit_start", "on_fit_end", "on_sanity_check_start", "on_sanity_check_end",
    "on_train_batch_start", "on_train_batch_end", "on_train_epoch_start", "on_train_epoch_end",
    "on_validation_epoch_start", "on_validation_epoch_end", "on_test_epoch_start", "on_test_epoch_end",
    "on_predict_epoch_start", "on_predict_epoch_end", "on_validation_batch_start", "on_validation_batch_end",
    "on_test_batch_start", "on_test_batch_end", "on_predict_batch_start", "on_predict_batch_end",
    "on_train_start", "on_train_end", "on_validation_start", "on_validation_end", "on_test_start", "on_test_end",
    "on_predict_start", "on_predict_end", "on_save_checkpoint", "on_load_checkpoint", "on_before_backward",
    "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad",
]
# module hooks that only announce an event (overriding them does not change what the loop does)
MODULE_EVENT_HOOKS = [
    "on_fit_start", "on_fit_end", "on_train_start", "on_train_end", "on_validation_start", "on_validation_end",
    "on_test_start", "on_test_end", "on_predict_start", "on_predict_end", "on_train_batch_start",
    "on_train_batch_end", "on_validation_batch_start", "on_validation_batch_end", "on_test_batch_start",
    "on_test_batch_end", "on_predict_batch_start", "on_predict_batch_end", "on_train_epoch_start",
    "on_train_epoch_end", "on_validation_epoch_start", "on_validation_epoch_end", "on_test_epoch_start",
    "on_test_epoch_end", "on_predict_epoch_start", "on_predict_epoch_end", "on_before_zero_grad",
    "on_before_backward", "on_after_backward", "on_before_optimizer_step", "on_save_checkpoint",
    "on_load_checkpoint", "prepare_data", "setup", "teardown", "configure_model",
]
# module hooks with default behaviour (overriding them moves fastlit off its lean path: the closure, custom
# zero_grad/backward/transfer); recorded in the "all" variant, the recorders call the base implementation
MODULE_BEHAVIOUR_HOOKS = [
    "on_validation_model_zero_grad", "on_validation_model_eval", "on_validation_model_train", "on_test_model_eval",
    "on_test_model_train", "on_predict_model_eval", "optimizer_step", "optimizer_zero_grad", "backward",
    "configure_gradient_clipping", "on_before_batch_transfer", "transfer_batch_to_device",
    "on_after_batch_transfer", "lr_scheduler_step",
]


def _args(args: tuple) -> tuple:
    out = []
    for a in args:
        if isinstance(a, Enum):
            a = a.value
        if a is None or (isinstance(a, (int, float, str)) and not isinstance(a, bool)):
            out.append(a)
    return tuple(out)


def _recorder(name: str, owner: str, base: type) -> Any:
    def hook(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((owner, name) + _args(args) + _args(tuple(kwargs.values())))
        return getattr(base, name)(self, *args, **kwargs)

    hook.__name__ = name
    return hook


def _cb_recorder(name: str) -> Any:
    def hook(self: Any, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
        # the counters a callback sees are part of the contract too
        stage = trainer.state.stage.value if trainer.state.stage is not None else None
        state = ("step", trainer.global_step, "epoch", trainer.current_epoch, trainer.state.fn.value, stage,
                 trainer.sanity_checking, pl_module.training)
        self.calls.append(("Callback", name) + _args(args) + _args(tuple(kwargs.values())) + state)

    hook.__name__ = name
    return hook


def build(pl: Any, module_hooks: list[str]) -> tuple[type, type]:
    """(HookedModel, HookedCallback) classes for framework ``pl``, sharing one ``calls`` list per instance."""

    class HookedCallback(pl.Callback):
        def __init__(self, calls: list) -> None:
            self.calls = calls

    for name in CALLBACK_HOOKS:
        setattr(HookedCallback, name, _cb_recorder(name))

    class HookedModel(pl.LightningModule):
        def __init__(self, calls: list) -> None:
            super().__init__()
            self.calls = calls
            self.layer = torch.nn.Linear(8, 2)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.calls.append(("Module", "training_step", batch_idx))
            out = self.layer(batch[0])
            return torch.nn.functional.mse_loss(out, batch[1])

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            self.calls.append(("Module", "validation_step", batch_idx))
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1]))

        def test_step(self, batch: Any, batch_idx: int) -> Any:
            self.calls.append(("Module", "test_step", batch_idx))
            self.log("test_loss", torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1]))

        def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            self.calls.append(("Module", "predict_step", batch_idx))
            return self.layer(batch[0])

        def configure_optimizers(self) -> Any:
            self.calls.append(("Module", "configure_optimizers"))
            return torch.optim.SGD(self.parameters(), lr=0.1)

    for name in module_hooks:
        setattr(HookedModel, name, _recorder(name, "Module", pl.LightningModule))
    return HookedModel, HookedCallback


def _loader(n: int) -> DataLoader:
    return DataLoader(randn_dataset(4 * n, 8), batch_size=4)


def run(pl: Any, module_hooks: list[str], entry: str, tmp_path: Any, **trainer_kw: Any) -> list[tuple]:
    calls: list = []
    Model, Cb = build(pl, module_hooks)
    model = Model(calls)
    kw = dict(default_root_dir=str(tmp_path), logger=False, enable_progress_bar=False, enable_model_summary=False,
              callbacks=[Cb(calls)], limit_train_batches=3, limit_val_batches=2, max_epochs=2)
    kw.update(trainer_kw)
    trainer = pl.Trainer(**kw)
    if entry == "fit":
        trainer.fit(model, _loader(5), _loader(5))
    elif entry == "fit_no_val":
        trainer.fit(model, _loader(5))
    elif entry == "validate":
        trainer.validate(model, _loader(2), verbose=False)
    elif entry == "test":
        trainer.test(model, _loader(2), verbose=False)
    elif entry == "predict":
        trainer.predict(model, _loader(2))
    return calls


def first_difference(a: list, b: list) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            lo = max(0, i - 4)
            return f"at {i}: lightning {a[lo:i + 4]}\n      fastlit   {b[lo:i + 4]}"
    return f"lengths {len(a)} vs {len(b)}; tails {a[len(b):][:6]} / {b[len(a):][:6]}"


CASES = {
    "fit": ("fit", {}),
    "fit_accumulate": ("fit", {"accumulate_grad_batches": 2}),
    "fit_clip_norm": ("fit", {"gradient_clip_val": 0.5}),
    "fit_clip_value": ("fit", {"gradient_clip_val": 0.5, "gradient_clip_algorithm": "value"}),
    "fit_no_sanity": ("fit", {"num_sanity_val_steps": 0}),
    "fit_no_val": ("fit_no_val", {}),
    "fit_val_interval": ("fit", {"val_check_interval": 2, "limit_train_batches": 4}),
    "fit_max_steps": ("fit", {"max_steps": 4}),
    "validate": ("validate", {}),
    "test": ("test", {}),
    "predict": ("predict", {}),
}


@pytest.mark.parametrize("variant", ["events", "all"])
@pytest.mark.parametrize("case", list(CASES))
def test_hook_order_matches_lightning(case: str, variant: str, tmp_path: Any) -> None:
    entry, kw = CASES[case]
    hooks = MODULE_EVENT_HOOKS + (MODULE_BEHAVIOUR_HOOKS if variant == "all" else [])
    expected = run(pl_lightning, hooks, entry, tmp_path / "pl", **kw)
    got = run(fastlit, hooks, entry, tmp_path / "fl", **kw)
    assert got == expected, first_difference(expected, got)


def test_hook_order_fit_shape(tmp_path: Any) -> None:
    """Independent of Lightning: the fit skeleton of issue 2 §4, callbacks before the module for each event."""
    calls = run(fastlit, MODULE_EVENT_HOOKS, "fit", tmp_path)
    names = [c[:2] for c in calls]
    order = [("Callback", "setup"), ("Module", "setup"), ("Module", "configure_optimizers"),
             ("Callback", "on_fit_start"), ("Module", "on_fit_start"), ("Callback", "on_sanity_check_start"),
             ("Callback", "on_sanity_check_end"), ("Callback", "on_train_start"), ("Module", "on_train_start"),
             ("Callback", "on_train_end"), ("Module", "on_train_end"), ("Callback", "on_fit_end"),
             ("Module", "on_fit_end"), ("Callback", "teardown"), ("Module", "teardown")]
    positions = [names.index(o) for o in order]
    assert positions == sorted(positions)
    assert names.count(("Module", "training_step")) == 6
    assert names.count(("Module", "validation_step")) == 2 + 2 * 2  # sanity check + one per epoch
    assert names.count(("Callback", "on_save_checkpoint")) == 2  # once per epoch
