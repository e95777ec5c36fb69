"""The default workload: the seed tutorial's autoencoder (784-64-3-64-784, Adam lr 1e-3) on synthetic data.

``build(pl)`` makes the LightningModule class from a framework module (``fastlit`` or ``pytorch_lightning``),
so the same model code is timed under both.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

N_SAMPLES, BATCH, EPOCHS, LR = 6400, 64, 3, 1e-3


def networks(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
    decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))
    return encoder, decoder


def loader(n: int = N_SAMPLES, batch_size: int = BATCH) -> DataLoader:
    g = torch.Generator().manual_seed(1234)
    x = torch.rand(n, 28 * 28, generator=g)
    return DataLoader(TensorDataset(x, torch.zeros(n, dtype=torch.long)), batch_size=batch_size)


def build(pl: Any) -> type:
    """The seed's ``LitAutoEncoder`` written against framework module ``pl``."""

    class LitAutoEncoder(pl.LightningModule):
        def __init__(self, seed: int = 0) -> None:
            super().__init__()
            self.encoder, self.decoder = networks(seed)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, _ = batch
            x = x.view(x.size(0), -1)
            loss = F.mse_loss(self.decoder(self.encoder(x)), x)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=LR)

    return LitAutoEncoder


def plain_loop(epochs: int = EPOCHS, dl: Any = None) -> tuple[int, nn.Module]:
    """The hand-written PyTorch loop a user would write; returns (steps, model)."""
    encoder, decoder = networks(0)
    model = nn.Sequential(encoder, decoder)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    dl = dl if dl is not None else loader()
    steps = 0
    for _ in range(epochs):
        for x, _y in dl:
            x = x.view(x.size(0), -1)
            loss = F.mse_loss(model(x), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    return steps, model
