"""``CPUAccelerator``."""
from __future__ import annotations

from typing import Any, Union

import torch

from fastlit.accelerators.accelerator import _DEVICE, Accelerator
from fastlit.callbacks.device_stats_monitor import get_cpu_stats
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.imports import RequirementCache  # noqa: F401  (Lightning's module exports it)

def _parse_cpu_cores(devices: Union[int, str]) -> int:
    if isinstance(devices, str) and devices.strip().isdigit():
        devices = int(devices)
    if not isinstance(devices, int) or devices <= 0:
        raise TypeError("`devices` selected with `CPUAccelerator` should be an int > 0.")
    return devices


class CPUAccelerator(Accelerator):
    """The CPU: always available; ``devices=N`` means N processes."""

    def setup_device(self, device: torch.device) -> None:
        if device.type != "cpu":
            raise MisconfigurationException(f"Device should be CPU, got {device} instead.")

    def get_device_stats(self, device: _DEVICE) -> dict[str, Any]:
        return get_cpu_stats()

    def teardown(self) -> None:
        pass

    @staticmethod
    def parse_devices(devices: Union[int, str]) -> int:
        return _parse_cpu_cores(devices)

    @staticmethod
    def get_parallel_devices(devices: Union[int, str]) -> list[torch.device]:
        return [torch.device("cpu")] * _parse_cpu_cores(devices)

    @staticmethod
    def auto_device_count() -> int:
        return 1

    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def name() -> str:
        return "cpu"

    @classmethod
    def register_accelerators(cls, accelerator_registry: Any) -> None:
        accelerator_registry.register(cls.name(), cls, description=cls.__name__)
