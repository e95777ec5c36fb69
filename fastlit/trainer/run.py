"""The run every entry point (fit, validate, test, predict) shares: attach the model and data, set up (hooks,
checkpoint restore, optimizers and the precision plugin), run the loop, tear down, in Lightning's hook order."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import torch

from fastlit.checkpoint import connector as ckpt_connector
from fastlit.core.datamodule import LightningDataModule
from fastlit.core.module import LightningModule
from fastlit.trainer import arguments, configuration
from fastlit.trainer.optimizers import setup_optimizers
from fastlit.trainer.states import TrainerFn, TrainerStatus
from fastlit.utilities.exceptions import MisconfigurationException

if TYPE_CHECKING:
    from fastlit.trainer.trainer import Trainer


def run(t: "Trainer", model: LightningModule, datamodule: Optional[LightningDataModule], loaders: dict[str, Any],
        ckpt_path: Optional[str], weights_only: Optional[bool]) -> Any:
    """One entry point's run, from ``strategy.launch()`` to the module's ``teardown``; returns the loop's results."""
    fn = t.state.fn
    t.strategy.launch()  # DDP: start the other local ranks / join the process group
    _attach(t, model, datamodule, loaders)
    t.callbacks = configuration.with_model_callbacks(t.callbacks, model)
    t._build_hooks()
    ckpt_path = t._checkpoint_connector.select_path(ckpt_path)
    t._ckpt_path = ckpt_path
    _setup(t, model, fn)
    checkpoint = t._checkpoint_connector.restore_module_and_callbacks(ckpt_path, weights_only)
    t._callback_metrics, t._logged_metrics, t._progress_bar_metrics = {}, {}, {}
    model.to(t.strategy.root_device)
    t.precision_plugin.convert_module(model)
    if fn == TrainerFn.FITTING:
        _setup_fit(t, model)
    if t.enable_autolog_hparams and t.loggers:
        from fastlit.loggers.utilities import _log_hyperparams

        _log_hyperparams(t)
    if fn == TrainerFn.FITTING and checkpoint is not None:
        # after on_fit_start, as Lightning: a callback may add param groups there (BaseFinetuning re-adds the
        # groups it unfroze before the checkpoint) that the saved optimizer state then fills
        ckpt_connector.restore_training_state(t, checkpoint)
    try:
        results = _loop(t, model, fn, loaders)
    finally:
        t._checkpoint_connector.teardown()
    _teardown(t, model, fn)
    return results


def _attach(t: "Trainer", model: LightningModule, datamodule: Optional[LightningDataModule],
            loaders: dict[str, Any]) -> None:
    fn = t.state.fn
    t.lightning_module = model
    model._trainer = t
    if t._legacy_automatic_optimization is not None:  # 1.x Trainer(automatic_optimization=...)
        model.automatic_optimization = t._legacy_automatic_optimization
    if datamodule is not None:
        t.datamodule = datamodule
        datamodule.trainer = t
    elif fn == TrainerFn.FITTING:
        t.datamodule = None
    t._loop.resuming = False
    t._data.attach(loaders, fitting=fn == TrainerFn.FITTING)
    if fn == TrainerFn.FITTING:
        arguments.verify_fit_config(model, t.datamodule, loaders.get("train"), loaders.get("val"))
        if not model.automatic_optimization and t.gradient_clip_val:
            raise MisconfigurationException(
                "Automatic gradient clipping is not supported for manual optimization. Remove "
                "`Trainer(gradient_clip_val=...)` or switch to automatic optimization.")


def _setup(t: "Trainer", model: LightningModule, fn: TrainerFn) -> None:
    """The profiler, prepare_data, the loggers' version directories, and every ``setup`` hook."""
    t.profiler._lightning_module = model
    t.profiler.setup(stage=fn.value, local_rank=None, log_dir=t.log_dir)
    if t.datamodule is not None:
        t.datamodule.prepare_data()
    model.prepare_data()
    for lg in t.loggers:  # fix each logger's version dir now, in order (TB+CSV -> version_0, version_1)
        if hasattr(lg, "experiment"):
            _ = lg.experiment
    if t.datamodule is not None:
        t.datamodule.setup(stage=fn)  # a TrainerFn (a str enum: == 'fit' holds), as Lightning passes it
    t._call_all_callbacks("setup", stage=fn)
    model._current_fx_name = "setup"
    model.setup(stage=fn)
    model.configure_model()
    model._current_fx_name = None


def _setup_fit(t: "Trainer", model: LightningModule) -> None:
    """Optimizers (configure_optimizers, fused swap), the precision plugin's wiring, DDP, ``on_fit_start``."""
    t.optimizers, t.lr_scheduler_configs, t._lightning_optimizers = setup_optimizers(model, t.fused_optimizer, t)
    t.precision_plugin.connect(model, t._hooks, t.optimizers, t.gradient_clip_val, t.gradient_clip_algorithm,
                               t.profiler if t._profiling else None)
    if t.world_size > 1 and t.sync_batchnorm:  # before wrapping, as Lightning does
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    t._ddp_model = t.strategy.wrap(model) if t.world_size > 1 else None
    t._call("on_fit_start")


def _loop(t: "Trainer", model: LightningModule, fn: TrainerFn, loaders: dict[str, Any]) -> Any:
    from fastlit.trainer import eval_loop, fit_loop, signals

    model.zero_grad(set_to_none=True)
    if fn == TrainerFn.FITTING:
        with torch.autograd.set_detect_anomaly(t._detect_anomaly), signals.SignalGuard(t):
            fit_loop.run(t, loaders.get("train"), loaders.get("val"))
        if t._stop_signal is not None:  # SIGTERM/Ctrl-C: checkpoint, then exit through run_guarded
            signals.finish(t)
        t._report_skipped_steps()
        return None
    if fn == TrainerFn.PREDICTING:
        return eval_loop.run_predict(t, loaders.get("predict"))
    key = "val" if fn == TrainerFn.VALIDATING else "test"
    return eval_loop.run_entry(t, key, loaders.get(key))


def _teardown(t: "Trainer", model: LightningModule, fn: TrainerFn) -> None:
    for lg in t.loggers:
        lg.finalize("success")
    t.profiler.describe()
    if fn == TrainerFn.FITTING:
        t._call("on_fit_end")
    if t.datamodule is not None:
        t.datamodule.teardown(stage=fn)
    t._call_all_callbacks("teardown", stage=fn)
    model._current_fx_name = "teardown"
    model.teardown(stage=fn)
    model._current_fx_name = None
    t.profiler.teardown(stage=fn)
    t.state.status = TrainerStatus.FINISHED
    t.state.stage = None
