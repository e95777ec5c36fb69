"""``load_from_checkpoint`` as Lightning 2.6.6 (issue #14, cluster 11): an explicit ``strict=`` that conflicts with
the model's ``strict_loading`` raises ValueError; agreeing or unset values load; an empty ``state_dict`` warns
"contains no parameters". Differential when Lightning is installed."""
from __future__ import annotations

import pytest
import torch

import fastlit

try:
    import pytorch_lightning as _lightning
except ImportError:
    _lightning = None

FRAMEWORKS = [fastlit] + ([_lightning] if _lightning is not None else [])


def _model_cls(pl, strict_loading):
    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 2)
            if strict_loading is not None:
                self.strict_loading = strict_loading

    return Model


def _ckpt(tmp_path, state_dict):
    path = tmp_path / "m.ckpt"
    torch.save({"state_dict": state_dict, "pytorch-lightning_version": "2.6.6", "epoch": 0, "global_step": 0}, path)
    return path


@pytest.mark.parametrize("strict,strict_loading,expected", [
    (None, None, "ok"), (True, None, "ok"), (False, None, "ok"), (None, False, "ok"), (True, True, "ok"),
    (False, False, "ok"), (False, True, "error"), (True, False, "error")])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_strict_conflict(pl, tmp_path, strict, strict_loading, expected):
    cls = _model_cls(pl, strict_loading)
    path = _ckpt(tmp_path, cls().state_dict())
    if expected == "error":
        with pytest.raises(ValueError, match=r"in conflict with `Model.strict_loading"):
            cls.load_from_checkpoint(path, strict=strict)
    else:
        assert isinstance(cls.load_from_checkpoint(path, strict=strict), cls)


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_empty_state_dict_warns(pl, tmp_path):
    cls = _model_cls(pl, None)
    path = _ckpt(tmp_path, {})
    with pytest.warns(UserWarning, match="contains no parameters"):
        model = cls.load_from_checkpoint(path, strict=False)
    assert model.device.type == "cpu"
