"""Thin typed wrappers over `torch.ops.fastlit.*` (the schemas and exact contracts live in csrc/registry.cpp).

Every op works on lists of same-device tensors in one call, keeps its scalar inputs and outputs on the device
(no host sync), and uses fp32 math for fp32 / bf16 / fp16 tensors. The wrappers raise a clear error when the
extension is not built; use `fastlit._ext.EXT_AVAILABLE` to choose a fallback instead.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

from fastlit import _ext

__all__ = [
    "fused_adam_", "fused_sgd_", "multi_tensor_l2norm", "unscale_and_check_", "clip_grad_value_",
    "NormResult", "SUPPORTED_DTYPES",
]

#: The dtypes of the tensors every op takes (optimizer state may also be float32 under low-precision params).
#: The C++ side spells the same set once, in csrc/include/fastlit/dtypes.h; tests/ops/test_dtypes.py checks this
#: constant against what the compiled ops accept.
SUPPORTED_DTYPES: Tuple[torch.dtype, ...] = (torch.float32, torch.bfloat16, torch.float16)


class NormResult(NamedTuple):
    norm: Tensor  # 0-dim fp32: the total norm of tensors * inv_scale
    per_tensor: Tensor  # (len(tensors),) fp32 norms, or empty unless per_tensor=True
    nonfinite: Tensor  # 0-dim fp32: 1.0 if any element is inf / nan, else 0.0
    grad_factor: Tensor  # 0-dim fp32: inv_scale * min(1, max_norm / (norm + 1e-6)), or inv_scale without max_norm


def _missing(*_args, **_kwargs):
    raise RuntimeError(
        f"fastlit's compiled ops are unavailable ({_ext.EXT_ERROR}); rebuild with "
        "`pip install --no-build-isolation -e .` or check fastlit._ext.EXT_AVAILABLE before calling fastlit.ops."
    )


if _ext.EXT_AVAILABLE:
    _lib = torch.ops.fastlit
    _adam, _sgd, _norm = _lib.fused_adam_.default, _lib.fused_sgd_.default, _lib.multi_tensor_l2norm.default
    _unscale, _clip_value = _lib.unscale_and_check_.default, _lib.clip_grad_value_.default
else:
    _adam = _sgd = _norm = _unscale = _clip_value = _missing

Tensors = Sequence[Tensor]


def fused_adam_(
    params: Tensors, grads: Tensors, exp_avgs: Tensors, exp_avg_sqs: Tensors, max_exp_avg_sqs: Tensors,
    state_steps: Tensors, *, lr: float, beta1: float, beta2: float, weight_decay: float, eps: float,
    amsgrad: bool = False, maximize: bool = False, decoupled_weight_decay: bool = False,
    grad_scale: Optional[Tensor] = None, found_inf: Optional[Tensor] = None, grad_factor: Optional[Tensor] = None,
) -> None:
    """One Adam (or AdamW with decoupled_weight_decay) step in place; increments state_steps itself."""
    if len(params) == 0:  # an empty call has no device to dispatch on
        return
    _adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, lr, beta1, beta2, weight_decay, eps,
          amsgrad, maximize, decoupled_weight_decay, grad_scale, found_inf, grad_factor)


def fused_sgd_(
    params: Tensors, grads: Tensors, momentum_buffers: Tensors, *, lr: float, weight_decay: float = 0.0,
    momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False, maximize: bool = False,
    is_first_step: bool = False, grad_scale: Optional[Tensor] = None, found_inf: Optional[Tensor] = None,
    grad_factor: Optional[Tensor] = None,
) -> None:
    """One SGD step in place (momentum_buffers empty when momentum == 0), like aten::_fused_sgd_."""
    if len(params) == 0:
        return
    _sgd(params, grads, momentum_buffers, weight_decay, momentum, lr, dampening, nesterov, maximize, is_first_step,
         grad_scale, found_inf, grad_factor)


def multi_tensor_l2norm(
    tensors: Tensors, norm_type: float = 2.0, per_tensor: bool = False, max_norm: float = 0.0,
    inv_scale: Optional[Tensor] = None,
) -> NormResult:
    """Norm (2 or inf) of all tensors in one pass, plus per-tensor norms, a non-finite flag and a clip factor."""
    if len(tensors) == 0:  # nothing to dispatch on: answer directly, like torch's clip_grad_norm_ does
        device = inv_scale.device if inv_scale is not None else torch.device("cpu")
        zero = torch.zeros((), device=device)
        factor = inv_scale.reshape(()).clone() if inv_scale is not None else torch.ones((), device=device)
        return NormResult(zero, torch.zeros(0, device=device), zero.clone(), factor)
    return NormResult(*_norm(tensors, float(norm_type), per_tensor, float(max_norm), inv_scale))


def unscale_and_check_(grads: Tensors, found_inf: Tensor, inv_scale: Tensor) -> None:
    """grads *= inv_scale in place; found_inf = 1 if any grad holds inf / nan (GradScaler's unscale)."""
    if len(grads):
        _unscale(grads, found_inf, inv_scale)


def clip_grad_value_(grads: Tensors, clip_value: float) -> None:
    """Clamps every gradient to [-clip_value, clip_value] in place (nan stays nan)."""
    if len(grads):
        _clip_value(grads, float(clip_value))


if _ext.EXT_AVAILABLE:
    # Shapes for FakeTensor / torch.compile tracing. The mutating ops return nothing.
    def _fake_none(*_args, **_kwargs) -> None:
        return None

    for _name in ("fused_adam_", "fused_sgd_", "unscale_and_check_", "clip_grad_value_"):
        torch.library.register_fake(f"fastlit::{_name}")(_fake_none)

    @torch.library.register_fake("fastlit::multi_tensor_l2norm")
    def _norm_fake(tensors, norm_type=2.0, per_tensor=False, max_norm=0.0, inv_scale=None):
        ref = tensors[0]
        scalar = ref.new_empty((), dtype=torch.float32)
        per = ref.new_empty((len(tensors) if per_tensor else 0,), dtype=torch.float32)
        return scalar, per, scalar.new_empty(()), scalar.new_empty(())
