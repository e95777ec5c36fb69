"""What a run does when it ends by an exception: tell callbacks, the module and the loggers, tear down, and
re-raise (under DDP, naming the rank that failed first; for a common torch mistake, with a clearer message).

Checking the loss before every backward would cost the hot path a little on every step; instead, when a run
fails, ``explain`` recognises torch's terse messages and returns an error of the same type that says what went
wrong in the user's terms and how to fix it (the original stays attached as ``__cause__``). ``finite_checked``
is the opt-in per-step check (``Trainer(detect_anomaly=True)``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from fastlit.core.module import LightningModule
from fastlit.trainer.states import TrainerStatus
from fastlit.utilities.exceptions import SIGTERMException, _TunerExitException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import rank_zero_info

if TYPE_CHECKING:
    from fastlit.trainer.trainer import Trainer


def run_guarded(trainer: "Trainer", fn: Callable, *args: Any) -> Any:
    """Run ``fn(*args)`` for ``trainer``; on an exception tell callbacks/loggers, tear down, and
    re-raise."""
    try:
        return fn(*args)
    except _TunerExitException:  # the Tuner got its answer: end the run quietly, as Lightning does
        stage = trainer.state.fn.value
        if trainer.datamodule is not None:
            trainer.datamodule.teardown(stage=stage)
        trainer._call_all_callbacks("teardown", stage=stage)
        trainer.lightning_module.teardown(stage)
        trainer._checkpoint_connector.teardown()
        trainer.state.status, trainer.state.stage = TrainerStatus.FINISHED, None
        return None
    except KeyboardInterrupt as e:
        rank_zero_info("\nDetected KeyboardInterrupt, attempting graceful shutdown ...")
        import signal
        import threading

        # more Ctrl-C presses must not cut the shutdown short (Lightning ignores them from here on; we
        # restore the handler before exiting)
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            _interrupt(trainer, e)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
        from fastlit.trainer.signals import GracefulInterrupt

        if isinstance(e, GracefulInterrupt):  # the checkpoint is written: exit with the message, no traceback
            raise SystemExit(str(e)) from None
        raise SystemExit(1) from None  # as Lightning: after the graceful shutdown, exit with status 1
    except BaseException as e:
        _interrupt(trainer, e)
        if trainer.world_size > 1 and not isinstance(e, SIGTERMException):  # SIGTERM: every rank agreed to stop
            _raise_distributed(trainer, e)
        clear = explain(e, trainer)  # torch's terse message for a common user mistake -> what to change
        if clear is not None:
            raise clear from e
        raise


def _raise_distributed(trainer: "Trainer", exc: BaseException) -> None:
    """Under DDP: tell the other ranks, stop local children, and report the rank that failed first."""
    strategy = trainer.strategy
    strategy.record_failure(exc)
    other = strategy.failure_of_other_rank(wait_s=2.0 if isinstance(exc, RuntimeError) else 0.0)
    if hasattr(strategy, "kill_children"):
        strategy.kill_children()
    if other is not None and not isinstance(exc, KeyboardInterrupt):
        rank, tb = other
        raise RuntimeError(f"DDP rank {rank} failed, so rank {strategy.global_rank} stopped too. Rank {rank}'s "
                           f"error:\n{tb}") from exc


def _interrupt(trainer: "Trainer", exception: BaseException) -> None:
    trainer.state.status = TrainerStatus.INTERRUPTED
    module = trainer.lightning_module
    for cb in trainer.callbacks:
        try:
            cb.on_exception(trainer, module, exception)
        except Exception:  # the original error is what the user needs to see
            pass
    if module is not None and is_overridden("on_exception", module, LightningModule):
        module.on_exception(exception)
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is not None and getattr(datamodule, "on_exception", None) is not None:
        try:
            datamodule.on_exception(exception)
        except Exception:
            pass
    for lg in trainer.loggers:
        try:
            lg.finalize("failed")
        except Exception:
            pass
    trainer._checkpoint_connector.teardown()


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
            batch_idx = args[0] if args else t._loop.epoch_batches_done
            raise RuntimeError(
                f"The loss is {loss.detach().flatten()[:4].tolist()} (not finite) at epoch {t.current_epoch}, "
                f"global step {t.global_step}, batch_idx={batch_idx}. Check the inputs of that batch and the "
                "learning rate (a diverging run), or clip gradients with `Trainer(gradient_clip_val=...)`.")
        return out

    return checked
