"""``Checkpoint``: the base class the Trainer recognises as a checkpointing callback."""
from __future__ import annotations

import warnings
from typing import Optional

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
