"""Exact mid-epoch resume when ``training_step`` draws from numpy's and python's global RNGs: the resumed run sees
the same draws and ends with the same weights as the run that never stopped, although the resuming process seeded
both RNGs differently (the checkpoint carries their states under ``fastlit_resume_rng``)."""
import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl
from fastlit.callbacks import ModelCheckpoint
from fastlit.checkpoint.io import load


class NoisyNet(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(8, 4)
        self.draws: dict[int, tuple] = {}  # global step -> what this step drew

    def training_step(self, batch, batch_idx):
        x, y = batch
        noise = np.random.standard_normal(x.shape)  # legacy global RandomState, as much user code does
        scale = random.random()
        gauss = np.random.normal()  # uses numpy's cached second gaussian on every other call
        self.draws[self.global_step] = (noise.sum().item(), scale, gauss)
        x = x + torch.from_numpy(noise).float() * 0.1 * scale + gauss * 0.01
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(40, 8, generator=g), torch.randn(40, 4, generator=g)), batch_size=4)


def _trainer(root, callbacks=()):
    return pl.Trainer(default_root_dir=str(root), max_epochs=2, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=list(callbacks), enable_checkpointing=bool(callbacks),
                      num_sanity_val_steps=0)


def test_resume_mid_epoch_restores_numpy_and_python_rng(tmp_path):
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    ref = NoisyNet()
    cb = ModelCheckpoint(dirpath=str(tmp_path / "ck"), every_n_train_steps=1, save_top_k=-1, filename="{step}")
    _trainer(tmp_path, [cb]).fit(ref, _loader())
    assert len(ref.draws) == 20
    for k in (3, 14):  # mid-epoch in epoch 0 and in epoch 1 (10 batches an epoch)
        path = str(tmp_path / "ck" / f"step={k}.ckpt")
        state = load(path)["fastlit_resume_rng"]
        assert state["numpy_rng"][0] == "MT19937" and isinstance(state["numpy_rng"][1], torch.Tensor)
        torch.manual_seed(1234)  # a different process state: only the checkpoint can make the draws match
        np.random.seed(1234)
        random.seed(1234)
        resumed = NoisyNet()
        _trainer(tmp_path / f"r{k}").fit(resumed, _loader(), ckpt_path=path)
        assert sorted(resumed.draws) == list(range(k, 20))
        for step, drawn in resumed.draws.items():
            assert drawn == ref.draws[step], (k, step)
        for name, v in resumed.state_dict().items():
            assert torch.equal(v, ref.state_dict()[name]), (k, name)


def test_epoch_end_checkpoint_keeps_lightnings_keys(tmp_path):
    # the RNG states are a mid-epoch extra: an epoch-end checkpoint has exactly Lightning's top-level keys
    np.random.seed(0)
    model = NoisyNet()
    trainer = _trainer(tmp_path, [ModelCheckpoint(dirpath=str(tmp_path / "ck"))])
    trainer.fit(model, _loader())
    ck = load(os.path.join(tmp_path, "ck", "epoch=1-step=20.ckpt"))
    assert not [k for k in ck if k.startswith("fastlit_") and k != "fastlit_version"]
