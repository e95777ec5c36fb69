"""fastlit's modules import each other without circles, and ``fastlit.utilities`` imports nothing above it.

The graph is read from the source with ``ast``: every ``import``/``from ... import`` of a fastlit module, at module
level or inside a function (both run), except under ``if TYPE_CHECKING:`` (never runs). An import of a package
means its ``__init__``; a module's own parent packages are left out (Python imports them first anyway, and
``fastlit/__init__`` imports nearly everything). Lazy re-exports (``fastlit._reexport.lazy_exports``, names given
as strings) are not imports of the module that declares them: they only forward Lightning's import paths.
"""
from __future__ import annotations

import ast
from pathlib import Path

import fastlit

ROOT = Path(fastlit.__file__).parent

# Circles that came with code this test did not write, each with why it stays for now. Any other circle fails; so
# does one of these if it grows (the set of modules must be exactly this).
KNOWN_CIRCLES: set[tuple[str, ...]] = set()  # none: a circle found is a failure

# what fastlit.utilities may import besides itself: the modules below it
UTILITIES_MAY_IMPORT = ("fastlit.utilities", "fastlit._placeholders", "fastlit._reexport", "fastlit.__about__")


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The fastlit modules ``name`` imports at run time (its own parent packages left out)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name and not name.startswith(target + "."):
            found.add(target)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {m for m in found if m.split(".")[0] == ROOT.name}


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = _modules(root)
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe(graph: dict[str, set[str]], component: list[str]) -> str:
    members = set(component)
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & members))}" for m in component)


def test_no_import_circle() -> None:
    graph = import_graph(ROOT)
    found = [c for c in circles(graph) if tuple(c) not in KNOWN_CIRCLES]
    assert not found, "import circles:\n" + "\n".join(_describe(graph, c) for c in found)


def test_utilities_import_nothing_above_them() -> None:
    graph = import_graph(ROOT)
    bad = {name: sorted(t for t in targets if not t.startswith(UTILITIES_MAY_IMPORT))
           for name, targets in graph.items() if name.startswith("fastlit.utilities")}
    assert not {k: v for k, v in bad.items() if v}


def test_the_checker_sees_circles_through_functions_and_skips_type_checking(tmp_path: Path) -> None:
    # a tree with the shapes this test exists for: a circle closed by an import inside a function, one through a
    # package's __init__, and a TYPE_CHECKING-only import that must not count
    pkg = tmp_path / "fastlit"
    (pkg / "core").mkdir(parents=True)
    (pkg / "checkpoint").mkdir()
    (pkg / "trainer").mkdir()
    (pkg / "__init__.py").write_text("from fastlit.core.module import M\n")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "module.py").write_text("def load():\n    from fastlit.checkpoint import loading\n")
    (pkg / "checkpoint" / "__init__.py").write_text("from fastlit.checkpoint.loading import load\n")
    (pkg / "checkpoint" / "loading.py").write_text("from fastlit.checkpoint.connector import x\n")
    (pkg / "checkpoint" / "connector.py").write_text("from ..core.module import M\n")
    (pkg / "trainer" / "__init__.py").write_text("")
    (pkg / "trainer" / "fit_loop.py").write_text("from fastlit.trainer import eval_loop\n")
    (pkg / "trainer" / "eval_loop.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fastlit.trainer.fit_loop import f\n")
    graph = import_graph(pkg)
    assert circles(graph) == [["fastlit.checkpoint.connector", "fastlit.checkpoint.loading", "fastlit.core.module"]]
    (pkg / "trainer" / "eval_loop.py").write_text("def f():\n    from fastlit.trainer.fit_loop import g\n")
    assert ["fastlit.trainer.eval_loop", "fastlit.trainer.fit_loop"] in circles(import_graph(pkg))
