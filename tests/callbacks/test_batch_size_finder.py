"""BatchSizeFinder as a callback: the search runs at fit start and training continues with the found size, as in
Lightning (same size, steps, weights)."""
from __future__ import annotations

import os
import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader
from tuner.tuner_models import models, oom_data, quiet_trainer, state_of

import fastlit
from fastlit.callbacks import BatchSizeFinder
from fastlit.utilities.exceptions import MisconfigurationException


@pytest.fixture(autouse=True)
def _no_gc(monkeypatch):
    """Skip the finders' gc.collect() between trials (slow in a process holding two frameworks; no effect here)."""
    import fastlit.tuner.batch_size_scaling as ours

    monkeypatch.setattr(ours, "garbage_collection_cuda", lambda after_oom=False: None)
    try:
        import pytorch_lightning.tuner.batch_size_scaling as theirs

        monkeypatch.setattr(theirs, "garbage_collection_cuda", lambda: None)
    except ImportError:
        pass


def _fit(pl: Any, root: str, **kw: Any) -> tuple:
    model = models(pl).OOMModel(limit=20)
    finder = pl.callbacks.BatchSizeFinder(**kw)
    trainer = quiet_trainer(pl, default_root_dir=root, callbacks=[finder], num_sanity_val_steps=0,
                            limit_val_batches=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model)
    return (finder.optimal_batch_size, model.hparams.batch_size, trainer.global_step, trainer.current_epoch,
            state_of(model), trainer.state.status.value)


@pytest.mark.parametrize("mode", ["power", "binsearch"])
def test_fit_continues_with_the_found_size_like_lightning(tmp_path, lightning, mode):
    ours = _fit(fastlit, str(tmp_path / "f"), mode=mode)
    theirs = _fit(lightning, str(tmp_path / "l"), mode=mode)
    assert ours[:4] == theirs[:4]
    assert ours[0] == (16 if mode == "power" else 19)
    assert ours[2] == 2 * -(-100 // ours[0])  # two epochs at the found size
    for k in ours[4]:  # the search left no trace: training from the same start gives the same weights
        torch.testing.assert_close(ours[4][k], theirs[4][k])
    assert ours[5] == "finished"
    assert not (tmp_path / "f").exists() or not os.listdir(tmp_path / "f")  # no temporary checkpoint written


def test_user_callbacks_and_loggers_do_not_see_the_trials(tmp_path):
    seen = []

    class Spy(fastlit.Callback):
        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            seen.append(batch[0].shape[0])

    logger = fastlit.loggers.CSVLogger(str(tmp_path))
    model = models(fastlit).OOMModel(limit=20)
    trainer = quiet_trainer(fastlit, callbacks=[BatchSizeFinder(), Spy()], logger=logger, max_epochs=1,
                            log_every_n_steps=1, num_sanity_val_steps=0, limit_val_batches=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model)
    assert seen == [16] * 6 + [4]  # only the real epoch, at the found size
    assert trainer.loggers == [logger] and trainer.global_step == 7


def test_misconfigurations(tmp_path):
    with pytest.raises(ValueError, match="`mode` should be either of"):
        BatchSizeFinder(mode="exp")
    with pytest.raises(AssertionError, match="`margin` should be between 0 and 1"):
        BatchSizeFinder(margin=1.5)
    trainer = quiet_trainer(fastlit, callbacks=[BatchSizeFinder(batch_arg_name="bs")])
    with pytest.raises(MisconfigurationException, match="Field bs not found in `model`, `datamodule`"):
        trainer.fit(models(fastlit).OOMModel())
    trainer = quiet_trainer(fastlit, callbacks=[BatchSizeFinder()])
    with pytest.raises(MisconfigurationException, match="cannot be used with dataloaders passed directly"):
        trainer.fit(models(fastlit).NoBatchSizeModel(), DataLoader(oom_data(), batch_size=2))


def test_both_model_attribute_and_hparam_warns(tmp_path):
    model = models(fastlit).OOMModel()
    model.batch_size = 4  # shadows hparams.batch_size
    trainer = quiet_trainer(fastlit, default_root_dir=str(tmp_path), callbacks=[BatchSizeFinder()], max_epochs=1)
    with pytest.warns(UserWarning, match="are mutually exclusive"):
        trainer.fit(model)
    assert model.batch_size == model.hparams.batch_size == 16  # set everywhere it lives


def test_search_at_an_epoch_milestone_applies_from_the_next_epoch(tmp_path):
    class Milestones(BatchSizeFinder):
        def on_fit_start(self, *args: Any, **kwargs: Any) -> None:
            return

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == 1:
                self.scale_batch_size(trainer, pl_module)

    sizes: dict[int, set] = {}

    class Spy(fastlit.Callback):
        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            sizes.setdefault(trainer.current_epoch, set()).add(batch[0].shape[0])

    model = models(fastlit).OOMModel(limit=20)
    trainer = quiet_trainer(fastlit, default_root_dir=str(tmp_path), callbacks=[Milestones(), Spy()], max_epochs=3,
                            num_sanity_val_steps=0, limit_val_batches=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model)
    assert model.hparams.batch_size == 16
    assert sizes == {0: {2}, 1: {2}, 2: {16, 4}}  # epoch 1 was already running with its loader
    assert trainer.global_step == 50 + 50 + 7
