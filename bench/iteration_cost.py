"""Per-iteration training cost of each model on each task, profiled alone, so that Table 1's minutes compare.

A run's measured training time is not comparable across models: a vectorized seed group shares one wall
clock among its seeds, and on a loaded machine other processes slow each run by a different amount.
Here each (model, task) of a set of runs is rebuilt from its own row (class and options of model, task
and optimiser) and its training step (``bench.training.train_step``: forward, loss, backward, clipping,
update; validation excluded) is timed in one process, one thread, the models taking turns in rounds so
that a burst of load hits every model alike. The figure is the mean over a pool of sampled training
batches (the task's random lengths, as in training) of each batch's least thread CPU time over the
rounds: CPU time, which other processes inflate far less than wall time.

Table 1 multiplies iterations to solve by this cost (``iteration_cost.csv`` in any input folder) and says
so, keeping the measured minutes in their own column.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch

FILENAME = "iteration_cost.csv"
POOL = 4  # distinct training batches per (model, task)
DEFAULT_ROUNDS = 3
TRAIN_DEFAULTS = {"optimizer": "rmsprop", "lr": 1e-4, "alpha": 0.95, "momentum": 0.9, "clip_value": 10.0,
                  "clip_norm": 0.0, "batch_size": 1}


def _options(text) -> dict:
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}


class Workload:
    """One (model, task) of the runs, rebuilt from its first row, with a pool of training batches."""

    def __init__(self, row: pd.Series, seed: int = 0):
        from bench.training import make_optimizer
        from models import build_model
        from tasks import build_task

        self.model_label, self.task_label = str(row.model), str(row.task)
        torch.manual_seed(seed)
        self.task = build_task(str(row.task_class), **_options(row.get("task_options")))
        model_options = _options(row.get("model_options"))
        model_options.setdefault("input_size", self.task.input_size)
        model_options.setdefault("output_size", self.task.output_size)
        self.model = build_model(str(row.model_class), **model_options)
        self.model.train()
        self.cfg = SimpleNamespace(**{**TRAIN_DEFAULTS, **{k: v for k, v in _options(row.get("train_options")).items()
                                                           if k in TRAIN_DEFAULTS}})
        self.optimizer = make_optimizer(self.model, self.cfg)
        generator = torch.Generator().manual_seed(seed)
        self.batches = [self.task.sample(int(self.cfg.batch_size), generator) for _ in range(POOL)]
        self.best = [float("inf")] * POOL

    def time_round(self) -> None:
        from bench.training import train_step

        for i, batch in enumerate(self.batches):
            start = time.thread_time()
            train_step(self.model, self.task, batch, self.optimizer, self.cfg)
            self.best[i] = min(self.best[i], time.thread_time() - start)

    @property
    def seconds_per_iteration(self) -> float:
        return sum(self.best) / len(self.best)


def measure(runs: pd.DataFrame, rounds: int = DEFAULT_ROUNDS, console=None) -> pd.DataFrame:
    """The per-iteration training cost of every (model, task) in ``runs`` (one row each), measured here,
    alone, one thread."""
    from bench.store import environment

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        firsts = runs.drop_duplicates(["model", "task"])
        workloads = []
        for _, row in firsts.iterrows():
            workloads.append(Workload(row))
        for workload in workloads:  # a first untimed round: allocations, caches
            workload.time_round()
            workload.best = [float("inf")] * POOL
        for number in range(rounds):
            for workload in workloads:
                workload.time_round()
            if console is not None:
                console.print(f"round {number + 1}/{rounds} of {len(workloads)} (model, task) pairs")
        env = environment(torch.device("cpu"))
        stamp = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
        return pd.DataFrame([{
            "model": w.model_label, "task": w.task_label, "seconds_per_iteration": w.seconds_per_iteration,
            "method": f"mean over {POOL} sampled training batches of the least thread CPU time in {rounds} rounds, "
                      "alone, 1 thread; validation excluded",
            "timestamp": stamp, "cpu_model": env["cpu_model"], "num_threads": 1,
            "torch_version": env["torch_version"], "git_commit": env["git_commit"],
        } for w in workloads])
    finally:
        torch.set_num_threads(previous_threads)


def read_costs(inputs: list[Path]) -> pd.DataFrame | None:
    """iteration_cost.csv rows from the input folders that have one (the latest per model and task);
    None where none has."""
    frames = []
    for path in map(Path, inputs):
        folder = path.parent if path.suffix == ".csv" else path
        if (folder / FILENAME).is_file():
            frames.append(pd.read_csv(folder / FILENAME))
    if not frames:
        return None
    costs = pd.concat(frames, ignore_index=True)
    return costs.sort_values("timestamp", kind="stable").drop_duplicates(["model", "task"], keep="last")
