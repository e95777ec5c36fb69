"""Checkpoint files: durable writes (temp file + fsync + rename) and loads with errors that name the path.

A checkpoint path either holds a complete file or does not exist: we write ``<name>.tmp-<pid>`` in the same
directory, fsync it, ``os.replace`` it over the target and fsync the directory.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import IO, Any, Optional, Union

import torch

_PATH = Union[str, Path]


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(checkpoint: dict[str, Any], path: _PATH) -> None:
    """``torch.save`` to ``path`` so that a crash never leaves a partial file there."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise OSError(e.errno, f"Could not write checkpoint {path!r}: {e.strerror or e}. The previous file at "
                          "that path (if any) is unchanged.") from e
        raise
    _fsync_dir(directory)


def _safe_globals() -> list:
    from fastlit.utilities.parsing import AttributeDict

    return [AttributeDict, Path, type(Path("."))]


def load(path: Union[_PATH, IO], map_location: Any = None, weights_only: Optional[bool] = None) -> dict[str, Any]:
    """Load a checkpoint; missing, truncated or unsafe files get an error that names the path and the fix.

    Args:
        path: a file path or file object.
        map_location: as in ``torch.load``.
        weights_only: ``None``/``True`` loads with ``torch.load(weights_only=True)`` plus the few types fastlit
            writes itself; ``False`` unpickles anything (only for files you trust).
    """
    name = path if isinstance(path, (str, Path)) else getattr(path, "name", "<file object>")
    if isinstance(path, (str, Path)):
        if not os.path.exists(path):
            raise FileNotFoundError(f"Checkpoint file not found: {os.fspath(path)!r}. Check the path (and `ckpt_path=`).")
        if os.path.isdir(path):
            raise IsADirectoryError(f"Checkpoint path {os.fspath(path)!r} is a directory; pass the .ckpt file inside it.")
    safe = weights_only is None or weights_only
    try:
        if safe:
            with torch.serialization.safe_globals(_safe_globals()):
                return torch.load(path, map_location=map_location, weights_only=True)
        return torch.load(path, map_location=map_location, weights_only=False)
    except pickle.UnpicklingError as e:
        if safe:
            # torch's message starts with generic advice; the line naming the offending global/opcode is the news
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            detail = next((ln for ln in lines if "Unsupported" in ln or "GLOBAL" in ln), lines[0] if lines else "")
            raise pickle.UnpicklingError(
                f"Refusing to load checkpoint {name!r} with weights_only=True: it is corrupt or contains objects "
                f"outside the safe set ({detail[:300]}). If you trust this file, pass `weights_only=False`."
            ) from None
        raise RuntimeError(f"Checkpoint {name!r} is corrupt or not a checkpoint: {e}") from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, IndexError, KeyError) as e:  # garbage bytes
        raise RuntimeError(
            f"Checkpoint {name!r} could not be read (truncated or not a torch checkpoint): {e}. Pass a complete "
            "file written by `trainer.save_checkpoint` or `ModelCheckpoint` (an interrupted copy is truncated)."
        ) from e


class CheckpointIO:
    """Lightning's checkpoint plugin interface: how checkpoints are written, read and removed."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Optional[Any] = None) -> None:
        raise NotImplementedError

    def load_checkpoint(self, path: _PATH, map_location: Optional[Any] = None, weights_only: Optional[bool] = None) -> dict[str, Any]:
        raise NotImplementedError

    def remove_checkpoint(self, path: _PATH) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        """Finish outstanding work (e.g. async writes)."""


class TorchCheckpointIO(CheckpointIO):
    """Synchronous, durable ``torch.save``/``torch.load``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None:
            raise TypeError(f"TorchCheckpointIO.save_checkpoint takes no storage_options, got {storage_options!r}")
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path: _PATH, map_location: Optional[Any] = None, weights_only: Optional[bool] = None) -> dict[str, Any]:
        return load(path, map_location=map_location if map_location is not None else "cpu", weights_only=weights_only)

    def remove_checkpoint(self, path: _PATH) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
