"""``MPSAccelerator`` (Apple Silicon GPUs). fastlit's Trainer does not train on MPS; the class answers
availability and device questions like Lightning's, and ``Trainer(accelerator=MPSAccelerator())`` is refused."""
from __future__ import annotations

import platform
from typing import Any, Optional, Union

import torch

from fastlit.accelerators.accelerator import _DEVICE, Accelerator
from fastlit.utilities.exceptions import MisconfigurationException


class MPSAccelerator(Accelerator):
    """Metal Performance Shaders on Apple Silicon."""

    def setup_device(self, device: torch.device) -> None:
        if device.type != "mps":
            raise MisconfigurationException(f"Device should be MPS, got {device} instead.")

    def get_device_stats(self, device: _DEVICE) -> dict[str, Any]:
        return get_device_stats()

    def teardown(self) -> None:
        pass

    @staticmethod
    def parse_devices(devices: Union[int, str, list[int]]) -> Optional[list[int]]:
        if devices in (0, "0", [], None):
            return None
        if not MPSAccelerator.is_available():
            raise MisconfigurationException(f"You requested mps: {devices}\n But MPS is not available here.")
        return [0]  # one MPS device per machine

    @staticmethod
    def get_parallel_devices(devices: Union[int, str, list[int]]) -> list[torch.device]:
        parsed = MPSAccelerator.parse_devices(devices) or []
        return [torch.device("mps", i) for i in range(len(parsed))]

    @staticmethod
    def auto_device_count() -> int:
        return 1

    @staticmethod
    def is_available() -> bool:
        mps = getattr(torch.backends, "mps", None)
        return bool(mps is not None and mps.is_available() and platform.processor() in ("arm", "arm64"))

    @staticmethod
    def name() -> str:
        return "mps"

    @classmethod
    def register_accelerators(cls, accelerator_registry: Any) -> None:
        accelerator_registry.register(cls.name(), cls, description=cls.__name__)


def get_device_stats() -> dict[str, float]:
    """Memory and CPU utilization of an Apple Silicon machine (CPU and GPU share memory), from ``psutil``."""
    from fastlit.callbacks.device_stats_monitor import get_cpu_stats

    stats = get_cpu_stats()
    return {"M1_vm_percent": stats["cpu_vm_percent"], "M1_percent": stats["cpu_percent"],
            "M1_swap_percent": stats["cpu_swap_percent"]}
