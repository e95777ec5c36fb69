"""A NaN/inf loss with ``Trainer(detect_anomaly=True)`` stops the run with an error naming the step and batch;
without it (the default, no per-step sync) training goes on as in Lightning."""
import math

import pytest
import torch

import fastlit as pl
from fastlit.demos.boring_classes import BoringModel


class BadAt(BoringModel):
    def __init__(self, bad_idx: int, value: float) -> None:
        super().__init__()
        self.bad_idx, self.value = bad_idx, value

    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        if batch_idx == self.bad_idx and self.current_epoch == 0:
            out["loss"] = out["loss"] * self.value
        return out


def _trainer(tmp_path, **kw):
    return pl.Trainer(default_root_dir=str(tmp_path), max_steps=8, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=0,
                      limit_val_batches=0, **kw)


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
def test_detect_anomaly_names_step_and_batch(tmp_path, value):
    model = BadAt(3, value)
    before = model.layer.weight.detach().clone()
    with pytest.raises(RuntimeError, match=r"not finite.*global step 3, batch_idx=3.*gradient_clip_val") as err:
        _trainer(tmp_path, detect_anomaly=True).fit(model)
    assert "epoch 0" in str(err.value)
    # the bad loss never reached the weights: they are finite and were trained for the 3 good steps
    assert torch.isfinite(model.layer.weight).all() and not torch.equal(model.layer.weight, before)


def test_without_detect_anomaly_no_check(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.fit(BadAt(3, math.nan))  # Lightning's default: no check, no per-step sync
    assert trainer.global_step == 8


def test_finite_losses_pass_with_detect_anomaly(tmp_path):
    trainer = _trainer(tmp_path, detect_anomaly=True)
    trainer.fit(BoringModel())
    assert trainer.global_step == 8
