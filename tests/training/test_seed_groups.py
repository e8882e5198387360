"""Seed groups (bench/training/group.py): a seed is its own run wherever it runs (its row and curve in
a group of 1, 3 or 5 are those of its ordinary run, model noise and sequences of its own included), and
a group killed mid-run (kill -9) continues on ``--resume`` to the group that never stopped, bit for bit;
while it trains, each seed holds its run lock and writes its log and checkpoint."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.config import TrainConfig, expand_runs, load_config, parse_overrides
from bench.execution.run import execute, execute_group, make_job
from bench.store import run_lock
from bench.training.group import train_group
from models import build_model
from tasks import build_task

LEARNT = ["status", "iterations_run", "iterations_to_solve", "final_val_loss", "last_val_loss", "best_val_loss",
          "diverged_at", "train_steps_per_s"]
TINY = ["task.bits=4", "task.min_length=1", "task.max_length=3", "model.hidden_size=8", "model.memory_slots=4",
        "train.val_every=5", "train.val_batches=2", "train.val_batch_size=2", "train.inference_batches=0",
        "train.lr=0.01"]


def specs(out: Path, seeds: list[int], *options: str):
    overrides = parse_overrides([*TINY, f"train.output_dir={out}", *options])
    return expand_runs(load_config(), ["armin"], ["copy"], seeds, overrides)


def learnt(curve) -> list[float]:
    """The curve less its timings, flat."""
    return [x for p in curve for x in (p.iteration, p.val_loss, p.train_loss, p.inverse_temperature)]


@pytest.mark.parametrize("size", [1, 3, 5])
def test_a_seeds_row_and_curve_in_a_group_are_its_ordinary_runs(tmp_path, size):
    """Seed 2 (ARMIN with its gumbel noise on, copy lengths 1-3: the seeds' batches differ in length)
    trained in a group of ``size`` seeds and alone: the same row and curve (float64: to 1e-9, the
    rounding of batched against single matrix products)."""
    options = ("train.iterations=15", "train.dtype=float64")
    seeds = [2] if size == 1 else list(range(size))
    alone_events, group_events = [], []
    [alone_spec] = specs(tmp_path / "alone", [2], *options)
    alone = execute(make_job(alone_spec, tmp_path / "alone"), lambda kind, *data: alone_events.append((kind, data)))
    group_specs = specs(tmp_path / "group", seeds, *options)
    rows = execute_group([make_job(s, tmp_path / "group") for s in group_specs],
                         lambda s, kind, *data: group_events.append((s, kind, data)))
    mine = rows[seeds.index(2)]
    assert '"vectorized": %d' % size in mine["train_options"] and mine["status"] != "error"
    for column in LEARNT[:-1]:
        expected = alone[column]
        assert mine[column] == (pytest.approx(expected, rel=1e-9) if isinstance(expected, float) else expected), column
    curve = [d[0] for s, kind, d in group_events if kind == "validation" and s == seeds.index(2)]
    own = [d[0] for kind, d in alone_events if kind == "validation"]
    assert len(curve) == 3 and learnt(curve) == pytest.approx(learnt(own), rel=1e-9)
    if size > 1:  # the other seeds are runs of their own, not copies of seed 2
        assert len({round(row["final_val_loss"], 12) for row in rows}) == size


def test_seed_groups_pad_to_the_longest_sequence_each_seed_its_own_batches():
    """Seeds whose batches have different lengths at the same iteration (lengths 1-4): every seed's
    training losses are its ordinary run's, iteration by iteration."""
    task = build_task("copy", bits=4, min_length=1, max_length=4)
    cfg = TrainConfig.from_dict({"iterations": 8, "val_every": 4, "val_batches": 1, "val_batch_size": 2,
                                 "lr": 1e-2, "dtype": "float64", "divergence_patience": 0})

    def model(seed):
        torch.manual_seed(seed)
        return build_model("armin", input_size=task.input_size, output_size=task.output_size, hidden_size=6,
                           memory_slots=3, addressing_noise=False).double()

    seeds = [0, 1, 2]
    losses = {s: [] for s in range(3)}
    train_group([model(s) for s in seeds], task, cfg, seeds, on_iteration=lambda s, i, loss: losses[s].append(loss))
    from bench.training.episodic import train

    lengths = set()
    for s, seed in enumerate(seeds):
        own = []
        train(model(seed), task, cfg, seed, on_iteration=lambda i, loss: own.append(loss))
        assert losses[s] == pytest.approx(own, rel=1e-10)
        generator = torch.Generator().manual_seed(seed)
        lengths |= {(i, task.sample(cfg.batch_size, generator).inputs.shape[0]) for i in range(2)}
    assert len({length for i, length in lengths if i == 0}) > 1  # the first batches differ in length


class Crash(Exception):
    """Stands for the kill: the process stops between two iterations."""


def test_a_group_with_stopped_and_compacted_seeds_resumes_bit_for_bit(tmp_path):
    """Four seeds, two of which diverge at once (the computation is rebuilt with the other two): killed
    after the checkpoint at iteration 5, the group continues from the seeds' checkpoints to exactly the
    group that never stopped (curves, outcomes, final weights)."""
    task = build_task("copy", bits=4, min_length=1, max_length=3)
    seeds, fingerprints = [0, 1, 2, 3], ["0123456789a%d" % s for s in range(4)]

    def group():
        models = []
        for seed in seeds:
            torch.manual_seed(seed)
            models.append(build_model("armin", input_size=task.input_size, output_size=task.output_size,
                                      hidden_size=6, memory_slots=3))
        with torch.no_grad():
            for s in (1, 3):
                models[s].readout.bias.fill_(math.nan)
        return models

    def cfg(out):
        return TrainConfig.from_dict({"iterations": 12, "val_every": 3, "val_batches": 1, "val_batch_size": 2,
                                      "lr": 1e-2, "checkpoint_every": 5, "output_dir": str(out)})

    straight_models = group()
    straight = train_group(straight_models, task, cfg(tmp_path / "a"), seeds, fingerprints=fingerprints)

    def crash(s, iteration, loss):
        if iteration == 7:
            raise Crash

    with pytest.raises(Crash):
        train_group(group(), task, cfg(tmp_path / "b"), seeds, crash, fingerprints=fingerprints)
    assert len(list((tmp_path / "b" / "checkpoints").iterdir())) == 4  # every seed's, stopped ones included
    torch.manual_seed(999)  # another process: another global random state, which the checkpoints replace
    seen = []
    models = group()
    resumed = train_group(models, task, cfg(tmp_path / "b"), seeds, lambda s, i, loss: seen.append(i),
                          fingerprints=fingerprints)
    assert seen[0] == 6
    for a, b in zip(straight, resumed):
        assert (a.status, a.iterations_run, a.diverged_at) == (b.status, b.iterations_run, b.diverged_at)
        assert learnt(a.curve) == learnt(b.curve)
    for s in (0, 2):
        for key, value in straight_models[s].state_dict().items():
            assert torch.equal(value, models[s].state_dict()[key]), key
    assert not list((tmp_path / "b" / "checkpoints").iterdir())  # the group finished: no checkpoint left


KILL_AT = """
import os, signal, sys
from bench.training import episodic
trained = episodic.EpisodicRun.trained
def killing(self, iteration, *rest):
    trained(self, iteration, *rest)
    if iteration == {iteration}:
        os.kill(os.getpid(), signal.SIGKILL)
episodic.EpisodicRun.trained = killing
from bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_of_a_vectorized_group_then_resume_equals_the_uninterrupted_group(tmp_path):
    args = ["run", "-m", "armin", "-t", "copy", "-n", "20", "--seeds", "3", "--vectorize-seeds", "-q",
            *[a for o in (*TINY, "train.checkpoint_every=5") for a in ("-s", o)]]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    killed = subprocess.run([sys.executable, "-c", KILL_AT.format(iteration=13), *args, "--out", str(tmp_path / "b")],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    out = tmp_path / "b"
    assert not (out / "runs.csv").exists() or pd.read_csv(out / "runs.csv").empty
    logs = sorted((out / "logs").iterdir())
    assert len(logs) == 3 and all("it 10 val_loss" in log.read_text() for log in logs)  # written as it went
    assert len(pd.read_csv(out / "curves.csv")) == 3 * 2  # every seed's points up to iteration 10
    assert len(list((out / "checkpoints").glob("*.last.pt"))) == 3

    assert main([*args, "--out", str(out), "--resume"]) == 0
    straight, resumed = (pd.read_csv(tmp_path / name / "runs.csv").sort_values("seed") for name in ("a", "b"))
    pd.testing.assert_frame_equal(straight[["seed", *LEARNT[:-1]]].reset_index(drop=True),
                                  resumed[["seed", *LEARNT[:-1]]].reset_index(drop=True), check_exact=True)
    columns = ["iteration", "val_loss", "train_loss", "inverse_temperature"]
    for (_, a), (_, b) in zip(straight.iterrows(), resumed.iterrows()):
        curve_a = pd.read_csv(tmp_path / "a" / "curves.csv").query("run_id == @a.run_id")[columns]
        curve_b = pd.read_csv(out / "curves.csv").query("run_id == @b.run_id")[columns]
        assert len(curve_a) == 4
        pd.testing.assert_frame_equal(curve_a.reset_index(drop=True), curve_b.reset_index(drop=True), check_exact=True)
    assert not list((out / "checkpoints").glob("*.last.pt"))


def test_a_group_holds_its_runs_locks(tmp_path):
    """A seed whose run lock another process holds is refused (an error row saying so); the group's
    other seeds train."""
    group = specs(tmp_path, [0, 1, 2], "train.iterations=5")
    jobs = [make_job(s, tmp_path) for s in group]
    with run_lock(tmp_path, group[1].spec_hash):
        rows = execute_group(jobs, lambda *a: None)
    assert rows[1]["status"] == "error" and rows[1]["error"].startswith("refused")
    assert [rows[s]["status"] != "error" for s in (0, 2)] == [True, True]


def test_an_ordinary_run_continues_a_groups_checkpoint(tmp_path):
    """A seed is its own run: the checkpoints a killed group left are continued seed by seed by the
    ordinary loop, to the group's results (float64, to rounding); a seed that had stopped in the
    group (diverged) trains no further."""
    from bench.training.episodic import train

    task = build_task("copy", bits=4, min_length=1, max_length=3)
    seeds, fingerprints = [0, 1, 2], ["fedcba98765%d" % s for s in range(3)]

    def model(seed):
        torch.manual_seed(seed)
        m = build_model("armin", input_size=task.input_size, output_size=task.output_size, hidden_size=6,
                        memory_slots=3).double()
        if seed == 1:
            with torch.no_grad():
                m.readout.bias.fill_(math.nan)
        return m

    def cfg(out):
        return TrainConfig.from_dict({"iterations": 12, "val_every": 3, "val_batches": 1, "val_batch_size": 2,
                                      "lr": 1e-2, "checkpoint_every": 5, "output_dir": str(out), "dtype": "float64"})

    straight = train_group([model(s) for s in seeds], task, cfg(tmp_path / "a"), seeds, fingerprints=fingerprints)

    def crash(s, iteration, loss):
        if iteration == 7:
            raise Crash

    with pytest.raises(Crash):
        train_group([model(s) for s in seeds], task, cfg(tmp_path / "b"), seeds, crash, fingerprints=fingerprints)
    for s, seed in enumerate(seeds):
        seen = []
        alone = train(model(seed), task, cfg(tmp_path / "b"), seed, lambda i, loss: seen.append(i),
                      fingerprint=fingerprints[s])
        assert seen == ([] if seed == 1 else list(range(6, 13)))
        assert (alone.status, alone.iterations_run, alone.diverged_at) == (
            straight[s].status, straight[s].iterations_run, straight[s].diverged_at)
        assert learnt(alone.curve) == pytest.approx(learnt(straight[s].curve), rel=1e-9)


def test_seeds_resumed_from_different_iterations_each_continue_as_their_own_run(tmp_path):
    """One seed's checkpoint is missing (killed before it was written, or the seed ran elsewhere): the
    group continues the others from iteration 5 and trains that one from the start, each to its
    result in the uninterrupted group (float64, to rounding)."""
    task = build_task("copy", bits=4, min_length=1, max_length=3)
    seeds, fingerprints = [0, 1, 2], ["00112233445%d" % s for s in range(3)]

    def models():
        out = []
        for seed in seeds:
            torch.manual_seed(seed)
            out.append(build_model("armin", input_size=task.input_size, output_size=task.output_size,
                                   hidden_size=6, memory_slots=3).double())
        return out

    def cfg(out):
        return TrainConfig.from_dict({"iterations": 10, "val_every": 5, "val_batches": 1, "val_batch_size": 2,
                                      "lr": 1e-2, "checkpoint_every": 5, "output_dir": str(out), "dtype": "float64"})

    straight = train_group(models(), task, cfg(tmp_path / "a"), seeds, fingerprints=fingerprints)

    def crash(s, iteration, loss):
        if iteration == 7:
            raise Crash

    with pytest.raises(Crash):
        train_group(models(), task, cfg(tmp_path / "b"), seeds, crash, fingerprints=fingerprints)
    next((tmp_path / "b" / "checkpoints").glob("*-s1-*")).unlink()
    first = {}
    resumed = train_group(models(), task, cfg(tmp_path / "b"), seeds,
                          lambda s, i, loss: first.setdefault(s, i), fingerprints=fingerprints)
    assert first == {0: 6, 1: 1, 2: 6}
    for a, b in zip(straight, resumed):
        assert learnt(b.curve) == pytest.approx(learnt(a.curve), rel=1e-9) and len(a.curve) == 2
