"""The Python twin of the C++ ``CheckpointWriter`` (csrc/io): same methods, same guarantees, used when
``fastlit._C`` lacks it (or for a user's own ``CheckpointIO`` inside ``AsyncCheckpointIO``). Staging happens on
the calling thread; the archive is written by one Python thread with torch's ``PyTorchFileWriter``.
"""
from __future__ import annotations

import ctypes
import os
import threading
from collections import deque
from typing import Any, Callable, Optional

import torch

from fastlit.checkpoint import archive


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
