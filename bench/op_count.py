"""Operators dispatched by a step, counted exactly.

At small batch a step's time is set mostly by how many operators it dispatches (a few microseconds of
overhead each on a CPU), not by its arithmetic. ``OperatorCounter`` counts every ATen operator that
reaches the dispatcher below autograd (``TorchDispatchMode``): those the forward pass calls, those the
autograd engine runs in the backward pass, and those of the optimiser, each in a named phase. The
count is exact and the same on every run of the same code, sizes and torch version (where values
choose a branch, e.g. a memory that is full or not, the same values give the same count), so
``bench compare`` gates on it at zero tolerance. It does not see tensor sizes, work outside torch, or
what another torch version dispatches; view operators (``view``, ``t``, ``expand``, ``split``...) are
counted too, though on a GPU they launch no kernel.

    counter = OperatorCounter()
    with counter.phase("forward"):
        loss = model(x)[0].sum()
    with counter.phase("backward"):
        loss.backward()
    counter.counts            # {"forward": ..., "backward": ...}
    counter.operators["forward"].most_common(5)
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import Iterator

from torch.utils._python_dispatch import TorchDispatchMode


class OperatorCounter(TorchDispatchMode):
    """Counts the ATen operators dispatched inside ``phase(name)`` blocks, per phase and per operator."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.operators: dict[str, Counter[str]] = {}
        self._phase = ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[self._phase] += 1
        self.operators[self._phase][str(func)] += 1
        return func(*args, **(kwargs or {}))

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count what runs inside the block under ``name`` (added to what that phase counted before)."""
        outer, self._phase = self._phase, name
        self.counts[name] += 0
        self.operators.setdefault(name, Counter())
        try:
            with self:
                yield
        finally:
            self._phase = outer
