"""The divergence rule (bench/training/divergence.py): hand-made loss sequences, a run blown up by a
huge learning rate without any NaN, the row the runner writes, the stream loop, the configuration."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch

from bench.config import RUN_LOCATION_OPTIONS, ConfigError, TrainConfig, expand_runs, load_config, parse_overrides
from bench.training import episodic
from bench.training.divergence import DivergenceRule
from bench.training.episodic import train
from models import build_model
from tasks import build_task


def feed(rule: DivergenceRule, losses: list[float]) -> tuple[int | None, str | None]:
    """(1-based index of the validation at which the rule fired, reason) or (None, None)."""
    for k, loss in enumerate(losses, 1):
        reason = rule.check_validation(loss)
        if reason:
            return k, reason
    return None, None


@pytest.mark.parametrize(
    "losses, fired_at",
    [
        ([5.0, 11.0, 12.0], 3),  # 11 and 12 above 10 x 1.0, two in a row
        ([11.0, 5.0, 11.0, 9.9, 10.5], None),  # never two in a row
        ([10.0, 10.0, 10.0], None),  # strictly above: 10 is not
        ([0.5, 1e9, 2.0, 1e9, 1e9], 5),
        ([0.5, math.inf], 2),  # not finite: at once
        ([math.nan], 1),
    ],
)
def test_the_rule_on_hand_made_sequences(losses, fired_at):
    assert feed(DivergenceRule(factor=10, patience=2, reference=1.0), losses)[0] == fired_at


def test_the_reason_names_the_numbers_and_the_first_loss_is_the_reference_by_default():
    rule = DivergenceRule(factor=10, patience=2)
    assert feed(rule, [2.0, 25.0, 30.0]) == (3, "validation loss 30 above 10 x the initial 2 for 2 validations in a row")
    assert feed(DivergenceRule(factor=10, patience=0, reference=1.0), [1e9] * 5 + [math.nan]) == (6, "validation loss is nan")


def tiny_lstm():
    task = build_task("copy", bits=4, min_length=1, max_length=3)
    torch.manual_seed(0)
    return build_model("lstm", input_size=task.input_size, output_size=task.output_size, hidden_size=8), task


def test_a_huge_learning_rate_blows_the_run_up_without_nan_and_it_is_recorded_as_diverged():
    """The issue's case: -s train.lr=1e6 gave finite validation losses of 1e7 and more, recorded as unsolved."""
    model, task = tiny_lstm()
    cfg = TrainConfig.from_dict(dict(iterations=200, val_every=10, val_batches=2, val_batch_size=4, lr=1e6))
    outcome = train(model, task, cfg, seed=0)
    losses = [p.val_loss for p in outcome.curve]
    assert all(math.isfinite(loss) for loss in losses)  # no NaN anywhere: only the new rule can catch it
    assert outcome.status == "diverged" and outcome.diverged_at == outcome.curve[-1].iteration < 200
    assert min(losses[-3:]) > 100 * 0.69  # three in a row above 100 x the untrained copy loss (about ln 2)
    assert "above 100 x the initial 0.7" in outcome.diverged_reason
    assert outcome.diverged_reason.endswith("for 3 validations in a row")


def test_the_reference_is_the_untrained_models_loss_on_the_first_validation_batches(monkeypatch):
    model, task = tiny_lstm()
    script = iter([0.5, 0.4, 60.0, 45.0, 51.0, 70.0, 80.0])  # the first value: the untrained model's
    monkeypatch.setattr(episodic, "validate", lambda *a: next(script))
    cfg = TrainConfig.from_dict(dict(iterations=100, val_every=10, divergence_factor=100, divergence_patience=3))
    outcome = train(model, task, cfg, seed=0)
    # limit 100 x 0.5 = 50: 60 above, 45 not, then 51, 70, 80 above three in a row: the 6th validation
    assert outcome.status == "diverged" and outcome.diverged_at == 60 == outcome.iterations_run
    assert outcome.diverged_reason == "validation loss 80 above 100 x the initial 0.5 for 3 validations in a row"


@pytest.mark.parametrize("script, status", [
    ([0.5, 0.4, 60.0, 70.0], "diverged"),  # two of three above 50 when the budget ends: the streak counts
    ([0.5, 60.0, 70.0, 0.4], "unsolved"),  # the streak ended before the budget did
])
def test_a_budget_that_ends_mid_streak_still_checks_divergence(monkeypatch, script, status):
    model, task = tiny_lstm()
    losses = iter(script)  # the first value: the untrained model's
    monkeypatch.setattr(episodic, "validate", lambda *a: next(losses))
    cfg = TrainConfig.from_dict(dict(iterations=30, val_every=10, divergence_factor=100, divergence_patience=3))
    outcome = train(model, task, cfg, seed=0)
    assert outcome.status == status and outcome.iterations_run == 30
    if status == "diverged":
        assert outcome.diverged_at == 30
        assert outcome.diverged_reason == ("validation loss above 100 x the initial 0.5 for the last 2 validation(s) "
                                           "when the run ended (before 3 in a row could be seen)")


def test_the_issues_case_lr_1e6_for_300_iterations_ends_diverged(tmp_path, run_and_store):
    """Validation every 200 iterations: a 300-iteration budget sees two validations, never three."""
    row = run_and_store(spec(tmp_path, "train.lr=1e6", "train.iterations=300", "train.val_every=200"), tmp_path)
    assert row["status"] == "diverged" and row["diverged_at"] == row["iterations_run"] == 300
    assert "when the run ended" in row["error"]


def test_the_stream_loop_checks_a_streak_its_budget_ends(tmp_path, monkeypatch):
    from bench.training import stream

    path = tmp_path / "text.txt"
    path.write_bytes(b"the quick brown fox jumps over the lazy dog; " * 12)
    task = build_task("charlm", dataset="text", text_file=str(path), tbptt_length=40)  # 4 batches an epoch
    torch.manual_seed(0)
    model = build_model("lstm", input_size=task.input_size, output_size=task.output_size, hidden_size=8)
    script = iter([2.0, 1.0, 300.0])  # limit 100 x 2.0 = 200: the last epoch's validation above it

    def fake(model, task, split, batch_size):
        value = next(script) if split == "valid" else 9.9
        return value, value

    monkeypatch.setattr(stream, "evaluate", fake)
    cfg = TrainConfig.from_dict(dict(epochs=3, batch_size=4, val_batch_size=2, divergence_patience=2))
    outcome = stream.train_stream(model, task, cfg, seed=0)
    assert outcome.status == "diverged" and outcome.diverged_at == 12
    assert "for the last 1 validation(s) when the run ended" in outcome.diverged_reason


def spec(out, *train_options):
    overrides = parse_overrides([
        "task.bits=4", "task.min_length=1", "task.max_length=3", "model.hidden_size=8", "train.iterations=200",
        "train.val_every=10", "train.val_batches=2", "train.val_batch_size=4", "train.inference_batches=0",
        f"train.output_dir={out}", *train_options,
    ])
    [run] = expand_runs(load_config(), ["lstm"], ["copy"], [0], overrides)
    return run


def test_the_runner_writes_diverged_with_the_iteration_and_the_reason(tmp_path, run_and_store):
    row = run_and_store(spec(tmp_path, "train.lr=1e6"), tmp_path)
    assert row["status"] == "diverged" and row["diverged_at"] == row["iterations_run"] < 200
    assert row["error"].startswith("validation loss ") and "above 100 x the initial" in row["error"]
    calm = run_and_store(spec(tmp_path, "train.lr=1e-3"), tmp_path)
    assert calm["status"] == "unsolved" and calm["diverged_at"] is None and calm["error"] is None


def test_the_stream_loop_applies_the_rule_from_its_first_validation(tmp_path, monkeypatch):
    from bench.training import stream

    path = tmp_path / "text.txt"
    path.write_bytes(b"the quick brown fox jumps over the lazy dog; " * 12)
    task = build_task("charlm", dataset="text", text_file=str(path), tbptt_length=40)  # 4 batches an epoch
    torch.manual_seed(0)
    model = build_model("lstm", input_size=task.input_size, output_size=task.output_size, hidden_size=8)
    script = iter([2.0, 300.0, 1.0, 250.0, 201.0, 3.0])  # limit 100 x 2.0 = 200

    def fake(model, task, split, batch_size):
        value = next(script) if split == "valid" else 9.9
        return value, value

    monkeypatch.setattr(stream, "evaluate", fake)
    cfg = TrainConfig.from_dict(dict(epochs=10, batch_size=4, val_batch_size=2, divergence_patience=2))
    outcome = stream.train_stream(model, task, cfg, seed=0)
    assert outcome.status == "diverged" and outcome.diverged_at == 20  # the 5th epoch's validation
    assert outcome.diverged_reason == "validation loss 201 above 100 x the initial 2 for 2 validations in a row"


@pytest.mark.parametrize("option, value", [("divergence_factor", math.nan), ("divergence_factor", 1.0),
                                           ("divergence_factor", math.inf), ("divergence_patience", -1)])
def test_bad_divergence_options_are_rejected(option, value):
    with pytest.raises(ConfigError, match=f"train.{option}"):
        TrainConfig.from_dict({option: value})


def test_the_rule_leaves_the_fingerprints_of_earlier_runs_unchanged_at_its_defaults(tmp_path):
    run = spec(tmp_path)
    train = {k: v for k, v in run.train.to_dict().items()
             if k not in RUN_LOCATION_OPTIONS and not k.startswith("divergence_")
             and k not in ("train_loss_window", "stop_after_both_measures")}  # added later still, same rule
    blob = json.dumps([run.model_class, run.model_options, run.task_class, run.task_options, train, run.seed],
                      sort_keys=True, default=str)
    assert run.spec_hash == hashlib.sha1(blob.encode()).hexdigest()[:12]  # as before the rule existed
    assert spec(tmp_path, "train.divergence_patience=5").spec_hash != run.spec_hash  # set: it is part of the run
