"""The memory trace (models.base.recording_memory, for bench inspect) costs nothing on the normal
path: the torch operators one step dispatches, and its time, with recording off, on this tree and on
another (the tree before the hook: run with PYTHONPATH pointing at it and compare the printed lines).

    PYTHONPATH=. python benchmarks/memory_trace_overhead.py
    PYTHONPATH=/path/to/other/checkout python benchmarks/memory_trace_overhead.py
"""

from __future__ import annotations

import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from models import build_model

MODELS = {"armin": {}, "ntm": {}, "dnc": {}, "tardis": {}, "awta": {}}
STEPS, REPEATS = 50, 5


class CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def measure(name: str, options: dict, training: bool) -> tuple[int, float]:
    torch.manual_seed(0)
    model = build_model(name, input_size=10, output_size=8, hidden_size=64, **options).train(training)
    x = torch.rand(STEPS, 1, 10).round()
    with torch.set_grad_enabled(training):
        with CountOps() as ops:
            model(x)
        best = float("inf")
        for _ in range(REPEATS):
            start = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - start)
    return ops.count // STEPS, best / STEPS * 1e6


if __name__ == "__main__":
    torch.set_num_threads(1)
    for name, options in MODELS.items():
        for training in (True, False):
            ops, us = measure(name, options, training)
            print(f"{name:6s} {'train' if training else 'eval ':5s} {ops:4d} ops/step  {us:8.1f} us/step")
