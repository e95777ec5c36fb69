"""LambdaCallback: every hook it is given is called, with the same arguments and in the same order as Lightning."""
from __future__ import annotations

import inspect
import warnings
from enum import Enum
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from fastlit.callbacks import LambdaCallback

HOOKS = [p for p in inspect.signature(LambdaCallback.__init__).parameters if p != "self"]


def _model(pl: Any, fail_at: int = -1) -> Any:
    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.global_step == fail_at:
                raise ValueError("boom")
            return self.layer(batch[0]).pow(2).mean()

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val", self.layer(batch[0]).mean())

        def test_step(self, batch: Any, batch_idx: int) -> None:
            self.log("test", self.layer(batch[0]).mean())

        def predict_step(self, batch: Any, batch_idx: int) -> Any:
            return self.layer(batch[0])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Model()


def _loader() -> DataLoader:
    return DataLoader(TensorDataset(torch.arange(8.0).view(4, 2)), batch_size=2)


def _describe(arg: Any) -> str:
    """A framework-independent picture of a hook argument."""
    if isinstance(arg, torch.Tensor):
        return f"tensor{tuple(arg.shape)}"
    if isinstance(arg, dict):
        return "dict(" + ",".join(sorted(k for k in arg if not k.startswith(("pytorch-lightning", "fastlit")))) + ")"
    if isinstance(arg, (list, tuple)):
        return type(arg).__name__
    if isinstance(arg, Enum):  # Lightning's stage is a TrainerFn (a str enum), fastlit's the plain string
        arg = arg.value
    if isinstance(arg, (int, str)) or arg is None:
        return repr(arg)
    if isinstance(arg, BaseException):
        return f"{type(arg).__name__}({arg})"
    if isinstance(arg, torch.optim.Optimizer):
        return "optimizer"
    return type(arg).__name__.replace("LightningOptimizer", "optimizer")


def _run(pl: Any, tmp_path: Any, what: str) -> list[str]:
    calls: list[str] = []

    def recorder(name: str) -> Any:
        def hook(trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
            # Lightning passes setup/teardown's `stage` by keyword, fastlit by position: compare the values
            assert isinstance(trainer, pl.Trainer) and isinstance(pl_module, pl.LightningModule)
            calls.append(name + "(" + ", ".join(_describe(a) for a in (*args, *kwargs.values())) + ")")

        return hook

    cb = pl.callbacks.LambdaCallback(**{h: recorder(h) for h in HOOKS})
    trainer = pl.Trainer(max_epochs=2, limit_val_batches=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=str(tmp_path), callbacks=[cb],
                         num_sanity_val_steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if what == "fit":
            trainer.fit(_model(pl), _loader(), _loader())
        elif what == "resume":
            trainer.fit(_model(pl), _loader(), _loader())
            calls.clear()
            again = pl.Trainer(max_epochs=3, limit_val_batches=1, logger=False, enable_progress_bar=False,
                               enable_model_summary=False, default_root_dir=str(tmp_path), callbacks=[cb],
                               num_sanity_val_steps=0)
            again.fit(_model(pl), _loader(), _loader(), ckpt_path=trainer.checkpoint_callback.best_model_path)
        elif what == "exception":
            with pytest.raises(ValueError, match="boom"):
                trainer.fit(_model(pl, fail_at=1), _loader())
        elif what == "validate":
            trainer.validate(_model(pl), _loader())
        elif what == "test":
            trainer.test(_model(pl), _loader())
        else:
            trainer.predict(_model(pl), _loader())
    return calls


@pytest.mark.parametrize("what", ["fit", "resume", "exception", "validate", "test", "predict"])
def test_hook_calls_match_lightning(tmp_path, lightning, what):
    ours = _run(fastlit, tmp_path / "fastlit", what)
    theirs = _run(lightning, tmp_path / "lightning", what)
    assert ours == theirs
    assert len(ours) > 5


def test_only_given_hooks_are_set():
    cb = LambdaCallback(on_fit_start=print)
    assert cb.on_fit_start is print and "on_fit_start" in vars(cb)
    assert "on_fit_end" not in vars(cb)  # left to the base class, so the Trainer never calls it
    from fastlit.callbacks.callback import Callback
    from fastlit.utilities.model_helpers import is_overridden

    assert is_overridden("on_fit_start", cb, Callback) and not is_overridden("on_fit_end", cb, Callback)


def test_accepts_exactly_lightnings_hooks(lightning):
    theirs = [p for p in inspect.signature(lightning.callbacks.LambdaCallback.__init__).parameters if p != "self"]
    assert HOOKS == theirs
