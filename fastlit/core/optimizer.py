"""``LightningOptimizer``: the wrapper ``self.optimizers()`` returns; counts steps in manual optimization."""
from __future__ import annotations

from typing import Any, Callable, Optional

from torch.optim import Optimizer


class LightningOptimizer:
    """Wraps an optimizer so that ``step`` goes through the Trainer (loss scaling, step counting).

    Args:
        optimizer: the optimizer to wrap. Every attribute not defined here is the optimizer's own.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self._optimizer = optimizer
        self._trainer: Optional[Any] = None
        # Look like the wrapped optimizer to isinstance checks in user code, as Lightning's wrapper does.
        self.__class__ = type("Lightning" + type(optimizer).__name__, (self.__class__, type(optimizer)), {})

    @property
    def optimizer(self) -> Optimizer:
        return self._optimizer

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: delegate to the real optimizer
        return getattr(self.__dict__["_optimizer"], name)

    # ``param_groups``, ``state`` and ``defaults`` are the optimizer's (through ``__getattr__``); assigning one sets
    # it on the wrapper, as in Lightning, where they are plain attributes.

    def state_dict(self) -> dict:
        return self._optimizer.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self._optimizer.load_state_dict(state_dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Optional[Callable[[], Any]] = None, **kwargs: Any) -> Any:
        """Run the optimizer step through the Trainer's precision plugin (loss scaler, ``on_before_optimizer_step``,
        clipping); in manual optimization, count it."""
        trainer = self._trainer
        if trainer is None:
            return self._optimizer.step(closure=closure, **kwargs) if closure is not None else self._optimizer.step(**kwargs)
        out = trainer.precision_plugin.optimizer_step(self._optimizer, closure, **kwargs)
        if not trainer.lightning_module.automatic_optimization:
            trainer.global_step += 1  # manual optimization: each step counts (the automatic loop counts its own)
        return out

    def __repr__(self) -> str:
        # Lightning's wrapper prints as the optimizer under its "Lightning<Name>" class name
        return "Lightning" + repr(self._optimizer)


def do_nothing_closure() -> None:
    """The closure passed to ``optimizer.step`` when there is nothing to recompute."""
    return


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "LRSchedulerConfig": "fastlit.utilities.types",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "Optimizable": "fastlit.utilities.types",
    "is_overridden": "fastlit.utilities.model_helpers",
    "is_param_in_hook_signature": "fastlit.utilities.signature_utils",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
