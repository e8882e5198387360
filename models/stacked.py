"""Stacking for any model: ``num_layers`` copies of a registered model class, layer l reading layer
l - 1's output features (the paper's o_t; for ARMIN [o^h * tanh(h_t), o^r * tanh(r_t)]), one output
layer over the last layer's features. Dropout (training only) between layers and before the output
layer. The ARMIN paper's enwik8 model is a 2-layer ARMIN (Table 3).

    build_model("stacked", layer="armin", num_layers=2, hidden_size=800, memory_slots=20,
                layer_options={"layer_norm": True}, input_size=256, output_size=256)

Every layer gets ``hidden_size`` and, when set (> 0), ``memory_slots`` / ``memory_width``, plus
``layer_options``. The state holds each layer's state under "LAYER.KEY" (e.g. "0.M", "1.h"), so
truncated BPTT carries and detaches every layer's memory like any other model's.

Biases at initialisation: each layer's as its class's docstring says; the output layer's nn.Linear's
default, U(-1/sqrt(F), 1/sqrt(F)), F the last layer's feature width.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from models.base import MODEL_REGISTRY, ModelConfig, RecurrentModel, State, build_model, register_model

SEPARATOR = "."  # between the layer number and the layer's own state key


@dataclass
class StackedConfig(ModelConfig):
    layer: str = "armin"  # registered class of every layer
    num_layers: int = 2
    layer_options: dict[str, Any] = field(default_factory=dict)  # the layer class's own options
    dropout: float = 0.0  # between layers and before the output layer, training only

    def layer_kwargs(self, input_size: int) -> dict[str, Any]:
        sizes = {"memory_slots": self.memory_slots, "memory_width": self.memory_width}
        return {
            "input_size": input_size,
            "output_size": 1,  # unused: a layer's own output layer is dropped
            "hidden_size": self.hidden_size,
            **{k: v for k, v in sizes.items() if v > 0},
            **self.layer_options,
        }

    def validate(self) -> None:
        super().validate()
        if self.layer == "stacked" or self.layer not in MODEL_REGISTRY:
            known = ", ".join(sorted(n for n in MODEL_REGISTRY if n != "stacked"))
            raise ValueError(f"layer must be a model class ({known}), got {self.layer!r}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        options = self.layer_kwargs(self.input_size)
        MODEL_REGISTRY[self.layer].config_class(**options).validate()


def _key(layer: int, key: str) -> str:
    return f"{layer}{SEPARATOR}{key}"


@register_model("stacked")
class Stacked(RecurrentModel):
    config_class = StackedConfig

    def __init__(self, config: StackedConfig):
        super().__init__(config)
        layers, width = [], config.input_size
        for _ in range(config.num_layers):
            layer = build_model(config.layer, **config.layer_kwargs(width))
            width = layer.readout.in_features  # the width of the layer's o_t
            layer.readout = nn.Identity()  # only ``cell`` is used; its output layer would be dead weight
            layers.append(layer)
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(config.dropout)
        self.readout = nn.Linear(width, config.output_size)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        return {
            _key(i, k): v
            for i, layer in enumerate(self.layers)
            for k, v in layer.initial_state(batch_size, device=device, dtype=dtype).items()
        }

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        features, new_state = x_t, {}
        for i, layer in enumerate(self.layers):
            prefix = _key(i, "")
            own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            features, own = layer.cell(features, own)
            new_state.update({_key(i, k): v for k, v in own.items()})
            features = self.dropout(features)
        return features, new_state

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if state is not None:  # layers that write their memory in place (inference) get a copy: the caller's stays intact
            copies = {
                _key(i, layer.inplace_memory): state[_key(i, layer.inplace_memory)].clone()
                for i, layer in enumerate(self.layers)
                if getattr(layer, "inplace_memory", None) and layer.writes_in_place()
            }
            state = {**state, **copies}
        return super().forward(x, state)

    def set_inverse_temperature(self, value: float) -> None:
        super().set_inverse_temperature(value)
        for layer in self.layers:
            layer.set_inverse_temperature(value)

    def inference_path(self) -> str:
        return f"{self.config.num_layers}x " + self.layers[0].inference_path()

    def variant(self) -> str:
        return self.layers[0].variant()
