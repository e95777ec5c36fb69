"""``ThroughputMonitor`` logs what Lightning's logs (same keys, steps and counts for every stage), and with
``measure=True`` adds FLOPs counted on the first batch, MFU against a measured peak, and the data-wait share."""
from __future__ import annotations

import time
import warnings

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import fastlit
from fastlit.utilities.throughput import Throughput, get_available_flops, measure_flops, measure_peak_flops


class _Recorder:
    """Collects every ``log_metrics`` call (any Logger-like object works as a Trainer logger)."""

    def __init__(self, logger_base):
        class Recorder(logger_base):
            calls: list = []

            @property
            def name(self):
                return "rec"

            @property
            def version(self):
                return 0

            def log_metrics(self, metrics, step=None):
                self.calls.append((dict(metrics), step))

            def log_hyperparams(self, *args, **kwargs):
                pass

        self.logger = Recorder()
        self.logger.calls = []


def _run(pl, monitor, fn="fit", tmp_path=".", **trainer_kwargs):
    from importlib import import_module

    demos = import_module(f"{pl.__name__}.demos.boring_classes")
    recorder = _Recorder(import_module(f"{pl.__name__}.loggers").Logger)
    kwargs = dict(max_steps=6, limit_val_batches=2, val_check_interval=3, log_every_n_steps=2,
                  enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False)
    kwargs.update(trainer_kwargs)
    trainer = pl.Trainer(default_root_dir=str(tmp_path), logger=recorder.logger, callbacks=[monitor], **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(trainer, fn)(demos.BoringModel())
    return recorder.logger.calls


_COUNTS = ("batches", "samples", "lengths", "epoch")


def _shape(calls):
    """Each call's step, its key set and its counters (times and rates differ from run to run)."""
    return [(step, sorted(m), {k: v for k, v in m.items() if k.rsplit("/", 1)[-1] in _COUNTS})
            for m, step in calls if any("batches" in k for k in m)]


@pytest.mark.parametrize("fn, kwargs", [
    ("fit", {}),
    ("fit", {"accumulate_grad_batches": 2, "log_every_n_steps": 1}),
    ("validate", {}),
    ("test", {"limit_test_batches": 5, "log_every_n_steps": 2}),
    ("predict", {"limit_predict_batches": 4, "log_every_n_steps": 1}),
])
def test_logs_like_lightnings(tmp_path, lightning, fn, kwargs):
    from pytorch_lightning.callbacks import ThroughputMonitor as Theirs

    from fastlit.callbacks import ThroughputMonitor

    def size(batch):
        return batch.shape[0]

    def length(batch):
        return batch.numel()

    ours = _run(fastlit, ThroughputMonitor(size, length, window_size=3), fn, tmp_path / "f", **kwargs)
    theirs = _run(lightning, Theirs(size, length, window_size=3), fn, tmp_path / "l", **kwargs)
    assert _shape(ours) == _shape(theirs) and _shape(ours)


def test_training_rates_leave_validation_time_out(tmp_path):
    """A slow validation does not lower the training rates: the clock skips it (Lightning's rule)."""
    from fastlit.callbacks import ThroughputMonitor

    class SlowValidation(fastlit.Callback):
        def on_validation_batch_end(self, *args, **kwargs):
            time.sleep(0.5)

    monitor = ThroughputMonitor(lambda b: b.shape[0], window_size=2)
    from fastlit.demos.boring_classes import BoringModel

    trainer = fastlit.Trainer(default_root_dir=str(tmp_path), max_steps=4, val_check_interval=2, limit_val_batches=2,
                              log_every_n_steps=1, logger=False, callbacks=[monitor, SlowValidation()],
                              enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False)
    trainer.fit(BoringModel())
    train_time = monitor._throughputs[fastlit.trainer.states.RunningStage.TRAINING]._time[-1]
    val_time = monitor._throughputs[fastlit.trainer.states.RunningStage.VALIDATING]._time[-1]
    # the monitor runs before SlowValidation: its last update sees the first batch's sleep only
    assert val_time >= 0.5
    # the first validation run (1 s of sleep) is taken off the training clock up to that last update; counted in
    # full it would put the training time over 1 s
    assert train_time < 0.9


def test_measure_counts_first_batch_flops_and_mfu(tmp_path):
    from fastlit.callbacks import ThroughputMonitor
    from fastlit.demos.boring_classes import BoringModel
    from fastlit.trainer.states import RunningStage

    monitor = ThroughputMonitor(lambda b: b.shape[0], window_size=2, measure=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "define flops_per_batch" warning: the FLOPs are measured
        calls = _run(fastlit, monitor, "fit", tmp_path, max_steps=4, log_every_n_steps=1, val_check_interval=4)
    model = BoringModel()
    batch = next(iter(model.train_dataloader()))  # the shape the first training batch had
    expected_train = measure_flops(model, lambda: model(batch), lambda out: out.sum())
    expected_val = measure_flops(model, lambda: model(batch))
    assert monitor._stage_flops[RunningStage.TRAINING] == expected_train > expected_val
    assert monitor._stage_flops[RunningStage.VALIDATING] == expected_val
    last_train = [m for m, _ in calls if "train/batches" in m][-1]
    assert last_train["train/device/flops_per_sec"] > 0
    assert 0 < last_train["train/device/mfu"] < 1
    assert 0 <= last_train["train/data_wait_share"] < 1
    assert monitor.available_flops == measure_peak_flops(torch.device("cpu"))


def test_module_flops_per_batch_wins_over_measuring(tmp_path):
    from fastlit.callbacks import ThroughputMonitor
    from fastlit.demos.boring_classes import BoringModel
    from fastlit.trainer.states import RunningStage

    class Declared(BoringModel):
        flops_per_batch = 1000

    monitor = ThroughputMonitor(lambda b: b.shape[0], window_size=2, measure=True)
    trainer = fastlit.Trainer(default_root_dir=str(tmp_path), max_steps=3, logger=False, callbacks=[monitor],
                              enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
                              limit_val_batches=0)
    trainer.fit(Declared())
    assert RunningStage.TRAINING not in monitor._stage_flops
    assert list(monitor._throughputs[RunningStage.TRAINING]._flops) == [1000, 1000]


class _SlowData(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        time.sleep(0.05)
        return torch.randn(32)


def test_data_wait_share_sees_a_slow_loader(tmp_path):
    from fastlit.callbacks import ThroughputMonitor
    from fastlit.demos.boring_classes import BoringModel

    class SlowLoader(BoringModel):
        def train_dataloader(self):
            return DataLoader(_SlowData(), batch_size=2)

    monitor = ThroughputMonitor(lambda b: b.shape[0], window_size=2, measure=True)
    seen = []

    class Spy(fastlit.Callback):
        def on_train_end(self, trainer, pl_module):
            seen.append(monitor._wait_ns * 1e-9)

    trainer = fastlit.Trainer(default_root_dir=str(tmp_path), max_steps=5, logger=False, callbacks=[monitor, Spy()],
                              enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
                              limit_val_batches=0)
    trainer.fit(SlowLoader())
    # four gaps between five batches, each fetching a batch of two 50 ms samples
    assert seen[0] >= 4 * 0.1


def test_throughput_meter_rules():
    meter = Throughput(available_flops=100.0, world_size=2, window_size=2)
    meter.update(time=1.0, batches=1, samples=4, lengths=8, flops=10)
    assert meter.compute() == {"time": 1.0, "batches": 1, "samples": 4, "lengths": 8}
    meter.update(time=3.0, batches=2, samples=8, lengths=16, flops=10)
    out = meter.compute()
    assert out["device/batches_per_sec"] == 0.5 and out["batches_per_sec"] == 1.0
    assert out["device/samples_per_sec"] == 2.0 and out["samples_per_sec"] == 4.0
    assert out["device/items_per_sec"] == 4.0 and out["items_per_sec"] == 8.0
    assert out["flops_per_sec"] == 10.0 and out["device/flops_per_sec"] == 5.0 and out["device/mfu"] == 0.05
    with pytest.raises(ValueError, match="Expected the value to increase"):
        meter.update(time=3.0, batches=3, samples=12)
    with pytest.raises(ValueError, match="greater or equal than batches"):
        meter.update(time=4.0, batches=9, samples=8)


def test_peak_is_measured_on_the_device_not_looked_up():
    assert get_available_flops(torch.device("cpu"), torch.float32) is None  # as Lightning on the CPU
    peak = measure_peak_flops(torch.device("cpu"), torch.float32)
    assert peak > 1e8 and measure_peak_flops(torch.device("cpu"), torch.float32) == peak  # cached
