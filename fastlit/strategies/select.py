"""``Trainer(accelerator=, devices=, num_nodes=, strategy=)`` -> one Strategy object (Lightning's rules)."""
from __future__ import annotations

import os
from typing import Any, Union

import torch

from fastlit.strategies.ddp import DDPStrategy, launched_externally
from fastlit.strategies.single_device import SingleDeviceStrategy, Strategy
from fastlit.utilities.exceptions import MisconfigurationException

_DDP_NAMES = {
    "ddp": {}, "ddp_spawn": {"start_method": "spawn"}, "ddp_fork": {"start_method": "fork"},
    "ddp_notebook": {"start_method": "fork"},
    "ddp_find_unused_parameters_true": {"find_unused_parameters": True},
    "ddp_find_unused_parameters_false": {"find_unused_parameters": False},
    "ddp_spawn_find_unused_parameters_true": {"start_method": "spawn", "find_unused_parameters": True},
}


def _accelerator(accelerator: Any) -> str:
    acc = accelerator if isinstance(accelerator, str) else getattr(accelerator, "name", str(accelerator))
    if callable(acc):  # an Accelerator object (fastlit.accelerators): its static name()
        acc = acc()
    acc = acc.lower()
    if acc not in ("auto", "cpu", "gpu", "cuda", "mps", "tpu"):
        raise MisconfigurationException(
            f"You selected an invalid accelerator name: `accelerator={accelerator!r}`. Available names are: "
            "auto, cpu, cuda, gpu.")
    if acc == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if acc in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise MisconfigurationException(
                "`Trainer(accelerator='gpu')` was requested but CUDA is not available on this machine. "
                "Use `accelerator='cpu'` (or 'auto').")
        return "cuda"
    if acc == "cpu":
        return "cpu"
    raise MisconfigurationException(f"`accelerator={acc!r}` is not supported by fastlit; use 'cpu' or 'cuda'.")


def _device_ids(acc: str, devices: Union[int, str, list[int]]) -> list[int]:
    """Which device indices this node uses (for CPU: one entry per process)."""
    if isinstance(devices, str):
        d = devices.strip()
        if d == "auto":
            if launched_externally() and "LOCAL_WORLD_SIZE" in os.environ:
                return list(range(int(os.environ["LOCAL_WORLD_SIZE"])))
            return [0] if acc == "cpu" else list(range(torch.cuda.device_count()))[:1] or [0]
        devices = [int(x) for x in d.split(",") if x.strip()] if "," in d else int(d)
    if isinstance(devices, (list, tuple)):
        ids = [int(i) for i in devices]
        if not ids:
            raise MisconfigurationException("`devices=[]` selects no device; pass e.g. `devices=1`.")
        if acc == "cuda" and max(ids) >= torch.cuda.device_count():
            raise MisconfigurationException(
                f"`devices={list(devices)}` asks for GPU {max(ids)} but only {torch.cuda.device_count()} are visible.")
        return ids
    n = int(devices)
    if n == -1:
        n = torch.cuda.device_count() if acc == "cuda" else (os.cpu_count() or 1)
    if n < 1:
        raise MisconfigurationException(f"`devices={devices!r}` must be a positive int, -1, 'auto' or a list of ids.")
    if acc == "cuda" and n > torch.cuda.device_count():
        raise MisconfigurationException(
            f"`devices={n}` GPUs were requested but only {torch.cuda.device_count()} are visible.")
    return list(range(n))


def select_strategy(accelerator: Any, strategy: Any, devices: Any, num_nodes: int) -> tuple[str, Strategy]:
    """Return the accelerator name and a configured Strategy."""
    acc = _accelerator(accelerator)
    ids = _device_ids(acc, devices)
    torch_devices = [torch.device("cuda", i) if acc == "cuda" else torch.device("cpu") for i in ids]
    if isinstance(strategy, DDPStrategy):
        strategy.configure(torch_devices, num_nodes)
        return acc, strategy
    if isinstance(strategy, SingleDeviceStrategy):
        return acc, strategy
    name = "auto" if strategy is None else str(strategy).lower()
    if name in _DDP_NAMES or (name == "auto" and (len(ids) > 1 or num_nodes > 1)):
        s = DDPStrategy(**_DDP_NAMES.get(name, {}))
        s.configure(torch_devices, num_nodes)
        return acc, s
    if name in ("auto", "single_device"):
        if len(ids) > 1:
            raise MisconfigurationException(f"strategy='single_device' uses one device; got devices={devices!r}.")
        return acc, SingleDeviceStrategy(torch_devices[0])
    from fastlit.strategies import StrategyRegistry

    if name in StrategyRegistry:  # a name registered with StrategyRegistry.register(...)
        s = StrategyRegistry.get(name)
        if isinstance(s, DDPStrategy):
            s.configure(torch_devices, num_nodes)
        return acc, s
    raise MisconfigurationException(
        f"`Trainer(strategy={strategy!r})` is not supported. Use 'auto', 'single_device', 'ddp', 'ddp_spawn', "
        "'ddp_find_unused_parameters_true' or a DDPStrategy(...) instance (fsdp/deepspeed are not available).")
