"""``config_schema/`` reads top-down: no import cycle, no Pulumi, and the error types import nothing of it.

Every import counts, wherever it stands: at the top, inside a function, or under ``TYPE_CHECKING``.
A lazy import only hides a cycle from the interpreter, not from the reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "config_schema"
# Imported by nearly every other module: what each of them may import of the package.
SHARED = {"errors": set(), "dsn": set(), "common": {"errors"}, "images": {"errors"}, "fixes": {"errors"}}


def package_imports(path: Path) -> set[str]:
    """The ``config_schema`` modules and the outside packages ``path`` imports, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level and node.module:  # from .x import y
                names.add(f"config_schema.{node.module}")
            elif node.level:  # from . import x
                names |= {f"config_schema.{alias.name}" for alias in node.names}
            elif node.module:
                names.add(node.module)
    return names


def graph() -> dict[str, set[str]]:
    modules = {path.stem: path for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    return {
        name: {
            imported.split(".")[1]
            for imported in package_imports(path)
            if imported.startswith("config_schema.") and imported.split(".")[1] in modules
        }
        for name, path in modules.items()
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle as a path of module names, or [] when the graph has none."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str]:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return []
        visiting.append(node)
        for target in sorted(edges.get(node, ())):
            if cycle := visit(target):
                return cycle
        visiting.pop()
        done.add(node)
        return []

    for start in sorted(edges):
        if cycle := visit(start):
            return cycle
    return []


def test_config_schema_has_no_import_cycle() -> None:
    assert find_cycle(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    # The test above could not fail with a finder that never finds one.
    assert find_cycle({"errors": {"examples"}, "examples": {"images"}, "images": {"errors"}}) == [
        "errors",
        "examples",
        "images",
        "errors",
    ]
    assert find_cycle({"stack": {"kubernetes"}, "kubernetes": set()}) == []


def test_shared_modules_import_nothing_of_the_package() -> None:
    edges = graph()
    assert {name: edges[name] for name in SHARED} == SHARED


def test_the_kubernetes_model_does_not_know_the_stack() -> None:
    edges = graph()
    assert "stack" not in edges["kubernetes"]
    assert "stack" not in edges["network_policy"]


def test_config_schema_is_pure() -> None:
    outside = set()
    for path in PACKAGE.glob("*.py"):
        outside |= {name for name in package_imports(path) if name.split(".")[0] in ("pulumi", "components")}
        outside |= {name for name in package_imports(path) if name.startswith("pulumi_")}
    assert outside == set()
