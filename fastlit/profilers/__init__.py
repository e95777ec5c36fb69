"""Profilers: ``Trainer(profiler="simple" | "advanced" | "pytorch" | Profiler())``.

``PyTorchProfiler`` lives in its own module and is imported on first use, so ``import fastlit`` stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

from fastlit.profilers.advanced import AdvancedProfiler
from fastlit.profilers.base import PassThroughProfiler
from fastlit.profilers.profiler import Profiler
from fastlit.profilers.simple import SimpleProfiler
from fastlit.profilers.xla import XLAProfiler
from fastlit.utilities.exceptions import MisconfigurationException

if TYPE_CHECKING:
    from fastlit.profilers.pytorch import PyTorchProfiler

__all__ = ["AdvancedProfiler", "PassThroughProfiler", "Profiler", "PyTorchProfiler", "SimpleProfiler", "XLAProfiler",
           "resolve"]

_NAMES = ("simple", "advanced", "pytorch")


def __getattr__(name: str) -> Any:
    if name == "PyTorchProfiler":
        from fastlit.profilers.pytorch import PyTorchProfiler

        return PyTorchProfiler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def resolve(profiler: Optional[Union[str, Profiler]]) -> Profiler:
    """Turn ``Trainer(profiler=...)`` into a Profiler: a name, an instance, or ``None`` (no profiling).

    Raises:
        MisconfigurationException: An unknown name or an object that is not a ``Profiler`` (as Lightning).
    """
    if profiler is None:
        return PassThroughProfiler()
    if isinstance(profiler, Profiler):
        return profiler
    if isinstance(profiler, str):
        name = profiler.lower()
        if name == "simple":
            return SimpleProfiler()
        if name == "advanced":
            return AdvancedProfiler()
        if name == "pytorch":
            from fastlit.profilers.pytorch import PyTorchProfiler

            return PyTorchProfiler()
        if name == "xla":
            raise MisconfigurationException(
                f"Trainer(profiler='xla'): fastlit has no XLA support; use one of {list(_NAMES)}.")
        raise MisconfigurationException(
            f"Trainer(profiler={profiler!r}): unknown profiler name. When passing a string value for the `profiler` "
            f"parameter of `Trainer`, it can only be one of {list(_NAMES)}, or pass a Profiler instance."
        )
    raise MisconfigurationException(
        f"Trainer(profiler=...) must be None, one of {list(_NAMES)} or a `fastlit.profilers.Profiler` instance,"
        f" got {type(profiler).__name__}."
    )
