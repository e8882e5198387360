"""The task interface and registry.

A task generates batches from its own seeded RNG and defines the loss over them:

    task = build_task("copy", bits=8, min_length=1, max_length=50)
    batch = task.sample(batch_size=1, generator=torch.Generator().manual_seed(0))
    logits, _ = model(batch.inputs)              # (T, B, I) -> (T, B, O)
    loss = task.loss(logits, batch)              # mean over the answer phase

Adding a task: one file in tasks/ whose class is decorated with ``@register_task("name")`` and whose
config is a dataclass subclass of ``TaskConfig``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F

from models.registry import Registry


class Batch(NamedTuple):
    inputs: torch.Tensor  # (T, B, I) float: the whole sequence, answer phase included (zeros there)
    targets: torch.Tensor  # (T, B, O) float bits for BCE tasks; (T, B) long class ids for CE tasks
    mask: torch.Tensor  # (T, B) float: 1 where the loss counts (the answer phase), else 0

    def to(self, device=None, dtype=None) -> "Batch":
        float_targets = self.targets.is_floating_point()
        return Batch(
            self.inputs.to(device=device, dtype=dtype),
            self.targets.to(device=device, dtype=dtype if float_targets else None),
            self.mask.to(device=device, dtype=dtype),
        )

    @property
    def steps(self) -> int:
        """Time steps x batch: the unit of the throughput figures (the paper's chars/s)."""
        return self.inputs.shape[0] * self.inputs.shape[1]


@dataclass
class TaskConfig:
    def validate(self) -> None:
        """Raise ValueError with a readable message on impossible settings."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Task:
    """Base class. Subclasses set ``input_size`` / ``output_size`` and implement ``sample``."""

    config_class: ClassVar[type[TaskConfig]] = TaskConfig
    registry_name: ClassVar[str] = ""
    loss_kind: ClassVar[str] = "bce"  # "bce": sigmoid outputs, bits; "ce": softmax over classes
    trainer: ClassVar[str] = "episodic"  # training loop in bench.training.TRAINERS

    def __init__(self, config: TaskConfig):
        config.validate()
        self.config = config

    @property
    def input_size(self) -> int:
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def max_batch(self, batch_size: int) -> Batch:
        """A batch of the longest sequences the task makes (used for the repeatable memory figure).
        Default: a sampled batch."""
        return self.sample(batch_size, torch.Generator().manual_seed(0))

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Mean loss per answer element: BCE per bit for ``bce`` tasks (the paper's loss, about
        ln 2 = 0.69 at the start), cross-entropy per predicted step for ``ce`` tasks."""
        if self.loss_kind == "bce":
            per_bit = F.binary_cross_entropy_with_logits(logits, batch.targets, reduction="none")
            weights = batch.mask.unsqueeze(-1).expand_as(per_bit)
            return (per_bit * weights).sum() / weights.sum()
        per_step = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), reduction="none")
        mask = batch.mask.flatten()
        return (per_step * mask).sum() / mask.sum()


TASK_REGISTRY = Registry("task")
register_task = TASK_REGISTRY.register  # class decorator: @register_task("copy")
build_task = TASK_REGISTRY.build  # build_task("copy", bits=8, ...)
