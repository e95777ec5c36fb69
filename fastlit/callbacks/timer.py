"""``Timer``: measure time spent per stage and stop training once a time budget is used up."""
from __future__ import annotations

import re
import time
from datetime import timedelta
from enum import Enum
from typing import Any, Optional, Union

from fastlit.callbacks.callback import Callback
from fastlit.trainer.states import RunningStage
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import rank_zero_info


class Interval(str, Enum):
    """When ``Timer`` checks the budget: after every training batch, or at the end of every epoch."""

    step = "step"
    epoch = "epoch"

    def __str__(self) -> str:
        return self.value


def _parse_duration(duration: Union[str, timedelta, dict, None]) -> Optional[float]:
    if duration is None:
        return None
    if isinstance(duration, str):
        m = re.fullmatch(r"(\d+):(\d\d):(\d\d):(\d\d)", duration.strip())
        if not m:
            raise MisconfigurationException(
                f"`Timer(duration={duration!r})` is not a valid duration. Expected a string in the format DD:HH:MM:SS.")
        d, h, mi, s = (int(g) for g in m.groups())
        duration = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    elif isinstance(duration, dict):
        duration = timedelta(**duration)
    return duration.total_seconds()


class Timer(Callback):
    """Track the time spent in training, validation and testing, and stop training after ``duration``.

    Args:
        duration: ``"DD:HH:MM:SS"``, a ``datetime.timedelta``, or a dict of ``timedelta`` keyword arguments
            (e.g. ``dict(weeks=1, days=2)``). ``None`` only measures.
        interval: ``"step"`` (check after every training batch) or ``"epoch"`` (check at the end of each epoch).
        verbose: log a line when the time limit stops training.

    Raises:
        MisconfigurationException: ``duration`` is not in one of the formats above, or ``interval`` is neither
            ``"step"`` nor ``"epoch"``.

    The elapsed training time is saved in checkpoints (``{"time_elapsed": {stage: seconds}}``) and counts against the
    budget again after resuming.
    """

    def __init__(self, duration: Optional[Union[str, timedelta, dict[str, int]]] = None,
                 interval: str = Interval.step, verbose: bool = True) -> None:
        super().__init__()
        self._duration = _parse_duration(duration)
        if interval not in ("step", "epoch"):
            raise MisconfigurationException(
                f"Unsupported parameter value `Timer(interval={interval})`. Possible choices are: step, epoch")
        self._interval = Interval(interval)
        self._verbose = verbose
        self._start_time: dict[RunningStage, Optional[float]] = dict.fromkeys(RunningStage)
        self._end_time: dict[RunningStage, Optional[float]] = dict.fromkeys(RunningStage)
        self._offset = 0.0

    # ------------------------------------------------------------------ queries
    def start_time(self, stage: str = RunningStage.TRAINING) -> Optional[float]:
        """When ``stage`` started (``time.monotonic()`` seconds), or None."""
        return self._start_time[RunningStage(stage)]

    def end_time(self, stage: str = RunningStage.TRAINING) -> Optional[float]:
        """When ``stage`` ended (``time.monotonic()`` seconds), or None."""
        return self._end_time[RunningStage(stage)]

    def time_elapsed(self, stage: str = RunningStage.TRAINING) -> float:
        """Seconds spent in ``stage`` (for training, plus the time restored from a checkpoint)."""
        stage = RunningStage(stage)
        start, end = self._start_time[stage], self._end_time[stage]
        offset = self._offset if stage == RunningStage.TRAINING else 0
        if start is None:
            return offset
        return (time.monotonic() if end is None else end) - start + offset

    def time_remaining(self, stage: str = RunningStage.TRAINING) -> Optional[float]:
        """Seconds left of ``duration`` (None when there is no duration)."""
        return None if self._duration is None else self._duration - self.time_elapsed(stage)

    # ------------------------------------------------------------------ hooks
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._start_time[RunningStage.TRAINING] = time.monotonic()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_time[RunningStage.TRAINING] = time.monotonic()

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._start_time[RunningStage.VALIDATING] = time.monotonic()

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_time[RunningStage.VALIDATING] = time.monotonic()

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self._start_time[RunningStage.TESTING] = time.monotonic()

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_time[RunningStage.TESTING] = time.monotonic()

    def on_fit_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        # after a checkpoint restored the elapsed time, the budget may already be spent
        if self._duration is not None:
            self._check_time_remaining(trainer)

    def on_train_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self._interval == Interval.step and self._duration is not None:
            self._check_time_remaining(trainer)

    def on_train_epoch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self._interval == Interval.epoch and self._duration is not None:
            self._check_time_remaining(trainer)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"time_elapsed": {stage.value: self.time_elapsed(stage) for stage in RunningStage}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._offset = state_dict.get("time_elapsed", {}).get(RunningStage.TRAINING.value, 0)

    def _check_time_remaining(self, trainer: Any) -> None:
        assert self._duration is not None
        stop = trainer.strategy.broadcast(self.time_elapsed() >= self._duration)
        trainer.should_stop = trainer.should_stop or stop
        if stop and self._verbose:
            elapsed = timedelta(seconds=int(self.time_elapsed(RunningStage.TRAINING)))
            rank_zero_info(f"Time limit reached. Elapsed time is {elapsed}. Signaling Trainer to stop.")


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "LightningEnum": "fastlit.utilities.enums",
    "log": "@logger",
})
