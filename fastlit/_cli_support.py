"""What ``LightningCLI`` (``fastlit._lightning_cli``) builds on and ``fastlit.cli`` exports: the parser class
(or, without jsonargparse, a stand-in that names the extra to install), ``SaveConfigCallback`` and the
instantiation helpers. Public path: ``fastlit.cli``."""
from __future__ import annotations

import os
from typing import Any, Optional, Union

from fastlit import Callback, LightningModule, Trainer
from fastlit._cli_types import ModuleType
from fastlit.utilities.cloud_io import get_filesystem
from fastlit.utilities.model_helpers import is_overridden

_MISSING_EXTRA = ("LightningCLI needs jsonargparse with its signatures extra (jsonargparse[signatures]>=4.39.0), which "
                  "is not installed: `pip install 'fastlit[cli]'`")
try:
    from jsonargparse import ArgumentParser, Namespace

    from fastlit._cli_parser import LightningArgumentParser

    _JSONARGPARSE_AVAILABLE = True
except ImportError as _err:
    _JSONARGPARSE_AVAILABLE = False
    _IMPORT_ERROR = _err
    Namespace = ArgumentParser = object  # type: ignore[misc,assignment]  # so the annotations below still resolve

    class LightningArgumentParser:  # type: ignore[no-redef]
        """Lightning's argument parser; needs jsonargparse: ``pip install 'fastlit[cli]'``."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ModuleNotFoundError(_MISSING_EXTRA) from _IMPORT_ERROR

LightningArgumentParser.__module__ = "fastlit.cli"  # one public path, as in Lightning (configs and reprs name it)

ArgsType = Optional[Union[list[str], dict[str, Any], Namespace]]


class SaveConfigCallback(Callback):
    """Writes the CLI's parsed config into the Trainer's ``log_dir`` (``config.yaml``) when a run sets up.

    Args:
        parser: the parser that parsed ``config`` (it writes the file).
        config: the parsed config to save.
        config_filename: the file's name in ``log_dir``.
        overwrite: replace an existing file; otherwise an existing file raises ``RuntimeError`` so that a new run
            never silently overwrites the record of an earlier one.
        multifile: when the input was several config files, keep that structure in the saved config.
        save_to_log_dir: write to ``log_dir``; False only makes sense in a subclass whose ``save_config`` saves it
            somewhere else.
    """

    def __init__(self, parser: LightningArgumentParser, config: Namespace, config_filename: str = "config.yaml",
                 overwrite: bool = False, multifile: bool = False, save_to_log_dir: bool = True) -> None:
        self.parser = parser
        self.config = config
        self.config_filename = config_filename
        self.overwrite = overwrite
        self.multifile = multifile
        self.save_to_log_dir = save_to_log_dir
        self.already_saved = False
        if not save_to_log_dir and not is_overridden("save_config", self, SaveConfigCallback):
            raise ValueError(
                "`save_to_log_dir=False` only makes sense when subclassing SaveConfigCallback to implement "
                "`save_config` and it is desired to disable the standard behavior of saving to log_dir.")

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.already_saved:  # fit then test in one script: the first setup wrote it
            return
        if self.save_to_log_dir:
            self._write(trainer)
        if trainer.is_global_zero:
            self.save_config(trainer, pl_module, stage)
            self.already_saved = True
        # every rank learns that rank zero saved, so later setup() calls return early everywhere
        self.already_saved = trainer.strategy.broadcast(self.already_saved)

    def _write(self, trainer: Trainer) -> None:
        log_dir = trainer.log_dir
        assert log_dir is not None
        path = os.path.join(log_dir, self.config_filename)
        fs = get_filesystem(log_dir)
        if not self.overwrite:
            # rank zero looks, every rank raises alike (else the others would hang in the next collective)
            exists = trainer.strategy.broadcast(fs.isfile(path) if trainer.is_global_zero else False)
            if exists:
                raise RuntimeError(
                    f"{self.__class__.__name__} expected {path} to NOT exist. Aborting to avoid overwriting results "
                    "of a previous run. You can delete the previous config file, set "
                    "`LightningCLI(save_config_callback=None)` to disable config saving, or set "
                    '`LightningCLI(save_config_kwargs={"overwrite": True})` to overwrite the config file.')
        if trainer.is_global_zero:  # one writer; log_dir may not exist yet (nothing was logged so far)
            fs.makedirs(log_dir, exist_ok=True)
            self.parser.save(self.config, path, skip_none=False, overwrite=self.overwrite, multifile=self.multifile)

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Override to save the config somewhere else too (e.g. ``trainer.logger.log_hyperparams``). Runs on rank
        zero only, so it must not call collectives."""


def instantiate_class(args: Union[Any, tuple[Any, ...]], init: dict[str, Any]) -> Any:
    """``init["class_path"]`` (``"torch.optim.Adam"``) called with ``args`` (one value or a tuple) and
    ``init["init_args"]`` as keyword arguments -- how a config's ``{"class_path":..., "init_args":...}`` becomes
    an object, e.g. ``instantiate_class(self.parameters(), optimizer_init)``.

    Args:
        args: the positional arguments (the parameters for an optimizer, the optimizer for a scheduler).
        init: ``{"class_path": "pkg.Class", "init_args": {...}}``.
    """
    kwargs = init.get("init_args", {})
    if not isinstance(args, tuple):
        args = (args,)
    module_name, class_name = init["class_path"].rsplit(".", 1)
    module = __import__(module_name, fromlist=[class_name])
    return getattr(module, class_name)(*args, **kwargs)


def instantiate_module(class_type: type[ModuleType], config: dict[str, Any]) -> ModuleType:
    """Build a module/datamodule from the hyperparameters a CLI run saved in its checkpoint (what
    ``load_from_checkpoint`` calls for such a checkpoint): nested ``class_path`` configs become objects again.

    Args:
        class_type: the class ``load_from_checkpoint`` was called on.
        config: the saved hyperparameters; a ``_class_path`` key names the subclass that was trained.
    """
    if not _JSONARGPARSE_AVAILABLE:
        raise ModuleNotFoundError(_MISSING_EXTRA) from _IMPORT_ERROR
    parser = ArgumentParser(exit_on_error=False)
    if "_class_path" in config:
        parser.add_subclass_arguments(class_type, "module", fail_untyped=False)
        config = {"class_path": config["_class_path"],
                  "dict_kwargs": {k: v for k, v in config.items() if k != "_class_path"}}
    else:
        parser.add_class_arguments(class_type, "module", fail_untyped=False)
    return parser.instantiate_classes(parser.parse_object({"module": config})).module


