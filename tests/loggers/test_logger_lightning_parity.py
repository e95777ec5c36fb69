"""Differential tests: the same calls on Lightning's loggers and on ours must leave the same files behind."""

import os
import re
import warnings
from argparse import Namespace

import pytest
import torch
import yaml

pl_loggers = pytest.importorskip("pytorch_lightning.loggers")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

import fastlit.loggers as fl_loggers  # noqa: E402

EVENTS = re.compile(r"events\.out\.tfevents\.\d+\..+")


def snapshot(root):
    """Every file under ``root``: yaml/csv byte content; event files replaced by what tensorboard reads from them."""
    out = {}
    for dirpath, _, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        events = sorted(f for f in files if EVENTS.fullmatch(f))
        for f in files:
            if f not in events:
                with open(os.path.join(dirpath, f), "rb") as fh:
                    out[os.path.join(rel, f)] = fh.read()
        if events:
            acc = EventAccumulator(dirpath, size_guidance={"scalars": 0})
            acc.Reload()
            tags = acc.Tags()
            out[os.path.join(rel, "<events>")] = {
                "n_files": len(events),
                "scalars": {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]},
                "hparams": plugin_content(acc, "hparams"),
                "graph": tags["graph"],
            }
    return out


def plugin_content(acc, plugin):
    try:
        return acc.PluginTagToContent(plugin)  # serialized protobufs: compared byte for byte
    except KeyError:
        return {}


def run_both(tmp_path, script, cls_name, **kwargs):
    results = []
    for side, module in (("lightning", pl_loggers), ("fastlit", fl_loggers)):
        root = tmp_path / side
        root.mkdir()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            returned = script(lambda **kw: getattr(module, cls_name)(root, **{**kwargs, **kw}), root)
        results.append((snapshot(root), returned, sorted({str(w.message).replace(str(root), "<root>")
                                                          for w in caught if "deprecated" not in str(w.message)})))
    return results


def fit_like(make, root):
    """Roughly what a Trainer does with a logger during fit, plus a metric key that first appears midway."""
    logger = make()
    _ = logger.experiment  # trainer setup creates the experiment eagerly
    logger.log_hyperparams({"lr": 1e-3, "dims": [784, 64, 3], "opt": {"name": "adam", "betas": (0.9, 0.99)},
                            "flag": True, "nothing": None})
    logger.log_graph(torch.nn.Linear(2, 2))
    logger.save()
    for step in range(0, 120, 10):
        metrics = {"train_loss": torch.tensor(1.0 / (step + 1)), "epoch": step // 50}
        if step >= 50:
            metrics["val_loss"] = 0.5 + step / 1000
        logger.log_metrics(metrics, step=step)
        logger.save()
    logger.log_metrics({"test_acc": 0.875, "epoch": 2}, step=120)
    logger.finalize("success")
    return logger.version, os.path.relpath(logger.log_dir, root)


@pytest.mark.parametrize("cls_name", ["TensorBoardLogger", "CSVLogger"])
def test_fit_like_sequence(tmp_path, cls_name):
    (pl_files, pl_ret, pl_warn), (fl_files, fl_ret, fl_warn) = run_both(tmp_path, fit_like, cls_name)
    assert fl_files == pl_files
    assert fl_ret == pl_ret
    assert fl_warn == pl_warn


def many_calls_no_save(make, root):
    """Buffered logging: steps None, new keys, flushing by flush_logs_every_n_steps, repeated log_hyperparams."""
    logger = make()
    logger.log_hyperparams(Namespace(batch_size=64, seed=7))
    for i in range(9):
        metrics = {"a": i * 0.5}
        if i % 3 == 0:
            metrics["b"] = torch.tensor(i)
        if i > 6:
            metrics["c"] = -1
        logger.log_metrics(metrics, step=None if i % 2 else i)
    logger.log_hyperparams({"batch_size": 128, "extra": "x"})
    logger.finalize("success")
    return logger.version


@pytest.mark.parametrize(
    "cls_name,kwargs",
    [
        ("CSVLogger", {"flush_logs_every_n_steps": 3}),
        ("CSVLogger", {"prefix": "fold0", "name": "exp", "version": "run_a"}),
        ("TensorBoardLogger", {"prefix": "fold0", "sub_dir": "sub"}),
        ("TensorBoardLogger", {"default_hp_metric": False, "name": None, "version": 3}),
    ],
)
def test_buffered_and_options(tmp_path, cls_name, kwargs):
    (pl_files, pl_ret, _), (fl_files, fl_ret, _) = run_both(tmp_path, many_calls_no_save, cls_name, **kwargs)
    assert fl_files == pl_files and fl_ret == pl_ret


def versions_and_finalize(make, root):
    """Version numbering over existing folders, then the finalize variants on unused loggers."""
    for d in ("lightning_logs/version_0", "lightning_logs/version_4", "lightning_logs/version_x",
              "lightning_logs/version_2_old", "lightning_logs/notes"):
        os.makedirs(os.path.join(root, d))
    seen = [make().version]
    failed = make(version=20)
    failed.finalize("failed")
    ok = make(version="by_name")
    ok.finalize("success")
    used = make(version=21)
    used.log_hyperparams({"x": 1}, **({"metrics": {"m": 0.5}, "step": 3} if hasattr(used, "sub_dir") else {}))
    used.finalize("failed")
    seen.append(make().version)
    return seen


@pytest.mark.parametrize("cls_name", ["TensorBoardLogger", "CSVLogger"])
def test_versions_and_finalize(tmp_path, cls_name):
    (pl_files, pl_ret, _), (fl_files, fl_ret, _) = run_both(tmp_path, versions_and_finalize, cls_name)
    assert fl_ret == pl_ret
    assert fl_files == pl_files


def test_properties_match(tmp_path):
    for cls_name in ("TensorBoardLogger", "CSVLogger"):
        for kwargs in ({}, {"name": "n", "version": 2}, {"name": "", "version": "v"}):
            a = getattr(pl_loggers, cls_name)(tmp_path, **kwargs)
            b = getattr(fl_loggers, cls_name)(tmp_path, **kwargs)
            for prop in ("name", "version", "root_dir", "log_dir", "save_dir", "group_separator"):
                assert getattr(b, prop) == getattr(a, prop), (cls_name, kwargs, prop)


def test_under_lightning_trainer(tmp_path):
    """Lightning's own Trainer (fit + validate, hparams, graph, checkpoint) writes the same logs with our loggers."""
    pl = pytest.importorskip("pytorch_lightning")
    from torch.utils.data import DataLoader, TensorDataset

    class Model(pl.LightningModule):
        def __init__(self, lr=0.1, hidden=4):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(3, 1)
            self.example_input_array = torch.zeros(2, 3)

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            loss = torch.nn.functional.mse_loss(self(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", torch.nn.functional.mse_loss(self(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    snapshots = []
    for side, module in (("lightning", pl_loggers), ("fastlit", fl_loggers)):
        root = str(tmp_path / side)
        torch.manual_seed(0)
        data = DataLoader(TensorDataset(torch.randn(64, 3), torch.randn(64, 1)), batch_size=8)
        loggers = [module.TensorBoardLogger(root, log_graph=True), module.CSVLogger(root)]
        trainer = pl.Trainer(max_epochs=2, logger=loggers, log_every_n_steps=3, enable_progress_bar=False,
                             enable_model_summary=False, default_root_dir=root)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(Model(), data, data)
            trainer.validate(trainer.lightning_module, data, verbose=False)
        # checkpoints embed their own absolute path: compare their names only
        snapshots.append({k: (v if not k.endswith(".ckpt") else None) for k, v in snapshot(root).items()})
    assert snapshots[1] == snapshots[0]
    csv_text = snapshots[1]["lightning_logs/version_1/metrics.csv"].decode()
    assert csv_text.startswith("epoch,step,train_loss,val_loss\r\n0,2,")  # sanity: the run really logged
    assert yaml.safe_load(snapshots[1]["lightning_logs/version_0/hparams.yaml"]) == {"hidden": 4, "lr": 0.1}
