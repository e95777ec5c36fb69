"""One training epoch, the hot path: ``_EpochPlan`` decides everything it can before the first batch (hooks
nobody overrides, the plain step, logging and validation intervals), then ``train_epoch``'s loop is one training
step read top to bottom, testing only local flags. What happens between a loss and the parameter update is the
precision plugin's (precision.py); the plain case calls ``loss.backward()``/``optimizer.step()`` directly.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from torch import Tensor

from fastlit.core.module import LightningModule
from fastlit.trainer import eval_loop, legacy
from fastlit.trainer.failures import finite_checked
from fastlit.trainer.loop_state import restore_rng
from fastlit.trainer.profiling import ProfiledIterator
from fastlit.utilities.apply_func import move_data_to_device
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import WarningCache

if TYPE_CHECKING:
    from fastlit.trainer.trainer import Trainer

_END = object()
_warnings = WarningCache()


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

    def __init__(self, t: "Trainer", transfer: Optional[Callable], limit: Any) -> None:
        module = t.lightning_module
        hooks, precision = t._hooks, t.precision_plugin
        self.device = t.strategy.root_device
        self.transfer = transfer  # moves a batch through the user's transfer hooks; None: the plain move
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
        self.backward, self.step = precision.backward, precision.step
        self.step_scheds = [c for c in t.lr_scheduler_configs if c.interval == "step"]
        self.epoch_scheds = [c for c in t.lr_scheduler_configs if c.interval == "epoch" and not c.reduce_on_plateau]
        self.limit, self.max_steps, self.val_every = limit, t.max_steps, t.val_check_batch
        self.log_every, self.fast_dev_run = t.log_every_n_steps, bool(t.fast_dev_run)
        self.val_check = t.enable_validation and (t.check_val_every_n_epoch is None or
                                                  (t.current_epoch + 1) % t.check_val_every_n_epoch == 0)
        self.prof = t.profiler if t._profiling else None
        # a deferred checkpoint copy must finish before the step writes to what it copies
        self.fence = t._checkpoint_connector.fence
        self.vote = t._stop_vote  # DDP with signal handlers: the ranks agree on a stop after each batch


def _begin(t: "Trainer", transfer: Optional[Callable]) -> tuple[_EpochPlan, Any, Any, int]:
    """Everything before the first step: ``on_train_epoch_start``, the plan, and ``(plan, iterator, first batch
    to train, index before it)``, fast-forwarded past the batches a mid-epoch checkpoint already trained."""
    # the loader and its length as the epoch starts: an on_train_epoch_start hook that replaces the loader (the
    # batch-size finder at a milestone) takes effect from the next epoch
    loader, limit = t.train_dataloader, t.num_training_batches
    _set_sampler_epoch(loader, t.current_epoch)
    t._call("on_train_epoch_start")
    plan = _EpochPlan(t, transfer, limit)
    t.lightning_module._current_fx_name = "training_step"
    loop = t._loop
    skip = loop.resume_skip_batches
    loop.resume_skip_batches = 0
    # the epoch's shuffle order comes from the torch RNG at iter(): keep that state so a mid-epoch checkpoint can
    # replay the same order on resume (then the RNG continues from where the checkpoint left it)
    resume_rng = loop.resume_rng if skip else None
    loop.resume_rng = None
    if resume_rng is not None:
        torch.set_rng_state(resume_rng["epoch_torch_rng"])
    loop.epoch_rng = torch.get_rng_state()
    it = iter(loader)
    if plan.prof is not None:  # see profiling.py: wrappers instead of per-step `if profiling` checks
        it = ProfiledIterator(it, plan.prof, "[_TrainingEpochLoop].train_dataloader_next")
    batch = next(it, _END) if limit > 0 else _END
    batch_idx = -1
    while batch is not _END and batch_idx + 1 < skip:  # resuming mid-epoch: trained before the checkpoint
        batch_idx += 1
        batch = next(it, _END) if batch_idx + 1 < limit else _END
        if batch_idx + 1 == skip and resume_rng is not None:
            restore_rng(resume_rng)
    return plan, it, batch, batch_idx


def train_epoch(t: "Trainer", transfer: Optional[Callable]) -> None:
    """One training epoch: set-up once (``_begin``, ``_EpochPlan``), then the step loop, read top to bottom.
    ``transfer``: fit_loop's batch transfer through user hooks (None: the plain move to the device)."""
    # the counters this epoch advances, read into a local once (not an attribute hop per step)
    module, results, loop = t.lightning_module, t._results, t._loop
    epoch = loop.current_epoch
    p, it, batch, batch_idx = _begin(t, transfer)
    # the plan as locals: the loop reads these on every step
    device, transfer, train_step, with_idx, mixed = p.device, p.transfer, p.train_step, p.with_idx, p.mixed
    automatic, optimizer, accum, closure, fence, limit = p.automatic, p.optimizer, p.accum, p.closure, p.fence, p.limit
    plain_backward, backward, plain_step, step = p.plain_backward, p.backward, p.plain_step, p.step
    h_batch_start, h_batch_end, h_zero_grad = p.h_batch_start, p.h_batch_end, p.h_zero_grad
    step_scheds, epoch_scheds, prof, vote, log_every = p.step_scheds, p.epoch_scheds, p.prof, p.vote, p.log_every
    fast_dev_run, max_steps, val_check, val_every = p.fast_dev_run, p.max_steps, p.val_check, p.val_every
    while batch is not _END:
        batch_idx += 1
        # 1. fetch ahead so we know whether this is the last batch, and move this one to the device
        nxt = next(it, _END) if batch_idx + 1 < limit else _END
        is_last = nxt is _END
        loop.is_last_batch = is_last
        batch = transfer(batch, 0) if transfer is not None else move_data_to_device(batch, device)
        results.batch = batch
        if h_batch_start and _batch_start(t, module, batch, batch_idx) == -1:
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
                    # backward(): scale, backward hooks, module.backward (precision.py)
                    loss.backward() if plain_backward else backward(loss)
                if step_now:
                    if fence is not None:
                        fence()
                    # step(): unscale, on_before_optimizer_step, clip, step, scaler update (precision.py)
                    optimizer.step() if plain_step else step(optimizer)
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
            _save_loggers(t)
        if (max_steps != -1 and loop.global_step >= max_steps) or (t.should_stop and _can_stop(t)):
            break
        batch = nxt
    module._current_fx_name = None


def _save_loggers(t: "Trainer") -> None:
    for lg in t.loggers:
        lg.save()


def _should_validate(t: "Trainer", batch_idx: int, is_last: bool, val_every: Any) -> bool:
    """Lightning's rule: every ``val_check_batch`` batches (not necessarily the last one), on the last batch
    of an epoch of unknown length, or when the run is about to stop."""
    if val_every == float("inf"):
        return is_last or (t.should_stop and _can_stop(t) and t._stop_signal is None)
    if t.should_stop and _can_stop(t):
        return t._stop_signal is None  # a signal stops without validating
    current = batch_idx if t.check_val_every_n_epoch is not None else t._loop.total_batches_done - 1
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
    loop = t._loop
    loop.in_batch_end = True  # a checkpoint saved now records this batch as processed but not completed
    try:
        t._call("on_train_batch_end", out, batch, batch_idx)
    finally:
        loop.in_batch_end = False
    module._current_fx_name = "training_step"


def _can_stop(t: "Trainer") -> bool:
    if t._stop_signal is not None:  # a signal stops now, whatever min_epochs/min_steps say
        return True
    min_epochs_ok = t.min_epochs is None or t.current_epoch >= t.min_epochs
    min_steps_ok = t.min_steps is None or t.global_step >= t.min_steps
    return min_epochs_ok and min_steps_ok


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


def _set_sampler_epoch(loader: Any, epoch: int) -> None:
    for obj in (getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if obj is not None and hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
