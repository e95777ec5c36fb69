"""``Strategy``: the base of all strategies (Lightning's path; the class lives in ``single_device``)."""
import logging
from typing import TypeVar

from fastlit.checkpoint.io import CheckpointIO, TorchCheckpointIO  # noqa: F401  (Lightning's module exports these)
from fastlit.core.optimizer import LightningOptimizer  # noqa: F401
from fastlit.plugins.precision import Precision  # noqa: F401
from fastlit.strategies.single_device import Strategy  # noqa: F401
from fastlit.trainer.states import TrainerFn  # noqa: F401
from fastlit.utilities.apply_func import move_data_to_device  # noqa: F401
from fastlit.utilities.types import LRSchedulerConfig  # noqa: F401

TBroadcast = TypeVar("TBroadcast")
TReduce = TypeVar("TReduce")

log = logging.getLogger(__name__)
