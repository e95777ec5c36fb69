"""Small models and data shared by the trainer/core/checkpoint tests.

Every model is built from a framework module ``pl`` (``fastlit`` or ``pytorch_lightning``) so the same class body
runs under both in differential tests: ``models(pl).BoringModel``. Everything is tiny so a fit takes milliseconds.
"""
from __future__ import annotations

import csv
import functools
import os
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


# ---------------------------------------------------------------------------------------------------- data
def randn_dataset(n: int = 16, dim: int = 8, seed: int = 0, targets: bool = True) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    if not targets:
        return TensorDataset(x)
    return TensorDataset(x, torch.randn(n, 2, generator=g))


def randn_loader(n: int = 16, dim: int = 8, batch_size: int = 4, seed: int = 0, **kw: Any) -> DataLoader:
    """``n // batch_size`` batches of ``(x[batch, dim], y[batch, 2])``, fixed content, no shuffle."""
    return DataLoader(randn_dataset(n, dim, seed), batch_size=batch_size, **kw)


def mnist_like(n: int = 256, seed: int = 0) -> TensorDataset:
    """Synthetic stand-in for MNIST: ``(n, 1, 28, 28)`` floats in [0, 1) and integer labels 0..9."""
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


def classes_dataset(n: int = 64, dim: int = 16, classes: int = 4, seed: int = 0) -> TensorDataset:
    """A learnable classification problem: the label is the argmax of a fixed projection of ``x``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    w = torch.randn(dim, classes, generator=g)
    return TensorDataset(x, (x @ w).argmax(1))


def read_metrics_csv(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def find_files(root: str, suffix: str) -> list[str]:
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(d, f), root) for f in files if f.endswith(suffix)]
    return sorted(out)


# ---------------------------------------------------------------------------------------------------- models
class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l1(x)


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l1(x)


@functools.lru_cache(maxsize=None)
def models(pl: Any) -> SimpleNamespace:
    """The test models built on ``pl.LightningModule`` (cached so each framework gets one set of classes)."""

    class BoringModel(pl.LightningModule):
        """One linear layer; loss = MSE to the targets (or to ones when the batch has no targets)."""

        def __init__(self, dim: int = 8, lr: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = nn.Linear(dim, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(x)

        def loss(self, batch: Any) -> torch.Tensor:
            x, y = batch if len(batch) == 2 else (batch[0], None)
            out = self(x)
            return F.mse_loss(out, torch.ones_like(out) if y is None else y)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.loss(batch)

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self.loss(batch)
            self.log("val_loss", loss)
            return loss

        def test_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self.loss(batch)
            self.log("test_loss", loss)
            return loss

        def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return self(batch[0])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    class LitAutoEncoder(pl.LightningModule):
        """The seed autoencoder (784-64-3-64-784), verbatim apart from the base class."""

        def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            x = x.view(x.size(0), -1)
            z = self.encoder(x)
            x_hat = self.decoder(z)
            loss = F.mse_loss(x_hat, x)
            return loss

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
            return optimizer

    class Classifier(pl.LightningModule):
        """A tiny MLP classifier that logs loss/accuracy in every stage."""

        def __init__(self, dim: int = 16, classes: int = 4, hidden: int = 16, lr: float = 0.05) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, classes))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def _shared(self, batch: Any, stage: str) -> torch.Tensor:
            x, y = batch
            logits = self(x)
            loss = F.cross_entropy(logits, y)
            acc = (logits.argmax(1) == y).float().mean()
            self.log(f"{stage}_loss", loss, prog_bar=stage == "train")
            self.log(f"{stage}_acc", acc)
            return loss

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self._shared(batch, "train")

        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            self._shared(batch, "val")

        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            self._shared(batch, "test")

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    class ManualBoringModel(BoringModel):
        """BoringModel with manual optimization: zero_grad, manual_backward, step in ``training_step``."""

        def __init__(self, dim: int = 8, lr: float = 0.1) -> None:
            super().__init__(dim, lr)
            self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            opt = self.optimizers()
            opt.zero_grad()
            loss = self.loss(batch)
            self.manual_backward(loss)
            opt.step()
            return loss

    return SimpleNamespace(BoringModel=BoringModel, ManualBoringModel=ManualBoringModel,
                           LitAutoEncoder=LitAutoEncoder, Classifier=Classifier)


def quiet(**kw: Any) -> dict[str, Any]:
    """Trainer kwargs with the display off (progress bar, summary) unless overridden."""
    base = dict(enable_progress_bar=False, enable_model_summary=False)
    base.update(kw)
    return base


def params_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
