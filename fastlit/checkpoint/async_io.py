"""``AsyncCheckpointIO``: the training thread snapshots the checkpoint and returns; a background thread writes it.

Per save, the training thread (1) pickles the non-tensor part (``archive.dumps``) and (2) copies every tensor
storage into staging buffers that are allocated once and reused (pinned host memory for CUDA tensors, copied on
a side stream). With ``staging="deferred"`` (the default) and a Trainer, (2) skips the parameters and optimizer
state: a C++ stager thread copies them while the next step's forward and backward run, and the Trainer waits
for that copy (``fence``) before the next optimizer step and before any hook that is not fastlit's own, the
only places that may write to them. An in-place change the tensors' version counters see before the copy fails
that save with an error instead of writing a mixed state. The writer (``torch.classes.fastlit.CheckpointWriter``
from ``fastlit._C``, csrc/io: C++ threads that never take the GIL; or a Python thread with the same semantics,
copying eagerly, when the extension is missing) writes a real ``torch.save`` archive to a temp file, fsyncs,
renames it over the target and fsyncs the directory.

Guarantees: what is written is the state at the call; a checkpoint path holds a complete file or nothing; at
most ``max_in_flight`` saves are pending (a further save waits), so staging memory is bounded by
``max_in_flight`` x checkpoint size (``staging_bytes``); removals are ordered after the writes queued before
them and skipped when the write just before failed; a failed write raises ``OSError`` naming the path in the
training thread at the next save, at the next training step (through the Trainer), or at ``teardown``.

The C++ writer sends records of 1 MiB or more to disk with O_DIRECT (no page-cache copy, in 2 MiB writes so a
training thread's allocations are not held up); ``FASTLIT_CKPT_DIRECT=0`` makes it write everything buffered.
"""
from __future__ import annotations

import os
import time
import warnings
from collections import deque
from typing import Any, Callable, Optional, Union

import torch

from fastlit.checkpoint import archive
from fastlit.checkpoint.io import _PATH, CheckpointIO, TorchCheckpointIO
from fastlit.checkpoint.thread_writer import ThreadWriter

_warned = False


def _native_class() -> tuple[Any, Optional[str]]:
    """(the C++ writer class, None) or (None, why it is unavailable)."""
    from fastlit import _ext  # imports fastlit._C, which registers the class, unless FASTLIT_DISABLE_EXT=1

    try:  # also finds a development build loaded with torch.ops.load_library
        return torch.classes.fastlit.CheckpointWriter, None
    except (RuntimeError, AttributeError):
        pass
    if not _ext.EXT_AVAILABLE:
        return None, f"fastlit._C is not loaded: {_ext.EXT_ERROR}"
    return None, "fastlit._C was built without csrc/io/checkpoint_writer.cpp"


def make_writer(max_in_flight: int = 1, backend: str = "auto") -> Any:
    """The C++ writer when available (``backend="auto"|"native"``), else the Python one (warns once)."""
    global _warned
    align, crc = torch.serialization._get_storage_alignment(), torch.serialization.get_crc32_options()
    if backend in ("auto", "native"):
        cls, why = _native_class()
        if cls is not None:
            try:
                return cls(max_in_flight, align, crc, False)
            except RuntimeError as e:  # a stale build of fastlit._C with another constructor
                cls, why = None, f"fastlit._C's CheckpointWriter does not match this fastlit: {str(e).splitlines()[0]}"
        if backend == "native":
            raise RuntimeError(f"The C++ checkpoint writer is unavailable: {why}")
        if not _warned:
            _warned = True
            warnings.warn(f"fastlit's C++ checkpoint writer is unavailable ({why}); async checkpoints are written by "
                          "a Python thread instead (same guarantees, but it competes for the GIL). To fix: rebuild "
                          "with `pip install --no-build-isolation -e .` from the fastlit checkout.", UserWarning,
                          stacklevel=3)
    elif backend != "thread":
        raise ValueError(f"backend must be 'auto', 'native' or 'thread', got {backend!r}")
    return ThreadWriter(max_in_flight, align, crc)


class AsyncCheckpointIO(CheckpointIO):
    """Saves checkpoints in the background (Lightning's ``AsyncCheckpointIO``; also ``Trainer(async_checkpoint=True)``).

    Args:
        checkpoint_io: the plugin that defines how files are written/read/removed. ``None`` or a
            ``TorchCheckpointIO`` uses fastlit's writer (a ``torch.save`` archive written by C++ without the
            GIL); any other plugin has its ``save_checkpoint`` called from a background thread with a snapshot
            (CPU tensors).
        max_in_flight: saves that may be pending at once; one more waits for the oldest. Staging memory is
            ``max_in_flight`` x the checkpoint size.
        backend: ``"auto"`` (C++ writer if built, else a Python thread), ``"native"`` or ``"thread"``.
        staging: ``"deferred"`` (default): in a Trainer's ModelCheckpoint saves, parameters and optimizer state
            are copied by a background thread and the Trainer waits for that copy before it next writes to them
            (optimizer step, user hooks), so a save blocks training for the pickling only; ``"eager"``: every
            tensor is copied before ``save_checkpoint`` returns. Direct ``save_checkpoint`` calls are eager.
    """

    def __init__(self, checkpoint_io: Optional[CheckpointIO] = None, max_in_flight: int = 1,
                 backend: str = "auto", staging: str = "deferred") -> None:
        if checkpoint_io is not None and not isinstance(checkpoint_io, CheckpointIO):
            raise TypeError(f"checkpoint_io must be a CheckpointIO, got {type(checkpoint_io).__name__}")
        if isinstance(checkpoint_io, AsyncCheckpointIO):
            raise TypeError("AsyncCheckpointIO cannot wrap another AsyncCheckpointIO")
        if int(max_in_flight) < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if backend not in ("auto", "native", "thread"):
            raise ValueError(f"backend must be 'auto', 'native' or 'thread', got {backend!r}")
        if staging not in ("deferred", "eager"):
            raise ValueError(f"staging must be 'deferred' or 'eager', got {staging!r}")
        self._checkpoint_io = checkpoint_io
        self.staging = staging
        self._staging = False  # a deferred copy may still be running: fence() must wait before writes to sources
        self.blocked_s = 0.0   # seconds the calling thread spent in save_checkpoint and in fences
        self.num_saves = 0
        self.num_deferred = 0  # saves whose parameter/optimizer-state copy ran after the call returned
        self.max_in_flight = int(max_in_flight)
        self._backend = backend
        self._writer: Any = None
        self._unsettled = False  # a save was queued and not yet seen finished (per-step polling)

    @property
    def checkpoint_io(self) -> Optional[CheckpointIO]:
        return self._checkpoint_io

    @checkpoint_io.setter
    def checkpoint_io(self, io: CheckpointIO) -> None:
        if self._checkpoint_io is None:
            self._checkpoint_io = io

    def _native_format(self) -> bool:
        io = self._checkpoint_io
        return io is None or type(io).save_checkpoint is TorchCheckpointIO.save_checkpoint

    def _get_writer(self) -> Any:
        if self._writer is None:
            backend = self._backend if self._native_format() else "thread"
            self._writer = make_writer(self.max_in_flight, backend)
        return self._writer

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Optional[Any] = None) -> None:
        """Snapshot ``checkpoint`` and queue its write to ``path``; raises an earlier save's error first."""
        self.save_deferred(checkpoint, path, storage_options, None)

    # ---- the interface the Trainer uses (fastlit.trainer.checkpointing.CheckpointConnector and the hook table):
    # save_deferred() for ModelCheckpoint's saves, fence() before anything writes to what such a save still has
    # to copy, poll() once per training step so a failed background write raises in the training thread.
    def save_deferred(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Optional[Any],
                      mutable: Union[None, set[int], Callable[[], set[int]]]) -> None:
        """``save_checkpoint``, except that the storages (by data_ptr) in ``mutable`` (or that it returns, timed
        as part of the save) may be copied after the call returns (with ``staging="deferred"`` and the C++
        writer): the caller must then call ``fence()`` before it, or code it does not own, writes to them.
        """
        t0 = time.perf_counter()
        self.raise_if_failed()
        native = self._native_format()
        if native:  # a local file written by fastlit's writer (a custom plugin gets the path as given)
            if storage_options is not None:
                raise TypeError(f"TorchCheckpointIO.save_checkpoint takes no storage_options, got {storage_options!r}")
            path = os.path.abspath(os.fspath(path))
            os.makedirs(os.path.dirname(path), exist_ok=True)
        pkl, keys, tensors = archive.dumps(checkpoint)
        writer = self._get_writer()
        if callable(mutable):
            mutable = mutable()
        pkl_t = torch.frombuffer(bytearray(pkl), dtype=torch.uint8) if pkl else torch.empty(0, dtype=torch.uint8)
        deferred = [i for i, t in enumerate(tensors) if t.untyped_storage().data_ptr() in mutable] \
            if mutable and self.staging == "deferred" and isinstance(writer, torch.ScriptObject) else None
        if deferred:
            writer.save_deferred(path, pkl_t, keys, tensors, deferred)
            self._staging = True
            self.num_deferred += 1
        elif native:
            writer.save(path, pkl_t, keys, tensors)
        else:
            inner = self._checkpoint_io
            writer.save(path, pkl_t, keys, tensors,
                        lambda ckpt, p: inner.save_checkpoint(ckpt, p, storage_options=storage_options))
        self._unsettled = True
        self.num_saves += 1
        self.blocked_s += time.perf_counter() - t0

    def fence(self, *_: Any) -> None:
        """Wait for the deferred copies of the last saves (free when there are none): call before writing to
        what ``save_deferred`` was told may be copied later. Takes and ignores any arguments, so it can sit in
        a hook table next to the hooks it guards."""
        if self._staging:
            t0 = time.perf_counter()
            self._writer.wait_staged()
            self._staging = False
            self.blocked_s += time.perf_counter() - t0

    def remove_checkpoint(self, path: _PATH) -> None:
        """Remove ``path`` once the writes queued so far are durable (kept if the last of them failed)."""
        if self._native_format():
            path = os.path.abspath(os.fspath(path))
        if self._writer is None or self._writer.pending() == 0:
            self.raise_if_failed()
            (self._checkpoint_io or TorchCheckpointIO()).remove_checkpoint(path)
        elif self._native_format():
            self._writer.remove(path)
        else:
            self._writer.remove(path, self._checkpoint_io.remove_checkpoint)

    def load_checkpoint(self, path: _PATH, map_location: Optional[Any] = None,
                        weights_only: Optional[bool] = None) -> dict[str, Any]:
        self.wait()
        return (self._checkpoint_io or TorchCheckpointIO()).load_checkpoint(
            path, map_location=map_location, weights_only=weights_only)

    def wait(self) -> None:
        """Block until every queued save/removal is done; raise the first error."""
        if self._writer is not None:
            self._writer.wait(-1)
            self._unsettled = self._staging = False
        self.raise_if_failed()

    @property
    def staging_bytes(self) -> int:
        """Host memory held by the staging buffers (0 before the first save and after ``teardown``)."""
        return int(self._writer.staging_bytes()) if self._writer is not None else 0

    @property
    def pending(self) -> int:
        """Saves and removals queued and not finished yet."""
        return int(self._writer.pending()) if self._writer is not None else 0

    def raise_if_failed(self) -> None:
        """Raise ``OSError``/``RuntimeError`` for the oldest failed write not reported yet (others follow)."""
        if self._writer is None:
            return
        err, path, what = self._writer.take_error()
        if err < 0:
            return
        more = self._writer.pending()
        msg = (f"Could not write checkpoint {path!r}: {what}. The previous file at that path (if any) is unchanged"
               f"{'' if not more else '; other saves are still queued'}.")
        if err > 0:
            raise OSError(err, msg)
        raise RuntimeError(msg)

    def poll(self, *_: Any) -> None:
        """Raise a failed background write's error now; the Trainer calls it at every training batch start
        (free while nothing is queued). Ignores its arguments, like ``fence``."""
        if self._unsettled:
            if self._writer.pending() == 0:
                self._unsettled = False
            self.raise_if_failed()

    def teardown(self) -> None:
        """Wait for the queued writes, free the thread and the staging buffers, raise the first error."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.wait(-1)
        errors = []
        while True:
            err = writer.take_error()
            if err[0] < 0:
                break
            errors.append(err)
        writer.close()
        self._unsettled = self._staging = False
        if errors:
            self._writer = _Failed(errors)
            try:
                self.raise_if_failed()
            finally:
                self._writer = None


class _Failed:
    """Holds errors collected at teardown so ``raise_if_failed`` formats them the same way."""

    def __init__(self, errors: list) -> None:
        self.errors = deque(errors)

    def take_error(self) -> tuple:
        return self.errors.popleft() if self.errors else (-1, "", "")

    def pending(self) -> int:
        return len(self.errors)
