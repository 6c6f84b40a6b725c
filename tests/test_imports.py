"""The package's import graph has no circle: read from the source (ast), not by importing it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).resolve().parent


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the package `root`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(body: list[ast.stmt], *, deferred: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported (with `deferred`: also those inside
    functions and under `if TYPE_CHECKING:`)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if deferred:
                yield from _imports(node.body, deferred=deferred)
        elif isinstance(node, ast.If) and _type_checking_only(node):
            if deferred:
                yield from _imports(node.body, deferred=deferred)
            yield from _imports(node.orelse, deferred=deferred)
        else:  # class bodies, try/with/if blocks run at import time
            for block in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, block, None)
                if isinstance(inner, list):
                    yield from _imports([n for n in inner if isinstance(n, ast.stmt)], deferred=deferred)
                    for handler in inner:
                        if isinstance(handler, ast.ExceptHandler):
                            yield from _imports(handler.body, deferred=deferred)


def import_graph(root: Path, *, deferred: bool = False) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (relative imports resolved; `from a import b` names the
    submodule a.b when there is one, else a)."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")).body, deferred=deferred):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in modules)
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:
                    edges.add(f"{target}.{alias.name}")
                elif target in modules:
                    edges.add(target)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]], start: str | None = None) -> list[str] | None:
    """One import circle (its modules, the first repeated at the end), or None. From `start` only, if given."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in [start] if start else sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_the_package_imports_in_no_circle() -> None:
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_finetune_config_reaches_nothing_that_imports_it_back() -> None:
    # counting imports inside functions and under TYPE_CHECKING too: the config is what the methods, the
    # launchers and the training data read, so it must not need any of them
    graph = import_graph(PACKAGE, deferred=True)
    cycle = find_cycle(graph, "harness.finetune.config")
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_walker_finds_a_circle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("from .. import c\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n"
        "def later():\n    import pkg.a\nfrom . import a\n"
    )
    (package / "d.py").write_text("import pkg.c\n")
    graph = import_graph(package)
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    assert graph["pkg.c"] == {"pkg.a"}  # neither the function's import nor the TYPE_CHECKING one
    assert import_graph(package, deferred=True)["pkg.c"] == {"pkg.a", "pkg.d"}
    (package / "c.py").write_text("def later():\n    from pkg import a\n")
    assert find_cycle(import_graph(package)) is None
    assert find_cycle(import_graph(package, deferred=True)) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
