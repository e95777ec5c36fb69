"""``OnExceptionCheckpoint``: save a checkpoint when a run is interrupted by an exception."""
from __future__ import annotations

import os
from typing import Any, Optional

from fastlit.callbacks.checkpoint import Checkpoint
from fastlit.utilities.rank_zero import rank_zero_warn
from fastlit.utilities.types import _PATH


class OnExceptionCheckpoint(Checkpoint):
    """Write ``dirpath/filename.ckpt`` when ``fit``/``validate``/``test``/``predict`` raises (Ctrl+C included).

    Args:
        dirpath: directory for the checkpoint (needed up front: an exception can come at any moment).
        filename: file name without the ``.ckpt`` extension.

    Raises:
        ValueError: ``filename`` is empty.

    A run that ends normally removes the file again in ``teardown``. ``fit(ckpt_path=None)`` resumes from the newest
    of this file and the ``last.ckpt`` files, so rerunning a crashed script continues where it failed. Being a
    ``Checkpoint``, this callback also stands in for the default ``ModelCheckpoint`` (as in Lightning).
    """

    FILE_EXTENSION = ".ckpt"

    def __init__(self, dirpath: _PATH, filename: str = "on_exception") -> None:
        super().__init__()
        if not filename:
            raise ValueError("The filename cannot be empty")
        self.dirpath = dirpath
        self.filename = filename

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.dirpath, self.filename + self.FILE_EXTENSION)

    def on_exception(self, trainer: Any, *_: Any, **__: Any) -> None:
        trainer.save_checkpoint(self.ckpt_path)  # overwrites an older one

    def teardown(self, trainer: Any, *_: Any, **__: Any) -> None:
        if trainer.is_global_zero:
            trainer._checkpoint_io.remove_checkpoint(self.ckpt_path)


def _resume_path(trainer: Any) -> Optional[str]:
    """``fit(ckpt_path=None)`` with an ``OnExceptionCheckpoint`` attached resumes, as in Lightning, from the newest
    of its on-exception file and every ``ModelCheckpoint``'s ``last*.ckpt`` (so rerunning a crashed script picks up
    where it failed). Returns None, with Lightning's warnings, when there is nothing to resume from; None without
    a word when no ``OnExceptionCheckpoint`` is attached."""
    from fastlit.callbacks.model_checkpoint import ModelCheckpoint

    fts = [cb for cb in trainer.callbacks if isinstance(cb, OnExceptionCheckpoint)]
    if not fts:
        return None
    rank_zero_warn("`.fit(ckpt_path=None)` was called without a model. The last model of the previous `fit` call will "
                   "be used. You can pass `fit(ckpt_path='best')` to use the best model or `fit(ckpt_path='last')` to "
                   "use the last model. If you pass a value, this warning will be silenced.")
    candidates = {ft.ckpt_path for ft in fts}
    for cb in trainer.checkpoint_callbacks:
        if isinstance(cb, ModelCheckpoint):
            candidates |= cb._find_last_checkpoints(trainer)
    existing = {p: os.path.getmtime(p) for p in candidates if p and os.path.isfile(p)}
    if not existing:
        rank_zero_warn('.fit(ckpt_path="last") is set, but there is no last checkpoint available. No checkpoint will '
                       "be loaded. HINT: Set `ModelCheckpoint(..., save_last=True)`.")
        return None
    return max(existing, key=existing.__getitem__)
