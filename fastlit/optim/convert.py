"""to_fused: turn a torch.optim.Adam / AdamW / SGD into fastlit's fused equivalent, in place."""
from __future__ import annotations

import weakref
from typing import Dict, Optional, Tuple, Type

import torch

from fastlit import _ext, ops
from fastlit.optim._base import FusedOptimizerMixin, is_dense
from fastlit.optim.adam import FusedAdam, FusedAdamW
from fastlit.optim.sgd import FusedSGD

_FUSED_FOR: Dict[type, type] = {torch.optim.Adam: FusedAdam, torch.optim.AdamW: FusedAdamW, torch.optim.SGD: FusedSGD}
_SWAPPED: Dict[type, type] = {}
_DTYPE_NAMES = ", ".join(str(d).replace("torch.", "") for d in ops.SUPPORTED_DTYPES)


def _swap_class(original: type) -> type:
    """A subclass of the fused class that keeps the original's name, so logs and metric keys that use the
    optimizer's class name (e.g. "lr-Adam") do not change, and pickling refers to torch's class."""
    if original not in _SWAPPED:
        fused = _FUSED_FOR[original]
        _SWAPPED[original] = type(original.__name__, (fused,), {
            "__module__": original.__module__, "__qualname__": original.__qualname__, "__doc__": fused.__doc__})
    return _SWAPPED[original]


def _unsupported(optimizer: torch.optim.Optimizer) -> Optional[str]:
    cls = type(optimizer)
    if not _ext.EXT_AVAILABLE:
        _ext.warn_if_missing()  # a pure-Python install or a broken build trains on torch's ops: say so, once
        return f"fastlit's compiled ops are unavailable ({_ext.EXT_ERROR})"
    if cls not in _FUSED_FOR:
        bases = [b.__name__ for b in _FUSED_FOR if isinstance(optimizer, b)]
        if bases:
            return f"{cls.__name__} subclasses torch.optim.{bases[-1]}; its step() may differ"
        return f"{cls.__name__} is not torch.optim.Adam, AdamW or SGD"
    for i, group in enumerate(optimizer.param_groups):
        for flag in ("capturable", "differentiable"):
            if group.get(flag):
                return f"param_groups[{i}] has {flag}=True"
        for key in ("lr", "betas", "weight_decay", "momentum", "dampening", "eps"):
            values = group.get(key)
            values = values if isinstance(values, (tuple, list)) else (values,)
            if any(isinstance(v, torch.Tensor) for v in values):
                return f"param_groups[{i}]['{key}'] is a tensor"
        for p in group["params"]:
            if p.dtype not in ops.SUPPORTED_DTYPES:
                return f"a parameter has dtype {p.dtype} (fused ops take {_DTYPE_NAMES})"
            if p.device.type not in ("cpu", "cuda") or (p.device.type == "cuda" and not _ext._C.with_cuda()):
                return f"a parameter is on {p.device}, which fastlit._C was not built for"
            if p.layout != torch.strided or not is_dense(p):
                return "a parameter is sparse or a view with gaps"
    step = optimizer.__dict__.get("step")
    if step is not None and not getattr(step, "_wrapped_by_lr_sched", False):
        return "optimizer.step was replaced on the instance; calling it must keep doing what it does"
    return None


def _rewrap_scheduler_step(optimizer: torch.optim.Optimizer) -> None:
    # An LR scheduler built on the optimizer replaced `optimizer.step` with a wrapper that records the call and
    # then runs the *original class's* step. Re-create that wrapper around the fused class's step.
    if "step" not in optimizer.__dict__:
        return
    ref = weakref.ref(optimizer)

    def step(*args, **kwargs):
        opt = ref()
        opt._opt_called = True  # what the scheduler's wrapper records (it warns if step() never ran)
        return type(opt).step(opt, *args, **kwargs)

    step._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
    optimizer.step = step  # type: ignore[method-assign]


def to_fused(optimizer: torch.optim.Optimizer) -> Tuple[Optional[torch.optim.Optimizer], str]:
    """Switches an exact torch.optim.Adam / AdamW / SGD to fastlit's fused step, in place.

    The same object is returned, so everything holding it (LR schedulers, the LightningModule, user code) keeps
    working: param_groups and hyperparameters are untouched, existing state is converted (fp32 state for
    bf16/fp16 params, step counts on the params' device), isinstance checks and the class name still say
    torch.optim.Adam etc. and state_dict() keeps torch's layout. Returns (optimizer, "") on success and
    (None, reason) when the optimizer is left as it was (subclasses, capturable / differentiable, tensor
    hyperparameters, unsupported params or devices, a replaced step(), or no compiled extension).
    """
    if isinstance(optimizer, FusedOptimizerMixin):
        return optimizer, ""
    reason = _unsupported(optimizer)
    if reason is not None:
        return None, reason
    _rewrap_scheduler_step(optimizer)
    optimizer.__class__ = _swap_class(type(optimizer))
    optimizer._adopt_state()  # type: ignore[attr-defined]
    return optimizer, ""


def fused_class_for(cls: Type[torch.optim.Optimizer]) -> Optional[type]:
    """The fused class that stands in for torch.optim class `cls`, if any."""
    return _FUSED_FOR.get(cls)
