"""Fast weights: an RNN with a fast associative memory of its recent hidden states.

Ba, Hinton, Mnih, Leibo & Ionescu, "Using Fast Weights to Attend to the Recent Past", NIPS 2016,
arXiv:1610.06258, section 3. Equation numbers below are the paper's; our step t (state h_{t-1}, A_{t-1}
in, h_t, A_t out) is their step from h(t) to h(t+1).

Each time step settles the hidden state against the fast weights, then writes it into them:
  boundary  z_t = W h_{t-1} + C x_t + b                      the sustained boundary condition
  inner     h_0 = f(z_t)                                     the preliminary vector
  loop      h_{s+1} = f(LN[z_t + A_{t-1} h_s]),  s < S       (2), layer-normalised (section 3.2)
            h_t = h_S
  write     A_t = lambda A_{t-1} + eta h_t h_t^T             (1)
  output    o_t = h_t
With A_0 = 0, A_{t-1} h = eta sum_{tau < t} lambda^{t-1-tau} h_tau (h_tau . h)   (3): each inner step
attends to the past hidden vectors in proportion to their scalar product with the current one.

The paper's defaults: lambda 0.95, eta 0.5, S 1, ReLU units (f), layer normalisation in the inner
loop (section 3.2). Where the paper does not say, our choices: W starts as 0.05 x identity (an
IRNN-style start for ReLU units; 0.05 is the slow-weight scale public re-implementations use), C as
torch's default linear layer, b = 0.

Memory and cost: A is d_h x d_h per sequence, so the state grows as d_h^2 and every step costs
O(d_h^2) per inner-loop step and per write (as W h_{t-1} does). Training keeps each step's A for
backward: O(T d_h^2) per sequence for a T-step segment, the term that limits d_h.

Inference mode (``model.eval()`` without autograd): A is scaled and added to in place (a baddbmm per
step), no new d_h x d_h matrix per step; the equations are the same.

Biases at initialisation: b (C's bias) and the layer norm's zero; the output layer's nn.Linear's
default, U(-1/sqrt(d_h), 1/sqrt(d_h)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.base import ModelConfig, RecurrentModel, State, register_model
from models.layers import Linear
from models.memory import associative_read, associative_write, settle

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}  # f


@dataclass
class FastWeightsConfig(ModelConfig):
    hidden_size: int = 100  # d_h (the paper's associative retrieval: 20-100 units)
    decay: float = 0.95  # lambda, eq. 1
    fast_learning_rate: float = 0.5  # eta, eq. 1
    inner_steps: int = 1  # S, eq. 2
    layer_norm: bool = True  # LN in the inner loop (section 3.2); False gives eq. 2 as printed
    activation: str = "relu"  # f: "relu" (the paper) or "tanh"
    recurrent_init: float = 0.05  # W starts as this x identity (our choice: the paper does not say)

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.decay <= 1.0:
            raise ValueError(f"decay (lambda) must be in [0, 1], got {self.decay}")
        if not 0.0 <= self.fast_learning_rate <= 1.0:
            raise ValueError(f"fast_learning_rate (eta) must be in [0, 1], got {self.fast_learning_rate}")
        if self.inner_steps < 1:
            raise ValueError(f"inner_steps (S) must be >= 1, got {self.inner_steps}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {self.activation!r}")


@register_model("fastweights")
class FastWeights(RecurrentModel):
    config_class = FastWeightsConfig
    inplace_memory = "A"

    def __init__(self, config: FastWeightsConfig):
        super().__init__(config)
        d_i, d_h = config.input_size, config.hidden_size
        self.d_h = d_h
        # slow weights of the boundary condition: W in R^{d_h x d_h}, C in R^{d_h x d_i}, b in R^{d_h}
        self.W = Linear(d_h, d_h, bias=False)
        self.C = Linear(d_i, d_h)
        with torch.no_grad():
            self.W.weight.copy_(config.recurrent_init * torch.eye(d_h))
            self.C.bias.zero_()
        self.norm = nn.LayerNorm(d_h) if config.layer_norm else nn.Identity()  # section 3.2
        self.f = ACTIVATIONS[config.activation]
        # output layer over o_t = h_t
        self.readout = nn.Linear(d_h, config.output_size)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        like = self._like(device, dtype)
        h = torch.zeros(batch_size, self.d_h, **like)
        return {"h": h, "A": self.empty_memory(batch_size, like)}

    def empty_memory(self, batch_size: int, like) -> torch.Tensor:
        """A_0 = 0: (B, d_h, d_h)."""
        return torch.zeros(batch_size, self.d_h, self.d_h, **like)

    def read(self, A: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """A h: (B, d_h, d_h), (B, d_h) -> (B, d_h)  (the attention of eq. 3)."""
        return associative_read(A, h)

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        h_prev, A = state["h"], state["A"]  # (B, d_h), (B, d_h, d_h)
        boundary = self.W(h_prev) + self.C(x_t)  # (B, d_h)  W h(t) + C x(t)
        h_t = settle(boundary, lambda h: self.read(A, h), self.config.inner_steps, self.norm, self.f)  # eq. 2
        A = self.write(A, x_t, h_t)
        return h_t, {"h": h_t, "A": A}

    def write(self, A: torch.Tensor, x_t: torch.Tensor, h_t: torch.Tensor) -> torch.Tensor:
        """Eq. 1: A_t = lambda A_{t-1} + eta h_t h_t^T."""
        cfg = self.config
        return associative_write(A, h_t, h_t, cfg.decay, cfg.fast_learning_rate, in_place=self.writes_in_place())
