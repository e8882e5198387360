"""Training loops by name, with the training options each one reads.

A task picks its loop with its ``trainer`` attribute (default "episodic": fresh state every
iteration, as the algorithmic tasks; "stream": epochs over a data split). Every loop has the
signature of ``bench.training.episodic.train`` and returns a ``TrainOutcome``.

``USED_OPTIONS[name]`` is the set of ``TrainConfig`` fields that loop reads, together with
``RUNNER_OPTIONS`` (read by the runner around every loop). Any other field does nothing for that loop,
so the configuration layer can reject it when it is set away from its default.
"""

from __future__ import annotations

from typing import Iterable

from models.registry import Registry

TRAINERS = Registry("training loop")  # name -> loop function
USED_OPTIONS: dict[str, frozenset[str]] = {}

# read by the runner for every loop (device and dtype of the model, threads, the inference timing,
# and solved_window for the final_val_loss column)
RUNNER_OPTIONS = frozenset({"device", "dtype", "threads", "inference_batches", "solved_window", "generalization"})

# read by both loops: the shared step (bench/training/step.py), checkpoints and the divergence rule
COMMON_OPTIONS = frozenset({
    "iterations", "batch_size", "optimizer", "lr", "alpha", "momentum", "clip_value", "clip_norm",
    "val_batch_size", "inverse_temperature", "output_dir", "checkpoint_every",
    "divergence_factor", "divergence_patience",
})


def register_trainer(name: str, uses: Iterable[str]):
    """Register a loop under ``name``; ``uses``: the TrainConfig fields it reads (RUNNER_OPTIONS added)."""

    def decorate(fn):
        USED_OPTIONS[name] = frozenset(uses) | RUNNER_OPTIONS
        return TRAINERS.register(name)(fn)

    return decorate
