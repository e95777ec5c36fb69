"""DeviceStatsMonitor: the same metric keys at the same steps as Lightning (CPU via psutil), clear errors without a
logger or psutil, and the CUDA stats (allocator + NVML) assembled correctly."""
from __future__ import annotations

import csv
import os
import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit
import fastlit.callbacks.device_stats_monitor as dsm
from fastlit.callbacks import DeviceStatsMonitor
from fastlit.utilities.exceptions import MisconfigurationException

psutil = pytest.importorskip("psutil")


def _model(pl: Any) -> Any:
    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.layer(batch[0]).pow(2).mean()

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val", self.layer(batch[0]).mean())

        def test_step(self, batch: Any, batch_idx: int) -> None:
            self.log("test", self.layer(batch[0]).mean())

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Model()


def _rows(pl: Any, root: str, what: str, **cb_kw: Any) -> list[tuple[str, frozenset]]:
    """(step, keys present) per metrics.csv row: the values themselves are live machine readings."""
    logger = pl.loggers.CSVLogger(root)
    trainer = pl.Trainer(max_epochs=2, logger=logger, log_every_n_steps=2, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=2,
                         callbacks=[pl.callbacks.DeviceStatsMonitor(**cb_kw)])
    loader = DataLoader(TensorDataset(torch.randn(10, 2)), batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if what == "fit":
            trainer.fit(_model(pl), loader, loader)
        elif what == "validate":
            trainer.validate(_model(pl), loader)
        else:
            trainer.test(_model(pl), loader)
    path = os.path.join(logger.log_dir, "metrics.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(r["step"], frozenset(k for k, v in r.items() if v != "")) for r in csv.DictReader(f)]


@pytest.mark.parametrize("what", ["fit", "validate", "test"])
def test_keys_and_steps_match_lightning(tmp_path, lightning, what):
    ours = _rows(fastlit, str(tmp_path / "f"), what)
    theirs = _rows(lightning, str(tmp_path / "l"), what)
    assert ours == theirs
    keys = set().union(*(k for _, k in ours))
    assert "DeviceStatsMonitor.on_{}_batch_start/cpu_percent".format(
        {"fit": "train", "validate": "validation", "test": "test"}[what]) in keys
    assert {k.rsplit("/", 1)[-1] for k in keys if k.startswith("DeviceStats")} == \
        {"cpu_percent", "cpu_vm_percent", "cpu_swap_percent"}


def test_cpu_stats_false_logs_nothing_on_cpu(tmp_path, lightning):
    ours = _rows(fastlit, str(tmp_path / "f"), "fit", cpu_stats=False)
    theirs = _rows(lightning, str(tmp_path / "l"), "fit", cpu_stats=False)
    assert ours == theirs
    assert not any(k.startswith("DeviceStats") for _, keys in ours for k in keys)


def test_requires_a_logger():
    trainer = fastlit.Trainer(logger=False, max_steps=1, enable_progress_bar=False, enable_model_summary=False,
                              enable_checkpointing=False, callbacks=[DeviceStatsMonitor()])
    with pytest.raises(MisconfigurationException, match="Trainer\\(logger=False\\)"):
        trainer.fit(_model(fastlit), DataLoader(TensorDataset(torch.randn(2, 2))))


def test_missing_psutil_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(dsm, "_psutil_available", lambda: False)
    trainer = fastlit.Trainer(default_root_dir=str(tmp_path), max_steps=1, enable_progress_bar=False,
                              enable_model_summary=False, enable_checkpointing=False,
                              logger=fastlit.loggers.CSVLogger(str(tmp_path)), callbacks=[DeviceStatsMonitor()])
    with pytest.raises(ModuleNotFoundError, match="pip install psutil"):
        trainer.fit(_model(fastlit), DataLoader(TensorDataset(torch.randn(2, 2))))
    with pytest.raises(ModuleNotFoundError, match="requires `psutil`"):
        dsm.get_cpu_stats()
    # cpu_stats=False needs no psutil
    DeviceStatsMonitor(cpu_stats=False).setup(trainer, None, "fit")


def test_cuda_stats_are_allocator_stats_plus_nvml(monkeypatch):
    monkeypatch.setattr(torch.cuda, "memory_stats", lambda device=None: {"allocated_bytes.all.current": 512})
    monkeypatch.setattr(dsm, "_nvml_stats", lambda device: {"nvml.utilization.gpu": 37.0})
    stats = dsm.get_device_stats(torch.device("cuda", 0))
    assert stats == {"allocated_bytes.all.current": 512, "nvml.utilization.gpu": 37.0}
    assert set(dsm.get_device_stats(torch.device("cpu"))) == {"cpu_percent", "cpu_vm_percent", "cpu_swap_percent"}


def test_nvml_failures_are_silent(monkeypatch):
    import sys
    import types

    broken = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    def fail(*args: Any) -> None:
        raise NVMLError("no driver")

    broken.NVMLError, broken.nvmlInit = NVMLError, fail
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    monkeypatch.setattr(dsm, "_nvml_handles", {})
    assert dsm._nvml_stats(torch.device("cuda", 0)) == {}
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    assert dsm._nvml_stats(torch.device("cuda", 0)) == {}


def test_nvml_readings_with_a_fake_library(monkeypatch):
    import sys
    import types
    from types import SimpleNamespace

    fake = types.ModuleType("pynvml")
    fake.NVMLError = RuntimeError
    fake.NVML_TEMPERATURE_GPU = 0
    fake.nvmlInit = lambda: None
    fake.nvmlDeviceGetHandleByIndex = lambda i: ("handle", i)
    fake.nvmlDeviceGetUtilizationRates = lambda h: SimpleNamespace(gpu=55, memory=20)
    fake.nvmlDeviceGetMemoryInfo = lambda h: SimpleNamespace(used=3 << 30, total=80 << 30)
    fake.nvmlDeviceGetTemperature = lambda h, kind: 61
    fake.nvmlDeviceGetPowerUsage = lambda h: 250_000
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(dsm, "_nvml_handles", {})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    stats = dsm._nvml_stats(torch.device("cuda", 1))
    assert dsm._nvml_handles == {1: ("handle", 5)}  # torch's cuda:1 is physical GPU 5
    assert stats == {"nvml.utilization.gpu": 55.0, "nvml.utilization.memory": 20.0, "nvml.memory.used": float(3 << 30),
                     "nvml.memory.total": float(80 << 30), "nvml.temperature.gpu": 61.0, "nvml.power.draw": 250.0}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_real_gpu_stats(tmp_path):
    stats = dsm.get_device_stats(torch.device("cuda", 0))
    assert "allocated_bytes.all.current" in stats
