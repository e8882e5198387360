"""A killed episodic run continues from its checkpoint to exactly the run that never stopped (curve,
iterations-to-solve, final weights, bit for bit on CPU), in the loop and through the runner; the
checkpoint is written atomically through a temporary file of the writing process and is deleted when
the run finishes."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.config import RunSpec, TrainConfig, expand_runs, load_config, parse_overrides
from bench.training import checkpoint as checkpoint_module
from bench.training.episodic import train
from models import build_model
from tasks import build_task

FP = "0123456789ab"  # the run's fingerprint (RunSpec.spec_hash in a sweep)


class Crash(Exception):
    """Stands for the kill: the process stops between two iterations."""


def armin_on_copy(seed=0):
    """ARMIN draws gumbel noise from the global torch RNG every step: a resume must restore it."""
    task = build_task("copy", bits=4, min_length=1, max_length=3)
    torch.manual_seed(seed)
    model = build_model("armin", input_size=task.input_size, output_size=task.output_size, hidden_size=8,
                        memory_slots=4)
    return model, task


def config(out: Path | str = "", **options) -> TrainConfig:
    base = dict(iterations=60, val_every=10, val_batches=2, val_batch_size=4, checkpoint_every=10, lr=3e-3,
                solved_threshold=0.69, solved_window=2, stop_when_solved=False,  # solved at some point, trains on
                inverse_temperature=dict(start=1, increment=1, every=7, max=5), output_dir=str(out))
    return TrainConfig.from_dict({**base, **options})


def crash_at(n):
    def on_iteration(iteration, loss):
        if iteration == n:
            raise Crash

    return on_iteration


def learnt(curve):
    """The curve less its timings."""
    return [(p.iteration, p.val_loss, p.train_loss, p.inverse_temperature) for p in curve]


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_a_killed_episodic_run_resumes_to_the_uninterrupted_run_bit_for_bit(tmp_path):
    straight_model, task = armin_on_copy()
    straight = train(straight_model, task, config(tmp_path / "a"), seed=3, fingerprint=FP)

    model, task = armin_on_copy()
    with pytest.raises(Crash):  # after the checkpoint of iteration 30
        train(model, task, config(tmp_path / "b"), seed=3, on_iteration=crash_at(35), fingerprint=FP)
    saved = list((tmp_path / "b" / "checkpoints").iterdir())
    assert [p.name for p in saved] == [f"armin-copy-s3-{FP}.last.pt"]  # no temporary file left behind

    seen, curve = [], []
    resumed_model, task = armin_on_copy(seed=1)  # a fresh process: other weights, which the checkpoint replaces
    torch.manual_seed(12345)  # and another global RNG state, which the checkpoint replaces too
    resumed = train(resumed_model, task, config(tmp_path / "b"), seed=3, fingerprint=FP,
                    on_iteration=lambda i, loss: seen.append(i), on_validation=curve.append)
    assert seen[0] == 31 and seen[-1] == 60  # continued after the last checkpoint
    assert [p.iteration for p in curve] == [10, 20, 30, 40, 50, 60]  # the curve re-emitted whole
    assert learnt(resumed.curve) == learnt(straight.curve)  # val and train losses, 1/tau: every float equal
    assert resumed.iterations_to_solve == straight.iterations_to_solve is not None
    assert resumed.status == straight.status and resumed.iterations_run == straight.iterations_run == 60
    assert_same_weights(resumed_model, straight_model)
    assert resumed.train_time_s > 0 and resumed.wall_time_s >= resumed.train_time_s
    assert not any((tmp_path / "b" / "checkpoints").iterdir())  # finished: the checkpoint is deleted


def test_without_the_checkpoint_the_rerun_starts_afresh_and_differs(tmp_path):
    """The control of the test above: the resume does something (a rerun from iteration 31 on other
    weights would not reproduce the run)."""
    model, task = armin_on_copy()
    with pytest.raises(Crash):
        train(model, task, config(tmp_path), seed=3, on_iteration=crash_at(35), fingerprint=FP)
    seen = []
    train(armin_on_copy()[0], task, config(tmp_path), seed=3, fingerprint="another-run",
          on_iteration=lambda i, loss: seen.append(i))
    assert seen[0] == 1  # another fingerprint: not this checkpoint
    assert len(list((tmp_path / "checkpoints").iterdir())) == 1  # the killed run's, still there


def test_no_checkpoint_without_fingerprint_output_dir_or_interval(tmp_path):
    model, task = armin_on_copy()
    train(model, task, config(tmp_path / "a", iterations=25), seed=0, on_iteration=None)
    assert not (tmp_path / "a").exists()
    calls = []
    original = checkpoint_module.CheckpointFile.save

    def spy(self, **content):
        calls.append(content["iteration"])
        return original(self, **content)

    checkpoint_module.CheckpointFile.save = spy
    try:
        train(armin_on_copy()[0], task, config(tmp_path / "b", iterations=25, checkpoint_every=0), seed=0, fingerprint=FP)
        train(armin_on_copy()[0], task, config(tmp_path / "c", iterations=25, checkpoint_every=10), seed=0, fingerprint=FP)
    finally:
        checkpoint_module.CheckpointFile.save = original
    assert calls == [10, 20]  # every 10 iterations, not at the end (the run finished: nothing to resume)


def test_checkpoint_temporary_files_are_unique_per_writer(tmp_path, monkeypatch):
    """Two processes writing one run's checkpoint never share a temporary file."""
    sources, pid = [], os.getpid()
    real_replace = os.replace

    def spy(src, dst):
        sources.append(Path(src))
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint_module.os, "replace", spy)
    target = tmp_path / "run.last.pt"
    checkpoint_module.save_atomic({"a": 1}, target)
    monkeypatch.setattr(checkpoint_module.os, "getpid", lambda: 999_999)  # another process
    checkpoint_module.save_atomic({"a": 2}, target)
    assert len(set(sources)) == 2 and all(p.parent == tmp_path and p != target for p in sources)
    assert str(pid) in sources[0].name and "999999" in sources[1].name
    assert torch.load(target, weights_only=True) == {"a": 2} and list(tmp_path.iterdir()) == [target]


def spec(out: Path, **train_options) -> RunSpec:
    overrides = parse_overrides([
        "task.bits=4", "task.min_length=1", "task.max_length=3", "model.hidden_size=8", "model.memory_slots=4",
        "train.iterations=60", "train.val_every=10", "train.val_batches=2", "train.val_batch_size=4",
        "train.inference_batches=0", f"train.output_dir={out}",
        *(f"train.{k}={v}" for k, v in train_options.items()),
    ])
    [run] = expand_runs(load_config(), ["armin"], ["copy"], [0], overrides)
    return run


def test_the_runner_resumes_a_killed_run_from_the_checkpoint_of_its_spec_hash(tmp_path, run_and_store):
    straight = run_and_store(spec(tmp_path / "a", checkpoint_every=20), tmp_path / "a")

    def kill_at_50(sp, iteration, loss):
        if iteration == 50:
            raise Crash("killed")

    killed_spec = spec(tmp_path / "b", checkpoint_every=20)
    assert killed_spec.spec_hash == spec(tmp_path / "a", checkpoint_every=20).spec_hash  # where it runs is not what it is
    killed = run_and_store(killed_spec, tmp_path / "b", kill_at_50)
    assert killed["status"] == "error"
    assert [p.name for p in (tmp_path / "b" / "checkpoints").iterdir()] == [
        f"armin-copy-s0-{killed_spec.spec_hash}.last.pt"]
    seen = []
    resumed = run_and_store(spec(tmp_path / "b", checkpoint_every=20), tmp_path / "b",
                      on_progress=lambda sp, i, loss: seen.append(i))
    assert seen[0] == 41
    for column in ("status", "iterations_run", "iterations_to_solve", "final_val_loss", "last_val_loss", "best_val_loss"):
        assert resumed[column] == straight[column], column
    curves = pd.read_csv(tmp_path / "b" / "curves.csv")
    resumed_curve = curves[curves.run_id == resumed["run_id"]]
    straight_curve = pd.read_csv(tmp_path / "a" / "curves.csv")
    assert resumed_curve.val_loss.tolist() == straight_curve.val_loss.tolist()  # the whole curve under the new run


def test_the_stream_loop_names_its_checkpoints_by_the_spec_hash_too(tmp_path, run_and_store):
    """One fingerprint per run: the epoch-based run's checkpoints carry the RunSpec's spec_hash."""
    text = tmp_path / "text.txt"
    text.write_bytes(b"the quick brown fox jumps over the lazy dog; " * 12)
    out = tmp_path / "out"
    overrides = parse_overrides([f"task.text_file={text}", "task.tbptt_length=40", "model.hidden_size=8",
                                 "train.epochs=1", "train.batch_size=4", "train.val_batch_size=2",
                                 "train.inference_batches=0", f"train.output_dir={out}"])
    [run] = expand_runs(load_config(), ["lstm"], ["text-smoke"], [0], overrides)
    row = run_and_store(run, out)
    assert row["status"] == "unsolved"
    assert row["checkpoint"] == str(out / "checkpoints" / f"lstm-charlm-s0-{run.spec_hash}.best.pt")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        f"lstm-charlm-s0-{run.spec_hash}.best.pt", f"lstm-charlm-s0-{run.spec_hash}.last.pt"]


def test_an_unreadable_checkpoint_is_ignored_with_a_warning(tmp_path):
    model, task = armin_on_copy()
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / f"armin-copy-s3-{FP}.last.pt").write_bytes(b"not a checkpoint")
    seen = []
    with pytest.warns(UserWarning, match="ignoring unreadable checkpoint"):
        train(model, task, config(tmp_path, iterations=12), seed=3, fingerprint=FP, on_iteration=lambda i, loss: seen.append(i))
    assert seen == list(range(1, 13)) and not any(folder.iterdir())
