"""ModelCheckpoint: names, top-k bookkeeping, triggers and state; unit tests on a fake trainer, differential tests
against Lightning's callback driven by the same fake, and end-to-end runs of the real Trainer (also vs Lightning)."""
from __future__ import annotations

import math
import os
import random
import warnings
from datetime import timedelta
from types import SimpleNamespace

import pytest
import torch

import fastlit
from fastlit.callbacks.checkpoint import Checkpoint
from fastlit.callbacks.model_checkpoint import ModelCheckpoint
from fastlit.checkpoint.io import TorchCheckpointIO, atomic_save
from fastlit.utilities.exceptions import MisconfigurationException


# ----------------------------------------------------------------------------------------------- fakes
class _RecordingIO(TorchCheckpointIO):
    def __init__(self, trainer: "FakeTrainer") -> None:
        self.trainer = trainer

    def remove_checkpoint(self, path) -> None:
        # the file that replaced this one must already be complete on disk
        last_saved = self.trainer.events[-1][1]
        assert self.trainer.events[-1][0] == "save" and os.path.isfile(last_saved)
        self.trainer.events.append(("remove", str(path)))
        super().remove_checkpoint(path)


class _FakeStrategy:
    """What Lightning's own ModelCheckpoint asks of ``trainer.strategy`` (single process)."""

    def broadcast(self, obj, src=0):
        return obj

    def reduce_boolean_decision(self, decision, all=True):
        return decision

    def barrier(self, *a, **k):
        pass

    def remove_checkpoint(self, path):
        if os.path.exists(path):
            os.remove(path)


class FakeTrainer:
    """The attributes ModelCheckpoint/EarlyStopping read, nothing more. ``save_checkpoint`` writes a tiny file."""

    def __init__(self, root, loggers=()) -> None:
        self.default_root_dir = str(root)
        self.loggers = list(loggers)
        self.callback_metrics: dict = {}
        self.current_epoch = 0
        self.global_step = 0
        self.fast_dev_run = False
        self.sanity_checking = False
        self.state = SimpleNamespace(fn="fit")
        self.is_global_zero = True
        self.global_rank, self.world_size = 0, 1
        self.num_val_batches = [2]
        self.check_val_every_n_epoch = 1
        self.val_check_interval = 1.0
        self.enable_validation = True
        self.ckpt_path = None
        self.should_stop = False
        self.events: list = []
        self._checkpoint_io = _RecordingIO(self)
        self.strategy = _FakeStrategy()
        self.fit_loop = SimpleNamespace(epoch_loop=SimpleNamespace(
            val_loop=SimpleNamespace(_has_run=False), batch_progress=SimpleNamespace(is_last_batch=False)))

    def save_checkpoint(self, filepath, weights_only=False) -> None:
        atomic_save({"epoch": self.current_epoch, "global_step": self.global_step, "weights_only": weights_only},
                    filepath)
        self.events.append(("save", str(filepath)))

    def _save_checkpoint(self, filepath, weights_only=False, storage_options=None, deferred=False) -> None:
        assert deferred  # ModelCheckpoint lets AsyncCheckpointIO defer its copies
        self.save_checkpoint(filepath, weights_only)


MODULE = SimpleNamespace(automatic_optimization=True)


def _metrics(**kw):
    return {k: torch.tensor(float(v)) for k, v in kw.items()}


def run_epochs(cb, tr, val_scores, batches=2, key="val_loss", extra=None):
    """Drive the hooks as fit does: train batches, validation, train epoch end; ``val_scores[i]`` for epoch i."""
    cb.setup(tr, MODULE, "fit")
    cb.on_train_start(tr, MODULE)
    for epoch, score in enumerate(val_scores):
        tr.current_epoch = epoch
        for b in range(batches):
            tr.global_step += 1
            tr.fit_loop.epoch_loop.batch_progress.is_last_batch = b == batches - 1
            cb.on_train_batch_end(tr, MODULE, None, None, b)
        if score is not None:
            tr.callback_metrics = {**tr.callback_metrics, **_metrics(**{key: score}, **(extra or {}))}
            tr.fit_loop.epoch_loop.val_loop._has_run = True
            cb.on_validation_end(tr, MODULE)
        cb.on_train_epoch_end(tr, MODULE)
    cb.on_train_end(tr, MODULE)


def files(d):
    out = []
    for root, _, names in os.walk(d):
        out += [os.path.relpath(os.path.join(root, n), d) for n in names if ".tmp-" not in n]
    return sorted(out)


# ----------------------------------------------------------------------------------------------- names
def test_seed_003_format_checkpoint_name_examples_exact(tmp_path):
    """The 1.x call form the tutorial shows (epoch, step, metrics) gives its exact strings, with a deprecation."""
    cases = [("{epoch}", (0, 1), {}, "epoch=0.ckpt"), ("{epoch:03d}", (5, 2), {}, "epoch=005.ckpt"),
             ("{epoch}-{val_loss:.2f}", (2, 3), dict(val_loss=0.123456), "epoch=2-val_loss=0.12.ckpt"),
             ("{missing:d}", (0, 4), {}, "missing=0.ckpt")]
    for template, (epoch, step), metrics, expected in cases:
        ckpt = ModelCheckpoint(dirpath=tmp_path, filename=template)
        with pytest.warns(DeprecationWarning, match="1.x form"):
            assert os.path.basename(ckpt.format_checkpoint_name(epoch, step, metrics=metrics)) == expected
    ckpt = ModelCheckpoint(filename="{step}")
    with pytest.warns(DeprecationWarning):
        assert os.path.basename(ckpt.format_checkpoint_name(0, 0, {})) == "step=0.ckpt"
    # the seed's other examples
    ckpt = ModelCheckpoint(dirpath=tmp_path, filename="sample-mnist-{epoch:02d}-{val_loss:.2f}")
    assert ckpt.format_checkpoint_name(dict(epoch=2, val_loss=0.32)) == str(tmp_path / "sample-mnist-epoch=02-val_loss=0.32.ckpt")
    ckpt = ModelCheckpoint(dirpath="my/path", filename="{epoch}-{val_loss:.2f}-{other_metric:.2f}")
    name = ckpt.format_checkpoint_name(dict(epoch=2, val_loss=0.02, other_metric=0.03))
    assert os.path.basename(name) == "epoch=2-val_loss=0.02-other_metric=0.03.ckpt"
    assert os.path.isabs(name)  # dirpath is made absolute, as in Lightning


def test_format_checkpoint_name_2x_forms(tmp_path):
    ckpt = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}-{val_loss:.2f}")
    b = lambda *a, **k: os.path.basename(ckpt.format_checkpoint_name(*a, **k))  # noqa: E731
    assert b(dict(epoch=2, val_loss=0.123456)) == "epoch=2-val_loss=0.12.ckpt"
    assert b(dict(epoch=2, val_loss=0.12), filename="{epoch:d}") == "epoch=2.ckpt"
    assert b(dict(epoch=2, val_loss=torch.tensor(0.5)), ver=3) == "epoch=2-val_loss=0.50-v3.ckpt"
    assert b(dict(epoch=1), prefix="pre") == "pre-epoch=1-val_loss=0.00.ckpt"
    assert os.path.basename(ModelCheckpoint().format_checkpoint_name(dict(epoch=3, step=7))) == "epoch=3-step=7.ckpt"
    assert ModelCheckpoint().format_checkpoint_name(dict(epoch=3, step=7)) == "epoch=3-step=7.ckpt"  # no dirpath
    # no auto-inserted names; '/' and '.' in metric names
    ckpt = ModelCheckpoint(dirpath=tmp_path, filename="epoch={epoch}-validation_loss={val_loss:.2f}",
                           auto_insert_metric_name=False)
    assert b(dict(epoch=2, val_loss=0.123456)) == "epoch=2-validation_loss=0.12.ckpt"
    ckpt = ModelCheckpoint(dirpath=tmp_path, filename="e{epoch:02d}-{val/acc:.1f}-{a.b}", auto_insert_metric_name=False)
    assert b(dict(epoch=1, **{"val/acc": 0.25, "a.b": 7})) == "e01-0.2-7.ckpt"
    ckpt = ModelCheckpoint(dirpath=tmp_path, filename="{val/acc:.2f}")
    assert ckpt.format_checkpoint_name({"val/acc": 0.5}) == str(tmp_path / "val" / "acc=0.50.ckpt")
    # a field name that is a prefix of another
    ckpt = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}-{epoch_test}")
    assert b(dict(epoch=1, epoch_test=2)) == "epoch=1-epoch_test=2.ckpt"
    # the caller's dict is not modified
    m = {"epoch": 1}
    ModelCheckpoint(filename="{epoch}-{absent}").format_checkpoint_name(m)
    assert m == {"epoch": 1}
    ModelCheckpoint.CHECKPOINT_JOIN_CHAR == "-" and ModelCheckpoint.FILE_EXTENSION == ".ckpt"
    assert (ModelCheckpoint.CHECKPOINT_NAME_LAST, ModelCheckpoint.STARTING_VERSION) == ("last", 1)


def test_format_checkpoint_name_matches_lightning(tmp_path):
    pl = pytest.importorskip("pytorch_lightning")
    templates = [None, "{epoch}", "{epoch:03d}-{step}", "{epoch}-{val_loss:.2f}", "x_{val/loss:.4f}_{missing}",
                 "{epoch}-{epoch_test}", "{a.b:.1e}", "plain", "{val_acc:02.0f}"]
    metrics = {"epoch": torch.tensor(3), "step": torch.tensor(40), "val_loss": torch.tensor(0.123456),
               "val/loss": torch.tensor(1.5), "epoch_test": torch.tensor(9), "a.b": torch.tensor(12345.0),
               "val_acc": torch.tensor(1.12)}
    for t in templates:
        for auto in (True, False):
            for ver, prefix in ((None, None), (2, None), (None, "p")):
                ours = ModelCheckpoint(dirpath=tmp_path, filename=t, auto_insert_metric_name=auto)
                theirs = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, filename=t, auto_insert_metric_name=auto)
                assert ours.format_checkpoint_name(dict(metrics), ver=ver, prefix=prefix) == \
                    theirs.format_checkpoint_name(dict(metrics), ver=ver, prefix=prefix), (t, auto, ver, prefix)


# ----------------------------------------------------------------------------------------------- configuration
def test_state_key_and_config_errors():
    assert ModelCheckpoint(monitor="val_loss").state_key == (
        "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, "
        "'train_time_interval': None}")
    assert ModelCheckpoint(every_n_train_steps=5, mode="max").state_key == (
        "ModelCheckpoint{'monitor': None, 'mode': 'max', 'every_n_train_steps': 5, 'every_n_epochs': 0, "
        "'train_time_interval': None}")
    assert isinstance(ModelCheckpoint(), Checkpoint)
    with pytest.raises(MisconfigurationException, match="save_top_k=-2"):
        ModelCheckpoint(save_top_k=-2)
    with pytest.raises(MisconfigurationException, match="No quantity for top_k to track"):
        ModelCheckpoint(save_top_k=3)
    with pytest.raises(MisconfigurationException, match="mutually exclusive"):
        ModelCheckpoint(every_n_epochs=2, every_n_train_steps=3)
    with pytest.raises(MisconfigurationException, match="`mode` can be min, max but got avg"):
        ModelCheckpoint(mode="avg")
    with pytest.raises(MisconfigurationException, match="every_n_epochs=-1"):
        ModelCheckpoint(every_n_epochs=-1)
    with pytest.raises(TypeError, match="nonsense"):
        ModelCheckpoint(nonsense=1)
    with pytest.raises(MisconfigurationException, match="local paths only"):
        ModelCheckpoint(dirpath="s3://bucket/ckpts")


def test_legacy_1x_arguments(tmp_path):
    with pytest.warns(DeprecationWarning, match="period"):
        assert ModelCheckpoint(period=3).every_n_epochs == 3
    with pytest.warns(DeprecationWarning, match="mode='auto'"):
        assert ModelCheckpoint(monitor="val_acc", mode="auto").mode == "max"
    with pytest.warns(DeprecationWarning, match="filepath"):
        cb = ModelCheckpoint(filepath=str(tmp_path / "sub" / "{epoch}.ckpt"))
    assert (cb.dirpath, cb.filename) == (str(tmp_path / "sub"), "{epoch}")
    with pytest.warns(DeprecationWarning, match="prefix"):
        cb = ModelCheckpoint(prefix="run1")
    assert cb.format_checkpoint_name(dict(epoch=0, step=5)) == "run1-epoch=0-step=5.ckpt"
    with pytest.warns(DeprecationWarning, match="save_top_k=None"):
        assert ModelCheckpoint(save_top_k=None).save_top_k == 1


def test_default_dirpath(tmp_path):
    tr = FakeTrainer(tmp_path)
    cb = ModelCheckpoint()
    cb.setup(tr, MODULE, "fit")
    assert cb.dirpath == os.path.join(str(tmp_path), "checkpoints")
    logger = SimpleNamespace(save_dir=str(tmp_path / "logs"), name="exp", version=3)
    cb = ModelCheckpoint()
    cb.setup(FakeTrainer(tmp_path, [logger]), MODULE, "fit")
    assert cb.dirpath == os.path.join(str(tmp_path / "logs"), "exp", "version_3", "checkpoints")
    logger = SimpleNamespace(save_dir=None, name="n", version="v_x")
    cb = ModelCheckpoint()
    cb.setup(FakeTrainer(tmp_path, [logger]), MODULE, "fit")
    assert cb.dirpath == os.path.join(str(tmp_path), "n", "v_x", "checkpoints")
    cb = ModelCheckpoint(dirpath=tmp_path / "given")
    cb.setup(FakeTrainer(tmp_path, [logger]), MODULE, "fit")
    assert cb.dirpath == str(tmp_path / "given")


def test_warns_when_dir_not_empty(tmp_path):
    (tmp_path / "old.ckpt").write_text("x")
    with pytest.warns(UserWarning, match="exists and is not empty"):
        ModelCheckpoint(dirpath=tmp_path).setup(FakeTrainer(tmp_path), MODULE, "fit")


# ----------------------------------------------------------------------------------------------- top-k
def test_top_k_bookkeeping_and_delete_after_durable(tmp_path):
    tr = FakeTrainer(tmp_path)
    cb = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2, filename="{epoch}-{val_loss:.1f}")
    run_epochs(cb, tr, [0.5, 0.3, 0.4, 0.2, 0.6])
    assert files(tmp_path) == ["epoch=1-val_loss=0.3.ckpt", "epoch=3-val_loss=0.2.ckpt"]
    assert cb.best_model_path == str(tmp_path / "epoch=3-val_loss=0.2.ckpt")
    assert cb.best_model_score == pytest.approx(0.2)
    assert cb.kth_best_model_path == str(tmp_path / "epoch=1-val_loss=0.3.ckpt")
    assert float(cb.kth_value) == pytest.approx(0.3)
    assert {os.path.basename(k): round(float(v), 3) for k, v in cb.best_k_models.items()} == {
        "epoch=1-val_loss=0.3.ckpt": 0.3, "epoch=3-val_loss=0.2.ckpt": 0.2}
    assert float(cb.current_score) == pytest.approx(0.2)  # the last score that entered the top-k
    # every removal happened right after the save that displaced the file (checked inside _RecordingIO too)
    kinds = [e[0] for e in tr.events]
    assert kinds == ["save", "save", "save", "remove", "save", "remove"]
    assert tr.events[3] == ("remove", str(tmp_path / "epoch=0-val_loss=0.5.ckpt"))


def test_top_k_max_mode_all_and_zero(tmp_path):
    cb = ModelCheckpoint(dirpath=tmp_path / "a", monitor="acc", mode="max", save_top_k=1, filename="{epoch}")
    run_epochs(cb, FakeTrainer(tmp_path), [0.1, 0.9, 0.5], key="acc")
    assert files(tmp_path / "a") == ["epoch=1.ckpt"] and cb.best_model_score == pytest.approx(0.9)
    cb = ModelCheckpoint(dirpath=tmp_path / "b", monitor="val_loss", save_top_k=-1)
    run_epochs(cb, FakeTrainer(tmp_path), [0.5, 0.6, 0.4])
    assert files(tmp_path / "b") == ["epoch=0-step=2.ckpt", "epoch=1-step=4.ckpt", "epoch=2-step=6.ckpt"]
    assert len(cb.best_k_models) == 3 and cb.best_model_path.endswith("epoch=2-step=6.ckpt")
    cb = ModelCheckpoint(dirpath=tmp_path / "c", monitor="val_loss", save_top_k=0)
    run_epochs(cb, FakeTrainer(tmp_path), [0.5, 0.6])
    assert not os.path.exists(tmp_path / "c") and cb.best_model_path == ""


def test_no_monitor_keeps_latest_only(tmp_path):
    tr = FakeTrainer(tmp_path)
    cb = ModelCheckpoint(dirpath=tmp_path)
    run_epochs(cb, tr, [None, None, None], batches=3)
    assert files(tmp_path) == ["epoch=2-step=9.ckpt"]
    assert cb.best_model_path == str(tmp_path / "epoch=2-step=9.ckpt") and cb.best_model_score is None


def test_version_counter_and_overwrite(tmp_path):
    cb = ModelCheckpoint(dirpath=tmp_path / "v", monitor="val_loss", save_top_k=-1, filename="same")
    run_epochs(cb, FakeTrainer(tmp_path), [0.3, 0.2, 0.1])
    assert files(tmp_path / "v") == ["same-v1.ckpt", "same-v2.ckpt", "same.ckpt"]
    cb = ModelCheckpoint(dirpath=tmp_path / "o", monitor="val_loss", save_top_k=-1, filename="same",
                         enable_version_counter=False)
    run_epochs(cb, FakeTrainer(tmp_path), [0.3, 0.2, 0.1])
    assert files(tmp_path / "o") == ["same.ckpt"]


def test_nan_is_ranked_worst(tmp_path):
    cb = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2, filename="{epoch}")
    run_epochs(cb, FakeTrainer(tmp_path), [float("nan"), 0.5, 0.4])
    assert files(tmp_path) == ["epoch=1.ckpt", "epoch=2.ckpt"]
    assert cb.best_model_score == pytest.approx(0.4)


def test_save_last_and_link(tmp_path):
    cb = ModelCheckpoint(dirpath=tmp_path / "l", monitor="val_loss", save_last=True, filename="{epoch}")
    run_epochs(cb, FakeTrainer(tmp_path), [0.3, 0.5])
    assert files(tmp_path / "l") == ["epoch=0.ckpt", "last.ckpt"]
    assert cb.last_model_path == str(tmp_path / "l" / "last.ckpt")
    # Lightning 2.6 rewrites last.ckpt only when a top-k file was written at the same step
    assert torch.load(cb.last_model_path)["epoch"] == 0
    cb = ModelCheckpoint(dirpath=tmp_path / "k", monitor="val_loss", save_last="link", save_top_k=2, filename="{epoch}")
    run_epochs(cb, FakeTrainer(tmp_path), [0.3, 0.2])
    last = tmp_path / "k" / "last.ckpt"
    assert os.path.islink(last) and os.readlink(last) == "epoch=1.ckpt"
    # save_top_k=0 with save_last: nothing during training, a last.ckpt at the end
    cb = ModelCheckpoint(dirpath=tmp_path / "z", monitor="val_loss", save_top_k=0, save_last=True)
    run_epochs(cb, FakeTrainer(tmp_path), [0.3, 0.2])
    assert files(tmp_path / "z") == ["last.ckpt"]
    cb = ModelCheckpoint(dirpath=tmp_path / "n", filename="last", save_last=True)  # name clash -> last-v1
    run_epochs(cb, FakeTrainer(tmp_path), [None])
    assert files(tmp_path / "n") == ["last-v1.ckpt", "last.ckpt"]


def test_every_n_epochs_and_train_steps(tmp_path):
    cb = ModelCheckpoint(dirpath=tmp_path / "e", monitor="val_loss", save_top_k=-1, every_n_epochs=2, filename="{epoch}")
    run_epochs(cb, FakeTrainer(tmp_path), [0.5, 0.4, 0.3, 0.2, 0.1])
    assert files(tmp_path / "e") == ["epoch=1.ckpt", "epoch=3.ckpt"]
    cb = ModelCheckpoint(dirpath=tmp_path / "s", every_n_train_steps=3, save_top_k=-1)
    run_epochs(cb, FakeTrainer(tmp_path), [None, None], batches=4)
    assert files(tmp_path / "s") == ["epoch=0-step=3.ckpt", "epoch=1-step=6.ckpt"]
    cb = ModelCheckpoint(dirpath=tmp_path / "t", train_time_interval=timedelta(0), save_top_k=-1)
    run_epochs(cb, FakeTrainer(tmp_path), [None], batches=2)
    assert files(tmp_path / "t") == ["epoch=0-step=1.ckpt", "epoch=0-step=2.ckpt"]


def test_step_trigger_defers_validation_metric(tmp_path):
    """A validation-only monitor is not there during the first epoch's batches: the save waits for validation."""
    tr = FakeTrainer(tmp_path)
    tr.val_check_interval = 0.5  # not once per epoch -> saves happen after validation
    cb = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=2, monitor="val_loss", save_top_k=-1, filename="{step}")
    run_epochs(cb, tr, [0.4], batches=2)
    assert files(tmp_path) == ["step=2.ckpt"] and not cb._defer_save_until_validation


def test_should_save_on_train_epoch_end_rules(tmp_path):
    cb, tr = ModelCheckpoint(), FakeTrainer(tmp_path)
    assert cb._should_save_on_train_epoch_end(tr)
    tr.val_check_interval = 0.25
    assert not cb._should_save_on_train_epoch_end(tr)
    tr.num_val_batches = [0]
    assert cb._should_save_on_train_epoch_end(tr)  # no validation at all
    tr.check_val_every_n_epoch = 2
    assert not cb._should_save_on_train_epoch_end(tr)
    assert ModelCheckpoint(save_on_train_epoch_end=True)._should_save_on_train_epoch_end(tr)


def test_skips_sanity_fast_dev_run_and_non_fit(tmp_path):
    for attr, value in (("sanity_checking", True), ("fast_dev_run", 1), ("state", SimpleNamespace(fn="validate"))):
        tr = FakeTrainer(tmp_path)
        setattr(tr, attr, value)
        cb = ModelCheckpoint(dirpath=tmp_path / attr)
        run_epochs(cb, tr, [0.1])
        assert not os.path.exists(tmp_path / attr), attr


def test_missing_monitor_warns_before_validation_then_raises(tmp_path):
    tr = FakeTrainer(tmp_path)
    tr.num_val_batches = [0]  # no validation: saving happens at train epoch end, metric never appears
    cb = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss")
    with pytest.warns(UserWarning, match=r"could not find the monitored key in the returned metrics: \['epoch', 'step'\]"):
        run_epochs(cb, tr, [None])
    tr = FakeTrainer(tmp_path)
    cb = ModelCheckpoint(dirpath=tmp_path / "x", monitor="val_los")
    msg = (r"`ModelCheckpoint\(monitor='val_los'\)` could not find the monitored key in the returned metrics: "
           r"\['val_loss', 'epoch', 'step'\]. HINT: Did you call `log\('val_los', value\)` in the `LightningModule`\?")
    with pytest.raises(MisconfigurationException, match=msg):
        run_epochs(cb, tr, [0.3])


def test_state_dict_roundtrip_and_dirpath_change(tmp_path):
    cb = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2, save_last=True)
    run_epochs(cb, FakeTrainer(tmp_path), [0.5, 0.3, 0.4])
    sd = cb.state_dict()
    assert list(sd) == ["monitor", "best_model_score", "best_model_path", "current_score", "dirpath",
                        "best_k_models", "kth_best_model_path", "kth_value", "last_model_path"]
    new = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2)
    new.load_state_dict(sd)
    assert (new.best_model_path, new.kth_best_model_path, new.last_model_path) == \
        (cb.best_model_path, cb.kth_best_model_path, cb.last_model_path)
    assert new.best_k_models == cb.best_k_models and float(new.kth_value) == pytest.approx(0.4)
    other = ModelCheckpoint(dirpath=tmp_path / "elsewhere", monitor="val_loss")
    with pytest.warns(UserWarning, match="The dirpath has changed from"):
        other.load_state_dict(sd)
    assert other.best_model_path == cb.best_model_path and other.best_k_models == {}


def test_to_yaml(tmp_path):
    import yaml

    cb = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2, filename="{epoch}")
    run_epochs(cb, FakeTrainer(tmp_path), [0.5, 0.25])
    cb.to_yaml()
    data = yaml.safe_load((tmp_path / "best_k_models.yaml").read_text())
    assert data == {str(tmp_path / "epoch=0.ckpt"): 0.5, str(tmp_path / "epoch=1.ckpt"): 0.25}


def test_does_not_delete_resumed_or_foreign_files(tmp_path):
    tr = FakeTrainer(tmp_path)
    cb = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", filename="{epoch}")
    assert not cb._should_remove_checkpoint(tr, str(tmp_path / "a.ckpt"), str(tmp_path / "a.ckpt"))
    assert not cb._should_remove_checkpoint(tr, str(tmp_path.parent / "a.ckpt"), str(tmp_path / "b.ckpt"))
    tr.ckpt_path = str(tmp_path / "a.ckpt")
    assert not cb._should_remove_checkpoint(tr, str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt"))
    assert cb._should_remove_checkpoint(tr, str(tmp_path / "c.ckpt"), str(tmp_path / "b.ckpt"))


def test_find_last_checkpoints(tmp_path):
    for n in ("last.ckpt", "last-v1.ckpt", "epoch=0.ckpt", "last.txt"):
        (tmp_path / n).write_text("x")
    cb = ModelCheckpoint(dirpath=tmp_path)
    assert cb._find_last_checkpoints(FakeTrainer(tmp_path)) == {str(tmp_path / "last.ckpt"), str(tmp_path / "last-v1.ckpt")}


# ----------------------------------------------------------------------------------------------- vs Lightning (fake)
SCENARIOS = [
    (dict(monitor="val_loss", save_top_k=2), [0.5, 0.3, 0.4, 0.2, 0.6], 2),
    (dict(monitor="val_acc", mode="max", save_top_k=3, filename="{epoch:02d}-{val_acc:.2f}"), [0.1, 0.5, 0.3, 0.9, 0.2, 0.4], 2),
    (dict(), [None, None, None], 2),
    (dict(save_top_k=-1, save_last=True), [None, None], 3),
    (dict(monitor="val_loss", save_last=True, filename="{epoch}"), [0.3, 0.5, 0.1], 2),
    (dict(monitor="val_loss", save_top_k=-1, filename="same"), [0.3, 0.2, 0.4], 2),
    (dict(monitor="val_loss", save_top_k=2, filename="const"), [0.3, 0.2, 0.1, 0.4], 2),
    (dict(monitor="val_loss", every_n_epochs=2, save_last=True, save_top_k=-1), [0.5, 0.4, 0.3, 0.2], 2),
    (dict(monitor="val_loss", save_top_k=0, save_last=True), [0.5, 0.4], 2),
    (dict(monitor="val_loss", save_top_k=2, save_last="link"), [0.5, 0.3, 0.4], 2),
    (dict(monitor="val/loss", filename="{epoch}-{val/loss:.3f}", auto_insert_metric_name=False), [0.5, 0.3], 2),
    (dict(monitor="val_loss", save_top_k=2, filename="{epoch}"), [float("nan"), 0.5, float("nan"), 0.4], 2),
    (dict(monitor="val_loss", every_n_train_steps=3, save_top_k=-1), [0.5, 0.4, 0.3], 4),
    (dict(every_n_train_steps=2, save_top_k=1, save_last=True), [None, None], 3),
    (dict(monitor="val_loss", save_on_train_epoch_end=False, save_top_k=2), [0.5, 0.6, 0.1], 2),
]


def _summary(cb, root):
    rel = lambda p: os.path.relpath(p, root) if p else p  # noqa: E731
    num = lambda v: None if v is None else round(float(v), 6)  # noqa: E731
    return dict(best=rel(cb.best_model_path), score=num(cb.best_model_score), kth=rel(cb.kth_best_model_path),
                kth_value=num(cb.kth_value), last=rel(cb.last_model_path), current=num(cb.current_score),
                best_k={rel(k): num(v) for k, v in cb.best_k_models.items()}, state_keys=list(cb.state_dict()),
                state_key=cb.state_key)


@pytest.mark.parametrize("kwargs,scores,batches", SCENARIOS)
def test_same_files_and_bookkeeping_as_lightning(tmp_path, kwargs, scores, batches):
    _assert_same_as_lightning(tmp_path, kwargs, scores, batches)


def _assert_same_as_lightning(tmp_path, kwargs, scores, batches=2):
    """Both callbacks driven by the same fake fit: same files kept, same bookkeeping, same last.ckpt link."""
    pl = pytest.importorskip("pytorch_lightning")
    key = kwargs.get("monitor") or "val_loss"
    results = []
    for name, cls in (("ours", ModelCheckpoint), ("pl", pl.callbacks.ModelCheckpoint)):
        root = tmp_path / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cb = cls(dirpath=root, **kwargs)
            run_epochs(cb, FakeTrainer(root), scores, batches=batches, key=key, extra={"train_loss": 1.0})
        results.append((files(root), _summary(cb, root)))
    assert results[0][0] == results[1][0]
    assert results[0][1] == results[1][1]
    link = tmp_path / "pl" / "last.ckpt"
    if os.path.islink(link):
        assert os.readlink(tmp_path / "ours" / "last.ckpt") == os.readlink(link)


# Tied scores: which of several equal scores is kept, dropped, best or k-th depends on strict comparisons and on
# insertion order (min/max over best_k_models return the first of equals), exactly as in Lightning.
TIED = [1, 1, 1, 0.5, 0.5, 2, 0.5, 1, 2, 2]
TIE_SEQUENCES = [TIED, [0.5] * 6, [2, 1, 2, 1, 2, 1, 0.5, 0.5]] + [
    [random.Random(seed).choice([0.25, 0.5, 0.75, 1.0]) for _ in range(10)] for seed in range(4)]


@pytest.mark.parametrize("options", [dict(), dict(save_last=True), dict(filename="{val_loss:.2f}", save_last="link")],
                         ids=["default", "last", "named-link"])
@pytest.mark.parametrize("save_top_k", [1, 2, 3, -1])
@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("scores", TIE_SEQUENCES, ids=[f"seq{i}" for i in range(len(TIE_SEQUENCES))])
def test_tied_scores_keep_the_same_files_as_lightning(tmp_path, monkeypatch, scores, mode, save_top_k, options):
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # durability is tested elsewhere; keep these 168 runs fast
    _assert_same_as_lightning(tmp_path, dict(monitor="val_loss", mode=mode, save_top_k=save_top_k, **options), scores)


# ----------------------------------------------------------------------------------------------- real Trainer


def _make_model(base):
    """A tiny regression model logging val_loss; ``base`` is LightningModule from fastlit or pytorch_lightning."""
    class Model(base):
        def __init__(self, lr=0.1):
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(4, 1)
            self.lr = lr

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss, on_epoch=True)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    return Model


def _loaders(n=32, batch_size=8):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.3 * torch.randn(n, 1, generator=g)
    ds = torch.utils.data.TensorDataset(x, y)
    mk = lambda: torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False)  # noqa: E731
    return mk(), mk()


def _fit(pl_mod, tmp_path, ckpt_kwargs, trainer_kwargs=None, lr=0.1):
    cb = pl_mod.callbacks.ModelCheckpoint(**ckpt_kwargs)
    kw = dict(max_epochs=4, default_root_dir=str(tmp_path), callbacks=[cb], logger=False, enable_progress_bar=False,
              enable_model_summary=False, num_sanity_val_steps=0)
    kw.update(trainer_kwargs or {})
    trainer = pl_mod.Trainer(**kw)
    model = _make_model(pl_mod.LightningModule)(lr=lr)
    train, val = _loaders()
    trainer.fit(model, train, val)
    return trainer, cb


def test_fit_writes_expected_files(tmp_path):
    trainer, cb = _fit(fastlit, tmp_path, dict(monitor="val_loss", save_top_k=2, save_last=True,
                                               filename="{epoch:02d}-{val_loss:.2f}"))
    d = os.path.join(str(tmp_path), "checkpoints")
    assert cb.dirpath == d
    names = files(d)
    assert len(names) == 3 and "last.ckpt" in names
    assert os.path.basename(cb.best_model_path) in names
    assert cb.best_model_score == pytest.approx(float(trainer.callback_metrics["val_loss"]), rel=0.5)
    ckpt = torch.load(cb.best_model_path, weights_only=False)
    key = ("ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, "
           "'train_time_interval': None}")
    assert key in ckpt["callbacks"]
    assert ckpt["callbacks"][key]["best_model_path"] == cb.best_model_path
    assert trainer.checkpoint_callback is cb


def test_fit_default_callback_and_step_trigger(tmp_path):
    trainer, cb = _fit(fastlit, tmp_path, dict(every_n_train_steps=3, save_top_k=-1, dirpath=tmp_path / "s"))
    assert files(tmp_path / "s") == sorted(f"epoch={(s - 1) // 4}-step={s}.ckpt" for s in (3, 6, 9, 12, 15))


@pytest.mark.parametrize("ckpt_kwargs,trainer_kwargs", [
    (dict(monitor="val_loss", save_top_k=2, filename="{epoch}-{val_loss:.4f}"), {}),
    (dict(monitor="val_loss", save_top_k=1, save_last=True), {}),
    (dict(monitor="train_loss_epoch", save_top_k=2, mode="max"), {}),
    (dict(every_n_train_steps=3, save_top_k=-1), {}),
    (dict(monitor="val_loss", save_top_k=-1, every_n_epochs=2), {"max_epochs": 5}),
    (dict(monitor="val_loss", save_top_k=3), {"val_check_interval": 0.5}),
    (dict(monitor="val_loss", save_top_k=2), {"check_val_every_n_epoch": 2, "max_epochs": 6}),
    (dict(), {"limit_val_batches": 0}),
    (dict(monitor="val_loss"), {"limit_val_batches": 0}),  # never validated: a warning, no file, no error
    (dict(save_last=True), {"fast_dev_run": True}),  # Lightning writes last.ckpt at train end even here
    (dict(monitor="val_loss", save_last=True, save_top_k=0), {}),
    (dict(monitor="val_loss", save_top_k=-1, train_time_interval=timedelta(0)), {}),
    (dict(monitor="val_loss", save_top_k=2, save_on_train_epoch_end=True), {"max_steps": 10}),
    (dict(monitor="train_loss_step", every_n_train_steps=2, save_top_k=2, filename="{step}-{train_loss_step:.4f}"),
     {"max_epochs": 2}),
    (dict(monitor="val_loss", every_n_train_steps=5), {"val_check_interval": 3}),
    (dict(monitor="train_loss_step", save_top_k=2), {"val_check_interval": 0.5, "max_epochs": 2}),
])
def test_fit_matches_lightning(tmp_path, ckpt_kwargs, trainer_kwargs):
    pl = pytest.importorskip("pytorch_lightning")
    out = []
    for name, mod in (("fastlit", fastlit), ("pl", pl)):
        extra = dict(trainer_kwargs)
        if name == "fastlit":
            extra["fused_optimizer"] = False  # plain torch.optim numerics, as in Lightning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer, cb = _fit(mod, tmp_path / name, dict(ckpt_kwargs, dirpath=tmp_path / name / "ck"), extra)
        out.append((files(tmp_path / name / "ck"), os.path.basename(cb.best_model_path),
                    None if cb.best_model_score is None else float(cb.best_model_score), trainer.global_step))
    (f_files, f_best, f_score, f_step), (p_files, p_best, p_score, p_step) = out
    assert f_files == p_files
    assert f_best == p_best and f_step == p_step
    if p_score is None:
        assert f_score is None
    else:
        assert math.isclose(f_score, p_score, rel_tol=1e-5, abs_tol=1e-6)


def _fit_default(mod, root, logger, lr=0.1, **trainer_kwargs):
    """Trainer's own ModelCheckpoint (no callbacks given)."""
    kw = dict(max_epochs=2, default_root_dir=str(root), enable_progress_bar=False, enable_model_summary=False,
              num_sanity_val_steps=0, logger=logger)
    kw.update(trainer_kwargs)
    trainer = mod.Trainer(**kw)
    train, val = _loaders()
    trainer.fit(_make_model(mod.LightningModule)(lr=lr), train, val)
    return trainer


@pytest.mark.parametrize("logger", [False, True, "csv"])
def test_default_checkpoint_location_matches_lightning(tmp_path, logger):
    pl = pytest.importorskip("pytorch_lightning")
    trees = []
    for name, mod in (("fastlit", fastlit), ("pl", pl)):
        root = tmp_path / name
        lg = mod.loggers.CSVLogger(str(root), name="exp") if logger == "csv" else logger
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            extra = {"fused_optimizer": False} if name == "fastlit" else {}
            trainer = _fit_default(mod, root, lg, **extra)
        cb = trainer.checkpoint_callback
        trees.append((sorted(f for f in files(root) if f.endswith(".ckpt")), os.path.relpath(cb.dirpath, root),
                      os.path.relpath(cb.best_model_path, root), cb.best_model_score, cb.monitor))
    assert trees[0] == trees[1]
    expected = {False: "checkpoints", True: os.path.join("lightning_logs", "version_0", "checkpoints"),
                "csv": os.path.join("exp", "version_0", "checkpoints")}[logger]
    assert trees[0][1] == expected and trees[0][0] == [os.path.join(expected, "epoch=1-step=8.ckpt")]


def test_checkpoint_contents_match_lightning(tmp_path):
    """The callback's state sits under the same key, with the same entries, in both frameworks' files."""
    pl = pytest.importorskip("pytorch_lightning")
    states = []
    for name, mod in (("fastlit", fastlit), ("pl", pl)):
        extra = {"fused_optimizer": False} if name == "fastlit" else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer, cb = _fit(mod, tmp_path / name, dict(monitor="val_loss", save_top_k=2, save_last=True,
                                                          dirpath=tmp_path / name / "ck", filename="{epoch}"), extra)
        ckpt = torch.load(cb.last_model_path, weights_only=False)
        key = [k for k in ckpt["callbacks"] if k.startswith("ModelCheckpoint")]
        st = ckpt["callbacks"][key[0]]
        rel = lambda p: os.path.relpath(p, tmp_path / name) if p else p  # noqa: E731
        states.append((key, sorted(st), rel(st["best_model_path"]), rel(st["last_model_path"]),
                       rel(st["kth_best_model_path"]), sorted(rel(k) for k in st["best_k_models"]),
                       round(float(st["best_model_score"]), 5), round(float(st["kth_value"]), 5)))
    assert states[0] == states[1]


def test_weights_only_and_resume_restores_state(tmp_path):
    trainer, cb = _fit(fastlit, tmp_path, dict(monitor="val_loss", save_top_k=2, save_weights_only=True,
                                               dirpath=tmp_path / "w", filename="{epoch}"))
    ckpt = torch.load(cb.best_model_path, weights_only=False)
    assert "state_dict" in ckpt and "optimizer_states" not in ckpt
    # resume: a fresh callback on the same dirpath picks up best_k_models from the full checkpoint
    _, full = _fit(fastlit, tmp_path / "r", dict(monitor="val_loss", save_top_k=2, save_last=True,
                                                 dirpath=tmp_path / "f", filename="{epoch}"))
    cb2 = fastlit.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=2, save_last=True,
                                            dirpath=tmp_path / "f", filename="{epoch}")
    trainer2 = fastlit.Trainer(max_epochs=6, default_root_dir=str(tmp_path / "r"), callbacks=[cb2], logger=False,
                               enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    train, val = _loaders()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer2.fit(_make_model(fastlit.LightningModule)(), train, val, ckpt_path=full.last_model_path)
    assert trainer2.current_epoch == 6
    assert len(cb2.best_k_models) == 2 and all(os.path.exists(p) for p in cb2.best_k_models)
    assert float(cb2.best_model_score) <= float(full.best_model_score)
    assert sorted(files(tmp_path / "f")) == sorted([os.path.basename(p) for p in cb2.best_k_models] + ["last.ckpt"])


def test_save_on_exception_matches_lightning(tmp_path):
    pl = pytest.importorskip("pytorch_lightning")
    out = []
    for name, mod in (("fastlit", fastlit), ("pl", pl)):
        class Boom(_make_model(mod.LightningModule)):
            def training_step(self, batch, batch_idx):
                if self.global_step == 5:
                    raise ValueError("boom")
                return super().training_step(batch, batch_idx)

        cb = mod.callbacks.ModelCheckpoint(dirpath=tmp_path / name, monitor="val_loss", save_on_exception=True,
                                           save_last=True)
        trainer = mod.Trainer(max_epochs=3, callbacks=[cb], logger=False, enable_progress_bar=False,
                              enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=str(tmp_path))
        train, val = _loaders()
        with warnings.catch_warnings(), pytest.raises(ValueError, match="boom"):
            warnings.simplefilter("ignore")
            trainer.fit(Boom(), train, val)
        out.append((files(tmp_path / name), os.path.basename(cb.last_model_path)))
    assert out[0] == out[1] and "epoch=1-step=5.ckpt" in out[0][0]


@pytest.mark.parametrize("mode,save_top_k", [("min", 1), ("min", 2), ("max", 1), ("max", 2), ("max", -1)])
def test_fit_tied_scores_match_lightning(tmp_path, mode, save_top_k):
    """Real fits logging the tied sequence as val_loss: same files, best, k-th and last as Lightning."""
    pl = pytest.importorskip("pytorch_lightning")
    out = []
    for name, mod in (("fastlit", fastlit), ("pl", pl)):
        class Scripted(_make_model(mod.LightningModule)):
            def validation_step(self, batch, batch_idx):
                self.log("val_loss", torch.tensor(float(TIED[self.current_epoch])))

        cb = mod.callbacks.ModelCheckpoint(dirpath=tmp_path / name, monitor="val_loss", mode=mode,
                                           save_top_k=save_top_k, save_last=True, filename="{epoch}-{val_loss:.1f}")
        trainer = mod.Trainer(max_epochs=len(TIED), callbacks=[cb], logger=False, enable_progress_bar=False,
                              enable_model_summary=False, num_sanity_val_steps=0, limit_train_batches=1,
                              limit_val_batches=1, default_root_dir=str(tmp_path / name))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(Scripted(), *_loaders())
        out.append((files(tmp_path / name), _summary(cb, tmp_path / name)))
    assert out[0] == out[1]
