"""``Trainer``: Lightning 2.x's arguments (checked in arguments.py) and entry points; the run they share (set-up,
loop, teardown) is run.py.

The Trainer is composed of parts that own their state: ``precision_plugin`` (precision.py: autocast, the loss
scaler, and the optimizer-step seam: backward, optimizer step, clipping), ``_hooks`` (hooks.py: the hook table,
resolved once per run) and ``_checkpoint_connector`` (checkpointing.py: checkpoint I/O, save/restore, the async
staging fence). Set-up functions build the rest: configuration.py (loggers, callbacks), optimizers.py
(configure_optimizers, fused swap); failures.py is the exception path. PropertiesMixin (properties.py) adds
read-only views only. The loops live in fit_loop.py (one epoch: train_epoch.py) and eval_loop.py.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Union

import torch

from fastlit.callbacks.callback import Callback
from fastlit.core.datamodule import LightningDataModule
from fastlit.core.module import LightningModule
from fastlit.core.optimizer import LightningOptimizer
from fastlit.strategies.select import select_strategy
from fastlit.trainer import arguments, configuration, legacy
from fastlit.trainer.checkpointing import CheckpointConnector
from fastlit.trainer.data_connector import DataConnector
from fastlit.trainer.failures import run_guarded
from fastlit.trainer.hooks import HookTable
from fastlit.trainer.loop_state import LoopState
from fastlit.trainer.metrics import Results
from fastlit.trainer.optimizers import LRSchedulerConfig
from fastlit.trainer.precision import Precision as _Precision, normalize
from fastlit.trainer.properties import PropertiesMixin, _LoopView
from fastlit.trainer.states import RunningStage, TrainerFn, TrainerState, TrainerStatus
from fastlit.utilities.argparse import _defaults_from_env_vars
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import rank_zero_info, rank_zero_warn


class Trainer(PropertiesMixin):
    """Runs training, validation, testing and prediction for a ``LightningModule``.

    Args: Lightning 2.x's ``Trainer`` arguments with the same defaults, plus ``fused_optimizer`` (swap
    ``torch.optim.Adam/AdamW/SGD`` for fastlit's fused kernels; default True) and ``async_checkpoint`` (write
    checkpoints in the background through ``fastlit.plugins.AsyncCheckpointIO``; default False). Unknown arguments raise a
    ``TypeError`` naming them; 1.x arguments the tutorials use are mapped with a ``DeprecationWarning``.
    """

    @_defaults_from_env_vars
    def __init__(
        self,
        accelerator: Union[str, Any] = "auto",
        strategy: Union[str, Any] = "auto",
        devices: Union[list[int], str, int] = "auto",
        num_nodes: int = 1,
        precision: Optional[Union[str, int]] = None,
        logger: Optional[Union[Any, Iterable[Any], bool]] = None,
        callbacks: Optional[Union[list[Callback], Callback]] = None,
        fast_dev_run: Union[int, bool] = False,
        max_epochs: Optional[int] = None,
        min_epochs: Optional[int] = None,
        max_steps: int = -1,
        min_steps: Optional[int] = None,
        max_time: Optional[Any] = None,
        limit_train_batches: Optional[Union[int, float]] = None,
        limit_val_batches: Optional[Union[int, float]] = None,
        limit_test_batches: Optional[Union[int, float]] = None,
        limit_predict_batches: Optional[Union[int, float]] = None,
        overfit_batches: Union[int, float] = 0.0,
        val_check_interval: Optional[Union[int, float]] = None,
        check_val_every_n_epoch: Optional[int] = 1,
        num_sanity_val_steps: Optional[int] = None,
        log_every_n_steps: Optional[int] = None,
        enable_checkpointing: Optional[bool] = None,
        enable_progress_bar: Optional[bool] = None,
        enable_model_summary: Optional[bool] = None,
        accumulate_grad_batches: int = 1,
        gradient_clip_val: Optional[Union[int, float]] = None,
        gradient_clip_algorithm: Optional[str] = None,
        deterministic: Optional[Union[bool, str]] = None,
        benchmark: Optional[bool] = None,
        inference_mode: bool = True,
        use_distributed_sampler: bool = True,
        profiler: Optional[Union[Any, str]] = None,
        detect_anomaly: bool = False,
        barebones: bool = False,
        plugins: Optional[Any] = None,
        sync_batchnorm: bool = False,
        reload_dataloaders_every_n_epochs: int = 0,
        default_root_dir: Optional[Union[str, os.PathLike]] = None,
        enable_autolog_hparams: bool = True,
        model_registry: Optional[str] = None,
        fused_optimizer: bool = True,
        async_checkpoint: bool = False,
        **kwargs: Any,
    ) -> None:
        mapped = legacy.map_trainer_kwargs(kwargs, _init_arg_names())
        accelerator = mapped.pop("accelerator", accelerator)
        devices = mapped.pop("devices", devices)
        strategy = mapped.pop("strategy", strategy)
        if "enable_checkpointing" in mapped:
            enable_checkpointing = mapped.pop("enable_checkpointing")
        if "enable_progress_bar" in mapped:
            enable_progress_bar = mapped.pop("enable_progress_bar")
        if "enable_model_summary" in mapped:
            enable_model_summary = mapped.pop("enable_model_summary")
        self._legacy_ckpt_path: Optional[str] = mapped.pop("ckpt_path", None)
        self._legacy_automatic_optimization: Optional[bool] = mapped.pop("automatic_optimization", None)
        self._legacy_tune = {k: mapped.pop(k) for k in ("auto_scale_batch_size", "auto_lr_find") if k in mapped}

        self.state = TrainerState()
        self.should_stop = False
        self._stop_signal: Optional[int] = None  # set by fastlit.trainer.signals during fit
        self._stop_vote: Optional[Any] = None  # DDP: signals.StopVote during fit
        self.sanity_checking = False
        self._ckpt_path: Optional[str] = None
        self.default_root_dir = os.fspath(default_root_dir) if default_root_dir is not None else os.getcwd()
        self.barebones = barebones
        if barebones:  # Lightning's conflicts first (each names the argument to drop), then everything off
            arguments.check_barebones(enable_checkpointing=enable_checkpointing, logger=logger,
                                      enable_progress_bar=enable_progress_bar, log_every_n_steps=log_every_n_steps,
                                      enable_model_summary=enable_model_summary,
                                      num_sanity_val_steps=num_sanity_val_steps, fast_dev_run=fast_dev_run,
                                      detect_anomaly=detect_anomaly, profiler=profiler)
            enable_checkpointing = enable_progress_bar = enable_model_summary = False
            logger = False
            log_every_n_steps = num_sanity_val_steps = 0

        self._init_device(accelerator, strategy, devices, num_nodes, precision)

        # ---- loop limits
        self.fast_dev_run = fast_dev_run
        if isinstance(fast_dev_run, int) and not isinstance(fast_dev_run, bool) and fast_dev_run < 0:
            raise MisconfigurationException(f"fast_dev_run={fast_dev_run!r} is not a valid configuration. It should be >= 0.")
        n_dev = 1 if fast_dev_run is True else int(fast_dev_run)
        if check_val_every_n_epoch is None and isinstance(val_check_interval, float):
            raise MisconfigurationException(
                "`val_check_interval` should be an integer or a time-based duration (str 'DD:HH:MM:SS', "
                "datetime.timedelta, or dict kwargs for timedelta) when `check_val_every_n_epoch=None`. With no "
                "epoch boundary a fraction of an epoch means nothing; pass a number of batches.")
        arguments.check_batch_limits(n_dev, overfit_batches, limit_train_batches, limit_val_batches,
                                     limit_test_batches, limit_predict_batches, val_check_interval)
        limit_train_batches, limit_val_batches, limit_test_batches, limit_predict_batches, val_check_interval = map(
            arguments.as_batch_count, (limit_train_batches, limit_val_batches, limit_test_batches,
                                       limit_predict_batches, val_check_interval))
        if n_dev:
            limit_train_batches = limit_val_batches = limit_test_batches = limit_predict_batches = n_dev
            max_steps, max_epochs, num_sanity_val_steps = n_dev, 1, 0
            val_check_interval, check_val_every_n_epoch = 1.0, 1
            rank_zero_info(f"Running in `fast_dev_run` mode: will run the requested loop using {n_dev} batch(es). "
                           "Logging and checkpointing is suppressed.")
        arguments.check_loop_arguments(max_epochs, max_steps, check_val_every_n_epoch, accumulate_grad_batches,
                                       gradient_clip_val, gradient_clip_algorithm, reload_dataloaders_every_n_epochs)
        self.max_epochs = max_epochs  # None (not set) until fit() resolves it, as Lightning's fit loop does
        self.min_epochs = min_epochs
        self.max_steps = max_steps
        self.min_steps = min_steps
        self.max_time = max_time
        self.limit_train_batches = 1.0 if limit_train_batches is None else limit_train_batches
        self.limit_val_batches = 1.0 if limit_val_batches is None else limit_val_batches
        self.limit_test_batches = 1.0 if limit_test_batches is None else limit_test_batches
        self.limit_predict_batches = 1.0 if limit_predict_batches is None else limit_predict_batches
        self.overfit_batches = overfit_batches
        if overfit_batches:  # Lightning limits training *and* validation to that many batches
            self.limit_train_batches = overfit_batches
            self.limit_val_batches = overfit_batches
        self.val_check_interval = 1.0 if val_check_interval is None else val_check_interval
        self.check_val_every_n_epoch = check_val_every_n_epoch
        self.num_sanity_val_steps = 2 if num_sanity_val_steps is None else (
            float("inf") if num_sanity_val_steps == -1 else num_sanity_val_steps)
        self.log_every_n_steps = 50 if log_every_n_steps is None else log_every_n_steps
        self.accumulate_grad_batches = accumulate_grad_batches
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = (gradient_clip_algorithm.lower() if isinstance(gradient_clip_algorithm, str)
                                        else gradient_clip_algorithm)
        self.inference_mode = inference_mode
        self.use_distributed_sampler = use_distributed_sampler
        self.sync_batchnorm = sync_batchnorm
        self.reload_dataloaders_every_n_epochs = reload_dataloaders_every_n_epochs
        self.enable_autolog_hparams = enable_autolog_hparams
        self.fused_optimizer = fused_optimizer
        self._detect_anomaly = detect_anomaly
        self.deterministic = deterministic
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=deterministic == "warn")
        if benchmark is not None and torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = benchmark

        # ---- plugins, loggers, callbacks, profiler
        self._init_parts(plugins, async_checkpoint, logger if not n_dev else (False if logger is False else "dummy"),
                         callbacks, profiler, enable_checkpointing, enable_progress_bar, enable_model_summary)
        self._init_run_state()

    def _init_device(self, accelerator: Any, strategy: Any, devices: Any, num_nodes: int,
                     precision: Optional[Union[str, int]]) -> None:
        """The accelerator and strategy, and the precision plugin for their device."""
        self.accelerator, self.strategy = select_strategy(accelerator, strategy, devices, num_nodes)
        self.num_nodes = num_nodes
        self.num_devices = max(1, len(getattr(self.strategy, 'parallel_devices', []) or [None]))
        self.precision = normalize(precision)
        if self.precision == "16-mixed" and self.strategy.root_device.type == "cpu":
            rank_zero_warn(f"You passed `Trainer(accelerator='cpu', precision={precision!r})` but AMP with fp16 is not "
                           "supported on CPU. Using `precision='bf16-mixed'` instead.")  # Lightning does the same
            self.precision = "bf16-mixed"
        self.precision_plugin = _Precision(self.precision, self.strategy.root_device)

    def _init_parts(self, plugins: Any, async_checkpoint: bool, logger: Any, callbacks: Any, profiler: Any,
                    enable_checkpointing: Optional[bool], enable_progress_bar: Optional[bool],
                    enable_model_summary: Optional[bool]) -> None:
        """The checkpoint connector, loggers, callbacks (with the defaults Lightning adds) and the profiler."""
        self._checkpoint_connector = CheckpointConnector(self, plugins, async_checkpoint)
        self.enable_progress_bar = True if enable_progress_bar is None else enable_progress_bar
        self.enable_model_summary = True if enable_model_summary is None else enable_model_summary
        self.enable_checkpointing = True if enable_checkpointing is None else enable_checkpointing
        self.loggers = configuration.configure_loggers(logger, self.default_root_dir)
        self.callbacks: list[Callback] = configuration.configure_callbacks(
            callbacks, checkpointing=self.enable_checkpointing, model_summary=self.enable_model_summary,
            progress_bar=self.enable_progress_bar, max_time=self.max_time)
        from fastlit.profilers import resolve as resolve_profiler

        self.profiler = resolve_profiler(profiler)
        self._profiling = type(self.profiler).__name__ != "PassThroughProfiler"

    def _init_run_state(self) -> None:
        """What a run fills in: the model and data, optimizers, loaders and batch counts, loop state, metrics,
        the hook table. Empty until the first ``fit``/``validate``/``test``/``predict``."""
        self.lightning_module: Optional[LightningModule] = None
        self.datamodule: Optional[LightningDataModule] = None
        self.optimizers: list[torch.optim.Optimizer] = []
        self._lightning_optimizers: list[LightningOptimizer] = []
        self.lr_scheduler_configs: list[LRSchedulerConfig] = []
        self._data = DataConnector(self)  # loaders and batch counts (Lightning's names are properties)
        self._loop = LoopState()  # epoch/step/batch counters and resume position (current_epoch, global_step)
        self._module_zero_grad = False
        self._fit_start_time = 0.0
        self._eval_verbose = True
        self._return_predictions = True
        self._ddp_model: Optional[torch.nn.Module] = None
        self._epoch_outputs: Optional[list[Any]] = None  # only for a 1.x training_epoch_end(outputs)
        self._results: Optional[Results] = None
        self._callback_metrics: dict[str, Any] = {}
        self._logged_metrics: dict[str, Any] = {}
        self._progress_bar_metrics: dict[str, Any] = {}
        self._hooks = HookTable()
        self._call = self._hooks.call  # an attribute, not a method: one call frame per hook dispatch, as before
        self._eval_log_step = 0
        self.fit_loop = _LoopView(self)

    # ================================================================== entry points
    def fit(self, model: LightningModule, train_dataloaders: Any = None, val_dataloaders: Any = None,
            datamodule: Optional[LightningDataModule] = None, ckpt_path: Optional[str] = None,
            weights_only: Optional[bool] = None) -> None:
        """Train ``model``; validation runs as configured. ``ckpt_path`` resumes from a checkpoint."""
        model = arguments.check_module(model, "fit")
        if isinstance(train_dataloaders, LightningDataModule):
            datamodule, train_dataloaders = train_dataloaders, None
        if (train_dataloaders is not None or val_dataloaders is not None) and datamodule is not None:
            raise MisconfigurationException(
                "You cannot pass `train_dataloader` or `val_dataloaders` to `trainer.fit(datamodule=...)`")
        if self.max_epochs is None:  # Lightning's rule: 1000 (with a warning) unless steps or time bound the run
            from fastlit.callbacks.timer import Timer
            from fastlit.utilities.warnings import PossibleUserWarning

            if self.max_steps == -1 and self.max_time is None and not any(isinstance(c, Timer) for c in self.callbacks):
                rank_zero_warn("`max_epochs` was not set. Setting it to 1000 epochs. To train without an epoch "
                               "limit, set `max_epochs=-1`.", category=PossibleUserWarning)
                self.max_epochs = 1000
            else:
                self.max_epochs = -1
        self.state.fn = TrainerFn.FITTING
        self.state.status = TrainerStatus.RUNNING
        self.state.stage = RunningStage.TRAINING
        ckpt_path = ckpt_path if ckpt_path is not None else self._legacy_ckpt_path
        self._data.train_given = train_dataloaders  # estimated_stepping_batches may be read before the loop starts
        run_guarded(self, self._run, model, datamodule, {"train": train_dataloaders, "val": val_dataloaders},
                    ckpt_path, weights_only)

    def validate(self, model: Optional[LightningModule] = None, dataloaders: Any = None,
                 ckpt_path: Optional[str] = None, verbose: bool = True, datamodule: Optional[LightningDataModule] = None,
                 weights_only: Optional[bool] = None) -> list[dict[str, float]]:
        """Run one validation epoch; return one dict of logged metrics per dataloader."""
        return self._evaluate(TrainerFn.VALIDATING, RunningStage.VALIDATING, "val", model, dataloaders,
                              ckpt_path, verbose, datamodule, weights_only)

    def test(self, model: Optional[LightningModule] = None, dataloaders: Any = None, ckpt_path: Optional[str] = None,
             verbose: bool = True, datamodule: Optional[LightningDataModule] = None,
             weights_only: Optional[bool] = None, **kwargs: Any) -> list[dict[str, float]]:
        """Run one test epoch; return one dict of logged metrics per dataloader."""
        dataloaders = legacy.map_eval_kwargs("test", kwargs, dataloaders)
        return self._evaluate(TrainerFn.TESTING, RunningStage.TESTING, "test", model, dataloaders,
                              ckpt_path, verbose, datamodule, weights_only)

    def predict(self, model: Optional[LightningModule] = None, dataloaders: Any = None,
                datamodule: Optional[LightningDataModule] = None, return_predictions: Optional[bool] = None,
                ckpt_path: Optional[str] = None, weights_only: Optional[bool] = None) -> Optional[list[Any]]:
        """Run ``predict_step`` over the dataloader(s) and return the predictions."""
        self._return_predictions = True if return_predictions is None else return_predictions
        return self._evaluate(TrainerFn.PREDICTING, RunningStage.PREDICTING, "predict", model, dataloaders,
                              ckpt_path, False, datamodule, weights_only)

    def _evaluate(self, fn: TrainerFn, stage: RunningStage, key: str, model: Optional[LightningModule],
                  dataloaders: Any, ckpt_path: Optional[str], verbose: bool,
                  datamodule: Optional[LightningDataModule], weights_only: Optional[bool]) -> Any:
        if isinstance(dataloaders, LightningDataModule):
            datamodule, dataloaders = dataloaders, None
        if dataloaders is not None and datamodule is not None:
            raise MisconfigurationException(f"You cannot pass both `trainer.{fn.value}(dataloaders=..., datamodule=...)`")
        if model is None:
            model = self.lightning_module
            if model is None:
                raise MisconfigurationException(
                    f"`model` must be provided to `trainer.{fn.value}()` when it hasn't been passed in a previous run")
            if ckpt_path is None and self.checkpoint_callback is not None and getattr(self.checkpoint_callback, "best_model_path", ""):
                rank_zero_info(f"`.{fn.value}(ckpt_path=None)` was called without a model. The best model of the "
                               "previous `fit` call will be used.")
                ckpt_path = "best"
        model = arguments.check_module(model, fn.value)
        self.state.fn = fn
        self.state.status = TrainerStatus.RUNNING
        self.state.stage = stage
        self._eval_verbose = verbose
        return run_guarded(self, self._run, model, datamodule, {key: dataloaders}, ckpt_path, weights_only)

    # ================================================================== the run (run.py)
    def _run(self, model: LightningModule, datamodule: Optional[LightningDataModule], loaders: dict[str, Any],
             ckpt_path: Optional[str], weights_only: Optional[bool]) -> Any:
        from fastlit.trainer import run

        return run.run(self, model, datamodule, loaders, ckpt_path, weights_only)

    def _report_skipped_steps(self) -> None:
        """After a fit: say how many optimizer steps the fp16 loss scaler skipped (reads the count once)."""
        if self.skipped_steps:
            rank_zero_info(f"{self.skipped_steps} optimizer steps were skipped by the fp16 loss scaler "
                           "(inf/NaN gradients); see `trainer.skipped_steps`.")

    # ================================================================== parts: hooks, checkpoints
    def _build_hooks(self) -> None:
        """Resolve the hook table for this run (and again around the Tuner's trial runs)."""
        fence, poll = self._checkpoint_connector.start_run()
        self._hooks.build(self.callbacks, self.lightning_module, self, self.profiler if self._profiling else None,
                          fence, poll)

    def _call_all_callbacks(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Call ``name`` on every callback (for hooks outside the per-run table: setup, teardown, ...)."""
        for cb in self.callbacks:
            getattr(cb, name)(self, self.lightning_module, *args, **kwargs)

    @property
    def _checkpoint_io(self) -> Any:
        """The ``CheckpointIO`` that writes this Trainer's checkpoints (owned by the checkpoint connector)."""
        return self._checkpoint_connector.io

    @_checkpoint_io.setter
    def _checkpoint_io(self, io: Any) -> None:
        self._checkpoint_connector.io = io

    def save_checkpoint(self, filepath: Union[str, os.PathLike], weights_only: bool = False,
                        storage_options: Optional[Any] = None) -> None:
        """Write a Lightning-format checkpoint of the current state to ``filepath`` (durably)."""
        self._checkpoint_connector.save(filepath, weights_only, storage_options)

    def _save_checkpoint(self, filepath: Union[str, os.PathLike], weights_only: bool = False,
                         storage_options: Optional[Any] = None, deferred: bool = False) -> None:
        """``save_checkpoint`` for ModelCheckpoint: ``deferred`` lets AsyncCheckpointIO copy the parameters and
        optimizer state after it returns (see ``CheckpointConnector.save``)."""
        self._checkpoint_connector.save(filepath, weights_only, storage_options, deferred)

    # ================================================================== misc
    def tune(self, model: LightningModule, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Lightning 1.x's ``trainer.tune``: runs ``auto_scale_batch_size``/``auto_lr_find`` through ``Tuner``."""
        from fastlit.tuner.tuning import _legacy_tune

        return _legacy_tune(self, model, *args, **kwargs)

    def print(self, *args: Any, **kwargs: Any) -> None:
        if self.is_global_zero:
            print(*args, **kwargs)


def _init_arg_names() -> list[str]:
    import inspect

    return [p for p in inspect.signature(Trainer.__init__).parameters if p not in ("self", "kwargs")]


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "Accelerator": "fastlit.accelerators.accelerator",
    "CSVLogger": "fastlit.loggers.csv_logs",
    "Checkpoint": "fastlit.callbacks.checkpoint",
    "EarlyStopping": "fastlit.callbacks.early_stopping",
    "GradClipAlgorithmType": "fastlit.utilities.enums",
    "Logger": "fastlit.loggers.logger",
    "ParallelStrategy": "fastlit.strategies.parallel",
    "PossibleUserWarning": "fastlit.utilities.warnings",
    "Precision": "fastlit.plugins.precision.precision",  # the Trainer's own precision object is _Precision
    "Profiler": "fastlit.profilers.profiler",
    "ProgressBar": "fastlit.callbacks.progress.progress_bar",
    "Strategy": "fastlit.strategies.single_device",
    "TensorBoardLogger": "fastlit.loggers.tensorboard",
    "convert_tensors_to_scalars": "fastlit.utilities.apply_func",
    "download_model_from_registry": "fastlit.utilities.model_registry",
    "is_overridden": "fastlit.utilities.model_helpers",
    "isolate_rng": "fastlit.utilities.seed",
    "log": "@logger",
    "module_available": "fastlit.utilities.imports",
})
