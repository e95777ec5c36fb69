"""Under loss scaling, steps whose gradients hold inf/NaN are skipped by the scaler; the Trainer counts them
(``trainer.skipped_steps``) without a per-step host sync and says so at the end of fit."""
import math

import torch

import fastlit as pl
from fastlit.demos.boring_classes import BoringModel


class InfAt(BoringModel):
    def __init__(self, bad: set) -> None:
        super().__init__()
        self.bad = bad

    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        if batch_idx in self.bad:
            out["loss"] = out["loss"] * math.inf
        return out


def _fit(tmp_path, model):
    trainer = pl.Trainer(default_root_dir=str(tmp_path), max_steps=8, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=0,
                         limit_val_batches=0)
    # fp16 loss scaling needs CUDA; on CPU we plug torch's CPU GradScaler into the precision plugin directly
    trainer.precision_plugin.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8)
    trainer.fit(model)
    return trainer


def test_skipped_steps_counted_and_reported(tmp_path, monkeypatch):
    import fastlit.trainer.trainer as trainer_mod

    said = []
    monkeypatch.setattr(trainer_mod, "rank_zero_info", lambda msg, *a, **k: said.append(msg))
    model = InfAt({2, 5})
    trainer = _fit(tmp_path, model)
    assert trainer.skipped_steps == 2
    assert torch.isfinite(model.layer.weight).all()  # the scaler really skipped those updates
    assert "2 optimizer steps were skipped by the fp16 loss scaler" in " ".join(said)


def test_no_skips_no_count(tmp_path):
    assert _fit(tmp_path, BoringModel()).skipped_steps == 0
    trainer = pl.Trainer(max_steps=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, default_root_dir=str(tmp_path))
    assert trainer.skipped_steps == 0  # no scaler at all
