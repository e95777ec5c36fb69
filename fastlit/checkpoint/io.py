"""Checkpoint files: durable writes (temp file + fsync + rename) and loads with errors that name the path.

A checkpoint path either holds a complete file or does not exist: we write ``.<name>.tmp-<pid>-<n>`` in the same
directory, fsync it, ``os.replace`` it over the target and fsync the directory. The async writers (C++ and thread)
use the same temp name, so :func:`remove_stale_temp_files` can clean up after a writer that was SIGKILLed.
"""
from __future__ import annotations

import itertools
import os
import pickle
import re
import stat
import threading
import zipfile
from pathlib import Path
from typing import IO, Any, Optional, Union

import torch

_PATH = Union[str, Path]
_TMP_COUNTER = itertools.count()  # two threads of one process saving the same path get different temp files
# ``.<basename>.tmp-<pid>-<n>`` (fastlit's writers) or ``.<basename>.tmp-<pid>`` (earlier fastlit atomic_save)
_TMP_NAME = re.compile(r"\.(?P<base>.+)\.tmp-(?P<pid>[0-9]+)(?:-[0-9]+)?")


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
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}-{next(_TMP_COUNTER)}")
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


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # os.kill(0, ...) means "my process group": never read that as a dead writer
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process; anything else: not sure, so alive
        return True
    return True


def remove_stale_temp_files(directory: _PATH, suffix: str = ".ckpt") -> list[str]:
    """Delete temp files that fastlit checkpoint writers left in ``directory`` when they were killed.

    Only hidden files named ``.<name><suffix>.tmp-<pid>[-<n>]`` whose writer ``pid`` is no longer running on this
    machine are removed; files of a live pid (e.g. an async write in flight) and every other file are left alone.
    A pid from another host sharing the directory cannot be checked: run one job per checkpoint directory.

    Args:
        directory: the checkpoint directory (missing: nothing to do).
        suffix: only temp files for targets with this extension are considered.

    Returns:
        The paths removed.
    """
    directory = os.fspath(directory)
    try:
        names = os.listdir(directory)
    except OSError:  # missing or unreadable: nothing of ours to clean
        return []
    removed = []
    for name in names:
        m = _TMP_NAME.fullmatch(name)
        if m is None or not m.group("base").endswith(suffix) or _pid_alive(int(m.group("pid"))):
            continue
        path = os.path.join(directory, name)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue  # our writers only make regular files; leave links and directories alone
            os.unlink(path)
        except OSError:  # gone already (another cleaner) or not ours to delete: leave it
            continue
        removed.append(path)
    return removed


class _DictRebuild:
    """Stands in for ``AttributeDict`` while ``torch.load(weights_only=True)`` unpickles.

    An ``AttributeDict`` pickles as "new empty object, then SETITEM", and torch's safe unpickler allows SETITEM on
    plain ``dict`` only. So the class name is mapped to this, which returns a plain ``dict`` and remembers it;
    :func:`load` turns the remembered dicts back into ``AttributeDict`` afterwards. Nothing else is executed.
    """

    made = threading.local()

    def __new__(cls, *args: Any) -> Any:  # NEWOBJ gives no args, REDUCE a mapping
        d = dict(*args)
        made = getattr(cls.made, "dicts", None)
        if made is not None:
            made.append(d)  # keeps d alive, so its id stays unique until load() has rebuilt it
        return d


# ``AttributeDict`` as fastlit and Lightning (whose class fastlit never imports) pickle it
_ATTRIBUTE_DICT_NAMES = ("fastlit.utilities.parsing.AttributeDict", "pytorch_lightning.utilities.parsing.AttributeDict",
                         "lightning.pytorch.utilities.parsing.AttributeDict",
                         "lightning_fabric.utilities.data.AttributeDict", "lightning.fabric.utilities.data.AttributeDict")


def _safe_globals() -> list:
    # our own harmless types only; never a blanket allow
    return [Path, type(Path("."))] + [(_DictRebuild, name) for name in _ATTRIBUTE_DICT_NAMES]


def _rebuild_attribute_dicts(obj: Any, made: dict[int, Any], seen: set[int]) -> Any:
    """Replace, inside ``obj``, each dict made by ``_DictRebuild`` (ids are ``made``'s keys) by an ``AttributeDict``.

    ``made`` maps to the rebuilt object once there is one, so a dict referenced twice stays one object; ``seen``
    stops at containers already visited (shared or cyclic references).
    """
    if id(obj) in made and made[id(obj)] is not None:
        return made[id(obj)]
    if not isinstance(obj, (dict, list, tuple)) or id(obj) in seen:
        return obj
    seen.add(id(obj))
    if isinstance(obj, (dict, list)):
        for k, v in list(obj.items() if isinstance(obj, dict) else enumerate(obj)):
            new = _rebuild_attribute_dicts(v, made, seen)
            if new is not v:
                obj[k] = new
        if id(obj) in made:
            from fastlit.utilities.parsing import AttributeDict

            made[id(obj)] = AttributeDict(obj)
            return made[id(obj)]
        return obj
    items = [_rebuild_attribute_dicts(v, made, seen) for v in obj]
    if all(a is b for a, b in zip(items, obj)):
        return obj
    return obj._make(items) if hasattr(obj, "_make") else type(obj)(items)  # namedtuples take positional fields


def _weights_only_load(path: Union[_PATH, IO], map_location: Any) -> Any:
    made: list[dict] = []
    _DictRebuild.made.dicts = made
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            result = torch.load(path, map_location=map_location, weights_only=True)
    finally:
        _DictRebuild.made.dicts = None
    if made:  # the common checkpoint has none: no walk over the state dict then
        result = _rebuild_attribute_dicts(result, {id(d): None for d in made}, set())
    return result


# words that mark the line of torch's UnpicklingError saying what was refused (the rest is generic advice)
_UNPICKLER_DETAIL = ("Unsupported", "GLOBAL", "Can only", "Trying to", "unsupported")


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
            return _weights_only_load(path, map_location)
        return torch.load(path, map_location=map_location, weights_only=False)
    except pickle.UnpicklingError as e:
        if safe:
            # torch's message starts with generic advice; the line naming the offending global/opcode is the news
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            detail = next((ln for ln in lines if any(w in ln for w in _UNPICKLER_DETAIL)), lines[0] if lines else "")
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


def pl_load(path_or_url: Union[IO, _PATH], map_location: Any = None, weights_only: Optional[bool] = None) -> Any:
    """Load a checkpoint from a file object, a local path or an http(s) URL (downloaded to torch.hub's cache);
    Lightning's ``utilities.cloud_io.pl_load``.

    Local files go through :func:`load` (``weights_only`` by default, clear errors for missing or corrupt files); a
    URL defaults to ``weights_only=False`` as in Lightning, since a remote file is loaded whole.
    """
    if isinstance(path_or_url, (str, os.PathLike)) and str(path_or_url).startswith("http"):
        return torch.hub.load_state_dict_from_url(str(path_or_url), map_location=map_location,
                                                  weights_only=bool(weights_only))
    return load(path_or_url, map_location=map_location, weights_only=weights_only)


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
