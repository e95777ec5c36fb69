"""Exact mid-epoch resume with shuffling: a run resumed from a checkpoint saved at step k (mid-epoch, also
mid-accumulation) ends with weights bit-identical to the run that never stopped, even though the resuming
process's RNG was seeded differently (the checkpoint carries the shuffle order and RNG states)."""
import os

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl
from fastlit.callbacks import ModelCheckpoint


class Net(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 4))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(40, 8, generator=g), torch.randn(40, 4, generator=g)),
                      batch_size=4, shuffle=True)


def _trainer(root, accum, callbacks=()):
    return pl.Trainer(default_root_dir=str(root), max_epochs=3, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=list(callbacks), enable_checkpointing=bool(callbacks),
                      num_sanity_val_steps=0, deterministic=True, accumulate_grad_batches=accum)


@pytest.mark.parametrize("accum", [1, 3])
def test_resume_mid_epoch_with_shuffle_is_bit_identical(tmp_path, accum):
    torch.manual_seed(0)
    model = Net()
    cb = ModelCheckpoint(dirpath=str(tmp_path / "ck"), every_n_train_steps=1, save_top_k=-1, filename="{step}")
    _trainer(tmp_path, accum, [cb]).fit(model, _loader())
    ref = {k: v.clone() for k, v in model.state_dict().items()}
    steps = sorted(int(n[5:-5]) for n in os.listdir(tmp_path / "ck") if n.startswith("step="))
    per_epoch = -(-10 // accum)
    picks = [s for s in steps if s % per_epoch][:1] + [s for s in steps if s % per_epoch][-1:]
    assert picks
    for k in picks:
        torch.manual_seed(1234)  # a different process state: only the checkpoint can make this match
        resumed = Net()
        _trainer(tmp_path / f"r{k}", accum).fit(resumed, _loader(), ckpt_path=str(tmp_path / "ck" / f"step={k}.ckpt"))
        for name, v in resumed.state_dict().items():
            assert torch.equal(v, ref[name]), (k, name)
