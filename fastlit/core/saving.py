"""Reading and writing hyperparameter files (``hparams.yaml``, legacy ``tags.csv``) the way Lightning 2.x does.

The YAML files are byte-compatible with Lightning's: without omegaconf installed both write ``yaml.dump(dict)``
(sorted keys, block style); with omegaconf installed both go through ``OmegaConf.save`` first. One deliberate
difference: a nested ``AttributeDict`` is written as a plain mapping (Lightning writes a python tag that no safe yaml
loader reads back); such tags in Lightning's files are read as ``AttributeDict``.
Only local paths are supported (Lightning also accepts fsspec URLs such as ``s3://``).
"""

import ast
import csv
import importlib.util
import os
import warnings
from argparse import Namespace
from copy import deepcopy
from enum import Enum
from typing import Any, Union

_PATH = Union[str, "os.PathLike[str]"]

# checkpoint keys under which Lightning versions before 1.0 stored hyperparameters
CHECKPOINT_PAST_HPARAMS_KEYS = ("hparams", "module_arguments")


def _omegaconf_available() -> bool:
    # find_spec only looks the package up; importing omegaconf costs ~50 ms, so do that only when a file is written
    return importlib.util.find_spec("omegaconf") is not None


def _plain_attribute_dicts(obj: Any) -> Any:
    """Nested ``AttributeDict``s -> plain dicts: yaml would tag them ``!!python/object/new:...AttributeDict``, which
    no safe yaml loader reads back (the plain mapping is also what the omegaconf path writes)."""
    from fastlit.utilities.parsing import AttributeDict

    if isinstance(obj, AttributeDict):
        obj = dict(obj)
    if type(obj) is dict:
        return {k: _plain_attribute_dicts(v) for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_plain_attribute_dicts(v) for v in obj)
    return obj


def _to_plain_dict(hparams: Any) -> Any:
    """Namespace -> dict; dict subclasses (AttributeDict) -> plain dict, which yaml writes without python tags."""
    if isinstance(hparams, Namespace):
        return vars(hparams)
    if isinstance(hparams, dict) and type(hparams) is not dict:
        return dict(hparams)
    return hparams


def _resolve_dictconfigs(obj: Any) -> Any:
    """Replace every omegaconf ``DictConfig`` inside nested dicts/lists/tuples by a resolved plain container."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(obj, DictConfig):
        return OmegaConf.to_container(obj, resolve=True)
    if isinstance(obj, dict):
        return {k: _resolve_dictconfigs(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve_dictconfigs(v) for v in obj)
    return obj


def save_hparams_to_yaml(config_yaml: _PATH, hparams: Union[dict, Namespace], use_omegaconf: bool = True) -> None:
    """Write ``hparams`` to a YAML file.

    Args:
        config_yaml: path of the YAML file to write; its folder must exist.
        hparams: a dict (or ``Namespace``/``AttributeDict``) of hyperparameters.
        use_omegaconf: if omegaconf is installed, save through ``OmegaConf.save`` (keeps ``DictConfig`` values).
    """
    folder = os.path.dirname(os.fspath(config_yaml))
    if not os.path.isdir(folder):
        raise RuntimeError(f"Missing folder: {folder}.")
    hparams = _to_plain_dict(hparams)

    if use_omegaconf and _omegaconf_available():
        from omegaconf import OmegaConf
        from omegaconf.errors import UnsupportedValueType, ValidationError

        # deepcopy so that resolving interpolations never touches the user's object
        resolved = _resolve_dictconfigs(deepcopy(hparams))
        with open(config_yaml, "w", encoding="utf-8") as fp:
            try:
                OmegaConf.save(resolved, fp)
                return
            except (UnsupportedValueType, ValidationError):
                pass  # fall back to plain yaml below, like Lightning

    import yaml  # imported here: ~13 ms that `import fastlit` should not pay

    if not isinstance(hparams, dict):
        raise TypeError(f"hparams must be a dictionary or Namespace, got {type(hparams).__name__}")

    # values yaml cannot represent are dropped with a warning rather than failing the whole run
    allowed = {}
    for key, value in hparams.items():
        value = value.name if isinstance(value, Enum) else _plain_attribute_dicts(value)
        try:
            yaml.dump(value)
        except (TypeError, ValueError):
            warnings.warn(f"Skipping '{key}' parameter because it is not possible to safely dump to YAML.")
        else:
            allowed[key] = value
    with open(config_yaml, "w", newline="") as fp:
        yaml.dump(allowed, fp)


def _hparams_loader() -> type:
    """``yaml.FullLoader`` that also reads the ``AttributeDict`` tags Lightning (and earlier fastlit) wrote for nested
    ``AttributeDict`` hyperparameters, as fastlit's ``AttributeDict``; everything else is refused as before."""
    import yaml

    from fastlit.checkpoint.io import _ATTRIBUTE_DICT_NAMES
    from fastlit.utilities.parsing import AttributeDict

    class Loader(yaml.FullLoader):
        pass

    def attribute_dict(loader: yaml.FullLoader, node: yaml.Node) -> AttributeDict:
        fields = loader.construct_mapping(node, deep=True)  # {"dictitems": {...}}
        return AttributeDict(fields.get("dictitems") or {})

    for name in _ATTRIBUTE_DICT_NAMES:
        Loader.add_constructor(f"tag:yaml.org,2002:python/object/new:{name}", attribute_dict)
    return Loader


def load_hparams_from_yaml(config_yaml: _PATH, use_omegaconf: bool = True) -> dict[str, Any]:
    """Read hyperparameters written by :func:`save_hparams_to_yaml` (or by Lightning).

    Args:
        config_yaml: path of the YAML file. A missing file gives ``{}`` and a ``RuntimeWarning``.
        use_omegaconf: if omegaconf is installed, return an ``OmegaConf`` ``DictConfig`` when possible.
    """
    if not os.path.exists(config_yaml):
        warnings.warn(f"Missing Tags: {config_yaml}.", category=RuntimeWarning)
        return {}
    import yaml

    with open(config_yaml) as fp:
        hparams = yaml.load(fp, Loader=_hparams_loader())

    if use_omegaconf and _omegaconf_available():
        from omegaconf import OmegaConf
        from omegaconf.errors import UnsupportedValueType, ValidationError

        try:
            return OmegaConf.create(hparams)  # type: ignore[return-value]
        except (UnsupportedValueType, ValidationError):
            pass
    return hparams


def convert(val: str) -> Union[int, float, bool, str]:
    """Parse a python literal from a string, returning the string itself when it is not one."""
    try:
        return ast.literal_eval(val)
    except (ValueError, SyntaxError):
        return val


def load_hparams_from_tags_csv(tags_csv: _PATH) -> dict[str, Any]:
    """Read the legacy ``key,value`` CSV hyperparameter file (first row is the header)."""
    if not os.path.exists(tags_csv):
        warnings.warn(f"Missing Tags: {tags_csv}.", category=RuntimeWarning)
        return {}
    with open(tags_csv, newline="") as fp:
        rows = list(csv.reader(fp, delimiter=","))
    return {row[0]: convert(row[1]) for row in rows[1:]}


def save_hparams_to_tags_csv(tags_csv: _PATH, hparams: Union[dict, Namespace]) -> None:
    """Write the legacy ``key,value`` CSV hyperparameter file."""
    folder = os.path.dirname(os.fspath(tags_csv))
    if not os.path.isdir(folder):
        raise RuntimeError(f"Missing folder: {folder}.")
    hparams = _to_plain_dict(hparams)
    with open(tags_csv, "w", newline="") as fp:
        writer = csv.writer(fp)
        writer.writerow(["key", "value"])
        writer.writerows(hparams.items())


def update_hparams(hparams: dict, updates: dict) -> None:
    """Merge ``updates`` into ``hparams`` in place, recursing into nested dicts that exist on both sides."""
    for key, value in updates.items():
        if key in hparams and isinstance(value, dict):
            update_hparams(hparams[key], value)
        else:
            hparams[key] = value


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "AttributeDict": "fastlit.utilities.parsing",
    "CUDAAccelerator": "fastlit.accelerators.cuda",
    "MPSAccelerator": "fastlit.accelerators.mps",
    "XLAAccelerator": "fastlit.accelerators.xla",
    "apply_to_collection": "fastlit.utilities.apply_func",
    "get_filesystem": "fastlit.utilities.cloud_io",
    "is_overridden": "fastlit.utilities.model_helpers",
    "log": "@logger",
    "parse_class_init_keys": "fastlit.utilities.parsing",
    "pl_legacy_patch": "fastlit.utilities.migration",
    "pl_load": "fastlit.checkpoint.io",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
