""""Not overridden" as Lightning 2.6.6 judges it (issue #14, cluster 2): an instance attribute set to None
(``model.validation_step = None``, ``model.val_dataloader = None``) means the hook/stage is absent; functions
wrapped with ``functools.wraps``/``partial``/``Mock(wraps=...)`` are judged by what they wrap. Differential
against Lightning's ``is_overridden`` and against what a real fit runs.
"""
from __future__ import annotations

import functools
from unittest.mock import Mock

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from fastlit.utilities.model_helpers import is_overridden

try:
    import pytorch_lightning as _lightning
    from pytorch_lightning.utilities.model_helpers import is_overridden as _pl_is_overridden
except ImportError:
    _lightning = None

FRAMEWORKS = [(fastlit, is_overridden)] + ([(_lightning, _pl_is_overridden)] if _lightning is not None else [])
ids = lambda fw: fw[0].__name__  # noqa: E731


def _cases(pl):
    class Model(pl.LightningModule):
        def validation_step(self, batch, batch_idx):
            return None

    def wrapper(fn):
        @functools.wraps(fn)
        def inner(*a, **k):
            return fn(*a, **k)
        return inner

    out = {}
    m = Model()
    out["own method"] = (m, "validation_step", True)
    out["inherited"] = (m, "test_step", False)
    m = Model()
    m.validation_step = None
    out["set to None"] = (m, "validation_step", False)
    m = Model()
    m.training_step = wrapper(pl.LightningModule.training_step)
    out["wraps the base"] = (m, "training_step", False)
    m = Model()
    m.training_step = wrapper(lambda self, b, i: 0)
    out["wraps a new fn"] = (m, "training_step", True)
    m = Model()
    m.test_step = functools.partial(pl.LightningModule.test_step, m)
    out["partial of the base"] = (m, "test_step", False)
    m = Model()
    m.test_step = functools.partial(lambda self, b, i: 0, m)
    out["partial of a new fn"] = (m, "test_step", True)
    m = Model()
    m.test_step = Mock(wraps=pl.LightningModule.test_step)
    out["Mock wrapping the base"] = (m, "test_step", False)
    m = Model()
    m.test_step = Mock()
    out["bare Mock"] = (m, "test_step", False)
    m = Model()
    m.predict_step = lambda batch: batch
    out["instance lambda"] = (m, "predict_step", True)
    return out


CASE_NAMES = list(_cases(fastlit))


@pytest.mark.parametrize("case", CASE_NAMES)
@pytest.mark.parametrize("fw", FRAMEWORKS, ids=ids)
def test_is_overridden_cases(fw, case):
    pl, fn = fw
    obj, name, expected = _cases(pl)[case]
    assert fn(name, obj) is expected


@pytest.mark.parametrize("fw", FRAMEWORKS, ids=ids)
def test_parent_without_method_raises(fw):
    pl, fn = fw
    model = _cases(pl)["own method"][0]
    with pytest.raises(ValueError):
        fn("validation_step", model, torch.nn.Module)
    assert fn("not_a_hook", model, pl.LightningModule) is False  # nothing on the instance: not overridden


def _fit(pl, absent):
    calls = []

    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def validation_step(self, batch, batch_idx):
            calls.append("validation_step")

        def val_dataloader(self):
            return DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2)

        def on_train_epoch_start(self):
            calls.append("on_train_epoch_start")

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    model = Model()
    setattr(model, absent, None)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, num_sanity_val_steps=0)
    trainer.fit(model, DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2))
    return calls, trainer.global_step


@pytest.mark.parametrize("absent", ["validation_step", "val_dataloader", "on_train_epoch_start"])
@pytest.mark.parametrize("fw", FRAMEWORKS, ids=ids)
def test_attribute_none_means_absent_in_fit(fw, absent):
    calls, steps = _fit(fw[0], absent)
    assert steps == 2
    expected = {"validation_step": ["on_train_epoch_start"], "val_dataloader": ["on_train_epoch_start"],
                "on_train_epoch_start": ["validation_step", "validation_step"]}[absent]
    assert calls == expected
