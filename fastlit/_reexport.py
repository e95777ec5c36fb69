"""Lazy re-exports: the extra names a Lightning module also exposes (helpers it imported, e.g.
``lightning.pytorch.strategies.ddp.TrainerFn``), provided by a fastlit module without importing them up front.

Eager imports of these would cost import time and, in modules the Trainer itself imports, create import cycles;
a module-level ``__getattr__`` (PEP 562) imports each name on first access and caches it, so the object is the
very one at its home path (``isinstance`` and ``is`` agree across paths) and ``hasattr`` works.
"""
from __future__ import annotations

import importlib
import logging
import sys
from typing import Any, Callable


def lazy_exports(module: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``names``: ``{"TrainerFn": "fastlit.trainer.states"}`` (the attribute of
    the same name in that module) or ``{"utils_rank_zero_only": "fastlit.utilities.rank_zero:rank_zero_only"}``.

    Two targets make a per-module object instead, as Lightning's modules have: ``"@logger"`` (the module's
    ``logging.getLogger(__name__)``, Lightning's ``log``) and ``"@warning_cache"`` (its own ``WarningCache()``).

    Use: ``__getattr__ = lazy_exports(__name__, {...})`` at the end of the module.
    """

    def __getattr__(name: str) -> Any:
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if target == "@logger":
            value: Any = logging.getLogger(module)
        elif target == "@warning_cache":
            from fastlit.utilities.rank_zero import WarningCache

            value = WarningCache()
        else:
            home, _, attr = target.partition(":")
            value = getattr(importlib.import_module(home), attr or name)
        setattr(sys.modules[module], name, value)  # later lookups skip this function
        return value

    return __getattr__
