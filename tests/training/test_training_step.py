"""The one training step (bench/training/step.py): clipping by value and by norm on hand-computed
gradients, a non-finite loss changes nothing, the carried state goes in; both loops take this step;
each loop declares the training options it reads."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from bench.config import TrainConfig
from bench.training import RUNNER_OPTIONS, TRAINERS, USED_OPTIONS, step as step_module
from bench.training.step import clip_gradients, train_step
from models import build_model
from tasks import build_task
from tasks.base import Batch


class Scale(torch.nn.Module):
    """logits = w * x (elementwise), state: the number of calls so far."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))

    def forward(self, x, state=None):
        calls = 0 if state is None else state
        return self.w * x, calls + 1


class SumLoss:
    """loss = sum(logits * coefficients): d loss / d w = x * coefficients."""

    def __init__(self, coefficients):
        self.coefficients = torch.tensor(coefficients)

    def loss(self, logits, batch):
        return (logits * self.coefficients).sum()


def one_step(clip_value=0.0, clip_norm=0.0, x=(1.0, 1.0), coefficients=(3.0, -4.0), state=None):
    model = Scale([0.0, 0.0])
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)  # w <- w - grad: the update shows the clipped gradient
    cfg = TrainConfig.from_dict(dict(clip_value=clip_value, clip_norm=clip_norm))
    batch = Batch(inputs=torch.tensor(x), targets=torch.zeros(2), mask=torch.ones(2))
    result = train_step(model, SumLoss(coefficients), batch, optimizer, cfg, state)
    return result, (-model.w.detach()).tolist()  # the gradient that was applied


@pytest.mark.parametrize(
    "clip_value, clip_norm, applied",
    [
        (0.0, 0.0, [3.0, -4.0]),  # no clipping: the gradient x * c
        (2.0, 0.0, [2.0, -2.0]),  # by value: each entry into [-2, 2]
        (0.0, 1.0, [0.6, -0.8]),  # by norm: |(3, -4)| = 5 scaled to 1
        (0.0, 10.0, [3.0, -4.0]),  # a norm below the limit is left alone
        (2.0, 1.0, [math.sqrt(0.5), -math.sqrt(0.5)]),  # value first (2, -2), then norm 2 sqrt 2 -> 1
    ],
)
def test_clipping_by_value_then_norm_on_hand_values(clip_value, clip_norm, applied):
    result, gradient = one_step(clip_value, clip_norm)
    assert result.applied and result.loss == 0.0  # the loss before the update (w = 0)
    assert gradient == pytest.approx(applied, abs=1e-6)


def test_a_non_finite_loss_changes_nothing():
    result, gradient = one_step(x=(math.inf, 1.0), coefficients=(0.0, 1.0))  # inf * 0 = nan
    assert not result.applied and math.isnan(result.loss)
    assert gradient == [0.0, 0.0]  # no update


def test_the_state_goes_in_and_the_end_state_comes_out():
    assert one_step()[0].end_state == 1  # None: the model's initial state
    assert one_step(state=4)[0].end_state == 5  # a carried state


def test_clip_gradients_skips_parameters_without_gradient():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    a.grad = torch.tensor([30.0, -40.0])
    clip_gradients([a, b], clip_value=0.0, clip_norm=5.0)
    assert a.grad.tolist() == pytest.approx([3.0, -4.0]) and b.grad is None


def test_both_loops_take_the_one_step(tmp_path, monkeypatch):
    """Every update of either loop goes through step.clip_gradients with the configured limits
    (the episodic loop ignored clip_norm before)."""
    calls = []
    real = step_module.clip_gradients
    monkeypatch.setattr(step_module, "clip_gradients", lambda params, cv, cn: calls.append((cv, cn)) or real(params, cv, cn))
    cfg = dict(iterations=3, val_every=3, val_batches=1, val_batch_size=2, clip_value=5.0, clip_norm=2.0)

    task = build_task("copy", bits=4, min_length=1, max_length=3)
    model = build_model("lstm", input_size=task.input_size, output_size=task.output_size, hidden_size=4)
    TRAINERS["episodic"](model, task, TrainConfig.from_dict(cfg), seed=0)
    assert calls == [(5.0, 2.0)] * 3

    path = tmp_path / "text.txt"
    path.write_bytes(b"the quick brown fox jumps over the lazy dog; " * 12)
    task = build_task("charlm", dataset="text", text_file=str(path), tbptt_length=40)
    model = build_model("lstm", input_size=task.input_size, output_size=task.output_size, hidden_size=4)
    TRAINERS["stream"](model, task, TrainConfig.from_dict({**cfg, "iterations": 2, "batch_size": 4}), seed=0)
    assert calls == [(5.0, 2.0)] * 5


def test_each_loop_declares_the_options_it_reads():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(USED_OPTIONS) == set(TRAINERS) == {"episodic", "stream"}
    for name, used in USED_OPTIONS.items():
        assert used <= fields, name
        assert RUNNER_OPTIONS <= used
    assert set().union(*USED_OPTIONS.values()) == fields  # no option that nothing reads
    assert {"epochs", "lr_schedule", "early_stopping_patience", "temperature_unit"}.isdisjoint(USED_OPTIONS["episodic"])
    assert {"val_every", "stop_when_solved", "solved_threshold"}.isdisjoint(USED_OPTIONS["stream"])
    assert "clip_norm" in USED_OPTIONS["episodic"] and "clip_norm" in USED_OPTIONS["stream"]
