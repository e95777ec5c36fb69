"""Checks of ``Trainer`` arguments and of what an entry point is given, with Lightning's messages and in its order
(so the first problem reported is the one Lightning reports)."""
from __future__ import annotations

from typing import Any, Optional, Union

from fastlit.core.module import LightningModule
from fastlit.trainer import data as data_mod
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import rank_zero_info, rank_zero_warn


def check_barebones(*, enable_checkpointing: Any, logger: Any, enable_progress_bar: Any, log_every_n_steps: Any,
                    enable_model_summary: Any, num_sanity_val_steps: Any, fast_dev_run: Any, detect_anomaly: Any,
                    profiler: Any) -> None:
    """``Trainer(barebones=True)``: Lightning's conflicts, in its order (each names the argument to drop), then
    its INFO line listing what barebones mode turns off."""
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
    rank_zero_info(
        "You are running in `Trainer(barebones=True)` mode. All features that may impact raw speed have been "
        "disabled to facilitate analyzing the Trainer overhead. Specifically, the following features are "
        "deactivated:\n - Checkpointing: `Trainer(enable_checkpointing=True)`\n - Progress bar: "
        "`Trainer(enable_progress_bar=True)`\n - Model summary: `Trainer(enable_model_summary=True)`\n"
        " - Logging: `Trainer(logger=True)`, `Trainer(log_every_n_steps>0)`, `LightningModule.log(...)`, "
        "`LightningModule.log_dict(...)`\n - Sanity checking: `Trainer(num_sanity_val_steps>0)`\n"
        " - Development run: `Trainer(fast_dev_run=True)`\n - Anomaly detection: "
        "`Trainer(detect_anomaly=True)`\n - Profiling: `Trainer(profiler=...)`")


def check_batch_limits(n_dev: int, overfit_batches: Any, limit_train_batches: Any, limit_val_batches: Any,
                       limit_test_batches: Any, limit_predict_batches: Any, val_check_interval: Any) -> None:
    """Lightning's checks and INFO lines for the batch limits, in its order (only values passed explicitly;
    ``fast_dev_run`` (``n_dev``) replaces them all, ``overfit_batches`` the train/val ones)."""
    _check_batch_limit(overfit_batches, "overfit_batches")
    if not n_dev:
        if not overfit_batches:
            _check_batch_limit(limit_train_batches, "limit_train_batches")
            _check_batch_limit(limit_val_batches, "limit_val_batches")
        _check_batch_limit(limit_test_batches, "limit_test_batches")
        _check_batch_limit(limit_predict_batches, "limit_predict_batches")
        if isinstance(val_check_interval, (int, float)):  # (a time interval is parsed elsewhere)
            _check_batch_limit(val_check_interval, "val_check_interval")


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


def as_batch_count(value: Any) -> Any:
    """Lightning's reading of a checked batch limit: a whole-number float above 1 (``2.0``) is that many batches
    (``2``); fractions in [0.0, 1.0], ints, None and time intervals pass through."""
    if isinstance(value, float) and value > 1 and value % 1.0 == 0:
        return int(value)
    return value


def check_loop_arguments(max_epochs: Any, max_steps: Any, check_val_every_n_epoch: Any,
                         accumulate_grad_batches: Any, gradient_clip_val: Any, gradient_clip_algorithm: Any,
                         reload_dataloaders_every_n_epochs: Any) -> None:
    """Lightning's type/range checks of the loop arguments, in its order (the first failing one raises)."""
    if isinstance(max_epochs, int) and max_epochs < -1:  # Lightning's check, with the fix spelled out
        raise MisconfigurationException(f"`max_epochs` must be a non-negative integer or -1. You passed in "
                                        f"{max_epochs}; use -1 for no epoch limit.")
    if max_steps is None or max_steps < -1:
        raise MisconfigurationException(f"`max_steps` must be a non-negative integer or -1 (infinite steps), got {max_steps}.")
    if check_val_every_n_epoch is not None and (not isinstance(check_val_every_n_epoch, int) or check_val_every_n_epoch < 1):
        raise MisconfigurationException(
            f"`check_val_every_n_epoch` should be an integer >= 1 or None, found {check_val_every_n_epoch!r}.")
    if not isinstance(accumulate_grad_batches, int) or accumulate_grad_batches < 1:
        raise MisconfigurationException(
            f"Gradient accumulation supports only int and dict types: `accumulate_grad_batches` must be an int >= 1, got {accumulate_grad_batches!r}.")
    if gradient_clip_val is not None and not isinstance(gradient_clip_val, (int, float)):
        raise TypeError(f"`gradient_clip_val` should be an int or a float. Got {gradient_clip_val}.")
    if gradient_clip_algorithm is not None and str(gradient_clip_algorithm).lower() not in ("norm", "value"):
        raise MisconfigurationException(
            f"`gradient_clip_algorithm` {gradient_clip_algorithm} is invalid. Allowed algorithms: ['value', 'norm'].")
    if not isinstance(reload_dataloaders_every_n_epochs, int) or reload_dataloaders_every_n_epochs < 0:
        raise MisconfigurationException(f"`reload_dataloaders_every_n_epochs` should be an int >= 0, got "
                                        f"{reload_dataloaders_every_n_epochs}.")


def check_module(model: Any, fn: str) -> LightningModule:
    """``model`` if it is a LightningModule (what every entry point takes), else a TypeError."""
    if not isinstance(model, LightningModule):
        raise TypeError(f"`Trainer.{fn}()` requires a `LightningModule`, got: {type(model).__qualname__}")
    return model


def missing_method(name: str, fix: str = "") -> MisconfigurationException:
    """Lightning's error for a module without one of the three methods a fit needs."""
    return MisconfigurationException(
        f"No `{name}()` method defined. Lightning `Trainer` expects as minimum a `training_step()`, "
        f"`train_dataloader()` and `configure_optimizers()` to be defined.{fix}")


def verify_fit_config(model: LightningModule, datamodule: Any, train_loader: Any, val_loader: Any = None) -> None:
    """What a fit needs (training_step, a train loader, configure_optimizers); Lightning's warnings for half a
    validation set-up."""
    if not is_overridden("training_step", model, LightningModule):
        raise missing_method("training_step")
    has_loader = train_loader is not None or data_mod._source_has(datamodule, "train_dataloader") or \
        data_mod._source_has(model, "train_dataloader")
    if not has_loader:
        raise missing_method("train_dataloader", " Pass `trainer.fit(model, train_dataloaders=...)` or define "
                                                 "`train_dataloader` in your module/datamodule.")
    if not is_overridden("configure_optimizers", model, LightningModule):
        raise missing_method("configure_optimizers")
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
