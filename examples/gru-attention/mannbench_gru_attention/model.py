"""A GRU with attention over its past hidden states, as a mannbench model.

Each time step (memory M of N slots, each a past hidden vector; d_h the hidden size):
  read     q_t = W_q h_{t-1}
           a_t = softmax_i(q_t . M(i) / sqrt(d_h)) over the slots written so far   (uniform before any)
           r_t = sum_i a_t(i) M(i)
  cell     h_t = GRU([x_t, r_t], h_{t-1})
  write    M(t mod N) <- h_t                       (a ring buffer: the oldest state is overwritten)
  output   y_t = W_y [h_t, r_t]

The harness's contract: the state (h, M and the count of steps written) is returned and passed back
in, never kept on the module; ``cell`` is one time step and the base class builds ``step`` and
``forward`` from it. ``memory_trace`` (set by ``bench inspect``) receives the read and write weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.base import ModelConfig, RecurrentModel, State, register_model


@dataclass
class GRUAttentionConfig(ModelConfig):
    hidden_size: int = 64  # d_h
    memory_slots: int = 16  # N: how many past hidden states are kept

    def validate(self) -> None:
        super().validate()
        if self.memory_slots < 1:
            raise ValueError(f"memory_slots must be >= 1, got {self.memory_slots}")


@register_model("gru-attention")
class GRUAttention(RecurrentModel):
    config_class = GRUAttentionConfig

    def __init__(self, config: GRUAttentionConfig):
        super().__init__(config)
        d_h = config.hidden_size
        self.W_q = nn.Linear(d_h, d_h, bias=False)
        self.gru = nn.GRUCell(config.input_size + d_h, d_h)
        self.readout = nn.Linear(2 * d_h, config.output_size)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        like = self._like(device, dtype)
        d_h, n = self.config.hidden_size, self.config.memory_slots
        return {
            "h": torch.zeros(batch_size, d_h, **like),
            "M": torch.zeros(batch_size, n, d_h, **like),
            "written": torch.zeros((), dtype=torch.long, device=like["device"]),  # steps written so far
        }

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        h_prev, M, written = state["h"], state["M"], state["written"]
        n = M.shape[1]
        scores = torch.einsum("bd,bnd->bn", self.W_q(h_prev), M) / math.sqrt(M.shape[2])
        empty = torch.arange(n, device=M.device) >= written  # slots not written yet
        scores = scores.masked_fill(empty & (written > 0), float("-inf"))
        a_t = F.softmax(scores, dim=-1)  # (B, N)
        r_t = torch.einsum("bn,bnd->bd", a_t, M)
        h_t = self.gru(torch.cat([x_t, r_t], dim=-1), h_prev)
        slot = F.one_hot(written % n, n).to(M.dtype)  # (N,): the ring buffer's next slot
        M = M * (1 - slot)[None, :, None] + slot[None, :, None] * h_t[:, None, :]
        if self.memory_trace is not None:  # bench inspect: what was read and written, per head
            self.memory_trace.append({"read": a_t.unsqueeze(1), "write": slot.expand_as(a_t).unsqueeze(1)})
        return torch.cat([h_t, r_t], dim=-1), {"h": h_t, "M": M, "written": written + 1}

    def eval_matches_train(self) -> bool:
        return True  # no sampling and no dropout: the two modes compute the same thing
