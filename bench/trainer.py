"""Training loop for one run: fresh state every iteration (the algorithmic tasks), optimiser and
clipping as configured, validation on freshly generated batches every K iterations, the paper's
"solved" rule, and divergence detection.

Timing: ``train_time_s`` covers only training iterations (batch generation, forward, backward,
clipping, optimiser step); ``val_time_s`` covers validation; ``wall_time_s`` is both plus overhead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from bench.config import TrainConfig
from bench.profiler import synchronize
from models.base import RecurrentModel
from tasks.base import Task

VALIDATION_SEED_OFFSET = 1_000_003  # validation data comes from its own generator, never the training stream
DTYPES = {"float32": torch.float32, "float64": torch.float64}


# Training loops by name. A task picks one with its ``trainer`` attribute (default "episodic": fresh
# state every iteration, as the algorithmic tasks); other loops (e.g. truncated BPTT over a stream)
# register here with the same signature as ``train`` and return a TrainOutcome.
TRAINERS: dict[str, Callable[..., "TrainOutcome"]] = {}


def register_trainer(name: str):
    def decorate(fn):
        TRAINERS[name] = fn
        return fn

    return decorate


def is_solved(val_losses: list[float], cfg: TrainConfig) -> bool:
    """The ARMIN paper's rule (section 4.1): the latest validation loss is below the threshold and,
    of the last ``solved_window`` validations, fewer than ``solved_max_fraction_above`` of them are
    above it. Needs a full window."""
    window = val_losses[-cfg.solved_window :]
    if len(window) < cfg.solved_window or not window[-1] < cfg.solved_threshold:
        return False
    above = sum(loss > cfg.solved_threshold for loss in window)
    return above < cfg.solved_max_fraction_above * cfg.solved_window


@dataclass
class ValidationPoint:
    iteration: int
    val_loss: float
    train_loss: float  # mean training loss since the previous validation
    inverse_temperature: float
    train_time_s: float  # training time so far


@dataclass
class TrainOutcome:
    status: str  # solved | unsolved | diverged
    iterations_run: int = 0
    iterations_to_solve: int | None = None
    time_to_solve_s: float | None = None  # training time until solved
    diverged_at: int | None = None
    curve: list[ValidationPoint] = field(default_factory=list)
    train_time_s: float = 0.0
    val_time_s: float = 0.0
    wall_time_s: float = 0.0
    train_steps: int = 0  # time steps x batch processed in training
    extra: dict = field(default_factory=dict)  # loop-specific result columns (metric_name, metric_value, ...)

    def final_val_loss(self, window: int) -> float | None:
        """Mean of the last ``window`` validation losses (the paper's figure for unsolved runs)."""
        losses = [p.val_loss for p in self.curve[-window:]]
        return sum(losses) / len(losses) if losses else None


def make_optimizer(model: RecurrentModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=cfg.alpha, momentum=cfg.momentum)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)


@torch.no_grad()
def validate(model: RecurrentModel, task: Task, cfg: TrainConfig, generator: torch.Generator) -> float:
    """Mean loss over freshly generated batches, in inference mode."""
    p = next(model.parameters())
    was_training = model.training
    model.eval()
    total = 0.0
    for _ in range(cfg.val_batches):
        batch = task.sample(cfg.val_batch_size, generator).to(p.device, p.dtype)
        logits, _ = model(batch.inputs)
        total += task.loss(logits, batch).item()
    model.train(was_training)
    return total / cfg.val_batches


@register_trainer("episodic")
def train(
    model: RecurrentModel,
    task: Task,
    cfg: TrainConfig,
    seed: int,
    on_iteration: Callable[[int, float], None] | None = None,
    on_validation: Callable[[ValidationPoint], None] | None = None,
) -> TrainOutcome:
    """Train ``model`` on ``task`` until solved or the budget runs out (or the loss is not finite)."""
    p = next(model.parameters())
    device = p.device
    optimizer = make_optimizer(model, cfg)
    params = [q for q in model.parameters() if q.requires_grad]
    train_gen = torch.Generator().manual_seed(seed)
    val_gen = torch.Generator().manual_seed(seed + VALIDATION_SEED_OFFSET)
    outcome = TrainOutcome(status="unsolved")
    val_losses: list[float] = []
    loss_sum, loss_count = 0.0, 0
    start = time.perf_counter()
    model.train()

    for iteration in range(1, cfg.iterations + 1):
        t0 = time.perf_counter()
        model.set_inverse_temperature(cfg.inverse_temperature.at(iteration - 1))
        batch = task.sample(cfg.batch_size, train_gen).to(device, p.dtype)
        logits, _ = model(batch.inputs)  # fresh initial state every iteration
        loss = task.loss(logits, batch)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            outcome.status, outcome.diverged_at = "diverged", iteration
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_value > 0:
            torch.nn.utils.clip_grad_value_(params, cfg.clip_value)
        optimizer.step()
        synchronize(device)
        outcome.train_time_s += time.perf_counter() - t0
        outcome.iterations_run = iteration
        outcome.train_steps += batch.steps
        loss_sum, loss_count = loss_sum + loss_value, loss_count + 1
        if on_iteration:
            on_iteration(iteration, loss_value)

        if iteration % cfg.val_every == 0 or iteration == cfg.iterations:
            t1 = time.perf_counter()
            val_loss = validate(model, task, cfg, val_gen)
            outcome.val_time_s += time.perf_counter() - t1
            point = ValidationPoint(
                iteration, val_loss, loss_sum / loss_count, model.inverse_temperature, outcome.train_time_s
            )
            loss_sum, loss_count = 0.0, 0
            outcome.curve.append(point)
            if on_validation:
                on_validation(point)
            if not math.isfinite(val_loss):
                outcome.status, outcome.diverged_at = "diverged", iteration
                break
            val_losses.append(val_loss)
            if outcome.iterations_to_solve is None and is_solved(val_losses, cfg):
                outcome.status = "solved"
                outcome.iterations_to_solve = iteration
                outcome.time_to_solve_s = outcome.train_time_s
                if cfg.stop_when_solved:
                    break

    outcome.wall_time_s = time.perf_counter() - start
    return outcome
