"""What the real-data tasks (pMNIST, character-level language modelling) share: the interface the
epoch-based "stream" training loop (bench/training/stream.py) uses, on top of ``Task``.

    for batch in task.batches("train", batch_size, generator):   # one epoch, in training order
        ...                                                      # "valid" / "test": the whole split, in order
    total, count = task.metric_terms(logits, batch)              # metric = sum of totals / sum of counts

``carries_state``: the recurrent state flows from one batch of an epoch into the next (truncated BPTT
over contiguous streams); otherwise every batch starts from the initial state. A private module (its
name starts with "_"), so the task package does not import it as a task file.
"""

from __future__ import annotations

from typing import ClassVar, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from tasks.base import Batch, Task

SUBSET_SEED = 20_190_628  # fixed seed of held-out and subset choices: the same images for every run


class StreamTask(Task):
    loss_kind = "ce"
    trainer = "stream"
    carries_state: ClassVar[bool] = False
    metric_name: ClassVar[str] = ""  # e.g. "accuracy", "bpc"; result rows report "test_<metric_name>"
    higher_is_better: ClassVar[bool] = False

    def batches(self, split: str, batch_size: int, generator: torch.Generator | None = None) -> Iterator[Batch]:
        raise NotImplementedError

    def num_batches(self, split: str, batch_size: int) -> int:
        raise NotImplementedError

    def metric_terms(self, logits: torch.Tensor, batch: Batch) -> tuple[float, float]:
        raise NotImplementedError

    def data_description(self) -> str:
        """The data actually used (dataset, files and checksums, splits): the ``data`` result column."""
        raise NotImplementedError


def fixed_permutation(n: int, offset: int = 0) -> np.ndarray:
    """A random order of ``range(n)`` that is the same on every run and machine (NumPy's legacy
    RandomState stream never changes); ``offset`` picks another fixed draw."""
    return np.random.RandomState(SUBSET_SEED + offset).permutation(n)


def fixed_subset(n: int, size: int, offset: int = 0) -> np.ndarray:
    """``size`` indices of ``range(n)`` chosen at random with a fixed seed, ascending (0 or >= n: all)."""
    if size <= 0 or size >= n:
        return np.arange(n)
    return np.sort(fixed_permutation(n, offset)[:size])


def masked_cross_entropy_sum(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Sum over the masked steps of -log p(target), in nats."""
    per_step = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), reduction="none")
    return (per_step * batch.mask.flatten()).sum()


def check_split(split: str, splits) -> None:
    if split not in splits:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(splits)}")
