"""``Accelerator``: one kind of hardware (CPU, CUDA, ...) -- which devices exist and how to prepare them.

fastlit's Trainer takes ``accelerator="cpu" | "cuda" | "gpu" | "auto"`` or one of these objects (read by its
``name()``); the classes also answer the usual questions directly, e.g. ``CUDAAccelerator.is_available()``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Union

import torch

_DEVICE = Union[torch.device, str, int]


class Accelerator(ABC):
    """Base class: subclasses say whether their hardware is available and how to pick and set up devices."""

    @abstractmethod
    def setup_device(self, device: torch.device) -> None:
        """Prepare ``device`` for this process."""

    @abstractmethod
    def teardown(self) -> None:
        """Release what ``setup_device`` created."""

    @staticmethod
    @abstractmethod
    def parse_devices(devices: Any) -> Any:
        """Turn ``Trainer(devices=...)`` into this accelerator's device spec."""

    @staticmethod
    @abstractmethod
    def get_parallel_devices(devices: Any) -> Any:
        """The ``torch.device`` objects for the parsed ``devices``."""

    @staticmethod
    @abstractmethod
    def auto_device_count() -> int:
        """How many devices ``devices="auto"`` means."""

    @staticmethod
    @abstractmethod
    def is_available() -> bool:
        """Whether this hardware is present."""

    @staticmethod
    @abstractmethod
    def name() -> str:
        """The ``Trainer(accelerator=...)`` name."""

    @classmethod
    def register_accelerators(cls, accelerator_registry: Any) -> None:
        """Add this class to ``accelerator_registry`` (the built-in ones register under ``name()``)."""

    def setup(self, trainer: Any) -> None:
        """Called by the Trainer before the model runs on the device."""

    def get_device_stats(self, device: _DEVICE) -> dict[str, Any]:
        """Statistics of ``device`` (``DeviceStatsMonitor`` logs them)."""
        raise NotImplementedError
