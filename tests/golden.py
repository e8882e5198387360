"""Golden outputs of every model preset: what each preset computes, pinned so that a cheaper step
(fused projections, fewer copies, index operations) can be checked to compute the same thing.

For every preset of benchmarks.yaml (``models:``), shrunk to small sizes (``SIZES``: the options that
choose code paths are kept), in float64, with every parameter set to fixed values that do not depend
on the model's initialisation (drawn from a generator seeded by the parameter's name):

- train mode: logits of a fixed input sequence, the final state, and the gradient of every parameter
  of a fixed linear function of the logits and of the final state's floating-point tensors;
- eval mode without autograd (each model's inference path, in-place memories included): logits and
  final state.

Every tensor is stored as a compact summary (``summary``): its shape, sum, sum of absolute values,
a position-weighted sum (so a permutation changes it) and its first values. tests/test_golden.py
recomputes them and compares to rounding (relative 1e-9).

Regenerate (all presets, or the ones named) after an intended change of what a model computes:

    PYTHONPATH=. python tests/golden.py                 # rewrites tests/data/golden.json
    PYTHONPATH=. python tests/golden.py sam-code dnc    # only these presets
"""

from __future__ import annotations

import json
import math
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.config import load_config, resolve_preset
from models import MODEL_REGISTRY, build_model

GOLDEN_FILE = Path(__file__).parent / "data" / "golden.json"
# small sizes; options that pick a code path are the preset's own
SIZES = {"hidden_size": 12, "memory_slots": 6, "memory_width": 5}
INPUT_SIZE, OUTPUT_SIZE, STEPS, BATCH = 5, 3, 9, 2  # STEPS > memory_slots: writes after the memory is full
HEAD = 4  # first values stored per tensor
SEED = 1234
RTOL, ATOL = 1e-9, 1e-12
IDENTITIES = ("memory_id",)  # state entries that name an object (a process-wide counter), not a value


def state_summary(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    return {k: summary(v) for k, v in sorted(state.items()) if k.rpartition(".")[2] not in IDENTITIES}


def preset_options(config: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """(class, options) of preset ``name`` at the golden sizes."""
    cls, options = resolve_preset(config, "models", name, MODEL_REGISTRY)
    for key, value in SIZES.items():
        if key == "hidden_size" or options.get(key):
            options[key] = value
    options.update(input_size=INPUT_SIZE, output_size=OUTPUT_SIZE)
    return cls, options


def fixed_weights_(model: torch.nn.Module) -> None:
    """Every parameter drawn from U(-s, s) with a generator seeded by the parameter's name: s = 1 /
    sqrt(last dimension) for matrices, 0.5 for vectors. Independent of the model's initialisation."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            scale = 1.0 / math.sqrt(p.shape[-1]) if p.dim() >= 2 else 0.5
            p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1) * scale)


def summary(t: torch.Tensor) -> dict[str, Any]:
    """Shape, sum, sum of |values|, a position-weighted sum and the first HEAD values of ``t``."""
    flat = t.detach().reshape(-1).to("cpu", torch.float64)
    weights = torch.cos(torch.arange(flat.numel(), dtype=torch.float64))
    return {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch."), "sum": flat.sum().item(),
            "abs": flat.abs().sum().item(), "weighted": (flat * weights).sum().item(),
            "head": flat[:HEAD].tolist()}


def _seed() -> None:
    torch.manual_seed(SEED)
    np.random.seed(SEED)


def compute(config: dict[str, Any], name: str, device: str = "cpu") -> dict[str, Any]:
    """The golden record of preset ``name``: summaries of train-mode logits, final state and parameter
    gradients, and of eval-mode logits and final state. Inputs and weights are drawn on the CPU, then
    moved to ``device``; the record's ``train_random`` says whether the training forward drew random
    numbers (gumbel noise, zoneout), which differ between devices."""
    cls, options = preset_options(config, name)
    torch.manual_seed(0)
    model = build_model(cls, **options).to(torch.float64)
    fixed_weights_(model)
    model.to(device)
    g = torch.Generator().manual_seed(SEED)
    x = torch.randn(STEPS, BATCH, INPUT_SIZE, generator=g, dtype=torch.float64).to(device)
    record: dict[str, Any] = {"class": cls, "options": options}

    def weights(shape) -> torch.Tensor:
        return torch.randn(shape, generator=g, dtype=torch.float64).to(device)

    model.train()
    _seed()
    rng = _rng_state(device)
    logits, state = model(x)
    random = not torch.equal(rng, _rng_state(device))
    loss = (logits * weights(logits.shape)).sum()
    for key in sorted(state):
        value = state[key]
        if value.is_floating_point() and value.requires_grad:
            loss = loss + (value * weights(value.shape)).sum()
    loss.backward()
    record["train"] = {"logits": summary(logits), "state": state_summary(state),
                       "grad": {n: summary(p.grad) if p.grad is not None else None
                                for n, p in sorted(model.named_parameters())}}
    model.eval()
    _seed()
    with torch.no_grad():
        logits, state = model(x)
    record["eval"] = {"logits": summary(logits), "state": state_summary(state)}
    record["train_random"] = random
    return record


def _rng_state(device: str) -> torch.Tensor:
    return torch.cuda.get_rng_state(torch.device(device)) if torch.device(device).type == "cuda" else torch.get_rng_state()


def mismatches(expected: Any, actual: Any, where: str = "", rtol: float = RTOL, atol: float = ATOL) -> list[str]:
    """Where two records differ (numbers to ``rtol`` / ``atol``, everything else exactly)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}.{k}: missing" for k in expected if k not in actual]
        out += [f"{where}.{k}: unexpected" for k in actual if k not in expected]
        for k in expected:
            if k in actual:
                out += mismatches(expected[k], actual[k], f"{where}.{k}", rtol, atol)
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [m for i, (e, a) in enumerate(zip(expected, actual)) for m in mismatches(e, a, f"{where}[{i}]", rtol, atol)]
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        ok = math.isclose(expected, actual, rel_tol=rtol, abs_tol=atol) or (math.isnan(expected) and math.isnan(actual))
        return [] if ok else [f"{where}: {actual!r} != {expected!r}"]
    return [] if expected == actual else [f"{where}: {actual!r} != {expected!r}"]


def main(names: list[str]) -> int:
    config = load_config()
    torch.set_num_threads(1)
    old = json.loads(GOLDEN_FILE.read_text()) if GOLDEN_FILE.exists() else {}
    unknown = sorted(set(names) - set(config["models"]))
    if unknown:
        print(f"unknown preset(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    records = dict(old) if names else {}
    for name in names or list(config["models"]):
        records[name] = compute(config, name)
        print(f"{name}: {'changed' if name in old and mismatches(old[name], records[name]) else 'same' if name in old else 'new'}")
    GOLDEN_FILE.parent.mkdir(exist_ok=True)
    GOLDEN_FILE.write_text(json.dumps({k: records[k] for k in sorted(records)}, indent=0, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
