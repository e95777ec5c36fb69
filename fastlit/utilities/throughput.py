"""``measure_flops``: count the FLOPs of a forward (and backward) pass with torch's FLOP counter."""
from __future__ import annotations

from typing import Callable, Optional

import torch


def measure_flops(model: torch.nn.Module, forward_fn: Callable[[], torch.Tensor],
                  loss_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> int:
    """FLOPs of ``forward_fn()`` (plus ``loss_fn(output).backward()`` when given). Build the model and inputs on
    the ``meta`` device to count without computing.

    Args:
        model: the module being measured (kept for Lightning's signature; the counter sees every op anyway).
        forward_fn: runs the forward pass and returns its output.
        loss_fn: turns the output into a loss; its backward pass is counted too.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        out = forward_fn()
        if loss_fn is not None:
            loss_fn(out).backward()
    return counter.get_total_flops()
