"""Type aliases users import from ``lightning.pytorch.utilities.types``."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Optional, Union

import torch
from torch import Tensor

_NUMBER = Union[int, float]
_METRIC = Union[Tensor, _NUMBER]
STEP_OUTPUT = Optional[Union[Tensor, Mapping[str, Any]]]
EVAL_DATALOADERS = Any
TRAIN_DATALOADERS = Any
_EVALUATE_OUTPUT = list[Mapping[str, float]]
_PREDICT_OUTPUT = Union[list[Any], list[list[Any]]]
LRSchedulerTypeUnion = Any
LRScheduler = torch.optim.lr_scheduler.LRScheduler
ReduceLROnPlateau = torch.optim.lr_scheduler.ReduceLROnPlateau
OptimizerLRScheduler = Any
_PATH = Union[str, "os.PathLike[str]"]
