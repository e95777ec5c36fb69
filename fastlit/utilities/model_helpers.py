"""``is_overridden``: decide once whether a hook needs calling at all."""
from __future__ import annotations

import functools
from typing import Any, Optional

from fastlit.utilities.imports import _TORCHVISION_AVAILABLE, RequirementCache  # noqa: F401  (Lightning exports it)

# The classes whose hooks users override: LightningModule, LightningDataModule and Callback, each registered where
# it is defined (they sit above the utilities, which import none of them). An object is an instance of one of them.
_HOOK_BASES: list[type] = []


def hook_base(cls: type) -> type:
    """Class decorator: ``is_overridden(name, instance)`` without ``parent`` compares an instance of ``cls``
    against ``cls``."""
    _HOOK_BASES.append(cls)
    return cls


def is_overridden(method_name: str, instance: Optional[Any] = None, parent: Optional[type] = None) -> bool:
    """True when ``type(instance)`` defines ``method_name`` differently from ``parent``.

    ``parent`` defaults to fastlit's ``Module``, ``DataModule`` or ``Callback`` base, whichever ``instance`` is.
    """
    if instance is None:
        return False
    if parent is None:
        parent = next((base for base in _HOOK_BASES if isinstance(instance, base)), None)
        if parent is None:
            raise ValueError(f"is_overridden: pass `parent=` for an instance of {type(instance).__name__}")
    # Lightning's rule (lightning_utilities' is_overridden): what the *instance* has under that name, seen through
    # functools.wraps / partial / Mock(wraps=...), against the parent's code. An attribute set to None on the
    # instance (``model.validation_step = None``) means the hook is absent.
    instance_attr = getattr(instance, method_name, None)
    if instance_attr is None:
        return False
    if hasattr(instance_attr, "__wrapped__"):
        instance_attr = instance_attr.__wrapped__
    if type(instance_attr).__module__ == "unittest.mock" and hasattr(instance_attr, "_mock_wraps"):
        instance_attr = instance_attr._mock_wraps
    elif isinstance(instance_attr, functools.partial):
        instance_attr = instance_attr.func
    if instance_attr is None:
        return False
    parent_attr = getattr(parent, method_name, None)
    if parent_attr is None:
        raise ValueError(f"is_overridden: {parent.__name__} has no method {method_name!r}")
    if hasattr(parent_attr, "__wrapped__"):
        parent_attr = parent_attr.__wrapped__
    return getattr(instance_attr, "__code__", instance_attr) != getattr(parent_attr, "__code__", parent_attr)


def get_torchvision_model(model_name: str, **kwargs: Any) -> Any:
    """``torchvision.models.get_model(model_name, **kwargs)`` (e.g. ``"resnet18", weights=None``).

    Raises:
        ModuleNotFoundError: torchvision is not installed (it is not a fastlit dependency).
    """
    if not _TORCHVISION_AVAILABLE:
        raise ModuleNotFoundError(str(_TORCHVISION_AVAILABLE))
    from torchvision import models

    if hasattr(models, "get_model"):  # torchvision >= 0.14
        return models.get_model(model_name, **kwargs)
    return getattr(models, model_name)(**kwargs)
