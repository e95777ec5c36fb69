"""Profiler instrumentation of the training step, installed only while a real profiler is on.

The hot loop stays the same whether or not profiling is on: instead of ``if profiling`` checks around every
call, the step's parts are wrapped (as instance attributes, removed afterwards) in Lightning's action names.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Callable, Optional

_MISSING = object()


class ProfiledIterator:
    """Times each ``next()`` of a dataloader iterator under ``action``."""

    def __init__(self, it: Iterator, profiler: Any, action: str) -> None:
        self._it, self._profiler, self._action = it, profiler, action

    def __iter__(self) -> "ProfiledIterator":
        return self

    def __next__(self) -> Any:
        with self._profiler.profile(self._action):
            return next(self._it)


@contextlib.contextmanager
def instrument(t: Any, module: Any, optimizer: Optional[Any]) -> Iterator[None]:
    """Wrap ``training_step``, ``optimizer.step`` and ``optimizer.zero_grad`` in profiler actions."""
    profiler = t.profiler
    cls = type(module).__name__
    patched: list[tuple[Any, str, Any]] = []

    def wrap(obj: Any, name: str, action: str) -> None:
        fn: Callable = getattr(obj, name)

        def run(*args: Any, **kwargs: Any) -> Any:
            with profiler.profile(action):
                return fn(*args, **kwargs)

        patched.append((obj, name, obj.__dict__.get(name, _MISSING)))
        setattr(obj, name, run)

    wrap(module, "training_step", "[Strategy]SingleDeviceStrategy.training_step")
    if optimizer is not None:
        wrap(optimizer, "step", f"[LightningModule]{cls}.optimizer_step")
        wrap(optimizer, "zero_grad", f"[LightningModule]{cls}.optimizer_zero_grad")
    try:
        yield
    finally:
        for obj, name, old in reversed(patched):
            if old is _MISSING:
                delattr(obj, name)
            else:
                setattr(obj, name, old)
