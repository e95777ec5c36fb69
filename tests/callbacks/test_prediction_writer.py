"""BasePredictionWriter: what write_on_batch_end / write_on_epoch_end receive (predictions, batch indices, batch
and dataloader indices) equals Lightning's, for each interval, shuffled data and several dataloaders."""
from __future__ import annotations

import os
import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from fastlit.callbacks import BasePredictionWriter
from fastlit.utilities.exceptions import MisconfigurationException


def _writer_cls(pl: Any) -> type:
    class Writer(pl.callbacks.BasePredictionWriter):
        def __init__(self, out_dir: str, write_interval: str) -> None:
            super().__init__(write_interval)
            self.out_dir = out_dir
            self.batches: list[tuple] = []
            self.epochs: list[tuple] = []

        def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                               dataloader_idx):
            self.batches.append((prediction.tolist(), list(batch_indices), batch[0].tolist(), batch_idx,
                                 dataloader_idx))
            torch.save(prediction, os.path.join(self.out_dir, f"{dataloader_idx}-{batch_idx}.pt"))

        def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices):
            self.epochs.append((_plain(predictions), _plain(batch_indices)))
            torch.save(predictions, os.path.join(self.out_dir, "predictions.pt"))

    return Writer


def _plain(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _predict(pl: Any, out_dir: str, interval: str, n_loaders: int = 1, return_predictions: bool = True) -> Any:
    os.makedirs(out_dir, exist_ok=True)

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)
            with torch.no_grad():
                self.layer.weight.fill_(1.0)
                self.layer.bias.zero_()

        def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return self.layer(batch[0]) + 100 * dataloader_idx

    def loader(seed: int) -> DataLoader:
        data = TensorDataset(torch.arange(14.0).view(7, 2) + seed)
        return DataLoader(data, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(seed))

    writer = _writer_cls(pl)(out_dir, interval)
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, callbacks=[writer])
    loaders = [loader(s) for s in range(n_loaders)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = trainer.predict(Model(), loaders if n_loaders > 1 else loaders[0], return_predictions=return_predictions)
    return writer, _plain(out), sorted(os.listdir(out_dir)), loaders


@pytest.mark.parametrize("interval", ["batch", "epoch", "batch_and_epoch"])
@pytest.mark.parametrize("n_loaders", [1, 2])
@pytest.mark.parametrize("return_predictions", [True, False])
def test_writer_receives_what_lightning_gives(tmp_path, lightning, interval, n_loaders, return_predictions):
    ours = _predict(fastlit, str(tmp_path / "f"), interval, n_loaders, return_predictions)
    theirs = _predict(lightning, str(tmp_path / "l"), interval, n_loaders, return_predictions)
    assert ours[0].batches == theirs[0].batches
    assert ours[0].epochs == theirs[0].epochs
    assert ours[1] == theirs[1]  # what trainer.predict returned
    assert ours[2] == theirs[2]  # files written
    if "batch" in interval:
        assert len(ours[0].batches) == 3 * n_loaders
    if "epoch" in interval:
        assert len(ours[0].epochs) == 1
        torch.testing.assert_close(torch.load(tmp_path / "f" / "predictions.pt"),
                                   torch.load(tmp_path / "l" / "predictions.pt"))


def test_batch_indices_are_the_shuffled_dataset_indices(tmp_path):
    writer, _, _, _ = _predict(fastlit, str(tmp_path), "batch")
    for prediction, indices, batch, _, _ in writer.batches:
        # sample i of the dataset is (2i, 2i+1): the batch content identifies which indices it came from
        assert [int(row[0]) // 2 for row in batch] == indices
        assert prediction == [[row[0] + row[1]] for row in batch]
    assert sorted(i for b in writer.batches for i in b[1]) == list(range(7))


def test_loader_is_left_as_it_was(tmp_path):
    _, _, _, loaders = _predict(fastlit, str(tmp_path), "epoch")
    assert type(loaders[0].batch_sampler) is torch.utils.data.BatchSampler
    assert len(list(loaders[0])) == 3


def test_bad_interval_and_base_methods():
    with pytest.raises(MisconfigurationException, match="`write_interval` should be one of"):
        BasePredictionWriter("step")
    writer = BasePredictionWriter()
    assert writer.interval == "batch" and writer.interval.on_batch and not writer.interval.on_epoch
    assert BasePredictionWriter("batch_and_epoch").interval.on_epoch
    with pytest.raises(NotImplementedError):
        writer.write_on_batch_end(None, None, None, None, None, 0, 0)
    with pytest.raises(NotImplementedError):
        writer.write_on_epoch_end(None, None, [], [])


def test_dataloader_iter_predict_step_is_refused():
    class Model(fastlit.LightningModule):
        def predict_step(self, dataloader_iter):  # type: ignore[override]
            return next(dataloader_iter)

    with pytest.raises(NotImplementedError, match="does not support using `dataloader_iter`"):
        BasePredictionWriter().setup(None, Model(), "predict")
