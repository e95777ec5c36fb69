"""Data-parallel training on 2 CPU processes: ``Trainer(accelerator="cpu", devices=2)``.

Run it like any script -- ``python examples/ddp_classifier.py`` -- and fastlit starts the second process itself
(it re-runs this same command with ``LOCAL_RANK=1``); ``torchrun --nproc-per-node=2 examples/ddp_classifier.py``
works too. So everything in this file runs on both ranks: that is why the results are printed only where
``trainer.is_global_zero``.

Each rank trains on its half of scikit-learn's bundled digits (a ``DistributedSampler`` is put into the
``DataLoader``s for you), gradients are averaged by ``DistributedDataParallel``, and metrics logged with
``sync_dist=True`` are averaged over both ranks. ``trainer.test`` also runs on both ranks, each on its half.

Run:   python examples/ddp_classifier.py            (30 epochs, ~13 s of CPU for both processes)
       python examples/ddp_classifier.py --fast     (4 epochs; FASTLIT_EXAMPLES_FAST=1 does the same)

Full setting: test accuracy 0.963 (test loss 0.115) on the 297 held-out digits. Tiny setting: 0.909.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

import fastlit as pl
from _digits import cli, digits_splits  # the data and --fast/--root: not tutorial code


class Classifier(pl.LightningModule):
    def __init__(self, hidden: int = 128, lr: float = 2e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        # sync_dist=True: the epoch value is the mean over both ranks, not just this rank's half
        self.log(f"{stage}_loss", loss, sync_dist=True, prog_bar=stage == "val")
        self.log(f"{stage}_acc", acc, sync_dist=True, prog_bar=stage == "val")
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def main(fast: bool, root: str) -> None:
    pl.seed_everything(0)  # same initial weights on both ranks (DDP also broadcasts rank 0's)
    train, val, test = digits_splits(flat=True)
    trainer = pl.Trainer(accelerator="cpu", devices=2, max_epochs=4 if fast else 30, default_root_dir=root,
                         log_every_n_steps=5, enable_progress_bar=not fast)
    model = Classifier()
    trainer.fit(model, DataLoader(train, batch_size=32, shuffle=True), DataLoader(val, batch_size=100))
    result = trainer.test(model, DataLoader(test, batch_size=100), verbose=False)
    if trainer.is_global_zero:
        print(f"world_size={trainer.world_size}: each rank ran {trainer.num_training_batches} of the "
              f"{len(train) // 32 + 1} training batches per epoch")
        print(f"ddp classifier test accuracy: {result[0]['test_acc']:.4f} (test loss {result[0]['test_loss']:.4f})")


if __name__ == "__main__":
    cli(main, __doc__, fast_epochs=4)
