"""bench check-model: every built-in preset keeps the contract, and each deliberately broken adapter
(tests/plugins/broken_models.py) fails on the line of the rule it breaks, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.commands.check_model import builder
from bench.config import load_config
from bench.conformance import run_checks

BROKEN = str(Path(__file__).parent / "plugins" / "broken_models.py")
CONFIG = load_config()
SMALL = {"hidden_size": 12, "memory_slots": 6, "memory_width": 5}  # every preset, shrunk to test sizes


def small_options(name: str) -> list[str]:
    """--set options shrinking a preset's sizes (only those it has)."""
    import models
    from bench.config import resolve_preset

    from bench.config import _has_memory, resolve_preset

    cls, options = resolve_preset(CONFIG, "models", name, models.MODEL_REGISTRY)
    config_class = models.MODEL_REGISTRY[options.get("layer", "") if cls == "stacked" else cls].config_class
    keys = ["hidden_size"] + (["memory_slots", "memory_width"] if _has_memory(config_class) else [])
    return [f"model.{key}={SMALL[key]}" for key in keys]


@pytest.mark.parametrize("name", sorted(CONFIG["models"]))
def test_every_builtin_preset_keeps_the_contract(name):
    checks = run_checks(builder(CONFIG, name, small_options(name), None), long_steps=40)
    failed = [c.line() for c in checks if c.passed is False]
    assert not failed, failed
    assert [c.name for c in checks][0] == "step loop equals forward" and len(checks) == 10


@pytest.mark.parametrize("model, failing", [
    ("broken-state-on-module", "state not stored on the module"),
    ("broken-step-not-forward", "step loop equals forward"),
    ("broken-unused-parameter", "every parameter receives a gradient"),
    ("broken-no-detach", "detach_state cuts the graph"),
])
def test_a_broken_adapter_fails_on_its_line(capsys, model, failing):
    assert main(["check-model", model, "--plugin", BROKEN, "--long-steps", "20"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"FAIL  {failing}:" in "\n".join(lines), lines
    assert any(line.startswith("PASS  parameter count") for line in lines)
    assert lines[-1].startswith(f"{model}: ") and "checks failed" in lines[-1]
    if model == "broken-unused-parameter":  # the line names what is wrong
        assert "none for: forgotten.weight, forgotten.bias" in "\n".join(lines)
    if model in ("broken-step-not-forward", "broken-unused-parameter"):  # nothing else broken: one line fails
        assert sum(line.startswith("FAIL") for line in lines) == 1, lines


def test_a_model_that_keeps_the_contract_exits_0(capsys):
    assert main(["check-model", "lstm", "-s", "model.hidden_size=8", "--long-steps", "20"]) == 0
    out = capsys.readouterr().out
    assert "PASS  train and eval paths agree" in out and "lstm: keeps the contract" in out
