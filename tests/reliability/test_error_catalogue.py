"""The catalogue of clear errors: each user mistake raises a known exception type whose message names the
problem and the fix. One case per mistake; ``CASES`` maps a name to (setup, type, [problem regex, fix regex])."""
import datetime
import os
import pickle
import warnings

import pytest
import torch
from torch.utils.data import DataLoader

import fastlit as pl
from fastlit.callbacks import EarlyStopping, ModelCheckpoint
from fastlit.checkpoint.io import load
from fastlit.demos.boring_classes import BoringModel, RandomDataset
from fastlit.utilities.exceptions import MisconfigurationException as Misconf


def T(root, **kw):
    kw = {"default_root_dir": str(root), "logger": False, "enable_progress_bar": False, "enable_model_summary": False,
          "max_steps": 2, "enable_checkpointing": False, **kw}
    return pl.Trainer(**kw)


def saved(root, name="a.ckpt"):
    trainer = T(root)
    trainer.fit(BoringModel())
    path = os.path.join(str(root), name)
    trainer.save_checkpoint(path)
    return path


class Seq(BoringModel):  # same data, other parameter names
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Sequential(torch.nn.Linear(32, 2))


class Wide(BoringModel):  # same names, other shapes
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(32, 3)


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_ckpt(root):
    path = os.path.join(str(root), "evil.ckpt")
    torch.save({"state_dict": BoringModel().state_dict(), "evil": Evil(os.path.join(str(root), "PWNED")),
                "pytorch-lightning_version": "2.6.6"}, path)
    return path


def override(**methods):
    return type("M", (BoringModel,), methods)


def _no_training_step(r):
    class M(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.Linear(32, 2)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), 0.1)

        def train_dataloader(self):
            return DataLoader(RandomDataset(32, 8))

    T(r).fit(M())


def _sched(interval=None, plateau=False):
    def configure_optimizers(self):
        o = torch.optim.SGD(self.parameters(), 0.1)
        if plateau:
            return {"optimizer": o, "lr_scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(o)}
        return {"optimizer": o, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(o, 1),
                                                 "interval": interval}}
    return configure_optimizers


def _log(value):
    def training_step(self, batch, batch_idx):
        out = BoringModel.training_step(self, batch, batch_idx)
        self.log("v", value)
        return out
    return training_step


def _truncated(r):
    path = saved(r)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    T(r, max_steps=4).fit(BoringModel(), ckpt_path=path)


def _text_file(r):
    path = os.path.join(str(r), "notes.ckpt")
    with open(path, "w") as f:
        f.write("hello")
    BoringModel.load_from_checkpoint(path)


LOOP = {"max_steps": -1, "max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 2}
CASES = {
    "no training_step": (_no_training_step, Misconf, [r"No `training_step\(\)` method", r"expects as minimum"]),
    "no configure_optimizers": (lambda r: T(r).fit(override(configure_optimizers=pl.LightningModule.configure_optimizers)()),
                                Misconf, [r"No `configure_optimizers\(\)`", r"to be defined"]),
    "configure_optimizers returns junk": (lambda r: T(r).fit(override(configure_optimizers=lambda s: "adam")()),
                                          Misconf, [r"returned str", r"Return one optimizer"]),
    "no train_dataloader": (lambda r: T(r).fit(override(train_dataloader=pl.LightningModule.train_dataloader)()),
                            Misconf, [r"No `train_dataloader\(\)`", r"train_dataloaders=\.\.\."]),
    "non-scalar loss": (lambda r: T(r).fit(override(training_step=lambda s, b, i: s.layer(b))()),
                        RuntimeError, [r"not a scalar", r"loss\.mean\(\)"]),
    "loss without grad": (lambda r: T(r).fit(override(training_step=lambda s, b, i: torch.tensor(1.0))()),
                          RuntimeError, [r"not connected to the model's parameters", r"gradients enabled"]),
    "training_step returns str": (lambda r: T(r).fit(override(training_step=lambda s, b, i: "loss")()),
                                  Misconf, [r"returned str", r"must return a Tensor, a dict, or None"]),
    "dict without loss": (lambda r: T(r).fit(override(training_step=lambda s, b, i: {"x": s.layer(b).sum()})()),
                          Misconf, [r"returns a dict", r"'loss' key needs to be present"]),
    "wrong device": (lambda r: T(r).fit(override(training_step=lambda s, b, i: s.layer(b.to("meta")).sum())()),
                     RuntimeError, [r"different device than the model", r"device=self\.device"]),
    "val_check_interval > epoch": (lambda r: T(r, val_check_interval=1000, max_steps=5).fit(BoringModel()),
                                   ValueError, [r"`val_check_interval` \(1000\) must be less", r"check_val_every_n_epoch=None"]),
    "checkpoint monitor never logged": (
        lambda r: T(r, enable_checkpointing=True, callbacks=[ModelCheckpoint(monitor="nope")], **LOOP).fit(BoringModel()),
        Misconf, [r"monitor='nope'\)` could not find", r"log\('nope', value\)"]),
    "early-stopping monitor never logged": (
        lambda r: T(r, callbacks=[EarlyStopping(monitor="nope")], **LOOP).fit(BoringModel()),
        RuntimeError, [r"metric `nope` which is not available", r"modify your `EarlyStopping`"]),
    "checkpoint of another model": (lambda r: Seq.load_from_checkpoint(saved(r)), RuntimeError,
                                    [r'Missing key\(s\).*"layer\.0\.weight"', r'Unexpected key\(s\).*"layer\.weight"',
                                     r"same architecture", r"strict=False"]),
    "checkpoint shape mismatch": (lambda r: Wide.load_from_checkpoint(saved(r)), RuntimeError,
                                  [r"size mismatch for layer\.weight", r"torch\.Size\(\[3, 32\]\)", r"same architecture"]),
    "fit resumes another model": (lambda r: T(r, max_steps=4).fit(Seq(), ckpt_path=saved(r)), RuntimeError,
                                  [r"Missing key\(s\)", r"a\.ckpt", r"strict=False"]),
    "ckpt_path missing": (lambda r: T(r).fit(BoringModel(), ckpt_path=os.path.join(str(r), "nope.ckpt")),
                          FileNotFoundError, [r"not found: .*nope\.ckpt", r"Check the path"]),
    "ckpt_path is a directory": (lambda r: T(r).fit(BoringModel(), ckpt_path=str(r)), IsADirectoryError,
                                 [r"is a directory", r"pass the \.ckpt file"]),
    "ckpt_path truncated": (_truncated, RuntimeError, [r"truncated", r"Pass a complete file"]),
    "checkpoint is a text file": (_text_file, RuntimeError, [r"notes\.ckpt.*could not be read", r"Pass a complete file"]),
    "ckpt_path='best' without a checkpoint": (lambda r: T(r).test(BoringModel(), ckpt_path="best"), ValueError,
                                              [r'ckpt_path="best"\)` is set but', r"pass a path"]),
    "ckpt_path='last' without a checkpoint": (lambda r: T(r).fit(BoringModel(), ckpt_path="last"), ValueError,
                                              [r'ckpt_path="last"\)` is set but', r"train with checkpointing"]),
    "gpu requested, none available": (lambda r: T(r, accelerator="gpu", devices=1), Misconf,
                                      [r"CUDA is not available", r"accelerator='cpu'"]),
    "unknown precision": (lambda r: T(r, precision="fp8"), Misconf, [r"'fp8' is invalid", r"Allowed precision values"]),
    "unknown accelerator": (lambda r: T(r, accelerator="tpu9"), Misconf, [r"accelerator='tpu9'", r"Available names are"]),
    "unknown Trainer argument": (lambda r: pl.Trainer(max_epoch=3), TypeError,
                                 [r"unexpected keyword argument 'max_epoch'", r"Did you mean `max_epochs`"]),
    "max_epochs below -1": (lambda r: T(r, max_epochs=-5, max_steps=-1), Misconf,
                            [r"`max_epochs` must be a non-negative integer or -1", r"-1 for no epoch limit"]),
    "accumulate_grad_batches=0": (lambda r: T(r, accumulate_grad_batches=0), Misconf,
                                  [r"accumulate_grad_batches", r"must be an int >= 1, got 0"]),
    "unknown gradient_clip_algorithm": (lambda r: T(r, gradient_clip_algorithm="foo"), Misconf,
                                        [r"`gradient_clip_algorithm` foo is invalid", r"Allowed algorithms: \['value', 'norm'\]"]),
    "negative limit_train_batches": (lambda r: T(r, limit_train_batches=-1).fit(BoringModel()), Misconf,
                                     [r"invalid value -1 for limit_train_batches", r"has to be in \[0\.0, 1\.0\] or an int"]),
    "test without test_step": (lambda r: T(r).test(override(test_step=pl.LightningModule.test_step)()), Misconf,
                               [r"No `test_step\(\)` method", r"Trainer\.test"]),
    "validate without validation_step": (
        lambda r: T(r).validate(override(validation_step=pl.LightningModule.validation_step)()), Misconf,
        [r"No `validation_step\(\)` method", r"Trainer\.validate"]),
    "gradient clipping with manual optimization": (
        lambda r: T(r, gradient_clip_val=1.0).fit(override(__init__=lambda s: (BoringModel.__init__(s), setattr(
            s, "automatic_optimization", False))[0])()), Misconf,
        [r"not supported for manual optimization", r"Remove `Trainer\(gradient_clip_val=\.\.\.\)`"]),
    "ModelCheckpoint bad mode": (lambda r: ModelCheckpoint(monitor="x", mode="biggest"), Misconf,
                                 [r"got biggest", r"can be min, max"]),
    "ModelCheckpoint conflicting triggers": (
        lambda r: ModelCheckpoint(every_n_train_steps=2, train_time_interval=datetime.timedelta(1)), Misconf,
        [r"every_n_train_steps=2", r"mutually exclusive"]),
    "EarlyStopping bad mode": (lambda r: EarlyStopping(monitor="x", mode="up"), Misconf, [r"got up", r"min, max"]),
    "self.log of a vector": (lambda r: T(r).fit(override(training_step=_log(torch.ones(3)))()), ValueError,
                             [r"must have a single element .*shape \(3,\)", r"\.mean\(\)"]),
    "self.log of a string": (lambda r: T(r).fit(override(training_step=_log("abc"))()), ValueError,
                             [r"self\.log\(v, abc\)", r"`str` values cannot be logged", r"Log a number"]),
    "scheduler interval unknown": (lambda r: T(r).fit(override(configure_optimizers=_sched("hour"))()), Misconf,
                                   [r'"interval" key', r'must be "step" or "epoch" but is "hour"']),
    "ReduceLROnPlateau without monitor": (lambda r: T(r).fit(override(configure_optimizers=_sched(plateau=True))()),
                                          Misconf, [r"must include a monitor", r'"monitor": "metric_to_track"']),
    "malicious pickle: load_from_checkpoint": (lambda r: BoringModel.load_from_checkpoint(evil_ckpt(r)),
                                               pickle.UnpicklingError,
                                               [r"Refusing to load .*evil\.ckpt", r"system", r"`weights_only=False`"]),
    "malicious pickle: fit(ckpt_path=...)": (lambda r: T(r, max_steps=3).fit(BoringModel(), ckpt_path=evil_ckpt(r)),
                                             pickle.UnpicklingError, [r"Refusing to load", r"`weights_only=False`"]),
    "malicious pickle: checkpoint.io.load": (lambda r: load(evil_ckpt(r)), pickle.UnpicklingError,
                                             [r"outside the safe set", r"If you trust this file"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_error_names_problem_and_fix(name, tmp_path):
    setup, exc_type, patterns = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc_type) as err:
            setup(tmp_path)
    msg = str(err.value)
    for pattern in patterns:
        assert __import__("re").search(pattern, msg, flags=__import__("re").S), (pattern, msg)
    assert not os.path.exists(tmp_path / "PWNED")  # a malicious checkpoint never ran its payload


def test_catalogue_has_at_least_30_cases():
    assert len(CASES) >= 30


def test_malicious_checkpoint_loads_only_when_opted_in(tmp_path):
    path = evil_ckpt(tmp_path)
    with pytest.raises(pickle.UnpicklingError):
        load(path)
    assert not os.path.exists(tmp_path / "PWNED")
    load(path, weights_only=False)  # the documented opt-in for trusted files really does unpickle everything
    assert os.path.exists(tmp_path / "PWNED")


def test_failed_resume_keeps_the_checkpoint_file(tmp_path):
    path = saved(tmp_path)
    before = open(path, "rb").read()
    with pytest.raises(RuntimeError):
        T(tmp_path, max_steps=4).fit(Seq(), ckpt_path=path)
    assert open(path, "rb").read() == before
