"""LSTM baseline (Hochreiter & Schmidhuber 1997), the ARMIN paper's reference recurrent network.

torch.nn.LSTM (one fused kernel over the whole sequence) behind the harness interface, plus the
output layer. Forget-gate bias starts at ``forget_bias`` as in the ARMIN authors' LSTM baseline.

Biases at initialisation: b_ih and b_hh zero except their forget blocks, forget_bias / 2 each; the
output layer's nn.Linear's default, U(-1/sqrt(d_h), 1/sqrt(d_h)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.base import ModelConfig, RecurrentModel, State, register_model

GATES = 4  # i, f, g, o in torch's packing order


@dataclass
class LSTMConfig(ModelConfig):
    hidden_size: int = 300  # d_h (Table 1 uses 300)
    num_layers: int = 1  # stacked layers
    forget_bias: float = 1.0  # initial value of the forget-gate bias (split over b_ih and b_hh)
    dropout: float = 0.0  # between stacked layers

    def validate(self) -> None:
        super().validate()
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")


@register_model("lstm")
class LSTM(RecurrentModel):
    config_class = LSTMConfig

    def __init__(self, config: LSTMConfig):
        super().__init__(config)
        d_h = config.hidden_size
        self.lstm = nn.LSTM(config.input_size, d_h, num_layers=config.num_layers, dropout=config.dropout)
        with torch.no_grad():
            for name, bias in self.lstm.named_parameters():
                if name.startswith("bias"):
                    bias.zero_()
                    bias[d_h : 2 * d_h] = config.forget_bias / 2  # b_ih + b_hh = forget_bias
        self.readout = nn.Linear(d_h, config.output_size)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        like = self._like(device, dtype)
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        return {"h": torch.zeros(shape, **like), "c": torch.zeros(shape, **like)}

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        out, (h, c) = self.lstm(x_t.unsqueeze(0), (state["h"], state["c"]))
        return out.squeeze(0), {"h": h, "c": c}

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if state is None:
            state = self.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
        out, (h, c) = self.lstm(x, (state["h"], state["c"]))  # fused over all T steps
        return self.readout(out), {"h": h, "c": c}

    def eval_matches_train(self) -> bool:
        return self.config.dropout == 0 or self.config.num_layers == 1

    def path_name(self) -> str:
        return "fused-nn.LSTM"
