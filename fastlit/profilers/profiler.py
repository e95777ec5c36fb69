"""``Profiler``: the base class of everything passed as ``Trainer(profiler=...)``.

The Trainer calls ``setup(stage, local_rank, log_dir)`` before a run, ``start``/``stop`` (or ``profile``) around
each action (Lightning's names: ``run_training_epoch``, ``run_training_batch``,
``[LightningModule]<Cls>.<hook>``, ``[Callback]<state_key>.<hook>``, ``[Strategy]<Cls>.<hook>``, ...) and
``describe()`` at the end, which writes ``summary()`` to ``dirpath/<stage>-<filename>.txt`` or logs it.
"""
from __future__ import annotations

import logging
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Optional, TextIO, Union

log = logging.getLogger(__name__)


class _Profile:
    """``with profiler.profile(name):`` as a tiny class: cheaper per call than a ``@contextmanager`` generator."""

    __slots__ = ("_profiler", "_name")

    def __init__(self, profiler: "Profiler", name: str) -> None:
        self._profiler = profiler
        self._name = name

    def __enter__(self) -> str:
        self._profiler.start(self._name)
        return self._name

    def __exit__(self, *exc: Any) -> None:
        self._profiler.stop(self._name)


class Profiler(ABC):
    """Base class for profilers: subclasses implement ``start``/``stop`` and usually ``summary``.

    Args:
        dirpath: Directory for the report file. When ``None`` but ``filename`` is given, the Trainer's ``log_dir``
            is used (set in ``setup``).
        filename: Report file name (``<stage>-<filename>.txt`` is written). When ``None`` the report is logged.
    """

    def __init__(self, dirpath: Optional[Union[str, Path]] = None, filename: Optional[str] = None) -> None:
        self.dirpath = dirpath
        self.filename = filename
        self._output_file: Optional[TextIO] = None
        self._write_stream: Optional[Callable[[str], Any]] = None
        self._local_rank: Optional[int] = None
        self._stage: Optional[str] = None

    @abstractmethod
    def start(self, action_name: str) -> None:
        """Start recording ``action_name``."""

    @abstractmethod
    def stop(self, action_name: str) -> None:
        """Stop recording ``action_name``."""

    def summary(self) -> str:
        """The report text; empty means nothing to report."""
        return ""

    def profile(self, action_name: str) -> _Profile:
        """Context manager that profiles its block as ``action_name``; ``as`` gives the name back."""
        return _Profile(self, action_name)

    def _rank_zero_info(self, *args: Any, **kwargs: Any) -> None:
        if self._local_rank in (None, 0):
            log.info(*args, **kwargs)

    def _prepare_filename(self, action_name: Optional[str] = None, extension: str = ".txt") -> str:
        """``<stage>-<filename>-<local_rank>-<action>`` + extension, with path-unsafe characters replaced."""
        parts = [self._stage, self.filename or None, None if self._local_rank is None else str(self._local_rank),
                 action_name]
        base = "-".join(p for p in parts if p is not None)
        base = re.sub(r"_+", "_", re.sub(r"[\\/:*?\"<>|\n\r\t]", "_", base)).strip()
        return (base or "profile") + extension

    def _prepare_streams(self) -> None:
        if self._write_stream is not None:
            return
        if self.filename and self.dirpath:
            os.makedirs(self.dirpath, exist_ok=True)
            # append, as Lightning does: fit then test with the same profiler go to different stage files anyway
            self._output_file = open(os.path.join(self.dirpath, self._prepare_filename()), "a")
            self._write_stream = self._output_file.write
        else:
            self._write_stream = self._rank_zero_info

    def describe(self) -> None:
        """Write (or log) the report, then close the file. Safe to call by hand outside a Trainer."""
        self._prepare_streams()
        summary = self.summary()
        if summary and self._write_stream is not None:
            self._write_stream(summary)
        if self._output_file is not None:
            self._output_file.flush()
        self.teardown(stage=self._stage)

    def _stats_to_str(self, stats: dict[str, str]) -> str:
        lines = [(f"{self._stage.upper()} " if self._stage is not None else "") + "Profiler Report"]
        rank = f" rank: {self._local_rank}" if self._local_rank is not None else ""
        for action, text in stats.items():
            lines += [f"Profile stats for: {action}{rank}", text]
        return os.linesep.join(lines)

    def setup(self, stage: str, local_rank: Optional[int] = None, log_dir: Optional[str] = None) -> None:
        """Called by the Trainer before a run; ``local_rank`` is ``None`` in single-process runs."""
        self._stage = stage
        self._local_rank = local_rank
        self.dirpath = self.dirpath or log_dir

    def teardown(self, stage: Optional[str]) -> None:
        """Close the report file (if any)."""
        self._write_stream = None
        if self._output_file is not None:
            self._output_file.close()
            self._output_file = None

    def __del__(self) -> None:
        try:
            self.teardown(stage=self._stage)
        except Exception:  # interpreter shutdown: nothing sensible left to do
            pass

    @property
    def local_rank(self) -> int:
        return 0 if self._local_rank is None else self._local_rank


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "get_filesystem": "fastlit.utilities.cloud_io",
})
