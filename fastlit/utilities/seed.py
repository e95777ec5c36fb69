"""``seed_everything``: one call seeds python, numpy and torch (CPU and CUDA)."""
from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any, Optional

import torch

from fastlit.utilities.rank_zero import log, rank_zero_only

_MAX_SEED = 2**32 - 1


def seed_everything(seed: Optional[int] = None, workers: bool = False, verbose: bool = True) -> int:
    """Seed python's ``random``, numpy and torch, and export ``PL_GLOBAL_SEED`` for worker processes.

    Args:
        seed: the seed; ``None`` reads ``PL_GLOBAL_SEED`` or falls back to 0.
        workers: also set ``PL_SEED_WORKERS=1`` so dataloader workers derive their own seeds.
        verbose: log the seed that was set.
    """
    if seed is None:
        env = os.environ.get("PL_GLOBAL_SEED")
        seed = int(env) if env is not None else 0
    seed = int(seed)
    if not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed_everything: {seed} is not in [0, {_MAX_SEED}]; pass a seed in that range.")
    if verbose:
        rank_zero_only(log.info)(f"Seed set to {seed}")
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    os.environ["PL_SEED_WORKERS"] = str(int(workers))
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def reset_seed() -> None:
    """Re-apply the seed from ``PL_GLOBAL_SEED`` (e.g. in a freshly spawned process)."""
    seed = os.environ.get("PL_GLOBAL_SEED")
    if seed is not None:
        seed_everything(int(seed), workers=bool(int(os.environ.get("PL_SEED_WORKERS", "0"))), verbose=False)


@contextlib.contextmanager
def isolate_rng(include_cuda: bool = True) -> Iterator[None]:
    """Leave python's, numpy's and torch's (CPU and, with ``include_cuda``, CUDA) random state as it was before
    the block."""
    py_state = random.getstate()
    torch_state = torch.get_rng_state()
    cuda = include_cuda and torch.cuda.is_available() and torch.cuda.is_initialized()
    cuda_state = torch.cuda.get_rng_state_all() if cuda else None
    try:
        import numpy as np

        np_state: Optional[Any] = np.random.get_state()
    except ImportError:
        np, np_state = None, None
    try:
        yield
    finally:
        random.setstate(py_state)
        torch.set_rng_state(torch_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state_all(cuda_state)
        if np_state is not None:
            np.random.set_state(np_state)
