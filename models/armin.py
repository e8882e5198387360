"""ARMIN: Auto-addressing and Recurrent Memory Integrating Network.

Li, Zhong, Huang, Zhang, Li & Li, "ARMIN: Towards a More Efficient and Light-weight Recurrent Memory
Network", arXiv:1906.12087 (2019), section 3. Equation numbers below are the paper's.

Each time step reads, runs the cell, then writes (Figure 1):
  read   s_t = gumbel-softmax(W_s [x_t, h_{t-1}] + b_s)          (9)   one-hot over n_mem slots
         r_t = sum_i s_t(i) M(i, :)                               (10)
  cell   [g^h; g^r] = sigmoid(W_ig [x_t, h_{t-1}, r_t] + b_ig)    (3)
         h^g_{t-1} = g^h * h_{t-1},  r^g_t = g^r * r_t            (4, 5)
         [i; f; g; o^h; o^r] = act(W_go [x_t, h^g_{t-1}, r^g_t] + b_go)   (6)
         h_t = f * h_{t-1} + i * g                                 (7)
         o_t = [o^h * tanh(h_t), o^r * tanh(r_t)]                  (8)
  write  h_t (mapped to d_r when d_h != d_r) overwrites the slot just read; while empty slots
         remain it fills the next empty slot instead (section 3.3).

Inference mode (``model.eval()``, section 5): argmax addressing instead of sampling, the read is an
index into the memory and the write replaces that row in place: no product over the memory.

Where the authors' code (github.com/zoharli/armin, read at commit 9bf8e45; paths below are in that
repository) differs from the paper, an option selects the code's behaviour; the defaults follow the
paper. In algorithimic_tasks/marnn.py, class ARMIN (lines 82-194), the code's recurrent state is (h, c)
with c the cell; its h is only the output o^h * c, so this file's h_t is the code's c_t:
  read="soft"                 the read is softmax(W_s [x_t, c_{t-1}]), no gumbel noise and no tau (176-180;
                              the logits 125-127); in pmnist_task/marnn.py:172-179 the read is the hard
                              straight-through gumbel-softmax, as the paper says
  cell_tanh=True              h_t = tanh(f h_{t-1} + i g) (141-142); then o_t = [o^h h_t, o^r r_t] (143-144)
  soft_write=True             once the memory is full the write goes where the read went, with the read's
                              weights detached: M <- (1 - s_t) M + s_t v^T (150, 172-174); with the soft
                              read that spreads every write over all slots (with a hard read it is the
                              paper's overwrite of the slot read)
  write_input="xh"            the written value is a linear map of [x_t, h_t] (103, 151); the pMNIST code
                              maps h_t alone (pmnist_task/marnn.py:94, 141), the default here
  forget_bias=1               sigmoid(f + 1) (84, 141)
  learned_initial_state=True  h_0 = tanh(learned vector) (108, 159), M_0 = a learned matrix, zeros at init
                              (109, 164); the code draws that vector from U(0, 1) (pMNIST: N(0, 1),
                              pmnist_task/marnn.py:83), here U(-0.1, 0.1)
Every gumbel-softmax of that code is softmax((logits + g) tau), tau the annealed inverse temperature
(184; pmnist_task/marnn.py:183): the default of models/memory.py. ``temperature_on_logits``
(softmax(logits tau + g)) is neither the paper's nor the code's form: a harness option, recorded as
"not-code" in the variant. The presets ``armin-code`` (algorithmic tasks) and ``armin-pmnist-code``
(pMNIST) in benchmarks.yaml turn on the code's choices.

Biases at initialisation: all zero (``forget_bias`` is added in the forward pass, not stored in a bias).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.base import ModelConfig, RecurrentModel, State, config_variant, register_model
from models.layers import GateProjection, Linear, init_recurrent_weights_, zoneout
from models.memory import read_one_hot, read_weighted, write_discrete, write_interpolated, written_slot

READ_MODES = ("gumbel", "soft")
WRITE_INPUTS = ("h", "xh")
# options where the authors' code departs from the paper (see the module docstring)
CODE_VARIANT_OPTIONS = (
    "read",
    "cell_tanh",
    "soft_write",
    "write_input",
    "forget_bias",
    "learned_initial_state",
)
# options that are neither the paper's nor the authors' code (recorded as "not-code" in the variant)
NOT_CODE_OPTIONS = ("temperature_on_logits",)
INIT_UNIFORM_BOUND = 0.1  # range of the learned initial hidden vector (learned_initial_state)


@dataclass
class ARMINConfig(ModelConfig):
    hidden_size: int = 100  # d_h
    memory_slots: int = 50  # n_mem
    memory_width: int = 0  # d_r; 0 means d_r = d_h (the paper's usual choice)
    read: str = "gumbel"  # "gumbel": hard straight-through gumbel-softmax (eq. 9); "soft": softmax (authors' algorithmic code)
    addressing_noise: bool = True  # gumbel noise while training; False gives the deterministic hard read
    temperature_on_logits: bool = False  # NOT the authors' code: softmax(logits / tau + g), noise unscaled
    cell_tanh: bool = False  # code: h_t = tanh(f*h_{t-1} + i*g), and eq. 8 then applies no further tanh
    soft_write: bool = False  # code: once full, M <- (1 - s_t) M + s_t v (s_t the detached read weights)
    write_input: str = "h"  # "h": write h_t (paper 3.3); "xh": linear map of [x_t, h_t] (code)
    forget_bias: float = 0.0  # added to f's pre-activation; the code uses 1.0
    learned_initial_state: bool = False  # code: learned h_0 (tanh of a vector) and M_0 (zeros at init)
    layer_norm: bool = False  # layer normalisation of the gate pre-activations (paper 4.3)
    zoneout: float = 0.0  # zoneout probability on h_t (paper 4.3)

    @property
    def d_r(self) -> int:
        return self.memory_width or self.hidden_size

    def validate(self) -> None:
        super().validate()
        if self.memory_slots < 1:
            raise ValueError(f"ARMIN needs memory_slots >= 1, got {self.memory_slots}")
        if self.read not in READ_MODES:
            raise ValueError(f"read must be one of {READ_MODES}, got {self.read!r}")
        if self.write_input not in WRITE_INPUTS:
            raise ValueError(f"write_input must be one of {WRITE_INPUTS}, got {self.write_input!r}")
        if not 0.0 <= self.zoneout < 1.0:
            raise ValueError(f"zoneout must be in [0, 1), got {self.zoneout}")


@register_model("armin")
class ARMIN(RecurrentModel):
    config_class = ARMINConfig
    inplace_memory = "M"
    supports_vectorized_seeds = True

    def __init__(self, config: ARMINConfig):
        super().__init__(config)
        d_i, d_h, d_r, n_mem = config.input_size, config.hidden_size, config.d_r, config.memory_slots
        self.d_h, self.d_r, self.n_mem = d_h, d_r, n_mem
        # eq. 9: W_s in R^{n_mem x (d_i + d_h)}, b_s in R^{n_mem}
        self.W_s = Linear(d_i + d_h, n_mem)
        # eq. 3: W_ig in R^{(d_h + d_r) x (d_i + d_h + d_r)} -> g^h, g^r
        self.W_ig = GateProjection(d_i + d_h + d_r, [d_h, d_r], config.layer_norm)
        # eq. 6: W_go in R^{(4 d_h + d_r) x (d_i + d_h + d_r)} -> i, f, g, o^h, o^r
        #   f's pre-activation shifted by the forget bias (a constant, not a parameter)
        self.W_go = GateProjection(d_i + d_h + d_r, [d_h, d_h, d_h, d_h, d_r], config.layer_norm,
                                   offsets=[0.0, config.forget_bias, 0.0, 0.0, 0.0])
        # section 3.3: map the written state to d_r when needed
        write_in = (d_i + d_h) if config.write_input == "xh" else d_h
        self.W_w = Linear(write_in, d_r) if (write_in != d_r or config.write_input == "xh") else None
        # output layer over o_t in R^{d_h + d_r}
        self.readout = nn.Linear(d_h + d_r, config.output_size)
        init_recurrent_weights_(self)
        if config.learned_initial_state:
            self.h_0 = nn.Parameter(torch.empty(d_h).uniform_(-INIT_UNIFORM_BOUND, INIT_UNIFORM_BOUND))
            self.M_0 = nn.Parameter(torch.zeros(n_mem, d_r))

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        like = self._like(device, dtype)
        if self.config.learned_initial_state:
            h = torch.tanh(self.h_0).to(**like).expand(batch_size, self.d_h)
            M = self.M_0.to(**like).expand(batch_size, self.n_mem, self.d_r).clone()
        else:  # the paper's empty memory
            h = torch.zeros(batch_size, self.d_h, **like)
            M = torch.zeros(batch_size, self.n_mem, self.d_r, **like)
        filled = torch.zeros((), dtype=torch.long, device=like["device"])  # slots written so far
        return {"h": h, "M": M, "filled": filled}

    def address(self, x_t: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
        """Addressing logits W_s [x_t, h_{t-1}] + b_s  (eq. 9, before the gumbel-softmax): (B, N)."""
        return self.W_s(torch.cat([x_t, h_prev], dim=-1))

    def read(self, logits: torch.Tensor, M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eq. 9-10: returns r_t (B, d_r), the index of the slot read (B,) and the read weights s_t
        (B, N). Inference mode (section 5): the argmax row, read by index."""
        cfg = self.config
        if cfg.read == "soft":  # authors' algorithmic code (marnn.py:176-180); the write goes to the argmax
            s_t = torch.softmax(logits, dim=-1)
            return read_weighted(M, s_t), s_t.argmax(dim=-1), s_t
        return read_one_hot(
            M,
            logits,
            self.inverse_temperature,
            training=self.training,
            noise=cfg.addressing_noise,
            scale_logits_only=cfg.temperature_on_logits,
        )

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        r_t, read_index, s_t = self.read(self.address(x_t, state["h"]), state["M"])  # (B, d_r), (B,), (B, N)
        return self.update(x_t, state, r_t, read_index, s_t)

    def update(
        self, x_t: torch.Tensor, state: State, r_t: torch.Tensor, read_index: torch.Tensor, s_t: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """The cell (eq. 3-8) and the write (section 3.3), given the read r_t of slot read_index with
        the read weights s_t (B, N)."""
        cfg = self.config
        h_prev, M, filled = state["h"], state["M"], state["filled"]  # (B, d_h), (B, N, d_r), ()

        g_h, g_r = self.W_ig(torch.cat([x_t, h_prev, r_t], dim=-1), torch.sigmoid)  # eq. 3
        h_g = g_h * h_prev  # eq. 4
        r_g = g_r * r_t  # eq. 5
        # eq. 6: sigmoid on every gate but g, tanh on g
        i, f, g, o_h, o_r = self.W_go(torch.cat([x_t, h_g, r_g], dim=-1), torch.sigmoid, raw=(2,))
        h_t = f * h_prev + i * torch.tanh(g)  # eq. 7
        if cfg.cell_tanh:
            h_t = torch.tanh(h_t)
        h_t = zoneout(h_t, h_prev, cfg.zoneout, self.training)

        if cfg.cell_tanh:  # code: o_t = [o^h * h_t, o^r * r_t]
            o_t = torch.cat([o_h * h_t, o_r * r_t], dim=-1)
        else:  # eq. 8
            o_t = torch.cat([o_h * torch.tanh(h_t), o_r * torch.tanh(r_t)], dim=-1)

        # section 3.3: write to the next empty slot while the memory fills, else to the slot just read
        value = h_t if cfg.write_input == "h" else torch.cat([x_t, h_t], dim=-1)
        if self.W_w is not None:
            value = self.W_w(value)  # (B, d_r)
        if cfg.soft_write and int(filled) >= self.n_mem:  # authors' code: write with the read's weights
            M = write_interpolated(M, s_t.detach(), value)
            if self.memory_trace is not None:
                self.memory_trace.append({"read": s_t.detach()[:, None], "write": s_t.detach()[:, None]})
        else:
            if self.memory_trace is not None:  # the slot written: the next empty one, else the one read
                write = F.one_hot(written_slot(filled, read_index, self.n_mem), self.n_mem).to(s_t.dtype)
                self.memory_trace.append({"read": s_t.detach()[:, None], "write": write[:, None]})
            M = write_discrete(M, filled, read_index, value, in_place=self.writes_in_place())
        return o_t, {"h": h_t, "M": M, "filled": filled + 1}

    def variant(self) -> str:
        """"paper", or "code:" and the authors'-code options in effect."""
        return config_variant(self.config, CODE_VARIANT_OPTIONS, NOT_CODE_OPTIONS)

    def read_kind(self) -> str:
        return "soft" if self.config.read == "soft" else "hard"  # gumbel: straight-through one-hot forward

    def path_name(self) -> str:
        if self.config.read == "soft":
            return "train:soft-read" if self.training else "eval:soft-read"
        return "train:gumbel-st" if self.training else "eval:argmax-index"
