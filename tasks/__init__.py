"""Tasks. Every module in this package is imported here so its ``@register_task`` runs: adding a
task is adding one file."""

import importlib
import pkgutil

from tasks.base import TASK_REGISTRY, Batch, Task, TaskConfig, build_task

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["TASK_REGISTRY", "Batch", "Task", "TaskConfig", "build_task"]
