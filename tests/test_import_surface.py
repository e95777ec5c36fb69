"""Lightning 2.6.6's import surface exists under fastlit: every public module path, and at least 98% of the public
names, with the rest listed (and justified) in ``tests/import_surface_exceptions.py``.

Modules: ``pytorch_lightning`` and every module ``pkgutil.walk_packages`` finds under it, except those with a
``_``-prefixed path component (private). ``pytorch_lightning.X.Y`` must import as ``fastlit.X.Y``. A Lightning module
that fails to import (an optional dependency) is recorded and reported; its path is still required, its names
cannot be listed.

Names -- the public names of a Lightning module M are
  * every entry of ``M.__all__`` without a leading underscore (an ``__all__`` entry like ``_runif_reasons`` is
    still private by its name), plus
  * every other attribute of M whose name has no leading underscore and is not a module, when either
    (a) M's own source binds it at top level (``def``, ``class``, an assignment; also inside top-level ``if`` /
        ``try``): what M defines -- classes, functions, constants, type aliases such as ``STEP_OUTPUT``; or
    (b) its object comes from a Lightning package (``__module__`` in ``pytorch_lightning``, ``lightning_fabric``,
        ``lightning_utilities``, ``lightning``): names users import *through* M although they live elsewhere
        (``from lightning.pytorch.utilities.rank_zero import rank_zero_only`` gets lightning_utilities' object),
        which Lightning's examples and the libraries built on it do.
  Names M merely imported from torch, typing or the standard library (``Tensor``, ``Optional``, ``os``) are not
  Lightning's surface and are left out; submodules are checked as module paths above.

Beyond existence, the tests check that a name is the same kind of thing (a class where Lightning has a class, a
callable where it has a function), that objects Lightning exports under several paths are one object under fastlit
too (so ``isinstance``/``is`` agree whichever path a user imported from), and that every placeholder for an
unsupported feature imports fine but refuses to be used with an error saying what to do instead.

Run with ``-s`` to see the coverage numbers.
"""
from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
import subprocess
import sys
import types
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from fastlit._placeholders import NotSupportedError, is_placeholder
from import_surface_exceptions import EXCEPTIONS

LIGHTNING_PACKAGES = ("pytorch_lightning", "lightning_fabric", "lightning_utilities", "lightning")
MIN_NAME_COVERAGE = 0.98


def _top_level_bindings(module: types.ModuleType) -> set[str]:
    """Names bound by ``def``/``class``/assignment at the top level of the module's source (rule (a))."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return set()
    names: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:  # `x = ...` and `a, b = ...`; not `obj.attr = ...`
                    elts = target.elts if isinstance(target, ast.Tuple) else [target]
                    names.update(e.id for e in elts if isinstance(e, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                visit(node.orelse)
                visit(node.finalbody)
                for handler in node.handlers:
                    visit(handler.body)

    visit(tree.body)
    return names


def public_names(module: types.ModuleType) -> list[str]:
    """The public names of a Lightning module, by the rule in this file's docstring."""
    names = {n for n in getattr(module, "__all__", ()) if not n.startswith("_")}
    bound = _top_level_bindings(module)
    for name, obj in vars(module).items():
        if name.startswith("_") or isinstance(obj, types.ModuleType):
            continue
        home = getattr(obj, "__module__", None)
        if name in bound or (isinstance(home, str) and home.split(".")[0] in LIGHTNING_PACKAGES):
            names.add(name)
    return sorted(names)


def to_fastlit(module: str) -> str:
    return "fastlit" + module[len("pytorch_lightning"):]


@dataclass
class Surface:
    modules: list[str]  # Lightning module paths
    import_failures: dict[str, str]  # Lightning modules that did not import here: path -> error
    names: dict[str, list[str]]  # Lightning module -> its public names
    objects: dict[tuple[str, str], Any] = field(default_factory=dict)  # (Lightning module, name) -> object


@functools.lru_cache(maxsize=None)
def lightning_surface() -> Surface:
    pl = pytest.importorskip("pytorch_lightning")
    walk_errors: dict[str, str] = {}
    found = [info.name for info in pkgutil.walk_packages(pl.__path__, "pytorch_lightning.",
                                                         onerror=lambda name: walk_errors.setdefault(name, "walk"))]
    modules = ["pytorch_lightning"] + [m for m in found if not any(p.startswith("_") for p in m.split("."))]
    surface = Surface(modules, {}, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's deprecation shims warn on import
        for name in modules:
            try:
                module = importlib.import_module(name)
            except Exception as e:  # an optional dependency of Lightning's: record, keep going
                surface.import_failures[name] = f"{type(e).__name__}: {e}"
                continue
            surface.names[name] = public_names(module)
            for attr in surface.names[name]:
                surface.objects[(name, attr)] = getattr(module, attr)
    return surface


def fastlit_object(module: str, name: str) -> Any:
    """The object at fastlit's path for Lightning's ``module.name`` (AttributeError/ImportError if absent)."""
    return getattr(importlib.import_module(to_fastlit(module)), name)


def _has(module: str, name: str) -> bool:
    try:
        fastlit_object(module, name)
        return True
    except (ImportError, AttributeError):
        return False


@functools.lru_cache(maxsize=None)
def coverage() -> tuple[int, int, list[str]]:
    """(names covered, names total, the missing ``"module:name"`` keys)."""
    surface = lightning_surface()
    total = covered = 0
    missing = []
    for module, names in surface.names.items():
        for name in names:
            total += 1
            if _has(module, name):
                covered += 1
            else:
                missing.append(f"{module}:{name}")
    return covered, total, missing


def test_every_lightning_module_path_exists_under_fastlit():
    surface = lightning_surface()
    absent = []
    for module in surface.modules:
        try:
            importlib.import_module(to_fastlit(module))
        except ImportError as e:
            absent.append(f"{to_fastlit(module)} ({e})")
    print(f"\nimport surface: modules {len(surface.modules) - len(absent)}/{len(surface.modules)} "
          f"(Lightning modules that did not import here: {len(surface.import_failures)} "
          f"{sorted(surface.import_failures)})")
    assert not absent, f"{len(absent)} Lightning module paths missing under fastlit: {absent}"


def test_names_are_covered_except_the_documented_exceptions():
    covered, total, missing = coverage()
    reasons = Counter(EXCEPTIONS[m].split(";")[0].split(",")[0][:40] for m in missing if m in EXCEPTIONS)
    print(f"\nimport surface: names {covered}/{total} ({covered / total:.2%}); exceptions {len(EXCEPTIONS)}: "
          f"{dict(reasons)}")
    undocumented = [m for m in missing if m not in EXCEPTIONS]
    assert not undocumented, f"{len(undocumented)} Lightning names missing under fastlit: {undocumented}"
    assert covered / total >= MIN_NAME_COVERAGE, f"only {covered}/{total} names"


def test_exceptions_list_is_not_stale():
    """Every exception names a real Lightning name that fastlit really lacks (else it hides nothing: drop it)."""
    surface = lightning_surface()
    known = {f"{m}:{n}" for m, names in surface.names.items() for n in names}
    _, _, missing = coverage()
    assert set(EXCEPTIONS) <= known, f"not Lightning names: {sorted(set(EXCEPTIONS) - known)}"
    assert set(EXCEPTIONS) <= set(missing), f"present in fastlit now: {sorted(set(EXCEPTIONS) - set(missing))}"


def test_names_are_the_same_kind_of_object():
    """A class where Lightning has a class (so subclassing and isinstance work), a callable where it has one."""
    surface = lightning_surface()
    wrong = []
    for (module, name), theirs in surface.objects.items():
        if not _has(module, name):
            continue
        ours = fastlit_object(module, name)
        if inspect.isclass(theirs) and not inspect.isclass(ours):
            wrong.append(f"{to_fastlit(module)}.{name}: Lightning's is a class, fastlit's a {type(ours).__name__}")
        elif (inspect.isfunction(theirs) or inspect.isbuiltin(theirs)) and not callable(ours):
            wrong.append(f"{to_fastlit(module)}.{name}: Lightning's is a function, fastlit's is not callable")
    assert not wrong, "\n".join(wrong)


def test_one_object_under_every_path_lightning_shares():
    """Where Lightning exports one class/function under several paths, fastlit's paths give one object too."""
    surface = lightning_surface()
    groups: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for key, theirs in surface.objects.items():
        if inspect.isclass(theirs) or inspect.isfunction(theirs):  # identity of constants means nothing
            groups[id(theirs)].append(key)
    split = []
    for keys in groups.values():
        present = [k for k in keys if _has(*k)]
        ours = {id(fastlit_object(*k)) for k in present}
        if len(ours) > 1:
            split.append(", ".join(f"{to_fastlit(m)}.{n}" for m, n in present))
    assert not split, "one Lightning object, several fastlit objects:\n" + "\n".join(split)


def _placeholders() -> dict[str, Any]:
    surface = lightning_surface()
    found = {}
    for module, name in surface.objects:
        if _has(module, name):
            obj = fastlit_object(module, name)
            if is_placeholder(obj):
                found[f"{obj.__module__}.{name}"] = obj
    return found


def test_every_placeholder_refuses_to_run_with_a_clear_error():
    placeholders = _placeholders()
    assert len(placeholders) > 50  # the helper is really what provides the unsupported names
    for path, obj in placeholders.items():
        with pytest.raises(NotSupportedError) as info:
            obj("any", "arguments", key="value")
        message = str(info.value)
        # says what (Lightning's path), that fastlit lacks it, and what to do instead
        assert obj.__name__ in message and "lightning.pytorch." in message and "fastlit" in message, path
        assert len(message.split(": ", 1)[1]) > 40, path


def test_placeholder_classes_keep_isinstance_and_subclassing_working():
    from fastlit.strategies import DDPStrategy, DeepSpeedStrategy, ParallelStrategy

    class MyStrategy(DeepSpeedStrategy):  # defining a subclass works (libraries do this at import time)
        def __init__(self) -> None:  # and does not bypass the refusal
            pass

    assert issubclass(DeepSpeedStrategy, DDPStrategy) and issubclass(DeepSpeedStrategy, ParallelStrategy)
    assert not isinstance(DDPStrategy(), DeepSpeedStrategy)
    with pytest.raises(NotSupportedError, match="DeepSpeed"):
        MyStrategy()


def test_unsupported_errors_are_catchable_as_lightnings_and_as_not_implemented():
    from fastlit.loggers import WandbLogger
    from fastlit.utilities.exceptions import MisconfigurationException

    for kind in (MisconfigurationException, NotImplementedError):
        with pytest.raises(kind, match="TensorBoardLogger"):
            WandbLogger(project="x")


def test_import_fastlit_does_not_load_the_surface_only_modules():
    """The compatibility modules are imported when a script asks for them, never by ``import fastlit``."""
    surface_only = ["fastlit.cli", "fastlit.loops", "fastlit.serve", "fastlit.trainer.connectors",
                    "fastlit.demos.transformer", "fastlit.demos.mnist_datamodule", "fastlit.accelerators",
                    "fastlit.utilities.migration", "fastlit.strategies.launchers", "fastlit.overrides"]
    code = f"import sys, fastlit; print([m for m in {surface_only!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
