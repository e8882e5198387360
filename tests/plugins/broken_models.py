"""Deliberately broken adapters for tests/test_check_model.py: each breaks one rule of the contract.
Loaded as a plugin file (``--plugin tests/plugins/broken_models.py``)."""

from dataclasses import dataclass

import torch
from torch import nn

from models.base import ModelConfig, RecurrentModel, register_model


@dataclass
class TinyConfig(ModelConfig):
    hidden_size: int = 8


class TinyGRU(RecurrentModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.gru = nn.GRUCell(config.input_size, config.hidden_size)
        self.readout = nn.Linear(config.hidden_size, config.output_size)

    def initial_state(self, batch_size, device=None, dtype=None):
        return {"h": torch.zeros(batch_size, self.config.hidden_size, **self._like(device, dtype))}

    def cell(self, x_t, state):
        h = self.gru(x_t, state["h"])
        return h, {"h": h}


@register_model("broken-state-on-module")
class StateOnModule(TinyGRU):
    """Keeps its hidden vector on the module and ignores the state passed in."""

    def initial_state(self, batch_size, device=None, dtype=None):
        self.h = None
        return super().initial_state(batch_size, device, dtype)

    def cell(self, x_t, state):
        h_prev = state["h"] if self.h is None or self.h.shape != state["h"].shape else self.h
        self.h = self.gru(x_t, h_prev)
        return self.h, {"h": self.h}


@register_model("broken-step-not-forward")
class StepNotForward(TinyGRU):
    """Its whole-sequence forward skips the last input: not what stepping gives."""

    def forward(self, x, state=None):
        if state is None:
            state = self.initial_state(x.shape[1], dtype=x.dtype)
        return self.unroll(torch.cat([x[:1] * 0, x[:-1]]), state)


@register_model("broken-unused-parameter")
class UnusedParameter(TinyGRU):
    """Holds a layer it never uses: that parameter never learns."""

    def __init__(self, config):
        super().__init__(config)
        self.forgotten = nn.Linear(config.hidden_size, config.hidden_size)


@register_model("broken-no-detach")
class NoDetach(TinyGRU):
    """Carries a running sum of its hidden vectors outside the state: detach_state cannot cut it."""

    def initial_state(self, batch_size, device=None, dtype=None):
        state = super().initial_state(batch_size, device, dtype)
        self.carry = torch.zeros_like(state["h"]) if not hasattr(self, "carry") or self.carry.shape != state["h"].shape else self.carry
        return state

    def cell(self, x_t, state):
        h = self.gru(x_t, state["h"] + 0.1 * self.carry)
        self.carry = self.carry + h
        return h, {"h": h}
