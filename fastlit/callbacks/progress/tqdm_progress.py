"""``TQDMProgressBar``: Lightning's default tqdm bars, with a per-batch cost of a few attribute operations.

Lightning redraws the bar (and reads every metric, syncing tensors with ``.item()``) on every
``refresh_rate``-th batch. Here a batch hook only stores its counter and compares it with the next batch at
which a redraw may happen; the redraw itself happens only when ``refresh_rate`` batches have passed *and* at
least ``refresh_interval`` seconds (0.1 s, like tqdm's ``mininterval``) went by since the last one, and always
on the last batch of a loop and at the end of an epoch, so the final numbers shown are exact.

tqdm is imported on the first bar, not with ``fastlit``.
"""
from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from typing import Any, Callable, Optional, Union

from fastlit.callbacks.progress.progress_bar import ProgressBar
from fastlit.utilities.rank_zero import rank_zero_debug

_PAD_SIZE = 5
_INF = float("inf")
_clock: Callable[[], float] = time.monotonic  # module attribute so tests can drive time by hand
_BAR_ATTRS = ("_train_progress_bar", "_val_progress_bar", "_test_progress_bar", "_predict_progress_bar")
_tqdm_class: Optional[type] = None


def _get_tqdm_class() -> type:
    """Build (once) ``Tqdm``: tqdm whose numbers in the postfix are padded so the bar does not flicker."""
    global _tqdm_class
    if _tqdm_class is None:
        # tqdm.auto picks the notebook widget when it can; it needs ipywidgets for that
        if importlib.util.find_spec("ipywidgets") is not None:
            from tqdm.auto import tqdm as base
        else:
            from tqdm import tqdm as base

        class Tqdm(base):  # type: ignore[misc, valid-type]
            @staticmethod
            def format_num(n: Union[int, float, str]) -> str:
                """Pad floats (and numeric strings) with zeros to 5 characters: ``0.1`` -> ``0.100``."""
                text = n if isinstance(n, str) else base.format_num(n)
                if not isinstance(n, (float, str)) or "e" in text:
                    return text
                if "." not in text and len(text) < _PAD_SIZE:
                    try:
                        float(text)
                    except ValueError:
                        return text
                    text += "."
                return text + "0" * (_PAD_SIZE - len(text))

        _tqdm_class = Tqdm
    return _tqdm_class


def __getattr__(name: str) -> Any:
    if name == "Tqdm":
        return _get_tqdm_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def convert_inf(x: Optional[Union[int, float]]) -> Optional[Union[int, float]]:
    """tqdm wants ``None`` for an unknown total, not ``inf``/``nan``."""
    if x is None or math.isinf(x) or math.isnan(x):
        return None
    return x


class TQDMProgressBar(ProgressBar):
    """Lightning's default progress bar: sanity-check, ``Epoch N`` (training), validation, test and predict bars.

    The training bar's postfix shows ``get_metrics()``: ``v_num`` (the logger version) and the metrics logged
    with ``prog_bar=True``. Output goes to ``sys.stdout``, as in Lightning 2.x.

    Args:
        refresh_rate: Redraw at most every this many batches (0 disables the bars). Redraws are further limited
            to one per ``refresh_interval`` seconds, except on the last batch.
        process_position: Offset the bars by this many lines (for several bars at once).
        leave: Keep each finished epoch's bar on screen.

    Attributes:
        refresh_interval: Minimum seconds between redraws (0.1, or ``$TQDM_MININTERVAL``); 0 redraws every
            ``refresh_rate`` batches exactly as Lightning does.
    """

    BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False) -> None:
        super().__init__()
        self._refresh_rate = self._resolve_refresh_rate(refresh_rate)
        self._process_position = process_position
        self._enabled = True
        self._leave = leave
        self._train_progress_bar: Any = None
        self._val_progress_bar: Any = None
        self._test_progress_bar: Any = None
        self._predict_progress_bar: Any = None
        self.refresh_interval = float(os.environ.get("TQDM_MININTERVAL", 0.1))
        # throttling state: batches done, next batch count worth looking at, time of the last redraw
        self._train_n, self._train_next, self._train_last, self._train_total = 0, _INF, -_INF, _INF
        self._eval_n, self._eval_next, self._eval_last, self._eval_total = 0, _INF, -_INF, _INF
        self._eval_bar: Any = None  # the bar of the eval loop running now (val, test or predict)

    def __getstate__(self) -> dict:
        # tqdm objects hold a file handle and a lock: not picklable
        return {k: (None if k in _BAR_ATTRS or k == "_eval_bar" else v) for k, v in vars(self).items()}

    def _bar(name: str) -> property:  # type: ignore[misc]
        attr = f"_{name}"

        def get(self: "TQDMProgressBar") -> Any:
            bar = getattr(self, attr)
            if bar is None:
                raise TypeError(f"The `{self.__class__.__name__}.{attr}` reference has not been set yet.")
            return bar

        def set_(self: "TQDMProgressBar", bar: Any) -> None:
            setattr(self, attr, bar)

        return property(get, set_)

    train_progress_bar = _bar("train_progress_bar")
    val_progress_bar = _bar("val_progress_bar")
    test_progress_bar = _bar("test_progress_bar")
    predict_progress_bar = _bar("predict_progress_bar")
    del _bar

    @property
    def refresh_rate(self) -> int:
        return self._refresh_rate

    @property
    def process_position(self) -> int:
        return self._process_position

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self.refresh_rate > 0

    @property
    def is_disabled(self) -> bool:
        return not self.is_enabled

    def disable(self) -> None:
        self._enabled = False
        self._train_next = self._eval_next = _INF  # batch hooks stop looking at all

    def enable(self) -> None:
        self._enabled = True
        # batch hooks look again (from the next multiple of refresh_rate) at the bars that can draw
        self._train_next, self._train_total = self._resume(self._train_progress_bar, self._train_n)
        self._eval_next, self._eval_total = self._resume(self._eval_bar, self._eval_n)

    def _new_bar(self, desc: str, position: int, leave: bool, **kwargs: Any) -> Any:
        return _get_tqdm_class()(desc=desc, position=position, disable=self.is_disabled, leave=leave,
                                 dynamic_ncols=True, file=sys.stdout, bar_format=self.BAR_FORMAT, **kwargs)

    def init_sanity_tqdm(self) -> Any:
        """Override to customize the sanity-check bar."""
        return self._new_bar(self.sanity_check_description, 2 * self.process_position, leave=False)

    def init_train_tqdm(self) -> Any:
        """Override to customize the training bar."""
        return self._new_bar(self.train_description, 2 * self.process_position, leave=True, smoothing=0)

    def init_predict_tqdm(self) -> Any:
        """Override to customize the predict bar."""
        return self._new_bar(self.predict_description, 2 * self.process_position, leave=True, smoothing=0)

    def init_validation_tqdm(self) -> Any:
        """Override to customize the validation bar (under the training bar during ``fit``)."""
        has_main_bar = self.trainer.state.fn != "validate"
        return self._new_bar(self.validation_description, 2 * self.process_position + has_main_bar,
                             leave=not has_main_bar)

    def init_test_tqdm(self) -> Any:
        """Override to customize the test bar."""
        return self._new_bar("Testing", 2 * self.process_position, leave=True)

    # ---- throttled drawing (off the per-batch fast path) -----------------------------------------------------
    # Per loop (train; the one running eval loop) we keep: _n (batches done), _next (first batch count at which
    # a redraw may happen: a multiple of refresh_rate or the last batch), _last (time of the last redraw) and
    # _total (inf when unknown or when the bar is off).

    def _following(self, n: int, total: float) -> float:
        """The next batch count after ``n`` worth a look: next multiple of ``refresh_rate``, or the last batch."""
        rate = self._refresh_rate
        following = n - n % rate + rate
        return total if n < total < following else following

    def _start_loop(self, bar: Any) -> tuple[float, float]:
        """(next batch count to look at, total) for a freshly reset bar."""
        if bar is None or bar.disable or not self.is_enabled:
            return _INF, _INF
        total = _INF if bar.total is None else bar.total
        return min(self._refresh_rate, total), total

    def _resume(self, bar: Any, n: int) -> tuple[float, float]:
        following, total = self._start_loop(bar)
        return (self._following(n, total) if n and following != _INF else following), total

    def _sync(self, bar: Any, n: int) -> None:
        """Show the exact final count (throttling may have skipped the last redraws)."""
        if bar is not None and not bar.disable and bar.n != n:
            bar.n = n
            bar.refresh()

    def _reset_eval(self, bar: Any, total: Union[int, float], desc: str) -> None:
        bar.reset()
        bar.total = convert_inf(total)
        bar.initial = 0
        bar.set_description(desc)
        self._eval_bar = bar
        self._eval_n, self._eval_last = 0, -_INF
        self._eval_next, self._eval_total = self._start_loop(bar)

    def _eval_batch_end(self, bar: Any, n: int) -> None:
        now = _clock()
        if n == self._eval_total or now - self._eval_last >= self.refresh_interval:
            self._eval_last = now
            bar.n = n
            bar.refresh()
        self._eval_next = self._following(n, self._eval_total)

    # ---- hooks ------------------------------------------------------------------------------------------------

    def on_sanity_check_start(self, *_: Any) -> None:
        self.val_progress_bar = self.init_sanity_tqdm()
        self.train_progress_bar = _get_tqdm_class()(disable=True)  # placeholder until training starts

    def on_sanity_check_end(self, *_: Any) -> None:
        self.val_progress_bar.close()
        self.train_progress_bar.close()

    def on_train_start(self, *_: Any) -> None:
        self.train_progress_bar = self.init_train_tqdm()

    def on_train_epoch_start(self, trainer: Any, *_: Any) -> None:
        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        bar = self.train_progress_bar
        bar.reset()
        bar.total = convert_inf(self.total_train_batches)
        bar.initial = 0
        bar.set_description(f"Epoch {trainer.current_epoch}")
        self._train_n, self._train_last = 0, -_INF
        self._train_next, self._train_total = self._start_loop(bar)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        # the hot path: an add, a store and a compare; a clock read only every refresh_rate batches
        n = self._train_n = batch_idx + 1
        if n >= self._train_next:
            now = _clock()
            if n == self._train_total or now - self._train_last >= self.refresh_interval:
                self._train_last = now
                bar = self._train_progress_bar
                bar.n = n
                bar.set_postfix(self.get_metrics(trainer, pl_module))  # one redraw: new count and metrics
            self._train_next = self._following(n, self._train_total)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        bar = self._train_progress_bar
        if bar is not None and not bar.disable:
            bar.n = self._train_n
            bar.set_postfix(self.get_metrics(trainer, pl_module))
        if self._leave and bar is not None:
            bar.close()

    def on_train_end(self, *_: Any) -> None:
        self.train_progress_bar.close()

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._eval_n = 0
        if not trainer.sanity_checking:
            self.val_progress_bar = self.init_validation_tqdm()

    def on_validation_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if dataloader_idx == self._current_eval_dataloader_idx:
            return
        if self._current_eval_dataloader_idx is not None:  # the previous dataloader's final count
            self._sync(self._val_progress_bar, self._eval_n)
        self._current_eval_dataloader_idx = dataloader_idx
        desc = self.sanity_check_description if trainer.sanity_checking else self.validation_description
        self._reset_eval(self.val_progress_bar, self.total_val_batches_current_dataloader,
                         f"{desc} DataLoader {dataloader_idx}")

    def on_validation_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        n = self._eval_n = batch_idx + 1
        if n >= self._eval_next:
            self._eval_batch_end(self._val_progress_bar, n)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self._sync(self._val_progress_bar, self._eval_n)
        self.val_progress_bar.close()
        self.reset_dataloader_idx_tracker()
        bar = self._train_progress_bar
        if bar is not None and trainer.state.fn == "fit":
            if not bar.disable:
                bar.n = self._train_n  # validation mid-epoch: show where training is
            bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self._eval_n = 0
        self.test_progress_bar = self.init_test_tqdm()

    def on_test_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if dataloader_idx == self._current_eval_dataloader_idx:
            return
        if self._current_eval_dataloader_idx is not None:  # the previous dataloader's final count
            self._sync(self._test_progress_bar, self._eval_n)
        self._current_eval_dataloader_idx = dataloader_idx
        self._reset_eval(self.test_progress_bar, self.total_test_batches_current_dataloader,
                         f"{self.test_description} DataLoader {dataloader_idx}")

    def on_test_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        n = self._eval_n = batch_idx + 1
        if n >= self._eval_next:
            self._eval_batch_end(self._test_progress_bar, n)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self._sync(self._test_progress_bar, self._eval_n)
        self.test_progress_bar.close()
        self.reset_dataloader_idx_tracker()

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self._eval_n = 0
        self.predict_progress_bar = self.init_predict_tqdm()

    def on_predict_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if dataloader_idx == self._current_eval_dataloader_idx:
            return
        if self._current_eval_dataloader_idx is not None:  # the previous dataloader's final count
            self._sync(self._predict_progress_bar, self._eval_n)
        self._current_eval_dataloader_idx = dataloader_idx
        self._reset_eval(self.predict_progress_bar, self.total_predict_batches_current_dataloader,
                         f"{self.predict_description} DataLoader {dataloader_idx}")

    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        n = self._eval_n = batch_idx + 1
        if n >= self._eval_next:
            self._eval_batch_end(self._predict_progress_bar, n)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self._sync(self._predict_progress_bar, self._eval_n)
        self.predict_progress_bar.close()
        self.reset_dataloader_idx_tracker()

    def print(self, *args: Any, sep: str = " ", **kwargs: Any) -> None:
        """Print above the active bar (tqdm.write) so the bar is not broken."""
        for attr in _BAR_ATTRS:
            bar = getattr(self, attr)
            if bar is not None and not bar.disable:
                bar.write(sep.join(map(str, args)), **kwargs)
                return

    @staticmethod
    def _resolve_refresh_rate(refresh_rate: int) -> int:
        if os.getenv("COLAB_GPU") and refresh_rate == 1:
            # Colab's output widget cannot keep up with frequent redraws
            rank_zero_debug("Using a higher refresh rate on Colab. Setting it to `20`")
            return 20
        if "TQDM_MINITERS" in os.environ:
            return max(int(os.environ["TQDM_MINITERS"]), refresh_rate)
        return refresh_rate
