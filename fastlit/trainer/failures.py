"""What a run does when it ends by an exception: tell callbacks, the module and the loggers, tear down, and
re-raise (under DDP, naming the rank that failed first; for a common torch mistake, with a clearer message)."""
from __future__ import annotations

from typing import Any, Callable

from fastlit.core.module import LightningModule
from fastlit.trainer.states import TrainerStatus
from fastlit.utilities.exceptions import SIGTERMException, _TunerExitException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import rank_zero_info


class FailureMixin:
    """Part of ``Trainer``: the exception path around every entry point's run."""

    def _guarded(self, fn: Callable, *args: Any) -> Any:
        """Run ``fn``; on an exception tell callbacks/loggers, tear down, and re-raise."""
        try:
            return fn(*args)
        except _TunerExitException:  # the Tuner got its answer: end the run quietly, as Lightning does
            stage = self.state.fn.value
            if self.datamodule is not None:
                self.datamodule.teardown(stage=stage)
            self._call_all_callbacks("teardown", stage=stage)
            self.lightning_module.teardown(stage)
            self._checkpoint_io.teardown()
            self.state.status, self.state.stage = TrainerStatus.FINISHED, None
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
                self._interrupt(e)
            finally:
                if main:
                    signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
            from fastlit.trainer.signals import GracefulInterrupt

            if isinstance(e, GracefulInterrupt):  # the checkpoint is written: exit with the message, no traceback
                raise SystemExit(str(e)) from None
            raise SystemExit(1) from None  # as Lightning: after the graceful shutdown, exit with status 1
        except BaseException as e:
            self._interrupt(e)
            if self.world_size > 1 and not isinstance(e, SIGTERMException):  # SIGTERM: every rank agreed to stop
                self._raise_distributed(e)
            from fastlit.trainer.errors import explain

            clear = explain(e, self)  # torch's terse message for a common user mistake -> what to change
            if clear is not None:
                raise clear from e
            raise

    def _raise_distributed(self, exc: BaseException) -> None:
        """Under DDP: tell the other ranks, stop local children, and report the rank that failed first."""
        strategy = self.strategy
        strategy.record_failure(exc)
        other = strategy.failure_of_other_rank(wait_s=2.0 if isinstance(exc, RuntimeError) else 0.0)
        if hasattr(strategy, "kill_children"):
            strategy.kill_children()
        if other is not None and not isinstance(exc, KeyboardInterrupt):
            rank, tb = other
            raise RuntimeError(f"DDP rank {rank} failed, so rank {strategy.global_rank} stopped too. Rank {rank}'s "
                               f"error:\n{tb}") from exc

    def _interrupt(self, exception: BaseException) -> None:
        self.state.status = TrainerStatus.INTERRUPTED
        module = self.lightning_module
        for cb in self.callbacks:
            try:
                cb.on_exception(self, module, exception)
            except Exception:  # the original error is what the user needs to see
                pass
        if module is not None and is_overridden("on_exception", module, LightningModule):
            module.on_exception(exception)
        datamodule = getattr(self, "datamodule", None)
        if datamodule is not None and getattr(datamodule, "on_exception", None) is not None:
            try:
                datamodule.on_exception(exception)
            except Exception:
                pass
        for lg in self.loggers:
            try:
                lg.finalize("failed")
            except Exception:
                pass
        self._checkpoint_io.teardown()
