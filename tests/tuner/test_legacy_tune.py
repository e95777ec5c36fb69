"""Lightning 1.x's ``Trainer(auto_scale_batch_size=..., auto_lr_find=...)`` + ``trainer.tune(model)`` (seed 003):
accepted with a DeprecationWarning naming ``Tuner``, and giving what ``Tuner`` gives."""
from __future__ import annotations

import warnings

import pytest
from tuner.tuner_models import models, quiet_trainer, regression_loader

import fastlit
from fastlit.tuner import Tuner


@pytest.fixture(autouse=True)
def _no_gc(monkeypatch):
    import fastlit.tuner.batch_size_scaling as ours

    monkeypatch.setattr(ours, "garbage_collection_cuda", lambda after_oom=False: None)


@pytest.mark.parametrize(("flag", "expected"), [("power", 16), ("binsearch", 19), (True, 16)])
def test_auto_scale_batch_size_then_tune(tmp_path, flag, expected):
    with pytest.warns(DeprecationWarning, match="auto_scale_batch_size.*Tuner\\(trainer\\).scale_batch_size"):
        trainer = quiet_trainer(fastlit, default_root_dir=str(tmp_path), auto_scale_batch_size=flag)
    model = models(fastlit).OOMModel()
    with pytest.warns(DeprecationWarning, match="`trainer.tune\\(\\)` was removed in Lightning 2.0"):
        result = trainer.tune(model)
    assert result == {"scale_batch_size": expected} and model.hparams.batch_size == expected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model)  # and the run trains with it
    assert trainer.global_step == 2 * -(-100 // expected)


def test_off_by_default_and_fit_alone_does_not_tune(tmp_path):
    with pytest.warns(DeprecationWarning):
        trainer = quiet_trainer(fastlit, default_root_dir=str(tmp_path), auto_scale_batch_size=None, max_epochs=1)
    model = models(fastlit).OOMModel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert trainer.tune(model) == {}
        trainer.fit(model)  # 1.x too: only tune() scales
    assert model.hparams.batch_size == 2


def test_auto_lr_find_then_tune(tmp_path):
    loader = regression_loader()
    with pytest.warns(DeprecationWarning, match="auto_lr_find"):
        trainer = quiet_trainer(fastlit, default_root_dir=str(tmp_path), auto_lr_find=True, max_epochs=1)
    model = models(fastlit).LRModel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = trainer.tune(model, loader, lr_find_kwargs={"num_training": 30})
        expected = Tuner(quiet_trainer(fastlit, max_epochs=1)).lr_find(models(fastlit).LRModel(), regression_loader(),
                                                                          num_training=30)
    assert set(result) == {"lr_find"}
    assert result["lr_find"].suggestion() == expected.suggestion() == model.hparams.lr
