"""fastlit: a PyTorch-Lightning-compatible trainer whose hot paths are C++/CUDA kernels.

``import fastlit as pl`` in a Lightning 2.x script and it runs. Heavy optional imports (tensorboard, tqdm) happen
only when used.
"""
import logging as _logging

from fastlit.__about__ import __version__
from fastlit.callbacks.callback import Callback
from fastlit.core.datamodule import LightningDataModule
from fastlit.core.module import LightningModule
from fastlit.trainer.trainer import Trainer
from fastlit.utilities.imports import module_available  # noqa: F401  (Lightning exports these at the top level)
from fastlit.utilities.seed import seed_everything
from fastlit.utilities.warnings import disable_possible_user_warnings  # noqa: F401

# Info lines (fit stopped, seed set, model summary) go to stderr like Lightning's. Lightning's rule: when the root
# logger already has handlers (the program configured logging first), the lines propagate to them instead.
_logger = _logging.getLogger("fastlit")
_logger.setLevel(_logging.INFO)
if not _logging.getLogger().hasHandlers() and not _logger.handlers:
    _logger.addHandler(_logging.StreamHandler())
    _logger.propagate = False

Module = LightningModule
DataModule = LightningDataModule

# The banner Lightning's example scripts print (`cli_lightning_logo()`); fastlit's own bolt.
LIGHTNING_LOGO: str = r"""
         ________
        /       /
       /       /
      /       /_____
     /_____        /
          /       /
         /     __/
        /   __/
       / __/
      /_/
"""


def cli_lightning_logo() -> None:
    """Print the logo (in magenta where the terminal supports colour)."""
    print()
    print("\033[0;35m" + LIGHTNING_LOGO + "\033[0m")
    print()


def as_lightning() -> None:
    """Make ``pytorch_lightning``, ``lightning.pytorch`` and ``lightning`` (and their submodules) resolve to
    fastlit for the rest of this program, so libraries that import Lightning themselves run on fastlit.

    Call it before anything imports Lightning (or run ``python -m fastlit.run script.py``). Names resolve to the
    same module objects (``pytorch_lightning.LightningModule is fastlit.LightningModule``); a module fastlit lacks
    raises ``ModuleNotFoundError``, never falling back to the real Lightning. Raises ``RuntimeError`` if real
    Lightning is already imported. Later calls do nothing.
    """
    from fastlit._lightning_alias import install  # the import hook stays out of `import fastlit`

    install()


from fastlit import callbacks, loggers, plugins, profilers, strategies  # noqa: E402  (submodules users import from)

__all__ = [
    "Callback", "DataModule", "LightningDataModule", "LightningModule", "Module", "Trainer", "__version__",
    "as_lightning", "callbacks", "loggers", "plugins", "profilers", "seed_everything", "strategies",
]
