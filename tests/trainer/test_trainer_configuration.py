"""Trainer configuration as Lightning 2.6.6 (issue #14, cluster 7): ``barebones`` conflicts raise ValueError
naming the argument, and ``self.log`` under barebones warns and does nothing; ``PL_TRAINER_<ARG>`` environment
variables supply defaults (explicit arguments win); ``trainer.max_epochs`` is None until ``fit`` resolves it
(1000 with a PossibleUserWarning, or -1 when steps/time bound the run); a float ``val_check_interval`` with
``check_val_every_n_epoch=None`` raises; ``trainer.logger = None`` / ``trainer.loggers = None`` leave no loggers.
Each case runs under fastlit and, when installed, ``pytorch_lightning``.
"""
from __future__ import annotations

import warnings

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit

try:
    import pytorch_lightning as _lightning
except ImportError:
    _lightning = None

FRAMEWORKS = [fastlit] + ([_lightning] if _lightning is not None else [])
ids = lambda m: m.__name__  # noqa: E731


def _model(pl, log=False):
    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            loss = self.layer(batch[0]).sum()
            if log:
                self.log("loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    return Model()


def _loader():
    return DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=2)


QUIET = dict(enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)


@pytest.mark.parametrize("kwargs", [{"enable_checkpointing": True}, {"logger": True}, {"enable_progress_bar": True},
                                    {"enable_model_summary": True}, {"log_every_n_steps": 1},
                                    {"num_sanity_val_steps": 1}, {"fast_dev_run": 1}, {"detect_anomaly": True},
                                    {"profiler": "simple"}], ids=lambda k: next(iter(k)))
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_barebones_conflicts_name_the_argument(pl, kwargs):
    (name, value), = kwargs.items()
    with pytest.raises(ValueError, match=rf"`Trainer\(barebones=True, {name}={value!r}\)` was passed"):
        pl.Trainer(barebones=True, **kwargs)


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_barebones_settings_and_logging(pl):
    trainer = pl.Trainer(barebones=True, max_steps=2)
    assert trainer.loggers == [] and trainer.log_every_n_steps == 0 and trainer.num_sanity_val_steps == 0
    assert trainer.checkpoint_callback is None and trainer.progress_bar_callback is None
    model = _model(pl, log=True)
    with pytest.warns(UserWarning, match=r"barebones=True\)` is configured"):
        trainer.fit(model, _loader())
    assert "loss" not in trainer.callback_metrics


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_env_var_defaults(pl, monkeypatch):
    monkeypatch.setenv("PL_TRAINER_MAX_STEPS", "7")
    monkeypatch.setenv("PL_TRAINER_LOGGER", "False")
    monkeypatch.setenv("PL_TRAINER_NOT_AN_ARGUMENT", "1")
    trainer = pl.Trainer()
    assert trainer.max_steps == 7 and trainer.logger is None
    trainer = pl.Trainer(max_steps=42, logger=True)  # explicit arguments win
    assert trainer.max_steps == 42 and trainer.logger is not None
    trainer = pl.Trainer("cpu")  # a positional argument counts as explicit too
    assert trainer.max_steps == 7


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_max_epochs_none_until_fit(pl, tmp_path):
    trainer = pl.Trainer(default_root_dir=tmp_path, logger=False, limit_train_batches=1, **QUIET)
    assert trainer.max_epochs is None
    assert trainer.max_steps == -1
    # 1000 with Lightning's PossibleUserWarning; we stop it right away with should_stop
    stopper = pl.callbacks.LambdaCallback(on_train_epoch_end=lambda t, m: setattr(t, "should_stop", True))
    trainer = pl.Trainer(default_root_dir=tmp_path, logger=False, limit_train_batches=1, callbacks=[stopper], **QUIET)
    with pytest.warns(pl.utilities.warnings.PossibleUserWarning, match="`max_epochs` was not set"):
        trainer.fit(_model(pl), _loader())
    assert trainer.max_epochs == 1000
    trainer = pl.Trainer(default_root_dir=tmp_path, max_steps=1, logger=False, **QUIET)
    assert trainer.max_epochs is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", pl.utilities.warnings.PossibleUserWarning)
        warnings.filterwarnings("ignore", message=".*(num_workers|log_every_n_steps).*")
        trainer.fit(_model(pl), _loader())
    assert trainer.max_epochs == -1
    assert pl.Trainer(max_epochs=3).max_epochs == 3


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_float_val_check_interval_needs_epochs(pl):
    with pytest.raises(pl.utilities.exceptions.MisconfigurationException,
                       match=r"`val_check_interval` should be an integer .* when `check_val_every_n_epoch=None`"):
        pl.Trainer(val_check_interval=0.5, check_val_every_n_epoch=None)
    pl.Trainer(val_check_interval=5, check_val_every_n_epoch=None)  # a number of batches is fine


@pytest.mark.parametrize("attr", ["logger", "loggers"])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_setting_no_logger(pl, attr, tmp_path):
    trainer = pl.Trainer(default_root_dir=tmp_path)
    assert len(trainer.loggers) == 1
    setattr(trainer, attr, None)
    assert trainer.loggers == [] and trainer.logger is None
    csv = pl.loggers.CSVLogger(tmp_path)
    trainer.logger = csv
    assert trainer.loggers == [csv]
    trainer.loggers = [csv, csv]
    assert trainer.logger is csv and len(trainer.loggers) == 2


@pytest.mark.parametrize("absent,match", [
    ("validation_step", r"You passed in a `val_dataloader` but have no `validation_step`. Skipping val loop."),
    ("val_dataloader", r"You defined a `validation_step` but have no `val_dataloader`. Skipping val loop.")])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_half_a_validation_setup_warns(pl, absent, match, tmp_path):
    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def validation_step(self, batch, batch_idx):
            pass

        def val_dataloader(self):
            return _loader()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    model = Model()
    setattr(model, absent, None)
    trainer = pl.Trainer(default_root_dir=tmp_path, max_steps=1, logger=False, **QUIET)
    with pytest.warns(UserWarning, match=match):
        trainer.fit(model, _loader())


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_float_val_check_interval_message_is_lightnings(pl):
    import re

    with pytest.raises(pl.utilities.exceptions.MisconfigurationException, match=re.escape(
            "`val_check_interval` should be an integer or a time-based duration (str 'DD:HH:MM:SS', "
            "datetime.timedelta, or dict kwargs for timedelta) when `check_val_every_n_epoch=None`.")):
        pl.Trainer(val_check_interval=0.5, check_val_every_n_epoch=None)
