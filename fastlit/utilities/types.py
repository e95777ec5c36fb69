"""Type aliases users import from ``lightning.pytorch.utilities.types``."""
from __future__ import annotations

import os
from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional, Protocol, TypedDict, Union, runtime_checkable

import torch
from torch import Tensor
from torch.optim import Optimizer
from typing_extensions import NotRequired, Required

_NUMBER = Union[int, float]
_METRIC = Union[Tensor, _NUMBER]
STEP_OUTPUT = Optional[Union[Tensor, Mapping[str, Any]]]
EVAL_DATALOADERS = Any
TRAIN_DATALOADERS = Any
_EVALUATE_OUTPUT = list[Mapping[str, float]]
_PREDICT_OUTPUT = Union[list[Any], list[list[Any]]]
LRScheduler = torch.optim.lr_scheduler.LRScheduler
ReduceLROnPlateau = torch.optim.lr_scheduler.ReduceLROnPlateau
LRSchedulerTypeTuple = (LRScheduler, ReduceLROnPlateau)
LRSchedulerTypeUnion = Union[LRScheduler, ReduceLROnPlateau]
LRSchedulerType = Union[type[LRScheduler], type[ReduceLROnPlateau]]
LRSchedulerPLType = Union[LRScheduler, ReduceLROnPlateau]
_PATH = Union[str, "os.PathLike[str]"]


@runtime_checkable
class DistributedDataParallel(Protocol):
    """What a DDP-like wrapper looks like (for type hints; ``isinstance`` checks the methods)."""

    def __init__(self, module: torch.nn.Module, device_ids: Optional[list[Union[int, torch.device]]] = None,
                 output_device: Optional[Union[int, torch.device]] = None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group: Optional[Any] = None, bucket_cap_mb: int = 25,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False) -> None: ...

    @contextmanager
    def no_sync(self) -> Generator: ...


@dataclass
class LRSchedulerConfig:
    """One LR scheduler and when to step it (what ``trainer.lr_scheduler_configs`` holds)."""

    scheduler: Any
    name: Optional[str] = None  # the LearningRateMonitor key; None: derived from the scheduler
    interval: str = "epoch"  # "epoch" or "step"
    frequency: int = 1  # step every `frequency` intervals
    reduce_on_plateau: bool = False
    monitor: Optional[str] = None  # the metric a ReduceLROnPlateau steps on
    strict: bool = True  # a missing monitor is an error (else a warning)


class LRSchedulerConfigType(TypedDict, total=False):
    scheduler: Required[LRSchedulerTypeUnion]
    name: Optional[str]
    interval: str
    frequency: int
    reduce_on_plateau: bool
    monitor: Optional[str]
    strict: bool


class OptimizerConfig(TypedDict):
    optimizer: Optimizer


class OptimizerLRSchedulerConfig(TypedDict):
    optimizer: Optimizer
    lr_scheduler: Union[LRSchedulerTypeUnion, LRSchedulerConfigType]
    monitor: NotRequired[str]


# what `configure_optimizers` may return
OptimizerLRScheduler = Optional[Union[
    Optimizer, Sequence[Optimizer],
    tuple[Sequence[Optimizer], Sequence[Union[LRSchedulerTypeUnion, LRSchedulerConfig]]], OptimizerConfig,
    OptimizerLRSchedulerConfig, Sequence[OptimizerConfig], Sequence[OptimizerLRSchedulerConfig],
]]


@runtime_checkable
class Steppable(Protocol):
    """Anything with ``step(closure=None)`` (an optimizer, for type hints)."""

    def step(self, closure: Optional[Any] = ...) -> Optional[float]: ...


@runtime_checkable
class Optimizable(Steppable, Protocol):
    """What the loops need of an optimizer."""

    param_groups: list[dict[Any, Any]]
    defaults: dict[Any, Any]
    state: Any

    def state_dict(self) -> dict[str, dict[Any, Any]]: ...

    def load_state_dict(self, state_dict: dict[str, dict[Any, Any]]) -> None: ...
