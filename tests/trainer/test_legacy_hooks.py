"""Lightning 1.x loop hooks from the seed tutorials (training_step_end, *_epoch_end(outputs)) still run, with a
DeprecationWarning naming the 2.x form (Lightning 2.x refuses such modules)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl


class OneX(pl.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.l = nn.Linear(4, 1)
        self.seen = {}

    def training_step(self, batch, batch_idx):
        x, y = batch
        return {"loss": F.mse_loss(self.l(x), y), "n": len(x)}

    def training_step_end(self, out):
        self.seen.setdefault("step_end", 0)
        self.seen["step_end"] += 1
        return out

    def training_epoch_end(self, outputs):
        self.seen.setdefault("train_epoch_end", []).append([o["n"] for o in outputs])
        self.log("mean_loss", torch.stack([o["loss"] for o in outputs]).mean())

    def validation_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.l(x), y)

    def validation_epoch_end(self, outputs):
        self.seen.setdefault("val_epoch_end", []).append(len(outputs))
        self.log("val_loss", torch.stack(outputs).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_1x_hooks_are_called_with_outputs():
    data = TensorDataset(torch.randn(20, 4), torch.randn(20, 1))
    model = OneX()
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    with pytest.warns(DeprecationWarning, match="training_epoch_end` is a Lightning 1.x hook"):
        trainer.fit(model, DataLoader(data, batch_size=8), DataLoader(data, batch_size=10))
    assert model.seen["step_end"] == 6
    assert model.seen["train_epoch_end"] == [[8, 8, 4], [8, 8, 4]]
    assert model.seen["val_epoch_end"] == [2, 2]
    assert {"mean_loss", "val_loss"} <= set(trainer.callback_metrics)
    # the returned loss really was trained on through training_step_end
    assert trainer.global_step == 6
