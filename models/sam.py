"""SAM: Sparse Access Memory.

Rae, Hunt, Harley, Danihelka, Senior, Wayne, Graves & Lillicrap, "Scaling Memory-Augmented Neural
Networks with Sparse Reads and Writes", arXiv:1610.09027 (2016), section 3 (its sparse read, sparse
write and usage; comments name these parts, not equation numbers). The controller and interface
plumbing are the DNC's (models/dnc.py, ``MemoryController``); the memory reads and writes only a few
rows per step:

  read    S^h_t = the K slots most similar to the query q^h_t (exact top-K here; the paper puts an
          approximate nearest-neighbour index there: models/memory.py ``nearest_slots``)
          w^{R,h}_t(i) = softmax_{i in S^h_t}(beta^h_t K[q^h_t, M_t(i)]), 0 outside S^h_t
          r^h_t = sum_{i in S^h_t} w^{R,h}_t(i) M_t(i)
  write   I^U_t = one-hot of the least recently accessed slot, argmin_i T_{t-1}(i)
          w^W_t = alpha_t (gamma_t w^R_{t-1} + (1 - gamma_t) I^U_t)
          M_t = (1 - I^U_t 1^T) o M_{t-1} + w^W_t a_t^T    erase the LRU slot, add a_t
  usage   T_t(i) = t if w^W_t(i) + w^R_t(i) > delta, else T_{t-1}(i)    time of the last access
  output  y_t = W_y h_t + W_r [r^1_t; ..; r^R_t]

Each step gathers R K rows for the read and scatter-adds into the R K + 1 rows it writes (the slots
read at t-1 and the LRU slot), so the gradient of a step reaches at most those rows of M_{t-1}. The
write happens before the read, as in the DNC. With R heads, w^R_{t-1} is the mean of the heads'
weights (so w^W sums to at most alpha_t).

The ARMIN authors ran SAM from github.com/ixaxaar/pytorch-dnc (vendored in their repository), one
read head, K = 4, 128 x 20 memory. Their Table 1 count, 109k at hidden 120 on the copy task, is
109,538 = 79,434 used (LSTM 72,480 with one bias vector, learned initial h, c, r 260, interface
5,566, output 1,128) + 30,104 in a dense DNC memory module their SAM class builds and then replaces,
which stays registered unused. This model has 79,291 (nn.LSTMCell's second bias +480; the paper's
scalar gamma and a read strength instead of the code's R K + 1 interpolation gates: -363). That
code also reads by a softmax over the K nearest slots plus the LRU slot, without a read strength;
not offered here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.base import State, register_model
from models.dnc import ControllerConfig, MemoryController
from models.memory import (
    add_rows,
    add_rows_,
    content_weights,
    gather_rows,
    nearest_slots,
    oneplus,
    read_rows,
    read_weighted,
)

ACCESS_THRESHOLD = 0.005  # delta: an access counts when w^W_t(i) + w^R_t(i) exceeds it (SAM usage)


@dataclass
class SAMConfig(ControllerConfig):
    # d_h, N x W and R as the DNC's (Table 1: 120, 128 x 20, 1 read head)
    sparse_reads: int = 4  # K: slots each head reads (pytorch-dnc's default 4)

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.sparse_reads <= self.memory_slots:
            raise ValueError(
                f"sparse_reads (K) must be in [1, memory_slots={self.memory_slots}], got {self.sparse_reads}"
            )


def sparse_read(
    M: torch.Tensor, q: torch.Tensor, beta: torch.Tensor, K: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Read of the K nearest slots per head (SAM sparse read): M (B, N, W), queries q (B, R, W), strengths
    beta (B, R, 1) -> read vectors (B, R, W), slot indices (B, R, K) and their weights (B, R, K)."""
    B, R, W = q.shape
    index = nearest_slots(M, q, K)  # (B, R, K), no gradient through the choice
    rows = gather_rows(M, index.view(B, R * K)).view(B * R, K, W)  # the only rows read
    w = content_weights(rows, q.reshape(B * R, W), beta.reshape(B * R, 1))  # (B R, K) softmax over the K
    r = read_weighted(rows, w)  # (B R, W)
    return r.view(B, R, W), index, w.view(B, R, K)


def sparse_write(
    M: torch.Tensor,
    read_index: torch.Tensor,
    w_r: torch.Tensor,
    lru: torch.Tensor,
    a: torch.Tensor,
    alpha: torch.Tensor,
    gamma: torch.Tensor,
    in_place: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Write to the slots read at t-1 and the least recently accessed one (SAM sparse write):
    w^W_t = alpha (gamma w^R_{t-1} + (1 - gamma) I^U_t), then M_t = (1 - I^U_t 1^T) o M_{t-1} + w^W_t a^T.

    M (B, N, W), read_index and w_r (B, R, K) from step t-1, lru (B,), add vector a (B, W), gates
    alpha and gamma (B, 1) -> M_t (B, N, W), the written slots (B, R K + 1) and their weights
    w^W_t (B, R K + 1). Only those rows change; ``in_place`` updates M itself (inference)."""
    B, R, K = w_r.shape
    index = torch.cat([read_index.reshape(B, R * K), lru.unsqueeze(1)], dim=1)  # (B, R K + 1)
    w_w = alpha * torch.cat([gamma * w_r.view(B, R * K) / R, 1.0 - gamma], dim=1)  # (B, R K + 1)
    delta = w_w.unsqueeze(2) * a.unsqueeze(1)  # w^W_t a_t^T on the written rows (B, R K + 1, W)
    erase = read_rows(M, lru).unsqueeze(1)  # (1 - I^U_t 1^T) o M_{t-1}: take the LRU row away
    delta = torch.cat([delta[:, : R * K], delta[:, R * K :] - erase], dim=1)
    M = add_rows_(M, index, delta) if in_place else add_rows(M, index, delta)
    return M, index, w_w


def access_times(T_prev: torch.Tensor, t: torch.Tensor, index: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """T_t(i) = t where w^W_t(i) + w^R_t(i) > delta, else T_{t-1}(i)  (SAM usage): T_prev (B, N) long,
    t () long, the slots touched this step (B, C) and their weights (B, C) -> (B, N)."""
    access = torch.zeros(T_prev.shape, dtype=weights.dtype, device=weights.device)
    access = access.scatter_add(1, index, weights.detach())  # repeated slots add up
    return torch.where(access > ACCESS_THRESHOLD, t, T_prev)


@register_model("sam")
class SAM(MemoryController):
    inplace_memory = "M"
    config_class = SAMConfig

    def __init__(self, config: SAMConfig):
        R, W = config.read_heads, config.W
        # interface: [q (R W); beta (R); a (W); alpha (1); gamma (1)]
        super().__init__(config, [R * W, R, W, 1, 1])
        self.K = config.sparse_reads

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        like = self._like(device, dtype)
        B, R, K, N, W = batch_size, self.R, self.K, self.N, self.W
        long = {"dtype": torch.long, "device": like["device"]}
        return {
            **self.controller_state(B, like),
            "M": torch.zeros(B, N, W, **like),  # memory (empty)
            "read_index": torch.arange(K, **long).expand(B, R, K),  # slots read at t-1
            "w_r": torch.zeros(B, R, K, **like),  # their weights (none read yet)
            "access_time": torch.zeros(B, N, **long),  # T(i): step of the last access, 0 = never
            "t": torch.zeros((), **long),  # time step counter
        }

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        B, R, W = x_t.shape[0], self.R, self.W
        h, c, (q, beta, a, alpha, gamma) = self.control(x_t, state)
        q = q.view(B, R, W)  # read queries
        beta = oneplus(beta).unsqueeze(2)  # read strengths (B, R, 1)
        alpha, gamma = torch.sigmoid(alpha), torch.sigmoid(gamma)  # write and interpolation gates (B, 1)
        t = state["t"] + 1

        # write: the slots read at t-1 and the least recently accessed slot
        lru = state["access_time"].argmin(dim=1)  # (B,) I^U_t
        in_place = self.writes_in_place()
        M, write_index, w_w = sparse_write(
            state["M"], state["read_index"], state["w_r"], lru, a, alpha, gamma, in_place
        )  # (B, N, W), (B, R K + 1), (B, R K + 1)
        # read: the K nearest slots per head
        r, read_index, w_r = sparse_read(M, q, beta, self.K)  # (B, R, W), (B, R, K), (B, R, K)
        # usage: time of the last non-negligible access
        touched = torch.cat([write_index, read_index.view(B, -1)], dim=1)
        access_time = access_times(state["access_time"], t, touched, torch.cat([w_w, w_r.view(B, -1)], dim=1))

        r = r.reshape(B, R * W)
        new_state = {
            "h": h,
            "c": c,
            "r": r,
            "M": M,
            "read_index": read_index,
            "w_r": w_r,
            "access_time": access_time,
            "t": t,
        }
        return torch.cat([h, r], dim=-1), new_state

    def path_name(self) -> str:
        return "train:sparse-topk" if self.training else "eval:sparse-topk"
