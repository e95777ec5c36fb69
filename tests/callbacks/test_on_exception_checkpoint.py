"""OnExceptionCheckpoint: a checkpoint file appears when a run fails (same keys/counters as Lightning's), and is
removed again after a run that ends normally."""
from __future__ import annotations

import os
import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from fastlit.callbacks import ModelCheckpoint, OnExceptionCheckpoint


def _fit(pl: Any, dirpath: str, fail_at: int = -1, exc: type = ValueError, ckpt: Any = None, quiet: bool = True) -> Any:
    torch.manual_seed(0)

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.global_step == fail_at:
                raise exc("boom")
            return self.layer(batch[0]).pow(2).mean()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    cbs = ckpt or pl.callbacks.OnExceptionCheckpoint(dirpath)
    trainer = pl.Trainer(max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=cbs if isinstance(cbs, list) else [cbs], default_root_dir=dirpath)
    loader = DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=2)
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        trainer.fit(Model(), loader)
    return trainer


def test_checkpoint_written_on_exception_like_lightning(tmp_path, lightning):
    for pl, sub in ((fastlit, "f"), (lightning, "l")):
        with pytest.raises(ValueError, match="boom"):
            _fit(pl, str(tmp_path / sub), fail_at=6)
    ours = torch.load(tmp_path / "f" / "on_exception.ckpt", weights_only=False)
    theirs = torch.load(tmp_path / "l" / "on_exception.ckpt", weights_only=False)
    keys = set(theirs) - {"pytorch-lightning_version"}
    assert keys <= set(ours)
    assert (ours["epoch"], ours["global_step"]) == (theirs["epoch"], theirs["global_step"]) == (1, 6)
    assert ours["state_dict"].keys() == theirs["state_dict"].keys()
    loops_o, loops_t = ours["loops"]["fit_loop"], theirs["loops"]["fit_loop"]
    assert loops_o["epoch_progress"] == loops_t["epoch_progress"]
    assert loops_o["epoch_loop.batch_progress"]["total"]["completed"] == \
        loops_t["epoch_loop.batch_progress"]["total"]["completed"]


def test_removed_after_a_normal_run(tmp_path, lightning):
    for pl, sub in ((fastlit, "f"), (lightning, "l")):
        d = tmp_path / sub
        d.mkdir()
        trainer = _fit(pl, str(d))
        assert not (d / "on_exception.ckpt").exists()
        assert trainer.global_step == 12
        # it is a Checkpoint, so the Trainer adds no default ModelCheckpoint (and writes no other files)
        assert not [c for c in trainer.callbacks if type(c).__name__ == "ModelCheckpoint"]
        assert os.listdir(d) == []


def test_custom_filename_and_keyboard_interrupt(tmp_path):
    cb = OnExceptionCheckpoint(str(tmp_path / "sub"), filename="crash")
    assert cb.ckpt_path == os.path.join(str(tmp_path / "sub"), "crash.ckpt")
    with pytest.raises(SystemExit) as info:  # Ctrl-C: graceful shutdown, then exit status 1 (as Lightning)
        _fit(fastlit, str(tmp_path), fail_at=2, exc=KeyboardInterrupt, ckpt=cb)
    assert info.value.code == 1
    ck = torch.load(cb.ckpt_path, weights_only=False)
    assert ck["global_step"] == 2


def test_alongside_model_checkpoint(tmp_path):
    exc_cb = OnExceptionCheckpoint(str(tmp_path / "exc"))
    mc = ModelCheckpoint(dirpath=str(tmp_path / "mc"))
    with pytest.raises(ValueError):
        _fit(fastlit, str(tmp_path), fail_at=5, ckpt=[exc_cb, mc])
    assert torch.load(exc_cb.ckpt_path, weights_only=False)["global_step"] == 5
    assert os.listdir(tmp_path / "mc") == ["epoch=0-step=4.ckpt"]  # the regular checkpoint of the first epoch


def test_empty_filename_raises():
    with pytest.raises(ValueError, match="The filename cannot be empty"):
        OnExceptionCheckpoint(".", filename="")
    assert issubclass(OnExceptionCheckpoint, fastlit.callbacks.Checkpoint)
    assert not issubclass(OnExceptionCheckpoint, ModelCheckpoint)


def test_rerun_resumes_from_the_exception_checkpoint(tmp_path, lightning):
    """Lightning's fault tolerance: fit(ckpt_path=None) with the callback attached resumes from its file."""
    results = {}
    for pl, sub in ((fastlit, "f"), (lightning, "l")):
        d = str(tmp_path / sub)
        with pytest.raises(ValueError, match="boom"):
            _fit(pl, d, fail_at=4)  # first batch of the second epoch (an epoch boundary: both resume the same way)
        with pytest.warns(UserWarning, match="The last model of the previous `fit` call will be used"):
            trainer = _fit(pl, d, quiet=False)  # the same script again, without the failure
        weights = trainer.lightning_module.layer.weight.detach().clone()
        results[sub] = (trainer.global_step, trainer.current_epoch, weights, os.listdir(d))
    assert results["f"][:2] == results["l"][:2] == (12, 3)
    torch.testing.assert_close(results["f"][2], results["l"][2])
    assert results["f"][3] == results["l"][3] == []  # the resumed run ended normally: file removed


def test_first_run_warns_that_there_is_nothing_to_resume(tmp_path):
    with pytest.warns(UserWarning, match="there is no last checkpoint available"):
        trainer = _fit(fastlit, str(tmp_path), quiet=False)
    assert trainer.global_step == 12
