"""The hook table: which callbacks and which module methods override each run hook, resolved once per run so
that a hook nobody overrides costs the loops one falsy lookup (or nothing, when they read it once per epoch)."""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional

from fastlit.callbacks.callback import Callback
from fastlit.core.module import LightningModule
from fastlit.utilities.model_helpers import is_overridden

# Per-epoch/run hooks dispatched through the hook table (callbacks first, then the module).
RUN_HOOKS = (
    "on_fit_start", "on_fit_end", "on_sanity_check_start", "on_sanity_check_end", "on_train_start", "on_train_end",
    "on_train_epoch_start", "on_train_epoch_end", "on_validation_start", "on_validation_end",
    "on_validation_epoch_start", "on_validation_epoch_end", "on_test_start", "on_test_end", "on_test_epoch_start",
    "on_test_epoch_end", "on_predict_start", "on_predict_end", "on_predict_epoch_start", "on_predict_epoch_end",
    "on_train_batch_start", "on_train_batch_end", "on_validation_batch_start", "on_validation_batch_end",
    "on_test_batch_start", "on_test_batch_end", "on_predict_batch_start", "on_predict_batch_end",
    "on_before_backward", "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad",
)
_CALLBACK_ONLY = ("on_sanity_check_start", "on_sanity_check_end")


class HookTable:
    """For each name in ``RUN_HOOKS``, the tuple of functions to call (empty when nobody overrides it).

    One object per Trainer, rebuilt in place by ``build`` (per run, and around the Tuner's trial runs), so the
    parts that hold it (the precision plugin, the loops) always see the current table. ``table[name]`` is the
    tuple (the loops test it once per epoch); ``call(name, *args)`` dispatches with the module's
    ``_current_fx_name`` set, as Lightning's hook calls do.
    """

    def __init__(self) -> None:
        self._table: dict[str, tuple] = {}
        self._module: Optional[LightningModule] = None

    def build(self, callbacks: list[Callback], module: LightningModule, trainer: Any,
              profiler: Optional[Any] = None, fence: Optional[Callable] = None,
              poll: Optional[Callable] = None) -> None:
        """Resolve the table for ``module`` and ``callbacks``.

        Args:
            callbacks: the Trainer's callbacks, in call order.
            module: the LightningModule of the run.
            trainer: passed to callback hooks as their first argument.
            profiler: when given, every hook is timed under Lightning's action names.
            fence: async checkpointing with deferred copies: called before every hook that may write to
                parameters or optimizer state (user code), so a pending copy finishes first.
            poll: async checkpointing: called at each ``on_train_batch_start`` so a failed write raises there.
        """
        from fastlit.callbacks.checkpoint import Checkpoint
        from fastlit.callbacks.early_stopping import EarlyStopping

        table: dict[str, tuple] = {}
        for name in RUN_HOOKS:
            fns: list[Callable] = []
            late: list[Callable] = []
            for cb in callbacks:
                if is_overridden(name, cb, Callback):
                    fn = partial(getattr(cb, name), trainer, module)
                    if profiler is not None:
                        fn = _profiled(profiler, f"[Callback]{cb.state_key}.{name}", fn)
                    # monitoring callbacks see the module's epoch-end logging (Lightning's order)
                    dest = late if name == "on_train_epoch_end" and isinstance(cb, (Checkpoint, EarlyStopping)) else fns
                    if fence is not None and not _reads_only(cb):
                        dest.append(fence)
                    dest.append(fn)
            if name not in _CALLBACK_ONLY and is_overridden(name, module, LightningModule):
                fn = getattr(module, name)
                if profiler is not None:
                    fn = _profiled(profiler, f"[LightningModule]{type(module).__name__}.{name}", fn)
                if fence is not None:
                    fns.append(fence)
                fns.append(fn)
            table[name] = tuple(fns + late)
        if poll is not None:
            table["on_train_batch_start"] += (poll,)
        self._table, self._module = table, module

    def __getitem__(self, name: str) -> tuple:
        return self._table[name]

    def get(self, name: str, default: tuple = ()) -> tuple:
        return self._table.get(name, default)

    def call(self, name: str, *args: Any) -> None:
        """Call hook ``name`` on the callbacks that override it, then on the module (if it does)."""
        fns = self._table.get(name)
        if not fns:
            return
        module = self._module
        prev = module._current_fx_name
        module._current_fx_name = name
        try:
            for fn in fns:
                fn(*args)
        finally:
            module._current_fx_name = prev


def _profiled(profiler: Any, action: str, fn: Callable) -> Callable:
    def run(*args: Any) -> Any:
        with profiler.profile(action):
            return fn(*args)

    return run


def _reads_only(cb: Callback) -> bool:
    """Callbacks of fastlit's own classes never write to parameters or optimizer state (LambdaCallback runs user
    functions and the finders train trial runs, so they do not count); a subclass may, so it does not count."""
    cls = type(cb)
    return cls.__module__.startswith("fastlit.callbacks.") and cls.__name__ not in (
        "LambdaCallback", "BatchSizeFinder", "LearningRateFinder")
