"""Opening checkpoints by path or URL (``pl_load``) and ``get_filesystem`` (fsspec, optional in fastlit)."""
from __future__ import annotations

import os
from typing import IO, Any, Optional, Union

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


def pl_load(path_or_url: Union[IO, _PATH], map_location: Any = None, weights_only: Optional[bool] = None) -> Any:
    """Load a checkpoint from a file object, a local path or an http(s) URL (downloaded to torch.hub's cache).

    Local files go through fastlit's loader (``weights_only`` by default, clear errors for missing or corrupt
    files); a URL defaults to ``weights_only=False`` as in Lightning, since a remote file is loaded whole.
    """
    if isinstance(path_or_url, (str, os.PathLike)) and str(path_or_url).startswith("http"):
        import torch

        return torch.hub.load_state_dict_from_url(str(path_or_url), map_location=map_location,
                                                  weights_only=bool(weights_only))
    from fastlit.checkpoint.io import load

    return load(path_or_url, map_location=map_location, weights_only=weights_only)
