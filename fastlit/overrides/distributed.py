"""Distributed samplers that shard *any* sampler, with or without padding, and DDP's backward preparation."""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sized
from typing import Any, Optional, Union

import torch
from torch import Tensor
from torch.utils.data import Dataset, DistributedSampler, Sampler

from fastlit.utilities.rank_zero import rank_zero_debug, rank_zero_info  # noqa: F401  (Lightning exports them)


def _find_tensors(obj: Any) -> Iterable[Tensor]:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return itertools.chain(*map(_find_tensors, obj))
    if isinstance(obj, dict):
        return itertools.chain(*map(_find_tensors, obj.values()))
    return []


def prepare_for_backward(model: Any, output: Any) -> None:
    """Tell a ``DistributedDataParallel`` model's reducer a backward pass is coming, for a forward that did not go
    through ``model.forward`` (what DDP's own forward does at its end)."""
    if torch.is_grad_enabled() and model.require_backward_grad_sync:
        model.require_forward_param_sync = True
        # with find_unused_parameters, the reducer walks the graph from the outputs to see which parameters ran
        args = list(_find_tensors(output)) if model.find_unused_parameters and not model.static_graph else []
        model.reducer._rebuild_buckets()  # without it: "INTERNAL ASSERT FAILED" with find_unused_parameters=False
        model.reducer.prepare_for_backward(args)
    else:
        model.require_forward_param_sync = False


class _DatasetSamplerWrapper(Dataset):
    """The indices a sampler yields, as a dataset (so ``DistributedSampler`` can shard them)."""

    def __init__(self, sampler: Union[Sampler, Iterable]) -> None:
        if not isinstance(sampler, Sized) or len(sampler) == float("inf"):
            raise TypeError("The sampler of your DataLoader has no finite `__len__`, so it cannot be sharded across "
                            "processes. Give it a `__len__`, remove it, or set `use_distributed_sampler=False` and "
                            "shard the data yourself.")
        self._sampler = sampler
        self._sampler_list: Optional[list[Any]] = None  # drawn when first needed

    def __getitem__(self, index: int) -> Any:
        if self._sampler_list is None:
            self._sampler_list = list(self._sampler)
        return self._sampler_list[index]

    def __len__(self) -> int:
        return len(self._sampler)

    def reset(self) -> None:
        """Draw the sampler's indices anew (a shuffling sampler gives a new order)."""
        self._sampler_list = list(self._sampler)


class DistributedSamplerWrapper(DistributedSampler):
    """Shard the output of any sampler across processes (padded like ``DistributedSampler``). Randomness is the
    wrapped sampler's: this wrapper's own ``shuffle``/``seed`` have no effect."""

    def __init__(self, sampler: Union[Sampler, Iterable], *args: Any, **kwargs: Any) -> None:
        super().__init__(_DatasetSamplerWrapper(sampler), *args, **kwargs)

    def __iter__(self) -> Iterator:
        self.dataset.reset()
        return (self.dataset[index] for index in super().__iter__())

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        inner = self.dataset._sampler
        if callable(getattr(inner, "set_epoch", None)):
            inner.set_epoch(epoch)


class UnrepeatedDistributedSampler(DistributedSampler):
    """A ``DistributedSampler`` that does not pad: rank r gets indices r, r+R, r+2R, ... so ranks may differ by one
    sample. Right for evaluation and prediction (every sample counted once); for training, where DDP needs every
    rank to run the same number of steps, use the padding ``DistributedSampler``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.dataset, Sized):
            raise TypeError("The given dataset must implement the `__len__` method.")
        self.num_samples = len(range(self.rank, len(self.dataset), self.num_replicas))
        self.total_size = len(self.dataset)
        assert self.num_samples >= 1 or self.total_size == 0

    def __iter__(self) -> Iterator[int]:
        if not isinstance(self.dataset, Sized):
            raise TypeError("The given dataset must implement the `__len__` method.")
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.epoch)
            indices = torch.randperm(len(self.dataset), generator=g).tolist()
        else:
            indices = list(range(len(self.dataset)))
        return iter(indices[self.rank:self.total_size:self.num_replicas])


class UnrepeatedDistributedSamplerWrapper(UnrepeatedDistributedSampler):
    """``UnrepeatedDistributedSampler`` over the output of any sampler."""

    def __init__(self, sampler: Union[Sampler, Iterable], *args: Any, **kwargs: Any) -> None:
        super().__init__(_DatasetSamplerWrapper(sampler), *args, **kwargs)

    def __iter__(self) -> Iterator:
        self.dataset.reset()
        return (self.dataset[index] for index in super().__iter__())
