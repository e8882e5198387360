"""NTM: Neural Turing Machine.

Graves, Wayne & Danihelka, "Neural Turing Machines", arXiv:1410.5401 (2014), section 3. Equation
numbers below are the paper's. The ARMIN paper (Li et al., arXiv:1906.12087, 2019) built its NTM
baseline on github.com/vlgiitr/ntm-pytorch; where the NTM paper leaves a choice open (layout,
initial state, initialisation) this file follows that code.

Each time step runs the controller, then addresses, reads and writes with every head. All heads
address the memory of the previous step, so the read sees M_{t-1} (as in the reference code):
  controller  h_t, c_t = LSTM([x_t, r_{t-1}], (h_{t-1}, c_{t-1}))
  heads       [k, beta, g, s, gamma | e, a] = W_head h_t + b_head   one fused projection, all heads
  addressing  w^c(i) = softmax_i(beta K[k, M(i)]), K the cosine     (5, 6)  beta = softplus(.)
              w^g = g w^c + (1 - g) w_{t-1}                           (7)     g = sigmoid(.)
              w~(i) = sum_j w^g(j) s(i - j), indices modulo N         (8)     s = softmax(.) over shifts -S..S
              w(i) = w~(i)^gamma / sum_j w~(j)^gamma                  (9)     gamma = oneplus(.) = 1 + softplus(.)
  read        r_t = sum_i w^r(i) M(i, :)                              (2)
  write       M~(i) = M(i) (1 - w^w(i) e),  M_t(i) = M~(i) + w^w(i) a  (3, 4)  e = sigmoid(.), k and a linear
  output      o_t = [h_t, r_t], then the output layer

Initial state, following the reference code: the memory M_0 = sigmoid(b_M) and the controller's
h_0, c_0 are learned vectors, U(-1, 1) at init (the reference gets them from a Linear(1, n) applied to
a zero input, i.e. from its bias); the previous weightings w_0 are zero, so the first step's weighting
is g w^c renormalised by eq. 9. The reference draws the initial read vectors r_0 afresh from a
kaiming-uniform distribution for every sequence; here r_0 is a learned vector drawn from that
distribution at init, so the initial state is deterministic. Head projection: xavier-uniform with gain
1.4 except the key rows (nn.Linear's default), biases N(0, 0.01); output layer kaiming-uniform.

Parameters at Table 1 sizes (controller 120, memory 128 x 20, one read and one write head, copy task
10 in / 8 out): 88,040; the paper says 88k. The reference code's count is 90,820: it also counts the
weights of its Linear(1, n) initial-state layers, which multiply a zero input and never train.

Where the reference code departs from the paper, an option selects the code's behaviour; the
defaults follow the paper. Read in the ARMIN authors' copy (github.com/zoharli/armin at commit 9bf8e45,
algorithimic_tasks/ntm/; preset ``ntm-code`` in benchmarks.yaml turns both on):
  head_input="c_normalized"  every head reads F.normalize(c_t), the unit-norm LSTM cell state
                             (ntm.py:58-64); "c" is vlgiitr's c_t without the normalisation
  separate_erase=False       no erase vector: e = 1, M_t(i) = (1 - w(i)) M(i) + w(i) a (the erase layer is
                             commented out, modules/head.py:22-23, 75, 92-93; the write modules/memory.py:104-111)
Not offered: the initial read vector drawn afresh for every sequence (ntm.py:45-50; here learned, drawn
from the same distribution at init).

Biases at initialisation: the controller's bias_ih and bias_hh nn.LSTMCell's default,
U(-1/sqrt(d_h), 1/sqrt(d_h)), as the reference's (its nn.LSTMCell, ntm/modules/controller.py:15); the head
projection's N(0, 0.01); the output layer's nn.Linear's default, U(-1/sqrt(F), 1/sqrt(F)), F = d_h + R W.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.base import ModelConfig, RecurrentModel, State, config_variant, register_model
from models.memory import content_weights_heads, erase_add_write, oneplus, read_weighted_heads
from models.layers import Linear

HEAD_INPUTS = ("h", "c", "c_normalized")
# options where the reference code departs from the paper (see the module docstring)
CODE_VARIANT_OPTIONS = ("head_input", "separate_erase")
SCALARS_PER_HEAD = 3  # beta, g, gamma
HEAD_XAVIER_GAIN = 1.4  # reference init of the head projection rows other than the key
HEAD_BIAS_STD = 0.01  # reference init of the head projection biases
INIT_STATE_BOUND = 1.0  # U(-1, 1): nn.Linear(1, n)'s bias init, the reference's learned initial state


@dataclass
class NTMConfig(ModelConfig):
    hidden_size: int = 120  # controller LSTM size (Table 1: 120)
    memory_slots: int = 128  # N, memory rows
    memory_width: int = 20  # M in the NTM paper: width of one row
    read_heads: int = 1  # the reference builds one read and one write head per "head"
    write_heads: int = 1
    shift_range: int = 1  # S: eq. 8 shifts over -S..S (1 gives the paper's {-1, 0, +1})
    head_input: str = "h"  # what the heads read: "h" (paper), "c" (vlgiitr code), "c_normalized" (ARMIN authors' copy)
    separate_erase: bool = True  # paper eq. 3 erase vector e; False: e = 1 and no erase parameters (code)

    @property
    def num_shifts(self) -> int:
        return 2 * self.shift_range + 1

    def validate(self) -> None:
        super().validate()
        for name in ("memory_slots", "memory_width", "read_heads", "write_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"NTM needs {name} >= 1, got {getattr(self, name)}")
        if self.shift_range < 0:
            raise ValueError(f"shift_range must be >= 0, got {self.shift_range}")
        if self.num_shifts > self.memory_slots:
            raise ValueError(
                f"shift_range {self.shift_range} gives {self.num_shifts} shifts, more than the "
                f"{self.memory_slots} memory slots: shifts would wrap onto each other"
            )
        if self.head_input not in HEAD_INPUTS:
            raise ValueError(f"head_input must be one of {HEAD_INPUTS}, got {self.head_input!r}")


# --- addressing stages (NTM section 3.3); weightings are (B, H, N), one row per head ----------------
def interpolate(w_c: torch.Tensor, w_prev: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """w^g = g w^c + (1 - g) w_{t-1}   g (B, H, 1)  (eq. 7)."""
    return g * w_c + (1.0 - g) * w_prev


def shift_index(num_slots: int, shift_range: int) -> torch.Tensor:
    """index[k, i] = (i - shift_k) mod N for shift_k in -S..S: (2S+1, N). Gathering w at row k of
    this index moves every weight shift_k slots forward, wrapping around the memory."""
    shifts = torch.arange(-shift_range, shift_range + 1).unsqueeze(1)  # (K, 1)
    return (torch.arange(num_slots).unsqueeze(0) - shifts) % num_slots  # (K, N)


def circular_shift(w_g: torch.Tensor, s: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """w~(i) = sum_j w^g(j) s(i - j), indices modulo N  (eq. 8), as one gather and one product:
    w~(i) = sum_k s(k) w^g(i - shift_k).   w_g (B, H, N), s (B, H, K), index (K, N) -> (B, H, N)."""
    shifted = w_g[..., index]  # (B, H, K, N): row k is w^g moved by shift_k
    return (s.unsqueeze(-1) * shifted).sum(dim=-2)


def sharpen(w_s: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """w(i) = w~(i)^gamma / sum_j w~(j)^gamma   gamma (B, H, 1)  (eq. 9), computed as
    softmax_i(gamma log w~(i)): the same weights, without underflow of the sum for large gamma."""
    log_w = w_s.clamp_min(torch.finfo(w_s.dtype).tiny).log()
    return F.softmax(gamma * log_w, dim=-1)


@register_model("ntm")
class NTM(RecurrentModel):
    config_class = NTMConfig
    supports_vectorized_seeds = True

    def __init__(self, config: NTMConfig):
        super().__init__(config)
        d_i, d_h = config.input_size, config.hidden_size
        N, W, K = config.memory_slots, config.memory_width, config.num_shifts
        H_r, H_w = config.read_heads, config.write_heads
        self.N, self.W, self.H_r, self.H_w = N, W, H_r, H_w
        # controller: LSTM over [x_t, r_{t-1}]
        self.controller = nn.LSTMCell(d_i + H_r * W, d_h)
        # every head's parameters from one projection: per head [k, beta, g, s, gamma], then the
        # write heads' erase vectors e (eq. 3) and add vectors a (eq. 4)
        self.address_sizes = [W, 1, 1, K, 1]  # k, beta, g, s, gamma
        self.head_width = sum(self.address_sizes)
        erase_width = H_w * W if config.separate_erase else 0
        self.head_sizes = [(H_r + H_w) * self.head_width, erase_width, H_w * W]
        self.W_head = Linear(d_h, sum(self.head_sizes))
        self.readout = nn.Linear(d_h + H_r * W, config.output_size)
        self.register_buffer("shift_index", shift_index(N, config.shift_range), persistent=False)
        # learned initial state (module docstring)
        self.b_M = nn.Parameter(torch.empty(N, W).uniform_(-INIT_STATE_BOUND, INIT_STATE_BOUND))
        self.h_0 = nn.Parameter(torch.empty(d_h).uniform_(-INIT_STATE_BOUND, INIT_STATE_BOUND))
        self.c_0 = nn.Parameter(torch.empty(d_h).uniform_(-INIT_STATE_BOUND, INIT_STATE_BOUND))
        r_bound = math.sqrt(6.0 / W)  # kaiming-uniform bound of the reference's (B, W) read vectors
        self.r_0 = nn.Parameter(torch.empty(H_r, W).uniform_(-r_bound, r_bound))
        self._init_heads_()
        nn.init.kaiming_uniform_(self.readout.weight)

    def _init_heads_(self) -> None:
        """The reference's head init: xavier-uniform (gain 1.4, the fans of each head's block) on
        every row block but the key's, which keeps nn.Linear's default; biases N(0, 0.01)."""
        W = self.W
        blocks = []  # (first row, rows) of each block that gets the xavier init
        for head in range(self.H_r + self.H_w):
            start = head * self.head_width + W  # after the key
            for size in self.address_sizes[1:]:  # beta, g, s, gamma
                blocks.append((start, size))
                start += size
        start = self.head_sizes[0]
        for _ in range((self.head_sizes[1] + self.head_sizes[2]) // W):  # e and a of each write head
            blocks.append((start, W))
            start += W
        with torch.no_grad():
            for first, rows in blocks:
                nn.init.xavier_uniform_(self.W_head.weight[first : first + rows], gain=HEAD_XAVIER_GAIN)
            nn.init.normal_(self.W_head.bias, std=HEAD_BIAS_STD)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        like = self._like(device, dtype)
        B, H = batch_size, self.H_r + self.H_w
        return {
            "h": self.h_0.to(**like).expand(B, -1),  # (B, d_h)
            "c": self.c_0.to(**like).expand(B, -1),  # (B, d_h)
            "M": torch.sigmoid(self.b_M).to(**like).expand(B, -1, -1),  # (B, N, W)
            "r": self.r_0.to(**like).expand(B, -1, -1),  # (B, H_r, W)
            "w": torch.zeros(B, H, self.N, **like),  # (B, H_r + H_w, N): read heads first
        }

    def heads(self, h_t: torch.Tensor, c_t: torch.Tensor):
        """Every head's parameters from the fused projection, through their nonlinearities."""
        cfg = self.config
        if cfg.head_input == "h":
            head_in = h_t
        elif cfg.head_input == "c":
            head_in = c_t
        else:
            head_in = F.normalize(c_t, dim=-1)
        B = h_t.shape[0]
        address, e, a = self.W_head(head_in).split(self.head_sizes, dim=-1)
        k, beta, g, s, gamma = address.view(B, -1, self.head_width).split(self.address_sizes, dim=-1)
        beta, g, s, gamma = F.softplus(beta), torch.sigmoid(g), F.softmax(s, dim=-1), oneplus(gamma)
        a = a.view(B, self.H_w, self.W)  # (B, H_w, W)
        e = torch.sigmoid(e.view(B, self.H_w, self.W)) if cfg.separate_erase else torch.ones_like(a)
        return k, beta, g, s, gamma, e, a

    def address(self, M, w_prev, k, beta, g, s, gamma) -> torch.Tensor:
        """Eq. 5-9 for all heads at once: (B, H, N)."""
        w_c = content_weights_heads(M, k, beta)  # eq. 5-6
        w_g = interpolate(w_c, w_prev, g)  # eq. 7
        w_s = circular_shift(w_g, s, self.shift_index)  # eq. 8
        return sharpen(w_s, gamma)  # eq. 9

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        M, r_prev, w_prev = state["M"], state["r"], state["w"]  # (B, N, W), (B, H_r, W), (B, H, N)
        h_t, c_t = self.controller(torch.cat([x_t, r_prev.flatten(1)], dim=-1), (state["h"], state["c"]))

        k, beta, g, s, gamma, e, a = self.heads(h_t, c_t)
        w = self.address(M, w_prev, k, beta, g, s, gamma)  # (B, H, N)
        w_r, w_w = w.split([self.H_r, self.H_w], dim=1)

        r_t = read_weighted_heads(M, w_r)  # eq. 2: (B, H_r, W)
        M = erase_add_write(M, w_w, e, a)  # eq. 3-4: (B, N, W)

        if self.memory_trace is not None:
            self.memory_trace.append({"read": w_r.detach(), "write": w_w.detach()})
        o_t = torch.cat([h_t, r_t.flatten(1)], dim=-1)  # (B, d_h + H_r W)
        return o_t, {"h": h_t, "c": c_t, "M": M, "r": r_t, "w": w}

    def eval_matches_train(self) -> bool:
        return True  # no sampling, dropout or separate inference path

    def variant(self) -> str:
        """"paper", or "code:" and the reference-code options in effect."""
        return config_variant(self.config, CODE_VARIANT_OPTIONS)
