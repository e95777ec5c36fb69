"""The training loop. ``_train_epoch`` is the hot path: one step reads top to bottom below, and everything
optional (hooks nobody overrides, logging between intervals, validation between checks) is skipped by flags
computed once per epoch rather than per batch.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Optional

import torch
from torch import Tensor

from fastlit.core.module import LightningModule
from fastlit.trainer import data as data_mod
from fastlit.trainer import errors, eval_loop, legacy
from fastlit.trainer.loop_state import restore_rng
from fastlit.trainer.metrics import Results
from fastlit.trainer.profiling import ProfiledIterator, instrument
from fastlit.trainer.states import RunningStage
from fastlit.utilities.apply_func import move_data_to_device
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import WarningCache, rank_zero_info
from fastlit.utilities.signature_utils import step_takes_batch_idx

_END = object()
_warnings = WarningCache()


def run(t: Any, train_given: Any, val_given: Any) -> None:
    """``trainer.fit``'s loop: sanity check, then epochs until a stop condition."""
    module = t.lightning_module
    t._val_given, t._val_ready = val_given, False
    t._val_loaders, t.num_val_batches = [], []
    if t.enable_validation and t.num_sanity_val_steps > 0 and not t._loop.resuming:
        eval_loop.run_sanity_check(t)
    _setup_train_data(t, train_given)
    if t.num_training_batches == 0:
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
            _setup_train_data(t, train_given)
        loop.in_train_epoch, loop.epoch_start_step = True, loop.global_step  # for the checkpoint's loop counters
        if t._profiling:
            with instrument(t, module, t.optimizers[0] if t.optimizers else None):
                _train_epoch(t)
        else:
            _train_epoch(t)
        if t._stop_signal is not None:  # SIGTERM/Ctrl-C: stay mid-epoch so the checkpoint resumes from here
            return
        _epoch_end(t)
        loop.in_train_epoch = False
    t._call("on_train_end")
    t._results = None


def _done(t: Any) -> bool:
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


def _can_stop(t: Any) -> bool:
    if t._stop_signal is not None:  # a signal stops now, whatever min_epochs/min_steps say
        return True
    min_epochs_ok = t.min_epochs is None or t.current_epoch >= t.min_epochs
    min_steps_ok = t.min_steps is None or t.global_step >= t.min_steps
    return min_epochs_ok and min_steps_ok


def _setup_train_data(t: Any, given: Any) -> None:
    loader = data_mod.resolve("train", given, t.datamodule, t.lightning_module)
    data_mod.check_is_loader(loader, "train")
    if t.overfit_batches:
        loader = data_mod.without_shuffle(loader)
    if t.world_size > 1 and t.use_distributed_sampler:
        loader = data_mod.with_distributed_sampler(loader, t.strategy)
    t.train_dataloader = loader
    t.num_training_batches = data_mod.limit(data_mod.length(loader), t.limit_train_batches, "limit_train_batches")
    t.val_check_batch = data_mod.val_check_batch(t.val_check_interval, t.num_training_batches,
                                                 t.check_val_every_n_epoch)
    if t.log_every_n_steps and t.num_training_batches < t.log_every_n_steps and not t.fast_dev_run \
            and t.loggers:
        _warnings.warn(
            f"The number of training batches ({t.num_training_batches}) is smaller than the logging interval "
            f"Trainer(log_every_n_steps={t.log_every_n_steps}). Set a lower value for log_every_n_steps if you "
            "want to see logs for the training epoch.")


class _Closure:
    """``optimizer_closure`` for users who override ``optimizer_step`` (or optimizers that re-evaluate)."""

    def __init__(self, t: Any, with_idx: bool) -> None:
        self.t = t
        self.with_idx = with_idx  # whether training_step takes batch_idx (decided at fit start)
        self.batch: Any = None
        self.batch_idx = 0
        self.zero_grad = False
        self.output: Any = None

    def __call__(self) -> Optional[Tensor]:
        t, module = self.t, self.t.lightning_module
        step = t._ddp_model if t._ddp_model is not None else module.training_step
        step = legacy.with_step_end(step, getattr(module, "training_step_end", None))
        with t.precision_plugin.autocast():
            out = step(self.batch, self.batch_idx) if self.with_idx else step(self.batch)
        loss = _loss_of(out)
        self.output = out
        if self.zero_grad:
            _zero_grad(t, t.optimizers[0], self.batch_idx)
        if loss is not None:
            t._backward(loss / t.accumulate_grad_batches if t.accumulate_grad_batches > 1 else loss)
        return loss


def _loss_of(out: Any) -> Optional[Tensor]:
    if isinstance(out, Tensor):
        return out
    if out is None:
        _warnings.warn("`training_step` returned `None`. If this was on purpose, ignore this warning...")
        return None
    if isinstance(out, Mapping):
        if "loss" not in out:
            raise MisconfigurationException(
                "In automatic_optimization, when `training_step` returns a dict, the 'loss' key needs to be present")
        return out["loss"]
    raise MisconfigurationException(
        "In automatic optimization, `training_step` must return a Tensor, a dict, or None (where the step will be "
        f"skipped); it returned {type(out).__name__}.")


def _zero_grad(t: Any, optimizer: torch.optim.Optimizer, batch_idx: int) -> None:
    t._call("on_before_zero_grad", optimizer)
    module = t.lightning_module
    if t._module_zero_grad:
        module.optimizer_zero_grad(t.current_epoch, batch_idx, optimizer)
    else:
        optimizer.zero_grad(set_to_none=True)


def _after_backward_step(t: Any, optimizer: torch.optim.Optimizer) -> None:
    """Unscale, ``on_before_optimizer_step``, clip: what runs between the last backward and ``step``."""
    scaler = t.precision_plugin.scaler
    # Like Lightning: optimizers that unscale inside their step (fastlit's fused ones) are not unscaled here
    if scaler is not None and not getattr(optimizer, "_step_supports_amp_scaling", False):
        scaler.unscale_(optimizer)
    t._after_closure(optimizer)


def _train_epoch(t: Any) -> None:
    module: LightningModule = t.lightning_module
    hooks = t._hooks
    results: Results = t._results
    loader = t.train_dataloader
    limit = t.num_training_batches
    loop = t._loop  # the counters this epoch advances (read into a local once, not per step)
    epoch = loop.current_epoch
    _set_sampler_epoch(loader, epoch)
    t._call("on_train_epoch_start")

    # ---- decided once per epoch, not per batch
    device = t.strategy.root_device
    transfer = data_mod.batch_transfer(t)
    automatic = module.automatic_optimization
    optimizer = t.optimizers[0] if t.optimizers else None
    lopt = t._lightning_optimizers[0] if t._lightning_optimizers else None
    accum = t.accumulate_grad_batches
    scaler = t.precision_plugin.scaler
    mixed = t.precision_plugin.autocast if t.precision_plugin._autocast_dtype is not None else None
    t._module_backward = is_overridden("backward", module, LightningModule)
    t._module_zero_grad = is_overridden("optimizer_zero_grad", module, LightningModule)
    t._clip_hook = is_overridden("configure_gradient_clipping", module, LightningModule) or (
        bool(t.gradient_clip_val) and not t._clip_in_step)
    closure_path = automatic and optimizer is not None and (
        is_overridden("optimizer_step", module, LightningModule) or isinstance(optimizer, torch.optim.LBFGS))
    with_idx = t._train_step_idx
    closure = _Closure(t, with_idx) if closure_path else None
    train_step = t._ddp_model if t._ddp_model is not None else module.training_step  # DDP syncs through forward
    train_step = legacy.with_step_end(train_step, legacy.legacy_hook(module, "training_step_end"))
    if t._detect_anomaly:  # opt-in: the finiteness check reads the loss, a host sync per step
        from fastlit.trainer.errors import finite_checked

        train_step = finite_checked(t, train_step)
    t._epoch_outputs = [] if legacy.legacy_hook(module, "training_epoch_end") is not None else None
    plain_step = not closure_path and scaler is None
    h_batch_start = hooks["on_train_batch_start"]
    h_batch_end = hooks["on_train_batch_end"] or t._epoch_outputs is not None
    h_zero_grad = hooks["on_before_zero_grad"] or t._module_zero_grad
    h_backward = hooks["on_before_backward"] or hooks["on_after_backward"] or t._module_backward
    h_pre_step = hooks["on_before_optimizer_step"] or t._clip_hook
    step_scheds = [c for c in t.lr_scheduler_configs if c.interval == "step"]
    epoch_scheds = [c for c in t.lr_scheduler_configs if c.interval == "epoch" and not c.reduce_on_plateau]
    log_every = t.log_every_n_steps
    fast_dev_run = bool(t.fast_dev_run)
    val_check = t.enable_validation and (t.check_val_every_n_epoch is None or
                                         (epoch + 1) % t.check_val_every_n_epoch == 0)
    val_every = t.val_check_batch
    max_steps = t.max_steps
    prof = t.profiler if t._profiling else None
    fence = t._ckpt_fence  # a deferred checkpoint copy must finish before the step writes to what it copies
    vote = t._stop_vote  # DDP with signal handlers: the ranks agree on a stop after each batch
    skip = loop.resume_skip_batches
    loop.resume_skip_batches = 0
    module._current_fx_name = "training_step"

    # the epoch's shuffle order comes from the torch RNG at iter(): keep that state so a mid-epoch checkpoint can
    # replay the same order on resume (then the RNG continues from where the checkpoint left it)
    resume_rng = loop.resume_rng if skip else None
    loop.resume_rng = None
    if resume_rng is not None:
        torch.set_rng_state(resume_rng["epoch_torch_rng"])
    loop.epoch_rng = torch.get_rng_state()
    it = iter(loader)
    if prof is not None:  # see profiling.py: wrappers instead of per-step `if profiling` checks
        it = ProfiledIterator(it, prof, "[_TrainingEpochLoop].train_dataloader_next")
        h_backward = True  # through trainer._backward, which profiles it
    batch = next(it, _END) if limit > 0 else _END
    batch_idx = -1
    while batch is not _END:
        batch_idx += 1
        if batch_idx < skip:  # resuming mid-epoch: these batches were trained before the checkpoint
            batch = next(it, _END) if batch_idx + 1 < limit else _END
            if batch_idx + 1 == skip and resume_rng is not None:
                restore_rng(resume_rng)
            continue
        # 1. fetch ahead so we know whether this is the last batch, and move this one to the device
        nxt = next(it, _END) if batch_idx + 1 < limit else _END
        is_last = nxt is _END
        loop.is_last_batch = is_last
        batch = transfer(batch, 0) if transfer is not None else move_data_to_device(batch, device)
        results.batch = batch
        if h_batch_start:
            if _batch_start(t, module, batch, batch_idx) == -1:
                break
        # 2. forward, backward, step
        if prof is not None:
            prof.start("run_training_batch")
        step_now = automatic and ((batch_idx + 1) % accum == 0 or is_last)
        if not automatic:
            if fence is not None:  # manual optimization: the step may call optimizer.step() anywhere
                fence()
            if mixed is None:
                out = train_step(batch, batch_idx) if with_idx else train_step(batch)
            else:
                with mixed():
                    out = train_step(batch, batch_idx) if with_idx else train_step(batch)
        elif closure is not None:
            closure.batch, closure.batch_idx, closure.zero_grad = batch, batch_idx, batch_idx % accum == 0
            if step_now:
                if fence is not None:
                    fence()
                module._current_fx_name = "optimizer_step"
                module.optimizer_step(epoch, batch_idx, lopt, closure)
                module._current_fx_name = "training_step"
                loop.global_step += 1  # like Lightning: counted once the hook returns, whatever it did
            else:
                closure()
            out = closure.output
        else:
            if mixed is None:
                out = train_step(batch, batch_idx) if with_idx else train_step(batch)
            else:
                with mixed():
                    out = train_step(batch, batch_idx) if with_idx else train_step(batch)
            loss = out if type(out) is Tensor else _loss_of(out)
            if batch_idx % accum == 0:
                if h_zero_grad:
                    _zero_grad(t, optimizer, batch_idx)
                else:
                    optimizer.zero_grad(set_to_none=True)
            if loss is not None:
                if accum > 1:
                    loss = loss / accum
                if h_backward or scaler is not None:
                    t._backward(loss)
                else:
                    loss.backward()
            if step_now:
                if fence is not None:
                    fence()
                if plain_step and not h_pre_step:
                    optimizer.step()
                else:
                    if h_pre_step or scaler is not None:
                        _after_backward_step(t, optimizer)
                    if scaler is not None:
                        scaler.step(optimizer)
                        errors.note_scaler_step(t, scaler, optimizer)  # counts steps skipped for inf/NaN
                        scaler.update()
                    else:
                        optimizer.step()
                loop.global_step += 1
        if prof is not None:
            prof.stop("run_training_batch")
        # 3. schedulers, batch-end hooks, logging, validation
        if step_now and step_scheds:
            _step_schedulers(t, step_scheds, loop.batches_that_stepped + 1)
        if is_last and epoch_scheds:
            _step_schedulers(t, epoch_scheds, epoch + 1)
        loop.epoch_batches_done = batch_idx + 1
        loop.total_batches_done += 1
        if h_batch_end:
            _batch_end(t, module, out, batch, batch_idx)
        stepped = step_now or not automatic
        if stepped and log_every and ((loop.batches_that_stepped + 1) % log_every == 0 or t.should_stop) \
                or fast_dev_run:
            t._emit(results.metrics(on_step=True)[0])
        results.batch = None
        if val_check and _should_validate(t, batch_idx, is_last, val_every):
            eval_loop.run_validation_in_fit(t, accumulating=not stepped and automatic)
        if stepped:
            loop.batches_that_stepped += 1
        if vote is not None:
            vote.poll()
        if t.should_stop:
            for lg in t.loggers:
                lg.save()
        if (max_steps != -1 and loop.global_step >= max_steps) or (t.should_stop and _can_stop(t)):
            break
        batch = nxt
    module._current_fx_name = None


def _should_validate(t: Any, batch_idx: int, is_last: bool, val_every: Any) -> bool:
    """Lightning's rule: every ``val_check_batch`` batches (not necessarily the last one), on the last batch
    of an epoch of unknown length, or when the run is about to stop."""
    if val_every == float("inf"):
        return is_last or (t.should_stop and _can_stop(t) and t._stop_signal is None)
    if t.should_stop and _can_stop(t):
        return t._stop_signal is None  # a signal stops without validating
    current = batch_idx if t.check_val_every_n_epoch is not None else t._loop.total_batches_done - 1
    return (current + 1) % val_every == 0


def _batch_start(t: Any, module: LightningModule, batch: Any, batch_idx: int) -> Any:
    response = None
    module._current_fx_name = "on_train_batch_start"
    for fn in t._hooks["on_train_batch_start"]:
        r = fn(batch, batch_idx)
        if getattr(fn, "__self__", None) is module:
            response = r
    module._current_fx_name = "training_step"
    return response


def _batch_end(t: Any, module: LightningModule, out: Any, batch: Any, batch_idx: int) -> None:
    # Lightning hands over the loss as used for backward: divided by accumulate_grad_batches (automatic opt.)
    norm = t.accumulate_grad_batches if module.automatic_optimization else 1
    if isinstance(out, Tensor):
        out = {"loss": out.detach() / norm if norm > 1 else out.detach()}
    elif isinstance(out, Mapping):
        out = {k: ((v.detach() / norm if norm > 1 else v.detach()) if k == "loss" and isinstance(v, Tensor) else v)
               for k, v in out.items()}
    elif out is None:
        out = {}  # Lightning hands an empty dict to on_train_batch_end when training_step returned None
    if t._epoch_outputs is not None:  # collected only for a 1.x `training_epoch_end(outputs)`
        t._epoch_outputs.append(out)
    loop = t._loop
    loop.in_batch_end = True  # a checkpoint saved now records this batch as processed but not completed
    try:
        t._call("on_train_batch_end", out, batch, batch_idx)
    finally:
        loop.in_batch_end = False
    module._current_fx_name = "training_step"


def _step_schedulers(t: Any, configs: list, idx: int) -> None:
    module = t.lightning_module
    custom = is_overridden("lr_scheduler_step", module, LightningModule)
    for cfg in configs:
        if idx % cfg.frequency != 0:
            continue
        metric = None
        if cfg.reduce_on_plateau:
            metrics = t.callback_metrics
            metric = metrics.get(cfg.monitor)
            if metric is None:
                if cfg.strict:
                    raise MisconfigurationException(
                        f"ReduceLROnPlateau conditioned on metric {cfg.monitor} which is not available. Available "
                        f"metrics are: {list(metrics)}. Condition can be set using `monitor` key in lr scheduler dict")
                _warnings.warn(f"ReduceLROnPlateau conditioned on metric {cfg.monitor} which is not available but "
                               "strict is set to `False`. Skipping learning rate update.")
                continue
        if custom:
            module.lr_scheduler_step(cfg.scheduler, metric)
        elif metric is None:
            cfg.scheduler.step()
        else:
            cfg.scheduler.step(metric)


def _epoch_end(t: Any) -> None:
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


def _set_sampler_epoch(loader: Any, epoch: int) -> None:
    for obj in (getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if obj is not None and hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
