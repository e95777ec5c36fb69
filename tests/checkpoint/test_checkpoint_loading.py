"""``load_from_checkpoint`` (hparams overrides, map_location, strict, hparams_file) and the errors for missing or
corrupt checkpoint paths, which must name the path."""
from __future__ import annotations

import os
from typing import Any

import pytest
import torch

import fastlit
from helpers import models, quiet, randn_loader

Boring = models(fastlit).BoringModel


@pytest.fixture
def ckpt(tmp_path: Any) -> str:
    torch.manual_seed(0)
    model = Boring(dim=8, lr=0.1)
    trainer = fastlit.Trainer(**quiet(default_root_dir=str(tmp_path), max_epochs=1, logger=False))
    trainer.fit(model, randn_loader(8))
    path = str(tmp_path / "model.ckpt")
    trainer.save_checkpoint(path)
    return path


def test_load_restores_hparams_and_weights(ckpt: str) -> None:
    saved = torch.load(ckpt)
    model = Boring.load_from_checkpoint(ckpt)
    assert dict(model.hparams) == {"dim": 8, "lr": 0.1} and model.hparams.lr == 0.1
    for k, v in saved["state_dict"].items():
        assert torch.equal(model.state_dict()[k], v)
    assert model.training  # like a freshly built nn.Module


def test_hparams_override(ckpt: str) -> None:
    model = Boring.load_from_checkpoint(ckpt, lr=0.5)
    assert model.hparams.lr == 0.5 and model.hparams.dim == 8


def test_map_location_forms(ckpt: str) -> None:
    for loc in ("cpu", torch.device("cpu"), {"cpu": "cpu"}, lambda storage, _: storage):
        model = Boring.load_from_checkpoint(ckpt, map_location=loc)
        assert model.device.type == "cpu"
        assert model.layer.weight.device.type == "cpu"


def test_strict_loading(ckpt: str, tmp_path: Any) -> None:
    class Bigger(Boring):
        def __init__(self, dim: int = 8, lr: float = 0.1) -> None:
            super().__init__(dim, lr)
            self.extra = torch.nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match="extra") as err:
        Bigger.load_from_checkpoint(ckpt)
    assert "model.ckpt" in str(err.value)
    model = Bigger.load_from_checkpoint(ckpt, strict=False)
    assert torch.equal(model.layer.weight, torch.load(ckpt)["state_dict"]["layer.weight"])


def test_hparams_file_overrides_checkpoint(ckpt: str, tmp_path: Any) -> None:
    hp = tmp_path / "hparams.yaml"
    hp.write_text("dim: 8\nlr: 0.25\n")
    model = Boring.load_from_checkpoint(ckpt, hparams_file=str(hp))
    assert model.hparams.lr == 0.25


def test_missing_init_argument_is_a_clear_error(tmp_path: Any) -> None:
    AE = models(fastlit).LitAutoEncoder
    from helpers import Decoder, Encoder

    model = AE(Encoder(), Decoder())
    trainer = fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    from helpers import mnist_like
    from torch.utils.data import DataLoader

    trainer.fit(model, DataLoader(mnist_like(8), batch_size=4))
    path = str(tmp_path / "ae.ckpt")
    trainer.save_checkpoint(path)
    with pytest.raises(TypeError, match="encoder"):
        AE.load_from_checkpoint(path)
    loaded = AE.load_from_checkpoint(path, encoder=Encoder(), decoder=Decoder())  # pass them explicitly
    for a, b in zip(model.parameters(), loaded.parameters()):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------- bad paths
@pytest.mark.parametrize("entry", ["fit", "validate", "test", "predict"])
def test_missing_ckpt_path_names_the_path(entry: str, tmp_path: Any) -> None:
    missing = str(tmp_path / "nope" / "missing.ckpt")
    trainer = fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    model = Boring()
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        if entry == "fit":
            trainer.fit(model, randn_loader(8), ckpt_path=missing)
        else:
            getattr(trainer, entry)(model, randn_loader(8), ckpt_path=missing)


def test_corrupt_ckpt_path_names_the_path(tmp_path: Any, ckpt: str) -> None:
    bad = tmp_path / "corrupt.ckpt"
    bad.write_bytes(b"this is not a checkpoint")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(open(ckpt, "rb").read()[:200])
    trainer = fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    for path in (bad, truncated):
        with pytest.raises(Exception, match=os.path.basename(path)):
            trainer.fit(Boring(), randn_loader(8), ckpt_path=str(path))
        with pytest.raises(Exception, match=os.path.basename(path)):
            Boring.load_from_checkpoint(str(path))
    with pytest.raises(FileNotFoundError, match="gone.ckpt"):
        Boring.load_from_checkpoint(str(tmp_path / "gone.ckpt"))


def test_directory_as_ckpt_path(tmp_path: Any) -> None:
    trainer = fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    with pytest.raises(Exception, match="directory"):
        trainer.fit(Boring(), randn_loader(8), ckpt_path=str(tmp_path))


def test_validate_with_ckpt_path_loads_those_weights(ckpt: str) -> None:
    model = Boring()  # fresh random weights
    trainer = fastlit.Trainer(**quiet(logger=False))
    trainer.validate(model, randn_loader(8), ckpt_path=ckpt, verbose=False)
    assert torch.equal(model.layer.weight, torch.load(ckpt)["state_dict"]["layer.weight"])
    assert trainer.ckpt_path == ckpt


@pytest.mark.parametrize("which", ["best", "last"])
def test_ckpt_path_best_and_last(which: str, tmp_path: Any) -> None:
    torch.manual_seed(0)
    model = Boring()
    cb = fastlit.callbacks.ModelCheckpoint(monitor="val_loss", save_last=True, save_top_k=1)
    trainer = fastlit.Trainer(**quiet(default_root_dir=str(tmp_path), max_epochs=3, logger=False, callbacks=[cb]))
    trainer.fit(model, randn_loader(8), randn_loader(8))
    path = cb.best_model_path if which == "best" else cb.last_model_path
    assert os.path.isfile(path)
    fresh = Boring()
    trainer.test(fresh, randn_loader(8), ckpt_path=which, verbose=False)
    assert trainer.ckpt_path == path
    assert torch.equal(fresh.layer.weight, torch.load(path)["state_dict"]["layer.weight"])
    resumed = fastlit.Trainer(**quiet(default_root_dir=str(tmp_path), max_epochs=4, logger=False,
                                      callbacks=[fastlit.callbacks.ModelCheckpoint(monitor="val_loss", save_last=True)]))
    with pytest.raises(ValueError, match=which):  # a fresh trainer has no best/last checkpoint yet
        resumed.fit(Boring(), randn_loader(8), randn_loader(8), ckpt_path=which)
