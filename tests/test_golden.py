"""Every model preset computes what tests/data/golden.json recorded (tests/golden.py: fixed weights,
fixed inputs, float64; train-mode logits, final state and parameter gradients, eval-mode logits and
final state). A change that makes a step cheaper must keep these to rounding; a change of what a model
computes regenerates them (tests/golden.py says how) in the same commit."""

import json

import pytest
import torch

from bench.config import load_config
from tests import golden

CONFIG = load_config()
RECORDS = json.loads(golden.GOLDEN_FILE.read_text())


def test_every_preset_has_golden_outputs():
    assert sorted(RECORDS) == sorted(CONFIG["models"])


@pytest.mark.parametrize("name", sorted(CONFIG["models"]))
def test_preset_matches_golden_outputs(name):
    problems = golden.mismatches(RECORDS[name], json.loads(json.dumps(golden.compute(CONFIG, name))))
    assert not problems, f"{name} differs from its golden outputs ({len(problems)}): " + "; ".join(problems[:8])


def test_a_changed_weight_is_caught(monkeypatch):
    """The comparison can fail: one value of W_go moved by 1e-6 changes the record."""
    fixed = golden.fixed_weights_

    def nudged(model):
        fixed(model)
        with torch.no_grad():
            model.W_go.linear.weight[0, 0] += 1e-6

    monkeypatch.setattr(golden, "fixed_weights_", nudged)
    problems = golden.mismatches(RECORDS["armin"], json.loads(json.dumps(golden.compute(CONFIG, "armin"))))
    assert any(".train.logits" in p for p in problems) and any(".grad." in p for p in problems)
