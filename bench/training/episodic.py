"""The episodic training loop (the algorithmic tasks): a fresh initial state every iteration, the
shared step (bench/training/step.py), validation on freshly generated batches every ``val_every``
iterations, the paper's "solved" rule, the divergence rule (bench/training/divergence.py), and
checkpoints from which a killed run continues bit for bit.

Timing: ``train_time_s`` covers only training iterations (batch generation, forward, backward,
clipping, optimiser step); ``val_time_s`` covers validation; ``wall_time_s`` is both plus overhead.

Checkpoints (when ``train.output_dir`` and the run's fingerprint are given; ``bench run`` gives both):
every ``checkpoint_every`` iterations the loop writes ``OUT/checkpoints/NAME.last.pt`` with all that
the rest of the run depends on: weights, optimiser state, the task generator's and the validation
generator's states, the global RNG states (torch, CUDA, Python, numpy; the gumbel noise draws from
torch's), the curve so far (which holds the solved rule's window), the mean-training-loss
accumulators, the divergence rule's state and the iteration (the temperature schedule's position).
Running the same run again continues from there and gives the run that never stopped: the same
curve, iterations-to-solve and final weights (on CPU; GPU kernels may not be deterministic). The
checkpoint is deleted when the run finishes; a run that raised keeps it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import torch

from bench.config import TrainConfig
from bench.status import SOLVED, UNSOLVED
from bench.training.checkpoint import CheckpointFile, rng_state, run_name, set_rng_state
from bench.training.divergence import DivergenceRule
from bench.training.outcome import TrainOutcome, ValidationPoint
from bench.training.registry import COMMON_OPTIONS, register_trainer
from bench.training.step import make_optimizer, train_step
from models.base import RecurrentModel
from tasks.base import Task

VALIDATION_SEED_OFFSET = 1_000_003  # validation data comes from its own generator, never the training stream

EPISODIC_OPTIONS = COMMON_OPTIONS | {
    "val_every", "val_batches", "solved_threshold", "solved_window", "solved_max_fraction_above", "stop_when_solved",
    "train_loss_window", "stop_after_both_measures",
}


def is_solved(val_losses: list[float], cfg: TrainConfig) -> bool:
    """The ARMIN paper's rule (section 4.1): the latest validation loss is below the threshold and,
    of the last ``solved_window`` validations, fewer than ``solved_max_fraction_above`` of them are
    above it. Needs a full window."""
    window = val_losses[-cfg.solved_window :]
    if len(window) < cfg.solved_window or not window[-1] < cfg.solved_threshold:
        return False
    above = sum(loss > cfg.solved_threshold for loss in window)
    return above < cfg.solved_max_fraction_above * cfg.solved_window


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


def initial_validation_loss(model: RecurrentModel, task: Task, cfg: TrainConfig, seed: int) -> float:
    """The validation loss of the untrained model on the batches of the first validation (the
    divergence rule's reference), on generators and RNG states of its own: the run is unchanged."""
    p = next(model.parameters())
    with torch.random.fork_rng(devices=[p.device] if p.device.type == "cuda" else []):
        return validate(model, task, cfg, torch.Generator().manual_seed(seed + VALIDATION_SEED_OFFSET))


@register_trainer("episodic", uses=EPISODIC_OPTIONS)
def train(
    model: RecurrentModel,
    task: Task,
    cfg: TrainConfig,
    seed: int,
    on_iteration: Callable[[int, float], None] | None = None,
    on_validation: Callable[[ValidationPoint], None] | None = None,
    *,
    fingerprint: str | None = None,
    on_epoch: Callable[[dict], None] | None = None,  # noqa: ARG001 - no epochs here; every loop takes the same hooks
) -> TrainOutcome:
    """Train ``model`` on ``task`` until solved, diverged or the budget runs out. ``fingerprint``
    (the RunSpec's spec_hash) names the checkpoint; without it or ``cfg.output_dir`` none is written."""
    start = time.perf_counter()
    p = next(model.parameters())
    device = p.device
    optimizer = make_optimizer(model, cfg)
    train_gen = torch.Generator().manual_seed(seed)
    val_gen = torch.Generator().manual_seed(seed + VALIDATION_SEED_OFFSET)
    divergence = DivergenceRule.from_config(cfg)
    outcome = TrainOutcome(status=UNSOLVED)
    done, loss_sum, loss_count = 0, 0.0, 0  # iterations done; training loss since the last validation
    wall_before_s = 0.0  # wall time of earlier sessions of this run (before a resume)
    model.train()

    checkpoint = None
    if cfg.output_dir and fingerprint and cfg.checkpoint_every:
        checkpoint = CheckpointFile.in_folder(cfg.output_dir, run_name(model, task, seed, fingerprint), "last", fingerprint)
    saved = checkpoint.load(device) if checkpoint else None
    if saved is not None:  # continue the run that stopped
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        train_gen.set_state(saved["train_generator"].cpu())  # loaded onto the model's device
        val_gen.set_state(saved["val_generator"].cpu())
        set_rng_state(saved["rng"], device)
        done, loss_sum, loss_count = saved["iteration"], saved["loss_sum"], saved["loss_count"]
        divergence.load_state(saved["divergence"])
        outcome = _outcome_from(saved["outcome"])
        model.set_inverse_temperature(saved["inverse_temperature"])
        wall_before_s = outcome.wall_time_s
        for point in outcome.curve:  # the resumed run's curve is whole in curves.csv too
            if on_validation:
                on_validation(point)
    elif divergence.patience:
        t0 = time.perf_counter()
        divergence.reference = initial_validation_loss(model, task, cfg, seed)
        outcome.val_time_s += time.perf_counter() - t0

    for iteration in range(done + 1, cfg.iterations + 1):
        t0 = time.perf_counter()
        model.set_inverse_temperature(cfg.inverse_temperature.at(iteration - 1))
        batch = task.sample(cfg.batch_size, train_gen).to(device, p.dtype)
        step = train_step(model, task, batch, optimizer, cfg)  # fresh initial state every iteration
        if not step.applied:
            outcome.diverge(iteration, f"training loss is {step.loss}")
            break
        outcome.train_time_s += time.perf_counter() - t0
        outcome.iterations_run = iteration
        outcome.train_steps += batch.steps
        loss_sum, loss_count = loss_sum + step.loss, loss_count + 1
        outcome.record_train_loss(iteration, step.loss, cfg.train_loss_window, cfg.solved_threshold)
        if on_iteration:
            on_iteration(iteration, step.loss)

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
            reason = divergence.check_validation(val_loss)
            if reason:
                outcome.diverge(iteration, reason)
                break
            if outcome.iterations_to_solve is None and is_solved([q.val_loss for q in outcome.curve], cfg):
                outcome.status = SOLVED
                outcome.iterations_to_solve = iteration
                outcome.time_to_solve_s = outcome.train_time_s
        if outcome.should_stop(cfg.stop_when_solved, cfg.stop_after_both_measures):
            break

        if checkpoint and iteration % cfg.checkpoint_every == 0 and iteration < cfg.iterations:
            outcome.wall_time_s = wall_before_s + time.perf_counter() - start
            checkpoint.save(
                model=model.state_dict(), optimizer=optimizer.state_dict(), rng=rng_state(device),
                train_generator=train_gen.get_state(), val_generator=val_gen.get_state(),
                iteration=iteration, loss_sum=loss_sum, loss_count=loss_count, divergence=divergence.state(),
                outcome=_outcome_to(outcome), inverse_temperature=model.inverse_temperature,
            )

    outcome.wall_time_s = wall_before_s + time.perf_counter() - start
    if checkpoint:
        checkpoint.delete()  # the run finished: a rerun trains afresh (--resume skips it by its row)
    return outcome


def _outcome_to(outcome: TrainOutcome) -> dict:
    return {k: v for k, v in dataclasses.asdict(outcome).items() if k != "extra"}


def _outcome_from(saved: dict) -> TrainOutcome:
    saved = dict(saved)
    saved["curve"] = [ValidationPoint(**p) for p in saved["curve"]]
    return TrainOutcome(**saved)
