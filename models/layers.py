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


def init_recurrent_weights_(module: nn.Module) -> None:
    """Orthogonal weight matrices and zero biases, as the ARMIN authors initialise their cells."""
    for name, param in module.named_parameters():
        if param.dim() >= 2:
            nn.init.orthogonal_(param)
        elif name.endswith("bias"):
            nn.init.zeros_(param)
