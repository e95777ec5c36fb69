"""Clearer messages for torch errors a user's ``training_step`` commonly triggers.

Checking the loss before every backward would cost the hot path a little on every step; instead, when a run
fails, ``explain`` recognises torch's terse messages and returns an error of the same type that says what
went wrong in the user's terms and how to fix it (the original stays attached as ``__cause__``).
"""
from __future__ import annotations

from typing import Any, Optional

_KNOWN = (
    ("grad can be implicitly created only for scalar outputs",
     "`training_step` returned a loss that is not a scalar, so backward() cannot start from it. Return one "
     "number per step, e.g. `loss.mean()` or `loss.sum()`."),
    ("does not require grad and does not have a grad_fn",
     "`training_step` returned a loss that is not connected to the model's parameters (no grad_fn): it was "
     "computed under `torch.no_grad()`, detached, built with `torch.tensor(...)`/`.item()`, or the parameters "
     "are frozen. Compute the loss from the model's outputs with gradients enabled."),
    ("is not on the expected device",
     "a tensor in the step is on a different device than the model. Create new tensors on `self.device` "
     "(e.g. `torch.zeros(..., device=self.device)`) or register them as buffers so the Trainer moves them."),
    ("Expected all tensors to be on the same device",
     "a tensor in the step is on a different device than the model. Create new tensors on `self.device` "
     "(e.g. `torch.zeros(..., device=self.device)`) or register them as buffers so the Trainer moves them."),
)


def explain(exc: BaseException, trainer: Any) -> Optional[BaseException]:
    """A clearer error of the same type for a recognised torch error raised during a run, else None."""
    if type(exc) is not RuntimeError:
        return None
    text = str(exc)
    for needle, hint in _KNOWN:
        if needle in text:
            where = f" (epoch {trainer.current_epoch}, global step {trainer.global_step})" if trainer else ""
            return RuntimeError(f"{hint}{where}\nOriginal error: {text}")
    return None


def finite_checked(t: Any, step: Any) -> Any:
    """``training_step`` wrapped to fail on a NaN/inf loss, naming the step and batch index.

    Only used with ``Trainer(detect_anomaly=True)``: reading the loss's value syncs with the device on every
    step, which a normal run must not pay for.
    """
    from torch import Tensor

    def checked(batch: Any, *args: Any, **kwargs: Any) -> Any:
        out = step(batch, *args, **kwargs)
        loss = out if isinstance(out, Tensor) else out.get("loss") if isinstance(out, dict) else None
        if isinstance(loss, Tensor) and loss.is_floating_point() and not bool(loss.isfinite().all()):
            # the loop passes batch_idx only to a training_step that takes it; otherwise count from the trainer
            batch_idx = args[0] if args else t._epoch_batches_done
            raise RuntimeError(
                f"The loss is {loss.detach().flatten()[:4].tolist()} (not finite) at epoch {t.current_epoch}, "
                f"global step {t.global_step}, batch_idx={batch_idx}. Check the inputs of that batch and the "
                "learning rate (a diverging run), or clip gradients with `Trainer(gradient_clip_val=...)`.")
        return out

    return checked


def note_scaler_step(t: Any, scaler: Any, optimizer: Any) -> None:
    """Between ``scaler.step`` and ``scaler.update``: add this step's inf/NaN flag to the trainer's count.

    The flag stays on the device (a tiny add, no host sync); ``Trainer.skipped_steps`` reads it when asked.
    """
    found = getattr(scaler, "_per_optimizer_states", {}).get(id(optimizer), {}).get("found_inf_per_device")
    if found:
        flag = sum(found.values())
        t._skipped_dev = flag if t._skipped_dev is None else t._skipped_dev + flag
