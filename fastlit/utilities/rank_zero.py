"""Rank-zero helpers: run or print only on the process with global rank 0."""
from __future__ import annotations

import functools
import logging
import os
import warnings
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")
log = logging.getLogger("fastlit")


def _get_rank() -> int:
    # The launcher's env vars are authoritative; before torch.distributed is up they are all we have.
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        rank = os.environ.get(key)
        if rank is not None:
            return int(rank)
    return 0


def rank_zero_only(fn: Callable[..., T], default: Optional[T] = None) -> Callable[..., Optional[T]]:
    """Wrap ``fn`` so that it runs only when ``rank_zero_only.rank == 0``; other ranks get ``default``."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Optional[T]:
        if rank_zero_only.rank == 0:
            return fn(*args, **kwargs)
        return default

    return wrapped


rank_zero_only.rank = _get_rank()  # type: ignore[attr-defined]


@rank_zero_only
def rank_zero_info(msg: str, *args: Any, **kwargs: Any) -> None:
    log.info(msg, *args, **kwargs)


@rank_zero_only
def rank_zero_debug(msg: str, *args: Any, **kwargs: Any) -> None:
    log.debug(msg, *args, **kwargs)


@rank_zero_only
def rank_zero_warn(message: Any, category: type = UserWarning, stacklevel: int = 4, **kwargs: Any) -> None:
    warnings.warn(message, category=category, stacklevel=stacklevel, **kwargs)


class LightningDeprecationWarning(DeprecationWarning):
    """Deprecations of Lightning/fastlit APIs (a ``DeprecationWarning``, shown by default, not only in __main__)."""


warnings.simplefilter("default", category=LightningDeprecationWarning)


@rank_zero_only
def rank_zero_deprecation(message: Any, stacklevel: int = 4) -> None:
    warnings.warn(message, category=LightningDeprecationWarning, stacklevel=stacklevel)


def rank_prefixed_message(message: str, rank: Optional[int]) -> str:
    """``"[rank: 1] message"``, or the message unchanged when ``rank`` is None."""
    return f"[rank: {rank}] {message}" if rank is not None else message


class WarningCache(set):
    """Emit each distinct warning once."""

    def warn(self, message: str, category: type = UserWarning, stacklevel: int = 5) -> None:
        if message not in self:
            self.add(message)
            rank_zero_warn(message, category=category, stacklevel=stacklevel)

    def info(self, message: str) -> None:
        if message not in self:
            self.add(message)
            rank_zero_info(message)
