"""Models for the batch-size and LR finder tests, built on either framework (``pl`` = fastlit or Lightning).

``OOMModel`` fakes running out of memory: any batch larger than ``limit`` raises the exact error CUDA raises, so the
search has a deterministic answer on the CPU.
"""
from __future__ import annotations

import functools
import logging
from types import SimpleNamespace
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset


def oom_data(n: int = 100) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g))


def regression_loader(n: int = 400, batch_size: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True).sin()), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(1))


@functools.lru_cache(maxsize=None)
def models(pl: Any) -> SimpleNamespace:
    class OOMModel(pl.LightningModule):
        def __init__(self, batch_size: int = 2, lr: float = 0.01, limit: int = 20, n: int = 100) -> None:
            super().__init__()
            self.save_hyperparameters()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(4, 1)
            self.data = oom_data(n)
            self.seen_sizes: list[int] = []

        def _check(self, batch: Any) -> None:
            self.seen_sizes.append(batch[0].shape[0])
            if batch[0].shape[0] > self.hparams.limit:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self._check(batch)
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self._check(batch)

        def test_step(self, batch: Any, batch_idx: int) -> None:
            self._check(batch)

        def predict_step(self, batch: Any, batch_idx: int) -> Any:
            self._check(batch)
            return self.layer(batch[0])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

        def _loader(self) -> DataLoader:
            return DataLoader(self.data, batch_size=self.hparams.batch_size)

        def train_dataloader(self) -> DataLoader:
            return self._loader()

        def val_dataloader(self) -> DataLoader:
            return self._loader()

        def test_dataloader(self) -> DataLoader:
            return self._loader()

        def predict_dataloader(self) -> DataLoader:
            return self._loader()

    class DataModule(pl.LightningDataModule):
        def __init__(self, batch_size: int = 2) -> None:
            super().__init__()
            self.batch_size = batch_size
            self.data = oom_data()

        def train_dataloader(self) -> DataLoader:
            return DataLoader(self.data, batch_size=self.batch_size)

    class NoBatchSizeModel(pl.LightningModule):
        """Trains on a datamodule that owns ``batch_size``; batches above ``limit`` run out of memory."""

        def __init__(self, limit: int = 20) -> None:
            super().__init__()
            self.limit = limit
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if batch[0].shape[0] > self.limit:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    class LRModel(pl.LightningModule):
        def __init__(self, lr: float = 0.01) -> None:
            super().__init__()
            self.save_hyperparameters()
            torch.manual_seed(0)
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return SimpleNamespace(OOMModel=OOMModel, DataModule=DataModule, NoBatchSizeModel=NoBatchSizeModel,
                           LRModel=LRModel)


def quiet_trainer(pl: Any, **kw: Any) -> Any:
    args = dict(max_epochs=2, logger=False, enable_progress_bar=False, enable_model_summary=False,
                enable_checkpointing=False)
    args.update(kw)
    return pl.Trainer(**args)


def tuner_of(pl: Any) -> Any:
    import importlib

    return importlib.import_module(pl.__name__ + ".tuner").Tuner


def state_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class Messages(logging.Handler):
    """Collects the finders' info lines (both frameworks log them through their ``rank_zero_info``)."""

    PREFIXES = ("Batch size", "The batch size", "Applying margin", "Reached the maximum", "LR finder stopped",
                "Learning rate set")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith(self.PREFIXES):
            self.lines.append(msg)

    def __enter__(self) -> "Messages":
        for name in ("fastlit", "pytorch_lightning", "lightning.pytorch"):
            lg = logging.getLogger(name)
            lg.addHandler(self)
            self._levels = getattr(self, "_levels", {})
            self._levels[name] = lg.level
            lg.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: Any) -> None:
        for name, level in self._levels.items():
            lg = logging.getLogger(name)
            lg.removeHandler(self)
            lg.setLevel(level)
