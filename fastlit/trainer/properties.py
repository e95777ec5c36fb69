"""Read-only views of the Trainer's state that callbacks and user code read (Lightning 2.x names), the metric
dicts the loops fill, and ``trainer.fit_loop``'s small stand-in."""
from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any, Optional, Union

import torch
from torch import Tensor

from fastlit.core.module import LightningModule
from fastlit.trainer import data as data_mod
from fastlit.trainer.metrics import Results
from fastlit.trainer.optimizers import LRSchedulerConfig
from fastlit.trainer.states import RunningStage, TrainerStatus
from fastlit.utilities.apply_func import convert_tensors_to_scalars
from fastlit.utilities.model_helpers import is_overridden

if TYPE_CHECKING:
    from fastlit.trainer.trainer import Trainer


class PropertiesMixin:
    """Part of ``Trainer``: its properties, and the callback/logged/progress-bar metric dicts.

    A mixin rather than a composed part because it owns no state: every property reads (or, for Lightning's
    settable names, writes through to) state the Trainer or one of its parts owns.
    """

    # ---------------------------------------------------------------- loggers and model
    @property
    def logger(self) -> Optional[Any]:
        return self.loggers[0] if self.loggers else None

    @logger.setter
    def logger(self, logger: Any) -> None:
        self.loggers = [logger] if logger else []

    @property
    def loggers(self) -> list:
        return self._loggers

    @loggers.setter
    def loggers(self, loggers: Optional[list]) -> None:
        self._loggers = loggers if loggers else []  # None (or empty) means no loggers, as in Lightning

    @property
    def log_dir(self) -> Optional[str]:
        if not self.loggers:
            return self.default_root_dir
        first = self.loggers[0]
        from fastlit.loggers.csv_logs import CSVLogger
        from fastlit.loggers.tensorboard import TensorBoardLogger

        if isinstance(first, (TensorBoardLogger, CSVLogger)):
            return first.log_dir
        return first.save_dir

    @property
    def model(self) -> Optional[torch.nn.Module]:
        return self.lightning_module

    # ---------------------------------------------------------------- ranks and devices
    @property
    def is_global_zero(self) -> bool:
        return self.strategy.is_global_zero

    @property
    def global_rank(self) -> int:
        return self.strategy.global_rank

    @property
    def local_rank(self) -> int:
        return self.strategy.local_rank

    @property
    def node_rank(self) -> int:
        return self.strategy.node_rank

    @property
    def world_size(self) -> int:
        return self.strategy.world_size

    @property
    def device_ids(self) -> list[int]:
        d = self.strategy.root_device
        return [d.index or 0] if d.type == "cuda" else [0]

    # ---------------------------------------------------------------- what is running
    @property
    def training(self) -> bool:
        return self.state.stage == RunningStage.TRAINING

    @training.setter
    def training(self, value: bool) -> None:
        if value:
            self.state.stage = RunningStage.TRAINING

    @property
    def validating(self) -> bool:
        return self.state.stage == RunningStage.VALIDATING

    @property
    def testing(self) -> bool:
        return self.state.stage == RunningStage.TESTING

    @property
    def predicting(self) -> bool:
        return self.state.stage == RunningStage.PREDICTING

    @property
    def evaluating(self) -> bool:
        return self.state.stage is not None and self.state.stage.evaluating

    @property
    def interrupted(self) -> bool:
        return self.state.status == TrainerStatus.INTERRUPTED

    @property
    def enable_validation(self) -> bool:
        # Lightning's rule: a validation_step and a val dataloader source exist (loaders are built lazily)
        m = self.lightning_module
        return (m is not None and is_overridden("validation_step", m, LightningModule)
                and self.limit_val_batches != 0 and self._data.val_defined)

    @property
    def ckpt_path(self) -> Optional[str]:
        return self._ckpt_path

    # ---------------------------------------------------------------- where the fit loop stands (trainer._loop)
    @property
    def current_epoch(self) -> int:
        return self._loop.current_epoch

    @current_epoch.setter
    def current_epoch(self, value: int) -> None:
        self._loop.current_epoch = value

    @property
    def global_step(self) -> int:
        return self._loop.global_step

    @global_step.setter
    def global_step(self, value: int) -> None:
        self._loop.global_step = value

    # ---------------------------------------------------------------- callbacks by kind
    @property
    def checkpoint_callbacks(self) -> list[Any]:
        from fastlit.callbacks.checkpoint import Checkpoint

        return [c for c in self.callbacks if isinstance(c, Checkpoint)]

    @property
    def checkpoint_callback(self) -> Optional[Any]:
        cbs = self.checkpoint_callbacks
        return cbs[0] if cbs else None

    @property
    def early_stopping_callbacks(self) -> list[Any]:
        from fastlit.callbacks.early_stopping import EarlyStopping

        return [c for c in self.callbacks if isinstance(c, EarlyStopping)]

    @property
    def early_stopping_callback(self) -> Optional[Any]:
        cbs = self.early_stopping_callbacks
        return cbs[0] if cbs else None

    @property
    def progress_bar_callback(self) -> Optional[Any]:
        from fastlit.callbacks.progress.progress_bar import ProgressBar

        return next((c for c in self.callbacks if isinstance(c, ProgressBar)), None)

    # ---------------------------------------------------------------- optimization counts
    @property
    def lr_scheduler_configs_list(self) -> list[LRSchedulerConfig]:
        return self.lr_scheduler_configs

    @property
    def skipped_steps(self) -> int:
        """Optimizer steps the fp16 loss scaler skipped because gradients had inf/NaN (0 without a scaler)."""
        return self.precision_plugin.skipped_steps

    @property
    def estimated_stepping_batches(self) -> Union[int, float]:
        """Total optimizer steps ``fit`` will take (for schedulers like OneCycleLR)."""
        if self.train_dataloader is None and self.lightning_module is not None:
            loader = data_mod.resolve("train", self._data.train_given, self.datamodule,
                                      self.lightning_module)
            n = data_mod.limit(data_mod.length(loader), self.limit_train_batches, "limit_train_batches") if loader is not None else 0
        else:
            n = self.num_training_batches
        if n == float("inf"):
            return self.max_steps if self.max_steps != -1 else float("inf")
        per_epoch = max(1, -(-int(n) // self.accumulate_grad_batches)) if n else 0
        total = per_epoch * self.max_epochs if self.max_epochs != -1 else float("inf")
        return min(total, self.max_steps) if self.max_steps != -1 else total

    # ---------------------------------------------------------------- loaders and batch counts (trainer._data)
    # attrgetter: a C-level read, as cheap as the plain attributes these were (callbacks read some per step)
    train_dataloader = property(attrgetter("_data.train_dataloader"), doc="The training loader of the current fit.")
    val_dataloaders = property(attrgetter("_data.val_dataloaders"), doc="The validation loader(s) last built.")
    test_dataloaders = property(attrgetter("_data.test_dataloaders"), doc="The test loader(s) last built.")
    predict_dataloaders = property(attrgetter("_data.predict_dataloaders"), doc="The predict loader(s) last built.")
    num_training_batches = property(attrgetter("_data.num_training_batches"),
                                    doc="Training batches per epoch (``limit_train_batches`` applied; inf: no len).")
    num_val_batches = property(attrgetter("_data.num_val_batches"), doc="Validation batches, one count per loader.")
    num_sanity_val_batches = property(attrgetter("_data.num_sanity_val_batches"),
                                      doc="Sanity-check batches, one count per validation loader.")
    num_test_batches = property(attrgetter("_data.num_test_batches"), doc="Test batches, one count per loader.")
    num_predict_batches = property(attrgetter("_data.num_predict_batches"), doc="Predict batches, one per loader.")

    @property
    def val_check_batch(self) -> Union[int, float]:
        """After how many training batches validation runs."""
        return self._data.val_check_batch

    @val_check_batch.setter
    def val_check_batch(self, value: Union[int, float]) -> None:  # a plain, settable attribute in Lightning
        self._data.val_check_batch = value

    # ---------------------------------------------------------------- metric dicts
    @property
    def callback_metrics(self) -> dict[str, Any]:
        self._refresh_step_metrics()
        return self._callback_metrics

    @property
    def logged_metrics(self) -> dict[str, Any]:
        self._refresh_step_metrics()
        return self._logged_metrics

    @property
    def progress_bar_metrics(self) -> dict[str, Any]:
        self._refresh_step_metrics()
        return {k: (v.item() if isinstance(v, Tensor) else v) for k, v in self._progress_bar_metrics.items()}

    def _refresh_step_metrics(self) -> None:
        # Lightning refreshes these dicts after every batch; we do it only when someone reads them.
        r = self._results
        if r is not None and r.training and not self.sanity_checking:
            log, pbar, cb = r.metrics(on_step=not self._loop.epoch_end_phase)
            self._logged_metrics.update(log)
            self._progress_bar_metrics.update(pbar)
            self._callback_metrics.update(cb)

    def _epoch_end_metrics(self, results: Results) -> dict[str, Any]:
        """Fold a stage's epoch values into the trainer's metric dicts; return what goes to the loggers."""
        log, pbar, cb = results.metrics(on_step=False)
        self._logged_metrics.update(log)
        self._progress_bar_metrics.update(pbar)
        self._callback_metrics.update(cb)
        return log

    def _emit(self, metrics: dict[str, Any], step: Optional[int] = None) -> None:
        """Send ``metrics`` to the loggers (the only place values become python numbers)."""
        if not self.loggers or not metrics:
            return
        scalars = convert_tensors_to_scalars(metrics)
        if step is None:
            step_metric = scalars.pop("step", None)
            if step_metric is not None:
                step = int(step_metric)
            else:
                scalars.setdefault("epoch", self.current_epoch)
                step = self._loop.batches_that_stepped
        for lg in self.loggers:
            lg.log_metrics(metrics=scalars, step=step)
            lg.save()


class _LoopView:
    """Just enough of Lightning's ``trainer.fit_loop`` for callbacks that read it."""

    def __init__(self, trainer: Trainer) -> None:
        self._trainer = trainer
        self.epoch_loop = self

    @property
    def _batches_that_stepped(self) -> int:
        return self._trainer._loop.batches_that_stepped

    @property
    def max_epochs(self) -> int:
        return self._trainer.max_epochs

    @max_epochs.setter
    def max_epochs(self, value: int) -> None:  # `trainer.fit_loop.max_epochs = N` then fit again trains on
        self._trainer.max_epochs = value

    @property
    def min_epochs(self) -> Optional[int]:
        return self._trainer.min_epochs

    @min_epochs.setter
    def min_epochs(self, value: Optional[int]) -> None:
        self._trainer.min_epochs = value

    @property
    def max_steps(self) -> int:
        return self._trainer.max_steps

    @max_steps.setter
    def max_steps(self, value: int) -> None:
        self._trainer.max_steps = value

    @property
    def global_step(self) -> int:
        return self._trainer._loop.global_step

    @property
    def total_batch_idx(self) -> int:
        return self._trainer._total_batch_idx if hasattr(self._trainer, "_total_batch_idx") else 0
