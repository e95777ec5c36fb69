"""Profilers: reports, files, errors, and parity with Lightning's SimpleProfiler table."""
import glob
import logging
import os
import time
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from fastlit.profilers import (AdvancedProfiler, PassThroughProfiler, Profiler, PyTorchProfiler, SimpleProfiler,
                               resolve)
from fastlit.utilities.exceptions import MisconfigurationException


class Capture(logging.Handler):
    def __init__(self, name):
        super().__init__(logging.INFO)
        self.logger, self.messages = logging.getLogger(name), []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        self._level = self.logger.level
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)


class FakeClock:
    """time.perf_counter stand-in: each call returns the next value of a fixed tick."""

    def __init__(self, tick=0.5):
        self.now, self.tick = 0.0, tick

    def __call__(self):
        self.now += self.tick
        return self.now


def one_training_batch(p, sleep=None):
    """Lightning's action names and nesting for one automatic-optimization batch."""
    with p.profile("[_TrainingEpochLoop].train_dataloader_next"):
        pass
    with p.profile("[Callback]TQDMProgressBar.on_train_batch_start"):
        pass
    with p.profile("run_training_batch"):
        with p.profile("[LightningModule]AE.optimizer_step"):
            with p.profile("[Strategy]SingleDeviceStrategy.training_step"):
                pass
            with p.profile("[Strategy]SingleDeviceStrategy.backward"):
                pass
    with p.profile("[Callback]TQDMProgressBar.on_train_batch_end"):
        pass


# ---- resolve / base ---------------------------------------------------------------------------------------------

def test_resolve():
    assert isinstance(resolve(None), PassThroughProfiler)
    assert isinstance(resolve("simple"), SimpleProfiler)
    assert isinstance(resolve("Advanced"), AdvancedProfiler)
    assert isinstance(resolve("pytorch"), PyTorchProfiler)
    mine = SimpleProfiler()
    assert resolve(mine) is mine
    with pytest.raises(MisconfigurationException, match=r"\['simple', 'advanced', 'pytorch'\]"):
        resolve("fancy")
    with pytest.raises(MisconfigurationException, match="XLA"):
        resolve("xla")
    with pytest.raises(MisconfigurationException, match="got int"):
        resolve(3)


def test_base_is_abstract_and_passthrough_is_inert():
    with pytest.raises(TypeError):
        Profiler()
    p = PassThroughProfiler()
    with p.profile("a") as name:
        assert name == "a"
    p.start("x")
    p.stop("never started")  # no error: nothing is recorded
    assert p.summary() == ""


def test_prepare_filename():
    p = SimpleProfiler(filename="perf")
    p.setup("fit", local_rank=1)
    assert p._prepare_filename() == "fit-perf-1.txt"
    assert p._prepare_filename("[Strategy]X.training_step", ".prof") == "fit-perf-1-[Strategy]X.training_step.prof"
    assert p._prepare_filename("a/b:c") == "fit-perf-1-a_b_c.txt"


# ---- SimpleProfiler -----------------------------------------------------------------------------------------------

def test_simple_counts_and_report(tmp_path):
    p = SimpleProfiler(dirpath=tmp_path, filename="perf")
    p.setup("fit")
    for _ in range(3):
        one_training_batch(p)
    p.describe()
    text = (tmp_path / "fit-perf.txt").read_text()
    assert text.startswith("FIT Profiler Report")
    rows = {line.split("|")[1].strip(): line.split("|") for line in text.splitlines() if line.startswith("|")}
    assert rows["run_training_batch"][3].strip() == "3"
    assert rows["[Strategy]SingleDeviceStrategy.backward"][3].strip() == "3"
    assert rows["Total"][3].strip() == "21"
    assert "Training batch time split (3 batches" in text


def test_simple_logs_without_filename():
    p = SimpleProfiler()
    p.setup("test")
    with p.profile("[Strategy]SingleDeviceStrategy.test_step"):
        pass
    with Capture("fastlit.profilers.profiler") as cap:
        p.describe()
    assert len(cap.messages) == 1 and cap.messages[0].startswith("TEST Profiler Report")
    assert "test_step" in cap.messages[0]
    assert "Training batch time split" not in cap.messages[0]  # no training batch profiled


def test_simple_errors():
    p = SimpleProfiler()
    p.start("a")
    with pytest.raises(ValueError, match="already started"):
        p.start("a")
    with pytest.raises(ValueError, match="never started"):
        p.stop("b")


def test_simple_split_uses_self_times(monkeypatch):
    clock = FakeClock(tick=1.0)  # every start/stop reads the clock once: each leaf action lasts exactly 1 s
    monkeypatch.setattr(time, "perf_counter", clock)
    p = SimpleProfiler()
    for _ in range(2):
        one_training_batch(p)
    t = p.split_totals
    # per batch: training_step 1 + backward 1 (user), optimizer_step 5 - 3 - 3 + ... see nesting below
    # optimizer_step spans 5 ticks containing training_step (1) and backward (1): self time 3
    # run_training_batch spans 7 ticks containing optimizer_step (5): self time 2
    assert t["user"] == 4.0 and t["optimizer"] == 6.0 and t["framework"] == 4.0
    assert t["data"] == 2.0 and t["hooks"] == 4.0
    line = p.training_split()
    assert line.startswith("Training batch time split (2 batches, 1e+04 ms/batch measured)")
    assert "model code (training_step + backward) 2000 ms (20.0%)" in line


def test_simple_overlapping_actions_do_not_break():
    p = SimpleProfiler()
    p.start("a")
    p.start("b")
    p.stop("a")  # not nested: tolerated
    p.stop("b")
    assert len(p.recorded_durations["a"]) == 1 and len(p.recorded_durations["b"]) == 1


@pytest.mark.parametrize("extended", [True, False])
def test_simple_table_same_as_lightning(monkeypatch, extended):
    pytest.importorskip("pytorch_lightning")
    from pytorch_lightning.profilers import SimpleProfiler as LightningSimple

    def run(cls):
        monkeypatch.setattr(time, "perf_counter", FakeClock(0.25))
        p = cls(extended=extended)
        p.setup("fit")
        for _ in range(2):
            one_training_batch(p)
        return p.summary()

    theirs, ours = run(LightningSimple), run(SimpleProfiler)
    split = [line for line in ours.splitlines() if line.startswith("Training batch time split")]
    assert len(split) == 1  # our one extra line
    assert ours.replace(split[0] + os.linesep, "") == theirs


# ---- AdvancedProfiler ---------------------------------------------------------------------------------------------

def _work(n):
    return sum(i * i for i in range(n))


def _inner_only():
    return _work(10)


def _outer_after_inner():
    return _work(10)


def test_advanced_report_and_nesting(tmp_path):
    p = AdvancedProfiler(dirpath=tmp_path, filename="adv", dump_stats=True)
    p.setup("fit")
    with p.profile("outer"):
        with p.profile("inner"):
            _inner_only()
        _outer_after_inner()  # the outer profile resumes once inner stops
    p.describe()
    text = (tmp_path / "fit-adv.txt").read_text()
    assert text.startswith("FIT Profiler Report")
    outer, inner = text.split("Profile stats for: inner")
    assert "_outer_after_inner" in outer and "_inner_only" not in outer
    assert "_inner_only" in inner and "_outer_after_inner" not in inner
    assert (tmp_path / "fit-adv-outer.prof").exists() and (tmp_path / "fit-adv-inner.prof").exists()


def test_advanced_line_count_and_errors():
    p = AdvancedProfiler(line_count_restriction=2)
    with p.profile("a"):
        _work(5)
    assert "restriction <2>" in p.summary()
    with pytest.raises(ValueError, match="never started"):
        p.stop("b")


def test_advanced_pickles():
    import pickle

    p = AdvancedProfiler(filename="x", line_count_restriction=0.5)
    with p.profile("a"):
        pass
    clone = pickle.loads(pickle.dumps(p))
    assert clone.filename == "x" and clone.line_count_restriction == 0.5 and clone.profiled_actions == {}


# ---- PyTorchProfiler ----------------------------------------------------------------------------------------------

def test_pytorch_profiler_trace_and_table(tmp_path):
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    p = PyTorchProfiler(dirpath=tmp_path, filename="pt")
    p._lightning_module = model  # the Trainer sets this: module forward ranges in the trace
    p.setup("fit")
    for _ in range(6):  # default schedule: wait 1, warmup 1, active 3 -> saved after the 5th step
        with p.profile("[Strategy]SingleDeviceStrategy.training_step"):
            model(torch.randn(4, 8)).sum().backward()
    p.describe()
    traces = glob.glob(str(tmp_path / "fit-pt-[[]Strategy[]]SingleDeviceStrategy.training_step.*.pt.trace.json"))
    assert len(traces) == 1
    trace = open(traces[0]).read()
    assert "[pl][profile][Strategy]SingleDeviceStrategy.training_step" in trace
    assert "[pl][module]torch.nn.modules.linear.Linear: 0" in trace
    assert "aten::addmm" in trace
    report = (tmp_path / "fit-pt.txt").read_text()
    assert report.startswith("FIT Profiler Report") and "Profile stats for: records" in report
    assert "aten::addmm" in report


def test_pytorch_profiler_few_steps_records_everything(tmp_path):
    p = PyTorchProfiler(dirpath=tmp_path, record_module_names=False)
    module = nn.Linear(1, 1)
    module._trainer = SimpleNamespace(num_test_batches=[2])  # how the profiler learns the number of steps
    p._lightning_module = module
    p.setup("test")
    with pytest.warns(UserWarning, match="default schedule will be overridden"):
        for _ in range(2):  # fewer than the default schedule needs: it is replaced by "record all"
            with p.profile("[Strategy]SingleDeviceStrategy.test_step"):
                torch.randn(4, 4).mm(torch.randn(4, 4))
    with Capture("fastlit.profilers.profiler") as cap:
        p.describe()
    assert len(cap.messages) == 1 and cap.messages[0].startswith("TEST Profiler Report")
    assert "aten::mm" in cap.messages[0]
    assert glob.glob(str(tmp_path / "test-*test_step.*.pt.trace.json"))


def test_pytorch_profiler_argument_errors():
    with pytest.raises(MisconfigurationException, match="sort_by_key"):
        PyTorchProfiler(sort_by_key="nope")
    with pytest.raises(KeyError, match="already an argument"):
        PyTorchProfiler(table_kwargs={"row_limit": 3})
    with pytest.raises(KeyError, match="invalid table_kwargs"):
        PyTorchProfiler(table_kwargs={"nope": 3})
    with pytest.raises(MisconfigurationException, match="callable"):
        PyTorchProfiler(schedule=3)


def test_pytorch_profiler_without_step_actions(tmp_path):
    p = PyTorchProfiler(dirpath=tmp_path, filename="pt")
    p.setup("fit")
    with p.profile("[Callback]X.on_fit_start"):  # never steps the schedule: nothing is recorded
        torch.ones(2) + 1
    p.describe()
    assert p.summary() == ""
    assert not glob.glob(str(tmp_path / "*.pt.trace.json"))


def test_pytorch_profiler_run_training_batch_counts_as_step(tmp_path):
    p = PyTorchProfiler(dirpath=tmp_path, filename="pt", record_module_names=False)
    p.setup("fit")
    for _ in range(6):  # a trainer that profiles only whole batches still gets a trace
        with p.profile("run_training_batch"):
            torch.ones(3, 3).mm(torch.ones(3, 3))
    p.describe()
    assert len(glob.glob(str(tmp_path / "fit-pt-run_training_batch.*.pt.trace.json"))) == 1
    assert "aten::mm" in (tmp_path / "fit-pt.txt").read_text()


# ---- with the Trainer ---------------------------------------------------------------------------------------------

class Tiny(fastlit.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(tmp_path, profiler):
    trainer = fastlit.Trainer(max_epochs=2, default_root_dir=tmp_path, enable_progress_bar=False, logger=False,
                              enable_checkpointing=False, enable_model_summary=False, profiler=profiler)
    trainer.fit(Tiny(), DataLoader(TensorDataset(torch.randn(12, 4)), batch_size=4))
    return trainer


def test_trainer_simple_profiler_file(tmp_path):
    _fit(tmp_path, SimpleProfiler(dirpath=tmp_path / "prof", filename="perf"))
    text = (tmp_path / "prof" / "fit-perf.txt").read_text()
    row = next(line for line in text.splitlines() if line.startswith("|  run_training_batch"))
    assert row.split("|")[3].strip() == "6"  # 2 epochs x 3 batches
    assert "Training batch time split (6 batches" in text


def test_trainer_profiler_by_name_logs_report(tmp_path):
    with Capture("fastlit.profilers.profiler") as cap:
        trainer = _fit(tmp_path, "simple")
    assert isinstance(trainer.profiler, SimpleProfiler)
    assert len(cap.messages) == 1 and cap.messages[0].startswith("FIT Profiler Report")


def test_trainer_advanced_profiler_file(tmp_path):
    _fit(tmp_path, AdvancedProfiler(dirpath=tmp_path, filename="adv"))
    text = (tmp_path / "fit-adv.txt").read_text()
    assert "Profile stats for: run_training_batch" in text and "function calls" in text


def test_trainer_pytorch_profiler_writes_trace(tmp_path):
    _fit(tmp_path, PyTorchProfiler(dirpath=tmp_path / "pt", filename="perf"))
    assert glob.glob(str(tmp_path / "pt" / "fit-perf-*.pt.trace.json"))
    assert "Profile stats for: records" in (tmp_path / "pt" / "fit-perf.txt").read_text()
