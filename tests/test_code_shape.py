"""The shape of the code (issue #13): short functions, imports that go one way, no private names reached
across modules. Static checks of the source (ast), no imports of it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 45  # def line to last line
PACKAGES = ("scratch_nn", "reference", "parity")


def modules(package: str) -> dict[str, ast.Module]:
    """Every module of a package by its dotted name, parsed."""
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): ast.parse(path.read_text(), str(path))
        for path in sorted((ROOT / package).rglob("*.py"))
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_is_longer_than_45_lines(package):
    long = [
        f"{name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, tree in modules(package).items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def imported(name: str, tree: ast.Module, package: str) -> set[str]:
    """The package's modules that a module imports, anywhere in it (a function's local import included)."""
    here = name.rsplit(".", 1)[0] if not name.endswith("__init__") else name.removesuffix(".__init__")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = here.rsplit(".", node.level - 1)[0] if node.level else ""
            target = ".".join(p for p in (base, node.module or "") if p)
            found |= {target} | {f"{target}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {t for t in found if t.split(".")[0] == package}


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph as a list of modules (first == last), or []."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return []


def import_graph(package: str) -> dict[str, set[str]]:
    parsed = modules(package)
    names = {n.removesuffix(".__init__") for n in parsed}
    graph = {}
    for name, tree in parsed.items():
        node = name.removesuffix(".__init__")
        graph[node] = {t for t in imported(name, tree, package) if t in names and t != node}
    # the package's __init__ imports its modules; a module importing the package itself is not counted
    return {n: {t for t in ts if t != package} for n, ts in graph.items()}


def test_cycle_finder_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package):
    """No import cycle inside a package, a function's local (lazy) import included."""
    assert cycle(import_graph(package)) == []


def test_the_import_graph_sees_relative_and_lazy_imports():
    graph = import_graph("scratch_nn")
    assert {"scratch_nn.network", "scratch_nn.params", "scratch_nn._checks"} <= set(graph)
    assert "scratch_nn.params" in graph["scratch_nn.network"]
    assert "parity.mutants" in import_graph("parity")["parity.sweep"]  # imported inside a function


def test_the_packages_import_one_way():
    """The engine imports neither the reference nor the harness; the reference never imports the harness's
    pytest side (its catalogue, parity.catalogue, is torch- and pytest-free)."""

    def reaches(package, other):
        return sorted(
            name
            for name, tree in modules(package).items()
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            and any(t.split(".")[0] == other for t in _targets(node))
        )

    assert reaches("scratch_nn", "reference") == [] and reaches("scratch_nn", "parity") == []
    assert reaches("scratch_nn", "torch") == [] and reaches("scratch_nn", "pytest") == []
    assert reaches("reference", "pytest") == []


def _targets(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    return [node.module or ""] if not node.level else []


def private_names_reached(tree: ast.Module, package: str) -> list[str]:
    """`from package[.module] import _name` and `module._name` for a module of the package imported by
    name."""
    aliases, reached = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == package:
            for alias in node.names:
                if alias.name.startswith("_"):
                    reached.append(f"{node.module}.{alias.name}")
                aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name.split(".")[0] == package}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            reached.append(f"{node.value.id}.{node.attr}")
    return reached


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_or_test_reaches_into_another_modules_private_name(package):
    """``from package.module import _name`` or ``module._name``, in a test or in any module."""
    files = sorted((ROOT / "tests").glob("test_*.py")) + [
        p for each in PACKAGES for p in sorted((ROOT / each).rglob("*.py"))
    ]
    reached = {
        str(path.relative_to(ROOT)): found
        for path in files
        if (found := private_names_reached(ast.parse(path.read_text()), package))
    }
    assert reached == {}
