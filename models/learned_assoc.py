"""Learned-update associative memory RNN, after Zhang & Zhou 2017.

Zhang & Zhou, "Learning to update Auto-associative Memory in Recurrent Neural Networks for Improving
Sequence Memorization", arXiv:1709.06493 (2017). Their equations were not available to this project
(only the abstract is public in the material searched): this model is OUR READING of the abstract
and of issue 13, not their equations, and every result row says so (variant
``reading:issue13-learned-gates``). The faithful fixed-rule model is ``fastweights`` (Ba et al. 2016,
models/fastweights.py); this one keeps its slow-weight transition and inner loop and learns the update
rule instead of fixing it, with M associative memories read together:

  boundary  z_t = W h_{t-1} + C x_t + b                                  as fast weights
  loop      h_{s+1} = f(LN[z_t + sum_m A^m_{t-1} h_s]),  h_0 = f(z_t)    Ba et al. eq. 2, M memories
  gates     [l_t; e_t; k_t; v_t] = W_u [x_t, h_t] + b_u                   the learned update rule, per step
            lambda^m_t = sigmoid(l^m_t),  eta^m_t = sigmoid(e^m_t)        decay and write strength
  write     A^m_t = lambda^m_t A^m_{t-1} + eta^m_t v^m_t (k^m_t)^T,  m = 1..M
  output    o_t = h_t

With M = 1, gate weights 0 and biases logit(lambda), logit(eta), and k_t = v_t = h_t, this is the fast
weights rule of Ba et al. eq. 1 (tests/test_fastweights.py checks it). The gate biases start there:
lambda^m_0 = ``decay``, eta^m_0 = ``fast_learning_rate``.

Memory and cost: M matrices d_h x d_h per sequence (M d_h^2), O(M d_h^2) per inner step and per write,
and the update projection W_u has 2 M d_h (d_i + d_h) weights, so at a fixed parameter budget d_h is
about 1 / sqrt(2M + 1) of the fast-weights model's.

Biases at initialisation: as fast weights' (b and the layer norm's zero, the output layer's
nn.Linear's default), and b_u: logit(decay) and logit(fast_learning_rate) on the gate blocks, nn.Linear's
default U(-1/sqrt(d_i + d_h), 1/sqrt(d_i + d_h)) on the key and value blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from models.base import register_model
from models.fastweights import FastWeights, FastWeightsConfig
from models.layers import GateProjection
from models.memory import associative_read, associative_write

READING = "reading:issue13-learned-gates"  # the `variant` of every row: not the paper's equations


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass
class LearnedAssocConfig(FastWeightsConfig):
    memories: int = 2  # M associative memories, each d_h x d_h
    decay: float = 0.95  # initial lambda^m_t (bias of the decay gate); must be in (0, 1)
    fast_learning_rate: float = 0.5  # initial eta^m_t (bias of the write-strength gate); in (0, 1)

    def validate(self) -> None:
        super().validate()
        if self.memories < 1:
            raise ValueError(f"memories must be >= 1, got {self.memories}")
        for name in ("decay", "fast_learning_rate"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} (the gate's initial value) must be in (0, 1), got {getattr(self, name)}")


@register_model("learned-assoc")
class LearnedAssoc(FastWeights):
    config_class = LearnedAssocConfig

    def __init__(self, config: LearnedAssocConfig):
        super().__init__(config)
        d_i, d_h, M = config.input_size, config.hidden_size, config.memories
        self.M = M
        # W_u in R^{(2M + 2M d_h) x (d_i + d_h)}: decay and strength logits, keys, values of the M memories
        self.W_u = GateProjection(d_i + d_h, [M, M, M * d_h, M * d_h])
        with torch.no_grad():
            decay_bias, strength_bias = self.W_u.linear.bias[:M], self.W_u.linear.bias[M : 2 * M]
            decay_bias.fill_(logit(config.decay))
            strength_bias.fill_(logit(config.fast_learning_rate))

    def empty_memory(self, batch_size: int, like) -> torch.Tensor:
        """A^m_0 = 0: (B, M, d_h, d_h)."""
        return torch.zeros(batch_size, self.M, self.d_h, self.d_h, **like)

    def read(self, A: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """sum_m A^m h: (B, M, d_h, d_h), (B, d_h) -> (B, d_h)."""
        return associative_read(A, h).sum(dim=1)

    def update_rule(self, x_t: torch.Tensor, h_t: torch.Tensor):
        """The learned gates: lambda_t, eta_t (B, M) and k_t, v_t (B, M, d_h) from [x_t, h_t]."""
        B = h_t.shape[0]
        l_t, e_t, k_t, v_t = self.W_u(torch.cat([x_t, h_t], dim=-1))
        return torch.sigmoid(l_t), torch.sigmoid(e_t), k_t.view(B, self.M, self.d_h), v_t.view(B, self.M, self.d_h)

    def write(self, A: torch.Tensor, x_t: torch.Tensor, h_t: torch.Tensor) -> torch.Tensor:
        """A^m_t = lambda^m_t A^m_{t-1} + eta^m_t v^m_t (k^m_t)^T for every m."""
        decay, strength, k_t, v_t = self.update_rule(x_t, h_t)
        return associative_write(A, k_t, v_t, decay, strength, in_place=self.writes_in_place())

    def variant(self) -> str:
        return READING
