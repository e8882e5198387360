"""Model adapters. Every module in this package is imported here so its ``@register_model`` runs:
adding a model is adding one file."""

import importlib
import pkgutil

from models.base import MODEL_REGISTRY, ModelConfig, RecurrentModel, State, build_model, detach_state

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name not in ("base", "memory", "layers"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["MODEL_REGISTRY", "ModelConfig", "RecurrentModel", "State", "build_model", "detach_state"]
