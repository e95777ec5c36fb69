"""One tiny model and datamodule, built twice: on fastlit and on Lightning (when installed), so a differential
test runs the same CLI command line under both. Module-level classes: subclass mode finds them by class path."""
from __future__ import annotations

import importlib.util
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastlit


def build(pl: Any) -> tuple[type, type, type]:
    """(Model, Data, WideModel) deriving from ``pl``'s LightningModule / LightningDataModule."""

    class Model(pl.LightningModule):
        """A tiny regressor."""

        def __init__(self, hidden: int = 4, lr: float = 0.1) -> None:
            """
            Args:
                hidden: width of the hidden layer.
                lr: learning rate of the model's own SGD.
            """
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 1))

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", nn.functional.mse_loss(self.net(batch[0]), batch[1]))

        def test_step(self, batch, batch_idx):
            self.log("test_loss", nn.functional.mse_loss(self.net(batch[0]), batch[1]))

        def predict_step(self, batch, batch_idx):
            return self.net(batch[0])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    class WideModel(Model):
        """The same regressor, wider by default."""

        def __init__(self, hidden: int = 16, lr: float = 0.05, dropout: float = 0.0) -> None:
            super().__init__(hidden, lr)

    class Data(pl.LightningDataModule):
        """Random inputs, target = their sum."""

        def __init__(self, batch_size: int = 8, n: int = 32) -> None:
            super().__init__()
            g = torch.Generator().manual_seed(0)
            self.x = torch.randn(n, 3, generator=g)
            self.y = self.x.sum(1, keepdim=True)
            self.batch_size = batch_size

        def _loader(self) -> DataLoader:
            return DataLoader(TensorDataset(self.x, self.y), batch_size=self.batch_size)

        train_dataloader = val_dataloader = test_dataloader = predict_dataloader = _loader

    for cls in (Model, WideModel, Data):
        cls.__qualname__ = cls.__name__  # importable by class path: cli_models.<prefix><name>
    return Model, Data, WideModel


FastModel, FastData, FastWideModel = build(fastlit)
for _c, _n in ((FastModel, "FastModel"), (FastData, "FastData"), (FastWideModel, "FastWideModel")):
    _c.__name__ = _c.__qualname__ = _n

if importlib.util.find_spec("pytorch_lightning") is not None:
    import pytorch_lightning

    LitModel, LitData, LitWideModel = build(pytorch_lightning)
    for _c, _n in ((LitModel, "LitModel"), (LitData, "LitData"), (LitWideModel, "LitWideModel")):
        _c.__name__ = _c.__qualname__ = _n
