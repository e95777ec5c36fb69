"""EarlyStopping: stopping rules and state on a fake trainer, the same sequences through Lightning's callback, and
stop epochs of real fits (fastlit vs Lightning)."""
from __future__ import annotations

import math
import random
import warnings
from types import SimpleNamespace

import pytest
import torch

import fastlit
from fastlit.callbacks.early_stopping import EarlyStopping, EarlyStoppingReason
from fastlit.utilities.exceptions import MisconfigurationException


class FakeTrainer:
    def __init__(self) -> None:
        self.callback_metrics: dict = {}
        self.current_epoch = 0
        self.fast_dev_run = False
        self.sanity_checking = False
        self.state = SimpleNamespace(fn="fit")
        self.should_stop = False
        self.global_rank, self.world_size = 0, 1
        self.val_check_interval = 1.0
        self.check_val_every_n_epoch = 1
        self.strategy = SimpleNamespace(reduce_boolean_decision=lambda d, all=True: d)  # for Lightning's callback


def drive(cb, scores, key="val_loss", tr=None):
    """One check per epoch (validation end, then train epoch end); stops feeding once should_stop is set."""
    tr = tr or FakeTrainer()
    cb.setup(tr, None, "fit")
    for epoch, s in enumerate(scores):
        tr.current_epoch = epoch
        tr.callback_metrics = {"train_loss": torch.tensor(1.0), **({} if s is None else {key: torch.tensor(float(s))})}
        cb.on_validation_end(tr, None)
        cb.on_train_epoch_end(tr, None)
        if tr.should_stop:
            break
    return tr


def test_patience_and_stopped_epoch():
    cb = EarlyStopping("val_loss", patience=2)
    tr = drive(cb, [1.0, 0.8, 0.9, 0.85, 0.7, 0.6])
    assert tr.should_stop and cb.stopped_epoch == 3 and cb.wait_count == 2
    assert float(cb.best_score) == pytest.approx(0.8)
    assert cb.stopping_reason == EarlyStoppingReason.PATIENCE_EXHAUSTED
    assert cb.stopping_reason_message == ("Monitored metric val_loss did not improve in the last 2 records. "
                                          "Best score: 0.800. Signaling Trainer to stop.")


def test_min_delta_mode_max_and_thresholds():
    cb = EarlyStopping("val_loss", patience=1, min_delta=0.15)
    assert drive(cb, [1.0, 0.9, 0.5]).should_stop and cb.stopped_epoch == 1  # 0.1 < min_delta is no improvement
    cb = EarlyStopping("acc", mode="max", patience=2)
    tr = drive(cb, [0.1, 0.5, 0.4, 0.6, 0.6, 0.55], key="acc")
    assert tr.should_stop and cb.stopped_epoch == 5 and float(cb.best_score) == pytest.approx(0.6)
    cb = EarlyStopping("val_loss", stopping_threshold=0.3, patience=100)
    assert drive(cb, [1.0, 0.5, 0.2, 0.1]).should_stop and cb.stopped_epoch == 2
    assert cb.stopping_reason == EarlyStoppingReason.STOPPING_THRESHOLD
    cb = EarlyStopping("val_loss", divergence_threshold=5.0, patience=100)
    assert drive(cb, [1.0, 2.0, 6.0, 0.1]).should_stop and cb.stopped_epoch == 2
    assert cb.stopping_reason == EarlyStoppingReason.DIVERGENCE_THRESHOLD
    cb = EarlyStopping("val_loss", patience=100)
    assert drive(cb, [1.0, float("nan")]).should_stop and cb.stopping_reason == EarlyStoppingReason.NON_FINITE_METRIC
    cb = EarlyStopping("val_loss", patience=100, check_finite=False)
    assert not drive(cb, [1.0, float("inf"), 0.5]).should_stop


def test_missing_metric_strict_and_not_strict():
    cb = EarlyStopping("val_los")
    msg = ("Early stopping conditioned on metric `val_los` which is not available. Pass in or modify your "
           "`EarlyStopping` callback to use any of the following: `train_loss`, `val_loss`")
    with pytest.raises(RuntimeError) as e:
        drive(cb, [1.0])
    assert str(e.value) == msg
    cb = EarlyStopping("val_loss", strict=False, patience=1)
    assert not drive(cb, [None, None, None]).should_stop and cb.wait_count == 0
    with pytest.warns(RuntimeWarning, match="not available"):
        drive(EarlyStopping("nope", strict=False, verbose=True), [1.0])


def test_skips_sanity_non_fit_and_fast_dev_run():
    for attr, value in (("sanity_checking", True), ("state", SimpleNamespace(fn="validate")), ("fast_dev_run", 1)):
        tr = FakeTrainer()
        setattr(tr, attr, value)
        cb = EarlyStopping("missing_key", patience=0)  # would raise if it ran
        drive(cb, [1.0, 2.0], tr=tr)
        assert not tr.should_stop and cb.wait_count == 0, attr


def test_check_on_train_epoch_end_rule():
    cb = EarlyStopping("val_loss")
    cb.setup(FakeTrainer(), None, "fit")
    assert cb._check_on_train_epoch_end is True
    tr = FakeTrainer()
    tr.val_check_interval = 0.5
    cb = EarlyStopping("val_loss")
    cb.setup(tr, None, "fit")
    assert cb._check_on_train_epoch_end is False
    # checked after validation: a check per validation end, none at train epoch end
    tr.current_epoch, tr.callback_metrics = 0, {"val_loss": torch.tensor(1.0)}
    cb.on_train_epoch_end(tr, None)
    assert float(cb.best_score) == math.inf
    cb.on_validation_end(tr, None)
    assert float(cb.best_score) == 1.0


def test_state_and_config():
    cb = EarlyStopping("val_loss", mode="max")
    assert cb.state_key == "EarlyStopping{'monitor': 'val_loss', 'mode': 'max'}"
    drive(cb, [0.1, 0.2, 0.1], key="val_loss")
    sd = cb.state_dict()
    assert list(sd) == ["wait_count", "stopped_epoch", "best_score", "patience", "stopping_reason",
                        "stopping_reason_message"]
    new = EarlyStopping("val_loss", mode="max", patience=9)
    new.load_state_dict(sd)
    assert (new.wait_count, new.patience, float(new.best_score)) == (1, 3, pytest.approx(0.2))
    assert new.stopping_reason == EarlyStoppingReason.NOT_STOPPED
    with pytest.raises(MisconfigurationException, match="`mode` can be min, max, got avg"):
        EarlyStopping("x", mode="avg")
    with pytest.warns(DeprecationWarning, match="mode='auto'"):
        assert EarlyStopping("val_acc", mode="auto").mode == "max"
    assert EarlyStopping("x", min_delta=0.5).min_delta == -0.5 and EarlyStopping("x", min_delta=0.5, mode="max").min_delta == 0.5


SEQUENCES = [
    (dict(patience=2), [1.0, 0.8, 0.9, 0.85, 0.7]),
    (dict(patience=3, min_delta=0.05), [1.0, 0.97, 0.9, 0.88, 0.87, 0.86, 0.5]),
    (dict(patience=1, mode="max"), [0.1, 0.2, 0.2]),
    (dict(stopping_threshold=0.3), [1.0, 0.3, 0.29]),
    (dict(divergence_threshold=2.0, mode="max"), [3.0, 2.5, 1.9]),
    (dict(patience=5), [1.0, float("nan")]),
    (dict(patience=5, check_finite=False), [1.0, float("nan"), 0.5, 0.4]),
    (dict(patience=2, strict=False), [None, 1.0, None, 1.2, 1.1, 1.3]),
]


@pytest.mark.parametrize("kwargs,scores", SEQUENCES)
def test_same_decisions_as_lightning(kwargs, scores):
    pl = pytest.importorskip("pytorch_lightning")
    out = []
    for cls in (EarlyStopping, pl.callbacks.EarlyStopping):
        cb = cls("val_loss", **kwargs)
        tr = drive(cb, scores)
        sd = cb.state_dict()
        out.append((tr.should_stop, cb.stopped_epoch, cb.wait_count, round(float(cb.best_score), 6),
                    sd["stopping_reason"], sd["stopping_reason_message"], list(sd), cb.state_key))
    assert out[0] == out[1]


# Ties: a value equal to the best (or to best -/+ min_delta, or to a threshold) is not an improvement in
# Lightning (strict comparisons); dyadic values keep "current - min_delta" exact in float32.
TIE_SEQUENCES = [
    [1.0, 1.0, 1.0, 0.5, 0.5, 2.0, 0.5, 1.0, 2.0, 2.0],
    [0.5] * 6,
    [1.0, 0.75, 0.5, 0.5, 0.25, 0.25, 0.0, 0.0, 0.0],  # steps of exactly 0.25 = min_delta
    [0.0, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0, 1.0],
] + [[random.Random(seed).choice([0.0, 0.25, 0.5, 0.75, 1.0]) for _ in range(12)] for seed in range(4)]


def _trajectory(cb, scores):
    """(should_stop, wait_count, best_score) after every epoch, then the final decision and state."""
    tr = FakeTrainer()
    cb.setup(tr, None, "fit")
    steps = []
    for epoch, s in enumerate(scores):
        tr.current_epoch = epoch
        tr.callback_metrics = {"val_loss": torch.tensor(float(s))}
        cb.on_validation_end(tr, None)
        cb.on_train_epoch_end(tr, None)
        steps.append((tr.should_stop, cb.wait_count, float(cb.best_score)))
        if tr.should_stop:
            break
    sd = cb.state_dict()
    return steps, cb.stopped_epoch, sd["stopping_reason"], sd["stopping_reason_message"]


@pytest.mark.parametrize("patience", [1, 2, 3])
@pytest.mark.parametrize("min_delta", [0.0, 0.25])
@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("scores", TIE_SEQUENCES, ids=[f"seq{i}" for i in range(len(TIE_SEQUENCES))])
def test_tied_values_same_decisions_as_lightning(scores, mode, min_delta, patience):
    pl = pytest.importorskip("pytorch_lightning")
    ours, theirs = (_trajectory(cls("val_loss", mode=mode, min_delta=min_delta, patience=patience), scores)
                    for cls in (EarlyStopping, pl.callbacks.EarlyStopping))
    assert ours == theirs


@pytest.mark.parametrize("kwargs,scores", [
    (dict(stopping_threshold=0.5, patience=9), [1.0, 0.75, 0.5, 0.5, 0.25]),  # reaching the threshold is not enough
    (dict(stopping_threshold=0.5, patience=9, mode="max"), [0.0, 0.25, 0.5, 0.5, 0.75]),
    (dict(divergence_threshold=1.0, patience=9), [0.0, 0.5, 1.0, 1.0, 1.25]),  # neither is reaching divergence
    (dict(divergence_threshold=0.25, patience=9, mode="max"), [1.0, 0.5, 0.25, 0.25, 0.0]),
])
def test_values_equal_to_thresholds_same_decisions_as_lightning(kwargs, scores):
    pl = pytest.importorskip("pytorch_lightning")
    ours, theirs = (_trajectory(cls("val_loss", **kwargs), scores)
                    for cls in (EarlyStopping, pl.callbacks.EarlyStopping))
    assert ours == theirs
    assert ours[1] == len(scores) - 1  # stops at the last value, the first one past the threshold


# ----------------------------------------------------------------------------------------------- real Trainer
def _make_model(base, lr, script):
    """Trains a linear regression; logs the real val_loss, or ``script[k]`` at the k-th validation run."""
    class Model(base):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(4, 1)
            self.val_runs = -1

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def on_validation_epoch_start(self):
            self.val_runs += 1

        def validation_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            if script is not None:
                loss = torch.tensor(script[min(self.val_runs, len(script) - 1)])
            self.log("val_loss", loss)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=lr)

    return Model()


MAX_EPOCHS = 30


def _fit(mod, tmp_path, es_kwargs, trainer_kwargs, lr, script):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + torch.randn(32, 1, generator=g)
    dl = lambda: torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)  # noqa: E731
    es = mod.callbacks.EarlyStopping(**es_kwargs)
    kw = dict(max_epochs=MAX_EPOCHS, default_root_dir=str(tmp_path), callbacks=[es], logger=False,
              enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
              num_sanity_val_steps=0)
    kw.update(trainer_kwargs)
    trainer = mod.Trainer(**kw)
    trainer.fit(_make_model(mod.LightningModule, lr, script), dl(), dl())
    return trainer, es


PLATEAU = [1.0, 0.9, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.91, 0.92, 0.93]


@pytest.mark.parametrize("es_kwargs,trainer_kwargs,lr,script", [
    (dict(monitor="val_loss", patience=2, min_delta=0.01), {}, 0.05, None),
    (dict(monitor="val_loss", patience=1), {}, 0.2, None),
    (dict(monitor="val_loss", stopping_threshold=1.5), {}, 0.05, None),
    (dict(monitor="val_loss", divergence_threshold=1e3, patience=50), {}, 0.9, None),
    (dict(monitor="val_loss", patience=2), {}, 0.05, PLATEAU),
    (dict(monitor="val_loss", patience=2), {"min_epochs": 8}, 0.05, PLATEAU),
    (dict(monitor="val_loss", patience=2), {"val_check_interval": 0.5}, 0.05, PLATEAU),
    (dict(monitor="val_loss", patience=2), {"check_val_every_n_epoch": 2}, 0.05, PLATEAU),
    (dict(monitor="val_loss", patience=2, check_on_train_epoch_end=False), {}, 0.05, PLATEAU),
    (dict(monitor="val_loss", patience=2, mode="max"), {}, 0.05, [0.1, 0.2, 0.2, 0.15, 0.3]),
    # ties: equal to the best, and improvements of exactly min_delta, do not reset the patience
    (dict(monitor="val_loss", patience=2), {}, 0.05, [1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.0]),
    (dict(monitor="val_loss", patience=2, min_delta=0.25), {}, 0.05, [1.0, 0.75, 0.5, 0.25, 0.25]),
    (dict(monitor="val_loss", patience=3, mode="max"), {}, 0.05, [0.5, 0.5, 0.75, 0.75, 0.75, 0.75, 1.0]),
])
def test_fit_stop_epoch_matches_lightning(tmp_path, es_kwargs, trainer_kwargs, lr, script):
    pl = pytest.importorskip("pytorch_lightning")
    out = []
    for name, mod in (("fastlit", fastlit), ("pl", pl)):
        extra = dict(trainer_kwargs)
        if name == "fastlit":
            extra["fused_optimizer"] = False  # plain torch.optim.SGD numerics, as in Lightning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer, es = _fit(mod, tmp_path / name, es_kwargs, extra, lr, script)
        out.append((es.stopped_epoch, trainer.current_epoch, trainer.global_step, es.wait_count,
                    es.state_dict()["stopping_reason"], round(float(es.best_score), 4)))
    assert out[0] == out[1]
    assert out[1][1] < MAX_EPOCHS  # the scenario really stops early in Lightning


def test_fit_should_stop_waits_for_min_epochs(tmp_path):
    trainer, es = _fit(fastlit, tmp_path, dict(monitor="val_loss", patience=2), {"min_epochs": 8}, 0.05, PLATEAU)
    assert es.stopping_reason == EarlyStoppingReason.PATIENCE_EXHAUSTED
    assert trainer.current_epoch == 8 and es.stopped_epoch == 7  # flagged at epoch 4, honoured after 8 epochs
