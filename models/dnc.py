"""DNC: Differentiable Neural Computer.

Graves, Wayne, Reynolds, Harley, Danihelka, Grabska-Barwinska, Colmenarejo, Grefenstette, Ramalho,
Agapiou, Badia, Hermann, Zwols, Ostrovski, Cain, King, Summerfield, Blunsom, Kavukcuoglu & Hassabis,
"Hybrid computing using a neural network with dynamic external memory", Nature 538, 471-476 (2016),
doi:10.1038/nature20101 (no arXiv version). The equations are those of the paper's Methods section,
which does not number them; comments name the Methods paragraph instead.

Each time step (R read heads, N slots of width W):
  controller  h_t = LSTM([x_t; r^1_{t-1}; ..; r^R_{t-1}], h_{t-1})                 'Controller network'
              xi_t = W_xi h_t, split and squashed                                  'Interface parameters'
  usage       psi_t = prod_i (1 - f^i_t w^{r,i}_{t-1})                             retention
              u_t = (u_{t-1} + w^w_{t-1} - u_{t-1} o w^w_{t-1}) o psi_t
  allocation  phi_t = slots sorted by usage, ascending (the free list)
              a_t[phi_t[j]] = (1 - u_t[phi_t[j]]) prod_{i<j} u_t[phi_t[i]]
  write       c^w_t = C(M_{t-1}, k^w_t, beta^w_t)
              w^w_t = g^w_t (g^a_t a_t + (1 - g^a_t) c^w_t)
              M_t = M_{t-1} o (E - w^w_t e_t^T) + w^w_t v_t^T
  links       L_t[i,j] = (1 - w^w_t[i] - w^w_t[j]) L_{t-1}[i,j] + w^w_t[i] p_{t-1}[j],  L_t[i,i] = 0
              p_t = (1 - sum_i w^w_t[i]) p_{t-1} + w^w_t
  read        f^i_t = L_t w^{r,i}_{t-1},  b^i_t = L_t^T w^{r,i}_{t-1}
              c^{r,i}_t = C(M_t, k^{r,i}_t, beta^{r,i}_t)
              w^{r,i}_t = pi^i_t[1] b^i_t + pi^i_t[2] c^{r,i}_t + pi^i_t[3] f^i_t
              r^i_t = M_t^T w^{r,i}_t
  output      y_t = W_y h_t + W_r [r^1_t; ..; r^R_t]: the output layer over [h_t, r_t]

``MemoryController`` (the LSTM controller, the fused interface projection and the output features) is
shared with SAM (models/sam.py), which differs only in its memory.

The ARMIN authors ran the DNC of github.com/ixaxaar/pytorch-dnc (vendored in their repository): one
LSTM layer, one read head, 128 x 20 memory. Their Table 1 count, 104k at hidden 120 on the copy task,
is 103,972 = 84,256 used by the model above (their LSTM has one bias vector, nn.LSTMCell two: 480
more here, 84,736, unless ``reference_init`` holds the second fixed) + 260 for a learned initial h, c and read vector (``learned_initial_state``) +
19,456 that their copy declares and never uses (initial memory, link matrix, precedence, weightings
and usage, all bypassed by its reset). Where that code differs from the paper, options select its
choices; the defaults follow the paper. Read at github.com/zoharli/armin commit 9bf8e45, paths in
algorithimic_tasks/ (train.py:85-92 builds it with read_heads=1); preset ``dnc-code``:
  read_modes_over="heads"     pi = softmax over axis 1 of the (B, R, 3) mode logits, the heads axis
                              (dnc/memory.py:246, softmax helper dnc/util.py:73-74): with R = 1 every mode
                              weight is exactly 1 and w^r = b + c^r + f, unnormalised (memory.py:193-200)
  cosine_over_width=True      the cosine's norms are expanded to (B, N, W) before a bmm, so the
                              denominator is W |a| |b| (dnc/util.py:64-68): C(M, k, beta) =
                              softmax(beta cos / W), content addressing W times flatter
  interface_activations="code"  tanh on the read and write keys and the write vector, softplus (not
                              oneplus) strengths (dnc/memory.py:228-238)
  forget_bias=1               sigmoid(f + 1) (dnc/dnc.py:21, 47; here the bias's initial value)
  learned_initial_state=True  h_0, c_0 = tanh of learned vectors, r_0 learned, zeros at init
                              (dnc/dnc.py:113-115, 166, 170)
  reference_init=True         the initialisation train.py:92 gives it (``init_param``, dnc/dnc.py:149-154):
                              the controller LSTM one orthogonal matrix over [x; r; h] and ONE gate bias
                              vector (dnc.py:30-31; ``layers.init_lstm_cell_as_one_matrix_``: bias_hh
                              is held at zero and does not train), xavier-normal interface weights, one
                              block per interface Linear (dnc/memory.py:30-39, independent_linears=True by
                              default, dnc.py:77; SAM's is one Linear) and output weights (dnc.py:140),
                              every bias zero. Without it: orthogonal weight matrices (each of the
                              LSTM's two separately), every bias zero, both LSTM biases train.
Biases at initialisation: all zero (nn.LSTMCell's bias_ih and bias_hh, the interface's, the output
layer's), except the forget block of bias_ih, which holds ``forget_bias``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from models.base import ModelConfig, RecurrentModel, State, config_variant, register_model
from models.layers import (
    GateProjection,
    init_lstm_cell_as_one_matrix_,
    init_recurrent_weights_,
    xavier_normal_blocks_,
)
from models.memory import content_weights_heads, erase_add_write, oneplus, read_weighted_heads

READ_MODES = 3  # pi^i_t: backward, content, forward
READ_MODES_OVER = ("modes", "heads")  # axis of the read-mode softmax: the paper's, the authors' code's
INTERFACE_ACTIVATIONS = ("paper", "code")
# options where the ARMIN authors' pytorch-dnc code departs from the paper
CONTROLLER_CODE_OPTIONS = ("forget_bias", "learned_initial_state", "reference_init")  # shared with SAM
CODE_VARIANT_OPTIONS = ("read_modes_over", "cosine_over_width", "interface_activations") + CONTROLLER_CODE_OPTIONS


@dataclass
class ControllerConfig(ModelConfig):
    """The sizes and options of ``MemoryController``, shared by DNC and SAM."""

    hidden_size: int = 120  # d_h: controller LSTM size (Table 1: 120)
    memory_slots: int = 128  # N (Table 1: 128)
    memory_width: int = 20  # W; 0 means W = d_h (Table 1: 20)
    read_heads: int = 1  # R (the ARMIN authors' runs: 1)
    forget_bias: float = 0.0  # added to the LSTM forget-gate bias at init; the authors' code uses 1.0
    learned_initial_state: bool = False  # code: learned h_0, c_0 (tanh of a vector) and r_0, zeros at init
    reference_init: bool = False  # code: the authors' init_param (module docstring): one LSTM matrix, one bias

    @property
    def W(self) -> int:
        return self.memory_width or self.hidden_size

    def validate(self) -> None:
        super().validate()
        if self.memory_slots < 1:
            raise ValueError(f"{type(self).__name__} needs memory_slots >= 1, got {self.memory_slots}")
        if self.read_heads < 1:
            raise ValueError(f"read_heads must be >= 1, got {self.read_heads}")


@dataclass
class DNCConfig(ControllerConfig):
    read_modes_over: str = "modes"  # softmax of pi over the 3 modes (paper) or over the heads (code)
    cosine_over_width: bool = False  # code: content similarity cos / W instead of cos
    interface_activations: str = "paper"  # "code": tanh keys and write vector, softplus strengths

    def validate(self) -> None:
        super().validate()
        if self.read_modes_over not in READ_MODES_OVER:
            raise ValueError(f"read_modes_over must be one of {READ_MODES_OVER}, got {self.read_modes_over!r}")
        if self.interface_activations not in INTERFACE_ACTIVATIONS:
            raise ValueError(
                f"interface_activations must be one of {INTERFACE_ACTIVATIONS}, got {self.interface_activations!r}"
            )


class MemoryController(RecurrentModel):
    """What DNC and SAM share: an LSTM controller over [x_t, r_{t-1}], one fused Linear producing the
    whole interface vector xi_t = W_xi h_t (split into ``interface_sizes`` blocks), and the output
    features [h_t, r_t] the output layer reads. Recurrent state "h", "c" and "r" (B, R W); a subclass
    adds its memory's state and implements ``cell``."""

    config_class = ControllerConfig
    code_variant_options: tuple[str, ...] = CONTROLLER_CODE_OPTIONS  # recorded by ``variant``
    supports_vectorized_seeds = True
    # reference_init: the reference's interface is one Linear per block (DNC) or one for all (SAM)
    interface_independent: ClassVar[bool] = True

    def __init__(self, config: ControllerConfig, interface_sizes: list[int]):
        super().__init__(config)
        d_i, d_h, R, W = config.input_size, config.hidden_size, config.read_heads, config.W
        self.d_h, self.R, self.N, self.W = d_h, R, config.memory_slots, W
        self.controller = nn.LSTMCell(d_i + R * W, d_h)  # over chi_t = [x_t; r_{t-1}]
        self.W_xi = GateProjection(d_h, interface_sizes)  # xi_t = W_xi h_t, all blocks at once
        self.readout = nn.Linear(d_h + R * W, config.output_size)  # y_t = W_y h_t + W_r r_t
        init_recurrent_weights_(self)  # orthogonal matrices, every bias zero (bias_ih and bias_hh included)
        if config.reference_init:
            self.reference_init_()
        with torch.no_grad():
            self.controller.bias_ih[d_h : 2 * d_h] = config.forget_bias  # f: torch packs i, f, g, o
        if config.learned_initial_state:
            self.h_0 = nn.Parameter(torch.zeros(d_h))
            self.c_0 = nn.Parameter(torch.zeros(d_h))
            self.r_0 = nn.Parameter(torch.zeros(R * W))

    @torch.no_grad()
    def reference_init_(self) -> None:
        """The authors' ``init_param`` (dnc/dnc.py:149-154): their LSTM (one orthogonal matrix, one bias),
        xavier-normal interface and output weights (per interface Linear), biases zero."""
        init_lstm_cell_as_one_matrix_(self.controller)
        sizes = self.W_xi.sizes if self.interface_independent else [sum(self.W_xi.sizes)]
        xavier_normal_blocks_(self.W_xi.linear.weight, sizes)
        nn.init.xavier_normal_(self.readout.weight)

    def controller_state(self, batch_size: int, like: dict) -> State:
        B, d_h = batch_size, self.d_h
        if self.config.learned_initial_state:
            return {
                "h": torch.tanh(self.h_0).to(**like).expand(B, d_h),
                "c": torch.tanh(self.c_0).to(**like).expand(B, d_h),
                "r": self.r_0.to(**like).expand(B, self.R * self.W),
            }
        h, c = torch.zeros(B, d_h, **like), torch.zeros(B, d_h, **like)
        return {"h": h, "c": c, "r": torch.zeros(B, self.R * self.W, **like)}

    def control(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """h_t, c_t = LSTM([x_t; r_{t-1}], (h_{t-1}, c_{t-1})) and the interface blocks of W_xi h_t."""
        h, c = self.controller(torch.cat([x_t, state["r"]], dim=-1), (state["h"], state["c"]))  # (B, d_h)
        return h, c, self.W_xi(h)

    def eval_matches_train(self) -> bool:
        return True  # no sampling, dropout or separate inference path

    def variant(self) -> str:
        """"paper", or "code:" and the authors'-code options in effect."""
        return config_variant(self.config, self.code_variant_options)


# --- the dynamic memory, one function per Methods equation ------------------------------------------
def retention(f: torch.Tensor, w_r_prev: torch.Tensor) -> torch.Tensor:
    """psi_t = prod_i (1 - f^i_t w^{r,i}_{t-1})   f (B, R), w_r_prev (B, R, N) -> (B, N).
    One read head: the one factor (no product, whose backward is costly)."""
    factors = 1.0 - f.unsqueeze(2) * w_r_prev  # (B, R, N)
    return factors.squeeze(1) if factors.shape[1] == 1 else factors.prod(dim=1)


def usage(u_prev: torch.Tensor, w_w_prev: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """u_t = (u_{t-1} + w^w_{t-1} - u_{t-1} o w^w_{t-1}) o psi_t   all (B, N)."""
    return (u_prev + w_w_prev - u_prev * w_w_prev) * psi


def allocation(u: torch.Tensor) -> torch.Tensor:
    """a_t[phi_t[j]] = (1 - u_t[phi_t[j]]) prod_{i<j} u_t[phi_t[i]]   u (B, N) -> (B, N).

    phi_t lists the slots by usage, ascending (ties: lower index first), so the least used slot gets
    the most weight. Computed in sorted order and scattered back."""
    u_sorted, phi = torch.sort(u, dim=-1, stable=True)  # (B, N) the free list
    ones = torch.ones_like(u_sorted[:, :1])
    used_before = torch.cumprod(torch.cat([ones, u_sorted[:, :-1]], dim=-1), dim=-1)  # prod_{i<j}, exclusive
    return torch.zeros_like(u).scatter(1, phi, (1.0 - u_sorted) * used_before)


def link_matrix(L_prev: torch.Tensor, w_w: torch.Tensor, p_prev: torch.Tensor, diagonal: torch.Tensor) -> torch.Tensor:
    """L_t[i,j] = (1 - w^w_t[i] - w^w_t[j]) L_{t-1}[i,j] + w^w_t[i] p_{t-1}[j], L_t[i,i] = 0.
    L_prev (B, N, N), w_w and p_prev (B, N), ``diagonal`` the (N, N) bool identity -> (B, N, N)."""
    w_i, w_j = w_w.unsqueeze(2), w_w.unsqueeze(1)  # (B, N, 1), (B, 1, N)
    L = (1.0 - w_i - w_j) * L_prev + w_i * p_prev.unsqueeze(1)
    return L.masked_fill(diagonal, 0.0)


def precedence(p_prev: torch.Tensor, w_w: torch.Tensor) -> torch.Tensor:
    """p_t = (1 - sum_i w^w_t[i]) p_{t-1} + w^w_t   (B, N)."""
    return (1.0 - w_w.sum(dim=1, keepdim=True)) * p_prev + w_w


def directional_weights(L: torch.Tensor, w_r_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward f^i_t = L_t w^{r,i}_{t-1} and backward b^i_t = L_t^T w^{r,i}_{t-1} for every head:
    L (B, N, N), w_r_prev (B, R, N) -> f, b (B, R, N)."""
    f = torch.bmm(w_r_prev, L.transpose(1, 2))  # row i of f^T: sum_j L[i, j] w[j]
    b = torch.bmm(w_r_prev, L)  # sum_j L[j, i] w[j]
    return f, b


def content_weighting(M: torch.Tensor, k: torch.Tensor, beta: torch.Tensor, over_width: bool = False) -> torch.Tensor:
    """C(M, k, beta)[i] = softmax_i(beta D(k, M[i])), D the cosine similarity ('Content-based addressing'):
    M (B, N, W), keys k (B, H, W), beta (B, H, 1) -> (B, H, N). ``over_width``: D = cos / W, the authors'
    code, whose norms are expanded to (B, N, W) before a bmm (dnc/util.py:64-68)."""
    scale = 1.0 / M.shape[2] if over_width else 1.0
    return content_weights_heads(M, k, scale * beta)


def read_mode_weights(logits: torch.Tensor, over: str = "modes") -> torch.Tensor:
    """pi^i_t from its logits (B, R, 3): a softmax over the 3 modes (the paper), or over the R heads
    (``over="heads"``, the authors' code, dnc/memory.py:246), which with one head is exactly 1 for
    every mode."""
    return F.softmax(logits, dim=-1 if over == "modes" else 1)


@register_model("dnc")
class DNC(MemoryController):
    config_class = DNCConfig
    code_variant_options = CODE_VARIANT_OPTIONS

    def __init__(self, config: DNCConfig):
        R, W = config.read_heads, config.W
        # xi_t = [k^r (R W); beta^r (R); k^w (W); beta^w (1); e (W); v (W); f (R); g^a (1); g^w (1); pi (3 R)]
        super().__init__(config, [R * W, R, W, 1, W, W, R, 1, 1, READ_MODES * R])
        self.register_buffer("diagonal", torch.eye(self.N, dtype=torch.bool), persistent=False)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        like = self._like(device, dtype)
        B, R, N, W = batch_size, self.R, self.N, self.W
        return {
            **self.controller_state(B, like),
            "M": torch.zeros(B, N, W, **like),  # memory
            "u": torch.zeros(B, N, **like),  # usage
            "w_w": torch.zeros(B, N, **like),  # write weighting
            "w_r": torch.zeros(B, R, N, **like),  # read weightings
            "p": torch.zeros(B, N, **like),  # precedence
            "L": torch.zeros(B, N, N, **like),  # temporal link matrix
        }

    def interface(self, xi: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The interface blocks, squashed as in the Methods ('Interface parameters'): oneplus
        strengths, sigmoid erase vector and gates, softmax read modes; keys and write vector as they
        are. ``interface_activations="code"``: tanh keys and write vector, softplus strengths
        (authors' code, dnc/memory.py:228-238); ``read_modes_over="heads"``: see ``read_mode_weights``."""
        cfg, R, W = self.config, self.R, self.W
        k_r, beta_r, k_w, beta_w, e, v, f, g_a, g_w, pi = xi
        B = k_r.shape[0]
        strength = oneplus
        if cfg.interface_activations == "code":
            k_r, k_w, v, strength = torch.tanh(k_r), torch.tanh(k_w), torch.tanh(v), F.softplus
        k_r, beta_r = k_r.view(B, R, W), strength(beta_r).unsqueeze(2)  # read keys (B, R, W), strengths (B, R, 1)
        k_w, beta_w = k_w.unsqueeze(1), strength(beta_w).unsqueeze(2)  # (B, 1, W), (B, 1, 1)
        e, v = torch.sigmoid(e).unsqueeze(1), v.unsqueeze(1)  # erase and write vectors (B, 1, W)
        f, g_a, g_w = torch.sigmoid(f), torch.sigmoid(g_a), torch.sigmoid(g_w)  # (B, R), (B, 1), (B, 1)
        pi = read_mode_weights(pi.view(B, R, READ_MODES), cfg.read_modes_over)  # (B, R, 3)
        return k_r, beta_r, k_w, beta_w, e, v, f, g_a, g_w, pi

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        B, R, W = x_t.shape[0], self.R, self.W
        over_width = self.config.cosine_over_width
        h, c, xi = self.control(x_t, state)
        k_r, beta_r, k_w, beta_w, e, v, f, g_a, g_w, pi = self.interface(xi)
        M, w_r_prev = state["M"], state["w_r"]

        # dynamic memory allocation
        u = usage(state["u"], state["w_w"], retention(f, w_r_prev))  # (B, N)
        a = allocation(u)  # (B, N)
        # write weighting, then erase and write
        c_w = content_weighting(M, k_w, beta_w, over_width).squeeze(1)  # (B, N)
        w_w = g_w * torch.lerp(c_w, a, g_a)  # g_w (g_a a + (1 - g_a) c_w)   (B, N)
        M = erase_add_write(M, w_w.unsqueeze(1), e, v)  # (B, N, W)
        # temporal memory linkage
        L = link_matrix(state["L"], w_w, state["p"], self.diagonal)  # (B, N, N)
        p = precedence(state["p"], w_w)  # (B, N)
        # read weightings: a mix of backward, content and forward
        fwd, bwd = directional_weights(L, w_r_prev)  # (B, R, N)
        c_r = content_weighting(M, k_r, beta_r, over_width)  # (B, R, N)
        # w_r = pi[0] b + pi[1] c + pi[2] f, the three modes weighted at once   (B, R, N)
        w_r = (pi.unsqueeze(3) * torch.stack([bwd, c_r, fwd], dim=2)).sum(dim=2)
        r = read_weighted_heads(M, w_r).reshape(B, R * W)  # (B, R W)

        if self.memory_trace is not None:
            self.memory_trace.append({"read": w_r.detach(), "write": w_w.detach()[:, None], "usage": u.detach(),
                                      "allocation": a.detach()})
        new_state = {"h": h, "c": c, "r": r, "M": M, "u": u, "w_w": w_w, "w_r": w_r, "p": p, "L": L}
        return torch.cat([h, r], dim=-1), new_state
