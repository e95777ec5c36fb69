"""FusedSGD: torch.optim.SGD with one fused C++/CUDA update per param group and device."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from fastlit import ops
from fastlit.optim._base import FusedOptimizerMixin


class FusedSGD(FusedOptimizerMixin, torch.optim.SGD):
    """torch.optim.SGD with a fused C++/CUDA step (fp32 math; fp32 momentum buffers for bf16/fp16 params).

    Same constructor arguments, param_groups and state_dict layout as torch.optim.SGD (isinstance holds too).
    differentiable is not supported; foreach / fused are accepted and stored, the fused kernel always runs.

    Args:
        params: iterable of parameters or param-group dicts, as for torch.optim.SGD.
        lr, momentum, dampening, weight_decay, nesterov, maximize, foreach, differentiable, fused: as for
            torch.optim.SGD.
        max_grad_norm: clip the total gradient 2-norm to this value inside the step (see FusedAdam).
    """

    _torch_base = torch.optim.SGD

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: Optional[bool] = None, differentiable: bool = False, fused: Optional[bool] = None,
                 max_grad_norm: Optional[float] = None) -> None:
        if differentiable:
            raise ValueError("FusedSGD does not support differentiable=True; use torch.optim.SGD for that.")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                         fused=fused)
        self.max_grad_norm = max_grad_norm

    def _init_state(self, p: Tensor, group: dict) -> bool:
        # torch.optim.SGD creates `momentum_buffer` on the first step with momentum (a copy of the gradient):
        # the update does that copy (is_first_step). Zeros, not empty: a first step skipped for inf/nan grads
        # must not leave garbage behind.
        if group["momentum"] != 0 and self.state[p].get("momentum_buffer") is None:
            self.state[p]["momentum_buffer"] = torch.zeros_like(p, dtype=self._state_dtype(p),
                                                        memory_format=torch.preserve_format)
            return True
        return False

    def _bucket_lists(self, bucket) -> None:
        if bucket.group["momentum"] != 0:
            bucket.lists = {"momentum_buffers": [self.state[p]["momentum_buffer"] for p in bucket.params]}
        else:
            bucket.lists = {"momentum_buffers": []}

    def _update(self, bucket, grads, grad_scale, found_inf, grad_factor) -> None:
        g = bucket.group
        ops._sgd(bucket.params, grads, bucket.lists["momentum_buffers"], float(g["weight_decay"]),
                 float(g["momentum"]), float(g["lr"]), float(g["dampening"]), g["nesterov"], g["maximize"],
                 bucket.first, grad_scale, found_inf, grad_factor)
