"""Small building blocks shared by the recurrent cells: a fused gate projection with optional layer
normalisation (Ba et al. 2016), zoneout (Krueger et al. 2016) and the initialisations."""

from __future__ import annotations

import torch
from torch import nn

from models import noise


class GateProjection(nn.Module):
    """One fused affine map W[inputs] + b producing all gates of an equation at once, optionally
    layer-normalised per gate block. ``sizes`` lists the widths of the blocks in the output."""

    def __init__(self, in_features: int, sizes: list[int], layer_norm: bool = False):
        super().__init__()
        self.sizes = list(sizes)
        self.linear = nn.Linear(in_features, sum(self.sizes))
        self.norms = nn.ModuleList(nn.LayerNorm(s) for s in self.sizes) if layer_norm else None

    def forward(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        blocks = self.linear(inputs).split(self.sizes, dim=-1)
        if self.norms is not None:
            blocks = [norm(b) for norm, b in zip(self.norms, blocks)]
        return list(blocks)


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
