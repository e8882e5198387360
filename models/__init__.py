"""Model adapters. Every module in this package is imported here so its ``@register_model`` runs:
adding a model is adding one file."""

from models.base import MODEL_REGISTRY, ModelConfig, RecurrentModel, State, build_model, detach_state
from models.registry import import_submodules

import_submodules(__name__, __path__, skip=("base", "memory", "layers", "registry"))

__all__ = ["MODEL_REGISTRY", "ModelConfig", "RecurrentModel", "State", "build_model", "detach_state"]
