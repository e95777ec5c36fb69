"""What goes into a checkpoint and how a run is restored from one (Lightning 2.x's keys and layout).

The ``loops`` entry is the trainer's ``LoopState`` in Lightning's progress-counter layout, so a fastlit checkpoint
resumes under Lightning and a Lightning checkpoint resumes under fastlit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import fastlit
from fastlit.__about__ import LIGHTNING_VERSION
from fastlit.checkpoint.loading import load_state_dict

if TYPE_CHECKING:
    from fastlit.core.module import LightningModule


def dump_checkpoint(t: Any, weights_only: bool = False) -> dict[str, Any]:
    """The checkpoint dict for the trainer's current state."""
    module: LightningModule = t.lightning_module
    loop = t._loop
    checkpoint: dict[str, Any] = {
        "epoch": loop.current_epoch,
        "global_step": loop.global_step,
        "pytorch-lightning_version": LIGHTNING_VERSION,
        "fastlit_version": fastlit.__version__,
        "state_dict": module.state_dict(),
        "loops": loop.state_dict(training=t.training),
    }
    if not weights_only:
        checkpoint["callbacks"] = {cb.state_key: cb.state_dict() for cb in t.callbacks if cb.state_dict()}
        checkpoint["optimizer_states"] = [o.state_dict() for o in t.optimizers]
        checkpoint["lr_schedulers"] = [c.scheduler.state_dict() for c in t.lr_scheduler_configs]
        resume_rng = loop.rng_state()  # mid-epoch only: exact resume's shuffle order
        if resume_rng is not None:
            checkpoint["fastlit_resume_rng"] = resume_rng
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
    loop = t._loop
    global_step = int(checkpoint.get("global_step", 0))
    loops = checkpoint.get("loops") or {}
    if loops.get("fit_loop") is None:  # no loop counters: continue after the checkpoint's epoch
        loop.global_step = global_step
        loop.current_epoch = int(checkpoint.get("epoch", 0)) + 1
        loop.batches_that_stepped = global_step
        return
    loop.load_state_dict(loops, global_step, t.accumulate_grad_batches, checkpoint.get("fastlit_resume_rng"))
