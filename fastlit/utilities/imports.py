"""Is a package installed, at which version? (``RequirementCache("torch>=2.0")`` is truthy when it is.)

Nothing here imports the packages it asks about until asked: the flags below are lazy, so importing this module
costs next to nothing. Version specifiers are parsed with ``packaging`` (installed with tensorboard, a fastlit
dependency), imported on first use.
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata
import operator
import sys
from importlib.util import find_spec
from typing import Callable, Optional

from fastlit.utilities.rank_zero import rank_zero_warn  # noqa: F401  (Lightning's module exports it)


@functools.lru_cache(maxsize=None)
def package_available(package_name: str) -> bool:
    """Whether a top-level package can be imported (found on the path; nothing is imported)."""
    try:
        return find_spec(package_name) is not None
    except ModuleNotFoundError:
        return False


@functools.lru_cache(maxsize=None)
def module_available(module_path: str) -> bool:
    """Whether a dotted module path imports (``"torch.utils.data"``). Imports it if its package exists."""
    if not package_available(module_path.split(".")[0]):
        return False
    try:
        importlib.import_module(module_path)
    except ImportError:
        return False
    return True


def compare_version(package: str, op: Callable, version: str, use_base_version: bool = False) -> bool:
    """``op(installed version of package, version)``; False when the package is not importable."""
    from packaging.version import Version

    try:
        pkg = importlib.import_module(package)
    except (ImportError, RuntimeError):
        return False
    try:
        installed = Version(pkg.__version__ if hasattr(pkg, "__version__") else importlib.metadata.version(package))
    except (TypeError, importlib.metadata.PackageNotFoundError):
        return True  # a mocked module (docs builds) has no version: assume it is recent enough
    if use_base_version:
        installed = Version(installed.base_version)
    return op(installed, Version(version))


class RequirementCache:
    """Truthy when ``requirement`` (a pip specifier such as ``"rich>=10.2.2"``) is installed, or when ``module``
    imports. Checked once, on the first ``bool()``/``str()``; ``str()`` says what is missing and how to install it.

    Args:
        requirement: the distribution and optional version specifiers.
        module: a module to import instead of / in addition to the distribution check.
    """

    def __init__(self, requirement: Optional[str] = None, module: Optional[str] = None) -> None:
        if not (requirement or module):
            raise ValueError("At least one arguments need to be set.")
        self.requirement = requirement
        self.module = module

    def _check_requirement(self) -> None:
        from packaging.requirements import Requirement
        from packaging.version import InvalidVersion, Version

        assert self.requirement
        try:
            req = Requirement(self.requirement)
            installed = Version(importlib.metadata.version(req.name))
            self.available = req.specifier.contains(installed, prereleases=True)
        except (importlib.metadata.PackageNotFoundError, InvalidVersion) as ex:
            self.available = False
            self.message = f"{type(ex).__name__}: {ex}. HINT: Try running `pip install -U {self.requirement!r}`"
        if self.available:
            self.message = f"Requirement {self.requirement!r} met"
            return
        # a distribution without metadata may still import (e.g. a source checkout on sys.path)
        if not any(c in self.requirement for c in "=<>") or self.module is not None:
            self.available = module_available(self.module or self.requirement)
        self.message = (f"Requirement {self.requirement!r} not met. HINT: Try running "
                        f"`pip install -U {self.requirement!r}`")

    def _check_module(self) -> None:
        assert self.module
        self.available = module_available(self.module)
        self.message = (f"Module {self.module!r} available" if self.available else
                        f"Module not found: {self.module!r}. HINT: Try running `pip install -U {self.module}`")

    def _check(self) -> None:
        if hasattr(self, "available"):
            return
        if self.requirement:
            self._check_requirement()
        if getattr(self, "available", True) and self.module:
            self._check_module()

    def __bool__(self) -> bool:
        self._check()
        return self.available

    def __str__(self) -> str:
        self._check()
        return self.message

    def __repr__(self) -> str:
        return self.__str__()


class _LazyVersionCheck:
    """A flag computed on first ``bool()`` (so importing this module never imports torch's version parser)."""

    def __init__(self, package: str, op: Callable, version: str) -> None:
        self._args = (package, op, version)
        self._value: Optional[bool] = None

    def __bool__(self) -> bool:
        if self._value is None:
            self._value = compare_version(*self._args)
        return self._value

    def __repr__(self) -> str:
        package, op, version = self._args
        return f"{package} {op.__name__} {version}: {bool(self)}"


# Lightning's flags, same names (code written for Lightning branches on them).
_PYTHON_GREATER_EQUAL_3_11_0 = sys.version_info[:2] >= (3, 11)
_TORCH_GREATER_EQUAL_2_6 = _LazyVersionCheck("torch", operator.ge, "2.6.0")
_TORCH_GREATER_EQUAL_2_8 = _LazyVersionCheck("torch", operator.ge, "2.8.0")
_TORCH_EQUAL_2_8 = RequirementCache("torch>=2.8.0,<2.9.0")
_TORCH_EQUAL_2_9 = RequirementCache("torch>=2.9.0,<2.10.0")
_TORCHMETRICS_GREATER_EQUAL_0_8_0 = RequirementCache("torchmetrics>=0.8.0")
_TORCHMETRICS_GREATER_EQUAL_0_9_1 = RequirementCache("torchmetrics>=0.9.1")
_TORCHMETRICS_GREATER_EQUAL_0_11 = RequirementCache("torchmetrics>=0.11.0")
_TORCHMETRICS_GREATER_EQUAL_1_0_0 = RequirementCache("torchmetrics>=1.0.0")
_OMEGACONF_AVAILABLE = RequirementCache(module="omegaconf")
_TORCHVISION_AVAILABLE = RequirementCache("torchvision")
_RICH_AVAILABLE = RequirementCache("rich>=10.2.2")
_JSONARGPARSE_AVAILABLE = RequirementCache("jsonargparse")
