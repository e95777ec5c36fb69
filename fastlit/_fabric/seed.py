"""``lightning.fabric.utilities.seed`` (Lightning 2.6.6): seeding, on fastlit's ``seed_everything``."""
from __future__ import annotations

import os
import random
from typing import Any, Optional

import numpy as np
import torch

from fastlit.utilities.seed import reset_seed, seed_everything  # noqa: F401

max_seed_value = np.iinfo(np.uint32).max
min_seed_value = np.iinfo(np.uint32).min


def _generate_seed_sequence(base_seed: int, worker_id: int, global_rank: int, count: int) -> list[int]:
    """Lightning's: the base seed, worker id and rank mixed (MurmurHash3 finalizer), then ``count`` steps of a
    64-bit linear congruential generator."""
    mask = (1 << 64) - 1
    combined_seed = (base_seed << 32) | (worker_id << 16) | global_rank
    combined_seed ^= combined_seed >> 33
    combined_seed = (combined_seed * 0xFF51AFD7ED558CCD) & mask
    combined_seed ^= combined_seed >> 33
    combined_seed = (combined_seed * 0xC4CEB9FE1A85EC53) & mask
    combined_seed ^= combined_seed >> 33
    seeds = []
    for _ in range(count):
        combined_seed = (combined_seed * 6364136223846793005 + 1) & ((1 << 64) - 1)
        seeds.append(combined_seed)
    return seeds


def pl_worker_init_function(worker_id: int, rank: Optional[int] = None) -> None:
    """DataLoader ``worker_init_fn`` seeding each worker's torch/random/numpy from its torch seed (as Lightning)."""
    global_rank = rank if rank is not None else int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))
    process_seed = torch.initial_seed()
    base_seed = process_seed - worker_id
    seed_sequence = _generate_seed_sequence(base_seed, worker_id, global_rank, count=4)
    torch.manual_seed(seed_sequence[0])
    random.seed((seed_sequence[1] << 32) | seed_sequence[2])
    ss = np.random.SeedSequence([base_seed, worker_id, global_rank])
    np.random.seed(ss.generate_state(4))


def _collect_rng_states(include_cuda: bool = True) -> dict[str, Any]:
    """The global torch, numpy and Python random states (CUDA's too when asked and available)."""
    states = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if include_cuda and torch.cuda.is_available():
        states["torch.cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(rng_state_dict: dict[str, Any]) -> None:
    """Restore what ``_collect_rng_states`` returned."""
    torch.set_rng_state(rng_state_dict["torch"])
    if "torch.cuda" in rng_state_dict:
        torch.cuda.set_rng_state_all(rng_state_dict["torch.cuda"])
    if "numpy" in rng_state_dict:
        np.random.set_state(rng_state_dict["numpy"])
    version, state, gauss = rng_state_dict["python"]
    random.setstate((version, tuple(state), gauss))
