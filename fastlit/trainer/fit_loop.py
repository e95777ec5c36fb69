"""``trainer.fit``'s loop: sanity check, then epochs until a stop condition. One epoch (the hot path) is
train_epoch.py's; this file is what happens around it: the stop conditions, the epoch end (the training data
is ``trainer._data``'s).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastlit.trainer import data as data_mod
from fastlit.trainer import eval_loop
from fastlit.trainer.metrics import Results
from fastlit.trainer.profiling import instrument
from fastlit.trainer.states import RunningStage
from fastlit.trainer.train_epoch import _can_stop, _step_schedulers, train_epoch
from fastlit.utilities.rank_zero import rank_zero_info
from fastlit.utilities.signature_utils import step_takes_batch_idx

if TYPE_CHECKING:
    from fastlit.trainer.trainer import Trainer


def run(t: "Trainer", train_given: Any, val_given: Any) -> None:
    """``trainer.fit``'s loop: sanity check, then epochs until a stop condition."""
    module = t.lightning_module
    data = t._data
    data.reset_val(val_given)
    if t.enable_validation and t.num_sanity_val_steps > 0 and not t._loop.resuming:
        eval_loop.run_sanity_check(t)
    data.setup_train(train_given)
    if data.num_training_batches == 0:
        rank_zero_info("`Trainer.fit` stopped: No training batches.")
        return
    if _done(t):
        return
    t._results = Results(training=True, reduce=t.strategy.reduce if t.world_size > 1 else None)
    t.state.stage = RunningStage.TRAINING
    # `def training_step(self, batch)` is valid: batch_idx is passed only when the signature takes it (Lightning's
    # rule). Decided here, once per fit; the step loop then picks one of two call forms on a local bool.
    t._train_step_idx = step_takes_batch_idx(module.training_step)
    # no module.train() here: like Lightning, submodules the user put in eval mode (frozen BatchNorm) stay so
    t._fit_start_time = time.monotonic()
    t._call("on_train_start")
    loop = t._loop
    while not _done(t):
        if t.reload_dataloaders_every_n_epochs and t.current_epoch % t.reload_dataloaders_every_n_epochs == 0 \
                and t.current_epoch > 0:
            data.setup_train(train_given)
        loop.in_train_epoch, loop.epoch_start_step = True, loop.global_step  # for the checkpoint's loop counters
        if t._profiling:
            with instrument(t, module, t.optimizers[0] if t.optimizers else None):
                train_epoch(t, data_mod.batch_transfer(t))
        else:
            train_epoch(t, data_mod.batch_transfer(t))
        if t._stop_signal is not None:  # SIGTERM/Ctrl-C: stay mid-epoch so the checkpoint resumes from here
            return
        _epoch_end(t)
        loop.in_train_epoch = False
    t._call("on_train_end")
    t._results = None


def _done(t: "Trainer") -> bool:
    if t.max_steps != -1 and t.global_step >= t.max_steps:
        rank_zero_info(f"`Trainer.fit` stopped: `max_steps={t.max_steps}` reached.")
        return True
    if t.max_epochs != -1 and t.current_epoch >= t.max_epochs:
        rank_zero_info(f"`Trainer.fit` stopped: `max_epochs={t.max_epochs}` reached.")
        return True
    if t.should_stop and _can_stop(t):
        rank_zero_info("`Trainer.fit` stopped: `trainer.should_stop` was set.")
        return True
    return False


def _epoch_end(t: "Trainer") -> None:
    results: Results = t._results
    loop = t._loop
    t._refresh_step_metrics()  # the last step's values stay visible after the epoch, as in Lightning
    loop.epoch_end_phase = True
    t._epoch_end_metrics(results)
    if t._epoch_outputs is not None:
        module = t.lightning_module
        module._current_fx_name = "on_train_epoch_end"
        module.training_epoch_end(t._epoch_outputs)
        t._epoch_outputs = None
    t._call("on_train_epoch_end")
    plateau = [c for c in t.lr_scheduler_configs if c.interval == "epoch" and c.reduce_on_plateau]
    if plateau:
        _step_schedulers(t, plateau, loop.current_epoch + 1)
    log = t._epoch_end_metrics(results)
    loop.batches_that_stepped -= 1  # Lightning logs epoch metrics at the last step's index
    t._emit(log)
    loop.batches_that_stepped += 1
    results.reset()
    loop.epoch_end_phase = False
    loop.current_epoch += 1
    loop.epoch_batches_done = 0
