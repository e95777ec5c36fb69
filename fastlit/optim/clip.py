"""clip_grad_norm_ / clip_grad_value_ with torch.nn.utils' signatures, on fastlit's one-pass ops."""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Union

import torch
from torch import Tensor

from fastlit import _ext, ops
from fastlit.optim._base import is_dense

_Params = Union[Tensor, Iterable[Tensor]]


def _params(parameters: _Params) -> List[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)  # generators are read once


def _by_device(grads: List[Tensor]) -> Optional[Dict[torch.device, List[Tensor]]]:
    """Grads grouped by device, or None when the fused ops cannot take them (sparse, other dtypes, no ext)."""
    if not _ext.EXT_AVAILABLE:
        _ext.warn_if_missing()
        return None
    out: Dict[torch.device, List[Tensor]] = {}
    for g in grads:
        if g.is_sparse or g.dtype not in ops.SUPPORTED_DTYPES or not is_dense(g):
            return None
        out.setdefault(g.device, []).append(g)
    return out


@torch.no_grad()
def clip_grad_norm_(parameters: _Params, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: Optional[bool] = None) -> Tensor:
    """torch.nn.utils.clip_grad_norm_ in two passes over the gradients (norm, then scale), whatever the count.

    Returns the total norm like torch (in the gradients' dtype). Norms other than 2 and inf, mixed devices and
    gradients the fused ops do not take go to torch's implementation.
    """
    params = _params(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norm_type = float(norm_type)
    groups = _by_device(grads)
    if (groups is None or len(groups) != 1 or not (norm_type == 2.0 or norm_type == math.inf)
            or not float(max_norm) > 0):
        return torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type, error_if_nonfinite, foreach)
    res = ops.multi_tensor_l2norm(grads, norm_type, False, float(max_norm))
    if error_if_nonfinite and not torch.isfinite(res.norm):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    # On the CPU the factor is readable for free: skip the scaling pass when nothing is clipped.
    if grads[0].device.type != "cpu" or res.grad_factor.item() != 1.0:
        ops.unscale_and_check_(grads, torch.zeros((), device=grads[0].device), res.grad_factor)
    dtype = grads[0].dtype
    for g in grads[1:]:
        dtype = torch.promote_types(dtype, g.dtype)
    return res.norm.to(dtype)


@torch.no_grad()
def clip_grad_value_(parameters: _Params, clip_value: float, foreach: Optional[bool] = None) -> None:
    """torch.nn.utils.clip_grad_value_ in one fused pass per device."""
    params = _params(parameters)
    groups = _by_device([p.grad for p in params if p.grad is not None])
    if groups is None:
        torch.nn.utils.clip_grad_value_(params, clip_value, foreach)
        return
    for device_grads in groups.values():
        ops.clip_grad_value_(device_grads, float(clip_value))
