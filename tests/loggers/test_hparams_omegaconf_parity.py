"""With omegaconf installed, Lightning saves/loads hparams through OmegaConf; so must we (skipped without it)."""

import enum
import os
from argparse import Namespace

import pytest
import torch

omegaconf = pytest.importorskip("omegaconf")
pl_saving = pytest.importorskip("pytorch_lightning.core.saving")
pl_loggers = pytest.importorskip("pytorch_lightning.loggers")

from fastlit.core import saving as fl_saving  # noqa: E402
from fastlit.loggers import TensorBoardLogger  # noqa: E402


class Mode(enum.Enum):
    FAST = 1


CASES = {
    "plain": {"z": 1, "a": [1, 2], "m": {"k": "v"}},  # OmegaConf keeps insertion order, plain yaml sorts
    "dictconfig": {"cfg": omegaconf.OmegaConf.create({"x": 1, "y": "${x}"}), "b": 2.5},
    "namespace": Namespace(lr=0.1, name="n"),
    "fallback": {"s": {3, 1}, "mode": Mode.FAST, "n": 3, "t": torch.nn.Linear},  # OmegaConf refuses: plain yaml
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_save_and_load_match_lightning(tmp_path, case):
    a, b = str(tmp_path / "pl.yaml"), str(tmp_path / "fl.yaml")
    pl_saving.save_hparams_to_yaml(a, CASES[case])
    fl_saving.save_hparams_to_yaml(b, CASES[case])
    assert open(b).read() == open(a).read()
    for use in (True, False):
        ours, theirs = fl_saving.load_hparams_from_yaml(b, use), pl_saving.load_hparams_from_yaml(a, use)
        assert type(ours) is type(theirs) and ours == theirs


def test_tensorboard_hparams_with_dictconfig(tmp_path):
    hp = omegaconf.OmegaConf.create({"model": {"dim": 8}, "lr": 0.01})
    logs = []
    for cls, sub in ((pl_loggers.TensorBoardLogger, "pl"), (TensorBoardLogger, "fl")):
        lg = cls(tmp_path / sub)
        lg.log_hyperparams(hp)
        lg.finalize("success")
        logs.append(open(os.path.join(lg.log_dir, "hparams.yaml")).read())
    assert logs[1] == logs[0] and "dim: 8" in logs[0]
