"""Graceful stop on SIGTERM (what schedulers send before preemption) and Ctrl-C (SIGINT) during ``fit``.

The handler only sets ``trainer.should_stop`` and ``trainer._stop_signal``: the loop already checks
``should_stop`` after each batch, so a signal costs the hot path nothing. When the loop has stopped, ``finish``
writes ``<log_dir>/checkpoints/interrupted.ckpt`` (mid-epoch position included, so resuming skips the batches
already trained) and raises: ``SIGTERMException`` for SIGTERM, ``KeyboardInterrupt`` for Ctrl-C (the Trainer
turns it into a clean exit after callbacks' ``on_exception`` and the loggers' finalize). A second Ctrl-C
raises ``KeyboardInterrupt`` at once.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, Optional

from fastlit.utilities.exceptions import SIGTERMException

CKPT_NAME = "interrupted.ckpt"


class GracefulInterrupt(KeyboardInterrupt):
    """Ctrl-C after the checkpoint was written: the Trainer exits with this message instead of a traceback."""


class SignalGuard:
    """Installs the handlers for one ``fit`` (main thread, single process only) and restores the old ones.

    Args:
        trainer: the Trainer whose ``should_stop`` the handlers set.
    """

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> "SignalGuard":
        self.trainer._stop_signal = None
        if threading.current_thread() is not threading.main_thread() or self.trainer.world_size > 1:
            return self  # signal.signal only works in the main thread; DDP ranks would stop at different steps
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self.previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        t = self.trainer
        if t._stop_signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: the user wants out now
        if t._stop_signal is None:
            name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C (SIGINT)"
            extra = " Press Ctrl-C again to exit at once." if signum == signal.SIGINT else ""
            print(f"fastlit: received {name}; finishing the current step and saving a checkpoint.{extra}",
                  file=sys.stderr, flush=True)
            t._stop_signal = signum
        t.should_stop = True


def checkpoint_path(t: Any) -> str:
    root = t.log_dir or t.default_root_dir
    return os.path.join(root, "checkpoints", CKPT_NAME)


def finish(t: Any) -> None:
    """Write the interruption checkpoint (durably) and raise the exit exception for the signal received."""
    signum: Optional[int] = t._stop_signal
    path = checkpoint_path(t)
    t.save_checkpoint(path)
    if hasattr(t._checkpoint_io, "wait"):
        t._checkpoint_io.wait()  # the process is about to exit: the file must be complete on disk
    how = f"Resume with `trainer.fit(model, ckpt_path={path!r})`."
    if signum == signal.SIGTERM:
        raise SIGTERMException(f"fastlit: stopped by SIGTERM at step {t.global_step}; checkpoint saved to "
                               f"{path}. {how}")
    raise GracefulInterrupt(f"fastlit: stopped by Ctrl-C at step {t.global_step}; checkpoint saved to {path}. {how}")
