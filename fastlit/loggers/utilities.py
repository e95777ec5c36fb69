"""Helpers shared by the loggers and the trainer: hparams conversion/flattening and the fit-start hparams logging."""

import inspect
import os
from argparse import Namespace
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, is_dataclass
from typing import Any, Optional, Union

from torch import Tensor


def _convert_params(params: Optional[Union[dict[str, Any], Namespace]]) -> dict[str, Any]:
    """``Namespace`` -> dict, ``None`` -> ``{}``; anything else is returned unchanged."""
    if isinstance(params, Namespace):
        return vars(params)
    return {} if params is None else params


def _flatten_dict(params: MutableMapping, delimiter: str = "/", parent_key: str = "") -> dict[str, Any]:
    """``{'a': {'b': 1}} -> {'a/b': 1}``; dataclasses, Namespaces and lists of dicts are flattened too."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{parent_key}{delimiter}{key}" if parent_key else str(key)
        if is_dataclass(value) and not isinstance(value, type):
            value = asdict(value)
        elif isinstance(value, Namespace):
            value = vars(value)
        if isinstance(value, MutableMapping):
            out.update(_flatten_dict(value, delimiter, name))
        elif isinstance(value, list) and all(isinstance(item, MutableMapping) for item in value):
            # Lightning always joins list indices with "/", whatever the delimiter
            for i, item in enumerate(value):
                out.update(_flatten_dict(item, delimiter, f"{name}/{i}"))
        else:
            out[name] = value
    return out


def _sanitize_params(params: dict[str, Any]) -> dict[str, Any]:
    """In place: numpy scalars -> python scalars, anything but bool/int/float/str/Tensor -> ``str(value)``."""
    np = _numpy()
    for key, value in params.items():
        if np is not None and isinstance(value, (np.bool_, np.integer, np.floating)):
            value = params[key] = value.item()
        if type(value) not in (bool, int, float, str, Tensor):
            params[key] = str(value)
    return params


def _numpy() -> Any:
    try:
        import numpy

        return numpy
    except ImportError:
        return None


def _sanitize_callable_params(params: dict[str, Any]) -> dict[str, Any]:
    """Classes -> their name; callables -> their result if calling them without args works, else their name."""

    def sanitize(value: Any) -> Any:
        if inspect.isclass(value):
            return value.__name__
        if callable(value):
            try:
                result = value()
            except Exception:
                return getattr(value, "__name__", None)
            return value.__name__ if callable(result) else result
        return value

    return {key: sanitize(value) for key, value in params.items()}


def _add_prefix(metrics: Mapping[str, Any], prefix: str, separator: str) -> Mapping[str, Any]:
    """``{'loss': 1}`` with prefix ``'train'`` and separator ``'-'`` -> ``{'train-loss': 1}``."""
    if not prefix:
        return metrics
    return {f"{prefix}{separator}{key}": value for key, value in metrics.items()}


def _next_version(versions_root: str) -> int:
    """1 + the largest N among ``version_N`` folders in ``versions_root``; 0 when there are none."""
    try:
        entries = os.listdir(versions_root)
    except OSError:
        return 0
    found = []
    for entry in entries:
        # like Lightning, only the text between the first and second "_" counts ("version_3_old" counts as 3)
        if entry.startswith("version_") and os.path.isdir(os.path.join(versions_root, entry)):
            number = entry.split("_")[1]
            if number.isdigit():
                found.append(int(number))
    return max(found) + 1 if found else 0


def _version(loggers: list[Any], separator: str = "_") -> Union[int, str]:
    """The version of a single logger, or the distinct versions of several joined by ``separator``."""
    if len(loggers) == 1:
        return loggers[0].version
    return separator.join(dict.fromkeys(str(logger.version) for logger in loggers))


def _log_hyperparams(trainer: Any) -> None:
    """What Lightning's trainer does at fit/validate/test start for every logger.

    Logs the module's (and datamodule's) ``hparams_initial`` when ``save_hyperparameters(logger=True)`` was used,
    then calls ``log_graph(module)`` and ``save()`` on each logger. Needs ``trainer.loggers``,
    ``trainer.lightning_module`` and ``trainer.datamodule`` (``_log_hyperparams`` flags and ``hparams_initial``).
    """
    if not trainer.loggers:
        return
    module, datamodule = trainer.lightning_module, trainer.datamodule
    log_module = getattr(module, "_log_hyperparams", False)
    log_datamodule = datamodule is not None and getattr(datamodule, "_log_hyperparams", False)

    hparams = None
    if log_module and log_datamodule:
        module_hp, data_hp = module.hparams_initial, datamodule.hparams_initial
        clashing = []
        for key in module_hp.keys() & data_hp.keys():
            if key == "_class_path":
                continue
            a, b = module_hp[key], data_hp[key]
            if type(a) != type(b) or (isinstance(a, Tensor) and a is not b) or a != b:  # noqa: E721
                clashing.append(key)
        if clashing:
            raise RuntimeError(
                f"Error while merging hparams: the keys {clashing} are present in both the LightningModule's and"
                " LightningDataModule's hparams but have different values."
            )
        hparams = {**module_hp, **data_hp}
    elif log_module:
        hparams = module.hparams_initial
    elif log_datamodule:
        hparams = datamodule.hparams_initial
    if hparams is not None:
        hparams = {k: v for k, v in hparams.items() if k != "_class_path"}  # LightningCLI's internal key

    for logger in trainer.loggers:
        if hparams is not None:
            logger.log_hyperparams(hparams)
        logger.log_graph(module)
        logger.save()


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "Checkpoint": "fastlit.callbacks.checkpoint",
})
