"""Weights-only loading of checkpoints whose ``hyper_parameters`` hold an ``AttributeDict`` (e.g.
``save_hyperparameters()`` of an ``__init__`` argument that is one): ``load_from_checkpoint`` and
``fit(ckpt_path=...)`` work and give the ``AttributeDict`` back, while other classes are still refused."""
from __future__ import annotations

import functools
import io
import pickle
from typing import Any

import pytest
import torch

import fastlit
from fastlit.checkpoint.io import load
from fastlit.core.saving import load_hparams_from_yaml
from fastlit.utilities.parsing import AttributeDict
from helpers import quiet, randn_loader


@functools.lru_cache(maxsize=None)
def _model_cls(pl: Any) -> type:
    class CfgModel(pl.LightningModule):
        def __init__(self, cfg: Any, lr: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(8, 2)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return CfgModel


def _fit(pl: Any, root: Any, cfg: Any, epochs: int = 1, ckpt_path: Any = None, **kw: Any) -> tuple[Any, Any]:
    model = _model_cls(pl)(cfg)
    trainer = pl.Trainer(**quiet(default_root_dir=str(root), max_epochs=epochs, logger=False))
    trainer.fit(model, randn_loader(8), ckpt_path=ckpt_path, **kw)
    return trainer, model


def _nested(ad: type) -> Any:
    return ad(depth=2, inner=ad(width=16, acts=["relu"]), plain={"k": 1})


@pytest.mark.parametrize("weights_only", [None, True])
def test_nested_attribute_dict_loads_weights_only(tmp_path: Any, weights_only: Any) -> None:
    trainer, model = _fit(fastlit, tmp_path, _nested(AttributeDict))
    path = trainer.checkpoint_callback.best_model_path
    # the file really holds the AttributeDict (not a plain dict): it is what torch's safe unpickler refuses
    assert type(torch.load(path, weights_only=False)["hyper_parameters"]["cfg"]) is AttributeDict
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)

    loaded = type(model).load_from_checkpoint(path, weights_only=weights_only)
    cfg = loaded.hparams.cfg
    assert type(cfg) is AttributeDict and type(cfg.inner) is AttributeDict and type(cfg.plain) is dict
    assert cfg == _nested(dict) and cfg.inner.width == 16
    assert torch.equal(loaded.layer.weight, model.layer.weight)

    trainer2, resumed = _fit(fastlit, tmp_path / "resume", _nested(AttributeDict), epochs=2, ckpt_path=path,
                             weights_only=weights_only)
    assert trainer2.current_epoch == 2 and trainer2.global_step == 4  # 2 steps an epoch, epoch 0 restored


def test_shared_and_tuple_attribute_dicts_rebuild(tmp_path: Any) -> None:
    shared = AttributeDict(a=1, t=torch.arange(3))
    buf = io.BytesIO()
    torch.save({"x": shared, "y": [shared, (AttributeDict(b=2), 3)], "z": {"plain": 1}}, buf)
    buf.seek(0)
    out = load(buf)
    assert type(out["x"]) is AttributeDict and out["y"][0] is out["x"] and torch.equal(out["x"].t, torch.arange(3))
    assert type(out["y"][1]) is tuple and type(out["y"][1][0]) is AttributeDict and out["y"][1][0].b == 2
    assert type(out["z"]) is dict


class _NotAllowed(dict):
    """A harmless-looking dict subclass that fastlit did not write: weights-only loading must still refuse it."""


def test_unknown_class_in_hparams_is_still_refused(tmp_path: Any) -> None:
    trainer, model = _fit(fastlit, tmp_path, AttributeDict(opt=_NotAllowed(momentum=0.9)))
    path = trainer.checkpoint_callback.best_model_path
    with pytest.raises(pickle.UnpicklingError, match=r"Refusing to load checkpoint .*_NotAllowed.*weights_only=False"):
        type(model).load_from_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError, match="_NotAllowed"):
        _fit(fastlit, tmp_path / "resume", AttributeDict(), epochs=2, ckpt_path=path)
    # the user's explicit opt-out for a trusted file still works
    assert type(type(model).load_from_checkpoint(path, weights_only=False).hparams.cfg.opt) is _NotAllowed


def test_reduce_calls_nothing_but_the_rebuild() -> None:
    # a pickle that names AttributeDict but smuggles a call through REDUCE on another global is refused
    class Evil:
        def __reduce__(self) -> Any:
            return (print, ("side effect",))

    buf = io.BytesIO()
    torch.save({"hp": AttributeDict(e=Evil())}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="print"):
        load(buf)


def test_lightning_written_attribute_dict_loads_weights_only_in_fastlit(tmp_path: Any, lightning: Any) -> None:
    from pytorch_lightning.utilities.parsing import AttributeDict as PLAttributeDict

    pl_trainer, pl_model = _fit(lightning, tmp_path / "pl", _nested(PLAttributeDict))
    fl_trainer, _ = _fit(fastlit, tmp_path / "fl", _nested(AttributeDict))
    pl_ck = torch.load(pl_trainer.checkpoint_callback.best_model_path, weights_only=False)
    fl_ck = torch.load(fl_trainer.checkpoint_callback.best_model_path, weights_only=False)
    # same layout: top level a plain dict, the nested argument kept as the framework's AttributeDict
    for ck in (pl_ck, fl_ck):
        assert ck["hparams_name"] == "kwargs" and type(ck["hyper_parameters"]) is dict
        assert set(ck["hyper_parameters"]) == {"cfg", "lr"} and ck["hyper_parameters"]["cfg"] == _nested(dict)
    # fastlit reads Lightning's file weights-only, without importing Lightning's class
    model = _model_cls(fastlit).load_from_checkpoint(pl_trainer.checkpoint_callback.best_model_path)
    assert type(model.hparams.cfg) is AttributeDict and type(model.hparams.cfg.inner) is AttributeDict
    assert model.hparams.cfg == _nested(dict)
    assert torch.equal(model.layer.weight, pl_model.layer.weight)


def test_nested_attribute_dict_in_hparams_yaml_reads_back(tmp_path: Any) -> None:
    # without omegaconf, yaml would tag the nested AttributeDict with its python class, which no safe loader reads:
    # fastlit writes a plain mapping (what the omegaconf path writes too)
    model = _model_cls(fastlit)(_nested(AttributeDict))
    trainer = fastlit.Trainer(**quiet(default_root_dir=str(tmp_path), max_epochs=1,
                                      logger=fastlit.loggers.CSVLogger(str(tmp_path), name="csv")))
    trainer.fit(model, randn_loader(8))
    yaml_path = tmp_path / "csv" / "version_0" / "hparams.yaml"
    assert "!!python" not in yaml_path.read_text()
    hp = load_hparams_from_yaml(str(yaml_path))
    assert hp["cfg"] == _nested(dict) and hp["lr"] == 0.1
    loaded = type(model).load_from_checkpoint(trainer.checkpoint_callback.best_model_path, hparams_file=str(yaml_path))
    assert loaded.hparams.cfg == _nested(dict)


def test_lightning_hparams_yaml_with_attribute_dict_reads_in_fastlit(tmp_path: Any, lightning: Any) -> None:
    from pytorch_lightning.core.saving import save_hparams_to_yaml as pl_save
    from pytorch_lightning.utilities.parsing import AttributeDict as PLAttributeDict

    path = str(tmp_path / "pl.yaml")
    pl_save(path, {"cfg": _nested(PLAttributeDict), "lr": 0.1}, use_omegaconf=False)
    assert "!!python/object/new:pytorch_lightning.utilities.parsing.AttributeDict" in open(path).read()
    hp = load_hparams_from_yaml(path)
    assert type(hp["cfg"]) is AttributeDict and type(hp["cfg"].inner) is AttributeDict
    assert hp == {"cfg": _nested(dict), "lr": 0.1}
    # other python tags are still refused
    with open(path, "w") as f:
        f.write("x: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        load_hparams_from_yaml(path)


def test_async_written_checkpoint_with_attribute_dict_loads_weights_only(tmp_path: Any) -> None:
    model = _model_cls(fastlit)(_nested(AttributeDict))
    trainer = fastlit.Trainer(**quiet(default_root_dir=str(tmp_path), max_epochs=1, logger=False,
                                      async_checkpoint=True))
    trainer.fit(model, randn_loader(8))
    loaded = type(model).load_from_checkpoint(trainer.checkpoint_callback.best_model_path, weights_only=True)
    assert type(loaded.hparams.cfg.inner) is AttributeDict and loaded.hparams.cfg == _nested(dict)
