"""Logger base class, dummy logger/experiment, rank-zero guard and the import-time budget of fastlit.loggers."""

import json
import os
import subprocess
import sys
from argparse import Namespace

import pytest

from fastlit.loggers import CSVLogger, Logger, TensorBoardLogger
from fastlit.loggers import logger as logger_module
from fastlit.loggers.logger import DummyLogger, _DummyExperiment, merge_dicts, rank_zero_experiment
from fastlit.loggers.utilities import _add_prefix, _flatten_dict, _sanitize_params, _version
from fastlit.utilities.rank_zero import rank_zero_only


class MinimalLogger(Logger):
    def __init__(self):
        self.calls = []

    @property
    def name(self):
        return "minimal"

    @property
    def version(self):
        return 7

    def log_metrics(self, metrics, step=None):
        self.calls.append(("log_metrics", metrics, step))

    def log_hyperparams(self, params, *args, **kwargs):
        self.calls.append(("log_hyperparams", params))

    def save(self):
        self.calls.append(("save",))

    @property
    @rank_zero_experiment
    def experiment(self):
        return "real experiment"


def test_import_paths_are_the_same_objects():
    import fastlit.loggers.csv_logs
    import fastlit.loggers.logger
    import fastlit.loggers.tensorboard

    assert fastlit.loggers.logger.Logger is Logger
    assert fastlit.loggers.tensorboard.TensorBoardLogger is TensorBoardLogger
    assert fastlit.loggers.csv_logs.CSVLogger is CSVLogger
    assert issubclass(TensorBoardLogger, Logger) and issubclass(CSVLogger, Logger)


def test_logger_is_abstract_and_defaults():
    with pytest.raises(TypeError, match="abstract"):
        Logger()
    lg = MinimalLogger()
    assert (lg.root_dir, lg.log_dir, lg.save_dir, lg.group_separator) == (None, None, None, "/")
    assert lg.log_graph(None) is None and lg.after_save_checkpoint(None) is None
    lg.finalize("success")  # the base finalize saves
    assert lg.calls == [("save",)]


def test_rank_zero_experiment_and_rank_zero_only_guard(monkeypatch, tmp_path):
    lg = MinimalLogger()
    assert lg.experiment == "real experiment"
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    assert isinstance(lg.experiment, _DummyExperiment)
    # real loggers write nothing on other ranks
    tb, csv_logger = TensorBoardLogger(tmp_path), CSVLogger(tmp_path)
    for lgr in (tb, csv_logger):
        lgr.log_hyperparams({"a": 1})
        lgr.log_metrics({"x": 1.0}, step=0)
        lgr.save()
        lgr.finalize("success")
        assert isinstance(lgr.experiment, _DummyExperiment)
    assert list(tmp_path.iterdir()) == []


def test_dummy_experiment_and_dummy_logger_accept_anything():
    exp = _DummyExperiment()
    assert exp.add_image("x", 1, step=3) is None
    assert exp[0].add_histogram("h") is None
    exp["key"] = 5  # no error
    dl = DummyLogger()
    assert (dl.name, dl.version) == ("", "")
    assert dl[0] is dl and dl.anything_at_all(1, k=2) is None
    assert isinstance(dl.experiment, _DummyExperiment)
    assert logger_module.DummyExperiment is _DummyExperiment


def test_merge_dicts():
    d1 = {"a": 1.7, "b": 2.0, "c": 1, "d": {"d1": 1, "d3": 3}}
    d2 = {"a": 1.1, "b": 2.2, "v": 1, "d": {"d1": 2, "d2": 3}}
    d3 = {"a": 1.1, "v": 2.3, "d": {"d3": 3, "d4": {"d5": 1}}}
    merged = merge_dicts([d1, d2, d3], {"a": lambda xs: sum(xs) / len(xs), "v": max, "d": {"d1": sum}}, min)
    assert merged == {"a": pytest.approx(1.3), "b": 2.0, "c": 1, "d": {"d1": 3, "d2": 3, "d3": 3, "d4": {"d5": 1}},
                      "v": 2.3}


def test_param_helpers():
    assert _flatten_dict({"a": {"b": 1}, 5: {"c": 2}, "dl": [{"x": 1}, {"y": 2}], "l": [1, 2],
                          "ns": Namespace(z=3)}) == {"a/b": 1, "5/c": 2, "dl/0/x": 1, "dl/1/y": 2, "l": [1, 2],
                                                     "ns/z": 3}
    assert _sanitize_params({"f": 0.3, "i": 1, "s": "x", "b": True, "l": [1, 2], "n": None}) == {
        "f": 0.3, "i": 1, "s": "x", "b": True, "l": "[1, 2]", "n": "None"}
    assert _add_prefix({"loss": 1}, "train", "-") == {"train-loss": 1}
    assert _add_prefix({"loss": 1}, "", "-") == {"loss": 1}
    one, two = MinimalLogger(), MinimalLogger()
    assert _version([one]) == 7 and _version([one, two]) == "7"


def test_import_does_not_load_tensorboard():
    # the import-time budget of `import fastlit` leaves no room for tensorboard (~0.3 s) or lightning
    code = (
        "import sys, json, fastlit.loggers, fastlit.loggers.tensorboard, fastlit.loggers.csv_logs\n"
        "heavy = ('tensorboard', 'tensorboardX', 'omegaconf', 'fsspec', 'yaml', 'pytorch_lightning',"
        " 'lightning_fabric')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in heavy or m.startswith('torch.utils.tensorboard')]\n"
        "print(json.dumps(sorted(bad)))"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
