"""Opening checkpoints by path or URL (``pl_load``) and ``get_filesystem`` (fsspec, optional in fastlit)."""
from __future__ import annotations

import os
from typing import Any, Union

_PATH = Union[str, "os.PathLike[str]"]


def get_filesystem(path: _PATH, **kwargs: Any) -> Any:
    """The fsspec filesystem for ``path`` (``"s3://..."``, a local path, ...).

    Raises:
        ModuleNotFoundError: fsspec is not installed (fastlit itself only writes local files and does not need it).
    """
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise ModuleNotFoundError("get_filesystem needs `fsspec` (fastlit itself writes local files only): "
                                  "`pip install fsspec`.") from None
    return url_to_fs(str(path), **kwargs)[0]


# Lightning's module also has ``pl_load``; fastlit's reads local files with the checkpoint loader, which sits above
# the utilities, so it lives in fastlit.checkpoint.io and is imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {"pl_load": "fastlit.checkpoint.io"})
