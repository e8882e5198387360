"""What a run costs: peak memory, a repeatable memory figure, inference throughput.

- GPU: ``torch.cuda.reset_peak_memory_stats`` at the start, ``max_memory_allocated`` at the end.
- CPU: peak growth of the process's resident set size (psutil, sampled during the run) and the
  process's lifetime peak (``ru_maxrss``). Both depend on the allocator and the machine, so there is
  also ``saved_tensor_bytes``: the bytes of tensors autograd saves for backward in one training
  forward on the task's longest batch. It is the same on every run of the same code and sizes, so CI
  can compare memory exactly.

Measuring must not change what is measured: every probe that runs the model (``saved_tensor_bytes``,
``inference_throughput``) runs on random states of its own (``own_rng``), so a run's training draws
the same random numbers with or without the probe, and its call sites need no care.
"""

from __future__ import annotations

import contextlib
import functools
import random
import resource
import sys
import time
from typing import Callable, Iterator

import numpy as np
import psutil
import torch

from models.base import RecurrentModel
from tasks.base import Task

# ru_maxrss is in kilobytes on Linux and bytes on macOS
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024
INFERENCE_SEED = 7_919  # inference timing batches come from their own generator
INFERENCE_WARMUP_BATCHES = 1  # not timed


class PeakMemory:
    """Tracks peak memory over a run; call ``sample()`` now and then on CPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.process = psutil.Process()
        self.rss_start = self.process.memory_info().rss
        self.rss_peak = self.rss_start
        self.cuda_start = 0
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            self.cuda_start = torch.cuda.memory_allocated(device)

    def sample(self) -> None:
        self.rss_peak = max(self.rss_peak, self.process.memory_info().rss)

    def result(self) -> dict[str, int | None]:
        self.sample()
        cuda = torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda" else None
        return {
            "peak_cuda_bytes": cuda,
            "peak_rss_growth_bytes": self.rss_peak - self.rss_start,
            "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _MAXRSS_UNIT,
        }

    def peak_growth_bytes(self) -> int:
        """Peak memory above what was allocated when tracking started: GPU memory allocated by torch
        on a GPU, resident set size on the CPU. Other tensors alive all along do not count."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) - self.cuda_start
        self.sample()
        return self.rss_peak - self.rss_start


@contextlib.contextmanager
def own_rng(device: torch.device) -> Iterator[None]:
    """Run the body on the current random states and put them back afterwards: torch's CPU generator
    (and ``device``'s CUDA generator), Python's ``random`` and numpy's global generator."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def _probe(fn):
    """Decorate a probe ``fn(model, ...)``: it runs inside ``own_rng`` on the model's device."""

    @functools.wraps(fn)
    def wrapper(model: RecurrentModel, *args, **kwargs):
        with own_rng(next(model.parameters()).device):
            return fn(model, *args, **kwargs)

    return wrapper


@_probe
def saved_tensor_bytes(model: RecurrentModel, task: Task, batch_size: int) -> int:
    """Bytes of distinct storages autograd saves for backward in one training forward + loss on
    ``task.max_batch(batch_size)``. Deterministic for given code, sizes and dtype."""
    p = next(model.parameters())
    batch = task.max_batch(batch_size).to(p.device, p.dtype)
    was_training = model.training
    model.train()
    saved = saved_bytes(lambda: task.loss(model(batch.inputs)[0], batch))
    model.train(was_training)
    return saved


def saved_bytes(compute: Callable[[], object]) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``compute()`` runs
    (parameters a product saves count too). Depends only on the code, the sizes and the dtype: every
    storage seen is held until ``compute()`` ends, so a saved storage freed on the way (a dropped
    graph) cannot have its address taken by another and be counted once for both (which made the
    figure depend on the allocator's state: 8 bytes in 1.75 MB for ARMIN, seen between processes)."""
    storages: dict[int, int] = {}
    held: list = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        held.append(storage)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        compute()
    return sum(storages.values())


@_probe
@torch.no_grad()
def inference_throughput(model: RecurrentModel, task: Task, batch_size: int, batches: int) -> tuple[float | None, str]:
    """Time steps x batch per second of ``forward`` in inference mode (``model.eval()``, no grad),
    batch generation excluded, after one untimed warm-up batch; and the code path that ran."""
    if batches < 1:
        return None, ""
    p = next(model.parameters())
    generator = torch.Generator().manual_seed(INFERENCE_SEED)
    data = [task.sample(batch_size, generator).to(p.device, p.dtype) for _ in range(batches + INFERENCE_WARMUP_BATCHES)]
    was_training = model.training
    model.eval()
    for batch in data[:INFERENCE_WARMUP_BATCHES]:
        model(batch.inputs)
    synchronize(p.device)
    start = time.perf_counter()
    for batch in data[INFERENCE_WARMUP_BATCHES:]:
        model(batch.inputs)
    synchronize(p.device)
    elapsed = time.perf_counter() - start
    path = model.inference_path()
    model.train(was_training)
    return sum(b.steps for b in data[INFERENCE_WARMUP_BATCHES:]) / elapsed, path


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so a timer read covers it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
