"""Seed groups (bench/training/group.py): the time of one training iteration of S seeds trained as one
computation against one ordinary seed, at Table 1 sizes on copy (lengths 1-50), batch 1, one thread.

    OMP_NUM_THREADS=1 pytest benchmarks/test_vectorized_speed.py --benchmark-only
    OMP_NUM_THREADS=1 python benchmarks/test_vectorized_speed.py [--seeds 5,8] [--repeats 30] [--models armin,ntm]

The pytest-benchmark cases time a step on the longest copy sequence (T = 102 for every seed). The
script times what a run pays per iteration, interleaved step by step in one process:
- ``one``: an ordinary seed (bench/training/step.py), its own batches;
- ``own``: the group as it trains: every seed its own run's next batch, padded to the group's longest
  (each seed exactly its ordinary run);
- ``shared``: the scheme seed groups used before (every seed a batch of the first seed's length,
  taken out of order from its own stream; the seeds were not their own runs); the batches are made
  at that length directly, which costs what the old scheme's training cost, not its drawing.
The figure is thread CPU time (``time.thread_time``), the mean over the iterations (lengths vary): on a shared
machine, wall time also counts other processes. Ratios are against ``one`` in the same run.
"""

from __future__ import annotations

import argparse
import statistics

import pytest
import torch

from bench.config import expand_runs, load_config
from bench.profile_engine import time_interleaved
from bench.training import make_optimizer, train_step
from bench.training.group import SeedFreezer, group_step
from models import build_model
from models.seeded import vectorize
from tasks import build_task

CONFIG = load_config()
TASK = "copy"
PRESETS = ["armin", "ntm", "tardis", "awta", "dnc"]  # Table 1 models that declare support


class Steps:
    """One ordinary seed (seed 0) and a group of ``seeds`` seeds (0..S-1) of ``preset``."""

    def __init__(self, preset: str, seeds: int, longest: bool = False):
        self.spec = expand_runs(CONFIG, [preset], [TASK], [0])[0]
        self.cfg = self.spec.train
        self.task = build_task(self.spec.task_class, **self.spec.task_options)
        models = []
        for seed in range(seeds):
            torch.manual_seed(seed)
            models.append(build_model(self.spec.model_class, **self.spec.model_options))
        torch.manual_seed(0)
        self.model = build_model(self.spec.model_class, **self.spec.model_options)
        self.optimizer = make_optimizer(self.model, self.cfg)
        self.vmodel = vectorize(models)
        self.v_optimizer = make_optimizer(self.vmodel, self.cfg)
        self.freezer = SeedFreezer(list(self.vmodel.parameters()), self.v_optimizer, seeds)
        self.gen = torch.Generator().manual_seed(0)
        self.gens = [torch.Generator().manual_seed(s) for s in range(seeds)]
        self.seeds, self.longest = seeds, longest
        self.steps = {"one": 0, "own": 0, "shared": 0}  # time steps run

    def one(self) -> None:
        """An ordinary training step: forward, loss, backward, clipping, update."""
        B = self.cfg.batch_size
        batch = self.task.max_batch(B) if self.longest else self.task.sample(B, self.gen)
        self.steps["one"] += batch.inputs.shape[0]
        train_step(self.model, self.task, batch, self.optimizer, self.cfg)

    def own(self) -> None:
        """The group's step, every seed its own next batch (padded to the longest)."""
        B = self.cfg.batch_size
        if self.longest:
            batches = dict.fromkeys(range(self.seeds), self.task.max_batch(B))
        else:
            batches = {s: self.task.sample(B, gen) for s, gen in enumerate(self.gens)}
        self._group(batches, "own")

    def shared(self) -> None:
        """The old scheme's step: every seed a batch of the first seed's length."""
        B = self.cfg.batch_size
        first = self.task.sample(B, self.gens[0])
        length = (first.inputs.shape[0] - 2) // 2  # copy: T = 2 L + 2
        batches = {0: first, **{s: self.task.make(B, length, self.gens[s]) for s in range(1, self.seeds)}}
        self._group(batches, "shared")

    def _group(self, batches, key: str) -> None:
        self.steps[key] += max(b.inputs.shape[0] for b in batches.values())
        group_step(self.vmodel, self.task, batches, self.seeds, self.v_optimizer, self.freezer, self.cfg)


@pytest.mark.parametrize("seeds", [1, 8])
@pytest.mark.parametrize("preset", PRESETS)
def test_train_iteration(benchmark, preset, seeds):
    steps = Steps(preset, seeds, longest=True)
    benchmark.group = f"{preset}: train iteration, copy T=102, batch 1 per seed"
    benchmark.extra_info.update(seeds=seeds)
    benchmark(steps.one if seeds == 1 else steps.own)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="5,8", help="group sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=30, help="iterations of each, interleaved")
    parser.add_argument("--models", default=",".join(PRESETS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| model | S | 1 seed ms/iter | S seeds, own lengths (now) | S seeds, shared length (before) "
          "| now / before | mean T: 1 / own / shared |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for preset in args.models.split(","):
        for seeds in (int(s) for s in args.seeds.split(",")):
            steps = Steps(preset, seeds)
            work = {"one": steps.one, "own": steps.own, "shared": steps.shared}
            for step in work.values():  # warm-up, untimed
                step()
            steps.steps = dict.fromkeys(work, 0)
            times = time_interleaved(work, args.repeats, torch.device("cpu"))
            ms = {k: statistics.mean(times[k].cpu) * 1e3 for k in work}
            T = {k: steps.steps[k] / args.repeats for k in work}
            print(f"| {preset} | {seeds} | {ms['one']:.1f} | {ms['own']:.1f} ({ms['own'] / ms['one']:.2f}x) | "
                  f"{ms['shared']:.1f} ({ms['shared'] / ms['one']:.2f}x) | {ms['own'] / ms['shared']:.2f} | "
                  f"{T['one']:.0f} / {T['own']:.0f} / {T['shared']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
