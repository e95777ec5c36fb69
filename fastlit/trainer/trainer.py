"""``Trainer``: Lightning 2.x's arguments and entry points, and the run they share (set-up, loop, teardown).

The rest of the class comes from mixins: properties.py (read-only views, metric dicts), checkpointing.py
(checkpoint I/O, save/restore), configuration.py (loggers, callbacks, hook table), failures.py (the exception
path) and optimization.py (optimizer steps). The loops live in fit_loop.py and eval_loop.py.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Union

import torch

from fastlit.callbacks.callback import Callback
from fastlit.checkpoint import connector as ckpt_connector
from fastlit.core.datamodule import LightningDataModule
from fastlit.core.module import LightningModule
from fastlit.core.optimizer import LightningOptimizer
from fastlit.strategies.select import select_strategy
from fastlit.trainer import data as data_mod
from fastlit.trainer import legacy
from fastlit.trainer.checkpointing import CheckpointingMixin
from fastlit.trainer.configuration import ConfigurationMixin
from fastlit.trainer.failures import FailureMixin
from fastlit.trainer.loop_state import LoopState
from fastlit.trainer.metrics import Results
from fastlit.trainer.optimization import OptimizationMixin
from fastlit.trainer.optimizers import LRSchedulerConfig
from fastlit.trainer.precision import Precision as _Precision, normalize
from fastlit.trainer.properties import PropertiesMixin, _LoopView
from fastlit.trainer.states import RunningStage, TrainerFn, TrainerState, TrainerStatus
from fastlit.utilities.argparse import _defaults_from_env_vars
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import rank_zero_info, rank_zero_warn


class Trainer(PropertiesMixin, CheckpointingMixin, ConfigurationMixin, FailureMixin, OptimizationMixin):
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
        self._skipped_dev: Optional[torch.Tensor] = None  # fp16 steps the loss scaler skipped (on the device)
        self.sanity_checking = False
        self._ckpt_path: Optional[str] = None
        self.default_root_dir = os.fspath(default_root_dir) if default_root_dir is not None else os.getcwd()
        self.barebones = barebones
        if barebones:  # Lightning's conflicts, in its order; each names the argument to drop
            for name, value, off, why in (
                    ("enable_checkpointing", enable_checkpointing, bool(enable_checkpointing), "Checkpointing"),
                    ("logger", logger, logger is not None and logger is not False, "Logging"),
                    ("enable_progress_bar", enable_progress_bar, bool(enable_progress_bar), "The progress bar"),
                    ("log_every_n_steps", log_every_n_steps, log_every_n_steps not in (None, 0), "Logging"),
                    ("enable_model_summary", enable_model_summary, bool(enable_model_summary), "Model summary"),
                    ("num_sanity_val_steps", num_sanity_val_steps, num_sanity_val_steps not in (None, 0),
                     "Sanity checking"),
                    ("fast_dev_run", fast_dev_run, fast_dev_run is not False and fast_dev_run != 0, None),
                    ("detect_anomaly", detect_anomaly, bool(detect_anomaly), "Anomaly detection"),
                    ("profiler", profiler, profiler is not None, "Profiling")):
                if off:
                    reason = ("Development run is not meant for raw speed evaluation" if why is None
                              else f"{why} can impact raw speed")
                    raise ValueError(f"`Trainer(barebones=True, {name}={value!r})` was passed. {reason} so it is "
                                     "disabled in barebones mode; remove the argument or drop `barebones=True`.")
            enable_checkpointing = enable_progress_bar = enable_model_summary = False
            logger = False
            log_every_n_steps = num_sanity_val_steps = 0
            rank_zero_info(
                "You are running in `Trainer(barebones=True)` mode. All features that may impact raw speed have been "
                "disabled to facilitate analyzing the Trainer overhead. Specifically, the following features are "
                "deactivated:\n - Checkpointing: `Trainer(enable_checkpointing=True)`\n - Progress bar: "
                "`Trainer(enable_progress_bar=True)`\n - Model summary: `Trainer(enable_model_summary=True)`\n"
                " - Logging: `Trainer(logger=True)`, `Trainer(log_every_n_steps>0)`, `LightningModule.log(...)`, "
                "`LightningModule.log_dict(...)`\n - Sanity checking: `Trainer(num_sanity_val_steps>0)`\n"
                " - Development run: `Trainer(fast_dev_run=True)`\n - Anomaly detection: "
                "`Trainer(detect_anomaly=True)`\n - Profiling: `Trainer(profiler=...)`")

        # ---- device, strategy, precision
        self.accelerator, self.strategy = select_strategy(accelerator, strategy, devices, num_nodes)
        self.num_nodes = num_nodes
        self.num_devices = max(1, len(getattr(self.strategy, 'parallel_devices', []) or [None]))
        self.precision = normalize(precision)
        if self.precision == "16-mixed" and self.strategy.root_device.type == "cpu":
            rank_zero_warn(f"You passed `Trainer(accelerator='cpu', precision={precision!r})` but AMP with fp16 is not "
                           "supported on CPU. Using `precision='bf16-mixed'` instead.")  # Lightning does the same
            self.precision = "bf16-mixed"
        self.precision_plugin = _Precision(self.precision, self.strategy.root_device)

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
        # Lightning's checks and INFO lines for the batch limits, in its order (only values passed explicitly)
        _check_batch_limit(overfit_batches, "overfit_batches")
        if not n_dev:
            if not overfit_batches:
                _check_batch_limit(limit_train_batches, "limit_train_batches")
                _check_batch_limit(limit_val_batches, "limit_val_batches")
            _check_batch_limit(limit_test_batches, "limit_test_batches")
            _check_batch_limit(limit_predict_batches, "limit_predict_batches")
            if isinstance(val_check_interval, (int, float)):  # (a time interval is parsed elsewhere)
                _check_batch_limit(val_check_interval, "val_check_interval")
        if n_dev:
            limit_train_batches = limit_val_batches = limit_test_batches = limit_predict_batches = n_dev
            max_steps, max_epochs, num_sanity_val_steps = n_dev, 1, 0
            val_check_interval, check_val_every_n_epoch = 1.0, 1
            rank_zero_info(f"Running in `fast_dev_run` mode: will run the requested loop using {n_dev} batch(es). "
                           "Logging and checkpointing is suppressed.")
        if isinstance(max_epochs, int) and max_epochs < -1:  # Lightning's check, with the fix spelled out
            raise MisconfigurationException(f"`max_epochs` must be a non-negative integer or -1. You passed in "
                                            f"{max_epochs}; use -1 for no epoch limit.")
        self.max_epochs = max_epochs  # None (not set) until fit() resolves it, as Lightning's fit loop does
        self.min_epochs = min_epochs
        self.max_steps = max_steps
        self.min_steps = min_steps
        self.max_time = max_time
        if max_steps is None or max_steps < -1:
            raise MisconfigurationException(f"`max_steps` must be a non-negative integer or -1 (infinite steps), got {max_steps}.")
        self.limit_train_batches = 1.0 if limit_train_batches is None else limit_train_batches
        self.limit_val_batches = 1.0 if limit_val_batches is None else limit_val_batches
        self.limit_test_batches = 1.0 if limit_test_batches is None else limit_test_batches
        self.limit_predict_batches = 1.0 if limit_predict_batches is None else limit_predict_batches
        self.overfit_batches = overfit_batches
        if overfit_batches:  # Lightning limits training *and* validation to that many batches
            self.limit_train_batches = overfit_batches
            self.limit_val_batches = overfit_batches
        self.val_check_interval = 1.0 if val_check_interval is None else val_check_interval
        if check_val_every_n_epoch is not None and (not isinstance(check_val_every_n_epoch, int) or check_val_every_n_epoch < 1):
            raise MisconfigurationException(
                f"`check_val_every_n_epoch` should be an integer >= 1 or None, found {check_val_every_n_epoch!r}.")
        self.check_val_every_n_epoch = check_val_every_n_epoch
        self.num_sanity_val_steps = 2 if num_sanity_val_steps is None else (
            float("inf") if num_sanity_val_steps == -1 else num_sanity_val_steps)
        self.log_every_n_steps = 50 if log_every_n_steps is None else log_every_n_steps
        if not isinstance(accumulate_grad_batches, int) or accumulate_grad_batches < 1:
            raise MisconfigurationException(
                f"Gradient accumulation supports only int and dict types: `accumulate_grad_batches` must be an int >= 1, got {accumulate_grad_batches!r}.")
        self.accumulate_grad_batches = accumulate_grad_batches
        if gradient_clip_val is not None and not isinstance(gradient_clip_val, (int, float)):
            raise TypeError(f"`gradient_clip_val` should be an int or a float. Got {gradient_clip_val}.")
        if gradient_clip_algorithm is not None and str(gradient_clip_algorithm).lower() not in ("norm", "value"):
            raise MisconfigurationException(
                f"`gradient_clip_algorithm` {gradient_clip_algorithm} is invalid. Allowed algorithms: ['value', 'norm'].")
        if not isinstance(reload_dataloaders_every_n_epochs, int) or reload_dataloaders_every_n_epochs < 0:
            raise MisconfigurationException(f"`reload_dataloaders_every_n_epochs` should be an int >= 0, got "
                                            f"{reload_dataloaders_every_n_epochs}.")
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
        self._configure_checkpoint_io(plugins, async_checkpoint)  # checkpointing.py
        self.enable_progress_bar = True if enable_progress_bar is None else enable_progress_bar
        self.enable_model_summary = True if enable_model_summary is None else enable_model_summary
        self.enable_checkpointing = True if enable_checkpointing is None else enable_checkpointing
        self._configure_loggers(logger if not n_dev else (False if logger is False else "dummy"))
        self.callbacks: list[Callback] = self._configure_callbacks(callbacks)
        from fastlit.profilers import resolve as resolve_profiler

        self.profiler = resolve_profiler(profiler)
        self._profiling = type(self.profiler).__name__ != "PassThroughProfiler"

        # ---- run state
        self.lightning_module: Optional[LightningModule] = None
        self.datamodule: Optional[LightningDataModule] = None
        self.optimizers: list[torch.optim.Optimizer] = []
        self._lightning_optimizers: list[LightningOptimizer] = []
        self.lr_scheduler_configs: list[LRSchedulerConfig] = []
        self.train_dataloader: Any = None
        self.val_dataloaders: Any = None
        self.test_dataloaders: Any = None
        self.predict_dataloaders: Any = None
        self.num_training_batches: Union[int, float] = float("inf")
        self.num_val_batches: list[Union[int, float]] = []
        self.num_sanity_val_batches: list[Union[int, float]] = []
        self.num_test_batches: list[Union[int, float]] = []
        self.num_predict_batches: list[Union[int, float]] = []
        self.val_check_batch: Union[int, float] = float("inf")
        self._loop = LoopState()  # epoch/step/batch counters and resume position (current_epoch, global_step)
        self._module_backward = self._module_zero_grad = self._clip_hook = self._clip_in_step = False
        self._fit_start_time = 0.0
        self._eval_verbose = True
        self._return_predictions = True
        self._val_loaders: list[Any] = []
        self._val_defined = self._val_ready = False
        self._val_given: Any = None
        self._ddp_model: Optional[torch.nn.Module] = None
        self._epoch_outputs: Optional[list[Any]] = None  # only for a 1.x training_epoch_end(outputs)
        self._results: Optional[Results] = None
        self._callback_metrics: dict[str, Any] = {}
        self._logged_metrics: dict[str, Any] = {}
        self._progress_bar_metrics: dict[str, Any] = {}
        self._hooks: dict[str, tuple] = {}
        self._eval_log_step = 0
        self.fit_loop = _LoopView(self)

    # ================================================================== entry points
    def fit(self, model: LightningModule, train_dataloaders: Any = None, val_dataloaders: Any = None,
            datamodule: Optional[LightningDataModule] = None, ckpt_path: Optional[str] = None,
            weights_only: Optional[bool] = None) -> None:
        """Train ``model``; validation runs as configured. ``ckpt_path`` resumes from a checkpoint."""
        model = _check_module(model, "fit")
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
        self._train_given = train_dataloaders  # estimated_stepping_batches may be read before the loop starts
        self._guarded(self._run, model, datamodule, {"train": train_dataloaders, "val": val_dataloaders},
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
        model = _check_module(model, fn.value)
        self.state.fn = fn
        self.state.status = TrainerStatus.RUNNING
        self.state.stage = stage
        self._eval_verbose = verbose
        return self._guarded(self._run, model, datamodule, {key: dataloaders}, ckpt_path, weights_only)

    # ================================================================== the run
    def _run(self, model: LightningModule, datamodule: Optional[LightningDataModule], loaders: dict[str, Any],
             ckpt_path: Optional[str], weights_only: Optional[bool]) -> Any:
        from fastlit.trainer import eval_loop, fit_loop, signals

        fn = self.state.fn
        self.strategy.launch()  # DDP: start the other local ranks / join the process group
        self._entry_loaders = loaders  # what the entry point was given (the Tuner's trial runs reuse it)
        self.lightning_module = model
        model._trainer = self
        if self._legacy_automatic_optimization is not None:  # 1.x Trainer(automatic_optimization=...)
            model.automatic_optimization = self._legacy_automatic_optimization
        if datamodule is not None:
            self.datamodule = datamodule
            datamodule.trainer = self
        elif fn == TrainerFn.FITTING:
            self.datamodule = None
        self._loop.resuming = False
        if fn == TrainerFn.FITTING:
            _verify_fit_config(model, self.datamodule, loaders.get("train"), loaders.get("val"))
            # known before the setup hooks, as in Lightning (`trainer.enable_validation` in a callback's setup)
            self._val_defined = loaders.get("val") is not None or data_mod._source_has(
                self.datamodule or model, "val_dataloader")
            if not model.automatic_optimization and self.gradient_clip_val:
                raise MisconfigurationException(
                    "Automatic gradient clipping is not supported for manual optimization. Remove "
                    "`Trainer(gradient_clip_val=...)` or switch to automatic optimization.")
        self._attach_model_callbacks(model)
        self._build_hooks()
        ckpt_path = self._select_ckpt_path(ckpt_path)
        self._ckpt_path = ckpt_path

        self.profiler._lightning_module = model
        self.profiler.setup(stage=fn.value, local_rank=None, log_dir=self.log_dir)
        if self.datamodule is not None:
            self.datamodule.prepare_data()
        model.prepare_data()
        stage_name = fn  # a TrainerFn (a str enum: == 'fit' holds), as Lightning passes it
        for lg in self.loggers:  # fix each logger's version dir now, in order (TB+CSV -> version_0, version_1)
            if hasattr(lg, "experiment"):
                _ = lg.experiment
        if self.datamodule is not None:
            self.datamodule.setup(stage=stage_name)
        self._call_all_callbacks("setup", stage=stage_name)
        model._current_fx_name = "setup"
        model.setup(stage=stage_name)
        model.configure_model()
        model._current_fx_name = None

        checkpoint = self._restore_module_and_callbacks(ckpt_path, weights_only)
        self._callback_metrics, self._logged_metrics, self._progress_bar_metrics = {}, {}, {}

        model.to(self.strategy.root_device)
        self.precision_plugin.convert_module(model)
        if fn == TrainerFn.FITTING:
            self._setup_optimizers(model)
            if self.world_size > 1 and self.sync_batchnorm:  # before wrapping, as Lightning does
                model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            self._ddp_model = self.strategy.wrap(model) if self.world_size > 1 else None
            self._call("on_fit_start")
        if self.enable_autolog_hparams and self.loggers:
            from fastlit.loggers.utilities import _log_hyperparams

            _log_hyperparams(self)
        if fn == TrainerFn.FITTING and checkpoint is not None:
            # after on_fit_start, as Lightning: a callback may add param groups there (BaseFinetuning re-adds the
            # groups it unfroze before the checkpoint) that the saved optimizer state then fills
            ckpt_connector.restore_training_state(self, checkpoint)

        try:
            model.zero_grad(set_to_none=True)
            if fn == TrainerFn.FITTING:
                with torch.autograd.set_detect_anomaly(self._detect_anomaly), signals.SignalGuard(self):
                    fit_loop.run(self, loaders.get("train"), loaders.get("val"))
                if self._stop_signal is not None:  # SIGTERM/Ctrl-C: checkpoint, then exit through _guarded
                    signals.finish(self)
                if self._skipped_dev is not None and self.skipped_steps:
                    rank_zero_info(f"{self.skipped_steps} optimizer steps were skipped by the fp16 loss scaler "
                                   "(inf/NaN gradients); see `trainer.skipped_steps`.")
                results = None
            elif fn == TrainerFn.PREDICTING:
                results = eval_loop.run_predict(self, loaders.get("predict"))
            else:
                key = "val" if fn == TrainerFn.VALIDATING else "test"
                results = eval_loop.run_entry(self, key, loaders.get(key))
        finally:
            self._checkpoint_io.teardown()
        for lg in self.loggers:
            lg.finalize("success")
        self.profiler.describe()
        if fn == TrainerFn.FITTING:
            self._call("on_fit_end")
        if self.datamodule is not None:
            self.datamodule.teardown(stage=stage_name)
        self._call_all_callbacks("teardown", stage=stage_name)
        model._current_fx_name = "teardown"
        model.teardown(stage=stage_name)
        model._current_fx_name = None
        self.profiler.teardown(stage=stage_name)
        self.state.status = TrainerStatus.FINISHED
        self.state.stage = None
        return results

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


def _check_batch_limit(value: Optional[Union[int, float]], name: str) -> None:
    """A batch limit passed explicitly: Lightning's INFO line for 1 / 1.0 (an int and a float mean different things
    there), and its error for a value that is neither in [0.0, 1.0] nor a whole number."""
    if value is None:
        return
    if isinstance(value, int) and value == 1:
        what = {"limit_train_batches": "1 batch per epoch will be used.",
                "val_check_interval": "validation will run after every batch."}.get(name, "1 batch will be used.")
        rank_zero_info(f"`Trainer({name}=1)` was configured so {what}")
    elif isinstance(value, float) and value == 1.0:
        what = {"limit_train_batches": "100% of the batches per epoch will be used.",
                "val_check_interval": "validation will run at the end of the training epoch."}.get(
            name, "100% of the batches will be used.")
        rank_zero_info(f"`Trainer({name}=1.0)` was configured so {what}.")
    if not (0 <= value <= 1 or (value > 1 and value % 1.0 == 0)):
        raise MisconfigurationException(
            f"You have passed invalid value {value} for {name}, it has to be in [0.0, 1.0] or an int.")


def _check_module(model: Any, fn: str) -> LightningModule:
    if not isinstance(model, LightningModule):
        raise TypeError(f"`Trainer.{fn}()` requires a `LightningModule`, got: {type(model).__qualname__}")
    return model


def _verify_fit_config(model: LightningModule, datamodule: Any, train_loader: Any, val_loader: Any = None) -> None:
    if not is_overridden("training_step", model, LightningModule):
        raise MisconfigurationException(
            "No `training_step()` method defined. Lightning `Trainer` expects as minimum a `training_step()`, "
            "`train_dataloader()` and `configure_optimizers()` to be defined.")
    has_loader = train_loader is not None or data_mod._source_has(datamodule, "train_dataloader") or \
        data_mod._source_has(model, "train_dataloader")
    if not has_loader:
        raise MisconfigurationException(
            "No `train_dataloader()` method defined. Lightning `Trainer` expects as minimum a `training_step()`, "
            "`train_dataloader()` and `configure_optimizers()` to be defined. Pass `trainer.fit(model, "
            "train_dataloaders=...)` or define `train_dataloader` in your module/datamodule.")
    if not is_overridden("configure_optimizers", model, LightningModule):
        raise MisconfigurationException(
            "No `configure_optimizers()` method defined. Lightning `Trainer` expects as minimum a "
            "`training_step()`, `train_dataloader()` and `configure_optimizers()` to be defined.")
    # Lightning's warnings when only half of the validation setup is there (validation is then skipped)
    has_val_loader = val_loader is not None or data_mod._source_has(datamodule, "val_dataloader") or \
        data_mod._source_has(model, "val_dataloader")
    has_val_step = is_overridden("validation_step", model, LightningModule)
    if has_val_loader and not has_val_step:
        rank_zero_warn("You passed in a `val_dataloader` but have no `validation_step`. Skipping val loop.")
    if has_val_step and not has_val_loader:
        from fastlit.utilities.warnings import PossibleUserWarning

        rank_zero_warn("You defined a `validation_step` but have no `val_dataloader`. Skipping val loop.",
                       category=PossibleUserWarning)


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
    "isolate_rng": "fastlit.utilities.seed",
    "log": "@logger",
    "module_available": "fastlit.utilities.imports",
})
