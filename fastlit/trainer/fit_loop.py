"""The training loop. ``_train_epoch`` is the hot path: one step reads top to bottom below, and everything
optional (hooks nobody overrides, logging between intervals, validation between checks) is skipped by flags
computed once per epoch rather than per batch.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from torch import Tensor

from fastlit.checkpoint import connector as ckpt_connector
from fastlit.core.module import LightningModule
from fastlit.trainer import data as data_mod
from fastlit.trainer import eval_loop, legacy
from fastlit.trainer.failures import finite_checked
from fastlit.trainer.metrics import Results
from fastlit.trainer.profiling import ProfiledIterator, instrument
from fastlit.trainer.states import RunningStage
from fastlit.utilities.apply_func import move_data_to_device
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import WarningCache, rank_zero_info
from fastlit.utilities.signature_utils import step_takes_batch_idx

if TYPE_CHECKING:
    from fastlit.trainer.trainer import Trainer

_END = object()
_warnings = WarningCache()


def run(t: "Trainer", train_given: Any, val_given: Any) -> None:
    """``trainer.fit``'s loop: sanity check, then epochs until a stop condition."""
    module = t.lightning_module
    t._val_given, t._val_ready = val_given, False
    t._val_defined = val_given is not None or data_mod._source_has(t.datamodule or module, "val_dataloader")
    t._val_loaders, t.num_val_batches = [], []
    if t.enable_validation and t.num_sanity_val_steps > 0 and not t._resuming:
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
    while not _done(t):
        if t.reload_dataloaders_every_n_epochs and t.current_epoch % t.reload_dataloaders_every_n_epochs == 0 \
                and t.current_epoch > 0:
            _setup_train_data(t, train_given)
        t._in_train_epoch, t._epoch_start_step = True, t.global_step  # for the checkpoint's loop counters
        if t._profiling:
            with instrument(t, module, t.optimizers[0] if t.optimizers else None):
                _train_epoch(t)
        else:
            _train_epoch(t)
        if t._stop_signal is not None:  # SIGTERM/Ctrl-C: stay mid-epoch so the checkpoint resumes from here
            return
        _epoch_end(t)
        t._in_train_epoch = False
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


def _can_stop(t: "Trainer") -> bool:
    if t._stop_signal is not None:  # a signal stops now, whatever min_epochs/min_steps say
        return True
    min_epochs_ok = t.min_epochs is None or t.current_epoch >= t.min_epochs
    min_steps_ok = t.min_steps is None or t.global_step >= t.min_steps
    return min_epochs_ok and min_steps_ok


def _setup_train_data(t: "Trainer", given: Any) -> None:
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


def _batch_transfer(t: "Trainer") -> Optional[Any]:
    """A function moving a batch to the device through user hooks, or None when the plain move is enough."""
    module, dm = t.lightning_module, t.datamodule
    names = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
    custom = any(is_overridden(n, module, LightningModule) for n in names)
    if dm is not None:
        from fastlit.core.datamodule import LightningDataModule

        custom = custom or any(is_overridden(n, dm, LightningDataModule) for n in names)
    if not custom and t.precision_plugin.cast_dtype is None:
        return None
    device = t.strategy.root_device
    owner_before = dm if dm is not None and is_overridden(names[0], dm, LightningDataModule) else module
    owner_xfer = dm if dm is not None and is_overridden(names[1], dm, LightningDataModule) else module
    owner_after = dm if dm is not None and is_overridden(names[2], dm, LightningDataModule) else module
    convert = t.precision_plugin.convert_input

    def transfer(batch: Any, dataloader_idx: int) -> Any:
        batch = convert(batch)
        batch = owner_before.on_before_batch_transfer(batch, dataloader_idx)
        batch = owner_xfer.transfer_batch_to_device(batch, device, dataloader_idx)
        return owner_after.on_after_batch_transfer(batch, dataloader_idx)

    return transfer


class _Closure:
    """``optimizer_closure`` for users who override ``optimizer_step`` (or optimizers that re-evaluate)."""

    def __init__(self, t: "Trainer", with_idx: bool, train_step: Callable, module_zero_grad: bool) -> None:
        self.t = t
        self.with_idx = with_idx  # whether training_step takes batch_idx (decided at fit start)
        self.train_step = train_step
        self.module_zero_grad = module_zero_grad
        self.batch: Any = None
        self.batch_idx = 0
        self.zero_grad = False
        self.output: Any = None

    def run(self, batch: Any, batch_idx: int, step_now: bool, fence: Optional[Callable]) -> Any:
        """One training step of the closure route: ``module.optimizer_step`` on a stepping batch (the user's
        override calls the closure through ``optimizer.step``), the closure alone otherwise."""
        t = self.t
        self.batch, self.batch_idx, self.zero_grad = batch, batch_idx, batch_idx % t.accumulate_grad_batches == 0
        if step_now:
            if fence is not None:
                fence()
            module = t.lightning_module
            module._current_fx_name = "optimizer_step"
            module.optimizer_step(t.current_epoch, batch_idx, t._lightning_optimizers[0], self)
            module._current_fx_name = "training_step"
            t.global_step += 1  # like Lightning: counted once the hook returns, whatever it did
        else:
            self()
        return self.output

    def __call__(self) -> Optional[Tensor]:
        t = self.t
        with t.precision_plugin.autocast():
            out = self.train_step(self.batch, self.batch_idx) if self.with_idx else self.train_step(self.batch)
        loss = _loss_of(out)
        self.output = out
        if self.zero_grad:
            _zero_grad(t, t.optimizers[0], self.batch_idx, self.module_zero_grad)
        if loss is not None:
            t.precision_plugin.backward(loss / t.accumulate_grad_batches if t.accumulate_grad_batches > 1 else loss)
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


def _zero_grad(t: "Trainer", optimizer: torch.optim.Optimizer, batch_idx: int, custom: bool) -> None:
    t._call("on_before_zero_grad", optimizer)
    if custom:
        t.lightning_module.optimizer_zero_grad(t.current_epoch, batch_idx, optimizer)
    else:
        optimizer.zero_grad(set_to_none=True)


class _EpochPlan:
    """What a training epoch decides before its first batch, so that the step loop only tests local flags.

    Plain case (32-bit, no hook overridden, no clipping): ``plain_backward``/``plain_step`` are True and the loop
    calls ``loss.backward()``/``optimizer.step()`` itself; otherwise it goes through the precision plugin.
    """

    def __init__(self, t: "Trainer") -> None:
        module = t.lightning_module
        hooks, precision = t._hooks, t.precision_plugin
        self.device = t.strategy.root_device
        self.transfer = _batch_transfer(t)
        self.automatic = automatic = module.automatic_optimization
        self.optimizer = optimizer = t.optimizers[0] if t.optimizers else None
        self.accum = t.accumulate_grad_batches
        self.mixed = precision.autocast if precision._autocast_dtype is not None else None
        module_zero_grad = is_overridden("optimizer_zero_grad", module, LightningModule)
        self.with_idx = t._train_step_idx
        train_step = t._ddp_model if t._ddp_model is not None else module.training_step  # DDP syncs in forward
        train_step = legacy.with_step_end(train_step, legacy.legacy_hook(module, "training_step_end"))
        closure_path = automatic and optimizer is not None and (
            is_overridden("optimizer_step", module, LightningModule) or isinstance(optimizer, torch.optim.LBFGS))
        self.closure = _Closure(t, self.with_idx, train_step, module_zero_grad) if closure_path else None
        if t._detect_anomaly:  # opt-in: the finiteness check reads the loss, a host sync per step
            train_step = finite_checked(t, train_step)
        self.train_step = train_step
        t._epoch_outputs = [] if legacy.legacy_hook(module, "training_epoch_end") is not None else None
        self.h_batch_start = bool(hooks["on_train_batch_start"])
        self.h_batch_end = bool(hooks["on_train_batch_end"]) or t._epoch_outputs is not None
        self.h_zero_grad = module_zero_grad or bool(hooks["on_before_zero_grad"])
        self.module_zero_grad = module_zero_grad
        self.plain_backward = not precision.needs_backward(hooks)
        self.plain_step = not precision.needs_step(hooks)
        self.step_scheds = [c for c in t.lr_scheduler_configs if c.interval == "step"]
        self.epoch_scheds = [c for c in t.lr_scheduler_configs if c.interval == "epoch" and not c.reduce_on_plateau]
        self.val_check = t.enable_validation and (t.check_val_every_n_epoch is None or
                                                  (t.current_epoch + 1) % t.check_val_every_n_epoch == 0)
        self.prof = t.profiler if t._profiling else None
        # a deferred checkpoint copy must finish before the step writes to what it copies
        self.fence = t._checkpoint_connector.fence
        self.vote = t._stop_vote  # DDP with signal handlers: the ranks agree on a stop after each batch


def _start_batches(t: "Trainer", plan: _EpochPlan, loader: Any, limit: Any) -> tuple[Any, Any, int]:
    """``(iterator, first batch to train, index before it)``: the epoch's iterator, fast-forwarded past the
    batches a mid-epoch checkpoint already trained."""
    skip = t._resume_skip_batches
    t._resume_skip_batches = 0
    # the epoch's shuffle order comes from the torch RNG at iter(): keep that state so a mid-epoch checkpoint can
    # replay the same order on resume (then the RNG continues from where the checkpoint left it)
    resume_rng = t._resume_rng if skip else None
    t._resume_rng = None
    if resume_rng is not None:
        torch.set_rng_state(resume_rng["epoch_torch_rng"])
    t._epoch_rng = torch.get_rng_state()
    it = iter(loader)
    if plan.prof is not None:  # see profiling.py: wrappers instead of per-step `if profiling` checks
        it = ProfiledIterator(it, plan.prof, "[_TrainingEpochLoop].train_dataloader_next")
    batch = next(it, _END) if limit > 0 else _END
    batch_idx = -1
    while batch is not _END and batch_idx + 1 < skip:  # resuming mid-epoch: trained before the checkpoint
        batch_idx += 1
        batch = next(it, _END) if batch_idx + 1 < limit else _END
        if batch_idx + 1 == skip and resume_rng is not None:
            ckpt_connector.restore_rng(resume_rng)
    return it, batch, batch_idx


def _train_epoch(t: "Trainer") -> None:
    """One training epoch: set-up once (``_EpochPlan``), then the step loop, which reads top to bottom."""
    module, results, epoch = t.lightning_module, t._results, t.current_epoch
    # the loader and its length as the epoch starts: an on_train_epoch_start hook that replaces the loader (the
    # batch-size finder at a milestone) takes effect from the next epoch
    loader, limit = t.train_dataloader, t.num_training_batches
    _set_sampler_epoch(loader, epoch)
    t._call("on_train_epoch_start")
    p = _EpochPlan(t)
    module._current_fx_name = "training_step"
    it, batch, batch_idx = _start_batches(t, p, loader, limit)
    # the plan as locals: the loop below reads these on every step
    device, transfer, train_step, with_idx, mixed = p.device, p.transfer, p.train_step, p.with_idx, p.mixed
    automatic, optimizer, accum, closure, fence = p.automatic, p.optimizer, p.accum, p.closure, p.fence
    plain_backward, backward = p.plain_backward, t.precision_plugin.backward
    plain_step, step = p.plain_step, t.precision_plugin.step
    h_batch_start, h_batch_end, h_zero_grad = p.h_batch_start, p.h_batch_end, p.h_zero_grad
    step_scheds, epoch_scheds, prof, vote = p.step_scheds, p.epoch_scheds, p.prof, p.vote
    log_every, fast_dev_run, max_steps = t.log_every_n_steps, bool(t.fast_dev_run), t.max_steps
    val_check, val_every = p.val_check, t.val_check_batch
    while batch is not _END:
        batch_idx += 1
        # 1. fetch ahead so we know whether this is the last batch, and move this one to the device
        nxt = next(it, _END) if batch_idx + 1 < limit else _END
        is_last = nxt is _END
        t._is_last_batch = is_last
        batch = transfer(batch, 0) if transfer is not None else move_data_to_device(batch, device)
        results.batch = batch
        if h_batch_start:
            if _batch_start(t, module, batch, batch_idx) == -1:
                break
        # 2. forward, backward, step
        if prof is not None:
            prof.start("run_training_batch")
        step_now = automatic and ((batch_idx + 1) % accum == 0 or is_last)
        if closure is not None:  # a user's optimizer_step (or LBFGS) runs the step through the closure
            out = closure.run(batch, batch_idx, step_now, fence)
        else:
            if fence is not None and not automatic:  # manual optimization: optimizer.step() may come anywhere
                fence()
            if mixed is None:
                out = train_step(batch, batch_idx) if with_idx else train_step(batch)
            else:
                with mixed():
                    out = train_step(batch, batch_idx) if with_idx else train_step(batch)
            if automatic:
                loss = out if type(out) is Tensor else _loss_of(out)
                if batch_idx % accum == 0:
                    if h_zero_grad:
                        _zero_grad(t, optimizer, batch_idx, p.module_zero_grad)
                    else:
                        optimizer.zero_grad(set_to_none=True)
                if loss is not None:
                    if accum > 1:
                        loss = loss / accum
                    if plain_backward:
                        loss.backward()
                    else:
                        backward(loss)  # scale, backward hooks, module.backward (precision.py)
                if step_now:
                    if fence is not None:
                        fence()
                    if plain_step:
                        optimizer.step()
                    else:
                        step(optimizer)  # unscale, on_before_optimizer_step, clip, step, scaler (precision.py)
                    t.global_step += 1
        if prof is not None:
            prof.stop("run_training_batch")
        # 3. schedulers, batch-end hooks, logging, validation
        if step_now and step_scheds:
            _step_schedulers(t, step_scheds, t._batches_that_stepped + 1)
        if is_last and epoch_scheds:
            _step_schedulers(t, epoch_scheds, epoch + 1)
        t._epoch_batches_done = batch_idx + 1
        t._total_batches_done += 1
        if h_batch_end:
            _batch_end(t, module, out, batch, batch_idx)
        stepped = step_now or not automatic
        if stepped and log_every and ((t._batches_that_stepped + 1) % log_every == 0 or t.should_stop) \
                or fast_dev_run:
            t._emit(results.metrics(on_step=True)[0])
        results.batch = None
        if val_check and _should_validate(t, batch_idx, is_last, val_every):
            eval_loop.run_validation_in_fit(t, accumulating=not stepped and automatic)
        if stepped:
            t._batches_that_stepped += 1
        if vote is not None:
            vote.poll()
        if t.should_stop:
            for lg in t.loggers:
                lg.save()
        if (max_steps != -1 and t.global_step >= max_steps) or (t.should_stop and _can_stop(t)):
            break
        batch = nxt
    module._current_fx_name = None


def _should_validate(t: "Trainer", batch_idx: int, is_last: bool, val_every: Any) -> bool:
    """Lightning's rule: every ``val_check_batch`` batches (not necessarily the last one), on the last batch
    of an epoch of unknown length, or when the run is about to stop."""
    if val_every == float("inf"):
        return is_last or (t.should_stop and _can_stop(t) and t._stop_signal is None)
    if t.should_stop and _can_stop(t):
        return t._stop_signal is None  # a signal stops without validating
    current = batch_idx if t.check_val_every_n_epoch is not None else t._total_batches_done - 1
    return (current + 1) % val_every == 0


def _batch_start(t: "Trainer", module: LightningModule, batch: Any, batch_idx: int) -> Any:
    response = None
    module._current_fx_name = "on_train_batch_start"
    for fn in t._hooks["on_train_batch_start"]:
        r = fn(batch, batch_idx)
        if getattr(fn, "__self__", None) is module:
            response = r
    module._current_fx_name = "training_step"
    return response


def _batch_end(t: "Trainer", module: LightningModule, out: Any, batch: Any, batch_idx: int) -> None:
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
    t._in_batch_end = True  # a checkpoint saved now records this batch as processed but not completed
    try:
        t._call("on_train_batch_end", out, batch, batch_idx)
    finally:
        t._in_batch_end = False
    module._current_fx_name = "training_step"


def _step_schedulers(t: "Trainer", configs: list, idx: int) -> None:
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


def _epoch_end(t: "Trainer") -> None:
    results: Results = t._results
    t._refresh_step_metrics()  # the last step's values stay visible after the epoch, as in Lightning
    t._epoch_end_phase = True
    t._epoch_end_metrics(results)
    if t._epoch_outputs is not None:
        module = t.lightning_module
        module._current_fx_name = "on_train_epoch_end"
        module.training_epoch_end(t._epoch_outputs)
        t._epoch_outputs = None
    t._call("on_train_epoch_end")
    plateau = [c for c in t.lr_scheduler_configs if c.interval == "epoch" and c.reduce_on_plateau]
    if plateau:
        _step_schedulers(t, plateau, t.current_epoch + 1)
    log = t._epoch_end_metrics(results)
    t._batches_that_stepped -= 1  # Lightning logs epoch metrics at the last step's index
    t._emit(log)
    t._batches_that_stepped += 1
    results.reset()
    t._epoch_end_phase = False
    t.current_epoch += 1
    t._epoch_batches_done = 0


def _set_sampler_epoch(loader: Any, epoch: int) -> None:
    for obj in (getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if obj is not None and hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
