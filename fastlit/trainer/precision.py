"""Precision settings: autocast for the ``*-mixed`` modes, a loss scaler for fp16, casts for ``*-true``."""
from __future__ import annotations

import contextlib
from typing import Any, Optional, Union

import torch

from fastlit.utilities.apply_func import apply_to_collection
from fastlit.utilities.exceptions import MisconfigurationException

_ALIASES = {
    None: "32-true", 32: "32-true", "32": "32-true", "32-true": "32-true",
    64: "64-true", "64": "64-true", "64-true": "64-true",
    16: "16-mixed", "16": "16-mixed", "16-mixed": "16-mixed",
    "bf16": "bf16-mixed", "bf16-mixed": "bf16-mixed",
    "16-true": "16-true", "bf16-true": "bf16-true",
}
_TRUE_DTYPES = {"64-true": torch.float64, "16-true": torch.float16, "bf16-true": torch.bfloat16}


def _grad_scaler(device_type: str) -> torch.amp.GradScaler:
    """fastlit's scaler (no separate unscale/check pass with fused optimizers) when the extension is built."""
    from fastlit._ext import EXT_AVAILABLE

    if EXT_AVAILABLE:
        from fastlit.amp import GradScaler

        return GradScaler(device_type)
    return torch.amp.GradScaler(device_type)


def normalize(precision: Union[str, int, None]) -> str:
    """Map Lightning's precision spellings (16, "bf16", "16-mixed", ...) to one canonical name."""
    try:
        return _ALIASES[precision]
    except (KeyError, TypeError):
        raise MisconfigurationException(
            f"Precision {precision!r} is invalid. Allowed precision values: "
            "('transformer-engine', 'transformer-engine-float16', '16-true', '16-mixed', 'bf16-true', "
            "'bf16-mixed', '32-true', '64-true', 64, 32, 16, '64', '32', '16', 'bf16')"
        ) from None


class Precision:
    """How tensors are computed for one precision setting.

    Args:
        precision: a canonical name from ``normalize``.
        device: the training device (autocast and the scaler depend on its type).
    """

    def __init__(self, precision: str, device: torch.device) -> None:
        self.precision = precision
        self.device = device
        self.scaler: Optional[torch.amp.GradScaler] = None
        self._autocast_dtype: Optional[torch.dtype] = None
        if precision == "16-mixed":
            self._autocast_dtype = torch.float16
            self.scaler = _grad_scaler(device.type)
        elif precision == "bf16-mixed":
            self._autocast_dtype = torch.bfloat16
        self.cast_dtype = _TRUE_DTYPES.get(precision)

    @property
    def is_default(self) -> bool:
        return self.precision == "32-true"

    def autocast(self) -> Any:
        """Context manager for forward passes (a no-op outside the mixed modes)."""
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._autocast_dtype)

    def convert_module(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.to(dtype=self.cast_dtype) if self.cast_dtype is not None else module

    def convert_input(self, batch: Any) -> Any:
        if self.cast_dtype is None:
            return batch
        dtype = self.cast_dtype
        return apply_to_collection(batch, torch.Tensor, lambda t: t.to(dtype) if t.is_floating_point() else t)

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
