"""Loop helpers with Lightning's names."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def check_finite_loss(loss: Optional[Tensor]) -> None:
    """Raise if ``loss`` holds a NaN or an infinity (None passes: the step skipped its update).

    Raises:
        ValueError: the loss is not finite.
    """
    if loss is not None and not torch.isfinite(loss).all():
        raise ValueError(f"The loss returned in `training_step` is {loss}.")


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "FSDPStrategy": "fastlit.strategies.fsdp",
    "ParallelStrategy": "fastlit.strategies.parallel",
    "PossibleUserWarning": "fastlit.utilities.warnings",
    "RunningStage": "fastlit.trainer.states",
    "Strategy": "fastlit.strategies.single_device",
    "Timer": "fastlit.callbacks.timer",
    "XLAAccelerator": "fastlit.accelerators.xla",
    "is_param_in_hook_signature": "fastlit.utilities.signature_utils",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
