"""The seed tutorials' autoencoder (LitAutoEncoder with an Encoder and a Decoder), on scikit-learn's digits.

The tutorials train it on MNIST (28x28, downloaded); here the data is the 1,797 8x8 digit images that scikit-learn
ships, so nothing is downloaded. Everything else is the tutorial's code with ``import fastlit as pl``:
``training_step``/``validation_step``/``test_step``, ``self.log``, ``Trainer(default_root_dir=...)``,
``trainer.test``, ``load_from_checkpoint`` and resuming with ``trainer.fit(..., ckpt_path=...)``.

Run:   python examples/autoencoder.py            (40 epochs, ~6 s of CPU with OMP_NUM_THREADS=1)
       python examples/autoencoder.py --fast     (3 epochs: what CI runs; FASTLIT_EXAMPLES_FAST=1 does the same)

Full setting: test MSE 0.033 per pixel (pixels in [0, 1]); predicting the mean image scores 0.074.
Tiny setting: 0.060.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

import fastlit as pl  # the only change from the tutorial: was `import pytorch_lightning as pl`
from _digits import cli, digits_splits  # the data and --fast/--root: not tutorial code


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Sequential(nn.Linear(8 * 8, 64), nn.ReLU(), nn.Linear(64, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l1(x)


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 8 * 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l1(x)


class LitAutoEncoder(pl.LightningModule):
    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, _ = batch
        x = x.view(x.size(0), -1)
        x_hat = self.decoder(self.encoder(x))
        return F.mse_loss(x_hat, x)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def test_step(self, batch, batch_idx):
        self.log("test_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def main(fast: bool, root: str) -> dict[str, float]:
    pl.seed_everything(0)
    train, val, test = digits_splits()
    train_loader = DataLoader(train, batch_size=32, shuffle=True)
    val_loader, test_loader = DataLoader(val, batch_size=128), DataLoader(test, batch_size=128)
    epochs = 3 if fast else 40

    autoencoder = LitAutoEncoder(Encoder(), Decoder())
    trainer = pl.Trainer(max_epochs=epochs, default_root_dir=root, log_every_n_steps=10, enable_progress_bar=not fast)
    trainer.fit(model=autoencoder, train_dataloaders=train_loader, val_dataloaders=val_loader)
    test_mse = trainer.test(autoencoder, dataloaders=test_loader, verbose=False)[0]["test_loss"]

    # The checkpoint ModelCheckpoint wrote (under default_root_dir/lightning_logs/version_0/checkpoints/).
    # encoder/decoder are modules, not hyperparameters, so they are passed again (as in Lightning's docs).
    ckpt = trainer.checkpoint_callback.best_model_path
    reloaded = LitAutoEncoder.load_from_checkpoint(ckpt, encoder=Encoder(), decoder=Decoder())
    reloaded_mse = pl.Trainer(logger=False, enable_progress_bar=False).test(
        reloaded, dataloaders=test_loader, verbose=False)[0]["test_loss"]

    # Resume: weights, optimizer state and epoch counter come back from the checkpoint; train 2 more epochs.
    resumed = pl.Trainer(max_epochs=epochs + 2, default_root_dir=root, log_every_n_steps=10, enable_progress_bar=False)
    resumed.fit(LitAutoEncoder(Encoder(), Decoder()), train_loader, val_loader, ckpt_path=ckpt)

    mean_image = train.tensors[0].mean(0)
    baseline = F.mse_loss(mean_image.expand_as(test.tensors[0]), test.tensors[0]).item()
    print(f"checkpoint: {os.path.relpath(ckpt, root)}")
    print(f"reloaded from checkpoint: test MSE {reloaded_mse:.4f}")
    print(f"resumed at epoch {epochs} and trained to epoch {resumed.current_epoch}")
    print(f"autoencoder test MSE: {test_mse:.4f} (mean-image baseline {baseline:.4f})")
    return {"test_mse": test_mse, "reloaded_mse": reloaded_mse, "baseline": baseline}


if __name__ == "__main__":
    cli(main, __doc__, fast_epochs=3)
