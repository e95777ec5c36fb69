"""``LearningRateMonitor``: log each optimizer's learning rate (and optionally momentum / weight decay).

Keys follow Lightning 2.x: ``lr-<OptimizerClass>`` (``-1``, ``-2`` suffixes for repeats of a class, ``/pgN`` or
``/<group name>`` for several parameter groups), or the scheduler config's ``name``. Values go straight to the
loggers at ``trainer.fit_loop.epoch_loop._batches_that_stepped``, and into ``trainer.callback_metrics``.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal, Optional

import torch

from fastlit.callbacks.callback import Callback
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import rank_zero_warn


def _should_update_logs(trainer: Any) -> bool:
    """Lightning's ``should_update_logs`` during fit: the *next* step is a logging step, or the run is stopping."""
    every = trainer.log_every_n_steps
    if not every:
        return False
    return (trainer.fit_loop.epoch_loop._batches_that_stepped + 1) % every == 0 or bool(trainer.should_stop)


class LearningRateMonitor(Callback):
    """Log the learning rate of every optimizer during training.

    Args:
        logging_interval: ``"step"`` or ``"epoch"`` logs all optimizers at that interval; ``None`` (default) logs
            each scheduler at its own ``interval`` (optimizers without a scheduler are logged at both).
        log_momentum: also log ``<name>-momentum`` (``betas[0]`` for Adam-like optimizers; 0 when there is none).
        log_weight_decay: also log ``<name>-weight_decay``.

    Raises:
        MisconfigurationException: ``logging_interval`` is not ``"step"``, ``"epoch"`` or ``None``; or, at the start
            of training, the Trainer has no logger.
    """

    def __init__(self, logging_interval: Optional[Literal["step", "epoch"]] = None, log_momentum: bool = False,
                 log_weight_decay: bool = False) -> None:
        if logging_interval not in (None, "step", "epoch"):
            raise MisconfigurationException("logging_interval should be `step` or `epoch` or `None`.")
        self.logging_interval = logging_interval
        self.log_momentum = log_momentum
        self.log_weight_decay = log_weight_decay
        self.lrs: dict[str, list[float]] = {}
        self.last_momentum_values: dict[str, Optional[float]] = {}
        self.last_weight_decay_values: dict[str, Optional[float]] = {}

    # ------------------------------------------------------------------ hooks
    def on_train_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if not trainer.loggers:
            raise MisconfigurationException("Cannot use `LearningRateMonitor` callback with `Trainer` that has no logger.")
        if self.log_momentum and self._missing("momentum", trainer) and self._missing("betas", trainer):
            rank_zero_warn("You have set log_momentum=True, but some optimizers do not have momentum. This will log a "
                           "value 0 for the momentum.", category=RuntimeWarning)
        sched_names, seen, seen_types = self._names_from_schedulers(trainer.lr_scheduler_configs)
        opt_names, _ = self._names_from_optimizers(trainer.optimizers, seen, seen_types)
        flat = [n for group in sched_names + opt_names for n in group]
        self.lrs = {n: [] for n in flat}
        self.last_momentum_values = {f"{n}-momentum": None for n in flat}
        self.last_weight_decay_values = {f"{n}-weight_decay": None for n in flat}

    def on_train_batch_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self.logging_interval == "epoch" or not _should_update_logs(trainer):
            return
        self._log(trainer, self._extract_stats(trainer, "step" if self.logging_interval is None else "any"))

    def on_train_epoch_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self.logging_interval == "step":
            return
        self._log(trainer, self._extract_stats(trainer, "epoch" if self.logging_interval is None else "any"))

    # ------------------------------------------------------------------ stats
    @staticmethod
    def _missing(key: str, trainer: Any) -> bool:
        if trainer.lr_scheduler_configs:
            return any(key not in c.scheduler.optimizer.defaults for c in trainer.lr_scheduler_configs)
        return any(key not in o.defaults for o in trainer.optimizers)

    @staticmethod
    def _log(trainer: Any, stats: dict[str, float]) -> None:
        if not stats:
            return
        step = trainer.fit_loop.epoch_loop._batches_that_stepped
        for logger in trainer.loggers:
            logger.log_metrics(stats, step=step)

    def _extract_stats(self, trainer: Any, interval: str) -> dict[str, float]:
        stats: dict[str, float] = {}
        configs = trainer.lr_scheduler_configs
        sched_names, seen, seen_types = self._names_from_schedulers(configs)
        self._remap_keys(sched_names)
        for names, cfg in zip(sched_names, configs):
            if interval in (cfg.interval, "any"):
                stats.update(self._optimizer_stats(cfg.scheduler.optimizer, names))
        opt_names, leftover = self._names_from_optimizers(trainer.optimizers, seen, seen_types)
        self._remap_keys(opt_names)
        for opt, names in zip(leftover, opt_names):
            stats.update(self._optimizer_stats(opt, names))
        device = trainer.strategy.root_device
        trainer.callback_metrics.update({k: torch.tensor(v, device=device) for k, v in stats.items()})
        return stats

    def _optimizer_stats(self, optimizer: torch.optim.Optimizer, names: list[str]) -> dict[str, float]:
        stats: dict[str, float] = {}
        use_betas = "betas" in optimizer.defaults
        for group, name in zip(optimizer.param_groups, names):
            lr = group["lr"]
            self.lrs.setdefault(name, []).append(lr)
            stats[name] = lr
            if self.log_momentum:
                momentum = group["betas"][0] if use_betas else group.get("momentum", 0)
                self.last_momentum_values[f"{name}-momentum"] = momentum
                stats[f"{name}-momentum"] = momentum
            if self.log_weight_decay:
                wd = group["weight_decay"]
                self.last_weight_decay_values[f"{name}-weight_decay"] = wd
                stats[f"{name}-weight_decay"] = wd
        return stats

    def _remap_keys(self, names: list[list[str]], token: str = "/pg1") -> None:
        """A param group added mid-training turns ``lr-Adam`` into ``lr-Adam/pg1``: carry its history over."""
        for group in names:
            for new in group:
                old = new.replace(token, "")
                if token in new and old in self.lrs:
                    self.lrs[new] = self.lrs.pop(old)
                elif new not in self.lrs:
                    self.lrs[new] = []

    # ------------------------------------------------------------------ naming
    def _names_from_schedulers(self, configs: list[Any]) -> tuple[list[list[str]], list[Any], defaultdict]:
        names: list[list[str]] = []
        seen: list[Any] = []
        seen_types: defaultdict = defaultdict(int)
        for cfg in configs:
            opt = cfg.scheduler.optimizer
            base = cfg.name if cfg.name is not None else f"lr-{type(opt).__name__}"
            names.append(self._group_names(opt, base, seen, seen_types, counts=cfg.name is None))
        return names, seen, seen_types

    def _names_from_optimizers(self, optimizers: list[Any], seen: list[Any],
                               seen_types: defaultdict) -> tuple[list[list[str]], list[Any]]:
        names: list[list[str]] = []
        leftover: list[Any] = []
        for opt in optimizers:
            opt = getattr(opt, "optimizer", opt)  # a wrapped optimizer
            if opt in seen:
                continue
            names.append(self._group_names(opt, f"lr-{type(opt).__name__}", seen, seen_types, counts=True))
            leftover.append(opt)
        return names, leftover

    @staticmethod
    def _group_names(opt: Any, base: str, seen: list[Any], seen_types: defaultdict, counts: bool) -> list[str]:
        seen.append(opt)
        cls = type(opt)
        if counts:
            seen_types[cls] += 1
        groups = opt.param_groups
        group_names = [g.get("name", f"pg{i}") for i, g in enumerate(groups, start=1)]
        dupes = {n for n in group_names if group_names.count(n) > 1}
        if dupes:
            raise MisconfigurationException(
                "A single `Optimizer` cannot have multiple parameter groups with identical `name` values. "
                f"{base} has duplicated parameter group names {dupes}")
        if cls in seen_types and seen_types[cls] > 1:
            base = f"{base}-{seen_types[cls] - 1}"
        if len(groups) > 1:
            return [f"{base}/{n}" for n in group_names]
        own = groups[0].get("name") if groups else None
        return [f"{base}/{own}" if own else base]


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "LRSchedulerConfig": "fastlit.utilities.types",
})
