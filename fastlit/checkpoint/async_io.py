"""``AsyncCheckpointIO``: the training thread snapshots the checkpoint and returns; a background thread writes it.

Per save, the training thread (1) pickles the non-tensor part (``archive.dumps``) and (2) copies every tensor
storage into staging buffers that are allocated once and reused (pinned host memory for CUDA tensors, copied on
a side stream). The writer — ``torch.classes.fastlit.CheckpointWriter`` from ``fastlit._C`` (csrc/io), a C++
thread that never takes the GIL, or a Python thread with the same semantics when the extension is missing —
writes a real ``torch.save`` archive to a temp file, fsyncs, renames it over the target and fsyncs the directory.

Guarantees: what is written is the state at the call; a checkpoint path holds a complete file or nothing; at
most ``max_in_flight`` saves are pending (a further save waits), so staging memory is bounded by
``max_in_flight`` x checkpoint size (``staging_bytes``); removals are ordered after the writes queued before
them and skipped when the write just before failed; a failed write raises ``OSError`` naming the path in the
training thread at the next save, at the next training step (through the Trainer), or at ``teardown``.
"""
from __future__ import annotations

import ctypes
import os
import threading
import warnings
from collections import deque
from typing import Any, Callable, Optional

import torch

from fastlit.checkpoint import archive
from fastlit.checkpoint.io import _PATH, CheckpointIO, TorchCheckpointIO

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


def _stage(arena: Optional[torch.Tensor], sources: list[torch.Tensor]) -> tuple[torch.Tensor, list, Any]:
    """Copy each source's whole storage into ``arena`` (grown if needed): (arena, [(offset, nbytes)], event)."""
    spans, total, device = [], 0, None
    for t in sources:
        n = t.untyped_storage().nbytes()
        spans.append((total, n))
        total += (n + 63) // 64 * 64
        if t.device.type != "cpu":
            if device is not None and device != t.device:
                raise RuntimeError(f"Checkpoint tensors live on several devices ({device}, {t.device}); "
                                   "move them to one device or the CPU first")
            device = t.device
    pinned = device is not None
    if arena is None or arena.numel() < total or arena.is_pinned() != pinned:
        arena = None
        arena = torch.empty(-(-max(total, 1) // (2 << 20)) * (2 << 20), dtype=torch.uint8, pin_memory=pinned)
    event = None
    if device is not None:  # copies on a side stream, ordered after the current stream's work and before its next
        current, side = torch.cuda.current_stream(device), torch.cuda.Stream(device)
        side.wait_stream(current)
        with torch.cuda.stream(side):
            for t, (off, n) in zip(sources, spans):
                if n:
                    src = torch.empty(0, dtype=torch.uint8, device=t.device).set_(t.untyped_storage())
                    arena[off:off + n].copy_(src, non_blocking=True)
                    if t.device.type != "cpu":
                        t.record_stream(side)
        event = torch.cuda.Event()
        event.record(side)
        current.wait_event(event)
    else:
        for t, (off, n) in zip(sources, spans):
            if n:
                arena[off:off + n].copy_(torch.empty(0, dtype=torch.uint8).set_(t.untyped_storage()))
    return arena, spans, event


class ThreadWriter:
    """Python twin of the C++ ``CheckpointWriter`` (same methods and semantics), used when it is unavailable.

    ``save`` may also take ``fn``: instead of writing a ``torch.save`` archive, the writer thread rebuilds the
    checkpoint from the snapshot and calls ``fn(checkpoint, path)`` (a user's own ``CheckpointIO``); ``remove``
    likewise takes the function that removes.
    """

    def __init__(self, max_in_flight: int = 1, alignment: int = 64, crc32: bool = True) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self._max, self._align, self._crc = max_in_flight, alignment, crc32
        self._cv = threading.Condition()
        self._queue: deque = deque()
        self._free = list(range(max_in_flight))
        self._arenas: list[Optional[torch.Tensor]] = [None] * max_in_flight
        self._failures: deque = deque()
        self._failed_writes: set[int] = set()
        self._last_id = self._done_id = 0
        self._last_write_id = -1
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="fastlit-checkpoint-writer", daemon=True)
        self._thread.start()

    def save(self, path: str, pkl: torch.Tensor, keys: list[str], tensors: list[torch.Tensor],
             fn: Optional[Callable[[Any, str], None]] = None) -> int:
        with self._cv:
            self._check_open()
            self._cv.wait_for(lambda: self._free or self._closed)
            self._check_open()
            slot = self._free.pop()
        try:
            arena, spans, event = _stage(self._arenas[slot], tensors)
        except BaseException:
            with self._cv:
                self._free.append(slot)
                self._cv.notify_all()
            raise
        self._arenas[slot] = arena
        records = [(k, off, n) for k, (off, n) in zip(keys, spans)]
        with self._cv:
            self._last_id += 1
            self._last_write_id = self._last_id
            self._queue.append(("write", self._last_id, path, ctypes.string_at(pkl.data_ptr(), pkl.numel()),
                                records, slot, event, fn))
            self._cv.notify_all()
            return self._last_id

    def remove(self, path: str, fn: Optional[Callable[[str], None]] = None) -> int:
        with self._cv:
            self._check_open()
            self._last_id += 1
            self._queue.append(("remove", self._last_id, path, self._last_write_id, fn))
            self._cv.notify_all()
            return self._last_id

    def wait(self, job_id: int = -1) -> None:
        with self._cv:
            target = self._last_id if job_id < 0 else job_id
            self._cv.wait_for(lambda: self._done_id >= target or not self._thread.is_alive())

    def pending(self) -> int:
        with self._cv:
            return self._last_id - self._done_id

    def take_error(self) -> tuple[int, str, str]:
        with self._cv:
            return self._failures.popleft() if self._failures else (-1, "", "")

    def staging_bytes(self) -> int:
        return sum(a.numel() for a in self._arenas if a is not None)

    def close(self) -> None:
        with self._cv:
            if self._closed:
                return
            self._closed = True
            self._cv.notify_all()
        self._thread.join()
        self._arenas = [None] * self._max

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("CheckpointWriter is closed")

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    return
                job = self._queue[0]
            failure = None
            try:
                if job[0] == "remove":
                    failure = self._run_remove(*job[1:])
                else:
                    self._run_write(*job[1:])
            except OSError as e:
                failure = (e.errno or 0, job[2], f"could not write it: {e.strerror or e}")
            except BaseException as e:  # noqa: BLE001  (reported to the training thread, never lost)
                failure = (0, job[2], f"could not write it: {type(e).__name__}: {e}")
            with self._cv:
                if failure is not None:
                    self._failures.append(failure)
                    if job[0] == "write":
                        self._failed_writes.add(job[1])
                if job[0] == "write":
                    self._free.append(job[5])
                self._done_id = job[1]
                self._queue.popleft()
                self._cv.notify_all()

    def _run_remove(self, job_id: int, path: str, guard: int, fn: Optional[Callable]) -> Optional[tuple]:
        if guard in self._failed_writes:
            return None  # the file that was to replace it is not on disk: keep this one
        try:
            (fn or os.remove)(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            return (e.errno or 0, path, f"could not remove it: {e.strerror or e}")
        return None

    def _run_write(self, job_id: int, path: str, pkl: bytes, records: list, slot: int, event: Any,
                   fn: Optional[Callable]) -> None:
        if event is not None:
            event.synchronize()
        arena = self._arenas[slot]
        if fn is not None:
            where = {k: (off, n) for k, off, n in records}
            fn(archive.loads(pkl, lambda k: arena[where[k][0]:where[k][0] + where[k][1]]), path)
            return
        d, name = os.path.split(path)
        tmp = os.path.join(d, f".{name}.tmp-{os.getpid()}-{job_id}")
        archive.write_archive(path, tmp, pkl, records, arena.untyped_storage(), self._crc, self._align)


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
    """

    def __init__(self, checkpoint_io: Optional[CheckpointIO] = None, max_in_flight: int = 1,
                 backend: str = "auto") -> None:
        if checkpoint_io is not None and not isinstance(checkpoint_io, CheckpointIO):
            raise TypeError(f"checkpoint_io must be a CheckpointIO, got {type(checkpoint_io).__name__}")
        if isinstance(checkpoint_io, AsyncCheckpointIO):
            raise TypeError("AsyncCheckpointIO cannot wrap another AsyncCheckpointIO")
        if int(max_in_flight) < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if backend not in ("auto", "native", "thread"):
            raise ValueError(f"backend must be 'auto', 'native' or 'thread', got {backend!r}")
        self._checkpoint_io = checkpoint_io
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
        self.raise_if_failed()
        native = self._native_format()
        if native:  # a local file written by fastlit's writer (a custom plugin gets the path as given)
            if storage_options is not None:
                raise TypeError(f"TorchCheckpointIO.save_checkpoint takes no storage_options, got {storage_options!r}")
            path = os.path.abspath(os.fspath(path))
            os.makedirs(os.path.dirname(path), exist_ok=True)
        pkl, keys, tensors = archive.dumps(checkpoint)
        writer = self._get_writer()
        pkl_t = torch.frombuffer(bytearray(pkl), dtype=torch.uint8) if pkl else torch.empty(0, dtype=torch.uint8)
        if native:
            writer.save(path, pkl_t, keys, tensors)
        else:
            inner = self._checkpoint_io
            writer.save(path, pkl_t, keys, tensors,
                        lambda ckpt, p: inner.save_checkpoint(ckpt, p, storage_options=storage_options))
        self._unsettled = True

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
            self._unsettled = False
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

    def _poll(self, *_: Any) -> None:
        """Per-step check the Trainer installs: free while nothing is queued."""
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
        self._unsettled = False
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
