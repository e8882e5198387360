"""Golden trajectories pin the results-behaviour version (bench/behaviour.py).

Every model preset of benchmarks.yaml trains on every algorithmic task preset for a few iterations
from seed 0, through the same code a run takes (bench.execution.run.build_run and the task's
training loop); its training losses, its validation loss and its status are compared with
tests/data/golden_trajectories.json. Anything that changes what the same spec and seed give (the data
stream, a model's initialisation or equations, the step, validation, the solved rule, the presets)
changes these numbers and fails the test until BEHAVIOUR_VERSION moves and the file is made again:

    PYTHONPATH=. python -m tests.test_behaviour --regenerate

The tasks run with short sequences (SHORT) and presets over a million weights train on copy only; the
file holds every other preset on every task, and the test checks the Table 1 suites' presets on every
task and the rest on copy, to keep it near a minute; the real-data tasks (pMNIST, character LM) need datasets and are not pinned here.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from bench.behaviour import BEHAVIOUR_VERSION
from bench.config import expand_runs, load_config, suite

GOLDEN = Path(__file__).parent / "data" / "golden_trajectories.json"
SEED = 0
BIG = 1_000_000  # weights above which a preset trains on copy only
TINY_TRAINING = {"iterations": 3, "val_every": 3, "val_batches": 1, "val_batch_size": 2, "checkpoint_every": 0,
                 "solved_window": 1, "solved_threshold": 1.0e6, "threads": 1}  # the solved rule holds at 3
SHORT = {  # per task class: the shortest sequences, to keep the test fast (the generators run as in a run)
    "copy": {"max_length": 3}, "repeat_copy": {"max_length": 3, "max_repeats": 2},
    "associative_recall": {"max_items": 3}, "priority_sort": {"num_inputs": 5, "num_outputs": 4}, "ngram": {"length": 12},
}
REGENERATE = "PYTHONPATH=. python -m tests.test_behaviour --regenerate"


def algorithmic_tasks(config: dict) -> list[str]:
    from tasks import build_task
    from bench.config import resolve_preset
    import tasks

    names = []
    for name in config["tasks"]:
        cls, options = resolve_preset(config, "tasks", name, tasks.TASK_REGISTRY)
        try:
            task = build_task(cls, **options)
        except Exception:  # noqa: BLE001 - a real-data task without its files here
            continue
        if getattr(task, "trainer", "episodic") == "episodic" and name != "copy-short":  # copy, shorter still
            names.append(name)
    return names


def trajectories(every_task: set[str] | None = None) -> dict[str, dict]:
    """model/task -> {"train": losses per iteration, "val": validation loss, "status": ..., "solved_at": ...}.
    ``every_task``: the presets trained on every task, the others on copy only (None: all on every task)."""
    from bench.execution.run import build_run
    from bench.training import TRAINERS

    config = load_config(None)
    task_names = algorithmic_tasks(config)
    out = {}
    torch.set_num_threads(1)
    for model_name in config["models"]:
        for task_name in task_names:
            task_class = config["tasks"][task_name]["class"]
            overrides = {"train": dict(TINY_TRAINING), "task": dict(SHORT.get(task_class, {}))}
            (spec,) = expand_runs(config, [model_name], [task_name], [SEED], overrides)
            task, model = build_run(spec, torch.device("cpu"))
            if task_name != "copy" and (model.num_parameters() > BIG or (every_task is not None and model_name not in every_task)):
                continue
            losses: list[float] = []
            outcome = TRAINERS[task.trainer](model, task, spec.train, SEED, lambda i, loss: losses.append(loss))
            out[f"{model_name}/{task_name}"] = {
                "train": losses, "val": [p.val_loss for p in outcome.curve],
                "status": outcome.status, "solved_at": outcome.iterations_to_solve,
            }
    return out


def differences(expected: dict, got: dict) -> list[str]:
    """What differs between two sets of trajectories, over the keys both have: a new preset or task is
    not a change of behaviour (regenerate the file to pin it), nor is a removed one."""
    problems = []
    for key in sorted(set(expected) & set(got)):
        e, g = expected[key], got[key]
        for part in ("train", "val"):
            if len(e[part]) != len(g[part]) or not all(
                    math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6) for a, b in zip(e[part], g[part])):
                problems.append(f"{key} {part} losses {g[part]} != golden {e[part]}")
        for part in ("status", "solved_at"):
            if e[part] != g[part]:
                problems.append(f"{key} {part} {g[part]} != golden {e[part]}")
    return problems


def test_golden_trajectories_pin_the_behaviour_version():
    golden = json.loads(GOLDEN.read_text())
    config = load_config(None)
    table1 = {m for name in ("table1", "table1-code") for m in suite(config, name)["models"]}
    got = trajectories(every_task=table1)  # the file holds every preset on every task; this, a third of the time
    common = set(golden["trajectories"]) & set(got)
    assert len(common) >= len(got) / 2, (
        f"only {len(common)} of the golden file's trajectories are still trained: regenerate it with `{REGENERATE}`")
    problems = differences(golden["trajectories"], got)
    if golden["behaviour_version"] != BEHAVIOUR_VERSION:
        pytest.fail(f"tests/data/golden_trajectories.json was made by behaviour version {golden['behaviour_version']}, "
                    f"bench/behaviour.py says {BEHAVIOUR_VERSION}: regenerate it with `{REGENERATE}`")
    if problems:
        shown = "\n  ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        pytest.fail(f"the same spec and seed now give different results ({len(problems)} difference(s)):\n  {shown}\n"
                    f"If intended, add 1 to BEHAVIOUR_VERSION in bench/behaviour.py and regenerate the golden "
                    f"file with `{REGENERATE}`; otherwise this is a bug.")


def test_a_changed_loss_is_reported():
    golden = {"m/t": {"train": [0.7, 0.69], "val": [0.68], "status": "solved", "solved_at": 3}}
    changed = {"m/t": {"train": [0.7, 0.6901], "val": [0.68], "status": "solved", "solved_at": 3}}
    assert differences(golden, golden) == []
    assert differences(golden, changed) == ["m/t train losses [0.7, 0.6901] != golden [0.7, 0.69]"]
    assert differences(golden, {}) == [] and differences({}, changed) == []  # presets added or removed
    assert differences(golden, {"m/t": {**golden["m/t"], "status": "unsolved"}}) == ["m/t status unsolved != golden solved"]


if __name__ == "__main__":
    if "--regenerate" not in sys.argv:
        sys.exit(f"usage: {REGENERATE}")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    data = {"behaviour_version": BEHAVIOUR_VERSION, "seed": SEED, "training": TINY_TRAINING,
            "trajectories": trajectories()}
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}: {len(data['trajectories'])} trajectories, behaviour version {BEHAVIOUR_VERSION}")
