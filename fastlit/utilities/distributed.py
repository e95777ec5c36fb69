"""``is_shared_filesystem``: do all ranks see the same files under a path?"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Optional, Union


def is_shared_filesystem(strategy: Any, path: Optional[Union[str, "os.PathLike[str]"]] = None,
                         timeout: int = 3) -> bool:
    """True when every rank of ``strategy`` sees the same directory at ``path`` (default: the working directory).

    Rank 0 creates a marker file there and the others look for it for up to ``timeout`` seconds. One process, or
    a remote URL (``s3://...``), is shared by definition. Call it on all ranks (it uses collectives).
    """
    if path is not None and "://" in str(path) and not str(path).startswith("file://"):
        return True
    path = Path(Path.cwd() if path is None else path).resolve()
    if getattr(strategy, "world_size", 1) == 1:
        return True
    if not strategy.reduce_boolean_decision(strategy.broadcast(path) == path, all=True):
        return False  # not even the same path string on every rank
    if not strategy.reduce_boolean_decision(path.exists(), all=True):
        raise FileNotFoundError(f"Unable to determine if the path belongs to a shared filesystem. The path does not "
                                f"exist: {path}")
    directory = path.parent if path.is_file() else path
    marker = directory / ".lightning_shared_fs_check"
    marker.unlink(missing_ok=True)
    strategy.barrier()
    if strategy.is_global_zero:
        marker.touch()
        found = True
    else:
        start = time.perf_counter()
        found = False
        while not found and time.perf_counter() - start < timeout:
            found = marker.exists()
    strategy.barrier()
    shared = strategy.reduce_boolean_decision(found, all=True)
    with contextlib.suppress(OSError):  # every rank that sees it tries to delete it
        marker.unlink()
    return shared
