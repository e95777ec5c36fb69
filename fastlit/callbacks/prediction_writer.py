"""``BasePredictionWriter``: subclass it to write predictions to disk per batch and/or once per epoch.

Lightning's prediction loop tracks which dataset indices each batch came from by wrapping the loader's batch
sampler. fastlit's loop stays lean, so the writer does that tracking itself, only while it is attached: at
``on_predict_start`` it wraps the batch sampler of each predict ``DataLoader`` (restored at ``on_predict_end``)
and, for the epoch interval, keeps the predictions on the CPU.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from enum import Enum
from typing import Any, Literal, Optional

import torch

from fastlit.callbacks.callback import Callback
from fastlit.utilities.apply_func import move_data_to_device
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import WarningCache

_warnings = WarningCache()


class WriteInterval(str, Enum):
    BATCH = "batch"
    EPOCH = "epoch"
    BATCH_AND_EPOCH = "batch_and_epoch"

    @property
    def on_batch(self) -> bool:
        return self in (WriteInterval.BATCH, WriteInterval.BATCH_AND_EPOCH)

    @property
    def on_epoch(self) -> bool:
        return self in (WriteInterval.EPOCH, WriteInterval.BATCH_AND_EPOCH)


class _IndexCapture:
    """Stands in for a DataLoader's batch sampler and records the index lists it yields."""

    def __init__(self, batch_sampler: Any) -> None:
        self._batch_sampler = batch_sampler
        self.seen_batch_indices: list[list[int]] = []
        # the DataLoader reads attributes such as ``batch_size``/``drop_last`` off its batch sampler
        for k, v in vars(batch_sampler).items():
            self.__dict__.setdefault(k, v)

    def __iter__(self) -> Any:
        self.seen_batch_indices = []
        for indices in self._batch_sampler:
            self.seen_batch_indices.append(indices)
            yield indices

    def __len__(self) -> int:
        return len(self._batch_sampler)


def _loaders(trainer: Any) -> list[Any]:
    loaders = trainer.predict_dataloaders
    if loaders is None:
        return []
    if isinstance(loaders, dict):
        return list(loaders.values())
    return list(loaders) if isinstance(loaders, (list, tuple)) else [loaders]


class BasePredictionWriter(Callback):
    """Base class for writing predictions: override ``write_on_batch_end`` and/or ``write_on_epoch_end``.

    Args:
        write_interval: ``"batch"`` (default) calls ``write_on_batch_end`` after every predict batch, ``"epoch"``
            calls ``write_on_epoch_end`` once with all predictions, ``"batch_and_epoch"`` does both.

    Raises:
        MisconfigurationException: ``write_interval`` is not one of the three values.

    Example::

        class Writer(BasePredictionWriter):
            def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices):
                torch.save(predictions, "predictions.pt")

        trainer = Trainer(callbacks=[Writer(write_interval="epoch")])
        trainer.predict(model, return_predictions=False)
    """

    def __init__(self, write_interval: Literal["batch", "epoch", "batch_and_epoch"] = "batch") -> None:
        if write_interval not in [i.value for i in WriteInterval]:
            raise MisconfigurationException(f"`write_interval` should be one of {[i.value for i in WriteInterval]}.")
        self.interval = WriteInterval(write_interval)
        self._captures: list[Optional[_IndexCapture]] = []
        self._originals: list[tuple[Any, Any]] = []
        self._predictions: list[list[Any]] = []
        self._epoch_batch_indices: list[list[Any]] = []
        self.current_batch_indices: list[int] = []

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if "dataloader_iter" in inspect.signature(pl_module.predict_step).parameters:
            raise NotImplementedError("The `PredictionWriterCallback` does not support using `dataloader_iter`.")

    def write_on_batch_end(self, trainer: Any, pl_module: Any, prediction: Any,
                           batch_indices: Optional[Sequence[int]], batch: Any, batch_idx: int,
                           dataloader_idx: int) -> None:
        """Override with the logic to write a single batch."""
        raise NotImplementedError()

    def write_on_epoch_end(self, trainer: Any, pl_module: Any, predictions: Sequence[Any],
                           batch_indices: Sequence[Any]) -> None:
        """Override with the logic to write all batches (``batch_indices``: per dataloader, per batch)."""
        raise NotImplementedError()

    # ------------------------------------------------------------------ tracking
    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self._start(trainer)

    def on_predict_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._start(trainer)  # again here in case a subclass overrides on_predict_start without super()

    def _start(self, trainer: Any) -> None:
        if self._originals or self._predictions:
            return
        self._captures = []
        for dl in _loaders(trainer):
            sampler = getattr(dl, "batch_sampler", None)
            if isinstance(dl, torch.utils.data.DataLoader) and sampler is not None:
                capture = _IndexCapture(sampler)
                # DataLoader forbids setting batch_sampler after __init__; it is put back at on_predict_end
                object.__setattr__(dl, "batch_sampler", capture)
                self._originals.append((dl, sampler))
                self._captures.append(capture)
            else:
                self._captures.append(None)
        n = max(1, len(self._captures))
        self._predictions = [[] for _ in range(n)]
        self._epoch_batch_indices = [[] for _ in range(n)]

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        for dl, sampler in self._originals:
            object.__setattr__(dl, "batch_sampler", sampler)
        self._originals, self._captures = [], []
        self._predictions, self._epoch_batch_indices = [], []

    def _batch_indices(self, trainer: Any, batch_idx: int, dataloader_idx: int) -> Optional[list[int]]:
        capture = self._captures[dataloader_idx] if dataloader_idx < len(self._captures) else None
        if capture is None or batch_idx >= len(capture.seen_batch_indices):
            loaders = _loaders(trainer)
            dl = loaders[dataloader_idx] if dataloader_idx < len(loaders) else None
            _warnings.warn(f"Couldn't infer the batch indices fetched from your dataloader: `{type(dl).__name__}`")
            return None
        return capture.seen_batch_indices[batch_idx]

    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        indices = self._batch_indices(trainer, batch_idx, dataloader_idx)
        if self.interval.on_epoch:
            while len(self._predictions) <= dataloader_idx:  # hooks overridden without super(): track anyway
                self._predictions.append([])
                self._epoch_batch_indices.append([])
            if indices is not None:
                self._epoch_batch_indices[dataloader_idx].append(indices)
            self._predictions[dataloader_idx].append(move_data_to_device(outputs, torch.device("cpu")))
        if self.interval.on_batch:
            if indices is not None:
                self.current_batch_indices = indices
            self.write_on_batch_end(trainer, pl_module, outputs, self.current_batch_indices, batch, batch_idx,
                                    dataloader_idx)

    def on_predict_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self.interval.on_epoch:
            return
        preds = self._predictions[0] if len(self._predictions) == 1 else self._predictions
        self.write_on_epoch_end(trainer, pl_module, preds, self._epoch_batch_indices)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "LightningEnum": "fastlit.utilities.enums",
    "is_param_in_hook_signature": "fastlit.utilities.signature_utils",
})
