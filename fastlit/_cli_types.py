"""Types shared by ``fastlit.cli``'s parts (the parser, the CLI, the public module): the learning-rate scheduler
types a config may name, and callables for optimizers/schedulers. No jsonargparse needed."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, TypeVar, Union

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

ModuleType = TypeVar("ModuleType")


class ReduceLROnPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """torch's ``ReduceLROnPlateau`` that also names the metric it steps on (``monitor``), so a scheduler built
    from a config carries it to the Trainer."""

    def __init__(self, optimizer: Optimizer, monitor: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(optimizer, *args, **kwargs)
        self.monitor = monitor


# the CLI takes this ReduceLROnPlateau (it knows its monitor), not torch's
LRSchedulerTypeTuple = (LRScheduler, ReduceLROnPlateau)
LRSchedulerTypeUnion = Union[LRScheduler, ReduceLROnPlateau]
LRSchedulerType = Union[type[LRScheduler], type[ReduceLROnPlateau]]
# aliases for annotating what a CLI-configured module receives
OptimizerCallable = Callable[[Iterable], Optimizer]
LRSchedulerCallable = Callable[[Optimizer], Union[LRScheduler, ReduceLROnPlateau]]
ReduceLROnPlateau.__module__ = "fastlit.cli"  # its public path (a saved config names it), as in Lightning
