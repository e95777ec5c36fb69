"""FusedAdam / FusedAdamW: torch.optim.Adam / AdamW with one fused C++/CUDA update per param group and device."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from fastlit import ops
from fastlit.optim._base import FusedOptimizerMixin


def _check_supported(name: str, capturable: bool, differentiable: bool) -> None:
    if capturable or differentiable:
        flag = "capturable" if capturable else "differentiable"
        raise ValueError(f"{name} does not support {flag}=True; use torch.optim.{name[5:]} for that.")


class _AdamUpdate(FusedOptimizerMixin):
    """The Adam-family parts of the fused step (state layout and the update call)."""

    def _init_state(self, p: Tensor, group: dict) -> bool:
        state = self.state[p]
        if not state:  # same keys and order as torch.optim.Adam
            dtype = self._state_dtype(p)
            state["step"] = torch.zeros((), dtype=torch.float32, device=self._step_device(p))
            state["exp_avg"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
        return False

    def _bucket_lists(self, bucket) -> None:
        states = [self.state[p] for p in bucket.params]
        bucket.lists = {
            "exp_avgs": [s["exp_avg"] for s in states],
            "exp_avg_sqs": [s["exp_avg_sq"] for s in states],
            "max_exp_avg_sqs": [s["max_exp_avg_sq"] for s in states] if bucket.group["amsgrad"] else [],
            "state_steps": [s["step"] for s in states],
        }

    def _update(self, bucket, grads, grad_scale, found_inf, grad_factor) -> None:
        g, lists = bucket.group, bucket.lists
        beta1, beta2 = g["betas"]
        # Positional on purpose: keyword arguments cost ~0.6 us each in torch.ops' argument parsing.
        ops._adam(bucket.params, grads, lists["exp_avgs"], lists["exp_avg_sqs"], lists["max_exp_avg_sqs"],
                  lists["state_steps"], float(g["lr"]), float(beta1), float(beta2), float(g["weight_decay"]),
                  float(g["eps"]), g["amsgrad"], g["maximize"], self._decoupled(g), grad_scale, found_inf,
                  grad_factor)

    @staticmethod
    def _decoupled(group: dict) -> bool:
        return bool(group.get("decoupled_weight_decay", False))


class FusedAdam(_AdamUpdate, torch.optim.Adam):
    """torch.optim.Adam with a fused C++/CUDA step (fp32 math; fp32 state for bf16/fp16 params).

    Same constructor arguments, param_groups and state_dict layout as torch.optim.Adam, so checkpoints move
    between the two in both directions (isinstance(opt, torch.optim.Adam) holds too). The implementation flags
    foreach / fused are accepted and stored but the fused kernel always runs; capturable and differentiable are
    not supported.

    Args:
        params: iterable of parameters or param-group dicts, as for torch.optim.Adam.
        lr, betas, eps, weight_decay, amsgrad, foreach, maximize, capturable, differentiable, fused,
            decoupled_weight_decay: as for torch.optim.Adam.
        max_grad_norm: if set, every step clips the total 2-norm of all gradients to this value, inside the
            update (one extra read of the gradients; no host sync). The norm is kept in `last_grad_norm`.
    """

    _torch_base = torch.optim.Adam

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False, *, foreach: Optional[bool] = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False, fused: Optional[bool] = None,
                 decoupled_weight_decay: bool = False, max_grad_norm: Optional[float] = None) -> None:
        _check_supported(type(self).__name__, capturable, differentiable)
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        self.max_grad_norm = max_grad_norm


class FusedAdamW(_AdamUpdate, torch.optim.AdamW):
    """torch.optim.AdamW with a fused C++/CUDA step; see FusedAdam (same contract, decoupled weight decay).

    Args:
        params: iterable of parameters or param-group dicts, as for torch.optim.AdamW.
        lr, betas, eps, weight_decay, amsgrad, maximize, foreach, capturable, differentiable, fused: as for
            torch.optim.AdamW.
        max_grad_norm: clip the total gradient 2-norm to this value inside the step (see FusedAdam).
    """

    _torch_base = torch.optim.AdamW

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: Optional[bool] = None, capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None, max_grad_norm: Optional[float] = None) -> None:
        _check_supported(type(self).__name__, capturable, differentiable)
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable,
                         fused=fused)
        self.max_grad_norm = max_grad_norm

    @staticmethod
    def _decoupled(group: dict) -> bool:
        return True
