"""The rich pieces of ``RichProgressBar``: its Progress, task and columns (Lightning's names).

Importing this module imports ``rich``; ``rich_progress`` imports it only when a bar is created, so ``fastlit``
itself never does.
"""
from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Union

from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.progress_bar import ProgressBar as _RichBar
from rich.style import Style
from rich.text import Text

__all__ = ["BatchesProcessedColumn", "CustomBarColumn", "CustomInfiniteTask", "CustomProgress", "CustomTimeColumn",
           "MetricsTextColumn", "ProcessingSpeedColumn", "TextColumn"]

_INF = float("inf")


class CustomInfiniteTask(Task):
    """A task of a loader without a length (``total=inf``): no time-remaining estimate (rich's would overflow)."""

    @property
    def time_remaining(self) -> None:
        return None


class CustomProgress(Progress):
    """rich's ``Progress`` that also takes ``total=inf`` (a loader without a length)."""

    def add_task(self, description: str, start: bool = True, total: Union[float, None] = 100.0,
                 completed: int = 0, visible: bool = True, **fields: Any) -> TaskID:
        assert total is not None
        if math.isfinite(total):
            return super().add_task(description, start, total, completed, visible, **fields)
        task = CustomInfiniteTask(self._task_index, description, total, completed, visible=visible, fields=fields,
                                  _get_time=self.get_time, _lock=self._lock)
        return self.add_custom_task(task, start)

    def add_custom_task(self, task: CustomInfiniteTask, start: bool = True) -> TaskID:
        """Register a task built by the caller (rich's ``add_task`` always builds a plain ``Task``)."""
        with self._lock:
            task_id = self._task_index
            self._tasks[task_id] = task
            if start:
                self.start_task(task_id)
            self._task_index = TaskID(int(task_id) + 1)
        self.refresh()
        return task_id

    def soft_refresh(self) -> None:
        """Lightning flags its refresh thread here; fastlit's bar has none, so this redraws."""
        self.refresh()


class CustomBarColumn(BarColumn):
    """The bar; it pulses while a task has no length."""

    def render(self, task: Task) -> _RichBar:
        total = task.total if task.total is not None else _INF
        return _RichBar(
            total=max(0, total), completed=max(0, task.completed),
            width=None if self.bar_width is None else max(1, self.bar_width),
            pulse=not task.started or not math.isfinite(total), animation_time=task.get_time(),
            style=self.style, complete_style=self.complete_style, finished_style=self.finished_style,
            pulse_style=self.pulse_style)


class _StyledColumn(ProgressColumn):
    def __init__(self, style: Union[str, Style]) -> None:
        self.style = style
        super().__init__()


class CustomTimeColumn(_StyledColumn):
    """``elapsed • remaining`` (``-:--:--`` when unknown)."""

    max_refresh = 0.5  # rich re-renders it at most twice a second, so the seconds do not jitter

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        remaining = task.time_remaining
        return Text(f"{_hms(elapsed)} • {_hms(remaining)}", style=self.style)


def _hms(seconds: Union[float, None]) -> str:
    return "-:--:--" if seconds is None else str(timedelta(seconds=int(seconds)))


class BatchesProcessedColumn(_StyledColumn):
    """``done/total`` (``--`` for an unknown total)."""

    def render(self, task: Task) -> Text:
        total = "--" if task.total == _INF else task.total
        return Text(f"{int(task.completed)}/{total}", style=self.style)


class ProcessingSpeedColumn(_StyledColumn):
    """Batches per second, ``0.00it/s`` until rich can tell."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(f"{0.0 if speed is None else speed:.2f}it/s", style=self.style)


class MetricsTextColumn(ProgressColumn):
    """The metrics after the training bar during ``fit`` (empty for every other task).

    The bar hands the metrics over with ``update`` when it redraws; ``render`` only formats them, so drawing
    never reads the trainer's metrics (nor syncs a device).

    Args:
        trainer: The Trainer, to tell which task is the training bar.
        style: Style of the metrics text.
        text_delimiter: Put between two metrics.
        metrics_format: Format spec of numbers (strings and values that do not take it are shown as they are).
    """

    def __init__(self, trainer: Any, style: Union[str, Style], text_delimiter: str, metrics_format: str) -> None:
        self._trainer = trainer
        self._metrics: dict[Any, Any] = {}
        self._style = style
        self._text_delimiter = text_delimiter
        self._metrics_format = metrics_format
        super().__init__()

    def update(self, metrics: dict[Any, Any]) -> None:
        self._metrics = metrics

    def render(self, task: Task) -> Text:
        trainer = self._trainer
        bar = trainer.progress_bar_callback
        if trainer.state.fn != "fit" or trainer.sanity_checking or bar is None or bar.train_progress_bar_id != task.id:
            return Text()
        text = self._text_delimiter.join(self._generate_metrics_texts())
        return Text(text, justify="left", style=self._style)

    def _generate_metrics_texts(self) -> Any:
        for name, value in self._metrics.items():
            if not isinstance(value, str):
                try:
                    value = f"{value:{self._metrics_format}}"
                except (TypeError, ValueError):
                    value = str(value)
            yield f"{name}: {value}"
