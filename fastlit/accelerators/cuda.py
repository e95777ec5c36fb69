"""``CUDAAccelerator`` and CUDA device helpers."""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
from typing import Any, Optional, Union

import torch

from fastlit.accelerators.accelerator import _DEVICE, Accelerator
from fastlit.utilities.exceptions import MisconfigurationException

_log = logging.getLogger(__name__)


def num_cuda_devices() -> int:
    """How many CUDA devices this process sees."""
    return torch.cuda.device_count()


def _visible_devices() -> list[int]:
    return list(range(num_cuda_devices()))


def find_usable_cuda_devices(num_devices: int = -1) -> list[int]:
    """Indices of CUDA devices a tensor can be put on (others may be taken by processes in exclusive mode), up to
    ``num_devices`` of them (-1: all). Pass the result as ``Trainer(devices=...)``.

    Raises:
        ValueError: no CUDA device, more requested than exist, or fewer usable than requested.
    """
    if num_devices == 0:
        return []
    visible = _visible_devices()
    if not visible:
        raise ValueError(f"You requested to find {num_devices} devices but there are no visible CUDA devices on this "
                         "machine.")
    if num_devices > len(visible):
        raise ValueError(f"You requested to find {num_devices} devices but this machine only has {len(visible)} GPUs.")
    usable, unusable = [], []
    for index in visible:
        try:
            torch.tensor(0, device=torch.device("cuda", index))
        except RuntimeError:
            unusable.append(index)
            continue
        usable.append(index)
        if len(usable) == num_devices:
            break
    if num_devices != -1 and len(usable) != num_devices:
        raise RuntimeError(f"You requested to find {num_devices} devices but only {len(usable)} are currently "
                           f"available. The devices {unusable} are occupied by other processes and can't be used at "
                           "the moment.")
    return usable


def _parse_gpu_ids(devices: Union[int, str, list[int], None]) -> Optional[list[int]]:
    """``devices`` as a list of CUDA indices: N -> the first N, -1 / "-1" -> all, "0,2" / [0, 2] -> those;
    0, "0", [] and None select none (None)."""
    if isinstance(devices, str):
        text = devices.strip()
        if text in ("", "0", "[]"):
            return None
        if text == "-1":
            devices = -1
        elif "," in text:
            devices = [int(x) for x in text.split(",") if x.strip()]
        else:
            devices = int(text)
    if devices is None or devices == 0 or devices == []:
        return None
    count = num_cuda_devices()
    ids = list(range(count)) if devices == -1 else list(range(devices)) if isinstance(devices, int) else list(devices)
    if not ids or any(i < 0 or i >= count for i in ids):
        raise MisconfigurationException(f"You requested gpu: {devices}\n But your machine only has: "
                                        f"{list(range(count))}")
    return ids


class CUDAAccelerator(Accelerator):
    """NVIDIA GPUs through CUDA."""

    def setup_device(self, device: torch.device) -> None:
        if device.type != "cuda":
            raise MisconfigurationException(f"Device should be GPU, got {device} instead")
        torch.cuda.set_device(device)

    def setup(self, trainer: Any) -> None:
        self.set_nvidia_flags(trainer.local_rank)
        torch.cuda.empty_cache()

    @staticmethod
    def set_nvidia_flags(local_rank: int) -> None:
        # device numbering by PCI bus, as nvidia-smi prints it
        os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        devices = os.getenv("CUDA_VISIBLE_DEVICES", ",".join(str(i) for i in _visible_devices()))
        _log.info(f"LOCAL_RANK: {local_rank} - CUDA_VISIBLE_DEVICES: [{devices}]")

    def get_device_stats(self, device: _DEVICE) -> dict[str, Any]:
        return torch.cuda.memory_stats(device)

    def teardown(self) -> None:
        torch.cuda.empty_cache()

    @staticmethod
    def parse_devices(devices: Union[int, str, list[int]]) -> Optional[list[int]]:
        return _parse_gpu_ids(devices)

    @staticmethod
    def get_parallel_devices(devices: list[int]) -> list[torch.device]:
        return [torch.device("cuda", i) for i in devices]

    @staticmethod
    def auto_device_count() -> int:
        return num_cuda_devices()

    @staticmethod
    def is_available() -> bool:
        return num_cuda_devices() > 0

    @staticmethod
    def name() -> str:
        return "cuda"

    @classmethod
    def register_accelerators(cls, accelerator_registry: Any) -> None:
        accelerator_registry.register(cls.name(), cls, description=cls.__name__)


def get_nvidia_gpu_stats(device: _DEVICE) -> dict[str, float]:
    """Utilization, memory, fan speed and temperatures of a GPU, read from ``nvidia-smi``.

    Raises:
        FileNotFoundError: ``nvidia-smi`` is not on the PATH.
    """
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise FileNotFoundError("nvidia-smi: command not found")
    metrics = [("utilization.gpu", "%"), ("memory.used", "MB"), ("memory.free", "MB"), ("utilization.memory", "%"),
               ("fan.speed", "%"), ("temperature.gpu", "°C"), ("temperature.memory", "°C")]
    index = torch._utils._get_device_index(device)
    # nvidia-smi numbers devices physically; map through CUDA_VISIBLE_DEVICES
    visible = os.getenv("CUDA_VISIBLE_DEVICES", ",".join(str(i) for i in _visible_devices())).split(",")
    out = subprocess.run([smi, f"--query-gpu={','.join(k for k, _ in metrics)}", "--format=csv,nounits,noheader",
                          f"--id={visible[index].strip()}"], encoding="utf-8", capture_output=True, check=True)

    def number(text: str) -> float:
        try:
            return float(text)
        except ValueError:  # "[N/A]" for sensors a card lacks
            return 0.0

    values = [number(x) for x in out.stdout.strip().split(", ")]
    return {f"{key} ({unit})": value for (key, unit), value in zip(metrics, values)}


def is_cuda_available() -> bool:
    """Whether CUDA can be used here."""
    return torch.cuda.is_available()
