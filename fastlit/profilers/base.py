"""``PassThroughProfiler``: the Trainer's default; every call is a no-op."""
from __future__ import annotations

from typing import Any

from fastlit.profilers.profiler import Profiler


class _NullProfile:
    """``with`` target that does nothing but hand back the action name (as Lightning's ``profile`` does)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __enter__(self) -> str:
        return self._name

    def __exit__(self, *exc: Any) -> None:
        return None


class PassThroughProfiler(Profiler):
    """Profiler that records nothing (used when ``Trainer(profiler=None)``).

    Args: none beyond ``Profiler``'s.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._null_profiles: dict[str, _NullProfile] = {}

    def start(self, action_name: str) -> None:
        pass

    def stop(self, action_name: str) -> None:
        pass

    def profile(self, action_name: str) -> _NullProfile:  # type: ignore[override]
        # one cached object per action name: no allocation per profiled block on the hot path
        try:
            return self._null_profiles[action_name]
        except KeyError:
            ctx = self._null_profiles[action_name] = _NullProfile(action_name)
            return ctx
