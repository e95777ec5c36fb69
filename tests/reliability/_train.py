"""A small deterministic CPU training run driven by the reliability tests in a subprocess.

Usage: python _train.py ROOT [--resume PATH] [--sleep S] [--every K] [--epochs E]
Writes ROOT/progress (global step, rewritten each step) and ROOT/final.pt (weights) when fit returns.
"""
import argparse
import os
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl
from fastlit.callbacks import ModelCheckpoint


class Net(pl.LightningModule):
    def __init__(self, root: str, sleep: float) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(8, 4)
        self.root, self.sleep = root, sleep

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.sleep:
            time.sleep(self.sleep)
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        with open(os.path.join(self.root, "progress"), "w") as f:
            f.write(str(self.trainer.global_step))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


def data() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y = torch.randn(64, 4, generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=4, shuffle=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--resume", default=None)
    ap.add_argument("--sleep", type=float, default=0.0)
    ap.add_argument("--every", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args()
    torch.manual_seed(0)
    model = Net(a.root, a.sleep)
    callbacks = []
    if a.every:
        callbacks.append(ModelCheckpoint(dirpath=os.path.join(a.root, "ckpts"), every_n_train_steps=a.every,
                                         save_top_k=-1, filename="{epoch}-{step}"))
    trainer = pl.Trainer(default_root_dir=a.root, max_epochs=a.epochs, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=bool(a.every), callbacks=callbacks,
                         num_sanity_val_steps=0)
    trainer.fit(model, data(), ckpt_path=a.resume)
    torch.save(model.state_dict(), os.path.join(a.root, "final.pt"))


if __name__ == "__main__":
    main()
