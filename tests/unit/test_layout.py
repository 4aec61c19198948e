"""The layers import in one direction (schemas ← streams ← agents ← newswire), with no cycle."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from tests.conftest import PROJECT

LAYERS = ("schemas", "streams", "agents", "newswire")


def module_name(path: Path) -> str:
    """The dotted name of the project module at ``path``."""
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    """Every module of the four layers, by dotted name."""
    return {
        module_name(path): path
        for layer in LAYERS
        for path in sorted((PROJECT / layer).rglob("*.py"))
    }


def imported(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports, anywhere in it (lazy and type-only imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in modules}


def import_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports."""
    modules = project_modules()
    return {name: imported(path, modules) for name, path in modules.items()}


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Each import of a module from a layer above its own."""
    return sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if layer(target) > layer(module)
    )


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle of modules importing each other (empty if there is none)."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        return list(error.args[1])
    return []


def test_every_layer_is_found() -> None:
    found = {module.split(".")[0] for module in import_graph()}
    assert found == set(LAYERS)


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert upward_imports(import_graph()) == []


def test_no_modules_import_each_other() -> None:
    assert cycle(import_graph()) == []


def test_an_upward_import_and_a_cycle_are_found(tmp_path: Path) -> None:
    sources = {
        "streams.first": "from streams import second\n",
        "streams.second": "def late():\n    import streams.first\n",
        "agents.app": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from newswire.cli import main\n",
        "newswire.cli": "main = None\n",
    }
    modules = {name: tmp_path / f"{name}.py" for name in sources}
    for name, path in modules.items():
        path.write_text(sources[name])
    graph = {name: imported(path, modules) for name, path in modules.items()}
    assert upward_imports(graph) == ["agents.app imports newswire.cli"]
    assert sorted(cycle(graph)) == ["streams.first", "streams.first", "streams.second"]
