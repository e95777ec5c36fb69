"""Loads fastlit's compiled ops (`fastlit._C`) and says clearly why when it cannot.

`EXT_AVAILABLE` tells whether `torch.ops.fastlit.*` exist; `EXT_ERROR` holds the reason when they do not.
Callers that have a fallback (torch's own fused/foreach ops) call `warn_if_missing()` once before using it, so a
broken build (or a pure-Python install, `FASTLIT_NO_EXTENSION=1` in setup.py) is loud instead of silently slow.
`FASTLIT_DISABLE_EXT=1` forces the fallback path at run time (for tests and for comparing against torch).
"""
from __future__ import annotations

import os
import warnings

import torch  # noqa: F401  (libtorch must be loaded before the extension that links against it)

EXT_AVAILABLE: bool = False
EXT_ERROR: str | None = None

if os.environ.get("FASTLIT_DISABLE_EXT", "") not in ("", "0"):
    EXT_ERROR = "disabled by the environment variable FASTLIT_DISABLE_EXT=1"
else:
    try:
        from fastlit import _C  # noqa: F401  (importing registers torch.ops.fastlit.* via static init)

        EXT_AVAILABLE = True
    except Exception as err:  # ImportError, or OSError / undefined symbols from a build against another torch
        EXT_ERROR = f"{type(err).__name__}: {err}"

_warned = False


def warn_if_missing() -> None:
    """Warns once (UserWarning) when the extension is unavailable, with the reason and the fix."""
    global _warned
    if EXT_AVAILABLE or _warned:
        return
    _warned = True
    fix = (
        "unset FASTLIT_DISABLE_EXT to use them"
        if EXT_ERROR and EXT_ERROR.startswith("disabled")
        else "rebuild it against the installed torch with `pip install --no-build-isolation -e .` "
        "from the fastlit checkout (needs a C++ compiler and ninja; FASTLIT_NO_EXTENSION=1 must not be set)"
    )
    warnings.warn(
        f"fastlit's compiled ops (fastlit._C) are not available ({EXT_ERROR}); falling back to torch's fused / "
        f"foreach implementations, which are slower. To fix: {fix}.",
        UserWarning,
        stacklevel=2,
    )


def cpu_capability() -> str | None:
    """The CPU kernel variant in use ("AVX2" or "DEFAULT"), or None without the extension."""
    return _C.cpu_capability() if EXT_AVAILABLE else None
