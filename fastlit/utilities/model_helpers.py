"""``is_overridden``: decide once whether a hook needs calling at all."""
from __future__ import annotations

from typing import Any, Optional

from fastlit.utilities.imports import _TORCHVISION_AVAILABLE, RequirementCache  # noqa: F401  (Lightning exports it)


def is_overridden(method_name: str, instance: Optional[Any] = None, parent: Optional[type] = None) -> bool:
    """True when ``type(instance)`` defines ``method_name`` differently from ``parent``.

    ``parent`` defaults to fastlit's ``Module``, ``DataModule`` or ``Callback`` base, whichever ``instance`` is.
    """
    if instance is None:
        return False
    if parent is None:
        from fastlit.callbacks.callback import Callback
        from fastlit.core.datamodule import LightningDataModule
        from fastlit.core.module import LightningModule

        for base in (LightningModule, LightningDataModule, Callback):
            if isinstance(instance, base):
                parent = base
                break
        else:
            raise ValueError(f"is_overridden: pass `parent=` for an instance of {type(instance).__name__}")
    instance_attr = getattr(type(instance), method_name, None)
    if instance_attr is None:
        # set on the instance itself (e.g. a lambda assigned in __init__)
        return method_name in getattr(instance, "__dict__", {})
    parent_attr = getattr(parent, method_name, None)
    if parent_attr is None:
        raise ValueError(f"is_overridden: {parent.__name__} has no method {method_name!r}")
    if method_name in getattr(instance, "__dict__", {}):
        return True
    return getattr(instance_attr, "__code__", instance_attr) is not getattr(parent_attr, "__code__", parent_attr)


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
