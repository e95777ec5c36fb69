"""What the batch-size and learning-rate finders share: finding the tuned attribute, OOM detection, and running
short trial loops on a live Trainer, then putting everything back.

Lightning saves a temporary checkpoint file before the trials and restores it afterwards. fastlit keeps the same
state in memory instead (weights and optimizer state copied to the CPU, loop counters, metric dicts), which is
faster, writes nothing next to the user's files, and calls no ``on_save/load_checkpoint`` hooks.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Optional

import torch

from fastlit.trainer.states import TrainerFn

# Finding the tuned attribute, OOM detection and RNG isolation live in fastlit.utilities (Lightning's paths for
# them); re-exported here for the finders.
from fastlit.utilities.memory import garbage_collection_cuda, is_oom_error  # noqa: F401
from fastlit.utilities.parsing import lightning_getattr, lightning_hasattr, lightning_setattr  # noqa: F401
from fastlit.utilities.seed import isolate_rng  # noqa: F401

# ---------------------------------------------------------------------------------------------------- trial runs

# Trainer attributes a trial run changes and ``TrialState.restore`` puts back (besides the loop position and the
# loaders and batch counts, which ``trainer._loop`` and ``trainer._data`` snapshot as a whole).
_RUN_ATTRS = (
    "should_stop", "_results", "_callback_metrics", "_logged_metrics", "_progress_bar_metrics", "sanity_checking",
    "_fit_start_time", "_eval_verbose", "_return_predictions", "optimizers", "lr_scheduler_configs",
    "_lightning_optimizers", "max_steps", "limit_train_batches", "limit_val_batches", "limit_test_batches",
    "limit_predict_batches", "num_sanity_val_steps",
)


def _cpu_copy(obj: Any) -> Any:
    """A deep copy with every tensor on the CPU (GPU memory stays free for the trials)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, OrderedDict) else {}
        out.update((k, _cpu_copy(v)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):  # module state dicts carry per-module versions
            out._metadata = copy.deepcopy(obj._metadata)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


class TrialState:
    """Everything a finder's trial runs may change on a Trainer, captured so that ``restore`` undoes the trials.

    ``setup_trials`` swaps in what trials need (no callbacks but ``callbacks``, a dummy logger, the progress bar
    disabled); ``restore`` brings back the weights, optimizer/scheduler/scaler state, counters, loggers and
    callbacks.
    """

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        module = trainer.lightning_module
        self.attrs = {name: getattr(trainer, name) for name in _RUN_ATTRS if hasattr(trainer, name)}
        self.loop = trainer._loop.snapshot()
        self.data = trainer._data.snapshot()
        self.stage = trainer.state.stage
        self.fx_name = module._current_fx_name
        self.callbacks = trainer.callbacks
        self.loggers = trainer.loggers
        self.weights = _cpu_copy(module.state_dict())
        self.optimizer_states = [_cpu_copy(o.state_dict()) for o in trainer.optimizers]
        self.scheduler_states = [copy.deepcopy(c.scheduler.state_dict()) for c in trainer.lr_scheduler_configs]
        self.scaler_state = copy.deepcopy(trainer.precision_plugin.state_dict())
        self.progress_bar = trainer.progress_bar_callback

    def setup_trials(self, callbacks: list[Any]) -> None:
        from fastlit.loggers.logger import DummyLogger

        t = self.trainer
        if self.progress_bar is not None:
            self.progress_bar.disable()
        t.loggers = [DummyLogger()] if t.loggers else []
        t.callbacks = list(callbacks)
        t._build_hooks()

    def restore(self) -> None:
        t = self.trainer
        module = t.lightning_module
        t.callbacks = self.callbacks
        t.loggers = self.loggers
        for name, value in self.attrs.items():
            setattr(t, name, value)
        t._loop.restore(self.loop)
        t._data.restore(self.data)
        module.load_state_dict(self.weights)
        for opt, state in zip(t.optimizers, self.optimizer_states):
            opt.load_state_dict(state)
        for cfg, state in zip(t.lr_scheduler_configs, self.scheduler_states):
            cfg.scheduler.load_state_dict(state)
        if self.scaler_state:
            t.precision_plugin.load_state_dict(self.scaler_state)
        t.state.stage = self.stage
        module._current_fx_name = self.fx_name
        t._build_hooks()
        if self.progress_bar is not None:
            self.progress_bar.enable()

    def reset_progress(self) -> None:
        """Counters back to where they were before the trials (each trial starts from the same point)."""
        t = self.trainer
        t._loop.restore(self.loop)
        t._loop.resuming = False
        t._loop.resume_skip_batches = 0
        t.should_stop = False


def _given(trainer: Any, key: str) -> Any:
    return (trainer._data.entry_loaders or {}).get(key)


def run_trial(trainer: Any) -> None:
    """Run the loop of the trainer's current entry point (with the dataloaders it was given) under the limits
    the finder set."""
    from fastlit.trainer import eval_loop, fit_loop
    from fastlit.trainer.states import RunningStage

    fn = trainer.state.fn
    if fn == TrainerFn.FITTING:
        trainer.state.stage = RunningStage.TRAINING
        trainer.num_sanity_val_steps = 0  # Lightning's trials run the fit loop alone, without a sanity check
        fit_loop.run(trainer, _given(trainer, "train"), _given(trainer, "val"))
    elif fn == TrainerFn.PREDICTING:
        eval_loop.run_predict(trainer, _given(trainer, "predict"))
    else:
        key = "val" if fn == TrainerFn.VALIDATING else "test"
        eval_loop.run_entry(trainer, key, _given(trainer, key))


def dataset_length(trainer: Any) -> Optional[int]:
    """Samples in the current entry point's dataset(s): the longest train set, or all eval sets together;
    None when every dataset is iterable-style (no length)."""
    from fastlit.trainer import data as data_mod

    fn = trainer.state.fn
    key = {TrainerFn.FITTING: "train", TrainerFn.VALIDATING: "val", TrainerFn.TESTING: "test",
           TrainerFn.PREDICTING: "predict"}[fn]
    loaders = data_mod.resolve(key, _given(trainer, key), trainer.datamodule, trainer.lightning_module)
    lengths = []
    for dl in data_mod.as_list(loaders):
        try:
            lengths.append(len(dl.dataset))
        except (AttributeError, TypeError, NotImplementedError):
            continue
    if not lengths:
        return None
    return max(lengths) if fn == TrainerFn.FITTING else sum(lengths)
