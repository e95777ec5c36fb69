"""``DataConnector`` (``trainer._data``): it owns the loaders and batch counts, the Trainer's Lightning names read
it, ``snapshot``/``restore`` put every field back, and the names Lightning does not let users assign stay
read-only."""
from __future__ import annotations

import pytest

import fastlit
from fastlit.trainer.data_connector import DataConnector
from helpers import models, quiet, randn_loader

_PUBLIC = ("train_dataloader", "val_dataloaders", "test_dataloaders", "predict_dataloaders", "num_training_batches",
           "num_val_batches", "num_sanity_val_batches", "num_test_batches", "num_predict_batches", "val_check_batch")


def _fitted(tmp_path) -> fastlit.Trainer:
    trainer = fastlit.Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=3, logger=False,
                              val_check_interval=2, num_sanity_val_steps=1, **quiet())
    trainer.fit(models(fastlit).BoringModel(), randn_loader(n=32), randn_loader(n=8))
    return trainer


def test_public_names_read_the_connector(tmp_path):
    trainer = _fitted(tmp_path)
    data = trainer._data
    assert isinstance(data, DataConnector)
    assert (trainer.num_training_batches, trainer.val_check_batch) == (3, 2)
    assert trainer.num_val_batches == [2] and trainer.num_sanity_val_batches == [1]
    assert trainer.train_dataloader is data.train_dataloader is not None
    assert trainer.val_dataloaders is data.val_loaders[0]
    for name in _PUBLIC:
        assert getattr(trainer, name) is getattr(data, name), name
    assert "num_training_batches" not in vars(trainer)  # no stale copy on the Trainer itself


def test_snapshot_restore_round_trip(tmp_path):
    trainer = _fitted(tmp_path)
    data = trainer._data
    before = data.snapshot()
    assert "trainer" not in before and "val_ready" not in before  # readiness stays as the trials left it
    trainer.test(dataloaders=randn_loader(n=12), verbose=False)
    data.setup_train(randn_loader(n=40))
    data.reset_val(None)
    assert data.train_dataloader is not before["train_dataloader"]
    assert data.num_test_batches == [3] and not data.val_ready
    data.restore(before)
    assert data.snapshot() == before
    assert trainer.num_test_batches == [] and not data.val_ready  # fit rebuilds its val loaders when next needed
    assert trainer.train_dataloader is before["train_dataloader"]


def test_lightning_read_only_names_stay_read_only(tmp_path):
    trainer = fastlit.Trainer(logger=False, **quiet())
    assert trainer.num_training_batches == float("inf") and trainer.num_val_batches == []
    with pytest.raises(AttributeError):
        trainer.num_training_batches = 5
    trainer.val_check_batch = 7  # a plain attribute in Lightning: settable, written through
    assert trainer._data.val_check_batch == 7
