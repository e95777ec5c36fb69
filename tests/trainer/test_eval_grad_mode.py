"""Evaluation stages run without autograd from their first hook to their last (issue #14, cluster 10): in
``on_{validation,test,predict}_start``, ``..._epoch_start/_end`` and ``..._end`` (and the model's
``on_*_model_eval``), ``no_grad``/``inference_mode`` is already active, as in Lightning 2.6.6; validation inside
``fit`` uses ``no_grad`` (not inference mode); training hooks see autograd on again. Differential when Lightning is
installed, with the expected table written out for fastlit alone.
"""
from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit

try:
    import pytorch_lightning as _lightning
except ImportError:
    _lightning = None

FRAMEWORKS = [fastlit] + ([_lightning] if _lightning is not None else [])
STAGES = ("validation", "test", "predict")
HOOKS = [f"on_{s}_{w}" for s in STAGES for w in ("start", "epoch_start", "epoch_end", "end")]


def _state():
    return (torch.is_grad_enabled(), torch.is_inference_mode_enabled())


def _run(pl, entry, inference_mode):
    seen = []

    class Recorder(pl.Callback):
        pass

    for h in HOOKS + ["on_train_epoch_start", "on_train_epoch_end"]:
        setattr(Recorder, h, lambda self, *a, _h=h, **k: seen.append((_h, _state())))

    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def validation_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def test_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def predict_step(self, batch, batch_idx):
            return self.layer(batch[0])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

        def on_validation_model_eval(self):
            seen.append(("on_validation_model_eval", _state()))
            super().on_validation_model_eval()

        def on_test_model_eval(self):
            seen.append(("on_test_model_eval", _state()))
            super().on_test_model_eval()

        def on_predict_model_eval(self):
            seen.append(("on_predict_model_eval", _state()))
            super().on_predict_model_eval()

    loader = DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, num_sanity_val_steps=0, callbacks=[Recorder()],
                         inference_mode=inference_mode)
    model = Model()
    if entry == "fit":
        trainer.fit(model, loader, loader)
    elif entry == "validate":
        trainer.validate(model, loader, verbose=False)
    elif entry == "test":
        trainer.test(model, loader, verbose=False)
    else:
        trainer.predict(model, loader)
    assert _state() == (True, False)  # restored afterwards
    return seen


def _expected(entry, inference_mode):
    stage = {"fit": "validation", "validate": "validation", "test": "test", "predict": "predict"}[entry]
    off = (False, inference_mode and entry != "fit")
    hooks = [f"on_{stage}_model_eval", f"on_{stage}_start", f"on_{stage}_epoch_start", f"on_{stage}_epoch_end",
             f"on_{stage}_end"]
    rows = [(h, off) for h in hooks]
    if entry == "fit":
        return [("on_train_epoch_start", (True, False))] + rows + [("on_train_epoch_end", (True, False))]
    return rows


@pytest.mark.parametrize("inference_mode", [True, False])
@pytest.mark.parametrize("entry", ["fit", "validate", "test", "predict"])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_hooks_see_grad_off(pl, entry, inference_mode):
    assert _run(pl, entry, inference_mode) == _expected(entry, inference_mode)
