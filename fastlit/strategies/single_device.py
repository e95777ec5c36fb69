"""The strategy for one process on one device (the only one so far; DDP is a separate issue)."""
from __future__ import annotations

from typing import Any, Optional

import torch


class Strategy:
    """Where the model lives and how processes talk; one process here, so collectives are identities."""

    def __init__(self, device: Optional[torch.device] = None) -> None:
        self._root_device = torch.device(device) if device is not None else torch.device("cpu")

    @property
    def root_device(self) -> torch.device:
        return self._root_device

    @property
    def is_global_zero(self) -> bool:
        return True

    @property
    def global_rank(self) -> int:
        return 0

    @property
    def local_rank(self) -> int:
        return 0

    @property
    def node_rank(self) -> int:
        return 0

    def launch(self) -> None:
        """Start other processes / join a process group (nothing to do on one device)."""

    def wrap(self, module: Any) -> Optional[Any]:
        """The object whose forward runs ``training_step`` (None: call the module's method directly)."""
        return None

    def record_failure(self, exc: BaseException) -> None:
        """Nothing to tell other ranks."""

    @property
    def world_size(self) -> int:
        return 1

    def barrier(self, name: Optional[str] = None) -> None:
        """Nothing to wait for with one process."""

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        return obj

    def reduce(self, tensor: Any, group: Optional[Any] = None, reduce_op: Optional[str] = "mean") -> Any:
        return tensor

    def all_gather(self, tensor: Any, group: Optional[Any] = None, sync_grads: bool = False) -> Any:
        return tensor

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return decision


class SingleDeviceStrategy(Strategy):
    """Train on one device in this process.

    Args:
        device: the device, e.g. ``"cpu"`` or ``"cuda:0"``.
    """

    strategy_name = "single_device"


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "CheckpointIO": "fastlit.checkpoint.io",
    "Precision": "fastlit.plugins.precision.precision",
    "TBroadcast": "fastlit.strategies.strategy",
})
