"""Tied (shared) parameters: find them by name, and re-tie them after something (e.g. ``.to(xla)``) untied them."""
from __future__ import annotations

from typing import Optional

from torch import nn


def find_shared_parameters(module: nn.Module) -> list[list[str]]:
    """Groups of parameter names (``"encoder.weight"``) that refer to one and the same parameter."""
    return _shared(module, {}, "")


def _shared(module: nn.Module, seen: dict[nn.Parameter, list[str]], prefix: str) -> list[list[str]]:
    # walk _parameters/_modules directly: named_parameters() de-duplicates, which is exactly what hides ties
    for name, param in module._parameters.items():
        if param is not None:
            seen.setdefault(param, []).append(f"{prefix}.{name}" if prefix else name)
    for name, child in module._modules.items():
        if child is not None:
            _shared(child, seen, f"{prefix}.{name}" if prefix else name)
    return [names for names in seen.values() if len(names) > 1]


def set_shared_parameters(module: nn.Module, shared_params: list[list[str]]) -> nn.Module:
    """Make every name of each group point at the first one's parameter again; returns ``module``."""
    for names in shared_params:
        ref = _get(module, names[0])
        for path in names[1:]:
            owner_path, _, attr = path.rpartition(".")
            setattr(_get(module, owner_path) if owner_path else module, attr, ref)
    return module


def _get(module: nn.Module, path: Optional[str]) -> nn.Module:
    for name in (path or "").split("."):
        if name:
            module = getattr(module, name)
    return module
