"""The epoch-based "stream" training loop: truncated BPTT state carry (memory included), fresh state for
pMNIST, resuming from a checkpoint (mid-epoch, with the carried state) to exactly the run that never
stopped, the learning-rate schedules, early stopping, budgets, divergence and the epoch log."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from tasks import data
from bench.config import TrainConfig
from bench.training import TRAINERS, stream as stream_trainer
from bench.training.stream import train_stream
from models import build_model
from tasks import build_task
from test_pmnist import make_tiny_mnist

TEXT = bytes(b"the quick brown fox jumps over the lazy dog; " * 12)  # 540 bytes


def text_task(tmp_path, tbptt_length=5):
    path = tmp_path / "text.txt"
    path.write_bytes(TEXT)
    return build_task("charlm", dataset="text", text_file=str(path), tbptt_length=tbptt_length)


def armin(task, seed=0):
    torch.manual_seed(seed)
    return build_model("armin", input_size=task.input_size, output_size=task.output_size, hidden_size=8,
                       memory_slots=3, memory_width=4)


FP = "0123456789ab"  # the run's fingerprint (RunSpec.spec_hash in a sweep): names its checkpoints


def config(**options):
    base = dict(iterations=10_000, batch_size=4, val_batch_size=2, optimizer="adam", lr=1e-2)
    return TrainConfig.from_dict({**base, **options})


def spy_on_forward(model):
    """Record (training?, state passed in, state returned) of every forward call."""
    calls = []
    forward = model.forward

    def spy(x, state=None):
        logits, end = forward(x, state)
        calls.append((model.training, state, end))
        return logits, end

    model.forward = spy
    return calls


def test_the_stream_loop_is_registered_and_chosen_by_the_real_data_tasks(tmp_path):
    assert TRAINERS["stream"] is train_stream
    assert text_task(tmp_path).trainer == "stream"


def test_tbptt_carries_the_whole_state_between_batches_and_cuts_the_gradient(tmp_path):
    task = text_task(tmp_path)
    model = armin(task)
    calls = spy_on_forward(model)
    per_epoch = task.num_batches("train", 4)  # 485 train symbols: 4 rows of 121 -> 25 windows
    outcome = train_stream(model, task, config(epochs=2), seed=0)
    training = [(state, end) for is_training, state, end in calls if is_training]
    assert outcome.iterations_run == len(training) == 2 * per_epoch == 50
    for k, (state, end) in enumerate(training):
        if k % per_epoch == 0:
            assert state is None  # each epoch starts from the initial state
            continue
        previous_end = training[k - 1][1]
        assert set(state) == {"h", "M", "filled"}
        for key in state:  # the state at the start of batch k equals the end state of batch k - 1 ...
            assert torch.equal(state[key], previous_end[key])
            assert not state[key].requires_grad  # ... cut from its graph
    assert training[1][1]["M"].abs().sum() > 0  # the memory really is written and carried
    assert int(training[per_epoch - 1][1]["filled"]) == 121  # one write per step of the 121-step rows: never reset


def test_pmnist_batches_start_from_the_initial_state(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    data._load_cached.cache_clear()
    make_tiny_mnist(tmp_path / "mnist", n_train=20, n_test=10)
    task = build_task("pmnist", dataset="mnist", verify=False, val_size=8)
    torch.manual_seed(0)
    model = build_model("lstm", input_size=1, output_size=10, hidden_size=4)
    calls = spy_on_forward(model)
    outcome = train_stream(model, task, config(epochs=1, val_batch_size=5), seed=0)
    assert outcome.iterations_run == 3 and all(state is None for _, state, _ in calls)
    assert outcome.extra["metric_name"] == "test_accuracy" and 0 <= outcome.extra["metric_value"] <= 1


class Crash(Exception):
    pass


def test_resume_mid_epoch_reproduces_the_uninterrupted_run(tmp_path):
    task = text_task(tmp_path)
    options = dict(epochs=2, checkpoint_every=4, lr_schedule="step", lr_decay=0.5)
    straight_model = armin(task)
    straight = train_stream(straight_model, task, config(output_dir=str(tmp_path / "a"), **options), seed=3, fingerprint=FP)

    def crash_at_30(iteration, loss):
        if iteration == 30:  # in the second epoch, after the checkpoint of iteration 28
            raise Crash

    with pytest.raises(Crash):
        train_stream(armin(task), task, config(output_dir=str(tmp_path / "b"), **options), seed=3, on_iteration=crash_at_30,
                     fingerprint=FP)
    seen, curve = [], []
    resumed_model = armin(task)  # a fresh process: new weights, which the checkpoint replaces
    resumed = train_stream(resumed_model, task, config(output_dir=str(tmp_path / "b"), **options), seed=3,
                           on_iteration=lambda i, loss: seen.append(i), on_validation=curve.append, fingerprint=FP)
    assert seen[0] == 29  # continued after the last checkpoint
    assert [p.iteration for p in curve] == [25, 50]  # the curve re-emitted whole
    for key, value in straight_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    assert resumed.iterations_run == straight.iterations_run == 50
    assert [p.val_loss for p in resumed.curve] == [p.val_loss for p in straight.curve]
    assert resumed.extra["metric_value"] == straight.extra["metric_value"]
    assert resumed.train_time_s > 0 and resumed.wall_time_s >= resumed.train_time_s


def test_a_finished_run_is_trained_again_not_resumed(tmp_path):
    task = text_task(tmp_path, tbptt_length=40)
    cfg = config(epochs=1, output_dir=str(tmp_path / "out"))
    train_stream(armin(task), task, cfg, seed=0, fingerprint=FP)
    seen = []
    train_stream(armin(task), task, cfg, seed=0, on_iteration=lambda i, loss: seen.append(i), fingerprint=FP)
    assert seen[0] == 1


def test_checkpoints_are_named_by_the_runs_fingerprint_and_need_one(tmp_path):
    task = text_task(tmp_path, tbptt_length=40)
    outcome = train_stream(armin(task), task, config(epochs=1, output_dir=str(tmp_path / "a")), seed=0, fingerprint=FP)
    assert outcome.extra["checkpoint"] == str(tmp_path / "a" / "checkpoints" / f"armin-charlm-s0-{FP}.best.pt")
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir()) == [
        f"armin-charlm-s0-{FP}.best.pt", f"armin-charlm-s0-{FP}.last.pt"]  # no temporary file left
    outcome = train_stream(armin(task), task, config(epochs=1, output_dir=str(tmp_path / "b")), seed=0)
    assert outcome.extra["checkpoint"] == "" and not (tmp_path / "b").exists()  # no fingerprint: no files


def scripted_evaluate(monkeypatch, valid_metrics, test_metric=9.9):
    """evaluate() returns the given validation metrics in turn (loss = metric) and test_metric on test."""
    script = iter(valid_metrics)

    def fake(model, task, split, batch_size):
        value = next(script) if split == "valid" else test_metric
        return value, value

    monkeypatch.setattr(stream_trainer, "evaluate", fake)


def test_plateau_schedule_and_early_stopping_on_the_validation_metric(tmp_path, monkeypatch):
    task = text_task(tmp_path, tbptt_length=40)  # 4 batches an epoch
    scripted_evaluate(monkeypatch, [3.0, 2.0, 2.5, 2.6, 2.7, 2.8])  # bpc: lower is better
    cfg = config(epochs=10, lr=1e-3, lr_schedule="plateau", lr_decay=0.1, lr_patience=0,
                 early_stopping_patience=2, output_dir=str(tmp_path / "out"))
    outcome = train_stream(armin(task), task, cfg, seed=0, fingerprint=FP)
    assert outcome.extra["epochs_run"] == 4  # two epochs without a better metric after epoch 2
    assert outcome.extra["best_val_metric"] == 2.0 and outcome.extra["metric_value"] == 9.9
    epochs = pd.read_csv(tmp_path / "out" / "epochs.csv")
    assert epochs.lr.tolist() == pytest.approx([1e-3, 1e-3, 1e-3, 1e-4])  # cut after the first bad epoch
    assert epochs.val_metric.tolist() == [3.0, 2.0, 2.5, 2.6]
    best = torch.load(outcome.extra["checkpoint"], weights_only=True)
    assert best["epoch"] == 2 and best["val_metric"] == 2.0


def test_step_schedule_and_temperature_per_epoch(tmp_path):
    task = text_task(tmp_path, tbptt_length=40)
    cfg = config(epochs=3, lr=1e-3, lr_schedule="step", lr_decay=0.5, lr_step_epochs=1, temperature_unit="epoch",
                 inverse_temperature=dict(start=1, increment=1, every=1, max=50), output_dir=str(tmp_path / "out"))
    train_stream(armin(task), task, cfg, seed=0, fingerprint=FP)
    epochs = pd.read_csv(tmp_path / "out" / "epochs.csv")
    assert epochs.lr.tolist() == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert epochs.inverse_temperature.tolist() == [1.0, 2.0, 3.0]
    assert epochs.epoch.tolist() == [1.0, 2.0, 3.0] and (epochs.run.str.startswith("armin-charlm-s0-")).all()


def test_iteration_budget_cuts_an_epoch_which_is_still_validated(tmp_path):
    task = text_task(tmp_path, tbptt_length=40)  # 4 batches an epoch
    outcome = train_stream(armin(task), task, config(iterations=6), seed=0)
    assert outcome.iterations_run == 6 and outcome.extra["epochs_run"] == 1.5
    assert [p.iteration for p in outcome.curve] == [4, 6]
    assert outcome.extra["checkpoint"] == ""  # no output_dir, no files
    assert outcome.status == "unsolved" and math.isfinite(outcome.extra["metric_value"])


def test_nan_loss_ends_the_run_as_diverged(tmp_path, monkeypatch):
    task = text_task(tmp_path, tbptt_length=40)
    real_loss, calls = task.loss, []

    def nan_at_third(logits, batch):
        calls.append(1)
        value = real_loss(logits, batch)
        return value * math.nan if len(calls) == 3 else value

    monkeypatch.setattr(task, "loss", nan_at_third)
    outcome = train_stream(armin(task), task, config(epochs=2), seed=0)
    assert outcome.status == "diverged" and outcome.diverged_at == 3 and outcome.iterations_run == 2
    assert outcome.diverged_reason == "training loss is nan"
    assert outcome.extra["metric_value"] is None  # never validated: no best weights to test
