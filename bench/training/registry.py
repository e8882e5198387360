"""Training loops by name, with the training options each one reads.

A task picks its loop with its ``trainer`` attribute (default "episodic": fresh state every
iteration, as the algorithmic tasks; "stream": epochs over a data split). Every loop has the
signature of ``bench.training.episodic.train`` and returns a ``TrainOutcome``.

``USED_OPTIONS[name]`` is the set of ``TrainConfig`` fields that loop reads, together with
``RUNNER_OPTIONS`` (read by the runner around every loop). Any other field does nothing for that loop,
so the configuration layer can reject it when it is set away from its default. Those declarations live
in bench/loop_options.py, which imports nothing, so the configuration reads them without importing the
training code.
"""

from __future__ import annotations

from typing import Iterable

from bench.loop_options import COMMON_OPTIONS, RUNNER_OPTIONS, USED_OPTIONS  # noqa: F401  declared below the config
from models.registry import Registry

TRAINERS = Registry("training loop")  # name -> loop function


def register_trainer(name: str, uses: Iterable[str]):
    """Register a loop under ``name``; ``uses``: the TrainConfig fields it reads (RUNNER_OPTIONS added;
    the built-in loops' declarations are in bench/loop_options.py, which the configuration reads)."""

    def decorate(fn):
        USED_OPTIONS[name] = frozenset(uses) | RUNNER_OPTIONS
        return TRAINERS.register(name)(fn)

    return decorate
