"""``LightningArgumentParser``: jsonargparse's parser that knows fastlit's classes, optimizers and schedulers.

Only ``fastlit.cli`` imports this module, and only when jsonargparse is installed (the ``cli`` extra), so that
``import fastlit`` never pays for jsonargparse and ``import fastlit.cli`` works without it (as Lightning's does):
the parser is then a stand-in whose construction raises the ImportError naming the extra.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

import docstring_parser
import torch
from jsonargparse import ArgumentParser, Namespace, class_from_function, register_unresolvable_import_paths
from torch.optim import Optimizer

from fastlit import Callback, LightningDataModule, LightningModule, Trainer
from fastlit._cli_types import LRSchedulerTypeTuple
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import rank_zero_warn

# torch's classes report a __module__ that is not importable (e.g. torch.optim.adam.Adam says "torch.optim.adam",
# fine, but some C-level types do not); jsonargparse then needs to find them by import path: Lightning does the same
register_unresolvable_import_paths(torch)
try:  # config files may live on any fsspec filesystem (s3://...), as in Lightning
    from jsonargparse import set_parsing_settings

    set_parsing_settings(config_read_mode_fsspec_enabled=True)
except ImportError:  # jsonargparse < 4.39 names the setting differently
    from jsonargparse import set_config_read_mode

    set_config_read_mode(fsspec_enabled=True)

# a registered optimizer/scheduler group: (the class or tuple of classes allowed, the key it is linked to)
_Registered = dict[str, tuple[Union[type, tuple[type, ...]], str]]


class LightningArgumentParser(ArgumentParser):
    """jsonargparse's ``ArgumentParser`` with helpers that add the arguments of fastlit's classes, optimizers and
    learning-rate schedulers to a nested key.

    Args:
        *args: passed to jsonargparse's ``ArgumentParser``.
        description: the tool's description shown by ``--help``.
        env_prefix: prefix of the environment variables read when ``default_env=True`` (``PL_TRAINER__MAX_EPOCHS``).
        default_env: whether environment variables set the arguments.
        **kwargs: passed to jsonargparse's ``ArgumentParser``.
    """

    def __init__(self, *args: Any, description: str = "Lightning Trainer command line tool", env_prefix: str = "PL",
                 default_env: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, description=description, env_prefix=env_prefix, default_env=default_env, **kwargs)
        self.callback_keys: list[str] = []  # nested keys of Callback groups: the CLI gives them to the Trainer
        # kept apart so the CLI knows which optimizer/scheduler groups exist and how they are linked
        self._optimizers: _Registered = {}
        self._lr_schedulers: _Registered = {}

    def add_lightning_class_args(self, lightning_class: Union[Callable[..., Any], type], nested_key: str,
                                 subclass_mode: bool = False, required: bool = True) -> list[str]:
        """Add the ``__init__`` arguments of a Trainer, LightningModule, LightningDataModule or Callback (class, or a
        function returning one) under ``nested_key``; returns the names added.

        Args:
            lightning_class: the class, or a callable whose return annotation is one of those classes.
            nested_key: the key the arguments go under (``"model"`` gives ``--model.hidden_dim``).
            subclass_mode: accept any subclass, chosen with ``class_path`` (``--model=mypkg.MyModel``).
            required: whether the group must be given (only in subclass mode).
        """
        if callable(lightning_class) and not isinstance(lightning_class, type):
            lightning_class = class_from_function(lightning_class)
        if not (isinstance(lightning_class, type)
                and issubclass(lightning_class, (Trainer, LightningModule, LightningDataModule, Callback))):
            raise MisconfigurationException(
                f"Cannot add arguments from: {lightning_class}. You should provide either a callable or a subclass "
                "of: Trainer, LightningModule, LightningDataModule, or Callback.")
        if issubclass(lightning_class, Callback):
            self.callback_keys.append(nested_key)
        if subclass_mode:
            return self.add_subclass_arguments(lightning_class, nested_key, fail_untyped=False, required=required)
        if not issubclass(lightning_class, Trainer):
            return self.add_class_arguments(lightning_class, nested_key, fail_untyped=False, sub_configs=True)
        # the Trainer is built by the CLI itself (it adds the callbacks): only its arguments are parsed, through
        # the stand-in with precise types when its __init__ is fastlit's own (see _cli_trainer)
        if lightning_class.__init__ is Trainer.__init__:
            from fastlit._cli_trainer import trainer_arguments

            lightning_class = trainer_arguments(lightning_class)
        return self.add_class_arguments(lightning_class, nested_key, fail_untyped=False, instantiate=False,
                                        sub_configs=True)

    def add_optimizer_args(self, optimizer_class: Union[type[Optimizer], tuple[type[Optimizer], ...]] = (Optimizer,),
                           nested_key: str = "optimizer", link_to: str = "AUTOMATIC") -> None:
        """Add an optimizer's arguments (without ``params``) under ``nested_key``.

        Args:
            optimizer_class: an optimizer class, or a tuple of base classes to accept any subclass of.
            nested_key: the key the arguments go under.
            link_to: a parser key the optimizer's ``{"class_path", "init_args"}`` is linked to, or ``"AUTOMATIC"``
                (the CLI builds it and gives the model a ``configure_optimizers``).
        """
        classes = optimizer_class if isinstance(optimizer_class, tuple) else (optimizer_class,)
        assert all(issubclass(c, Optimizer) for c in classes)
        self._add_unbuilt(optimizer_class, nested_key, skip={"params"})
        self._optimizers[nested_key] = (optimizer_class, link_to)

    def add_lr_scheduler_args(self, lr_scheduler_class: Union[type, tuple[type, ...]] = None,  # type: ignore[assignment]
                              nested_key: str = "lr_scheduler", link_to: str = "AUTOMATIC") -> None:
        """Add a learning-rate scheduler's arguments (without ``optimizer``) under ``nested_key``.

        Args:
            lr_scheduler_class: an ``LRScheduler`` or ``fastlit.cli.ReduceLROnPlateau`` class, or a tuple of base
                classes to accept any subclass of (default: both).
            nested_key: the key the arguments go under.
            link_to: a parser key the scheduler is linked to, or ``"AUTOMATIC"``.
        """
        if lr_scheduler_class is None:
            lr_scheduler_class = LRSchedulerTypeTuple
        classes = lr_scheduler_class if isinstance(lr_scheduler_class, tuple) else (lr_scheduler_class,)
        assert all(issubclass(c, LRSchedulerTypeTuple) for c in classes)
        self._add_unbuilt(lr_scheduler_class, nested_key, skip={"optimizer"})
        self._lr_schedulers[nested_key] = (lr_scheduler_class, link_to)

    def _add_unbuilt(self, cls: Union[type, tuple[type, ...]], nested_key: str, skip: set[str]) -> None:
        # optimizers and schedulers need the model's parameters / the optimizer: the parser only records their
        # configuration (instantiate=False) and the CLI builds them
        kwargs: dict[str, Any] = {"instantiate": False, "fail_untyped": False, "skip": skip}
        if isinstance(cls, tuple):
            self.add_subclass_arguments(cls, nested_key, **kwargs)
        else:
            self.add_class_arguments(cls, nested_key, sub_configs=True, **kwargs)


def short_description(component: object) -> Optional[str]:
    """The first line of ``component``'s docstring (a subcommand's help), None when it has none."""
    if component.__doc__ is None:
        return None
    try:
        return docstring_parser.parse(component.__doc__).short_description
    except (ValueError, docstring_parser.ParseError) as ex:
        rank_zero_warn(f"Failed parsing docstring for {component}: {ex}")
        return None


def with_class_path(cls: type, init_args: Optional[Union[Namespace, dict[str, Any]]] = None) -> dict[str, Any]:
    """``{"class_path": ..., "init_args": ...}`` for a group added with one fixed class (its config has no
    class_path of its own)."""
    if isinstance(init_args, Namespace):
        init_args = init_args.as_dict()
    return {"class_path": f"{cls.__module__}.{cls.__name__}", "init_args": init_args or {}}
