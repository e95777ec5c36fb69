"""Trainer set-up done once per Trainer or per run: loggers, the callback list, and the hook table that lets
the loop skip every hook nobody overrides."""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterable

from fastlit.callbacks.callback import Callback
from fastlit.core.module import LightningModule
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import rank_zero_info

# Per-epoch/run hooks dispatched through the hook table (callbacks first, then the module).
_RUN_HOOKS = (
    "on_fit_start", "on_fit_end", "on_sanity_check_start", "on_sanity_check_end", "on_train_start", "on_train_end",
    "on_train_epoch_start", "on_train_epoch_end", "on_validation_start", "on_validation_end",
    "on_validation_epoch_start", "on_validation_epoch_end", "on_test_start", "on_test_end", "on_test_epoch_start",
    "on_test_epoch_end", "on_predict_start", "on_predict_end", "on_predict_epoch_start", "on_predict_epoch_end",
    "on_train_batch_start", "on_train_batch_end", "on_validation_batch_start", "on_validation_batch_end",
    "on_test_batch_start", "on_test_batch_end", "on_predict_batch_start", "on_predict_batch_end",
    "on_before_backward", "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad",
)
_CALLBACK_ONLY = ("on_sanity_check_start", "on_sanity_check_end")


class ConfigurationMixin:
    """Part of ``Trainer``: logger/callback configuration and hook dispatch."""

    def _configure_loggers(self, logger: Any) -> None:
        if logger == "dummy":
            from fastlit.loggers.logger import DummyLogger

            self.loggers = [DummyLogger()]
        elif logger is None or logger is True:
            try:
                import tensorboard  # noqa: F401  (only to know whether it is installed)
                from fastlit.loggers.tensorboard import TensorBoardLogger

                self.loggers = [TensorBoardLogger(save_dir=self.default_root_dir)]
            except ImportError:
                from fastlit.loggers.csv_logs import CSVLogger

                self.loggers = [CSVLogger(save_dir=self.default_root_dir)]
        elif logger is False:
            self.loggers = []
        elif isinstance(logger, Iterable) and not isinstance(logger, (str, bytes)):
            self.loggers = list(logger)
        else:
            self.loggers = [logger]

    def _configure_callbacks(self, callbacks: Any) -> list[Callback]:
        from fastlit.callbacks.checkpoint import Checkpoint
        from fastlit.callbacks.model_checkpoint import ModelCheckpoint
        from fastlit.callbacks.model_summary import ModelSummary
        from fastlit.callbacks.progress.progress_bar import ProgressBar
        from fastlit.callbacks.progress.tqdm_progress import TQDMProgressBar

        cbs = list(callbacks) if isinstance(callbacks, (list, tuple)) else ([callbacks] if callbacks else [])
        for cb in cbs:
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer(callbacks=...): {cb!r} is not a `fastlit.Callback`; callbacks must "
                                "subclass `fastlit.Callback` (`pytorch_lightning.Callback` under fastlit).")
        if not self.enable_checkpointing and any(isinstance(c, Checkpoint) for c in cbs):
            raise MisconfigurationException(
                "Trainer was configured with `enable_checkpointing=False` but found `ModelCheckpoint` in callbacks list.")
        if self.enable_model_summary and not any(isinstance(c, ModelSummary) for c in cbs):
            cbs.append(ModelSummary())
        if self.enable_progress_bar and not any(isinstance(c, ProgressBar) for c in cbs):
            cbs.append(TQDMProgressBar())
        if not self.enable_progress_bar and any(isinstance(c, ProgressBar) for c in cbs):
            raise MisconfigurationException(
                "Trainer was configured with `enable_progress_bar=False` but found a progress bar in callbacks list.")
        if self.enable_checkpointing and not any(isinstance(c, Checkpoint) for c in cbs):
            cbs.append(ModelCheckpoint())
        if self.max_time is not None:  # Lightning implements max_time with a Timer callback (saved in checkpoints)
            from fastlit.callbacks.timer import Timer

            if any(isinstance(c, Timer) for c in cbs):
                rank_zero_info("Ignoring `Trainer(max_time=...)`, callbacks list already contains a Timer.")
            else:
                cbs.append(Timer(duration=self.max_time, interval="step"))
        return _checkpoints_last(cbs)

    def _attach_model_callbacks(self, model: LightningModule) -> None:
        """Add ``model.configure_callbacks()``; each replaces the Trainer's callbacks of the same type."""
        extra = model.configure_callbacks()
        if not extra:
            return
        extra = list(extra) if isinstance(extra, (list, tuple)) else [extra]
        types_ = {type(c) for c in extra}
        self.callbacks = _checkpoints_last([c for c in self.callbacks if type(c) not in types_] + extra)

    def _build_hooks(self) -> None:
        """Resolve, once per run, which callbacks/module override each hook; others cost nothing per step."""
        from fastlit.callbacks.checkpoint import Checkpoint
        from fastlit.callbacks.early_stopping import EarlyStopping

        module = self.lightning_module
        # AsyncCheckpointIO(staging="deferred"): a save's parameter/optimizer-state copy may still be running
        # after it returns; code we do not own (user hooks) waits for it first, as the optimizer step does.
        io = self._checkpoint_io
        fence = io._fence if getattr(io, "staging", None) == "deferred" else None
        self._ckpt_fence = fence
        table: dict[str, tuple] = {}
        for name in _RUN_HOOKS:
            fns: list[Callable] = []
            late: list[Callable] = []
            for cb in self.callbacks:
                if is_overridden(name, cb, Callback):
                    fn = partial(getattr(cb, name), self, module)
                    if self._profiling:
                        fn = self._profiled(f"[Callback]{cb.state_key}.{name}", fn)
                    # monitoring callbacks see the module's epoch-end logging (Lightning's order)
                    dest = late if name == "on_train_epoch_end" and isinstance(cb, (Checkpoint, EarlyStopping)) else fns
                    if fence is not None and not _reads_only(cb):
                        dest.append(fence)
                    dest.append(fn)
            if name not in _CALLBACK_ONLY and is_overridden(name, module, LightningModule):
                fn = getattr(module, name)
                if self._profiling:
                    fn = self._profiled(f"[LightningModule]{type(module).__name__}.{name}", fn)
                if fence is not None:
                    fns.append(fence)
                fns.append(fn)
            table[name] = tuple(fns + late)
        poll = getattr(io, "_poll", None)  # async checkpoints: a failed write raises at the next step
        if poll is not None:
            table["on_train_batch_start"] += (poll,)
        self._hooks = table

    def _profiled(self, action: str, fn: Callable) -> Callable:
        profiler = self.profiler

        def run(*args: Any) -> Any:
            with profiler.profile(action):
                return fn(*args)

        return run

    def _call(self, name: str, *args: Any) -> None:
        """Call hook ``name`` on the callbacks that override it, then on the module (if it does)."""
        fns = self._hooks.get(name)
        if not fns:
            return
        module = self.lightning_module
        prev = module._current_fx_name
        module._current_fx_name = name
        try:
            for fn in fns:
                fn(*args)
        finally:
            module._current_fx_name = prev

    def _call_all_callbacks(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Call ``name`` on every callback (for hooks outside the per-run table: setup, teardown, ...)."""
        for cb in self.callbacks:
            getattr(cb, name)(self, self.lightning_module, *args, **kwargs)


def _reads_only(cb: Callback) -> bool:
    """Callbacks of fastlit's own classes never write to parameters or optimizer state (LambdaCallback runs user
    functions and the finders train trial runs, so they do not count); a subclass may, so it does not count."""
    cls = type(cb)
    return cls.__module__.startswith("fastlit.callbacks.") and cls.__name__ not in (
        "LambdaCallback", "BatchSizeFinder", "LearningRateFinder")


def _checkpoints_last(cbs: list[Callback]) -> list[Callback]:
    """Checkpoint callbacks run last so they see everything the others logged (Lightning's order)."""
    from fastlit.callbacks.checkpoint import Checkpoint

    return [c for c in cbs if not isinstance(c, Checkpoint)] + [c for c in cbs if isinstance(c, Checkpoint)]
