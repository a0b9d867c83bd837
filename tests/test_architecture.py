"""How the packages depend on each other, read from the source (every import, at module
level or inside a function; type-only imports under ``if TYPE_CHECKING:`` run nothing and
are left out): no cycles between packages, and the one-way rules the design states —
optimizers never import the trainer, the models, the layers or the callbacks; the autodiff
helpers import nothing of deepdescent."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "deepdescent"


def _package_of(module: str) -> str | None:
    """``deepdescent.optimizers.first_order.adam`` → ``optimizers``; ``None`` outside."""
    parts = module.split(".")
    if parts[0] != "deepdescent" or len(parts) < 2:
        return None
    return parts[1]


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


PACKAGES = {
    path.stem
    for path in SOURCE.iterdir()
    if (path.is_dir() and (path / "__init__.py").exists()) or path.suffix == ".py"
} - {"__init__"}


def package_graph() -> dict[str, set[str]]:
    """Package → the other packages its modules import at run time."""
    graph: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for path in SOURCE.rglob("*.py"):
        relative = path.relative_to(SOURCE.parent).with_suffix("")
        package = _package_of(".".join(relative.parts))
        if package not in PACKAGES:
            continue
        targets = {_package_of(name) for name in _imports(path)}
        graph[package].update(t for t in targets if t in PACKAGES and t != package)
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, frontier = set(), [start]
    while frontier:
        node = frontier.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            frontier.extend(graph.get(node, ()))
    return False


def test_the_graph_is_read_from_the_source():
    graph = package_graph()
    assert "training" in graph["models"]
    assert "optimizers" in graph["training"]
    assert "autodiff" in graph["optimizers"]


def test_no_import_cycle_between_packages():
    graph = package_graph()
    cycles = [
        (a, b)
        for a, b in itertools.permutations(graph, 2)
        if b in graph[a] and _reaches(graph, b, a)
    ]
    assert not cycles, f"packages that import each other (directly or not): {cycles}"


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("optimizers", {"training", "models", "layers", "callbacks", "cli"}),
        ("autodiff", {"optimizers", "training", "models", "layers", "losses", "callbacks"}),
        ("layers", {"optimizers", "training", "models", "callbacks"}),
        ("losses", {"optimizers", "training", "models", "layers"}),
        ("callbacks", {"training", "models"}),
        ("problems", {"bench", "viz", "cli"}),
        ("viz", {"bench", "cli"}),
    ],
)
def test_one_way_dependencies(package, forbidden):
    assert not package_graph()[package] & forbidden
