"""The pieces of a ``torch.save`` archive, split so that only the cheap part runs on the training thread.

``dumps`` pickles a checkpoint exactly as ``torch.save`` does (same ``data.pkl``: the same persistent ids, the
same rebuild functions) but does not touch tensor data: it returns the storages to snapshot instead. The
archive is then ``data.pkl`` + ``.format_version`` + ``.storage_alignment`` + ``byteorder`` + one ``data/<key>``
record per storage, written with torch's own zip writer (``PyTorchStreamWriter``) by the C++ writer in
``csrc/io`` or by ``write_archive`` here (the Python fallback).
"""
from __future__ import annotations

import io
import os
import pickle
import sys
from collections import OrderedDict
from typing import Any, Callable, Optional

import torch
from torch import Tensor
from torch.serialization import DEFAULT_PROTOCOL, location_tag, normalize_storage_type

_LEGACY = {dtype: getattr(torch, name) for dtype, name in torch.storage._dtype_to_storage_type_map().items()}
_DTYPE_OF = {cls: dtype for dtype, cls in _LEGACY.items()}
_rebuild_tensor_v2 = torch._utils._rebuild_tensor_v2
_untyped = torch.UntypedStorage
_typed = torch.storage.TypedStorage


class _StorageRef:
    """Stands for a storage inside the pickle; ``persistent_id`` turns it into torch's storage reference."""

    __slots__ = ("pid",)

    def __init__(self, pid: tuple) -> None:
        self.pid = pid


def dumps(obj: Any) -> tuple[bytes, list[str], list[Tensor]]:
    """Pickle ``obj`` like ``torch.save``; return (data.pkl bytes, storage keys, a tensor viewing each storage).

    Plain dense tensors (what state dicts hold) take a fast path that emits the same reduce tuple as
    ``Tensor.__reduce_ex__``; everything else goes through torch's own reducers.
    """
    keys: dict[int, str] = {}          # StorageImpl address -> record key
    sources: list[Tensor] = []         # one tensor per key, viewing that storage
    dtypes: dict[int, torch.dtype] = {}  # data_ptr -> dtype: torch refuses one storage saved as two dtypes

    def key_of(storage: torch.UntypedStorage, dtype: torch.dtype, view: Optional[Tensor]) -> str:
        ptr = storage.data_ptr()
        if ptr and storage.device.type != "meta":
            seen = dtypes.setdefault(ptr, dtype)
            if seen != dtype:
                raise RuntimeError("Cannot save multiple tensors or storages that view the same data as different types")
        cdata = storage._cdata
        key = keys.get(cdata)
        if key is None:
            key = keys[cdata] = str(len(keys))
            if view is None:
                view = torch.empty(0, dtype=torch.uint8, device=storage.device).set_(storage)
            sources.append(view)
        return key

    class Pickler(pickle.Pickler):
        def reducer_override(self, t: Any) -> Any:
            if type(t) is not Tensor or t.requires_grad or t.layout is not torch.strided or t.is_nested \
                    or t.is_quantized or t.device.type not in ("cpu", "cuda"):
                return NotImplemented
            storage_type = _LEGACY.get(t.dtype)
            if storage_type is None or torch._C._get_tensor_metadata(t) or torch._utils._get_obj_state(t):
                return NotImplemented
            s = t.untyped_storage()
            key = key_of(s, t.dtype, t)
            ref = _StorageRef(("storage", storage_type, key, location_tag(s), s.nbytes() // t.element_size()))
            return _rebuild_tensor_v2, (ref, t.storage_offset(), tuple(t.size()), t.stride(), False, OrderedDict())

        def persistent_id(self, o: Any) -> Any:
            tp = type(o)
            if tp is _StorageRef:
                return o.pid
            if tp is _typed or isinstance(o, _typed):  # torch's reducers (non-fast-path tensors)
                s = o._untyped_storage
                return ("storage", getattr(torch, o._pickle_storage_type()), key_of(s, o.dtype, None),
                        location_tag(s), o._size())
            if isinstance(o, _untyped):
                return ("storage", normalize_storage_type(tp), key_of(o, torch.uint8, None), location_tag(o), o.nbytes())
            return None

    buf = io.BytesIO()
    Pickler(buf, protocol=DEFAULT_PROTOCOL).dump(obj)
    return buf.getvalue(), list(keys.values()), sources


def loads(pkl: bytes, storage_bytes: Callable[[str], Tensor]) -> Any:
    """Unpickle ``dumps`` output; ``storage_bytes(key)`` gives each storage's bytes as a CPU uint8 tensor."""

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid: tuple) -> Any:
            _, storage_type, key, _location, _numel = pid
            raw = storage_bytes(key).clone().untyped_storage()  # its own storage: tensors rebuild at offset 0
            dtype = _DTYPE_OF.get(storage_type, torch.uint8)
            return _typed(wrap_storage=raw, dtype=dtype, _internal=True)

    return Unpickler(io.BytesIO(pkl)).load()


class _Sink:
    """File object for ``PyTorchFileWriter``: never raises into the C++ writer; keeps the first OSError."""

    def __init__(self, fd: int) -> None:
        self.fd, self.error = fd, None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                while view:
                    view = view[os.write(self.fd, view):]
            except OSError as e:
                self.error = e
        return len(data)

    def flush(self) -> None:
        pass


def write_archive(path: str, tmp: str, pkl: bytes, records: list[tuple[str, int, int]],
                  storage: torch.UntypedStorage, crc32: bool, alignment: int) -> None:
    """Write the archive to ``tmp``, fsync, rename over ``path``, fsync the directory (Python fallback).

    ``records`` are (key, offset, nbytes) into the host ``storage`` (the staging buffer). Raises ``OSError``
    after removing ``tmp``; ``path`` is never touched unless the new file is complete and on disk.
    """
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        sink = _Sink(fd)
        w = torch._C.PyTorchFileWriter(sink, crc32, alignment)
        w.write_record("data.pkl", pkl, len(pkl))
        w.write_record(".format_version", "1", 1)
        w.write_record(".storage_alignment", str(alignment), len(str(alignment)))
        w.write_record("byteorder", sys.byteorder, len(sys.byteorder))
        for key, offset, nbytes in records:
            if sink.error is not None:
                break
            w.write_record(f"data/{key}", storage[offset:offset + nbytes], nbytes)
        w.write_end_of_file()
        if sink.error is not None:
            raise sink.error
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    from fastlit.checkpoint.io import _fsync_dir

    _fsync_dir(os.path.dirname(path) or ".")
