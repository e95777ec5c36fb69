"""``Checkpoint``: the base class the Trainer recognises as a checkpointing callback."""
from __future__ import annotations

import os
import warnings
from typing import Any, Optional

from fastlit.callbacks.callback import Callback


class Checkpoint(Callback):
    """Base class for checkpointing callbacks.

    Subclass it (instead of ``Callback``) for a custom checkpointing callback, so that the Trainer lists it in
    ``trainer.checkpoint_callbacks``.

    Args: none.
    """


def _legacy_auto_mode(mode: str, monitor: Optional[str], owner: str) -> str:
    """Resolve Lightning 1.x's ``mode="auto"`` (removed in 2.x) to ``"min"``/``"max"``, with a warning.

    1.x picked ``"max"`` for metric names containing ``acc`` or starting with ``fmeasure``, else ``"min"``;
    tutorials still pass ``mode="auto"``, so we keep that rule instead of failing.
    """
    if mode != "auto":
        return mode
    name = monitor or ""
    resolved = "max" if ("acc" in name or name.startswith("fmeasure")) else "min"
    warnings.warn(
        f"`{owner}(mode='auto')` was removed in Lightning 2.0; using mode={resolved!r} for monitor={monitor!r}. "
        f"Pass `mode='min'` or `mode='max'` explicitly.",
        DeprecationWarning,
        stacklevel=4,
    )
    return resolved


def _legacy_model_checkpoint_args(kw: dict, dirpath: Any, filename: Any, every_n_epochs: Any,
                                  save_top_k: Any) -> tuple:
    """Map Lightning 1.x arguments that tutorials still pass (``filepath``, ``period``, ``prefix``...)."""
    def deprecated(old: str, new: str) -> None:
        warnings.warn(f"`ModelCheckpoint({old}=...)` was removed in Lightning 2.0; use `{new}` instead.",
                      DeprecationWarning, stacklevel=4)

    prefix = kw.pop("prefix", None) or None
    if prefix is not None:
        deprecated("prefix", "filename='<prefix>-{epoch}-{step}'")
    for old in ("period", "every_n_val_epochs"):
        if old in kw:
            deprecated(old, "every_n_epochs")
            value = kw.pop(old)
            every_n_epochs = value if every_n_epochs is None else every_n_epochs
    if "filepath" in kw:
        deprecated("filepath", "dirpath= and filename=")
        filepath = kw.pop("filepath")
        if filepath is not None and dirpath is None and filename is None:
            if os.path.isdir(filepath):
                dirpath = filepath
            else:
                dirpath, name = os.path.split(filepath)
                filename = os.path.splitext(name)[0] or None
                dirpath = dirpath or None
    if kw:
        raise TypeError(f"ModelCheckpoint.__init__() got unexpected keyword argument(s) {sorted(kw)}")
    if save_top_k is None:  # 1.x's default meant "keep the best one"
        warnings.warn("`ModelCheckpoint(save_top_k=None)` is the Lightning 1.x default; Lightning 2.x needs an int. "
                      "Using save_top_k=1.", DeprecationWarning, stacklevel=3)
        save_top_k = 1
    return dirpath, filename, every_n_epochs, save_top_k, prefix
