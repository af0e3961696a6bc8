"""The layout shows the architecture, and a test keeps it so: the engine knows no trainer
and no analysis; the built-in trainer knows only the plug-in interface; the analysis side
reads results folders. No module imports one that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sweeper"
# what each layer may import from sweeper, besides its own layer (errors and metrics are shared vocabulary)
ALLOWED = {
    "execution": {"sweeper.errors", "sweeper.metrics", "sweeper.storage.*", "sweeper.usercode.*", "sweeper.study.*", "sweeper.schedules.*"},
    "storage": {"sweeper.errors", "sweeper.metrics", "sweeper.execution.*", "sweeper.usercode.*", "sweeper.study.*", "sweeper.schedules.*"},
    "usercode": {"sweeper.errors", "sweeper.metrics", "sweeper.execution.*", "sweeper.study.*", "sweeper.schedules.*"},
    "schedules": {"sweeper.errors", "sweeper.metrics", "sweeper.execution.*", "sweeper.usercode.*", "sweeper.storage.*"},
    "study": {"sweeper.errors", "sweeper.metrics", "sweeper.execution.*", "sweeper.usercode.*", "sweeper.schedules.*"},
    "builtin": {"sweeper.errors", "sweeper.metrics", "sweeper.usercode.plugin", "sweeper.study.study",
                "sweeper.execution.devices"},
    # the results folder's format: its file names and columns, and how damaged rows are read
    "analysis": {"sweeper.errors", "sweeper.metrics", "sweeper.storage.*"},
    # the live page: results folders as the analysis side reads them
    "web": {"sweeper.errors", "sweeper.metrics", "sweeper.storage.*", "sweeper.analysis.*"},
    # MLflow and TensorBoard: results folders as the analysis side reads them; Lightning: a trainer
    # plug-in, which like the built-in one knows only the plug-in interface
    "integrations": {"sweeper.errors", "sweeper.metrics", "sweeper.storage.*", "sweeper.analysis.*",
                     "sweeper.usercode.plugin"},
}


def imports(path: Path) -> set[str]:
    """Every sweeper module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sweeper"):
            package = (PACKAGE.parent / node.module.replace(".", "/")).is_dir()
            found |= {f"{node.module}.{a.name}" if package else node.module for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sweeper")}
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(layer):
    for path in sorted((PACKAGE / layer).glob("*.py")):
        for name in imports(path):
            own = name.startswith(f"sweeper.{layer}.") or name == f"sweeper.{layer}"
            allowed = name in ALLOWED[layer] or any(a.endswith(".*") and name.startswith(a[:-1]) for a in ALLOWED[layer])
            assert own or allowed, f"{module_name(path)} imports {name}"


def test_nothing_below_reaches_the_integrations():
    for layer in ("execution", "storage", "usercode", "study", "schedules", "builtin", "analysis"):
        for path in sorted((PACKAGE / layer).glob("*.py")):
            assert not any(n.startswith("sweeper.integrations") for n in imports(path)), module_name(path)


def test_no_import_cycles():
    graph = {module_name(p): {n for n in imports(p)} for p in PACKAGE.rglob("*.py")}
    graph = {m: {n for n in deps if n in graph and n != m} for m, deps in graph.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and not seen.add(n) and reaches(n, goal, seen)) for n in graph[start])

    cycles = [(a, b) for a in graph for b in graph[a] if a != "sweeper" and b != "sweeper" and reaches(b, a, set())]
    assert not cycles, f"import cycles: {cycles[:3]}"
