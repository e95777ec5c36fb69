"""A small deterministic CPU training run driven by the reliability tests in a subprocess.

Usage: python _train.py ROOT [--resume PATH] [--sleep S] [--every K] [--epochs E] [--hold-at N [--hold-forever]]
Writes ROOT/progress (global step, rewritten each step) and ROOT/final.pt (weights) when fit returns.

--hold-at N: the training step that starts at global step N creates ROOT/holding and stays inside the step until
a signal has told the Trainer to stop (with --hold-forever: until a second Ctrl-C ends the process), at most 120 s.
The signal tests send their signal once ROOT/holding exists, so it always lands inside that step.
"""
import argparse
import os
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl
from fastlit.callbacks import ModelCheckpoint


class Net(pl.LightningModule):
    def __init__(self, root: str, sleep: float, hold_at: int = -1, hold_forever: bool = False) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(8, 4)
        self.root, self.sleep = root, sleep
        self.hold_at, self.hold_forever = hold_at, hold_forever

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.sleep:
            time.sleep(self.sleep)
        if self.trainer.global_step == self.hold_at:
            self._hold()
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def _hold(self) -> None:
        open(os.path.join(self.root, "holding"), "w").close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.trainer.should_stop and not self.hold_forever:
                return
            time.sleep(0.005)  # a signal's handler runs here
        raise RuntimeError(f"_train.py: held in step {self.hold_at} for 120 s and no signal came")

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
    ap.add_argument("--hold-at", type=int, default=-1)
    ap.add_argument("--hold-forever", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    model = Net(a.root, a.sleep, a.hold_at, a.hold_forever)
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
