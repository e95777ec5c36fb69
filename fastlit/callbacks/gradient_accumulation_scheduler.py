"""``GradientAccumulationScheduler``: change ``accumulate_grad_batches`` from one epoch to the next.

The Trainer reads ``trainer.accumulate_grad_batches`` once at the start of each training epoch (after the
``on_train_epoch_start`` hooks), so setting it there is all this callback needs to do.
"""
from __future__ import annotations

from typing import Any

from fastlit.callbacks.callback import Callback
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import rank_zero_warn


class GradientAccumulationScheduler(Callback):
    """Accumulate gradients over a number of batches that depends on the epoch.

    Args:
        scheduling: ``{epoch: factor}``, epochs zero-indexed; each factor holds from its epoch until the next key.
            Epochs before the smallest key use 1. ``{4: 2}`` accumulates 2 batches from the fifth epoch on.

    Raises:
        TypeError: ``scheduling`` is empty.
        MisconfigurationException: a key is not an int >= 0, or a factor is not an int >= 1.
    """

    def __init__(self, scheduling: dict[int, int]) -> None:
        super().__init__()
        if not scheduling:
            raise TypeError("Empty dict cannot be interpreted correct")
        if any(not isinstance(k, int) or k < 0 for k in scheduling):
            raise MisconfigurationException(
                f"Epoch should be an int greater than or equal to 0. Got {list(scheduling.keys())}.")
        if any(not isinstance(v, int) or v < 1 for v in scheduling.values()):
            raise MisconfigurationException(
                f"Accumulation factor should be an int greater than 0. Got {list(scheduling.values())}.")
        if min(scheduling) != 0:
            scheduling.update({0: 1})  # like Lightning, the caller's dict gains the implicit first epoch
        self.scheduling = scheduling
        self.epochs = sorted(scheduling)

    def going_to_accumulate_grad_batches(self) -> bool:
        """Whether any epoch accumulates more than one batch."""
        return any(v > 1 for v in self.scheduling.values())

    def get_accumulate_grad_batches(self, epoch: int) -> int:
        """The factor in force at ``epoch``."""
        factor = 1
        for start in self.epochs:
            if epoch >= start:
                factor = self.scheduling[start]
        return factor

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not pl_module.automatic_optimization:
            raise RuntimeError(
                "Automatic gradient accumulation and the `GradientAccumulationScheduler` is not supported for manual "
                "optimization. Please remove the callback or switch to automatic optimization.")
        overridden = is_overridden("optimizer_step", pl_module) or is_overridden("optimizer_zero_grad", pl_module)
        if overridden and self.going_to_accumulate_grad_batches():
            rank_zero_warn(
                "When using `Trainer(accumulate_grad_batches != 1)` and overriding `LightningModule.optimizer_{step,"
                "zero_grad}`, the hooks will not be called on every batch (rather, they are called on every "
                "optimization step).")
        if trainer.accumulate_grad_batches != 1:
            raise ValueError(
                "You have set `accumulate_grad_batches` and are using the `GradientAccumulationScheduler` callback. "
                "Either remove `accumulate_grad_batches` from the Trainer or remove the callback.")

    def on_train_epoch_start(self, trainer: Any, *_: Any) -> None:
        trainer.accumulate_grad_batches = self.get_accumulate_grad_batches(trainer.current_epoch)
