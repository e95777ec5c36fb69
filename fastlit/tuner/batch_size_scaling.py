"""The batch-size search: run a few steps per candidate size until one runs out of memory.

``"power"`` doubles from ``init_val`` until a trial fails (then halves once); ``"binsearch"`` doubles the same way
and then bisects between the last size that worked and the first that failed, finally shaving ``margin`` off.
The search also stops at the dataset's length, at ``max_val`` and after ``max_trials`` trials. Same rules and
messages as Lightning's ``_scale_batch_size``.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from fastlit.trainer.states import TrainerFn
from fastlit.tuner._trial import (TrialState, dataset_length, garbage_collection_cuda, is_oom_error,
                                  lightning_getattr, lightning_setattr, run_trial)
from fastlit.utilities.rank_zero import rank_zero_info, rank_zero_warn

log = logging.getLogger(__name__)

_LIMIT = {TrainerFn.VALIDATING: "limit_val_batches", TrainerFn.TESTING: "limit_test_batches",
          TrainerFn.PREDICTING: "limit_predict_batches"}


def scale_batch_size(trainer: Any, mode: str = "power", steps_per_trial: int = 3, init_val: int = 2,
                     max_trials: int = 25, batch_arg_name: str = "batch_size", margin: float = 0.05,
                     max_val: int = 8192) -> Optional[int]:
    """Find the largest batch size that fits; leave it set on the model/datamodule and return it.

    The model, optimizer and loop state are the same afterwards as before the search.
    """
    assert 0.0 <= margin < 1.0, f"`margin` should be between 0 and 1. Found {margin=}"
    if trainer.fast_dev_run:
        rank_zero_warn("Skipping batch size scaler since `fast_dev_run` is enabled.")
        return None

    state = TrialState(trainer)
    state.setup_trials(callbacks=[])
    fn = trainer.state.fn
    if fn == TrainerFn.FITTING:
        trainer.limit_train_batches = 1.0
        trainer.limit_val_batches = steps_per_trial
        # each trial takes `steps_per_trial` optimizer steps from where the run currently is
        trainer.max_steps = trainer.global_step + steps_per_trial
    else:
        setattr(trainer, _LIMIT[fn], steps_per_trial)
        trainer._eval_verbose = False
    try:
        new_size, _ = _adjust_batch_size(trainer, batch_arg_name, value=init_val)
        if mode == "power":
            new_size = _run_power_scaling(trainer, state, new_size, batch_arg_name, max_trials, max_val)
        elif mode == "binsearch":
            new_size = _run_binsearch_scaling(trainer, state, new_size, batch_arg_name, max_trials, margin, max_val)
        garbage_collection_cuda()
        log.info(f"Finished batch size finder, will continue with full run using batch size {new_size}")
    finally:
        state.restore()
    if fn == TrainerFn.FITTING and trainer.train_dataloader is not None:
        _reload_fit_loaders(trainer)  # searched mid-run (e.g. at an epoch milestone): later epochs use the new size
    return new_size


def _reload_fit_loaders(trainer: Any) -> None:
    from fastlit.tuner._trial import _given

    trainer._data.setup_train(_given(trainer, "train"))
    trainer._data.setup_val()


def _try(trainer: Any, state: TrialState) -> None:
    state.reset_progress()
    run_trial(trainer)


def _run_power_scaling(trainer: Any, state: TrialState, new_size: int, batch_arg_name: str, max_trials: int,
                       max_val: int = 8192) -> int:
    any_success = False
    last_ok = new_size
    for i in range(max_trials):
        garbage_collection_cuda()
        if new_size >= max_val:
            rank_zero_info(f"Reached the maximum batch size limit of {max_val}. Stopping search.")
            break
        try:
            _try(trainer, state)
            last_ok = new_size
            if i + 1 >= max_trials:
                new_size = last_ok
                break
            new_size, changed = _adjust_batch_size(trainer, batch_arg_name, factor=2.0, desc="succeeded")
            if not changed:
                break
            any_success = True
        except RuntimeError as e:
            if not is_oom_error(e):
                raise
            garbage_collection_cuda(after_oom=True)
            new_size, _ = _adjust_batch_size(trainer, batch_arg_name, factor=0.5, desc="failed")
            if any_success:
                break
    return new_size


def _run_binsearch_scaling(trainer: Any, state: TrialState, new_size: int, batch_arg_name: str, max_trials: int,
                           margin: float, max_val: int = 8192) -> int:
    low, high = 1, None
    count = 0
    last_ok = new_size
    while True:
        garbage_collection_cuda()
        if new_size >= max_val:
            rank_zero_info(f"Reached the maximum batch size limit of {max_val}. Stopping search.")
            break
        try:
            _try(trainer, state)
            last_ok = new_size
            count += 1
            if count >= max_trials:
                new_size = last_ok
                break
            low = new_size
            if high:
                if high - low <= 1:
                    break
                new_size, changed = _adjust_batch_size(trainer, batch_arg_name, value=(high + low) // 2,
                                                       desc="succeeded", max_val=max_val)
            else:
                new_size, changed = _adjust_batch_size(trainer, batch_arg_name, factor=2.0, desc="succeeded",
                                                       max_val=max_val)
            if not changed:
                break
        except RuntimeError as e:
            if not is_oom_error(e):
                raise
            garbage_collection_cuda(after_oom=True)
            high = new_size
            new_size, _ = _adjust_batch_size(trainer, batch_arg_name, value=(high + low) // 2, desc="failed")
            if high - low <= 1:
                break
    if margin > 0:
        reduced = max(1, int(new_size * (1 - margin)))
        if reduced != new_size:
            rank_zero_info(f"Applying margin of {margin:.1%}, reducing batch size from {new_size} to {reduced}")
            new_size = reduced
            lightning_setattr(trainer.lightning_module, batch_arg_name, new_size)
    return new_size


def _adjust_batch_size(trainer: Any, batch_arg_name: str = "batch_size", factor: float = 1.0,
                       value: Optional[int] = None, desc: Optional[str] = None,
                       max_val: int = 8192) -> tuple[int, bool]:
    """Set the batch size to ``value`` (or the current one times ``factor``), capped at ``max_val``.

    Returns the new size and whether it changed. A current size already covering the whole dataset is kept.
    """
    model = trainer.lightning_module
    batch_size = lightning_getattr(model, batch_arg_name)
    assert batch_size is not None
    length = dataset_length(trainer)
    if length is not None and batch_size >= length:
        rank_zero_info(f"The batch size {batch_size} is greater or equal than the length of your dataset: {length}.")
        return batch_size, False
    new_size = value if value is not None else int(batch_size * factor)
    if new_size > max_val:
        if desc:
            rank_zero_info(f"Batch size {new_size} exceeds max_val limit {max_val}, capping at {max_val}")
        new_size = max_val
    if desc:
        rank_zero_info(f"Batch size {batch_size} {desc}, trying batch size {new_size}")
    lightning_setattr(model, batch_arg_name, new_size)
    return new_size, new_size != batch_size
