"""Lightning's ``cli`` module path: ``LightningCLI`` and its helpers.

``LightningCLI``, ``LightningArgumentParser``, ``SaveConfigCallback`` and ``instantiate_module`` (all built on
jsonargparse) are placeholders until issue #15 lands: importing them works, using them raises an error saying so.
The rest is real: ``ReduceLROnPlateau`` (with the ``monitor`` the CLI needs), ``instantiate_class`` and the
type aliases CLI-configured code annotates with.

fastlit's own command line (``fastlit bench``) is ``fastlit._cli``.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, Optional, TypeVar, Union

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from fastlit import Callback, LightningDataModule, LightningModule, Trainer, seed_everything  # noqa: F401
from fastlit._placeholders import placeholder_class, placeholder_function
from fastlit.utilities.cloud_io import get_filesystem  # noqa: F401  (Lightning's module exports these)
from fastlit.utilities.exceptions import MisconfigurationException  # noqa: F401
from fastlit.utilities.imports import RequirementCache  # noqa: F401
from fastlit.utilities.model_helpers import is_overridden  # noqa: F401
from fastlit.utilities.rank_zero import rank_zero_warn  # noqa: F401

ModuleType = TypeVar("ModuleType")


class ReduceLROnPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """torch's ``ReduceLROnPlateau`` that also names the metric it steps on (``monitor``), so a scheduler built
    from a config carries it to the Trainer."""

    def __init__(self, optimizer: Optimizer, monitor: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(optimizer, *args, **kwargs)
        self.monitor = monitor


LRSchedulerTypeTuple = (LRScheduler, ReduceLROnPlateau)
LRSchedulerTypeUnion = Union[LRScheduler, ReduceLROnPlateau]
LRSchedulerType = Union[type[LRScheduler], type[ReduceLROnPlateau]]
ArgsType = Optional[Union[list[str], dict[str, Any], Any]]  # Any: jsonargparse's Namespace
OptimizerCallable = Callable[[Iterable], Optimizer]
LRSchedulerCallable = Callable[[Optimizer], Union[LRScheduler, ReduceLROnPlateau]]


def instantiate_class(args: Union[Any, tuple[Any, ...]], init: dict[str, Any]) -> Any:
    """``init["class_path"]`` (``"torch.optim.Adam"``) called with ``args`` (one value or a tuple) and
    ``init["init_args"]`` as keyword arguments -- how a config's ``{"class_path":..., "init_args":...}`` becomes
    an object, e.g. ``instantiate_class(self.parameters(), optimizer_init)``."""
    kwargs = init.get("init_args", {})
    if not isinstance(args, tuple):
        args = (args,)
    module_name, class_name = init["class_path"].rsplit(".", 1)
    module = __import__(module_name, fromlist=[class_name])
    return getattr(module, class_name)(*args, **kwargs)


_MISSING = "LightningCLI is not available in fastlit yet (issue #15 builds it on jsonargparse)"
_INSTEAD = ("Build the Trainer and your modules in the script (e.g. argparse + fastlit.Trainer(...)), or run this "
            "command-line entry point with Lightning for now.")

LightningCLI = placeholder_class(__name__, "LightningCLI", _MISSING, _INSTEAD,
                                 doc="Lightning's command line from class signatures and config files.")
LightningArgumentParser = placeholder_class(__name__, "LightningArgumentParser", _MISSING, _INSTEAD)
SaveConfigCallback = placeholder_class(__name__, "SaveConfigCallback", _MISSING, _INSTEAD, bases=(Callback,))
instantiate_module = placeholder_function(__name__, "instantiate_module", _MISSING, _INSTEAD)

