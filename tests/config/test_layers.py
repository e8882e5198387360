"""Structure: models/ and tasks/ import nothing from bench/ (data flows one way), and every registry
(models, tasks, reports, plots) is the one Registry, filled by decorators in the defining modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from models.registry import Registry

REPO = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["models", "tasks"])
def test_lower_layers_never_import_bench(package):
    offenders = {path.name: sorted(m for m in imported_modules(path) if m == "bench" or m.startswith("bench."))
                 for path in sorted((REPO / package).glob("*.py"))}
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_every_registry_is_the_one_registry():
    import models
    import tasks
    from bench.plots import PLOTS
    from bench.reports import REPORTS

    registries = {"model": models.MODEL_REGISTRY, "task": tasks.TASK_REGISTRY, "report": REPORTS, "plot": PLOTS}
    for kind, registry in registries.items():
        assert isinstance(registry, Registry) and registry.kind == kind and registry
    assert REPORTS["table1"].registry_name == "table1" and PLOTS["figure2"].__module__ == "bench.plots.figure2"
    assert "data" not in tasks.TASK_REGISTRY  # tasks/data.py is a helper, not a task


def test_a_name_registered_twice_is_an_error():
    registry = Registry("report")
    registry.register("a")(lambda: None)
    with pytest.raises(ValueError, match="report 'a' registered twice"):
        registry.register("a")(lambda: None)
    with pytest.raises(KeyError, match="unknown report 'b'; valid: a"):
        registry.get_or_error("b")
