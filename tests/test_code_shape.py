"""The shape of the harness's code: short functions, imports that go one way, no private names across modules.

Read from the source with ``ast``: no module is imported. Covers parity/ and reference/ (but reference/ops.py
and reference/training.py, the op catalogue's and the training reference's, and the op catalogue's files in
parity/, which keep their own rules).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 45
PARITY_FILES = (
    "clipping",
    "compare",
    "environment",
    "html_report",
    "mutants",
    "plugin",
    "property_harness",
    "report",
    "returns",
    "sweep",
    "tables",
    "tensors",
    "tolerance",
    "trajectory",
)
REFERENCE_EXCLUDED = ("ops.py", "training.py")


def shaped_files() -> list[Path]:
    parity = [ROOT / "parity" / f"{name}.py" for name in PARITY_FILES]
    reference = [p for p in sorted((ROOT / "reference").glob("*.py")) if p.name not in REFERENCE_EXCLUDED]
    return parity + reference


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) of every import in the file, at any depth (lazy ones too)."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.append((base, [alias.name for alias in node.names]))
    return out


@pytest.mark.parametrize("path", shaped_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_parity_functions_short(path):
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions longer than {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


@pytest.mark.parametrize("path", shaped_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_parity_imports_no_private_names(path):
    own = module_name(path)
    private = [
        f"{name} from {module}"
        for module, names in imports(path)
        for name in names
        if name.startswith("_") and not name.startswith("__") and module != own
    ]
    assert not private, f"{own} imports private names of other modules: {', '.join(private)}"


def test_parity_imports_form_no_cycle():
    """Among parity/ and reference/ (every module, lazy imports included), imports go one way."""
    paths = sorted((ROOT / "parity").glob("*.py")) + sorted((ROOT / "reference").glob("*.py"))
    modules = {module_name(p): p for p in paths}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for module, names in imports(path):
            submodules = {f"{module}.{n}" for n in names if f"{module}.{n}" in modules}
            targets |= submodules
            if module in modules and len(submodules) < max(len(names), 1):  # a name of the module itself
                targets.add(module)
        graph[name] = sorted(targets - {name})
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = "open", stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node], _ = "done", stack.pop()
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_lazy_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": [], "c": ["a"]}) is None
