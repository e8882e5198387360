"""Vectorized seeds (bench/vectorized.py): the time of one training iteration of S seeds trained as one
computation against one ordinary seed, every model of Table 1 that supports it, at Table 1 sizes on
copy, batch 1, one thread.

    OMP_NUM_THREADS=1 pytest benchmarks/test_vectorized_speed.py --benchmark-only
    OMP_NUM_THREADS=1 python benchmarks/test_vectorized_speed.py [--seeds 8] [--repeats 30] [--models armin,ntm]

The pytest-benchmark cases time a step on the longest copy sequence (T = 102 for every seed). The
script times what a run pays per iteration, 1 seed and S seeds interleaved step by step in one
process, batches drawn as in training (bench/vectorized.py ``SeedStreams``: the seeds' own streams,
one shared length per iteration; the drawing is timed too). The figure is thread CPU time
(``time.thread_time``), the median over the iterations: on a shared machine, wall time also counts
other processes.
"""

from __future__ import annotations

import argparse
import statistics

import pytest
import torch

from bench.config import expand_runs, load_config
from bench.profile_engine import time_interleaved
from bench.training import make_optimizer
from bench.vectorized import SeedFreezer, SeedStreams, group_step
from models import build_model
from models.seeded import vectorize
from tasks import build_task

CONFIG = load_config()
TASK = "copy"
PRESETS = ["armin", "ntm", "tardis", "awta", "sam", "dnc"]  # Table 1 models that declare support (not the fused LSTM)


class Steps:
    """One ordinary seed (seed 0) and a group of ``seeds`` seeds (0..S-1) of ``preset``, each step
    drawing its batches from its seeds' streams, or always the longest batch (``longest``)."""

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
        self.streams = SeedStreams(self.task, self.cfg.batch_size, list(range(seeds)))
        self.seeds, self.longest = seeds, longest
        self.steps_one = self.steps_group = 0  # time steps run

    def one(self) -> None:
        """An ordinary training step (bench/training/step.py): forward, loss, backward, clipping, update."""
        B = self.cfg.batch_size
        batch = self.task.max_batch(B) if self.longest else self.task.sample(B, self.gen)
        self.steps_one += batch.inputs.shape[0]
        loss = self.task.loss(self.model(batch.inputs)[0], batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(self.model.parameters(), self.cfg.clip_value)
        self.optimizer.step()

    def group(self) -> None:
        if self.longest:
            batches = dict.fromkeys(range(self.seeds), self.task.max_batch(self.cfg.batch_size))
        else:
            batches = self.streams.draw(list(range(self.seeds)))
        self.steps_group += max(b.inputs.shape[0] for b in batches.values())
        group_step(self.vmodel, self.task, batches, self.seeds, self.v_optimizer, self.freezer, self.cfg)


@pytest.mark.parametrize("seeds", [1, 8])
@pytest.mark.parametrize("preset", PRESETS)
def test_train_iteration(benchmark, preset, seeds):
    steps = Steps(preset, seeds, longest=True)
    benchmark.group = f"{preset}: train iteration, copy T=102, batch 1 per seed"
    benchmark.extra_info.update(seeds=seeds)
    benchmark(steps.one if seeds == 1 else steps.group)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=30, help="iterations of each, interleaved")
    parser.add_argument("--models", default=",".join(PRESETS))
    parser.add_argument("--longest", action="store_true", help="every step on the longest sequence")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"| model | 1 seed ms/iter | {args.seeds} seeds ms/iter | ratio | mean T (1 seed / {args.seeds} seeds) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for preset in args.models.split(","):
        steps = Steps(preset, args.seeds, args.longest)
        steps.one(), steps.group()  # warm-up, untimed
        steps.steps_one = steps.steps_group = 0
        times = time_interleaved({"one": steps.one, "group": steps.group}, args.repeats, torch.device("cpu"))
        one, group = (statistics.median(times[k].cpu) * 1e3 for k in ("one", "group"))
        print(f"| {preset} | {one:.1f} | {group:.1f} | {group / one:.2f} | "
              f"{steps.steps_one / args.repeats:.0f} / {steps.steps_group / args.repeats:.0f} |", flush=True)


if __name__ == "__main__":
    main()
