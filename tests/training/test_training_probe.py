"""Measuring a run does not change it: the probes that run the model (saved-bytes, inference timing)
leave every random state as they found it, so training after a probe equals training without one."""

from __future__ import annotations

import random

import numpy as np
import torch

from bench.config import TrainConfig
from bench.run_metrics import inference_throughput, saved_tensor_bytes
from bench.training.episodic import train
from models import build_model
from tasks import build_task


def armin_on_copy():
    """ARMIN's training forward draws gumbel noise from the global torch RNG."""
    task = build_task("copy", bits=4, min_length=1, max_length=3)
    torch.manual_seed(0)
    model = build_model("armin", input_size=task.input_size, output_size=task.output_size, hidden_size=8,
                        memory_slots=4)
    return model, task


CFG = TrainConfig.from_dict(dict(iterations=20, val_every=10, val_batches=2, val_batch_size=4))


def run(probe=None):
    model, task = armin_on_copy()
    if probe:
        probe(model, task)
    outcome = train(model, task, CFG, seed=0)
    return [(p.val_loss, p.train_loss) for p in outcome.curve], model.state_dict()


def test_a_run_is_the_same_with_and_without_the_saved_bytes_probe():
    plain_curve, plain_weights = run()
    probed_curve, probed_weights = run(lambda model, task: saved_tensor_bytes(model, task, batch_size=2))
    assert probed_curve == plain_curve
    for key, value in plain_weights.items():
        assert torch.equal(value, probed_weights[key]), key


def test_a_run_is_the_same_with_and_without_the_inference_probe():
    plain_curve, _ = run()
    probed_curve, _ = run(lambda model, task: inference_throughput(model, task, batch_size=2, batches=2))
    assert probed_curve == plain_curve


def test_probes_restore_every_global_random_state():
    model, task = armin_on_copy()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    assert saved_tensor_bytes(model, task, batch_size=2) > 0
    inference_throughput(model, task, batch_size=2, batches=1)
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[:2] == expected[:2] and torch.equal(got[2], expected[2])
