"""Tuner.scale_batch_size: the same batch size, messages and untouched model as Lightning, for both modes and every
entry point, with out-of-memory errors faked deterministically on the CPU."""
from __future__ import annotations

import os
import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader
from tuner.tuner_models import Messages, models, oom_data, quiet_trainer, state_of, tuner_of

import fastlit
from fastlit.tuner import Tuner
from fastlit.utilities.exceptions import MisconfigurationException


@pytest.fixture(autouse=True)
def _no_gc(monkeypatch):
    """Both finders run gc.collect() between trials (0.2 s each in a process holding two frameworks): results do
    not depend on it, so the differential tests skip it."""
    import fastlit.tuner.batch_size_scaling as ours

    monkeypatch.setattr(ours, "garbage_collection_cuda", lambda after_oom=False: None)
    try:
        import pytorch_lightning.tuner.batch_size_scaling as theirs

        monkeypatch.setattr(theirs, "garbage_collection_cuda", lambda: None)
    except ImportError:
        pass


def _scale(pl: Any, root: str, method: str = "fit", limit: int = 20, n: int = 100, **kw: Any) -> tuple:
    model = models(pl).OOMModel(limit=limit, n=n)
    before = state_of(model)
    trainer = quiet_trainer(pl, default_root_dir=root)
    with warnings.catch_warnings(), Messages() as messages:
        warnings.simplefilter("ignore")
        found = tuner_of(pl)(trainer).scale_batch_size(model, method=method, **kw)
    after = state_of(model)
    unchanged = all(torch.equal(before[k], after[k]) for k in before)
    return (found, model.hparams.batch_size, unchanged, trainer.global_step, trainer.current_epoch,
            trainer.state.status.value, messages.lines, model.seen_sizes)


@pytest.mark.parametrize("method", ["fit", "validate", "test", "predict"])
@pytest.mark.parametrize("mode", ["power", "binsearch"])
def test_same_size_as_lightning(tmp_path, lightning, mode, method):
    ours = _scale(fastlit, str(tmp_path / "f"), method, mode=mode)
    theirs = _scale(lightning, str(tmp_path / "l"), method, mode=mode)
    if method == "fit":
        assert ours == theirs  # size, attribute, weights, counters, status, log lines, every batch run
    else:
        # Lightning's evaluation trials ignore `steps_per_trial` (the running loop keeps its first limits) and go
        # through the whole dataset at every size; fastlit runs `steps_per_trial` batches per size as documented
        assert ours[:7] == theirs[:7]
        sizes = ours[7]
        assert all(sizes.count(s) == 3 for s in set(sizes) if s <= 20)
    assert ours[0] == (16 if mode == "power" else 19)  # 20 fits, 21 does not; binsearch keeps a 5% margin
    assert ours[2] and ours[5] == "finished"


@pytest.mark.parametrize("kw", [dict(init_val=3, steps_per_trial=1), dict(max_trials=3), dict(max_val=10),
                                dict(mode="binsearch", max_val=12), dict(mode="binsearch", margin=0.0),
                                dict(mode="binsearch", max_trials=4, init_val=5)])
def test_search_limits_match_lightning(tmp_path, lightning, kw):
    ours = _scale(fastlit, str(tmp_path / "f"), **kw)
    theirs = _scale(lightning, str(tmp_path / "l"), **kw)
    assert ours[:7] == theirs[:7]
    # Lightning's first trial still runs at the model's original size (its train loader was built before
    # `init_val` was set); fastlit's first trial runs at `init_val`, as documented. Every later trial is the same.
    steps = kw.get("steps_per_trial", 3)
    assert ours[7][steps:] == theirs[7][steps:]
    assert ours[7][:steps] == [kw.get("init_val", 2)] * steps


def test_dataset_length_caps_the_search(tmp_path, lightning):
    ours = _scale(fastlit, str(tmp_path / "f"), limit=10_000)
    theirs = _scale(lightning, str(tmp_path / "l"), limit=10_000)
    assert ours == theirs and ours[0] == 128  # 64 ran, then 128 (>= 100 samples) ran and the search stopped
    assert "The batch size 128 is greater or equal than the length of your dataset: 100." in ours[6]


def test_no_temporary_files_and_trainer_reusable(tmp_path):
    model = models(fastlit).OOMModel()
    trainer = quiet_trainer(fastlit, default_root_dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert Tuner(trainer).scale_batch_size(model) == 16
        assert os.listdir(tmp_path) == []  # Lightning's temporary .scale_batch_size_*.ckpt is not needed here
        assert not any(type(c).__name__ == "BatchSizeFinder" for c in trainer.callbacks)
        trainer.fit(model)  # the real run uses the found size from the first epoch
    assert trainer.global_step == 2 * 7  # ceil(100 / 16) steps per epoch
    assert model.seen_sizes[-1] == 100 % 16


def test_datamodule_attribute(tmp_path, lightning):
    found = {}
    for pl in (fastlit, lightning):
        ns = models(pl)
        dm, model = ns.DataModule(), ns.NoBatchSizeModel()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found[pl.__name__] = (tuner_of(pl)(quiet_trainer(pl, default_root_dir=str(tmp_path)))
                                  .scale_batch_size(model, datamodule=dm), dm.batch_size)
    assert found["fastlit"] == found["pytorch_lightning"] == (16, 16)


def test_other_errors_propagate_and_leave_the_trainer_intact(tmp_path):
    class Broken(models(fastlit).OOMModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if batch[0].shape[0] >= 8:
                raise ValueError("a real bug")
            return super().training_step(batch, batch_idx)

    model = Broken()
    before = state_of(model)
    trainer = quiet_trainer(fastlit, default_root_dir=str(tmp_path), logger=fastlit.loggers.CSVLogger(str(tmp_path)))
    loggers, callbacks = list(trainer.loggers), list(trainer.callbacks)
    with pytest.raises(ValueError, match="a real bug"):
        Tuner(trainer).scale_batch_size(model)
    assert trainer.loggers == loggers and trainer.callbacks == callbacks
    after = state_of(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_fast_dev_run_skips(tmp_path):
    trainer = quiet_trainer(fastlit, fast_dev_run=True, default_root_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="Skipping batch size scaler since `fast_dev_run` is enabled."):
        assert Tuner(trainer).scale_batch_size(models(fastlit).OOMModel()) is None


def test_configuration_errors(tmp_path):
    model = models(fastlit).OOMModel()
    trainer = quiet_trainer(fastlit, default_root_dir=str(tmp_path))
    with pytest.raises(ValueError, match="method 'tune' is invalid"):
        Tuner(trainer).scale_batch_size(model, method="tune")
    with pytest.raises(MisconfigurationException, match="`dataloaders` argument should be None"):
        Tuner(trainer).scale_batch_size(model, dataloaders=DataLoader(oom_data()))
    with pytest.raises(MisconfigurationException, match="arguments should be None"):
        Tuner(trainer).scale_batch_size(model, method="test", train_dataloaders=DataLoader(oom_data()))
    with pytest.raises(ValueError, match="`mode` should be either of"):
        Tuner(trainer).scale_batch_size(model, mode="linear")
    with pytest.raises(MisconfigurationException, match="Field batch_sz not found"):
        Tuner(trainer).scale_batch_size(model, batch_arg_name="batch_sz")
    with pytest.raises(MisconfigurationException, match="dataloaders passed directly to `.fit\\(\\)`"):
        Tuner(trainer).scale_batch_size(models(fastlit).NoBatchSizeModel(), DataLoader(oom_data(), batch_size=2))
    busy = quiet_trainer(fastlit, callbacks=[fastlit.callbacks.BatchSizeFinder()])
    with pytest.raises(ValueError, match="already configured with a `BatchSizeFinder`"):
        Tuner(busy).scale_batch_size(model)


def test_memory_is_freed_after_an_oom(monkeypatch):
    import gc

    import fastlit.tuner._trial as trial

    calls = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append(1) or 0)
    trial.garbage_collection_cuda()
    assert calls == ([1] if torch.cuda.is_available() and torch.cuda.is_initialized() else [])
    trial.garbage_collection_cuda(after_oom=True)
    assert len(calls) >= 1


def test_oom_detection():
    from fastlit.tuner._trial import is_oom_error

    assert is_oom_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_oom_error(RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED. This error may appear if..."))
    assert is_oom_error(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert is_oom_error(torch.cuda.OutOfMemoryError("CUDA out of memory."))
    assert not is_oom_error(RuntimeError("shape mismatch"))
    assert not is_oom_error(ValueError("CUDA out of memory"))
