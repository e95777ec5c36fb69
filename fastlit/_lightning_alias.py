"""fastlit standing in for Lightning for a whole program (``fastlit.as_lightning()``, ``python -m fastlit.run``).

A ``sys.meta_path`` finder, placed before Python's own, answers imports of ``pytorch_lightning[.X]`` and
``lightning.pytorch[.X]`` with fastlit's module ``fastlit[.X]`` itself, the very same object, so classes,
``isinstance`` and ``issubclass`` agree whichever name a library used. ``lightning`` is a small package holding
the top-level names it exports (``LightningModule``, ``Trainer``, ...) and ``lightning.pytorch``.

Nothing falls back to the real Lightning, even when it is installed: a module fastlit does not have, and every
``lightning.fabric``/``lightning_fabric`` module (fastlit has no Fabric), raises ``ModuleNotFoundError`` saying
which fastlit module is missing and that fastlit stands in for Lightning. The one exception is the short list
``FABRIC_MODULES`` of Fabric utility modules that libraries built on Lightning import for types and helpers
(``lightning.fabric.utilities.types`` for ``_PATH``, ...): those map onto ``fastlit._fabric``; their parent
packages (``lightning.fabric``, ``lightning.fabric.utilities``) are empty stand-ins whose every other name raises
``ImportError`` (``from lightning.fabric import Fabric`` fails loudly). Installing the hook after real
Lightning was imported is refused, since objects of both would then mix.

Kept out of ``import fastlit``: only ``as_lightning`` imports this module.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any, Optional, Sequence

# import name -> fastlit module name; a submodule maps by appending the same suffix
_ALIASES = {"pytorch_lightning": "fastlit", "lightning.pytorch": "fastlit"}
_NOT_PROVIDED = ("lightning_fabric", "lightning.fabric")  # fastlit has no Fabric: refused, never the real one
# ... except these utility modules (Fabric path below either root -> fastlit module with the same names)
FABRIC_MODULES = {
    "utilities.types": "fastlit._fabric.types",
    "utilities.seed": "fastlit._fabric.seed",
    "utilities.cloud_io": "fastlit._fabric.cloud_io",
    "utilities.rank_zero": "fastlit._fabric.rank_zero",
}
_FABRIC_PACKAGES = ("", ".utilities")  # parents of FABRIC_MODULES: empty stand-in packages
_ROOTS = frozenset({"pytorch_lightning", "lightning", "lightning_fabric"})
# what `lightning/__init__.py` exports, besides Fabric (fastlit has none)
_LIGHTNING_TOP = ("LightningDataModule", "LightningModule", "Trainer", "Callback", "seed_everything", "__version__")
_HOW = "fastlit is standing in for Lightning in this program (fastlit.as_lightning() / python -m fastlit.run)"


def _missing(fullname: str, detail: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(f"No module named {fullname!r}: {_HOW}, and {detail}. The real Lightning is not "
                               "used as a fallback; run without fastlit.as_lightning() to use it.", name=fullname)


def target_of(fullname: str) -> Optional[str]:
    """The fastlit module an aliased import name resolves to; None for names the hook does not map."""
    for alias, real in _ALIASES.items():
        if fullname == alias:
            return real
        if fullname.startswith(alias + "."):
            return real + fullname[len(alias):]
    return None


class _AliasLoader(importlib.abc.Loader):
    """Hands the import system an existing module object instead of executing anything."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.own_spec: Any = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        # the import system overwrites __spec__ of whatever we return; fastlit's own is put back in exec_module
        self.own_spec = getattr(self.module, "__spec__", None)
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        if self.own_spec is not None:
            module.__spec__ = self.own_spec


class LightningAliasFinder(importlib.abc.MetaPathFinder):
    """Resolves Lightning's import names to fastlit's modules (see the module docstring)."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[types.ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname.partition(".")[0] not in _ROOTS:
            return None  # every other import: one string split and a set lookup
        if fullname == "lightning":
            return _spec(fullname, _lightning_package())
        fabric = _fabric_module(fullname)
        if fabric is not None:
            return _spec(fullname, fabric)
        real = target_of(fullname)
        if real is None:
            if any(fullname == n or fullname.startswith(n + ".") for n in _NOT_PROVIDED):
                raise _missing(fullname, "fastlit has no Fabric (`lightning.fabric`/`lightning_fabric`)")
            raise _missing(fullname, "fastlit only provides `lightning.pytorch` (as `fastlit`)")
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as e:
            # only a missing fastlit module is reported this way; a missing dependency inside one propagates
            if e.name is not None and (real == e.name or real.startswith(e.name + ".")):
                raise _missing(fullname, f"fastlit has no module `{e.name}`") from None
            raise
        return _spec(fullname, module)


def _spec(fullname: str, module: types.ModuleType) -> importlib.machinery.ModuleSpec:
    path = getattr(module, "__path__", None)
    spec = importlib.machinery.ModuleSpec(fullname, _AliasLoader(module), is_package=path is not None)
    if path is not None:
        spec.submodule_search_locations = list(path)
    return spec


def _fabric_module(fullname: str) -> Optional[types.ModuleType]:
    """The module for one of the Fabric paths fastlit provides (FABRIC_MODULES and their parents), else None."""
    for root in _NOT_PROVIDED:
        if fullname == root or fullname.startswith(root + "."):
            rest = fullname[len(root):]
            if rest in _FABRIC_PACKAGES:
                return _fabric_package(fullname)
            real = FABRIC_MODULES.get(rest[1:])
            return importlib.import_module(real) if real is not None else None
    return None


_FABRIC_DOC = "fastlit stand-in for `{}`"


def _fabric_package(fullname: str) -> types.ModuleType:
    """An empty package standing for ``lightning.fabric[.utilities]``: only FABRIC_MODULES live below it."""
    pkg = types.ModuleType(fullname, _FABRIC_DOC.format(fullname) + f": {_HOW}, and fastlit has no Fabric; only "
                           + ", ".join(f"`{fullname.split('.utilities')[0]}.{m}`" for m in FABRIC_MODULES)
                           + " are provided.")
    pkg.__path__ = []

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        root = fullname.split(".utilities")[0]
        if f"{fullname[len(root) + 1:]}.{name}".lstrip(".") in FABRIC_MODULES or (
                fullname == root and name == "utilities"):
            return importlib.import_module(f"{fullname}.{name}")  # `from lightning.fabric.utilities import seed`
        raise ImportError(f"`{fullname}.{name}` is not available: {_HOW}, and fastlit has no Fabric (only "
                          f"{', '.join(sorted(FABRIC_MODULES))} below `{fullname.split('.utilities')[0]}`).",
                          name=fullname)

    pkg.__getattr__ = __getattr__  # type: ignore[method-assign]
    return pkg


def _lightning_package() -> types.ModuleType:
    """The `lightning` package: its top-level names from fastlit; `lightning.pytorch` is set on import."""
    import fastlit

    pkg = types.ModuleType("lightning", f"`lightning` as provided by fastlit {fastlit.__version__}: {_HOW}.")
    for name in _LIGHTNING_TOP:
        setattr(pkg, name, getattr(fastlit, name))
    pkg.__path__ = []  # a package, so `import lightning.pytorch` asks the finder

    def __getattr__(name: str) -> Any:
        if name in ("Fabric", "fabric"):
            raise ImportError(f"`lightning.{name}` is not available: {_HOW}, and fastlit has no Fabric.",
                              name="lightning")
        raise AttributeError(f"module 'lightning' has no attribute {name!r} ({_HOW})")

    pkg.__getattr__ = __getattr__  # type: ignore[method-assign]
    return pkg


_finder: Optional[LightningAliasFinder] = None


def active() -> bool:
    """Whether the hook is installed in this process (DDP re-launches then go through ``fastlit.run``)."""
    return _finder is not None and _finder in sys.meta_path


def _is_ours(name: str, mod: Any) -> bool:
    """Whether ``sys.modules[name]`` was put there by this hook (a fastlit module, or our `lightning`)."""
    real = target_of(name)
    if real is not None:
        return sys.modules.get(real) is mod
    root = next((r for r in _NOT_PROVIDED if name.startswith(r + ".") or name == r), None)
    if root is not None:
        fabric = FABRIC_MODULES.get(name[len(root) + 1:])
        if fabric is not None:
            return sys.modules.get(fabric) is mod
        return (getattr(mod, "__doc__", None) or "").startswith(_FABRIC_DOC.format(name))
    return name == "lightning" and getattr(mod, "__doc__", "").startswith("`lightning` as provided by fastlit")


def _foreign_lightning() -> list[str]:
    """Lightning modules already imported that are not fastlit's (the real package was imported first)."""
    return sorted(name for name, mod in list(sys.modules.items())
                  if name.partition(".")[0] in _ROOTS and mod is not None and not _is_ours(name, mod))


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once; later calls do nothing) and say so once."""
    global _finder
    if active():
        return
    foreign = _foreign_lightning()
    if foreign:
        roots = [r for r in ("pytorch_lightning", "lightning", "lightning_fabric") if any(
            n.partition(".")[0] == r for n in foreign)]
        shown = ", ".join(f"{r} from {getattr(sys.modules.get(r), '__file__', None) or '?'}" for r in roots)
        raise RuntimeError(
            f"fastlit.as_lightning(): Lightning is already imported ({shown}), so objects of Lightning and fastlit "
            "would mix. Call fastlit.as_lightning() before anything imports Lightning, or run the program with "
            "`python -m fastlit.run script.py`.")
    _finder = LightningAliasFinder()
    sys.meta_path.insert(0, _finder)
    import fastlit
    from fastlit.utilities.rank_zero import rank_zero_info

    rank_zero_info(f"fastlit {fastlit.__version__} is standing in for Lightning: `pytorch_lightning`, "
                   "`lightning.pytorch` and `lightning` resolve to fastlit in this program.")

