"""Smaller Lightning features not covered elsewhere: inference_mode=False, barebones, DataModule hparams in
checkpoints, all_gather on one process, and the 1.x Trainer(automatic_optimization=...) flag."""
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl


def _data(n=16):
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)), batch_size=4)


class M(pl.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.l = nn.Linear(4, 1)
        self.modes = []

    def training_step(self, batch, batch_idx):
        return F.mse_loss(self.l(batch[0]), batch[1])

    def test_step(self, batch, batch_idx):
        self.modes.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
        self.log("test_loss", F.mse_loss(self.l(batch[0]), batch[1]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("inference_mode", [True, False])
def test_inference_mode_flag(inference_mode):
    model = M()
    pl.Trainer(inference_mode=inference_mode, logger=False, enable_progress_bar=False,
               enable_model_summary=False).test(model, _data())
    # Lightning: torch.inference_mode by default, torch.no_grad with inference_mode=False
    assert set(model.modes) == {(inference_mode, False)}


def test_barebones_writes_nothing_and_refuses_features(tmp_path):
    trainer = pl.Trainer(barebones=True, max_epochs=1, default_root_dir=tmp_path)
    assert trainer.loggers == [] and trainer.checkpoint_callback is None and trainer.progress_bar_callback is None
    trainer.fit(M(), _data())
    assert trainer.global_step == 4 and os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="barebones"):
        pl.Trainer(barebones=True, logger=True)


def test_datamodule_hparams_are_saved_and_restored(tmp_path):
    class DM(pl.LightningDataModule):
        def __init__(self, batch_size=4, note="x"):
            super().__init__()
            self.save_hyperparameters()

        def train_dataloader(self):
            return _data()

    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False)
    trainer.fit(M(), datamodule=DM(batch_size=4, note="hello"))
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["datamodule_hyper_parameters"] == {"batch_size": 4, "note": "hello"}
    dm = DM.load_from_checkpoint(path)
    assert dm.hparams.note == "hello" and dm.hparams.batch_size == 4


def test_all_gather_is_identity_on_one_process():
    model = M()
    pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
               enable_checkpointing=False).fit(model, _data())
    t = torch.arange(3.0)
    assert model.all_gather(t) is t
    assert model.all_gather({"a": t})["a"] is t


def test_1x_automatic_optimization_flag_maps_to_the_module():
    class Manual(M):
        def training_step(self, batch, batch_idx):
            opt = self.optimizers()
            loss = F.mse_loss(self.l(batch[0]), batch[1])
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()

    with pytest.warns(DeprecationWarning, match="automatic_optimization"):
        trainer = pl.Trainer(automatic_optimization=False, max_epochs=1, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, enable_checkpointing=False)
    model = Manual()
    trainer.fit(model, _data())
    assert model.automatic_optimization is False and trainer.global_step == 4
