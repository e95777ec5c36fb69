"""What goes into a checkpoint and how a run is restored from one (Lightning 2.x's keys and layout).

The ``loops`` entry mirrors Lightning's progress counters, so a fastlit checkpoint resumes under Lightning and a
Lightning checkpoint resumes under fastlit.
"""
from __future__ import annotations

import random
import sys
from typing import Any

import torch

import fastlit
from fastlit.core.module import LightningModule
from fastlit.utilities.rank_zero import rank_zero_warn

LIGHTNING_VERSION = "2.6.6"  # the format version we write (what Lightning's loaders check)


def _progress(ready: int, completed: int, started: bool = True, processed: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {"ready": ready, "completed": completed}
    if started:
        d["started"] = ready
    if processed:
        d["processed"] = completed
    return d


def _counts(started: int, processed: int, completed: int) -> dict[str, int]:
    return {"ready": started, "started": started, "processed": processed, "completed": completed}


def _loops_state(t: Any) -> dict[str, Any]:
    # Lightning's counters at the moment of saving: an epoch is "started" once it runs and "processed" in its
    # epoch-end hooks; a batch is "processed" but not yet "completed" during on_train_batch_end.
    in_epoch_end = bool(getattr(t, "_epoch_end_phase", False)) and t.training
    epochs_processed = t.current_epoch + (1 if in_epoch_end else 0)
    epochs_started = t.current_epoch + (1 if getattr(t, "_in_train_epoch", False) else 0)
    batches = t._epoch_batches_done
    pending = 1 if getattr(t, "_in_batch_end", False) else 0
    total_batches = t._total_batches_done
    steps = t.global_step
    epoch_steps = steps - getattr(t, "_epoch_start_step", 0) if getattr(t, "_in_train_epoch", False) else 0
    eval_zero = {"batch_progress": {"current": _progress(0, 0), "total": _progress(0, 0), "is_last_batch": False},
                 "state_dict": {}}
    return {
        "fit_loop": {
            "state_dict": {},
            "epoch_loop.state_dict": {"_batches_that_stepped": t._batches_that_stepped},
            "epoch_loop.batch_progress": {
                "total": _counts(total_batches, total_batches, total_batches - pending),
                "current": _counts(batches, batches, batches - pending),
                "is_last_batch": bool(t._is_last_batch),
            },
            "epoch_loop.scheduler_progress": {"total": {"ready": 0, "completed": 0},
                                              "current": {"ready": 0, "completed": 0}},
            "epoch_loop.automatic_optimization.state_dict": {},
            "epoch_loop.automatic_optimization.optim_progress": {"optimizer": {
                "step": {"total": {"ready": steps, "completed": steps},
                         "current": {"ready": epoch_steps, "completed": epoch_steps}},
                "zero_grad": {"total": _progress(steps, steps, processed=False),
                              "current": _progress(epoch_steps, epoch_steps, processed=False)}}},
            "epoch_loop.manual_optimization.state_dict": {},
            "epoch_loop.manual_optimization.optim_step_progress": {
                "total": {"ready": 0, "completed": 0}, "current": {"ready": 0, "completed": 0}},
            "epoch_loop.val_loop.state_dict": {},
            "epoch_loop.val_loop.batch_progress": eval_zero["batch_progress"],
            "epoch_progress": {
                "total": _counts(epochs_started, epochs_processed, t.current_epoch),
                "current": _counts(epochs_started, epochs_processed, t.current_epoch),
            },
        },
        "validate_loop": eval_zero, "test_loop": eval_zero, "predict_loop": {
            "batch_progress": {"current": _progress(0, 0), "total": _progress(0, 0)}, "state_dict": {}},
    }


def dump_checkpoint(t: Any, weights_only: bool = False) -> dict[str, Any]:
    """The checkpoint dict for the trainer's current state."""
    module: LightningModule = t.lightning_module
    checkpoint: dict[str, Any] = {
        "epoch": t.current_epoch,
        "global_step": t.global_step,
        "pytorch-lightning_version": LIGHTNING_VERSION,
        "fastlit_version": fastlit.__version__,
        "state_dict": module.state_dict(),
        "loops": _loops_state(t),
    }
    if not weights_only:
        checkpoint["callbacks"] = {cb.state_key: cb.state_dict() for cb in t.callbacks if cb.state_dict()}
        checkpoint["optimizer_states"] = [o.state_dict() for o in t.optimizers]
        checkpoint["lr_schedulers"] = [c.scheduler.state_dict() for c in t.lr_scheduler_configs]
        if getattr(t, "_in_train_epoch", False) and not getattr(t, "_epoch_end_phase", False) \
                and not t._is_last_batch and getattr(t, "_epoch_rng", None) is not None:
            # mid-epoch only (epoch-end checkpoints keep Lightning's exact key set): exact resume's shuffle order
            checkpoint["fastlit_resume_rng"] = _rng_state(t._epoch_rng)
        precision_state = t.precision_plugin.state_dict()
        if precision_state:
            checkpoint["MixedPrecision"] = precision_state  # Lightning's key for the GradScaler state
    if getattr(module, "_hparams_name", None) is not None or module.hparams:
        checkpoint["hparams_name"] = getattr(module, "_hparams_name", None) or "kwargs"
        checkpoint["hyper_parameters"] = dict(module.hparams)
    dm = t.datamodule
    if dm is not None:
        if dm.hparams:
            checkpoint["datamodule_hparams_name"] = getattr(dm, "_hparams_name", None) or "kwargs"
            checkpoint["datamodule_hyper_parameters"] = dict(dm.hparams)
        dm_state = dm.state_dict()
        if dm_state:
            checkpoint[type(dm).__qualname__] = dm_state
        dm.on_save_checkpoint(checkpoint)
    if not weights_only:
        for cb in t.callbacks:
            cb.on_save_checkpoint(t, module, checkpoint)
    module.on_save_checkpoint(checkpoint)
    return checkpoint


def restore_module_and_callbacks(t: Any, checkpoint: dict[str, Any]) -> None:
    """Load weights (calling ``on_load_checkpoint`` first) and each callback's state."""
    module: LightningModule = t.lightning_module
    if "state_dict" not in checkpoint:
        raise KeyError(f"The checkpoint {t.ckpt_path!r} has no 'state_dict'; it is not a Lightning/fastlit checkpoint.")
    dm = t.datamodule
    if dm is not None:
        if type(dm).__qualname__ in checkpoint:
            dm.load_state_dict(checkpoint[type(dm).__qualname__])
        dm.on_load_checkpoint(checkpoint)
    module.on_load_checkpoint(checkpoint)
    load_state_dict(module, checkpoint["state_dict"], strict=module.strict_loading, source=t.ckpt_path)
    states = checkpoint.get("callbacks") or {}
    for cb in t.callbacks:
        cb.on_load_checkpoint(t, module, checkpoint)
        state = states.get(cb.state_key, states.get(cb._legacy_state_key))
        if state:
            cb.load_state_dict(state)


def restore_training_state(t: Any, checkpoint: dict[str, Any]) -> None:
    """Restore optimizers, schedulers, the loss scaler and the loop counters."""
    opt_states = checkpoint.get("optimizer_states")
    if opt_states is None:
        raise KeyError(f"Trying to restore optimizer state but checkpoint {t.ckpt_path!r} contains only the model. "
                       "This is probably due to `ModelCheckpoint.save_weights_only` being set to `True`.")
    if len(opt_states) != len(t.optimizers):
        raise ValueError(f"The checkpoint {t.ckpt_path!r} has {len(opt_states)} optimizer state(s) but "
                         f"`configure_optimizers` returned {len(t.optimizers)} optimizer(s).")
    for opt, state in zip(t.optimizers, opt_states):
        opt.load_state_dict(state)
    for cfg, state in zip(t.lr_scheduler_configs, checkpoint.get("lr_schedulers") or []):
        cfg.scheduler.load_state_dict(state)
    if "MixedPrecision" in checkpoint:
        t.precision_plugin.load_state_dict(checkpoint["MixedPrecision"])
    t.global_step = int(checkpoint.get("global_step", 0))
    fit = (checkpoint.get("loops") or {}).get("fit_loop")
    if fit is None:
        t.current_epoch = int(checkpoint.get("epoch", 0)) + 1
        t._batches_that_stepped = t.global_step
        return
    ep = fit["epoch_progress"]["current"]
    bp = fit["epoch_loop.batch_progress"]
    t._batches_that_stepped = int(fit["epoch_loop.state_dict"].get("_batches_that_stepped", t.global_step))
    # saved in on_train_batch_end, the batch is "processed" but not "completed", and its optimizer step is not
    # yet counted in _batches_that_stepped: Lightning finishes both on restart (unless still accumulating)
    done = int(bp["current"].get("processed", bp["current"]["completed"]))
    total_done = int(bp["total"].get("processed", bp["total"]["completed"]))
    if int(bp["total"]["completed"]) == total_done - 1 and (done % t.accumulate_grad_batches == 0 or bp.get("is_last_batch")):
        t._batches_that_stepped += 1
    t._total_batches_done = total_done
    if ep["processed"] > ep["completed"] or bp.get("is_last_batch"):
        # saved at (or after) the end of an epoch: continue with the next one
        t.current_epoch = int(ep["processed"]) if ep["processed"] > ep["completed"] else int(ep["completed"]) + 1
    else:
        t.current_epoch = int(ep["completed"])
        t._resume_skip_batches = done
        t._resume_rng = checkpoint.get("fastlit_resume_rng")
        if t._resume_skip_batches:
            rank_zero_warn("Resuming from a mid-epoch checkpoint: the first "
                           f"{t._resume_skip_batches} batches of epoch {t.current_epoch} are skipped.")
    t._resuming = True


def _rng_state(epoch_rng: torch.Tensor) -> dict[str, Any]:
    """The torch RNG at the epoch's ``iter(loader)`` (its shuffle order) and every RNG now (plain types only, so
    weights-only loading reads them)."""
    state: dict[str, Any] = {"epoch_torch_rng": epoch_rng, "torch_rng": torch.get_rng_state(),
                             "python_rng": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    # numpy's global RandomState, if anyone imported numpy (if not, nobody drew from it; fastlit never imports it)
    np = sys.modules.get("numpy")
    if np is not None:
        name, keys, pos, has_gauss, cached_gauss = np.random.get_state(legacy=True)
        state["numpy_rng"] = (str(name), torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                              float(cached_gauss))
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if "numpy_rng" in state:
        try:
            import numpy as np
        except ImportError:  # saved where numpy was in use, resumed where it is not installed: nothing draws from it
            return
        name, keys, pos, has_gauss, cached_gauss = state["numpy_rng"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gauss))


def load_state_dict(module: torch.nn.Module, state_dict: dict[str, Any], strict: bool, source: Any) -> None:
    """``module.load_state_dict`` with an error that lists missing/unexpected keys and names the file."""
    try:
        module.load_state_dict(state_dict, strict=strict)
    except RuntimeError as e:
        raise RuntimeError(
            f"Error(s) loading the checkpoint {source!r} into {type(module).__name__}: {e}\nThe checkpoint was "
            "saved from a model with different parameters. Build the model with the same architecture and "
            "hyperparameters as when it was saved, or load a subset with `strict=False`.") from None
