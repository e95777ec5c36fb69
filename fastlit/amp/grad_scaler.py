"""GradScaler: torch.amp.GradScaler whose non-finite check rides on the fused optimizer's own norm pass."""
from __future__ import annotations

from typing import Any

import torch
from torch.amp.grad_scaler import OptState

from fastlit import _ext
from fastlit.optim._base import FusedOptimizerMixin


class GradScaler(torch.amp.GradScaler):
    """torch.amp.GradScaler with the same API, defaults and state_dict.

    With a fastlit fused optimizer (FusedAdam / FusedAdamW / FusedSGD, or one switched by
    fastlit.optim.to_fused) and no explicit unscale_(), step() runs no unscale or check pass of its own: the
    optimizer reads the scaled gradients once to get their norm and non-finite flag, and applies the unscale
    (and clip, with max_grad_norm) factor inside its update, skipping it when a gradient is inf / nan. update()
    then backs off or grows the scale exactly as torch's does. Any other optimizer gets torch's behaviour.

    Args:
        device, init_scale, growth_factor, backoff_factor, growth_interval, enabled: as for
            torch.amp.GradScaler.
    """

    def step(self, optimizer: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
        if not (self._enabled and _ext.EXT_AVAILABLE and isinstance(optimizer, FusedOptimizerMixin)):
            return super().step(optimizer, *args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.UNSCALED:  # unscale_() already unscaled and checked the grads
            return super().step(optimizer, *args, **kwargs)
        scale = self._scale
        found_inf = torch.zeros((), dtype=torch.float32, device=scale.device)
        optimizer.grad_scale = scale  # type: ignore[attr-defined]
        optimizer.found_inf = found_inf  # type: ignore[attr-defined]
        optimizer._fastlit_fill_found_inf = True  # type: ignore[attr-defined]
        try:
            retval = optimizer.step(*args, **kwargs)
        finally:
            del optimizer.grad_scale, optimizer.found_inf, optimizer._fastlit_fill_found_inf
        state["found_inf_per_device"] = {scale.device: found_inf}
        state["stage"] = OptState.STEPPED
        return retval
