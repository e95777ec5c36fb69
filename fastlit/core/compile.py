"""``torch.compile`` and LightningModules: ``from_compiled`` gives back a LightningModule whose forward and step
methods run compiled (``torch.compile`` returns a wrapper that is not one), ``to_uncompiled`` undoes it. Lightning's
path for both is ``utilities.compile``."""
from __future__ import annotations

from typing import Any

from fastlit.core.module import LightningModule

# the methods from_compiled swaps for their compiled versions, in this order
_METHODS = ("forward", "training_step", "validation_step", "test_step", "predict_step")


def _optimized_module() -> type:
    from torch._dynamo import OptimizedModule  # imported on use: torch._dynamo is slow to import

    return OptimizedModule


def from_compiled(model: Any) -> Any:
    """The LightningModule inside ``torch.compile(module)``, its forward and ``*_step`` methods replaced by
    compiled ones (the originals are kept in ``module._compiler_ctx`` for :func:`to_uncompiled`).

    Raises:
        ValueError: ``model`` is not the output of ``torch.compile`` or does not wrap a LightningModule.
    """
    if not isinstance(model, _optimized_module()):
        raise ValueError(f"`model` is required to be a `OptimizedModule`. Found a `{type(model).__name__}` instead.")
    orig = model._orig_mod
    if not isinstance(orig, LightningModule):
        raise ValueError(f"`model` is expected to be a compiled LightningModule. Found a `{type(orig).__name__}` "
                         "instead")
    ctx: dict[str, Any] = {"compiler": "dynamo", "dynamo_ctx": model.dynamo_ctx}
    for name in _METHODS:
        ctx["original_" + name] = getattr(orig, name)
    orig._compiler_ctx = ctx
    for name in _METHODS:
        setattr(orig, name, model.dynamo_ctx(ctx["original_" + name]))
    return orig


def to_uncompiled(model: Any) -> Any:
    """The plain LightningModule from ``torch.compile(module)`` or from :func:`from_compiled` (restored in place)."""
    if isinstance(model, _optimized_module()):
        original = model._orig_mod
        if not isinstance(original, LightningModule):
            raise TypeError(f"Unexpected error, the wrapped model should be a LightningModule, found "
                            f"{type(model).__name__}")
    elif isinstance(model, LightningModule):
        if getattr(model, "_compiler_ctx", None) is None:
            raise ValueError("`model` is required to be a compiled LightningModule. Found a non-compiled "
                             "LightningModule instead.")
        original = model
    else:
        raise ValueError("`model` must either be an instance of OptimizedModule or LightningModule")
    ctx = getattr(original, "_compiler_ctx", None)
    if ctx is not None:
        for name in _METHODS:
            setattr(original, name, ctx["original_" + name])
        original._compiler_ctx = None
    return original
