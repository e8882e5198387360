"""Where the models' training noise comes from: gumbel samples (``rand``) and zoneout masks
(``bernoulli``).

Normally from torch's global generator, exactly as ``torch.rand`` and ``torch.bernoulli`` draw. While
a seed group trains (bench/training/group.py: several seeds as one computation, each seed's rows a
block of the batch, seed-major), ``SeedNoise.active`` makes every draw come, for each seed's rows, from
that seed's own generator: the generator its ordinary run would draw from (the global state after
``torch.manual_seed(seed)`` and building the model). A seed's rows beyond its own sequence length (the
group is padded to its longest sequence) draw nothing, so each seed's generator advances exactly as in
its ordinary run. ``RecurrentModel.unroll`` calls ``step_done`` after each time step.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch

_active: "SeedNoise | None" = None


def rand(shape, like: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) samples of ``shape`` on ``like``'s device and dtype."""
    if _active is None:
        return torch.rand(shape, device=like.device, dtype=like.dtype)
    return _active.draw(tuple(shape), like, 0.5,
                        lambda k, rows, gen: torch.rand(rows, device=like.device, dtype=like.dtype, generator=gen))


def bernoulli(probs: torch.Tensor) -> torch.Tensor:
    """0/1 samples with probabilities ``probs``."""
    if _active is None:
        return torch.bernoulli(probs)
    rows = probs.shape[0] // len(_active.generators)
    return _active.draw(tuple(probs.shape), probs, 0.0,
                        lambda k, _rows, gen: torch.bernoulli(probs[k * rows : (k + 1) * rows], generator=gen))


def step_done() -> None:
    """One time step of the model's recurrence is done (called by ``RecurrentModel.unroll``)."""
    if _active is not None:
        _active.step += 1


class SeedNoise:
    """The noise of a seed group: ``generators[k]`` (by device type, "cpu" and "cuda") for the seed in
    slot k of the computation."""

    def __init__(self, generators: list[dict[str, torch.Generator]]):
        self.generators = generators
        self.lengths = [0] * len(generators)
        self.step = 0

    @contextmanager
    def active(self, lengths: list[int]) -> Iterator[None]:
        """While inside, the models' draws come from these generators; ``lengths[k]``: time steps of
        slot k's batch (0: the slot has none, it draws nothing)."""
        global _active
        previous, _active = _active, self
        self.lengths, self.step = list(lengths), 0
        try:
            yield
        finally:
            _active = previous

    def draw(self, shape: tuple, like: torch.Tensor, fill: float, sample: Callable) -> torch.Tensor:
        """Slot k's rows of a draw of ``shape`` (seed-major) from ``sample(k, rows_shape, generator)``
        while the step is within slot k's length, else ``fill``."""
        seeds = len(self.generators)
        if not shape or shape[0] % seeds:
            from models.seeded import NotVectorizable

            raise NotVectorizable(f"noise of shape {shape} is not seed-major over {seeds} seeds")
        rows = (shape[0] // seeds, *shape[1:])
        parts = []
        for k, generators in enumerate(self.generators):
            if self.step < self.lengths[k]:
                gen = generators[like.device.type]
                parts.append(sample(k, rows, gen))
            else:  # padding (or a stopped seed): draws nothing from the seed's generator
                parts.append(torch.full(rows, fill, device=like.device, dtype=like.dtype))
        return torch.cat(parts)
