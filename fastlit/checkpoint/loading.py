"""``LightningModule.load_from_checkpoint`` / ``LightningDataModule.load_from_checkpoint``, and loading a
state dict into a module with an error that says what to do."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any, Callable, Optional, Union

import torch

from fastlit.checkpoint.io import load


def load_from_checkpoint(cls: type, checkpoint_path: Union[str, Path, IO], map_location: Any = None,
                         hparams_file: Optional[Union[str, Path]] = None, strict: Optional[bool] = None,
                         weights_only: Optional[bool] = None, **kwargs: Any) -> Any:
    """A LightningModule class ``cls`` built from the checkpoint's hyperparameters (``kwargs`` win), its weights
    loaded."""
    checkpoint, obj = _build(cls, "hyper_parameters", checkpoint_path, map_location, hparams_file, weights_only,
                             kwargs)
    obj.on_load_checkpoint(checkpoint)
    if "state_dict" not in checkpoint:
        raise KeyError(f"The checkpoint {checkpoint_path!r} has no 'state_dict'; it is not a Lightning/fastlit checkpoint.")
    if obj._strict_loading is not None and strict is not None and strict != obj.strict_loading:
        raise ValueError(
            f"You set `.load_from_checkpoint(..., strict={strict!r})` which is in conflict with"
            f" `{cls.__name__}.strict_loading={obj.strict_loading!r}. Please set the same value for both of them.")
    strict = obj.strict_loading if strict is None else strict
    load_state_dict(obj, checkpoint["state_dict"], strict=strict, source=checkpoint_path)
    if not checkpoint["state_dict"]:
        from fastlit.utilities.rank_zero import rank_zero_warn

        rank_zero_warn(f"The state dict in {checkpoint_path!r} contains no parameters.")
        return obj
    device = _state_device(checkpoint["state_dict"])
    if device is not None:
        obj.to(device)
    return obj


def load_datamodule_from_checkpoint(cls: type, checkpoint_path: Union[str, Path, IO], map_location: Any = None,
                                    hparams_file: Optional[Union[str, Path]] = None,
                                    weights_only: Optional[bool] = None, **kwargs: Any) -> Any:
    """A LightningDataModule class ``cls`` built from the checkpoint's datamodule hyperparameters (``kwargs``
    win), its saved state loaded."""
    checkpoint, obj = _build(cls, "datamodule_hyper_parameters", checkpoint_path, map_location, hparams_file,
                             weights_only, kwargs)
    key = cls.__qualname__
    if key in checkpoint:
        obj.load_state_dict(checkpoint[key])
    obj.on_load_checkpoint(checkpoint)
    return obj


def load_state_dict(module: torch.nn.Module, state_dict: dict[str, Any], strict: bool, source: Any) -> None:
    """``module.load_state_dict`` with an error that lists missing/unexpected keys and names the file."""
    try:
        module.load_state_dict(state_dict, strict=strict)
    except RuntimeError as e:
        raise RuntimeError(
            f"Error(s) loading the checkpoint {source!r} into {type(module).__name__}: {e}\nThe checkpoint was "
            "saved from a model with different parameters. Build the model with the same architecture and "
            "hyperparameters as when it was saved, or load a subset with `strict=False`.") from None


def _build(cls: type, hp_key: str, checkpoint_path: Union[str, Path, IO], map_location: Any,
           hparams_file: Optional[Union[str, Path]], weights_only: Optional[bool],
           kwargs: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The loaded checkpoint, and ``cls`` built from its ``hp_key`` hyperparameters, the hparams file's and
    ``kwargs``, in that order of precedence (last wins)."""
    checkpoint = load(checkpoint_path, map_location=map_location if map_location is not None else "cpu",
                      weights_only=weights_only)
    hparams = dict(checkpoint.get(hp_key) or {})
    if hparams_file is not None:
        from fastlit.core.saving import load_hparams_from_yaml

        hparams.update(load_hparams_from_yaml(hparams_file) or {})
    hparams.update(kwargs)
    return checkpoint, _instantiate(cls, hparams, _trusted_instantiator(hparams.pop("_instantiator", None)))


# what LightningCLI runs store as `_instantiator` (fastlit's, and Lightning's under both its package names): each
# rebuilds the object with fastlit.cli.instantiate_module. Nothing else is called: a checkpoint must not name code
_TRUSTED_INSTANTIATORS = ("fastlit.cli.instantiate_module", "lightning.pytorch.cli.instantiate_module",
                          "pytorch_lightning.cli.instantiate_module")


def _trusted_instantiator(path: Any) -> Optional[Callable[[type, dict[str, Any]], Any]]:
    if path is None:
        return None
    if not isinstance(path, str) or path not in _TRUSTED_INSTANTIATORS:
        raise ValueError(f"The instantiator {path!r} from the checkpoint is not in the allowlist of trusted "
                         f"instantiators {_TRUSTED_INSTANTIATORS} and was blocked to prevent arbitrary code execution.")
    from fastlit._cli_support import instantiate_module

    return instantiate_module


def _instantiate(cls: type, hparams: dict[str, Any], instantiator: Optional[Callable[..., Any]] = None) -> Any:
    import inspect

    params = inspect.signature(cls.__init__).parameters
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
    args = hparams if takes_kwargs else {k: v for k, v in hparams.items() if k in params}
    if instantiator is not None and "_class_path" in args and not _imported_subclass(args["_class_path"], cls):
        raise ValueError(f"The class {args['_class_path']!r} requested by the checkpoint does not resolve to an already "
                         f"imported subclass of {cls.__name__} and was blocked to prevent arbitrary code execution. "
                         "If you trust this checkpoint, import the module that defines the class before loading.")
    try:
        return instantiator(cls, args) if instantiator is not None else cls(**args)
    except TypeError as e:
        raise TypeError(f"Could not build {cls.__name__} from the checkpoint's hyperparameters {sorted(args)}: {e}. "
                        "Pass the missing __init__ arguments to `load_from_checkpoint(..., name=value)`, or call "
                        "`self.save_hyperparameters()` in `__init__` before saving.") from e


def _imported_subclass(class_path: Any, cls: type) -> bool:
    """Whether ``class_path`` names a subclass of ``cls`` in a module already imported (looks only in
    ``sys.modules``: checking a checkpoint never imports code)."""
    if not isinstance(class_path, str) or "." not in class_path:
        return False
    module_name, name = class_path.rsplit(".", 1)
    found = getattr(sys.modules.get(module_name), name, None)
    return isinstance(found, type) and issubclass(found, cls)


def _state_device(state_dict: dict[str, Any]) -> Optional[torch.device]:
    for v in state_dict.values():
        if isinstance(v, torch.Tensor):
            return v.device
    return None
