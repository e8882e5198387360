"""pytest-benchmark: one training step and one inference step of every model of the paper's Table 1 at
its sizes (the presets of the table1 suite in benchmarks.yaml, and armin-code), on the copy task's
longest sequence with batch 1 (the Table 1 setup).

    OMP_NUM_THREADS=1 pytest benchmarks/ --benchmark-only
    pytest benchmarks/ --benchmark-only --benchmark-autosave   # then: pytest-benchmark compare

Not part of the unit tests (`python -m pytest tests` does not collect this folder). A training step is
forward, loss, backward and optimiser step; an inference step is the eval-mode, no-grad forward (each
model's fast path; ``extra_info.path`` says which ran).
"""

import pytest
import torch

from bench.config import expand_runs, load_config, suite
from bench.profile_engine import MODES, StepRunner
from bench.training import make_optimizer
from models import build_model
from tasks import build_task

CONFIG = load_config()
TASK = "copy"  # Table 1's first task; its longest sequence is 2 x 50 + 2 steps
PRESETS = list(dict.fromkeys(suite(CONFIG, "table1")["models"] + ["armin-code"]))  # once each


def step_runner(preset: str, mode: str) -> StepRunner:
    spec = expand_runs(CONFIG, [preset], [TASK], [0])[0]
    torch.manual_seed(spec.seed)
    task = build_task(spec.task_class, **spec.task_options)
    model = build_model(spec.model_class, **spec.model_options)
    optimizer = make_optimizer(model, spec.train) if mode == "train" else None
    batch = task.max_batch(spec.train.batch_size)
    return StepRunner(model, task, [batch], mode, optimizer, carry_state=False)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("preset", PRESETS)
def test_step(benchmark, preset, mode):
    runner = step_runner(preset, mode)
    batch = runner.batches[0]
    benchmark.group = f"{mode} step, Table 1 sizes, copy length 50, batch 1"
    benchmark.extra_info.update(path=runner.path, params=runner.model.num_parameters(), time_steps=batch.steps)
    benchmark(runner.step)
