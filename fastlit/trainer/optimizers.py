"""The optimizer set-up of a fit: call ``configure_optimizers``, turn what it returned into optimizers and
scheduler configs (Lightning's rules), swap torch's Adam/AdamW/SGD for the fused kernels, and wrap each optimizer
in a ``LightningOptimizer``. Functions: the Trainer stores what ``setup_optimizers`` returns."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import torch
from torch.optim import Optimizer

from fastlit.core.module import LightningModule
from fastlit.core.optimizer import LightningOptimizer
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import WarningCache, rank_zero_warn
from fastlit.utilities.types import LRSchedulerConfig  # Lightning's home for it; re-exported here

_warnings = WarningCache()
_SCHED_KEYS = {"scheduler", "name", "interval", "frequency", "reduce_on_plateau", "monitor", "strict"}


def setup_optimizers(model: LightningModule, fused: bool, trainer: Any
                     ) -> tuple[list[Optimizer], list[LRSchedulerConfig], list[LightningOptimizer]]:
    """``(optimizers, scheduler_configs, lightning_optimizers)`` for a fit of ``model``.

    Args:
        model: the module whose ``configure_optimizers`` is called.
        fused: ``Trainer(fused_optimizer=...)``: swap torch's Adam/AdamW/SGD for fastlit's fused kernels.
        trainer: what each ``LightningOptimizer`` steps through.
    """
    if not is_overridden("configure_optimizers", model, LightningModule):
        from fastlit.trainer.arguments import missing_method

        raise missing_method("configure_optimizers")
    model._current_fx_name = "configure_optimizers"
    out = model.configure_optimizers()
    model._current_fx_name = None
    optimizers, configs = parse_configure_optimizers(out)
    if not optimizers:
        rank_zero_warn("`LightningModule.configure_optimizers` returned `None`, this fit will run with no optimizer")
    if model.automatic_optimization and len(optimizers) > 1:
        raise RuntimeError(
            "Training with multiple optimizers is only supported with manual optimization. Set "
            "`self.automatic_optimization = False`, then access your optimizers in `training_step` with "
            "`opt1, opt2, ... = self.optimizers()`.")
    if fused:
        optimizers = [_maybe_fuse(o) for o in optimizers]
    if not optimizers:  # Lightning trains on with a do-nothing optimizer (steps are still counted)
        optimizers = [_MockOptimizer()]
    wrapped = []
    for o in optimizers:
        lo = LightningOptimizer(o)
        lo._trainer = trainer
        wrapped.append(lo)
    return optimizers, configs, wrapped


def _maybe_fuse(optimizer: Optimizer) -> Optimizer:
    """Swap torch's Adam/AdamW/SGD for the fused kernels in place (schedulers keep working)."""
    try:
        from fastlit.optim import to_fused
    except ImportError:
        return optimizer
    fused, reason = to_fused(optimizer)
    if fused is None:
        if reason:
            _warnings.info(f"fastlit: keeping {type(optimizer).__name__} unfused: {reason}")
        return optimizer
    return fused


def _is_plateau(s: Any) -> bool:
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    return isinstance(s, ReduceLROnPlateau)


def _scheduler_config(item: Any, monitor: Optional[str] = None) -> LRSchedulerConfig:
    if isinstance(item, Mapping):
        if "scheduler" not in item:
            raise MisconfigurationException(
                'The lr scheduler dict must have the key "scheduler" with its item being an lr scheduler')
        extra = set(item) - _SCHED_KEYS
        if extra:
            raise MisconfigurationException(f"Found unsupported keys in the lr scheduler dict: {sorted(extra)}."
                                            f" Supported: {sorted(_SCHED_KEYS)}")
        if "interval" in item and item["interval"] not in ("step", "epoch"):
            raise MisconfigurationException(
                f'The "interval" key in lr scheduler dict must be "step" or "epoch" but is "{item["interval"]}"')
        cfg = LRSchedulerConfig(**{k: v for k, v in item.items()})
        cfg.reduce_on_plateau = item.get("reduce_on_plateau", _is_plateau(cfg.scheduler))
        if cfg.reduce_on_plateau and cfg.monitor is None:
            cfg.monitor = monitor
        if cfg.reduce_on_plateau and cfg.monitor is None:
            raise MisconfigurationException(
                "The lr scheduler dict must include a monitor when a `ReduceLROnPlateau` scheduler is used."
                ' For example: {"optimizer": optimizer, "lr_scheduler":'
                ' {"scheduler": scheduler, "monitor": "your_loss"}}')
        return cfg
    if _is_plateau(item):
        if monitor is None:
            raise MisconfigurationException(
                "`configure_optimizers` must include a monitor when a `ReduceLROnPlateau` scheduler is used."
                ' For example: {"optimizer": optimizer, "lr_scheduler": scheduler, "monitor": "metric_to_track"}')
        return LRSchedulerConfig(item, reduce_on_plateau=True, monitor=monitor)
    return LRSchedulerConfig(item)


def _bad(out: Any) -> MisconfigurationException:
    return MisconfigurationException(
        f"Unknown configuration for model optimizers: `configure_optimizers` returned {type(out).__name__}. "
        "Return one optimizer, a list of optimizers, (optimizers, schedulers), or a dict with keys "
        "'optimizer' and optionally 'lr_scheduler'/'monitor'."
    )


def parse_configure_optimizers(out: Any) -> tuple[list[Optimizer], list[LRSchedulerConfig]]:
    """Return ``(optimizers, scheduler_configs)``; raise a clear error for anything else."""
    if out is None:
        return [], []
    if isinstance(out, Optimizer):
        return [out], []
    if isinstance(out, Mapping):
        return _from_dict(out)
    if isinstance(out, Sequence) and not isinstance(out, str):
        if len(out) == 2 and isinstance(out[0], Sequence) and not isinstance(out[0], Mapping):
            opts, scheds = list(out[0]), out[1]
            scheds = [scheds] if not isinstance(scheds, Sequence) else list(scheds)
            _check_opts(opts, out)
            return opts, [_scheduler_config(s) for s in scheds]
        if all(isinstance(o, Mapping) for o in out) and out:
            opts, configs = [], []
            for d in out:
                o, c = _from_dict(d)
                opts += o
                configs += c
            return opts, configs
        opts = list(out)
        _check_opts(opts, out)
        return opts, []
    raise _bad(out)


def _check_opts(opts: list, out: Any) -> None:
    for o in opts:
        if not isinstance(o, Optimizer):
            raise _bad(out)


def _from_dict(d: Mapping) -> tuple[list[Optimizer], list[LRSchedulerConfig]]:
    if "optimizer" not in d:
        raise MisconfigurationException(
            f"`configure_optimizers` returned a dict without the key 'optimizer' (keys: {sorted(d)}).")
    extra = set(d) - {"optimizer", "lr_scheduler", "monitor"}
    if extra:
        raise MisconfigurationException(f"Found unsupported keys in the optimizer configuration: {sorted(extra)}")
    opt = d["optimizer"]
    if not isinstance(opt, Optimizer):
        raise _bad(d)
    sched = d.get("lr_scheduler")
    configs = [_scheduler_config(sched, d.get("monitor"))] if sched is not None else []
    return [opt], configs


class _MockOptimizer(Optimizer):
    """What a fit runs with when ``configure_optimizers`` returns None (as in Lightning): ``step`` only runs the
    closure, ``zero_grad`` does nothing, and it has no state."""

    def __init__(self) -> None:
        super().__init__([torch.zeros(1)], {})

    def add_param_group(self, param_group: dict) -> None:
        pass  # no-op: nothing to optimize

    def load_state_dict(self, state_dict: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def step(self, closure: Any = None) -> Any:
        return closure() if closure is not None else None

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "No Optimizer"
