"""``LightningModule.CHECKPOINT_HYPER_PARAMS_KEY/NAME/TYPE`` (and the DataModule's) exist with Lightning 2.6.6's
values, and a saved checkpoint keeps the hyperparameters under that key (issue #14, clusters 1/12)."""
from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit

try:
    import pytorch_lightning as _lightning
except ImportError:
    _lightning = None

NAMES = ("CHECKPOINT_HYPER_PARAMS_KEY", "CHECKPOINT_HYPER_PARAMS_NAME", "CHECKPOINT_HYPER_PARAMS_TYPE")


def test_values():
    assert [getattr(fastlit.LightningModule, n) for n in NAMES] == ["hyper_parameters", "hparams_name",
                                                                      "hparams_type"]
    assert [getattr(fastlit.LightningDataModule, n) for n in NAMES] == [
        "datamodule_hyper_parameters", "datamodule_hparams_name", "datamodule_hparams_type"]


@pytest.mark.skipif(_lightning is None, reason="pytorch_lightning not installed")
@pytest.mark.parametrize("cls", ["LightningModule", "LightningDataModule"])
def test_same_as_lightning(cls):
    for n in NAMES:
        assert getattr(getattr(fastlit, cls), n) == getattr(getattr(_lightning, cls), n)


def test_checkpoint_uses_the_key(tmp_path):
    class Model(fastlit.LightningModule):
        def __init__(self, width=3):
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(2, width)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    trainer = fastlit.Trainer(default_root_dir=tmp_path, max_steps=1, logger=False, enable_progress_bar=False,
                              enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(Model(width=4), DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2))
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=False)
    assert ckpt[Model.CHECKPOINT_HYPER_PARAMS_KEY] == {"width": 4}
