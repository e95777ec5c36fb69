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

import argparse
import os
import tempfile

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl


def digits_splits(seed: int = 0) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """scikit-learn's digits, flattened, pixels in [0, 1]: 1,200 train / 300 val / 297 test."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32) / 16.0
    y = torch.tensor(y, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    parts = perm[:1200], perm[1200:1500], perm[1500:]
    return tuple(TensorDataset(x[i], y[i]) for i in parts)  # type: ignore[return-value]


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
    train, val, test = digits_splits()
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny setting for CI (4 epochs)")
    parser.add_argument("--root", help="where lightning_logs/ goes (default: a temporary directory)")
    args = parser.parse_args()
    fast = args.fast or os.environ.get("FASTLIT_EXAMPLES_FAST") == "1"
    if args.root:
        main(fast, args.root)
    else:
        with tempfile.TemporaryDirectory() as tmp:  # rank 1 makes its own, unused: only rank 0 writes files
            main(fast, tmp)
