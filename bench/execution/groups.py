"""Seed groups (``--vectorize-seeds``): which runs train together, and where each group runs.

The runs of one (model, task, options) that differ only in their seed form a group when the model
declares vectorized seeds and the task trains with the episodic loop; each group is one unit of work
(``bench.execution.run.execute_group``, which trains it with bench/training/group.py), every other run
a unit of its own. This module only chooses where units run: an executor that runs units (worker
processes, Ray) is given them all; otherwise the groups train in this process, one at a time, and the
other runs go to the executor the command would use anyway.
"""

from __future__ import annotations

import json
from collections import defaultdict

from bench.config import RunSpec
from bench.execution.executor import Event, EmitEvent, Executor
from bench.execution.run import RunJob, execute_group
from models import MODEL_REGISTRY
from models.seeded import supports_vectorized_seeds
from tasks import TASK_REGISTRY

EPISODIC = "episodic"  # the training loop a group trains with (fresh state every iteration)


def group_key(spec: RunSpec) -> str:
    """Everything that defines a run but its seed."""
    return json.dumps([spec.model, spec.model_class, spec.model_options, spec.task, spec.task_class,
                       spec.task_options, spec.train.to_dict()], sort_keys=True, default=str)


def vectorizable(spec: RunSpec) -> bool:
    """The model declares support and the task trains with the episodic loop."""
    model_ok = supports_vectorized_seeds(MODEL_REGISTRY[spec.model_class])
    return model_ok and getattr(TASK_REGISTRY[spec.task_class], "trainer", EPISODIC) == EPISODIC


def seed_groups(specs: list[RunSpec]) -> tuple[list[list[int]], list[int]]:
    """Positions of ``specs`` that train together (groups of one ``group_key``, more than one seed,
    vectorizable), in the order of first appearance, and the positions of the others."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, spec in enumerate(specs):
        groups[group_key(spec)].append(index)
    together, alone = [], []
    for group in groups.values():
        if len(group) > 1 and vectorizable(specs[group[0]]):
            together.append(group)
        else:
            alone.extend(group)
    return together, sorted(alone)


class SeedGroupExecutor(Executor):
    """``--vectorize-seeds``: each seed group is one unit of work (see the module docstring); the
    sweep stays the only writer of rows and curves."""

    name = "vectorized"

    def __init__(self, inner: Executor):
        self.inner = inner

    def run(self, jobs: list[RunJob], emit: EmitEvent) -> None:
        together, alone = seed_groups([job.spec for job in jobs])
        if hasattr(self.inner, "run_units"):
            self.inner.run_units(jobs, together + [[index] for index in alone], emit)
            return
        if alone:
            self.inner.run([jobs[i] for i in alone], lambda e: emit(Event(alone[e.index], e.kind, e.data)))
        for group in together:
            for index in group:
                emit(Event(index, "start"))
            rows = execute_group([jobs[i] for i in group],
                                 lambda s, kind, *data, g=group: emit(Event(g[s], kind, data)))
            for index, row in zip(group, rows):
                emit(Event(index, "done", (row,)))
