"""Lightning's command line: ``LightningCLI`` builds the parser from the Trainer's, the model's and the datamodule's
``__init__`` signatures, reads YAML configs and command-line arguments, and runs ``fit``/``validate``/``test``/
``predict`` -- Lightning 2.6.6's names, arguments, defaults and files, on fastlit's Trainer.

It is built on jsonargparse (Lightning's choice), an optional dependency: ``pip install 'fastlit[cli]'``. Importing
this module works without it (scripts import more than they use); creating a parser or a CLI then raises an
ImportError naming the extra. ``import fastlit`` never imports this module.

fastlit's own command line (``fastlit bench``) is ``fastlit._cli``.
"""
from __future__ import annotations

# Lightning's module exports these names too (scripts import them from here); the code lives in the modules below
# it (types -> parser -> support -> LightningCLI), so none of them imports this one back.
import os  # noqa: F401
from collections.abc import Iterable  # noqa: F401
from typing import Any, Callable, Optional, TypeVar, Union  # noqa: F401

import torch  # noqa: F401
from torch.optim import Optimizer  # noqa: F401
from torch.optim.lr_scheduler import LRScheduler  # noqa: F401

from fastlit import Callback, LightningDataModule, LightningModule, Trainer, seed_everything  # noqa: F401
from fastlit._cli_support import (_JSONARGPARSE_AVAILABLE, _MISSING_EXTRA, ArgsType, ArgumentParser,  # noqa: F401
                                  LightningArgumentParser, Namespace, SaveConfigCallback, instantiate_class,
                                  instantiate_module)
from fastlit._cli_types import (LRSchedulerCallable, LRSchedulerType, LRSchedulerTypeTuple,  # noqa: F401
                                LRSchedulerTypeUnion, ModuleType, OptimizerCallable, ReduceLROnPlateau)
from fastlit._lightning_cli import LightningCLI  # noqa: F401
from fastlit.utilities.cloud_io import get_filesystem  # noqa: F401
from fastlit.utilities.exceptions import MisconfigurationException  # noqa: F401
from fastlit.utilities.imports import RequirementCache  # noqa: F401
from fastlit.utilities.model_helpers import is_overridden  # noqa: F401
from fastlit.utilities.rank_zero import rank_zero_warn  # noqa: F401
