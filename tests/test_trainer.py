"""Trainer: the paper's solved rule on synthetic loss sequences, the temperature schedule,
divergence handling, and that training actually lowers the loss."""

import math

import pytest
import torch

from bench.config import ConfigError, TemperatureSchedule, TrainConfig
from bench.training.episodic import is_solved, train
from models import build_model
from models.registry import coerce_options
from tasks import build_task

CFG = TrainConfig()  # threshold 0.01, window 10, fewer than 30% above


@pytest.mark.parametrize(
    "losses, solved",
    [
        ([0.005] * 10, True),
        ([0.005] * 9, False),  # window not full yet
        ([0.5] * 20 + [0.005] * 10, True),
        ([0.005] * 9 + [0.02], False),  # latest above the threshold
        ([0.02, 0.02] + [0.005] * 8, True),  # 2 of 10 above: 20% < 30%
        ([0.02, 0.02, 0.02] + [0.005] * 7, False),  # 3 of 10 above: not fewer than 30%
        ([0.005, 0.02, 0.005, 0.02, 0.005, 0.02, 0.005, 0.005, 0.005, 0.005], False),
        ([0.01] * 10, False),  # the rule is strict: < 0.01
    ],
)
def test_solved_rule(losses, solved):
    assert is_solved(losses, CFG) is solved


def test_temperature_schedule_matches_authors_code():
    s = TemperatureSchedule(start=1, increment=1, every=400, max=50)
    assert [s.at(i) for i in (0, 399, 400, 799, 800, 19_599, 19_600, 100_000)] == [1, 1, 2, 2, 3, 49, 50, 50]


def tiny(model="lstm", **train_options):
    task = build_task("copy", bits=4, min_length=1, max_length=3)
    opts = dict(input_size=task.input_size, output_size=task.output_size, hidden_size=16)
    if model == "armin":
        opts.update(memory_slots=4)
    torch.manual_seed(0)
    cfg = TrainConfig.from_dict(dict(dict(iterations=30, val_every=10, val_batches=2, val_batch_size=4), **train_options))
    return build_model(model, **opts), task, cfg


def test_nan_loss_ends_the_run_as_diverged_at_that_iteration(monkeypatch):
    model, task, cfg = tiny()
    calls = {"n": 0}
    real_loss = task.loss

    def loss_goes_nan(logits, batch):
        if not torch.is_grad_enabled():  # a validation
            return real_loss(logits, batch)
        calls["n"] += 1
        value = real_loss(logits, batch)
        return value * math.nan if calls["n"] == 7 else value

    monkeypatch.setattr(task, "loss", loss_goes_nan)
    outcome = train(model, task, cfg, seed=0)
    assert outcome.status == "diverged"
    assert outcome.diverged_at == 7 and outcome.diverged_reason == "training loss is nan"
    assert outcome.iterations_run == 6
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the NaN step was not applied


def test_training_lowers_the_loss_and_records_curves():
    model, task, cfg = tiny("armin", iterations=150, val_every=50, optimizer="adam", lr=3e-3)
    outcome = train(model, task, cfg, seed=0)
    assert outcome.status in ("unsolved", "solved")
    assert [p.iteration for p in outcome.curve] == [50, 100, 150]
    assert outcome.curve[-1].val_loss < outcome.curve[0].val_loss < 0.75
    assert outcome.train_steps > 0 and outcome.train_time_s > 0
    assert outcome.curve[-1].inverse_temperature == cfg.inverse_temperature.at(149)


def test_stop_when_solved(monkeypatch):
    model, task, cfg = tiny(iterations=200, val_every=5, solved_window=2)
    monkeypatch.setattr("bench.training.episodic.validate", lambda *a: 0.001)
    outcome = train(model, task, cfg, seed=0)
    assert outcome.status == "solved"
    assert outcome.iterations_to_solve == 10 == outcome.iterations_run
    assert outcome.final_val_loss(10) == pytest.approx(0.001)


def test_same_seed_same_training():
    a = train(*tiny("armin"), seed=3)
    b = train(*tiny("armin"), seed=3)
    assert [p.val_loss for p in a.curve] == [p.val_loss for p in b.curve]



def test_coerce_options_by_field_type():
    out = coerce_options(TrainConfig, {"lr": "1e-3", "iterations": "2e3", "optimizer": "adam", "clip_value": 5}, "train")
    assert out == {"lr": 0.001, "iterations": 2000, "optimizer": "adam", "clip_value": 5.0}
    assert isinstance(out["iterations"], int) and isinstance(out["clip_value"], float)
    with pytest.raises(ValueError, match="train.iterations must be an integer"):
        coerce_options(TrainConfig, {"iterations": 2.5}, "train")
    with pytest.raises(ValueError, match="train.iterations must be an integer"):
        coerce_options(TrainConfig, {"iterations": "inf"}, "train")
    with pytest.raises(ValueError, match="train.lr must be a number"):
        coerce_options(TrainConfig, {"lr": True}, "train")

def test_train_config_from_yaml_text_numbers():
    cfg = TrainConfig.from_dict({"lr": "3e-4", "inverse_temperature": {"every": "4e2"}})
    assert cfg.lr == 3e-4 and cfg.inverse_temperature.every == 400
    with pytest.raises(ConfigError, match="train.inverse_temperature.every"):
        TrainConfig.from_dict({"inverse_temperature": {"every": "often"}})


# --- the ARMIN authors' measure: the mean training loss of each 200-iteration window -----------------
def test_train_loss_window_measure_on_a_hand_made_sequence():
    """Windows of 4 iterations end at 4, 8, 12; threshold 0.5: means 0.75, 0.5 (not below), 0.25."""
    from bench.training.outcome import TrainOutcome

    out = TrainOutcome(status="unsolved")
    losses = [1.0, 1.0, 0.5, 0.5, 0.2, 0.8, 0.5, 0.5, 0.1, 0.3, 0.4, 0.2, 0.0]
    for i, loss in enumerate(losses, start=1):
        out.record_train_loss(i, loss, window=4, threshold=0.5)
        assert out.train_loss_solved_at == (12 if i >= 12 else None), i


def test_every_run_records_both_measures_and_can_stop_on_both():
    """threshold 10 (every loss is below): the paper's rule holds at the 2nd validation (iteration 4),
    the 5-iteration window closes at 5. Stopping on the paper's rule leaves the window measure empty;
    stop_after_both_measures trains on to 5."""
    options = dict(solved_threshold=10.0, val_every=2, solved_window=2, train_loss_window=5)
    model, task, cfg = tiny(**options)
    paper = train(model, task, cfg, seed=0)
    assert (paper.iterations_to_solve, paper.iterations_run, paper.train_loss_solved_at) == (4, 4, None)
    model, task, cfg = tiny(**options, stop_after_both_measures=True)
    both = train(model, task, cfg, seed=0)
    assert (both.iterations_to_solve, both.iterations_run, both.train_loss_solved_at) == (4, 5, 5)


def test_train_loss_measure_is_the_mean_of_the_losses_the_run_trained_on():
    model, task, cfg = tiny(iterations=40, solved_threshold=0.7, stop_when_solved=False, train_loss_window=10)
    losses = []
    out = train(model, task, cfg, seed=0, on_iteration=lambda i, loss: losses.append(loss))
    means = [sum(losses[k : k + 10]) / 10 for k in range(0, 40, 10)]
    first = next((10 * (k + 1) for k, m in enumerate(means) if m < 0.7), None)
    assert first is not None and out.train_loss_solved_at == first
