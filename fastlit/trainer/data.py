"""Where each stage's dataloaders come from, how many batches of each to run (the ``limit_*`` rules), and how a
batch reaches the device."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from torch.utils.data import DataLoader, IterableDataset

from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden

if TYPE_CHECKING:
    from fastlit.trainer.trainer import Trainer

_METHOD = {"train": "train_dataloader", "val": "val_dataloader", "test": "test_dataloader",
           "predict": "predict_dataloader"}


def _source_has(obj: Any, method: str) -> bool:
    if obj is None:
        return False
    from fastlit.core.datamodule import LightningDataModule
    from fastlit.core.module import LightningModule

    parent = LightningDataModule if isinstance(obj, LightningDataModule) else LightningModule
    return is_overridden(method, obj, parent)


def resolve(stage: str, given: Any, datamodule: Any, module: Any) -> Any:
    """The dataloader(s) for ``stage``: passed in, else the datamodule's, else the module's; None if none."""
    if given is not None:
        return given
    method = _METHOD[stage]
    for source in (datamodule, module):
        if _source_has(source, method):
            return getattr(source, method)()
    return None


def as_list(loaders: Any) -> list[Any]:
    """Evaluation loaders as a list (a dict's values in order, like Lightning's CombinedLoader)."""
    if loaders is None:
        return []
    if isinstance(loaders, Mapping):
        return list(loaders.values())
    if isinstance(loaders, (list, tuple)):
        return list(loaders)
    return [loaders]


def length(loader: Any) -> Union[int, float]:
    """``len(loader)`` or ``inf`` when it has none (iterable datasets)."""
    if isinstance(loader, DataLoader) and isinstance(loader.dataset, IterableDataset):
        try:
            return len(loader)
        except TypeError:
            return float("inf")
    try:
        return len(loader)
    except (TypeError, NotImplementedError):
        return float("inf")


def limit(n: Union[int, float], lim: Union[int, float, None], name: str) -> Union[int, float]:
    """Apply ``limit_*_batches``: an int is a count, a float a fraction of the epoch."""
    if lim is None:
        return n
    if isinstance(lim, bool):
        raise MisconfigurationException(f"`{name}` must be an int or a float, got {lim!r}.")
    if isinstance(lim, int):
        if lim < 0:
            raise MisconfigurationException(f"`{name}` must be >= 0, got {lim}.")
        return min(n, lim)
    if not 0.0 <= lim <= 1.0:
        raise MisconfigurationException(f"`{name}` as a float must be in [0.0, 1.0], got {lim}.")
    if lim == 1.0:
        return n
    if n == float("inf"):
        if lim == 0.0:
            return 0
        raise MisconfigurationException(
            f"When using an `IterableDataset`, `Trainer({name})` must be `1.0` or an int. An int specifies "
            "`num_batches` to use.")
    batches = int(n * lim)
    if lim > 0 and batches == 0 and n > 0:
        raise MisconfigurationException(
            f"You requested to check {lim} of the dataloader but {lim} * {n} < 1. Please increase the "
            f"`{name}` argument. Try at least `{name}={1 / n}`")
    return batches


def val_check_batch(val_check_interval: Union[int, float], num_training_batches: Union[int, float],
                    check_val_every_n_epoch: Optional[int]) -> Union[int, float]:
    """After how many training batches validation runs (Lightning's rule)."""
    if isinstance(val_check_interval, int) and not isinstance(val_check_interval, bool):
        if check_val_every_n_epoch is not None and val_check_interval > num_training_batches:
            raise ValueError(
                f"`val_check_interval` ({val_check_interval}) must be less than or equal to the number of the "
                f"training batches ({num_training_batches}). If you want to disable validation set "
                "`limit_val_batches` to 0.0 instead. If you want to validate based on the total training "
                "batches, set `check_val_every_n_epoch=None`.")
        return val_check_interval
    if not 0.0 <= val_check_interval <= 1.0:
        raise MisconfigurationException(
            f"`val_check_interval` as a float must be in [0.0, 1.0], got {val_check_interval}.")
    if num_training_batches == float("inf"):
        if val_check_interval != 1.0:
            raise MisconfigurationException(
                "When using an IterableDataset for `train_dataloader`, `Trainer(val_check_interval)` must be "
                "`1.0` or an int. An int k specifies checking validation every k training batches.")
        return float("inf")
    return max(1, int(num_training_batches * val_check_interval)) if num_training_batches else 1


def check_is_loader(loader: Any, stage: str) -> None:
    if not hasattr(loader, "__iter__"):
        raise TypeError(
            f"An invalid dataloader was passed to `Trainer.{'fit' if stage in ('train', 'val') else stage}"
            f"({'train_dataloaders' if stage == 'train' else 'dataloaders'}=...)`. Found {loader!r}.")


def with_distributed_sampler(loader: Any, strategy: Any, shuffle: Optional[bool] = None) -> Any:
    """Rebuild a DataLoader so each rank reads its own shard (Lightning's ``use_distributed_sampler``).

    The shard sampler shuffles when the original loader did (a ``RandomSampler``), seeded with the global seed
    so every rank draws the same permutation; ``set_epoch`` is called each epoch by the loop. Like torch's
    ``DistributedSampler`` it pads the last shard by repeating samples so every rank gets as many batches.
    """
    from torch.utils.data import DistributedSampler, RandomSampler

    if not isinstance(loader, DataLoader) or isinstance(loader.dataset, IterableDataset):
        return loader
    if isinstance(loader.sampler, DistributedSampler) or loader.batch_sampler is None:
        return loader
    if shuffle is None:
        shuffle = isinstance(loader.sampler, RandomSampler)
    sampler = DistributedSampler(loader.dataset, num_replicas=strategy.world_size, rank=strategy.global_rank,
                                 shuffle=shuffle, seed=int(os.environ.get("PL_GLOBAL_SEED", 0)))
    return _rebuilt(loader, sampler)


def _rebuilt(loader: DataLoader, sampler: Any) -> DataLoader:
    """A copy of ``loader`` that reads through ``sampler``, every other DataLoader setting kept."""
    kwargs = dict(batch_size=loader.batch_size, sampler=sampler, num_workers=loader.num_workers,
                  collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, drop_last=loader.drop_last,
                  timeout=loader.timeout, worker_init_fn=loader.worker_init_fn, generator=loader.generator,
                  multiprocessing_context=loader.multiprocessing_context,
                  persistent_workers=loader.persistent_workers)
    if loader.num_workers > 0:
        kwargs["prefetch_factor"] = loader.prefetch_factor
    return DataLoader(loader.dataset, **kwargs)


def without_shuffle(loader: Any) -> Any:
    """``overfit_batches``: Lightning trains on the same first batches every epoch, so a shuffling train loader
    is rebuilt with a sequential sampler (and Lightning's warning)."""
    from torch.utils.data import RandomSampler, SequentialSampler

    if not isinstance(loader, DataLoader) or not isinstance(loader.sampler, RandomSampler) \
            or loader.batch_sampler is None:
        return loader
    from fastlit.utilities.rank_zero import rank_zero_warn

    rank_zero_warn("You requested to overfit but enabled train dataloader shuffling. We are turning off the train "
                   "dataloader shuffling for you.")
    return _rebuilt(loader, SequentialSampler(loader.dataset))


_TRANSFER_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")


def batch_transfer(t: Trainer) -> Optional[Callable[[Any, int], Any]]:
    """A function ``(batch, dataloader_idx) -> batch`` that moves a batch to the device through the user's
    transfer hooks (the datamodule's override wins over the module's), or None when the plain move is enough.
    Decided once per epoch/stage by the loops."""
    from fastlit.core.datamodule import LightningDataModule
    from fastlit.core.module import LightningModule

    module, dm = t.lightning_module, t.datamodule
    custom = any(is_overridden(n, module, LightningModule) for n in _TRANSFER_HOOKS)
    if dm is not None:
        custom = custom or any(is_overridden(n, dm, LightningDataModule) for n in _TRANSFER_HOOKS)
    if not custom and t.precision_plugin.cast_dtype is None:
        return None
    device = t.strategy.root_device
    owner_before, owner_xfer, owner_after = (
        dm if dm is not None and is_overridden(n, dm, LightningDataModule) else module for n in _TRANSFER_HOOKS)
    convert = t.precision_plugin.convert_input

    def transfer(batch: Any, dataloader_idx: int) -> Any:
        batch = convert(batch)
        batch = owner_before.on_before_batch_transfer(batch, dataloader_idx)
        batch = owner_xfer.transfer_batch_to_device(batch, device, dataloader_idx)
        return owner_after.on_after_batch_transfer(batch, dataloader_idx)

    return transfer
