"""``AdvancedProfiler``: one ``cProfile`` per action, reported with ``pstats``."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Optional, Union

from fastlit.profilers.profiler import Profiler


class AdvancedProfiler(Profiler):
    """Python-level profile (cProfile) of every function called inside each action; verbose but detailed.

    Python allows one active cProfile at a time, so a nested action pauses the enclosing one and the enclosing
    one resumes when the nested one stops.

    Args:
        dirpath: Directory for the report (and ``.prof`` dumps); defaults to the Trainer's ``log_dir``.
        filename: If given, the report goes to ``<dirpath>/<stage>-<filename>.txt`` instead of the log.
        line_count_restriction: Limit of functions listed per action: an int (a count) or a float in [0, 1]
            (a fraction of the lines).
        dump_stats: Also write each action's raw stats to ``<dirpath>/<stage>-<filename>-<action>.prof``.

    Raises:
        ValueError: Stopping an action that was never started.
    """

    def __init__(
        self,
        dirpath: Optional[Union[str, Path]] = None,
        filename: Optional[str] = None,
        line_count_restriction: float = 1.0,
        dump_stats: bool = False,
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        self.profiled_actions: dict[str, Any] = {}  # action -> cProfile.Profile
        self.line_count_restriction = line_count_restriction
        self.dump_stats = dump_stats
        self._active: list[str] = []  # running actions, innermost last

    def start(self, action_name: str) -> None:
        import cProfile  # lazy: only paid for by users of this profiler

        if self._active:
            self.profiled_actions[self._active[-1]].disable()
        profile = self.profiled_actions.get(action_name)
        if profile is None:
            profile = self.profiled_actions[action_name] = cProfile.Profile()
        self._active.append(action_name)
        profile.enable()

    def stop(self, action_name: str) -> None:
        profile = self.profiled_actions.get(action_name)
        if profile is None:
            raise ValueError(f"Attempting to stop recording an action ({action_name}) which was never started.")
        profile.disable()
        if action_name in self._active:
            self._active.remove(action_name)
        if self._active:
            self.profiled_actions[self._active[-1]].enable()

    def _dump_stats(self, action_name: str, profile: Any) -> None:
        if not self.dirpath:
            raise ValueError("AdvancedProfiler(dump_stats=True) needs a `dirpath` (or a Trainer log_dir) to write to.")
        os.makedirs(self.dirpath, exist_ok=True)
        profile.dump_stats(os.path.join(self.dirpath, self._prepare_filename(action_name, extension=".prof")))

    def summary(self) -> str:
        import pstats

        stats = {}
        for action_name, profile in self.profiled_actions.items():
            if self.dump_stats:
                self._dump_stats(action_name, profile)
            stream = io.StringIO()
            try:
                ps = pstats.Stats(profile, stream=stream)
            except TypeError:  # an action that ran no Python code has no stats at all
                stats[action_name] = ""
                continue
            ps.strip_dirs().sort_stats("cumulative").print_stats(self.line_count_restriction)
            stats[action_name] = stream.getvalue()
        return self._stats_to_str(stats)

    def teardown(self, stage: Optional[str]) -> None:
        super().teardown(stage=stage)
        for profile in self.profiled_actions.values():
            profile.disable()
        self._active.clear()
        self.profiled_actions.clear()

    def __reduce__(self) -> tuple:
        # cProfile.Profile objects cannot be pickled (e.g. when the Trainer is sent to spawned processes)
        state = {"dirpath": self.dirpath, "filename": self.filename,
                 "line_count_restriction": self.line_count_restriction, "dump_stats": self.dump_stats}
        return (self.__class__, (), state)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "get_filesystem": "fastlit.utilities.cloud_io",
    "log": "@logger",
    "rank_zero_only": "fastlit.utilities.rank_zero",
})
