"""``lightning.fabric.utilities.cloud_io`` (Lightning 2.6.6): loading/saving by path or URL, on fastlit's."""
from __future__ import annotations

import io
from typing import IO, Any, Union

import torch

from fastlit._fabric.types import _MAP_LOCATION_TYPE, _PATH
from fastlit.checkpoint.io import pl_load
from fastlit.utilities.cloud_io import get_filesystem


def _load(path_or_url: Union[IO, _PATH], map_location: _MAP_LOCATION_TYPE = None,
          weights_only: Union[bool, None] = None) -> Any:
    """Load a checkpoint from a file object, a local path or an http(s) URL (fastlit's ``pl_load``)."""
    return pl_load(path_or_url, map_location=map_location, weights_only=weights_only)


def _atomic_save(checkpoint: dict[str, Any], filepath: _PATH) -> None:
    """Serialize in memory, then write the bytes in one go through fsspec (as Lightning's)."""
    bytesbuffer = io.BytesIO()
    torch.save(checkpoint, bytesbuffer)
    fs = get_filesystem(filepath)
    with fs.open(str(filepath), "wb") as f:
        f.write(bytesbuffer.getvalue())


def _is_object_storage(fs: Any) -> bool:
    return any(p in ("s3", "s3a", "gs", "gcs", "az", "abfs", "adl") for p in _protocols(fs))


def _is_dir(fs: Any, path: Union[str, Any], strict: bool = False) -> bool:
    if _is_object_storage(fs):
        path = str(path)
        if strict:
            return fs.isdir(path)
        return not fs.isfile(path)  # s3 has no directories; a non-file prefix counts as one
    return fs.isdir(path)


def _is_local_file_protocol(path: _PATH) -> bool:
    return "file" in _protocols(get_filesystem(path))


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = getattr(fs, "protocol", ())
    return (proto,) if isinstance(proto, str) else tuple(proto)


__all__ = ["get_filesystem", "_load", "_atomic_save", "_is_object_storage", "_is_dir", "_is_local_file_protocol"]
