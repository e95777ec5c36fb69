"""``LightningCLI`` itself (public path: ``fastlit.cli.LightningCLI``; split from ``fastlit/cli.py`` for size).

The flow, each step a method a subclass may override as in Lightning: build the parser (one per subcommand, each
with the Trainer/model/data/optimizer groups and the Trainer method's own arguments such as ``ckpt_path``), parse
``args``/``sys.argv``, seed, instantiate the model and datamodule (through jsonargparse, so class paths and nested
configs work) and then the Trainer (by the CLI, so it can add the callbacks and ``SaveConfigCallback``), give the
model a ``configure_optimizers`` when ``--optimizer``/``--lr_scheduler`` were given, and run the subcommand.
"""
from __future__ import annotations

import inspect
import sys
from functools import partial, update_wrapper
from pathlib import Path
from types import MethodType
from typing import Any, Callable, Optional, Union

import torch
import yaml
from torch.optim import Optimizer

from fastlit import Callback, LightningDataModule, LightningModule, Trainer, seed_everything
from fastlit.__about__ import __version__
from fastlit._cli_support import ArgsType, LightningArgumentParser, SaveConfigCallback, instantiate_class
from fastlit._cli_types import LRSchedulerTypeTuple, LRSchedulerTypeUnion, ReduceLROnPlateau
from fastlit.core.mixins.hparams_mixin import _given_hyperparameters_context
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import rank_zero_warn

# what a saved config/checkpoint names as the function that rebuilds a CLI-made module (load_from_checkpoint)
INSTANTIATOR = "fastlit.cli.instantiate_module"


class LightningCLI:
    """A command line built from the ``__init__`` signatures of the Trainer, a LightningModule and a
    LightningDataModule: ``python train.py fit --config cfg.yaml --trainer.max_epochs=3 --model.lr=0.1``.

    Args:
        model_class: the LightningModule class (or a function returning one); None accepts any, by class path.
        datamodule_class: the LightningDataModule class (or function); None makes ``--data`` optional, any class.
        save_config_callback: the callback that writes ``config.yaml`` into the log dir; None disables it.
        save_config_kwargs: keyword arguments for that callback (``{"overwrite": True}``).
        trainer_class: the Trainer class or a function returning one.
        trainer_defaults: Trainer argument defaults; ``callbacks`` given here are always added, not configurable.
        seed_everything_default: the ``--seed_everything`` default: an int, True (a random seed) or False (none).
        parser_kwargs: keyword arguments for the parser; under a subcommand's name, for that subcommand's parser.
        parser_class: the parser class (a ``LightningArgumentParser`` subclass).
        subclass_mode_model: accept any subclass of ``model_class``, chosen by class path.
        subclass_mode_data: accept any subclass of ``datamodule_class``, chosen by class path.
        args: the arguments to parse instead of ``sys.argv[1:]``: a list of strings, or a dict/Namespace config.
        run: add the fit/validate/test/predict subcommands and run the chosen one; False only builds the objects
            (``cli.trainer``, ``cli.model``, ``cli.datamodule``).
        auto_configure_optimizers: add ``--optimizer``/``--lr_scheduler`` and, when given, replace the model's
            ``configure_optimizers``.
        load_from_checkpoint_support: make ``save_hyperparameters`` store the parsed config, so that
            ``load_from_checkpoint`` can rebuild nested/class-path arguments.
    """

    def __init__(
        self,
        model_class: Optional[Union[type[LightningModule], Callable[..., LightningModule]]] = None,
        datamodule_class: Optional[Union[type[LightningDataModule], Callable[..., LightningDataModule]]] = None,
        save_config_callback: Optional[type[SaveConfigCallback]] = SaveConfigCallback,
        save_config_kwargs: Optional[dict[str, Any]] = None,
        trainer_class: Union[type[Trainer], Callable[..., Trainer]] = Trainer,
        trainer_defaults: Optional[dict[str, Any]] = None,
        seed_everything_default: Union[bool, int] = True,
        parser_kwargs: Optional[Union[dict[str, Any], dict[str, dict[str, Any]]]] = None,
        parser_class: type[LightningArgumentParser] = LightningArgumentParser,
        subclass_mode_model: bool = False,
        subclass_mode_data: bool = False,
        args: ArgsType = None,
        run: bool = True,
        auto_configure_optimizers: bool = True,
        load_from_checkpoint_support: bool = True,
    ) -> None:
        self.save_config_callback = save_config_callback
        self.save_config_kwargs = save_config_kwargs or {}
        self.trainer_class = trainer_class
        self.trainer_defaults = trainer_defaults or {}
        self.seed_everything_default = seed_everything_default
        self.parser_kwargs = parser_kwargs or {}
        self.parser_class = parser_class
        self.auto_configure_optimizers = auto_configure_optimizers
        # the given classes, and the ones the parser uses (a missing class means: any, by class path)
        self.model_class = model_class
        self._model_class = model_class or LightningModule
        self.subclass_mode_model = model_class is None or subclass_mode_model
        self.datamodule_class = datamodule_class
        self._datamodule_class = datamodule_class or LightningDataModule
        self.subclass_mode_data = datamodule_class is None or subclass_mode_data

        main_kwargs, subcommand_kwargs = self._setup_parser_kwargs(self.parser_kwargs)
        self.setup_parser(run, main_kwargs, subcommand_kwargs)
        self.parse_arguments(self.parser, args)
        self._parse_ckpt_path()
        self.subcommand = self.config["subcommand"] if run else None
        self._set_seed()
        if load_from_checkpoint_support:
            self._add_instantiators()
        self.before_instantiate_classes()
        self.instantiate_classes()
        self.after_instantiate_classes()
        if self.subcommand is not None:
            self._run_subcommand(self.subcommand)

    # ----------------------------------------------------------------------------------------- building the parser

    def _setup_parser_kwargs(self, parser_kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        names = self.subcommands()
        return ({k: v for k, v in parser_kwargs.items() if k not in names},
                {k: v for k, v in parser_kwargs.items() if k in names})

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        """Create a parser with ``-c/--config``."""
        kwargs.setdefault("dump_header", [f"fastlit=={__version__}"])  # the saved config says what wrote it
        parser = self.parser_class(**kwargs)  # first: without jsonargparse, its error names the extra to install
        from jsonargparse import ActionConfigFile

        parser.add_argument("-c", "--config", action=ActionConfigFile,
                            help="Path to a configuration file in json or yaml format.")
        return parser

    def setup_parser(self, add_subcommands: bool, main_kwargs: dict[str, Any],
                     subparser_kwargs: dict[str, Any]) -> None:
        """Create ``self.parser`` with the subcommands (``run=True``) or with the arguments directly."""
        self.parser = self.init_parser(**main_kwargs)
        if add_subcommands:
            self._subcommand_method_arguments: dict[str, list[str]] = {}
            self._add_subcommands(self.parser, **subparser_kwargs)
        else:
            self._add_arguments(self.parser)

    def add_default_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Add ``--seed_everything``."""
        parser.add_argument(
            "--seed_everything", type=Union[bool, int], default=self.seed_everything_default,
            help="Set to an int to run seed_everything with this value before classes instantiation. "
                 "Set to True to use a random seed.")

    def add_core_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Add the ``trainer``, ``model`` and ``data`` groups."""
        parser.add_lightning_class_args(self.trainer_class, "trainer")
        parser.set_defaults({f"trainer.{k}": v for k, v in self.trainer_defaults.items() if k != "callbacks"})
        parser.add_lightning_class_args(self._model_class, "model", subclass_mode=self.subclass_mode_model)
        # without a datamodule class the model's own *_dataloader methods may provide the data: not required
        parser.add_lightning_class_args(self._datamodule_class, "data", subclass_mode=self.subclass_mode_data,
                                        required=self.datamodule_class is not None)

    def _add_arguments(self, parser: LightningArgumentParser) -> None:
        self.add_default_arguments_to_parser(parser)
        self.add_core_arguments_to_parser(parser)
        self.add_arguments_to_parser(parser)
        if self.auto_configure_optimizers:  # unless add_arguments_to_parser already added its own
            if not parser._optimizers:
                parser.add_optimizer_args((Optimizer,))
            if not parser._lr_schedulers:
                parser.add_lr_scheduler_args(LRSchedulerTypeTuple)
        self.link_optimizers_and_lr_schedulers(parser)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Override to add arguments or links to the parser (of each subcommand)."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """The subcommands (Trainer methods) and the method arguments the CLI supplies itself."""
        return {
            "fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"},
            "validate": {"model", "dataloaders", "datamodule"},
            "test": {"model", "dataloaders", "datamodule"},
            "predict": {"model", "dataloaders", "datamodule"},
        }

    def _add_subcommands(self, parser: LightningArgumentParser, **kwargs: Any) -> None:
        from jsonargparse import class_from_function

        from fastlit._cli_parser import short_description

        self._subcommand_parsers: dict[str, LightningArgumentParser] = {}
        subcommands = parser.add_subcommands()
        trainer_class = self.trainer_class
        if not isinstance(trainer_class, type):  # a builder function: its return annotation is the class
            trainer_class = class_from_function(trainer_class)
        for name in self.subcommands():
            description = short_description(getattr(trainer_class, name))
            sub_kwargs = kwargs.get(name, {})
            sub_kwargs.setdefault("description", description)
            sub_parser = self._prepare_subcommand_parser(trainer_class, name, **sub_kwargs)
            self._subcommand_parsers[name] = sub_parser
            subcommands.add_subcommand(name, sub_parser, help=description)

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        parser = self.init_parser(**kwargs)
        self._add_arguments(parser)
        # the method's own arguments (ckpt_path, verbose...), remembered to pass them on when it runs
        skip: set[Union[str, int]] = set(self.subcommands()[subcommand])
        self._subcommand_method_arguments[subcommand] = parser.add_method_arguments(klass, subcommand, skip=skip)
        return parser

    @staticmethod
    def link_optimizers_and_lr_schedulers(parser: LightningArgumentParser) -> None:
        """Link each optimizer/scheduler group that names a ``link_to`` key to that key."""
        from fastlit._cli_parser import with_class_path

        for key, (class_type, link_to) in {**parser._optimizers, **parser._lr_schedulers}.items():
            if link_to == "AUTOMATIC":
                continue
            if isinstance(class_type, tuple):  # subclass mode: the value has its class_path already
                parser.link_arguments(key, link_to)
            else:
                parser.link_arguments(key, link_to, compute_fn=partial(with_class_path, class_type))

    # ------------------------------------------------------------------------------------------------- parsing

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parse ``args`` (or ``sys.argv``) into ``self.config``."""
        from jsonargparse import Namespace

        if args is not None and len(sys.argv) > 1:
            rank_zero_warn(
                "LightningCLI's args parameter is intended to run from within Python like if it were from the command "
                "line. To prevent mistakes it is not recommended to provide both args and command line arguments, got: "
                f"sys.argv[1:]={sys.argv[1:]}, args={args}.")
        if isinstance(args, (dict, Namespace)):
            self.config = parser.parse_object(args)
        else:
            self.config = parser.parse_args(args)

    def _parse_ckpt_path(self) -> None:
        """With ``--ckpt_path`` the model's hyperparameters saved in the checkpoint become the config's defaults."""
        if not self.config.get("subcommand"):
            return
        ckpt_path = self.config[self.config.subcommand].get("ckpt_path")
        if not ckpt_path or not Path(ckpt_path).is_file():
            return
        hparams = torch.load(ckpt_path, weights_only=True, map_location="cpu").get("hyper_parameters", {})
        hparams.pop("_instantiator", None)
        if not hparams:
            return
        if "_class_path" in hparams:
            hparams = {"class_path": hparams.pop("_class_path"), "dict_kwargs": hparams}
        try:
            self.config = self.parser.parse_object({self.config.subcommand: {"model": hparams}}, self.config)
        except SystemExit:
            sys.stderr.write("Parsing of ckpt_path hyperparameters failed!\n")
            raise

    def _set_seed(self) -> None:
        seed = self._get(self.config, "seed_everything")
        if seed is False:
            return
        seed = seed_everything(None if seed is True else seed, workers=True)
        # the config records the seed really used (also when it was drawn at random)
        (self.config[self.subcommand] if self.subcommand else self.config)["seed_everything"] = seed

    # ------------------------------------------------------------------------------------------- instantiation

    def _dump_config(self) -> None:
        if hasattr(self, "config_dump"):
            return
        dump = self.parser.dump(self.config, skip_link_targets=False, skip_none=False, format="yaml")
        self.config_dump = yaml.safe_load(dump)
        if "subcommand" in self.config:
            self.config_dump = self.config_dump[self.config.subcommand]

    def _add_instantiators(self) -> None:
        for key, cls, subclasses in (("model", self._model_class, self.subclass_mode_model),
                                     ("data", self._datamodule_class, self.subclass_mode_data)):
            self.parser.add_instantiator(_Instantiator(self, key), _module_type(cls), subclasses=subclasses)

    def before_instantiate_classes(self) -> None:
        """Override to run code before the classes are instantiated."""

    def instantiate_classes(self) -> None:
        """Build the datamodule and model (``self.config_init``), then the Trainer."""
        self.config_init = self.parser.instantiate_classes(self.config)
        self.datamodule = self._get(self.config_init, "data")
        self.model = self._get(self.config_init, "model")
        self._add_configure_optimizers_method_to_model(self.subcommand)
        self.trainer = self.instantiate_trainer()

    def after_instantiate_classes(self) -> None:
        """Override to run code after the classes are instantiated."""

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Build the Trainer from the config (``kwargs`` override it), with the configured callbacks.

        Args:
            kwargs: Trainer arguments that take precedence over the config.
        """
        callbacks = [self._get(self.config_init, key) for key in self._parser(self.subcommand).callback_keys]
        config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        return self._instantiate_trainer(config, callbacks)

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        if "callbacks" not in config:
            rank_zero_warn(f"The `{self.trainer_class.__qualname__}` class does not expose the `callbacks` argument "
                           "so they will not be included.")
            return self.trainer_class(**config)
        given = config["callbacks"]
        config["callbacks"] = [] if given is None else list(given) if isinstance(given, list) else [given]
        config["callbacks"].extend(callbacks)
        if "callbacks" in self.trainer_defaults:  # always present, not configurable
            default = self.trainer_defaults["callbacks"]
            config["callbacks"] += default if isinstance(default, list) else [default]
        if self.save_config_callback and not config.get("fast_dev_run", False):
            config["callbacks"].append(self.save_config_callback(
                self._parser(self.subcommand), self.config.get(str(self.subcommand), self.config),
                **self.save_config_kwargs))
        return self.trainer_class(**config)

    def _parser(self, subcommand: Optional[str]) -> LightningArgumentParser:
        return self.parser if subcommand is None else self._subcommand_parsers[subcommand]

    @staticmethod
    def configure_optimizers(lightning_module: LightningModule, optimizer: Optimizer,
                             lr_scheduler: Optional[LRSchedulerTypeUnion] = None) -> Any:
        """What the model's ``configure_optimizers`` returns when the optimizer came from the command line;
        override to change it.

        Args:
            lightning_module: the model.
            optimizer: the optimizer built from ``--optimizer``.
            lr_scheduler: the scheduler built from ``--lr_scheduler``, if given.
        """
        if lr_scheduler is None:
            return optimizer
        if isinstance(lr_scheduler, ReduceLROnPlateau):
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": lr_scheduler, "monitor": lr_scheduler.monitor}}
        return [optimizer], [lr_scheduler]

    def _add_configure_optimizers_method_to_model(self, subcommand: Optional[str]) -> None:
        """Give the model a ``configure_optimizers`` that returns the optimizer (and scheduler) of the one
        AUTOMATIC optimizer group (and scheduler group), when the config sets one."""
        if not self.auto_configure_optimizers:
            return
        parser = self._parser(subcommand)
        optimizers = _automatic(parser._optimizers, (Optimizer,))
        schedulers = _automatic(parser._lr_schedulers, LRSchedulerTypeTuple)
        if not optimizers:
            return
        if len(optimizers) > 1 or len(schedulers) > 1:
            raise MisconfigurationException(
                f"`{self.__class__.__name__}.add_configure_optimizers_method_to_model` expects at most one optimizer "
                f"and one lr_scheduler to be 'AUTOMATIC', but found {optimizers + schedulers}. In this case the user "
                "is expected to link the argument groups and implement `configure_optimizers`, see "
                "https://lightning.ai/docs/pytorch/stable/common/lightning_cli.html"
                "#optimizers-and-learning-rate-schedulers")
        optimizer_init = self._init_of(parser._optimizers, optimizers[0])
        if not optimizer_init:  # the group exists but the user gave no optimizer: the model's own method stays
            return
        scheduler_init = self._init_of(parser._lr_schedulers, schedulers[0]) if schedulers else None
        if is_overridden("configure_optimizers", self.model):
            rank_zero_warn(f"`{self.model.__class__.__name__}.configure_optimizers` will be overridden by "
                           f"`{self.__class__.__name__}.configure_optimizers`.")
        optimizer = instantiate_class(self.model.parameters(), optimizer_init)
        scheduler = instantiate_class(optimizer, scheduler_init) if scheduler_init else None
        method = partial(self.configure_optimizers, optimizer=optimizer, lr_scheduler=scheduler)
        update_wrapper(method, self.configure_optimizers)  # is_overridden looks at the wrapped function
        self.model.configure_optimizers = MethodType(method, self.model)

    def _init_of(self, registered: dict[str, Any], key: str) -> Any:
        """The ``{"class_path", "init_args"}`` of a registered group (a fixed-class group gets its class_path)."""
        from fastlit._cli_parser import with_class_path

        cls, init = registered[key][0], self._get(self.config_init, key)
        return init if isinstance(cls, tuple) else with_class_path(cls, init)

    def _get(self, config: Any, key: str, default: Optional[Any] = None) -> Any:
        """``config[key]``, looked up under the running subcommand when there is one."""
        return config.get(str(self.subcommand), config).get(key, default)

    # ------------------------------------------------------------------------------------------------- running

    def _run_subcommand(self, subcommand: str) -> None:
        """Run ``before_<subcommand>``, the subcommand (a CLI method of that name, else the Trainer's), and
        ``after_<subcommand>``."""
        before = getattr(self, f"before_{subcommand}", None)
        if callable(before):
            before()
        run = getattr(self, subcommand, getattr(self.trainer, subcommand))
        run(**self._prepare_subcommand_kwargs(subcommand))
        after = getattr(self, f"after_{subcommand}", None)
        if callable(after):
            after()

    def _prepare_subcommand_kwargs(self, subcommand: str) -> dict[str, Any]:
        wanted = self._subcommand_method_arguments[subcommand]
        kwargs = {k: v for k, v in self.config_init[subcommand].items() if k in wanted}
        kwargs["model"] = self.model
        if self.datamodule is not None:
            kwargs["datamodule"] = self.datamodule
        return kwargs


LightningCLI.__module__ = "fastlit.cli"


def _automatic(registered: dict[str, Any], base: tuple[type, ...]) -> list[str]:
    """The keys of the registered groups that are AUTOMATIC and whose class derives from ``base``."""
    keys = []
    for key, (cls, link_to) in registered.items():
        classes = cls if isinstance(cls, tuple) else (cls,)
        if link_to == "AUTOMATIC" and any(issubclass(c, base) for c in classes):
            keys.append(key)
    return keys


def _module_type(value: Union[Callable, type]) -> type:
    """The class a builder function returns (its return annotation), or the class itself."""
    if callable(value) and not isinstance(value, type):
        return inspect.signature(value).return_annotation
    return value


def _set_nested(data: dict, key: str, value: Any) -> None:
    *parents, last = key.split(".")
    for k in parents:
        assert k in data, f"Expected key {key} to be in data"
        data = data[k]
    data[last] = value


class _Instantiator:
    """Builds the model (``key="model"``) or datamodule for jsonargparse while ``save_hyperparameters`` stores
    the parsed config (class paths included) instead of the objects ``__init__`` receives -- what
    ``load_from_checkpoint`` needs to rebuild them through ``fastlit.cli.instantiate_module``."""

    def __init__(self, cli: LightningCLI, key: str) -> None:
        self.cli = cli
        self.key = key

    def __call__(self, class_type: type, *args: Any, applied_instantiation_links: dict, **kwargs: Any) -> Any:
        self.cli._dump_config()
        hparams = self.cli.config_dump.get(self.key, {})
        if "class_path" in hparams:
            # the same flat layout with or without subclass mode; the class rides along under `_class_path`
            hparams = {"_class_path": hparams["class_path"], **hparams.get("init_args", {}),
                       **hparams.get("dict_kwargs", {})}
        # values that links filled in at instantiation are not in the dump: take them from the links
        prefix = f"{self.key}."
        for key, value in applied_instantiation_links.items():
            if key.startswith(prefix):
                key = key[len(prefix):]
                _set_nested(hparams, key[len("init_args."):] if key.startswith("init_args.") else key, value)
        with _given_hyperparameters_context(hparams=hparams, instantiator=INSTANTIATOR):
            return class_type(*args, **kwargs)
