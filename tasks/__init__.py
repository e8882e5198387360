"""Tasks. Every task module in this package is imported here so its ``@register_task`` runs: adding a
task is adding one file. ``tasks.data`` (dataset files) is a helper, not a task module."""

from models.registry import import_submodules
from tasks.base import TASK_REGISTRY, Batch, Task, TaskConfig, build_task

import_submodules(__name__, __path__, skip=("base", "data"))

__all__ = ["TASK_REGISTRY", "Batch", "Task", "TaskConfig", "build_task"]
