"""``DeviceStatsMonitor``: log device statistics around each train/validation/test batch.

Keys are ``DeviceStatsMonitor.<hook>/<stat>`` (the logger's group separator in between), at Lightning's logging
interval (``log_every_n_steps``). CPU stats come from ``psutil`` (``cpu_percent``, ``cpu_vm_percent``,
``cpu_swap_percent``); CUDA stats are ``torch.cuda.memory_stats`` (Lightning's keys) plus, when ``nvidia-ml-py`` is
installed, the GPU's utilization, memory use, temperature and power draw from NVML (``nvml.*`` keys, fastlit's
addition: the allocator alone cannot tell how busy the GPU is).
"""
from __future__ import annotations

import importlib.util
from typing import Any, Optional

import torch

from fastlit.callbacks.callback import Callback
from fastlit.utilities.exceptions import MisconfigurationException


def _psutil_available() -> bool:
    return importlib.util.find_spec("psutil") is not None


def get_cpu_stats() -> dict[str, float]:
    """System-wide CPU, RAM and swap utilization in percent (needs ``psutil``)."""
    if not _psutil_available():
        raise ModuleNotFoundError("Fetching CPU device stats requires `psutil` to be installed: `pip install psutil`.")
    import psutil

    return {
        "cpu_vm_percent": psutil.virtual_memory().percent,
        "cpu_percent": psutil.cpu_percent(),
        "cpu_swap_percent": psutil.swap_memory().percent,
    }


_nvml_handles: dict[int, Any] = {}


def _nvml_stats(device: torch.device) -> dict[str, float]:
    """NVML readings for ``device``; empty when ``nvidia-ml-py`` is missing or NVML cannot start."""
    try:
        import pynvml
    except ImportError:
        return {}
    try:
        index = device.index if device.index is not None else torch.cuda.current_device()
        handle = _nvml_handles.get(index)
        if handle is None:
            pynvml.nvmlInit()
            handle = _nvml_handles[index] = pynvml.nvmlDeviceGetHandleByIndex(_physical_index(index))
        util = pynvml.nvmlDeviceGetUtilizationRates(handle)
        mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
        stats = {
            "nvml.utilization.gpu": float(util.gpu),
            "nvml.utilization.memory": float(util.memory),
            "nvml.memory.used": float(mem.used),
            "nvml.memory.total": float(mem.total),
            "nvml.temperature.gpu": float(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)),
        }
        try:
            stats["nvml.power.draw"] = pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0  # milliwatts -> watts
        except pynvml.NVMLError:
            pass
        return stats
    except Exception:  # no driver access (containers, MIG): the allocator stats are still logged
        return {}


def _physical_index(index: int) -> int:
    """NVML numbers GPUs physically; ``CUDA_VISIBLE_DEVICES`` may renumber them for torch."""
    import os

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if not visible:
        return index
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    return int(ids[index]) if index < len(ids) and ids[index].isdigit() else index


def get_device_stats(device: torch.device) -> dict[str, Any]:
    """What the accelerator reports for ``device``: psutil on CPU, allocator (+ NVML) stats on CUDA."""
    if device.type == "cuda":
        stats: dict[str, Any] = dict(torch.cuda.memory_stats(device))
        stats.update(_nvml_stats(device))
        return stats
    return get_cpu_stats()


class DeviceStatsMonitor(Callback):
    """Log device statistics at the start and end of every train, validation and test batch.

    Args:
        cpu_stats: ``None`` logs CPU stats only when training on the CPU; ``True`` logs them on any accelerator;
            ``False`` never logs them.

    Raises:
        MisconfigurationException: the Trainer has no logger (checked when ``fit`` starts).
        ModuleNotFoundError: CPU stats are wanted but ``psutil`` is not installed (``pip install psutil``).
    """

    def __init__(self, cpu_stats: Optional[bool] = None) -> None:
        self._cpu_stats = cpu_stats

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        if not trainer.loggers:
            raise MisconfigurationException("Cannot use `DeviceStatsMonitor` callback with `Trainer(logger=False)`.")
        device = trainer.strategy.root_device
        if self._cpu_stats is None and device.type == "cpu" and not _psutil_available():
            raise ModuleNotFoundError(
                "`DeviceStatsMonitor` cannot log CPU stats as `psutil` is not installed. Install it with "
                "`pip install psutil`, or pass `DeviceStatsMonitor(cpu_stats=False)`.")

    def _get_and_log_device_stats(self, trainer: Any, key: str) -> None:
        if not self._should_update_logs(trainer):
            return
        device = trainer.strategy.root_device
        if self._cpu_stats is False and device.type == "cpu":
            return
        stats = get_device_stats(device)
        if self._cpu_stats and device.type != "cpu":
            stats.update(get_cpu_stats())
        prefix = f"{type(self).__qualname__}.{key}"
        step = trainer.fit_loop.epoch_loop._batches_that_stepped
        for logger in trainer.loggers:
            sep = logger.group_separator
            logger.log_metrics({f"{prefix}{sep}{k}": v for k, v in stats.items()}, step=step)

    def _should_update_logs(self, trainer: Any) -> bool:
        """Lightning's interval rule: while training, when the next optimizer step is a logging step; in an
        evaluation loop, when the number of batches started in this run is a multiple of ``log_every_n_steps``;
        always when the run is stopping."""
        every = trainer.log_every_n_steps
        if not every:
            return False
        step = trainer.fit_loop.epoch_loop._batches_that_stepped + 1 if trainer.training else self._eval_ready
        return step % every == 0 or bool(trainer.should_stop)

    _eval_ready = 0  # batches started in the current validation/test run

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._eval_ready = 0

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self._eval_ready = 0

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._get_and_log_device_stats(trainer, "on_train_batch_start")

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._get_and_log_device_stats(trainer, "on_train_batch_end")

    def on_validation_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                                  dataloader_idx: int = 0) -> None:
        self._eval_ready += 1
        self._get_and_log_device_stats(trainer, "on_validation_batch_start")

    def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        self._get_and_log_device_stats(trainer, "on_validation_batch_end")

    def on_test_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                            dataloader_idx: int = 0) -> None:
        self._eval_ready += 1
        self._get_and_log_device_stats(trainer, "on_test_batch_start")

    def on_test_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                          dataloader_idx: int = 0) -> None:
        self._get_and_log_device_stats(trainer, "on_test_batch_end")
