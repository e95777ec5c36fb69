"""Data helpers with Lightning's names: batch-size inference, lengths of loaders, worker-count advice."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Generator, Iterable, Mapping
from typing import Any, Optional, Union

import torch
from torch import Tensor
from torch.utils.data import IterableDataset

from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import WarningCache, rank_zero_warn
from fastlit.utilities.warnings import PossibleUserWarning  # noqa: F401  (Lightning's module exports it)

BType = Union[Tensor, str, Mapping[Any, "BType"], Iterable["BType"]]

warning_cache = WarningCache()


def is_dataclass_instance(obj: object) -> bool:
    """A dataclass *instance* (``dataclasses.is_dataclass`` is also true for the class)."""
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def has_iterable_dataset(dataloader: object) -> bool:
    return hasattr(dataloader, "dataset") and isinstance(dataloader.dataset, IterableDataset)


def sized_len(dataloader: object) -> Optional[int]:
    """``len(dataloader)``, or None when it has no length."""
    try:
        return len(dataloader)  # type: ignore[arg-type]
    except (TypeError, NotImplementedError):
        return None


def _batch_sizes(batch: BType) -> Generator[Optional[int], None, None]:
    if isinstance(batch, Tensor):
        yield batch.size(0) if batch.ndim else 1
    elif isinstance(batch, (Iterable, Mapping)) and not isinstance(batch, str):
        for item in (batch.values() if isinstance(batch, Mapping) else batch):
            yield from _batch_sizes(item)
    elif is_dataclass_instance(batch):
        for field in dataclasses.fields(batch):  # type: ignore[arg-type]
            yield from _batch_sizes(getattr(batch, field.name))
    else:
        yield None


def extract_batch_size(batch: BType) -> int:
    """The first dimension of the first tensor found in ``batch`` (depth first); warns once if tensors disagree.

    Raises:
        MisconfigurationException: no tensor in the batch.
    """
    error = ("We could not infer the batch_size from the batch. Either simplify its structure or provide the "
             "batch_size as `self.log(..., batch_size=batch_size)`.")
    size = None
    try:
        for found in _batch_sizes(batch):
            if size is None:
                size = found
            elif found != size:
                warning_cache.warn(
                    "Trying to infer the `batch_size` from an ambiguous collection. The batch size we found is "
                    f"{size}. To avoid any miscalculations, use `self.log(..., batch_size=batch_size)`.")
                break
    except RecursionError:
        raise RecursionError(error) from None
    if size is None:
        raise MisconfigurationException(error)
    return size


def has_len_all_ranks(dataloader: object, strategy: Any,
                      allow_zero_length_dataloader_with_multiple_devices: bool = False) -> bool:
    """Whether ``dataloader`` has a length (on every rank: the lengths are summed over ``strategy``'s ranks).

    Raises:
        RuntimeError: this rank's loader is empty while others are not (unless explicitly allowed).
    """
    local = sized_len(dataloader)
    if local is None:
        return False
    total = strategy.reduce(torch.tensor(local, device=strategy.root_device), reduce_op="sum")
    name = type(dataloader).__name__
    if total == 0:
        rank_zero_warn(f"Total length of `{name}` across ranks is zero. Please make sure this was your intention.")
    if total > 0 and local == 0:
        if not allow_zero_length_dataloader_with_multiple_devices:
            raise RuntimeError(f"`{name}` within local rank has zero length. Please make sure that it returns at "
                               "least 1 batch.")
        rank_zero_warn(f"Total length of `{name}` across ranks is zero, but local rank has zero length. Please be "
                       "cautious of uneven batch length.")
    if has_iterable_dataset(dataloader):
        rank_zero_warn("Your `IterableDataset` has `__len__` defined. In combination with multi-process data loading "
                       "(when num_workers > 1), `__len__` could be inaccurate if each worker is not configured "
                       "independently to avoid having duplicate data.")
    return True


def _num_cpus_available() -> int:
    if hasattr(os, "sched_getaffinity"):  # the CPUs this process may run on, not all of the machine's
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def suggested_max_num_workers(local_world_size: int) -> int:
    """An upper bound for ``DataLoader(num_workers=...)``: the usable CPUs split over the local processes, minus
    one each for the training process itself (at least 1)."""
    if local_world_size < 1:
        raise ValueError(f"`local_world_size` should be >= 1, got {local_world_size}.")
    return max(1, _num_cpus_available() // local_world_size - 1)


# Lightning's module also exports RunningStage; it lives with the Trainer, above the utilities, so it is imported on
# first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {"RunningStage": "fastlit.trainer.states"})
