"""CSVLogger: version folders, metrics.csv layout (incl. header growth), flushing, hparams.yaml."""

import os
from argparse import Namespace

import pytest
import torch

from fastlit.core.saving import load_hparams_from_yaml
from fastlit.loggers import CSVLogger
from fastlit.loggers.csv_logs import ExperimentWriter


def read(path):
    with open(path, newline="") as f:
        return f.read()


def test_versions_and_dirs(tmp_path):
    assert CSVLogger(tmp_path).version == 0
    root = tmp_path / "lightning_logs"
    for d in ("version_1", "version_4", "version_b"):
        (root / d).mkdir(parents=True)
    lg = CSVLogger(tmp_path)
    assert lg.version == 5 and lg.log_dir == str(root / "version_5")
    assert lg.root_dir == str(root) and lg.save_dir == str(tmp_path)
    assert CSVLogger(tmp_path, version="exp").log_dir == str(root / "exp")
    assert CSVLogger(tmp_path, name=None, version=3).log_dir == str(tmp_path / "version_3")
    assert CSVLogger(tmp_path, name="x").experiment.metrics_file_path == str(tmp_path / "x/version_0/metrics.csv")


def test_metrics_csv_layout_with_new_keys_midway(tmp_path):
    lg = CSVLogger(tmp_path)
    lg.log_metrics({"train_loss": torch.tensor(0.5), "epoch": 0}, step=0)
    lg.save()
    assert read(lg.experiment.metrics_file_path) == "epoch,step,train_loss\r\n0,0,0.5\r\n"
    lg.log_metrics({"train_loss": 0.25, "epoch": 0}, step=1)
    lg.log_metrics({"val_loss": 0.75, "epoch": 0}, step=1)  # a new column: the file is rewritten with it
    lg.save()
    lg.log_metrics({"acc": 1, "epoch": 1}, step=2)
    lg.finalize("success")
    assert read(lg.experiment.metrics_file_path) == (
        "acc,epoch,step,train_loss,val_loss\r\n"
        ",0,0,0.5,\r\n"
        ",0,1,0.25,\r\n"
        ",0,1,,0.75\r\n"
        "1,1,2,,\r\n"
    )


def test_prefix_and_default_step(tmp_path):
    lg = CSVLogger(tmp_path, prefix="fold1")
    lg.log_metrics({"a": 1.0})
    lg.log_metrics({"a": 2.0})
    lg.save()
    lg.log_metrics({"a": 3.0})  # step = rows still buffered (Lightning's rule), so it restarts at 0 after a save
    lg.save()
    assert read(lg.experiment.metrics_file_path).splitlines() == ["fold1-a,step", "1.0,0", "2.0,1", "3.0,0"]


def test_flush_logs_every_n_steps(tmp_path):
    lg = CSVLogger(tmp_path, flush_logs_every_n_steps=3)
    for step in range(5):
        lg.log_metrics({"x": float(step)}, step=step)
        # rows reach the disk when (step + 1) % 3 == 0
        assert os.path.exists(lg.experiment.metrics_file_path) == (step >= 2)
    assert len(lg.experiment.metrics) == 2
    lg.finalize("success")
    assert read(lg.experiment.metrics_file_path).count("\n") == 6


def test_hparams_yaml(tmp_path, monkeypatch):
    monkeypatch.setattr("fastlit.core.saving._omegaconf_available", lambda: False)  # exact plain-yaml text below
    lg = CSVLogger(tmp_path)
    lg.log_hyperparams({"lr": 0.01, "nested": {"k": [1, 2]}})
    path = os.path.join(lg.log_dir, "hparams.yaml")
    assert load_hparams_from_yaml(path) == {"lr": 0.01, "nested": {"k": [1, 2]}}  # written immediately
    lg.log_hyperparams(Namespace(batch_size=8))
    assert load_hparams_from_yaml(path) == {"lr": 0.01, "nested": {"k": [1, 2]}, "batch_size": 8}
    assert read(path) == "batch_size: 8\nlr: 0.01\nnested:\n  k:\n  - 1\n  - 2\n"


def test_finalize_without_logging_creates_nothing(tmp_path):
    CSVLogger(tmp_path).finalize("success")
    assert list(tmp_path.iterdir()) == []


def test_existing_metrics_file_is_replaced_with_warning(tmp_path):
    log_dir = tmp_path / "lightning_logs" / "version_0"
    log_dir.mkdir(parents=True)
    (log_dir / "metrics.csv").write_text("old,stuff\n1,2\n")
    lg = CSVLogger(tmp_path, version=0)
    with pytest.warns(UserWarning, match="exists and is not empty"):
        lg.log_metrics({"new": 1.0}, step=0)
    assert not (log_dir / "metrics.csv").exists()
    lg.save()
    assert read(log_dir / "metrics.csv") == "new,step\r\n1.0,0\r\n"


def test_experiment_writer_direct(tmp_path):
    writer = ExperimentWriter(str(tmp_path / "w"))
    writer.log_metrics({"a": 1})
    writer.log_metrics({"b": 2})
    writer.save()
    assert writer.metrics == [] and writer.metrics_keys == ["a", "b", "step"]
    assert read(writer.metrics_file_path) == "a,b,step\r\n1,,0\r\n,2,1\r\n"
