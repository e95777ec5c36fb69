"""The learning-rate range test: train ``num_training`` steps while the LR grows from ``min_lr`` to ``max_lr``,
record the smoothed loss at each LR, and suggest the LR where the loss falls fastest.

The schedule, the loss smoothing (``beta=0.98`` with bias correction), the divergence stop and the suggestion
rule are Lightning 2.x's, so the same model and data give the same ``results`` and ``suggestion()``.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Union

import torch
from torch.optim.lr_scheduler import LRScheduler

from fastlit.callbacks.callback import Callback
from fastlit.trainer.optimizers import LRSchedulerConfig
from fastlit.tuner._trial import TrialState, lightning_hasattr, lightning_setattr, run_trial
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import rank_zero_warn

log = logging.getLogger(__name__)


def _determine_lr_attr_name(model: Any, attr_name: str = "") -> str:
    if attr_name:
        if not lightning_hasattr(model, attr_name):
            raise AttributeError(f"The attribute name for the learning rate was set to {attr_name}, but could not "
                                 "find this as a field in `model` or `model.hparams`.")
        return attr_name
    for attr in ("lr", "learning_rate"):
        if lightning_hasattr(model, attr):
            return attr
    raise AttributeError(
        "When using the learning rate finder, either `model` or `model.hparams` should have one of these fields: "
        "('lr', 'learning_rate'). If your model has a different name for the learning rate, set it with "
        "`.lr_find(attr_name=...)`.")


class _LRFinder:
    """The result of an LR range test: ``results = {"lr": [...], "loss": [...]}``, ``suggestion()``, ``plot()``.

    Args:
        mode: ``"exponential"`` or ``"linear"`` growth of the LR per step.
        lr_min: first LR tried.
        lr_max: LR reached after ``num_training`` steps.
        num_training: number of steps (LRs) in the test.
    """

    def __init__(self, mode: str, lr_min: float, lr_max: float, num_training: int) -> None:
        assert mode in ("linear", "exponential"), "mode should be either `linear` or `exponential`"
        self.mode = mode
        self.lr_min = lr_min
        self.lr_max = lr_max
        self.num_training = num_training
        self.results: dict[str, Any] = {}
        self._total_batch_idx = 0
        self._optimal_idx: Optional[int] = None

    def _exchange_scheduler(self, trainer: Any) -> None:
        """Start every param group at ``lr_min`` and let a per-step scheduler raise it towards ``lr_max``."""
        optimizers = trainer.optimizers
        if len(optimizers) != 1:
            raise MisconfigurationException(f"`model.configure_optimizers()` returned {len(optimizers)}, but learning "
                                            "rate finder only works with single optimizer")
        optimizer = optimizers[0]
        for group in optimizer.param_groups:
            group["lr"] = self.lr_min
            group["initial_lr"] = self.lr_min
        cls = _LinearLR if self.mode == "linear" else _ExponentialLR
        trainer.lr_scheduler_configs = [LRSchedulerConfig(cls(optimizer, self.lr_max, self.num_training), interval="step")]

    def plot(self, suggest: bool = False, show: bool = False, ax: Optional[Any] = None) -> Optional[Any]:
        """Plot loss against LR (log x-axis in exponential mode); ``suggest`` marks the suggestion in red.

        Needs matplotlib. Returns the figure.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise MisconfigurationException("To use the `plot` method, you must have Matplotlib installed. Install it "
                                            "by running `pip install -U matplotlib`.") from e
        lrs, losses = self.results["lr"], self.results["loss"]
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        ax.plot(lrs, losses)
        if self.mode == "exponential":
            ax.set_xscale("log")
        ax.set_xlabel("Learning rate")
        ax.set_ylabel("Loss")
        if suggest:
            self.suggestion()
            if self._optimal_idx:
                ax.plot(lrs[self._optimal_idx], losses[self._optimal_idx], markersize=10, marker="o", color="red")
        if show:
            plt.show()
        return fig

    def suggestion(self, skip_begin: int = 10, skip_end: int = 1) -> Optional[float]:
        """The LR at the steepest descent of the loss curve, ignoring the first ``skip_begin`` and last ``skip_end``
        points and non-finite losses; None (with an error logged) when fewer than two points remain."""
        losses = torch.tensor(self.results["loss"][skip_begin:-skip_end])
        lrs = torch.tensor(self.results["lr"][skip_begin:-skip_end])
        finite = torch.isfinite(losses)
        losses, lrs = losses[finite], lrs[finite]
        if len(losses) < 2:
            log.error("Failed to compute suggestion for learning rate because there are not enough points. Increase "
                      "the loop iteration limits or the size of your dataset/dataloader.")
            self._optimal_idx = None
            return None
        gradients = torch.gradient(losses, spacing=[lrs])[0]
        steepest = torch.argmin(gradients).item()
        kept = torch.arange(len(self.results["loss"]))[skip_begin:-skip_end][finite]
        self._optimal_idx = int(kept[steepest].item())
        return self.results["lr"][self._optimal_idx]


def lr_find(trainer: Any, model: Any, min_lr: float = 1e-8, max_lr: float = 1, num_training: int = 100,
            mode: str = "exponential", early_stop_threshold: Optional[float] = 4.0, update_attr: bool = False,
            attr_name: str = "") -> Optional[_LRFinder]:
    """Run the range test on ``trainer``'s current fit; restore the model and loop state; optionally set the
    suggested LR on the model attribute and the optimizer."""
    if trainer.fast_dev_run:
        rank_zero_warn("Skipping learning rate finder since `fast_dev_run` is enabled.")
        return None
    if update_attr:
        attr_name = _determine_lr_attr_name(model, attr_name)
    start_steps = trainer.global_step
    state = TrialState(trainer)
    callback = _LRCallback(num_training, early_stop_threshold, progress_bar_refresh_rate=1)
    callback._start_step = start_steps
    finder = _LRFinder(mode, min_lr, max_lr, num_training)
    finished = False
    try:
        state.setup_trials(callbacks=[callback])
        trainer.max_steps = num_training + trainer.global_step
        trainer.limit_val_batches = num_training
        finder._exchange_scheduler(trainer)
        state.reset_progress()
        run_trial(trainer)
        if trainer.global_step != num_training + start_steps:
            log.info(f"LR finder stopped early after {trainer.global_step} steps due to diverging loss.")
        finder.results.update({"lr": callback.lrs, "loss": callback.losses})
        finder._total_batch_idx = trainer._loop.total_batches_done
        finished = True
    finally:
        callback.close()
        state.restore()
    if update_attr and finished:
        lr = finder.suggestion()
        if lr is not None:
            lightning_setattr(model, attr_name, lr)
            for opt in trainer.optimizers or []:  # the run continues with the suggested LR
                for group in opt.param_groups:
                    group["lr"] = lr
            log.info(f"Learning rate set to {lr}")
    return finder


class _LRCallback(Callback):
    """Records the LR before and the smoothed loss after every optimizer step; stops when the loss diverges.

    Args:
        num_training: steps in the test (for the progress bar).
        early_stop_threshold: stop once the smoothed loss exceeds ``threshold * best``; None never stops.
        progress_bar_refresh_rate: show a tqdm bar when non-zero.
        beta: smoothing of the loss (exponential moving average with bias correction).
    """

    def __init__(self, num_training: int, early_stop_threshold: Optional[float] = 4.0,
                 progress_bar_refresh_rate: int = 0, beta: float = 0.98) -> None:
        self.num_training = num_training
        self.early_stop_threshold = early_stop_threshold
        self.beta = beta
        self.losses: list[float] = []
        self.lrs: list[float] = []
        self.avg_loss = 0.0
        self.best_loss = 0.0
        self.progress_bar_refresh_rate = progress_bar_refresh_rate
        self.progress_bar: Any = None
        self._start_step = 0

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches != 0:
            return
        if self.progress_bar_refresh_rate and self.progress_bar is None:
            try:
                from tqdm import tqdm

                self.progress_bar = tqdm(desc="Finding best initial lr", total=self.num_training)
            except ImportError:
                self.progress_bar_refresh_rate = 0
        self.lrs.append(trainer.lr_scheduler_configs[0].scheduler.lr[0])

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches != 0:
            return
        if not outputs:  # training_step returned None: keep lrs and losses aligned, NaN is ignored later
            self.losses.append(float("nan"))
            return
        if self.progress_bar is not None:
            self.progress_bar.update()
        loss = outputs if isinstance(outputs, torch.Tensor) else outputs["loss"]
        current = loss.item()
        # Lightning counts from global step 0, so a search started later in training (its documented milestone
        # example) never records a best loss and stops at once; counting from the search's first step fixes that
        # and is the same number when the search runs at fit start
        step = trainer.global_step - self._start_step
        self.avg_loss = self.beta * self.avg_loss + (1 - self.beta) * current
        smoothed = self.avg_loss / (1 - self.beta ** (step + 1))
        if self.early_stop_threshold is not None and step > 1 and smoothed > self.early_stop_threshold * self.best_loss:
            trainer.should_stop = True
            self.close()
        if smoothed < self.best_loss or step == 1:
            self.best_loss = smoothed
        self.losses.append(smoothed)

    def close(self) -> None:
        if self.progress_bar is not None:
            self.progress_bar.close()
            self.progress_bar = None


class _SweepLR(LRScheduler):
    """LR goes from the base LR to ``end_lr`` over ``num_iter`` steps along ``_at`` (subclasses: the curve).

    Args:
        optimizer: the optimizer whose LRs to set.
        end_lr: final LR.
        num_iter: steps to reach it.
        last_epoch: index of the last step (-1 to start fresh).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, end_lr: float, num_iter: int, last_epoch: int = -1) -> None:
        self.end_lr = end_lr
        self.num_iter = num_iter
        super().__init__(optimizer, last_epoch)

    def _at(self, base: float, r: float) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        r = (self.last_epoch + 1) / self.num_iter
        # like Lightning, the first step after the start keeps the base LR, and the schedule then runs one ahead
        val = list(self.base_lrs) if self.last_epoch <= 0 else [self._at(base, r) for base in self.base_lrs]
        self._lr = val
        return val

    @property
    def lr(self) -> Union[float, list[float]]:
        return self._lr


class _LinearLR(_SweepLR):
    """LR grows linearly from the base LR to ``end_lr``."""

    def _at(self, base: float, r: float) -> float:
        return base + r * (self.end_lr - base)


class _ExponentialLR(_SweepLR):
    """LR grows geometrically from the base LR to ``end_lr``."""

    def _at(self, base: float, r: float) -> float:
        return base * (self.end_lr / base) ** r


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "RequirementCache": "fastlit.utilities.imports",
})
