"""TARDIS: Temporal Automatic Relation Discovery in Sequences.

Gulcehre, Chandar & Bengio, "Memory Augmented Neural Networks with Wormhole Connections",
arXiv:1701.08718 (2017), section 3. A controller LSTM that stores micro-states of its past hidden
states in an external memory and reads one of them back at every step (the "wormhole connection").

Memory: n_mem cells M_t[i] = [a_i, c_t[i]], a learned address a_i (fixed over the sequence) and a
content c_t[i] the controller writes. Each time step reads, runs the controller, then writes:
  read     u_t = U_t / |U_t|,  U_t = sum_{t' < t} w^r_{t'}                   normalised usage
           pi_t[i] = a^T tanh(W_x x_t + W_h h_{t-1} + W_u u_t + W_m M_t[i] + b)   one logit per cell
           w^r_t = gumbel-softmax(pi_t)                                     one-hot, straight-through
           r_t = sum_i w^r_t(i) c_t[i]
  cell     [f; i; o] = sigmoid(W_g [x_t, h_{t-1}, r_t] + b_g)
           [alpha; beta] = gumbel-sigmoid(w_ab [x_t, h_{t-1}, r_t] + b_ab)   two scalars, tau = 0.3
           c~_t = tanh(W_c [x_t, alpha h_{t-1}, beta r_t] + b_c)            the wormhole enters here
           c_t = f * c_{t-1} + i * c~_t,   h_t = o * tanh(c_t)
  write    m_t = W_w h_t + b_w fills the next empty cell while the memory fills, then overwrites
           the cell just read (read and write tied once the memory is full)
  output   o_t = [h_t, r_t]

Inference mode (``model.eval()``): argmax addressing, the read is an index into the memory, the
write replaces that row (in place when no gradient is recorded), alpha and beta without noise.

The addressing is an ``nn.Module`` of its own, ``TardisAddressing``, so that AwTA (models/awta.py,
ARMIN with TARDIS's addressing) uses exactly this one.

Where the ARMIN authors' TARDIS code (github.com/zoharli/armin at commit 9bf8e45,
algorithimic_tasks/marnn.py, class TARDIS, lines 196-327) differs, an option selects the code's
behaviour; the defaults follow the paper. The preset ``tardis-code`` turns them all on:
  normalize_logits=True       pi_t L2-normalised over the cells before the gumbel-softmax (255-256)
  block_last_read=True        the cell read at t-1 gets pi_t - 100 (254), before the normalisation: the
                              blocked cell then gets about -1 and the others about pi/100, so the
                              Gumbel noise (std 1.28) decides the read almost alone
  usage_gradient=True         U_t and the last-read mask are the straight-through read weights, not
                              detached: gradient flows through them (259-260)
  address_from="c"            pi_t reads c_{t-1}, the LSTM cell, not h_{t-1} (248)
  gate_noise_form="gumbel"    alpha, beta = sigmoid((x + g) 10/3) with ONE Gumbel sample (268, 324-327)
  write_input="xh"            micro-state from [x_t, h_t] (235, 281)
  forget_bias=1               sigmoid(f + 1) (198, 273)
  learned_initial_state=True  h_0, c_0 = tanh of learned vectors, M_0 learned, zeros at init (225-227,
                              288-289, 294)
Its gumbel-softmax is softmax((pi + g) tau) (316-318), this file's default form; its 10/3 is the
gate temperature 0.3 here. ``address_init="code"`` initialises the addressing as the code does
(``TardisAddressing``: one orthogonal map, a orthogonal, 229-234). Not offered: its gate noise stays
on at evaluation (the code has no evaluation mode).
``temperature_on_logits`` (softmax(pi tau + g)) is neither the paper's nor the code's form: a harness
option, recorded as "not-code" in the variant.

Biases at initialisation: all zero (``forget_bias`` is added in the forward pass, not stored in a bias).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.armin import WRITE_INPUTS
from models.base import ModelConfig, RecurrentModel, State, config_variant, register_model
from models.layers import GateProjection, Linear, init_recurrent_weights_
from models.memory import gumbel_sigmoid, read_one_hot, write_discrete, written_slot

USAGE_NORMS = {"l2": 2.0, "l1": 1.0}  # name -> p of the norm u_t = U_t / |U_t|_p
ADDRESS_HIDDEN_DIVISOR = 4  # d_a = d_h // 4 when address_hidden = 0 (the authors' code)
BLOCKED_READ_PENALTY = 100.0  # block_last_read: subtracted from the logit of the cell read at t-1
# options where the authors' code departs from the paper (see the module docstring)
ADDRESSING_CODE_OPTIONS = ("normalize_logits", "block_last_read", "usage_gradient", "address_init")
ADDRESS_INITS = ("paper", "code")
A_INITS = ("orthogonal", "xavier_uniform")  # the vector a of the code's TARDIS (marnn.py:231) and AwTA (367)
CODE_VARIANT_OPTIONS = ADDRESSING_CODE_OPTIONS + (
    "address_from",
    "gate_noise_form",
    "write_input",
    "forget_bias",
    "learned_initial_state",
)
# options that are neither the paper's nor the authors' code (recorded as "not-code" in the variant)
NOT_CODE_OPTIONS = ("temperature_on_logits",)
ADDRESS_FROM = ("h", "c")
GATE_NOISE_FORMS = ("logistic", "gumbel")


@dataclass
class TardisAddressingConfig(ModelConfig):
    """The options of TARDIS's addressing (shared by TARDIS and AwTA)."""

    key_size: int = 5  # width of each cell's learned address a_i (the authors' code: 5)
    address_hidden: int = 0  # d_a, width of the tanh layer of pi_t; 0 means d_h // 4 (authors' code)
    usage_norm: str = "l2"  # norm dividing the usage, u_t = U_t / |U_t|: "l2" (authors' code) or "l1"
    normalize_logits: bool = False  # code: pi_t L2-normalised over the cells before the gumbel-softmax
    block_last_read: bool = False  # code: the cell read at t-1 gets pi_t - 100 (no two reads in a row)
    usage_gradient: bool = False  # code: usage and last-read mask from the straight-through weights, with gradient
    address_init: str = "paper"  # "code": the one orthogonal Linear of the authors' code (TardisAddressing)

    @property
    def d_r(self) -> int:
        return self.memory_width or self.hidden_size

    def validate(self) -> None:
        super().validate()
        if self.memory_slots < 2:
            raise ValueError(f"TARDIS addressing needs memory_slots >= 2, got {self.memory_slots}")
        if self.key_size < 1:
            raise ValueError(f"key_size must be >= 1, got {self.key_size}")
        if self.address_hidden < 0 or (self.address_hidden == 0 and self.hidden_size < ADDRESS_HIDDEN_DIVISOR):
            raise ValueError(
                f"address_hidden must be >= 1 (or 0 with hidden_size >= {ADDRESS_HIDDEN_DIVISOR}), "
                f"got {self.address_hidden} with hidden_size {self.hidden_size}"
            )
        if self.usage_norm not in USAGE_NORMS:
            raise ValueError(f"usage_norm must be one of {tuple(USAGE_NORMS)}, got {self.usage_norm!r}")
        if self.address_init not in ADDRESS_INITS:
            raise ValueError(f"address_init must be one of {ADDRESS_INITS}, got {self.address_init!r}")


@dataclass
class TARDISConfig(TardisAddressingConfig):
    hidden_size: int = 120  # d_h (Table 1: 120)
    memory_slots: int = 50  # n_mem (Table 1: 50)
    memory_width: int = 32  # d_r: width of a written micro-state (Table 1: 32); 0 means d_h
    addressing_noise: bool = True  # gumbel noise on pi_t while training; False: deterministic hard read
    temperature_on_logits: bool = False  # NOT the authors' code: softmax(pi / tau + g), noise unscaled
    address_from: str = "h"  # what pi_t reads of the controller: "h" h_{t-1} (paper), "c" c_{t-1} (code)
    gate_temperature: float = 0.3  # tau of the gumbel-sigmoid of alpha, beta (not annealed)
    gate_noise: bool = True  # noise on alpha, beta while training
    gate_noise_form: str = "logistic"  # "logistic": g_1 - g_2 (mean 0); "gumbel": one sample g (code, mean 0.577)
    write_input: str = "h"  # "h": micro-state W_w h_t; "xh": W_w [x_t, h_t] (authors' code)
    forget_bias: float = 0.0  # added to f's pre-activation; the authors' code uses 1.0
    learned_initial_state: bool = False  # code: learned h_0, c_0 (tanh of vectors) and M_0, zeros at init

    def validate(self) -> None:
        super().validate()
        if self.gate_temperature <= 0.0:
            raise ValueError(f"gate_temperature must be > 0, got {self.gate_temperature}")
        if self.write_input not in WRITE_INPUTS:
            raise ValueError(f"write_input must be one of {WRITE_INPUTS}, got {self.write_input!r}")
        if self.address_from not in ADDRESS_FROM:
            raise ValueError(f"address_from must be one of {ADDRESS_FROM}, got {self.address_from!r}")
        if self.gate_noise_form not in GATE_NOISE_FORMS:
            raise ValueError(f"gate_noise_form must be one of {GATE_NOISE_FORMS}, got {self.gate_noise_form!r}")


def update_usage(U: torch.Tensor, w_r: torch.Tensor, gradient: bool = False) -> torch.Tensor:
    """U_{t+1} = U_t + w^r_t: reads per cell so far. U and the read weights w_r (B, N), one-hot in the
    forward pass. Bookkeeping without gradient, unless ``gradient`` (the authors' code, marnn.py:260,
    adds the straight-through weights themselves)."""
    return U + (w_r if gradient else w_r.detach())


def last_read_mask(w_r: torch.Tensor, gradient: bool = False) -> torch.Tensor:
    """The cell read at this step, for the next step's ``block_last_read``: w_r (B, N), one-hot forward.
    Detached unless ``gradient`` (the authors' code keeps the straight-through weights, marnn.py:259)."""
    return w_r if gradient else w_r.detach()


class TardisAddressing(nn.Module):
    """TARDIS's read logits over the n_mem cells:

        pi_t[i] = a^T tanh(W_x x_t + W_h h_{t-1} + W_u u_t + W_m M_t[i] + b),   M_t[i] = [a_i, c_t[i]]

    W_m M_t[i] = W_a a_i + W_c c_t[i] (the learned address and the written content of cell i). The
    cell-independent part q_t = W_x x_t + W_h h_{t-1} + W_u u_t + b is computed once per step and
    broadcast over the cells. In the authors' code one Linear maps the concatenation
    [x_t, c_{t-1}, a_i, M_t(i), u_t] of every cell (marnn.py:248-253), the same affine map.

    Initialisation. ``address_init="paper"``: each of W_q, W_a, W_c orthogonal on its own, b zero, a
    from U(-1/sqrt(d_a), 1/sqrt(d_a)). ``address_init="code"``: as the authors' code, one (d_a, d_i + d_h
    + key_size + d_r + n_mem) matrix with orthonormal rows (helper.py:8-16, transposed: marnn.py:232-234
    for TARDIS, 368-370 for AwTA) split into the blocks, b zero, and a as ``a_init`` says: TARDIS's
    orthogonal, a unit vector (marnn.py:229, 231), AwTA's xavier-uniform, U(-sqrt(6 / (d_a + 1)), ..)
    (365, 367). The keys a_i are orthogonal in both (230, 366). (At d_h 120 the paper init's W_a and
    W_c start about 2.6 times larger, in Frobenius norm, than their blocks of the one matrix.)
    """

    def __init__(self, config: TardisAddressingConfig, a_init: str = "orthogonal"):
        super().__init__()
        d_i, d_h, d_r, n_mem = config.input_size, config.hidden_size, config.d_r, config.memory_slots
        d_a = config.address_hidden or d_h // ADDRESS_HIDDEN_DIVISOR
        self.usage_p = USAGE_NORMS[config.usage_norm]
        self.normalize_logits = config.normalize_logits
        self.block_last_read = config.block_last_read
        self.keys = nn.Parameter(torch.empty(n_mem, config.key_size))  # a_i, the address part of M
        self.W_q = Linear(d_i + d_h + n_mem, d_a)  # [W_x, W_h, W_u] and b
        self.W_a = Linear(config.key_size, d_a, bias=False)  # W_m's block over a_i
        self.W_c = Linear(d_r, d_a, bias=False)  # W_m's block over c_t[i]
        self.a = nn.Parameter(torch.empty(d_a))
        init_recurrent_weights_(self)  # orthogonal matrices (keys included), zero bias
        if config.address_init == "code":
            self.code_init_(a_init)
        else:
            bound = 1.0 / math.sqrt(d_a)
            nn.init.uniform_(self.a, -bound, bound)

    @torch.no_grad()
    def code_init_(self, a_init: str) -> None:
        """The authors' init (class docstring): one matrix with orthonormal rows over the features
        [x_t, c_{t-1}, a_i, M_t(i), u_t] in their order, split into W_q ([x, c, u]), W_a and W_c."""
        if a_init not in A_INITS:
            raise ValueError(f"a_init must be one of {A_INITS}, got {a_init!r}")
        d_a, d_q = self.W_q.weight.shape  # W_q over [x, h, u]: d_q = d_i + d_h + n_mem
        d_key, d_r, n_mem = self.W_a.weight.shape[1], self.W_c.weight.shape[1], self.keys.shape[0]
        full = torch.empty(d_a, d_q + d_key + d_r)
        nn.init.orthogonal_(full)
        x_h, key, content, u = full.split([d_q - n_mem, d_key, d_r, n_mem], dim=1)
        self.W_q.weight.copy_(torch.cat([x_h, u], dim=1))
        self.W_a.weight.copy_(key)
        self.W_c.weight.copy_(content)
        a = self.a.view(d_a, 1)  # the code's (d_a, 1) parameter
        if a_init == "orthogonal":
            nn.init.orthogonal_(a)
        else:
            nn.init.xavier_uniform_(a)

    key_term: torch.Tensor | None = None  # W_a a_i while a sequence is unrolled (parameters only)

    def start_sequence(self) -> None:
        """W_a a_i depends on parameters alone: once per sequence (models.layers.sequence_weights)."""
        self.key_term = self.W_a(self.keys)

    def end_sequence(self) -> None:
        self.key_term = None

    def forward(
        self, x_t: torch.Tensor, h_prev: torch.Tensor, M: torch.Tensor, U: torch.Tensor, last_read: torch.Tensor
    ) -> torch.Tensor:
        """x_t (B, I), h_{t-1} (B, d_h) (or c_{t-1}: ``address_from``), contents M (B, N, d_r), read counts
        U (B, N), the one-hot of the cell read at t-1 (B, N), zeros before the first read -> pi_t (B, N)."""
        u_t = F.normalize(U, p=self.usage_p, dim=-1)  # (B, N); zeros before the first read
        q_t = self.W_q(torch.cat([x_t, h_prev, u_t], dim=-1))  # (B, d_a)
        key_term = self.W_a(self.keys) if self.key_term is None else self.key_term  # (N, d_a)
        z = torch.tanh(q_t.unsqueeze(1) + key_term + self.W_c(M))  # (B, N, d_a)
        pi_t = z @ self.a  # (B, N)
        if self.block_last_read:  # code: marnn.py:254
            pi_t = pi_t - BLOCKED_READ_PENALTY * last_read
        if self.normalize_logits:  # code: marnn.py:256
            pi_t = F.normalize(pi_t, dim=-1)
        return pi_t


@register_model("tardis")
class TARDIS(RecurrentModel):
    inplace_memory = "M"
    config_class = TARDISConfig
    supports_vectorized_seeds = True

    def __init__(self, config: TARDISConfig):
        super().__init__(config)
        d_i, d_h, d_r, n_mem = config.input_size, config.hidden_size, config.d_r, config.memory_slots
        self.d_h, self.d_r, self.n_mem = d_h, d_r, n_mem
        self.addressing = TardisAddressing(config)  # pi_t
        # [f; i; o] (d_h each) and [alpha; beta] (scalars) over [x_t, h_{t-1}, r_t]
        #   f's pre-activation shifted by the forget bias (a constant, not a parameter)
        self.W_g = GateProjection(d_i + d_h + d_r, [d_h, d_h, d_h, 2], offsets=[config.forget_bias, 0.0, 0.0, 0.0])
        # candidate c~_t over [x_t, alpha h_{t-1}, beta r_t]
        self.W_c = Linear(d_i + d_h + d_r, d_h)
        # micro-state m_t written to memory
        self.W_w = Linear((d_i + d_h) if config.write_input == "xh" else d_h, d_r)
        # output layer over o_t = [h_t, r_t]
        self.readout = nn.Linear(d_h + d_r, config.output_size)
        init_recurrent_weights_(self)  # the addressing's vector a keeps its own uniform init ...
        if config.address_init == "code":  # ... and the code's init is the addressing's own again
            self.addressing.code_init_("orthogonal")
        if config.learned_initial_state:
            self.h_0 = nn.Parameter(torch.zeros(d_h))
            self.c_0 = nn.Parameter(torch.zeros(d_h))
            self.M_0 = nn.Parameter(torch.zeros(n_mem, d_r))

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        like = self._like(device, dtype)
        B, d_h, N = batch_size, self.d_h, self.n_mem
        if self.config.learned_initial_state:
            h = torch.tanh(self.h_0).to(**like).expand(B, d_h)
            c = torch.tanh(self.c_0).to(**like).expand(B, d_h)
            M = self.M_0.to(**like).expand(B, N, self.d_r).clone()
        else:  # the paper's zero state and empty memory
            h = torch.zeros(B, d_h, **like)
            c = torch.zeros(B, d_h, **like)
            M = torch.zeros(B, N, self.d_r, **like)
        return {
            "h": h,
            "c": c,
            "M": M,
            "usage": torch.zeros(B, N, **like),  # U_t, reads per cell
            "last_read": torch.zeros(B, N, **like),  # one-hot of the cell read at t-1; none yet
            "filled": torch.zeros((), dtype=torch.long, device=like["device"]),  # cells written so far
        }

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        cfg = self.config
        h_prev, c_prev, M, U, filled = state["h"], state["c"], state["M"], state["usage"], state["filled"]

        # read: pi_t, w^r_t, r_t
        ctrl = h_prev if cfg.address_from == "h" else c_prev  # code: c_{t-1} (marnn.py:248)
        pi_t = self.addressing(x_t, ctrl, M, U, state["last_read"])  # (B, N)
        r_t, read_index, w_r = read_one_hot(
            M,
            pi_t,
            self.inverse_temperature,
            training=self.training,
            noise=cfg.addressing_noise,
            scale_logits_only=cfg.temperature_on_logits,
        )  # (B, d_r), (B,), (B, N)

        # controller
        f, i, o, ab = self.W_g(torch.cat([x_t, h_prev, r_t], dim=-1), torch.sigmoid, raw=(3,))  # ab: pre-activation
        noise, one_sample = cfg.gate_noise and self.training, cfg.gate_noise_form == "gumbel"
        ab = gumbel_sigmoid(ab, 1.0 / cfg.gate_temperature, noise=noise, one_sample=one_sample)
        alpha, beta = ab.split(1, dim=-1)  # (B, 1) each
        c_tilde = torch.tanh(self.W_c(torch.cat([x_t, alpha * h_prev, beta * r_t], dim=-1)))
        c_t = f * c_prev + i * c_tilde
        h_t = o * torch.tanh(c_t)

        # write: the next empty cell while the memory fills, else the cell just read
        m_t = self.W_w(h_t if cfg.write_input == "h" else torch.cat([x_t, h_t], dim=-1))  # (B, d_r)
        if self.memory_trace is not None:  # bench inspect: the one-hot read and the slot written
            write = F.one_hot(written_slot(filled, read_index, M.shape[1]), M.shape[1]).to(w_r.dtype)
            self.memory_trace.append({"read": w_r.detach()[:, None], "write": write[:, None]})
        M = write_discrete(M, filled, read_index, m_t, in_place=self.writes_in_place())

        o_t = torch.cat([h_t, r_t], dim=-1)  # (B, d_h + d_r)
        return o_t, {
            "h": h_t,
            "c": c_t,
            "M": M,
            "usage": update_usage(U, w_r, cfg.usage_gradient),
            "last_read": last_read_mask(w_r, cfg.usage_gradient),
            "filled": filled + 1,
        }

    def read_kind(self) -> str:
        return "hard"  # one cell: the straight-through gumbel-softmax, argmax in inference

    def variant(self) -> str:
        return config_variant(self.config, CODE_VARIANT_OPTIONS, NOT_CODE_OPTIONS)

    def path_name(self) -> str:
        return "train:gumbel-st" if self.training else "eval:argmax-index"
