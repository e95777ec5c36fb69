"""TensorBoardLogger: version folders, real event files (read back with tensorboard), hparams.yaml, options."""

import os
import pickle
from argparse import Namespace

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fastlit.core.saving import load_hparams_from_yaml
from fastlit.loggers import TensorBoardLogger


def read_scalars(log_dir):
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def event_files(log_dir):
    return [f for f in os.listdir(log_dir) if f.startswith("events.out.tfevents")]


def test_version_numbering_with_gaps_files_and_str(tmp_path):
    assert TensorBoardLogger(tmp_path).version == 0  # no folder at all yet
    root = tmp_path / "lightning_logs"
    for d in ("version_0", "version_3", "version_x", "other", "version_7_old"):
        (root / d).mkdir(parents=True)
    (root / "version_99").write_text("a file, not a folder")
    lg = TensorBoardLogger(tmp_path)
    assert lg.version == 8  # max(0, 3, 7) + 1; like Lightning, "version_7_old" counts as 7
    assert lg.log_dir == str(root / "version_8")
    assert lg.root_dir == str(root) and lg.save_dir == str(tmp_path) and lg.name == "lightning_logs"

    assert TensorBoardLogger(tmp_path, version=5).log_dir == str(root / "version_5")
    assert TensorBoardLogger(tmp_path, version="run-a").log_dir == str(root / "run-a")
    assert TensorBoardLogger(tmp_path, name="", version=2).log_dir == str(tmp_path / "version_2")
    assert TensorBoardLogger(tmp_path, name=None).name == ""
    lg = TensorBoardLogger(tmp_path, version=1, sub_dir="fold_0")
    assert lg.log_dir == str(root / "version_1" / "fold_0") and lg.sub_dir == "fold_0"


def test_version_is_taken_once_folders_exist(tmp_path):
    first = TensorBoardLogger(tmp_path)
    first.log_metrics({"a": 1.0}, step=0)
    second = TensorBoardLogger(tmp_path)
    assert (first.version, second.version) == (0, 1)


def test_log_dir_expands_user_and_vars(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTLIT_TB_TEST", str(tmp_path))
    assert TensorBoardLogger("$FASTLIT_TB_TEST", version=0).log_dir == str(tmp_path / "lightning_logs/version_0")


def test_experiment_is_lazy_and_a_summary_writer(tmp_path):
    lg = TensorBoardLogger(tmp_path, flush_secs=5)
    assert not (tmp_path / "lightning_logs").exists()
    writer = lg.experiment
    from torch.utils.tensorboard import SummaryWriter

    assert isinstance(writer, SummaryWriter) and lg.experiment is writer
    assert writer.log_dir == lg.log_dir and os.path.isdir(lg.log_dir)


def test_scalars_readable_by_tensorboard(tmp_path):
    lg = TensorBoardLogger(tmp_path)
    lg.log_metrics({"loss": torch.tensor(0.5), "acc": 0.25}, step=0)
    lg.log_metrics({"loss": 0.125, "epoch": 1}, step=10)
    lg.log_metrics({"grouped": {"a": 1.0, "b": 2.0}}, step=3)
    lg.finalize("success")
    scalars = read_scalars(lg.log_dir)
    assert scalars == {"loss": [(0, 0.5), (10, 0.125)], "acc": [(0, 0.25)], "epoch": [(10, 1.0)]}
    # add_scalars puts each member in its own sub-run folder
    assert read_scalars(os.path.join(lg.log_dir, "grouped_a")) == {"grouped": [(3, 1.0)]}


def test_prefix_uses_dash(tmp_path):
    lg = TensorBoardLogger(tmp_path, prefix="train")
    lg.log_metrics({"loss": 1.0}, step=2)
    lg.finalize("success")
    assert read_scalars(lg.log_dir) == {"train-loss": [(2, 1.0)]}


def test_unsupported_value_is_a_clear_error(tmp_path):
    lg = TensorBoardLogger(tmp_path)
    with pytest.raises(ValueError, match="not supported. Try a dict or a scalar/tensor"):
        lg.log_metrics({"bad": "text"}, step=0)


def test_hparams_yaml_and_hp_metric(tmp_path):
    lg = TensorBoardLogger(tmp_path)
    hp = {"lr": 1e-3, "layers": [64, 3], "opt": {"name": "adam", "betas": [0.9, 0.99]}, "flag": True, "none": None}
    lg.log_hyperparams(hp)
    lg.log_hyperparams(Namespace(batch_size=32))
    lg.save()
    assert load_hparams_from_yaml(os.path.join(lg.log_dir, "hparams.yaml")) == {**hp, "batch_size": 32}
    lg.finalize("success")
    assert read_scalars(lg.log_dir) == {"hp_metric": [(0, -1.0), (0, -1.0)]}
    acc = EventAccumulator(lg.log_dir)
    acc.Reload()
    assert set(acc.PluginTagToContent("hparams")) == {"_hparams_/experiment", "_hparams_/session_start_info",
                                                      "_hparams_/session_end_info"}


def test_hparams_metrics_argument_and_no_default_hp_metric(tmp_path):
    lg = TensorBoardLogger(tmp_path, version=0)
    lg.log_hyperparams({"a": 1}, metrics=0.75, step=4)
    lg.finalize("success")
    assert read_scalars(lg.log_dir) == {"hp_metric": [(4, 0.75)]}

    quiet = TensorBoardLogger(tmp_path, version=1, default_hp_metric=False)
    quiet.log_hyperparams({"a": 1})
    quiet.log_metrics({"x": 2.0}, step=1)
    quiet.finalize("success")
    assert read_scalars(quiet.log_dir) == {"x": [(1, 2.0)]}
    assert load_hparams_from_yaml(os.path.join(quiet.log_dir, "hparams.yaml")) == {"a": 1}


def test_hparams_yaml_written_once_and_empty_when_no_hparams(tmp_path):
    lg = TensorBoardLogger(tmp_path)
    lg.save()  # like Lightning: the first save writes hparams.yaml, later saves keep the file as it is
    path = os.path.join(lg.log_dir, "hparams.yaml")
    assert open(path).read() == "{}\n"
    lg.log_hyperparams({"late": 1})
    lg.save()
    assert open(path).read() == "{}\n"


def test_finalize(tmp_path):
    unused = TensorBoardLogger(tmp_path, version="failed")
    unused.finalize("failed")  # a failed run that never logged leaves nothing behind
    assert not (tmp_path / "lightning_logs" / "failed").exists()
    lg = TensorBoardLogger(tmp_path, version="ok")
    lg.finalize("success")  # a successful one gets its folder, an event file and hparams.yaml
    assert sorted(os.listdir(lg.log_dir))[-1] == "hparams.yaml" and len(event_files(lg.log_dir)) == 1


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace, used by add_graph
def test_log_graph(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    lg = TensorBoardLogger(tmp_path, version=0, log_graph=True)
    with pytest.warns(UserWarning, match="example_input_array"):
        lg.log_graph(model)
    lg.log_graph(model, torch.zeros(1, 4))
    lg.finalize("success")
    acc = EventAccumulator(lg.log_dir)
    acc.Reload()
    assert acc.Tags()["graph"] is True
    off = TensorBoardLogger(tmp_path, version=1)  # log_graph=False: nothing at all, not even a folder
    off.log_graph(model, torch.zeros(1, 4))
    assert not os.path.exists(off.log_dir)


def test_pickle_drops_the_writer(tmp_path):
    lg = TensorBoardLogger(tmp_path)
    lg.log_metrics({"a": 1.0}, step=0)
    clone = pickle.loads(pickle.dumps(lg))
    assert clone._experiment is None and clone.log_dir == lg.log_dir
    lg.finalize("success")
