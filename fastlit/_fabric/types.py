"""``lightning.fabric.utilities.types`` (Lightning 2.6.6): the type aliases and protocols libraries import."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, Optional, Protocol, TypeVar, Union, runtime_checkable

import torch
from torch import Tensor

from fastlit.utilities.types import _PATH, Optimizable, Steppable  # noqa: F401

UntypedStorage = torch.UntypedStorage
_DEVICE = Union[torch.device, str, int]
_MAP_LOCATION_TYPE = Optional[
    Union[_DEVICE, Callable[[UntypedStorage, str], Optional[UntypedStorage]], dict[_DEVICE, _DEVICE]]
]
_PARAMETERS = Iterator[torch.nn.Parameter]
_DictKey = TypeVar("_DictKey")

if torch.distributed.is_available():
    from torch.distributed import ProcessGroup, ReduceOp

    RedOpType = ReduceOp.RedOpType
else:  # pragma: no cover - builds without torch.distributed
    ProcessGroup = Any  # type: ignore[assignment,misc]
    ReduceOp = object  # type: ignore[assignment,misc]
    RedOpType = object  # type: ignore[assignment,misc]


@runtime_checkable
class _Stateful(Protocol[_DictKey]):
    """Anything with ``state_dict()`` and ``load_state_dict()``."""

    def state_dict(self) -> dict[_DictKey, Any]: ...

    def load_state_dict(self, state_dict: dict[_DictKey, Any]) -> None: ...


@runtime_checkable
class CollectibleGroup(Protocol):
    def size(self) -> int: ...

    def rank(self) -> int: ...


__all__ = ["_PATH", "_DEVICE", "_MAP_LOCATION_TYPE", "_PARAMETERS", "_Stateful", "CollectibleGroup", "Steppable",
           "Optimizable", "ProcessGroup", "ReduceOp", "RedOpType", "Tensor"]
