"""Mixed precision with ``Trainer(precision="bf16-mixed")``, plus seed tutorial 003's training helpers.

Under ``"bf16-mixed"`` the forward passes run inside ``torch.autocast(dtype=torch.bfloat16)`` (on CPU here, on
GPU the same way): matrix multiplies compute in bfloat16, while the weights, their gradients and
the optimizer state stay float32. bfloat16 has float32's exponent range, so unlike ``"16-mixed"`` no loss scaling
is needed. The script checks both facts during training (``on_train_batch_end``) and prints them.

Also shown, from the tutorial's "training helpers": an optimizer + ``lr_scheduler`` dict returned by
``configure_optimizers``, ``gradient_clip_val``, ``EarlyStopping(monitor="val_loss")``, ``LearningRateMonitor``
and ``CSVLogger``.

Run:   python examples/bf16_mixed.py            (up to 40 epochs, ~8 s of CPU with OMP_NUM_THREADS=1)
       python examples/bf16_mixed.py --fast     (4 epochs; FASTLIT_EXAMPLES_FAST=1 does the same)

Full setting: early stopping after 19 epochs, test accuracy 0.976 (test loss 0.102) on the 297 held-out digits.
Tiny setting: 0.960.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

import fastlit as pl
from fastlit.callbacks import EarlyStopping, LearningRateMonitor
from fastlit.loggers import CSVLogger
from _digits import cli, digits_splits  # the data and --fast/--root: not tutorial code


class DigitNet(pl.LightningModule):
    def __init__(self, lr: float = 3e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        # An MLP: CPUs without bfloat16 matrix units run bf16 convolutions slowly (linear layers are fine).
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                                 nn.Linear(128, 10))
        self.seen: dict[str, torch.dtype] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.seen["logits"] = logits.dtype  # bfloat16: computed under autocast
        loss = F.cross_entropy(logits, y)  # autocast runs cross_entropy in float32
        self.log("train_loss", loss)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.seen["weights"] = self.net[1].weight.dtype
        self.seen["grads"] = self.net[1].weight.grad.dtype if self.net[1].weight.grad is not None else None

    def _eval(self, batch, stage: str) -> None:
        x, y = batch
        logits = self(x)
        self.log(f"{stage}_loss", F.cross_entropy(logits, y), prog_bar=True)
        self.log(f"{stage}_acc", (logits.argmax(1) == y).float().mean(), prog_bar=True)

    def validation_step(self, batch, batch_idx):
        self._eval(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval(batch, "test")

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def main(fast: bool, root: str) -> dict[str, float]:
    pl.seed_everything(0)
    train, val, test = digits_splits()
    model = DigitNet()
    trainer = pl.Trainer(
        precision="bf16-mixed",
        max_epochs=4 if fast else 40,
        gradient_clip_val=1.0,
        callbacks=[EarlyStopping(monitor="val_loss", mode="min", patience=5), LearningRateMonitor()],
        logger=CSVLogger(root),
        log_every_n_steps=10,
        default_root_dir=root,
        enable_progress_bar=not fast,
    )
    trainer.fit(model, DataLoader(train, batch_size=32, shuffle=True), DataLoader(val, batch_size=100))
    result = trainer.test(model, DataLoader(test, batch_size=100), verbose=False)[0]
    print(f"dtypes during training: logits {model.seen['logits']}, weights {model.seen['weights']}, "
          f"grads {model.seen['grads']}")
    early = trainer.early_stopping_callback.stopped_epoch > 0
    print(f"stopped after {trainer.current_epoch} epochs (early stopping: {early}); "
          f"metrics in {os.path.relpath(trainer.logger.log_dir, root)}/metrics.csv")
    print(f"bf16-mixed test accuracy: {result['test_acc']:.4f} (test loss {result['test_loss']:.4f})")
    return result


if __name__ == "__main__":
    cli(main, __doc__, fast_epochs=4)
