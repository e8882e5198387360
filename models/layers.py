"""Small building blocks shared by the recurrent cells: a fused gate projection with optional layer
normalisation (Ba et al. 2016), zoneout (Krueger et al. 2016), the initialisations, and the affine
map of a recurrence whose weight is transposed once per sequence (``Linear``)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from models import noise


# --- an affine map used at every step: its weight transposed once per sequence ---------------------
class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same values) for a map applied at every time step: inside
    ``sequence_weights`` its weight is transposed once per sequence, and a step is one ``addmm``
    (``F.linear`` transposes the weight at every call, forward and backward). Elsewhere, or for inputs
    that are not (B, in) with a bias, it is ``nn.Linear``."""

    weight_t: torch.Tensor | None = None  # (in, out) while a sequence is unrolled

    def start_sequence(self) -> None:
        self.weight_t = self.weight.t()

    def end_sequence(self) -> None:
        self.weight_t = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight_t is None or (x.dim() != 2 and self.bias is not None):
            return F.linear(x, self.weight, self.bias)
        if x.dim() != 2:  # (..., in) without bias: what F.linear computes, with the weight transposed already
            return torch.matmul(x, self.weight_t)
        return x.mm(self.weight_t) if self.bias is None else torch.addmm(self.bias, x, self.weight_t)


@contextmanager
def sequence_weights(model: nn.Module) -> Iterator[None]:
    """While a sequence is unrolled, every ``Linear`` of ``model`` holds its transposed weight, and every
    other module with ``start_sequence`` / ``end_sequence`` methods holds what it computes once per
    sequence from parameters alone (e.g. TARDIS's address term W_a a_i)."""
    layers = [m for m in model.modules() if hasattr(m, "start_sequence")]
    for m in layers:
        m.start_sequence()
    try:
        yield
    finally:
        for m in layers:
            m.end_sequence()


class GateProjection(nn.Module):
    """One fused affine map W[inputs] + b producing all gates of an equation at once, optionally
    layer-normalised per gate block. ``sizes`` lists the widths of the blocks in the output;
    ``offsets`` (one number per block, e.g. a forget-gate bias) are constants added to the blocks'
    pre-activations (after the layer norm), not parameters."""

    def __init__(self, in_features: int, sizes: list[int], layer_norm: bool = False,
                 offsets: list[float] | None = None):
        super().__init__()
        self.sizes = list(sizes)
        self.linear = Linear(in_features, sum(self.sizes))
        self.norms = nn.ModuleList(nn.LayerNorm(s) for s in self.sizes) if layer_norm else None
        self.offsets = [float(o) for o in offsets] if offsets and any(offsets) else None
        offset = torch.cat([torch.full((s,), o) for s, o in zip(self.sizes, self.offsets)]) if self.offsets else None
        self.register_buffer("offset", offset, persistent=False)  # (sum(sizes),), not in checkpoints

    def forward(self, inputs: torch.Tensor, activation=None, raw: tuple[int, ...] = ()) -> list[torch.Tensor]:
        """The blocks of W inputs + b (each layer-normalised when asked, then shifted by its offset),
        passed through ``activation`` except the blocks whose indices are in ``raw``, returned as
        pre-activations. Without layer norm the offsets are one addition and the activation one call
        over the whole output (its value on a raw block unused)."""
        pre = self.linear(inputs)
        if self.norms is not None:
            blocks = [norm(b) for norm, b in zip(self.norms, pre.split(self.sizes, dim=-1))]
            if self.offsets:
                blocks = [b + o if o else b for b, o in zip(blocks, self.offsets)]
            return [b if activation is None or k in raw else activation(b) for k, b in enumerate(blocks)]
        if self.offset is not None:
            pre = pre + self.offset
        if activation is None:
            return list(pre.split(self.sizes, dim=-1))
        blocks = list(activation(pre).split(self.sizes, dim=-1))
        for k in raw:
            blocks[k] = pre.narrow(-1, sum(self.sizes[:k]), self.sizes[k])
        return blocks


def zoneout(h_new: torch.Tensor, h_prev: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Keep each unit's previous value with probability p while training; use the expectation at
    evaluation. p = 0 returns h_new unchanged."""
    if p <= 0.0:
        return h_new
    if training:
        keep = noise.bernoulli(torch.full_like(h_new, p))
        return keep * h_prev + (1.0 - keep) * h_new
    return p * h_prev + (1.0 - p) * h_new


def is_bias(name: str) -> bool:
    """A bias parameter: its own name (after the last dot) starts with "bias" (nn.Linear's ``bias``,
    nn.LSTMCell's ``bias_ih`` and ``bias_hh``, nn.LSTM's ``bias_ih_l0``, ...)."""
    return name.rsplit(".", 1)[-1].startswith("bias")


def init_recurrent_weights_(module: nn.Module) -> None:
    """Orthogonal weight matrices and zero biases (every ``is_bias`` parameter, nn.LSTMCell's two
    included), as the ARMIN authors initialise their cells."""
    for name, param in module.named_parameters():
        if param.dim() >= 2:
            nn.init.orthogonal_(param)
        elif is_bias(name):
            nn.init.zeros_(param)


@torch.no_grad()
def init_lstm_cell_as_one_matrix_(cell: nn.LSTMCell) -> None:
    """The LSTM of the ARMIN authors' code (algorithimic_tasks/dnc/dnc.py:30-31, marnn.py:27-28;
    helper.py:8-16): one orthogonal matrix over [x; h] to the 4 d_h gates and one zero bias vector.
    Here that matrix is [weight_ih | weight_hh] (4 d_h, d_x + d_h), split by columns (their gate
    order i, j, f, o permutes its rows, which keeps it orthogonal); the one bias is ``bias_ih``,
    and ``bias_hh`` stays zero and does not train (two bias vectors that get the same gradient would
    move twice as fast under RMSprop as their one)."""
    d_x = cell.weight_ih.shape[1]
    full = torch.empty(cell.weight_ih.shape[0], d_x + cell.weight_hh.shape[1])
    nn.init.orthogonal_(full)
    cell.weight_ih.copy_(full[:, :d_x])
    cell.weight_hh.copy_(full[:, d_x:])
    cell.bias_ih.zero_()
    cell.bias_hh.zero_()
    cell.bias_hh.requires_grad_(False)


@torch.no_grad()
def xavier_normal_blocks_(weight: torch.Tensor, sizes: list[int]) -> None:
    """xavier-normal on each block of rows of ``weight`` (out, in), one block per size, as separate
    nn.Linear layers of those output widths would get it."""
    for block in weight.split(list(sizes), dim=0):
        if block.numel():
            nn.init.xavier_normal_(block)
