"""``RichProgressBar``: Lightning's rich progress bars (sanity check, ``Epoch N/M``, validation, test, predict).

Per-batch cost. Lightning updates the rich task, reads every metric (``.item()`` on each tensor, a device sync)
and flags a redraw for its background refresh thread on every batch. Here a batch hook stores its counter and
reads the clock; the rich task, the metrics and the redraw are touched only when a redraw is due: at most
``refresh_rate`` times a second and no more often than every ``refresh_interval`` seconds (0.1 s, as the tqdm
bar), and always on the last batch of a loop and at the ends of epochs and loops, so the final numbers shown are
exact. Redraws run on the calling thread; there is no refresh thread.

``rich`` is imported when the first bar is created (its column classes are built then), not with ``fastlit``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from fastlit.callbacks.progress.progress_bar import ProgressBar
from fastlit.callbacks.rich_model_summary import _missing_rich
from fastlit.utilities.apply_func import apply_to_collection  # noqa: F401  (Lightning's module exports it)
from fastlit.utilities.imports import _RICH_AVAILABLE

_INF = float("inf")
_clock: Callable[[], float] = time.monotonic  # module attribute so tests can drive time by hand


@dataclass
class RichProgressBarTheme:
    """Styles (rich style strings or ``rich.style.Style``) of the parts of a rich progress bar.

    Args:
        description: The bar's description (``Epoch 0/9``, ``Validation``, ...).
        progress_bar: The bar while it runs.
        progress_bar_finished: The bar once it is full.
        progress_bar_pulse: The bar of a loader without a length (an ``IterableDataset``).
        batch_progress: The ``done/total`` batch counter.
        time: Elapsed and remaining time.
        processing_speed: Batches per second.
        metrics: The metrics after the training bar.
        metrics_text_delimiter: Put between two metrics.
        metrics_format: Format spec of float metrics.
    """

    description: Union[str, Any] = ""
    progress_bar: Union[str, Any] = "#6206E0"
    progress_bar_finished: Union[str, Any] = "#6206E0"
    progress_bar_pulse: Union[str, Any] = "#6206E0"
    batch_progress: Union[str, Any] = ""
    time: Union[str, Any] = "dim"
    processing_speed: Union[str, Any] = "dim underline"
    metrics: Union[str, Any] = "italic"
    metrics_text_delimiter: str = " "
    metrics_format: str = ".3f"


# The rich names Lightning's module has at module level when rich is installed: its column classes and what it
# imports from rich. They become globals of this module on first use (a bar created, or one of them looked up), so
# code and tests that patch ``rich_progress.Progress`` or ``rich_progress.CustomBarColumn`` work as under Lightning.
_RICH_NAMES = {
    "fastlit.callbacks.progress._rich_columns": (
        "BatchesProcessedColumn", "CustomBarColumn", "CustomInfiniteTask", "CustomProgress", "CustomTimeColumn",
        "MetricsTextColumn", "ProcessingSpeedColumn"),
    "rich": ("get_console", "reconfigure"),
    "rich.console": ("Console", "RenderableType"),
    "rich.progress": ("BarColumn", "Progress", "ProgressColumn", "Task", "TaskID", "TextColumn"),
    "rich.style": ("Style",),
    "rich.text": ("Text",),
}


def _load_rich() -> None:
    if "CustomProgress" in globals():
        return
    import importlib

    for module, names in _RICH_NAMES.items():
        loaded = importlib.import_module(module)
        globals().update({name: getattr(loaded, name) for name in names})


def __getattr__(name: str) -> Any:
    if _RICH_AVAILABLE and any(name in names for names in _RICH_NAMES.values()):
        _load_rich()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RichProgressBar(ProgressBar):
    """Progress bars drawn with `rich <https://github.com/Textualize/rich>`_, as Lightning's ``RichProgressBar``.

    The training bar is followed by ``get_metrics()`` (``v_num`` and the ``prog_bar=True`` metrics).

    Args:
        refresh_rate: Redraws per second at most (``0`` disables the bars). Default: 100.
        leave: Keep each finished epoch's training bar on screen. Default: False.
        theme: Styles of the bars' parts.
        console_kwargs: Arguments for the rich ``Console`` (applied with ``rich.reconfigure``), e.g.
            ``{"record": True, "width": 120}``.

    Attributes:
        refresh_interval: Minimum seconds between two redraws (0.1); ``0`` redraws ``refresh_rate`` times a
            second as Lightning does.

    Raises:
        ModuleNotFoundError: If ``rich`` is not installed (``pip install 'fastlit[rich]'``).
    """

    def __init__(
        self,
        refresh_rate: int = 100,
        leave: bool = False,
        theme: RichProgressBarTheme = RichProgressBarTheme(),
        console_kwargs: Optional[dict[str, Any]] = None,
    ) -> None:
        if not _RICH_AVAILABLE:  # a module attribute, so tests can pretend rich is missing
            raise _missing_rich("`RichProgressBar` requires `rich` >= 10.2.2")
        _load_rich()
        super().__init__()
        self._refresh_rate: int = refresh_rate
        self._leave: bool = leave
        self._console: Any = None
        self._console_kwargs: dict[str, Any] = console_kwargs or {}
        self._enabled: bool = True
        self.progress: Any = None
        self.theme = theme
        self.refresh_interval: float = 0.1
        self._metric_component: Any = None
        self._progress_stopped: bool = False
        self._reset_progress_bar_ids()
        # throttling, per loop: batches done, the count last shown, the batch count that always redraws (the last
        # one); and the time of the next redraw
        self._train_n, self._train_shown, self._train_last_batch = 0, 0, -1
        self._eval_id: Any = None  # task of the eval loop running now (sanity, val, test or predict)
        self._eval_n, self._eval_shown, self._eval_last_batch = 0, 0, -1
        self._next_draw: float = -_INF

    # ---- state ------------------------------------------------------------------------------------------------

    @property
    def refresh_rate(self) -> float:
        return self._refresh_rate

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self.refresh_rate > 0

    @property
    def is_disabled(self) -> bool:
        return not self.is_enabled

    def disable(self) -> None:
        self._enabled = False
        self._next_draw = _INF  # batch hooks stop drawing

    def enable(self) -> None:
        self._enabled = True
        self._next_draw = -_INF

    def _task(self, task_id: Any) -> Any:
        assert self.progress is not None and task_id is not None
        return self.progress.tasks[task_id]

    @property
    def train_progress_bar(self) -> Any:
        return self._task(self.train_progress_bar_id)

    @property
    def val_sanity_check_bar(self) -> Any:
        return self._task(self.val_sanity_progress_bar_id)

    @property
    def val_progress_bar(self) -> Any:
        return self._task(self.val_progress_bar_id)

    @property
    def test_progress_bar(self) -> Any:
        return self._task(self.test_progress_bar_id)

    def _reset_progress_bar_ids(self) -> None:
        self.train_progress_bar_id: Any = None
        self.val_sanity_progress_bar_id: Any = None
        self.val_progress_bar_id: Any = None
        self.test_progress_bar_id: Any = None
        self.predict_progress_bar_id: Any = None

    def __getstate__(self) -> dict:
        # the console and the rich Progress hold locks and file handles: not picklable
        return {**vars(self), "progress": None, "_console": None}

    # ---- the rich display ------------------------------------------------------------------------------------

    def configure_columns(self, trainer: Any) -> list:
        """The columns before the metrics: description, bar, ``done/total``, time, speed. Override to change."""
        theme = self.theme
        # module globals (see _load_rich), looked up at call time so patching them works
        return [
            TextColumn("[progress.description]{task.description}"),  # noqa: F821
            CustomBarColumn(complete_style=theme.progress_bar, finished_style=theme.progress_bar_finished,  # noqa: F821
                            pulse_style=theme.progress_bar_pulse),
            BatchesProcessedColumn(style=theme.batch_progress),  # noqa: F821
            CustomTimeColumn(style=theme.time),  # noqa: F821
            ProcessingSpeedColumn(style=theme.processing_speed),  # noqa: F821
        ]

    def _init_progress(self, trainer: Any) -> None:
        """Start a rich Progress (once per stage, or again after it was stopped)."""
        if not self.is_enabled or (self.progress is not None and not self._progress_stopped):
            return
        self._reset_progress_bar_ids()
        self._eval_id = None
        reconfigure(**self._console_kwargs)  # noqa: F821
        self._console = get_console()  # noqa: F821
        # a Live display left over (a run that died) would refuse ours; rich >= 14.1 keeps a stack of them
        if getattr(self._console, "_live_stack", None) or getattr(self._console, "_live", None) is not None:
            self._console.clear_live()
        theme = self.theme
        self._metric_component = MetricsTextColumn(  # noqa: F821
            trainer, theme.metrics, theme.metrics_text_delimiter, theme.metrics_format)
        # redraws are driven from the hooks (throttled), so rich's own refresh thread is off
        self.progress = CustomProgress(*self.configure_columns(trainer), self._metric_component,  # noqa: F821
                                       auto_refresh=False, disable=self.is_disabled, console=self._console)
        self.progress.start()
        self._progress_stopped = False

    def _stop_progress(self) -> None:
        if self.progress is not None and not self._progress_stopped:  # on_exception, then teardown: stop once
            self.progress.stop()
            self._progress_stopped = True  # the next stage starts a new Progress

    def refresh(self, hard: bool = False) -> None:
        """Redraw now (hooks call it only when a redraw is due)."""
        if self.progress is not None:
            self.progress.refresh()

    def _add_task(self, total_batches: Union[int, float], description: str, visible: bool = True) -> Any:
        assert self.progress is not None
        if self.theme.description:
            description = f"[{self.theme.description}]{description}"
        return self.progress.add_task(description, total=total_batches, visible=visible)

    def _update(self, progress_bar_id: Any, current: int, visible: bool = True, hard: bool = False) -> None:
        if self.progress is not None and self.is_enabled and progress_bar_id is not None:
            self.progress.update(progress_bar_id, completed=current, visible=visible)
            self.refresh(hard=hard)

    def _hide(self, task_id: Any) -> None:
        if self.progress is not None and task_id is not None:
            self.progress.update(task_id, advance=0, visible=False)

    def _due(self) -> bool:
        """Whether a throttled redraw may happen now; if so, the next one waits a full interval."""
        now = _clock()
        if now < self._next_draw:
            return False
        rate = self._refresh_rate
        self._next_draw = now + max(self.refresh_interval, 1.0 / rate if rate > 0 else _INF)
        return True

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Union[int, str, float, dict[str, float]]]:
        """``v_num`` and the ``prog_bar=True`` metrics, as Python numbers (read only when the bar redraws)."""
        return super().get_metrics(trainer, pl_module)

    def _update_metrics(self, trainer: Any, pl_module: Any) -> None:
        if self.is_enabled and self._metric_component is not None:
            self._metric_component.update(self.get_metrics(trainer, pl_module))

    # ---- training ----------------------------------------------------------------------------------------------

    def _get_train_description(self, current_epoch: int) -> str:
        text = f"Epoch {current_epoch}"
        if self.trainer.max_epochs is not None:
            text += f"/{self.trainer.max_epochs - 1}"
        # as wide as "Validation", so the bars below it do not shift when the description changes
        return f"{text:{len(self.validation_description)}}"

    def _initialize_train_progress_bar_id(self) -> None:
        total = self.total_train_batches
        self.train_progress_bar_id = self._add_task(total, self._get_train_description(self.trainer.current_epoch))
        self._train_last_batch = total

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._train_n = self._train_shown = 0
        if self.is_disabled:
            self._train_last_batch = -1
            return
        if self.train_progress_bar_id is not None and self._leave:
            # the finished epoch's bar stays printed; the new epoch gets a new display
            self._stop_progress()
            self._init_progress(trainer)
        total = self.total_train_batches
        if self.progress is not None:
            description = self._get_train_description(trainer.current_epoch)
            if self.train_progress_bar_id is None:
                self.train_progress_bar_id = self._add_task(total, description)
            else:
                self.progress.reset(self.train_progress_bar_id, total=total, description=description, visible=True)
        self._train_last_batch = total
        self._next_draw = -_INF
        self.refresh()

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        # the hot path: a store, a compare and a clock read; the rest only when a redraw is due
        n = self._train_n = batch_idx + 1
        if n == self._train_last_batch or self._due():
            if self.train_progress_bar_id is None and self.is_enabled:
                self._initialize_train_progress_bar_id()  # resumed mid-epoch: no epoch-start hook ran
            self._update_metrics(trainer, pl_module)
            self._update(self.train_progress_bar_id, n)
            self._train_shown = n

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        task_id, progress = self.train_progress_bar_id, self.progress
        if self._train_shown != self._train_n and self.is_enabled and task_id is not None and progress is not None:
            progress.update(task_id, completed=self._train_n)  # the exact final count a skipped redraw left out
            self._train_shown = self._train_n
        self._update_metrics(trainer, pl_module)
        self.refresh()

    # ---- evaluation --------------------------------------------------------------------------------------------

    def on_sanity_check_start(self, trainer: Any, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_sanity_check_end(self, trainer: Any, pl_module: Any) -> None:
        self._hide(self.val_sanity_progress_bar_id)
        self.refresh()

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self._init_progress(trainer)

    def _start_eval_task(self, attr: str, total: Union[int, float], description: str, visible: bool) -> None:
        """A new task for the eval loop's next dataloader; the previous one's task shows its final count and
        hides (the test and predict tasks stay visible under Lightning too until replaced)."""
        self._sync_eval()
        self._hide(getattr(self, attr))
        task_id = self._add_task(total, description, visible=visible)
        setattr(self, attr, task_id)
        self._eval_id, self._eval_n, self._eval_shown, self._eval_last_batch = task_id, 0, 0, total
        self._next_draw = -_INF
        self.refresh()

    def _sync_eval(self) -> None:
        """Show the running eval task's exact count (throttling may have skipped the last redraws)."""
        task_id, progress = self._eval_id, self.progress
        if self._eval_shown != self._eval_n and task_id is not None and progress is not None and self.is_enabled:
            progress.update(task_id, completed=self._eval_n, visible=True)
            self._eval_shown = self._eval_n
        self._eval_id = None

    def _end_eval_loop(self) -> None:
        self._sync_eval()
        self.refresh()
        self.reset_dataloader_idx_tracker()

    def _eval_batch_end(self, batch_idx: int) -> None:
        n = self._eval_n = batch_idx + 1
        if n == self._eval_last_batch or self._due():
            self._update(self._eval_id, n)
            self._eval_shown = n

    def on_validation_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                                  dataloader_idx: int = 0) -> None:
        if self.is_disabled or not self.has_dataloader_changed(dataloader_idx):
            return
        total = self.total_val_batches_current_dataloader
        if trainer.sanity_checking:
            self._start_eval_task("val_sanity_progress_bar_id", total, self.sanity_check_description, False)
        else:
            self._start_eval_task("val_progress_bar_id", total, self.validation_description, False)

    def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        if self._eval_id is not None:
            self._eval_batch_end(batch_idx)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._sync_eval()
        if self.is_enabled and trainer.state.fn == "fit":
            self._hide(self.val_progress_bar_id)  # the training bar stays; its validation bar goes
            self.refresh()

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.state.fn == "fit":
            self._update_metrics(trainer, pl_module)
        self._end_eval_loop()

    def on_test_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                            dataloader_idx: int = 0) -> None:
        if self.is_disabled or not self.has_dataloader_changed(dataloader_idx):
            return
        self._start_eval_task("test_progress_bar_id", self.total_test_batches_current_dataloader,
                              self.test_description, True)

    def on_test_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                          dataloader_idx: int = 0) -> None:
        if self._eval_id is not None:
            self._eval_batch_end(batch_idx)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_eval_loop()

    def on_predict_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                               dataloader_idx: int = 0) -> None:
        if self.is_disabled or not self.has_dataloader_changed(dataloader_idx):
            return
        self._start_eval_task("predict_progress_bar_id", self.total_predict_batches_current_dataloader,
                              self.predict_description, True)

    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        if self._eval_id is not None:
            self._eval_batch_end(batch_idx)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_eval_loop()

    # ---- end of a stage ----------------------------------------------------------------------------------------

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._stop_progress()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._stop_progress()
