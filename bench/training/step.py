"""The one training step both loops take: forward, loss, backward, gradient clipping, optimiser step.

What differs between the loops is explicit: the initial state (``state``: None, the model's initial
state, for the episodic loop and pMNIST; the carried, detached end state of the previous batch for
truncated BPTT) and which clipping the configuration asks for (``clip_value``, ``clip_norm``; the
same in both loops). A step whose loss is not finite changes nothing: no backward, no update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch

from bench.run_metrics import synchronize
from models.base import RecurrentModel, State
from tasks.base import Batch

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def make_optimizer(model: RecurrentModel, cfg) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=cfg.alpha, momentum=cfg.momentum)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)


def clip_gradients(params: Iterable[torch.Tensor], clip_value: float, clip_norm: float) -> None:
    """Clip by value first (every gradient entry into [-clip_value, clip_value], the authors'
    algorithmic code), then by the global L2 norm of all gradients (at most clip_norm, the authors'
    pMNIST code). 0 turns either off."""
    params = [p for p in params if p.grad is not None]
    if clip_value > 0:
        torch.nn.utils.clip_grad_value_(params, clip_value)
    if clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, clip_norm)


def clip_gradients_per_seed(params: Iterable[torch.Tensor], clip_value: float, clip_norm: float) -> None:
    """``clip_gradients`` for stacked seeds (every parameter's first axis is the seed): each seed's
    gradients clipped as its ordinary run clips them, by value, then by the L2 norm of its own
    gradients (``torch.nn.utils.clip_grad_norm_``'s rule: scale by clip_norm / (norm + 1e-6) if below 1)."""
    params = [p for p in params if p.grad is not None]
    if clip_value > 0:
        torch.nn.utils.clip_grad_value_(params, clip_value)
    if clip_norm > 0 and params:
        norms = torch.stack([p.grad.flatten(1).norm(dim=1) for p in params]).norm(dim=0)  # (S,)
        scale = (clip_norm / (norms + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.mul_(scale.view(-1, *([1] * (p.grad.dim() - 1))))


@dataclass
class StepResult:
    loss: float  # the training loss of the batch (before the update)
    end_state: State | None  # the model's state after the batch (still attached to the graph)
    applied: bool  # False: the loss was not finite and the weights were left as they were


def train_step(model: RecurrentModel, task, batch: Batch, optimizer: torch.optim.Optimizer, cfg,
               state: State | None = None) -> StepResult:
    """One update on ``batch`` (already on the model's device and dtype), starting from ``state``
    (None: the model's initial state). Waits for queued GPU work, so a timer around it covers it."""
    logits, end_state = model(batch.inputs, state)
    loss = task.loss(logits, batch)
    value = loss.item()
    if not math.isfinite(value):
        return StepResult(value, end_state, applied=False)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clip_gradients(model.parameters(), cfg.clip_value, cfg.clip_norm)
    optimizer.step()
    synchronize(batch.inputs.device)
    return StepResult(value, end_state, applied=True)
