"""``LightningModule.load_from_checkpoint`` / ``LightningDataModule.load_from_checkpoint``."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any, Callable, Optional, Union

import torch

from fastlit.checkpoint.connector import load_state_dict
from fastlit.checkpoint.io import load


def load_from_checkpoint(cls: type, checkpoint_path: Union[str, Path, IO], map_location: Any = None,
                         hparams_file: Optional[Union[str, Path]] = None, strict: Optional[bool] = None,
                         weights_only: Optional[bool] = None, **kwargs: Any) -> Any:
    """Build ``cls`` from the checkpoint's hyperparameters (``kwargs`` win) and load its state."""
    checkpoint = load(checkpoint_path, map_location=map_location if map_location is not None else "cpu",
                      weights_only=weights_only)
    from fastlit.core.datamodule import LightningDataModule

    is_dm = issubclass(cls, LightningDataModule)
    hp_key = "datamodule_hyper_parameters" if is_dm else "hyper_parameters"
    hparams = dict(checkpoint.get(hp_key) or {})
    if hparams_file is not None:
        from fastlit.core.saving import load_hparams_from_yaml

        hparams.update(load_hparams_from_yaml(hparams_file) or {})
    hparams.update(kwargs)
    obj = _instantiate(cls, hparams, _trusted_instantiator(hparams.pop("_instantiator", None)))
    if is_dm:
        key = cls.__qualname__
        if key in checkpoint:
            obj.load_state_dict(checkpoint[key])
        obj.on_load_checkpoint(checkpoint)
        return obj
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
    from fastlit.cli import instantiate_module

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
