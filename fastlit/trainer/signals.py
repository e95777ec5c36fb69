"""Graceful stop on SIGTERM (what schedulers send before preemption) and Ctrl-C (SIGINT) during ``fit``.

The handler only sets ``trainer.should_stop`` and ``trainer._stop_signal``: the loop already checks
``should_stop`` after each batch, so a signal costs the hot path nothing. When the loop has stopped, ``finish``
writes ``<log_dir>/checkpoints/interrupted.ckpt`` (mid-epoch position included, so resuming skips the batches
already trained) and raises: ``SIGTERMException`` for SIGTERM, ``KeyboardInterrupt`` for Ctrl-C (the Trainer
turns it into a clean exit after callbacks' ``on_exception`` and the loggers' finalize). A second Ctrl-C
raises ``KeyboardInterrupt`` at once.

Under DDP the ranks must stop after the same step (or one would wait forever in the next gradient all-reduce),
and a signal may reach only one of them (``kill`` of rank 0; torchrun and a terminal's Ctrl-C reach all). So a
rank's handler only notes the signal, and ``StopVote`` agrees on it: every few batches (about a quarter second
of training, as rank 0 measures and proposes) each rank starts an asynchronous all-reduce (MAX) of its note on a
small gloo group and reads the previous vote's result, complete by then; when it is non-zero every rank stops
after that same batch.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, Optional

import torch
import torch.distributed as dist

from fastlit.utilities.exceptions import SIGTERMException

CKPT_NAME = "interrupted.ckpt"


class GracefulInterrupt(KeyboardInterrupt):
    """Ctrl-C after the checkpoint was written: the Trainer exits with this message instead of a traceback."""


class SignalGuard:
    """Installs the handlers for one ``fit`` (main thread) and restores the old ones.

    Args:
        trainer: the Trainer whose ``should_stop`` the handlers set.
    """

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> "SignalGuard":
        t = self.trainer
        t._stop_signal = t._stop_vote = None
        self.noted: Optional[int] = None  # the signal this process received (under DDP: not yet agreed on)
        if threading.current_thread() is not threading.main_thread():
            return self  # signal.signal only works in the main thread
        if t.world_size > 1:
            if not (dist.is_available() and dist.is_initialized()):
                return self
            t._stop_vote = StopVote(t, self)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self.previous = {}
        vote, self.trainer._stop_vote = self.trainer._stop_vote, None
        if vote is not None and exc[0] is None:  # (after an error a rank may be gone: leave the group alone)
            vote.close()

    def _handle(self, signum: int, frame: Any) -> None:
        t = self.trainer
        if self.noted == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: the user wants out now
        if self.noted is None:
            # noted before the message: a second Ctrl-C can arrive (and run this handler) while it is printed
            self.noted = signum
            name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C (SIGINT)"
            extra = " Press Ctrl-C again to exit at once." if signum == signal.SIGINT else ""
            rank = f" (rank {t.global_rank})" if t.world_size > 1 else ""
            print(f"fastlit{rank}: received {name}; finishing the current step and saving a checkpoint.{extra}",
                  file=sys.stderr, flush=True)
        if t._stop_vote is None:  # one process: stop after this batch
            t._stop_signal = signum
            t.should_stop = True


class StopVote:
    """DDP: the ranks agree, a vote late, on whether any of them received a signal (see the module doc).

    A vote is an all-reduce, which costs about a millisecond on a small CPU machine, so the ranks vote every
    ``interval`` batches: rank 0 proposes, in each vote, an interval of about ``period_s`` of training for the
    next one (MAX over [signal, rank 0's proposal] gives every rank the same numbers). Between votes a batch
    costs one decrement.

    Args:
        trainer: the Trainer whose ``should_stop``/``_stop_signal`` an agreed signal sets on every rank.
        guard: the ``SignalGuard`` whose ``noted`` is this rank's vote.
        period_s: the time between votes rank 0 aims for (a signal stops training within about twice that).
    """

    def __init__(self, trainer: Any, guard: SignalGuard, period_s: float = 0.25) -> None:
        self.trainer, self.guard, self.period_s = trainer, guard, period_s
        # A CPU group, so the vote never syncs a GPU: the default one when it is gloo (every rank issues the same
        # collectives in the same order, so votes may share it), else a gloo group made here, at the same point on
        # every rank (fit start); making one costs more than a short fit's votes.
        self.own = dist.get_backend() != "gloo"
        self.group = dist.new_group(backend="gloo") if self.own else None
        self.buf = torch.zeros(2, dtype=torch.int64)  # [signal, next interval]; CPU: reading it never syncs a GPU
        self.work: Any = None
        self.countdown = self.span = 1  # batches to the next vote; batches between the last two
        self.last = time.perf_counter()

    def poll(self) -> None:
        """After each training batch, on every rank: every ``interval`` batches, read the last vote, start one."""
        self.countdown -= 1
        if self.countdown > 0:
            return
        interval = 1
        if self.work is not None:
            self.work.wait()
            sig, interval = int(self.buf[0]), max(1, int(self.buf[1]))
            if sig:
                self.work = None
                self.trainer._stop_signal = sig
                self.trainer.should_stop = True
                return
        now = time.perf_counter()
        per_batch = (now - self.last) / self.span
        self.last = now
        proposal = min(1000, max(1, int(self.period_s / max(per_batch, 1e-6)))) if self.trainer.global_rank == 0 else 0
        self.buf[0], self.buf[1] = self.guard.noted or 0, proposal
        self.work = dist.all_reduce(self.buf, op=dist.ReduceOp.MAX, group=self.group, async_op=True)
        self.countdown = self.span = interval

    def close(self) -> None:
        """The loop ended (every rank started the same number of votes): finish the last one, then one more
        blocking vote, so a signal that came since, or during the final validation, still stops every rank."""
        if self.work is not None:
            self.work.wait()
            self.work = None
            if int(self.buf[0]):
                self.trainer._stop_signal = int(self.buf[0])
        if self.trainer._stop_signal is None:
            self.buf[0], self.buf[1] = self.guard.noted or 0, 0
            dist.all_reduce(self.buf, op=dist.ReduceOp.MAX, group=self.group)
            if int(self.buf[0]):
                self.trainer._stop_signal = int(self.buf[0])
        if self.own:  # destroyed here, not at interpreter exit, where tearing down its threads could abort
            dist.destroy_process_group(self.group)


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
