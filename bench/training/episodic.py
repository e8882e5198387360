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
checkpoint is deleted when the run finishes; a run that raised keeps it. The per-run state and its
checkpoint format (``EpisodicRun``) are shared with the seed group's loop (bench/training/group.py),
so either loop continues a checkpoint the other wrote.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from bench.config import TrainConfig
from bench.status import SOLVED, UNSOLVED
from bench.training.checkpoint import CheckpointFile, rng_state, run_name, set_rng_state
from bench.training.divergence import DivergenceRule
from bench.training.outcome import TrainOutcome, ValidationPoint
from bench.loop_options import EPISODIC_OPTIONS
from bench.training.registry import register_trainer
from bench.training.step import make_optimizer, train_step
from models.base import RecurrentModel
from tasks.base import Task

VALIDATION_SEED_OFFSET = 1_000_003  # validation data comes from its own generator, never the training stream

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


@dataclass
class EpisodicRun:
    """What one run of the episodic loop carries besides its model and optimiser: its data and
    validation generators, the divergence rule, the outcome so far (curve included, which holds the
    solved rule's window), the training loss since the last validation and the iterations done. The
    ordinary loop (``train``) and the seed group's loop (bench/training/group.py) keep one per run and
    checkpoint it in one format, so either loop continues a checkpoint either wrote.

    ``stopped``: the run ended before its budget (solved with ``stop_when_solved``, or diverged) but
    its checkpoint is kept: a seed group writes such checkpoints for its seeds that stopped while the
    others go on; a loop given one trains no further."""

    train_gen: torch.Generator
    val_gen: torch.Generator
    divergence: DivergenceRule
    outcome: TrainOutcome = field(default_factory=lambda: TrainOutcome(status=UNSOLVED))
    done: int = 0  # iterations done
    loss_sum: float = 0.0  # training loss since the last validation
    loss_count: int = 0
    wall_before_s: float = 0.0  # wall time of earlier sessions of this run (before a resume)
    stopped: bool = False

    @classmethod
    def fresh(cls, cfg: TrainConfig, seed: int) -> "EpisodicRun":
        return cls(torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + VALIDATION_SEED_OFFSET),
                   DivergenceRule.from_config(cfg))

    def set_reference(self, model: RecurrentModel, task: Task, cfg: TrainConfig, seed: int) -> None:
        """The divergence rule's reference: the untrained model's validation loss (if the rule uses one)."""
        if self.divergence.patience:
            t0 = time.perf_counter()
            self.divergence.reference = initial_validation_loss(model, task, cfg, seed)
            self.outcome.val_time_s += time.perf_counter() - t0

    def trained(self, iteration: int, loss: float, steps: int, elapsed_s: float, cfg: TrainConfig) -> None:
        """Bookkeeping of one applied training iteration (the authors' measure of "solved" included)."""
        self.outcome.train_time_s += elapsed_s
        self.outcome.iterations_run = self.done = iteration
        self.outcome.train_steps += steps
        self.loss_sum, self.loss_count = self.loss_sum + loss, self.loss_count + 1
        self.outcome.record_train_loss(iteration, loss, cfg.train_loss_window, cfg.solved_threshold)

    def stops(self, cfg: TrainConfig) -> bool:
        """Whether the run ends here: diverged, or solved with ``stop_when_solved`` (with
        ``stop_after_both_measures``, solved by the authors' measure too)."""
        return (self.outcome.diverged_at is not None
                or self.outcome.should_stop(cfg.stop_when_solved, cfg.stop_after_both_measures))

    def end_of_budget(self) -> None:
        """The budget is spent: a divergence streak still running counts (``DivergenceRule.check_end``),
        since no validation is left to end it."""
        reason = self.divergence.check_end() if self.outcome.diverged_at is None else None
        if reason:
            self.outcome.diverge(self.outcome.iterations_run, reason)

    @staticmethod
    def validates_at(iteration: int, cfg: TrainConfig) -> bool:
        return iteration % cfg.val_every == 0 or iteration == cfg.iterations

    def validation(self, model: RecurrentModel, task: Task, cfg: TrainConfig, iteration: int,
                   on_validation: Callable[[ValidationPoint], None] | None = None) -> bool:
        """Validate ``model`` (at its current inverse temperature), extend the curve, apply the
        divergence and solved rules; True if the run stops here (diverged, or solved with
        ``stop_when_solved``)."""
        outcome = self.outcome
        t1 = time.perf_counter()
        val_loss = validate(model, task, cfg, self.val_gen)
        outcome.val_time_s += time.perf_counter() - t1
        point = ValidationPoint(iteration, val_loss, self.loss_sum / self.loss_count, model.inverse_temperature,
                                outcome.train_time_s)
        self.loss_sum, self.loss_count = 0.0, 0
        outcome.curve.append(point)
        if on_validation:
            on_validation(point)
        reason = self.divergence.check_validation(val_loss)
        if reason:
            outcome.diverge(iteration, reason)
            return True
        if outcome.iterations_to_solve is None and is_solved([q.val_loss for q in outcome.curve], cfg):
            outcome.status, outcome.iterations_to_solve = SOLVED, iteration
            outcome.time_to_solve_s = outcome.train_time_s
        return self.stops(cfg)

    def checkpoint(self, model_state: dict, optimizer_state: dict, rng: dict, inverse_temperature: float,
                   **extra) -> dict:
        """A checkpoint's content (``CheckpointFile.save(**content)``); ``extra``: more keys."""
        return dict(
            model=model_state, optimizer=optimizer_state, rng=rng, train_generator=self.train_gen.get_state(),
            val_generator=self.val_gen.get_state(), iteration=self.done, loss_sum=self.loss_sum,
            loss_count=self.loss_count, divergence=self.divergence.state(), outcome=_outcome_to(self.outcome),
            inverse_temperature=inverse_temperature, stopped=self.stopped, **extra)

    def restore(self, saved: dict) -> None:
        """This run's state from a checkpoint's content (the model, optimiser and RNG are the caller's)."""
        self.train_gen.set_state(saved["train_generator"].cpu())  # loaded onto the model's device
        self.val_gen.set_state(saved["val_generator"].cpu())
        self.done, self.loss_sum, self.loss_count = saved["iteration"], saved["loss_sum"], saved["loss_count"]
        self.divergence.load_state(saved["divergence"])
        self.outcome = _outcome_from(saved["outcome"])
        self.wall_before_s = self.outcome.wall_time_s
        self.stopped = bool(saved.get("stopped", False))


def checkpoint_file(model: RecurrentModel, task: Task, cfg: TrainConfig, seed: int,
                    fingerprint: str | None) -> CheckpointFile | None:
    """The run's checkpoint (OUT/checkpoints/NAME.last.pt), or None when it writes none."""
    if cfg.output_dir and fingerprint and cfg.checkpoint_every:
        return CheckpointFile.in_folder(cfg.output_dir, run_name(model, task, seed, fingerprint), "last", fingerprint)
    return None


def checkpoint_due(iteration: int, cfg: TrainConfig) -> bool:
    return iteration % cfg.checkpoint_every == 0 and iteration < cfg.iterations


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
    run = EpisodicRun.fresh(cfg, seed)
    model.train()

    checkpoint = checkpoint_file(model, task, cfg, seed, fingerprint)
    saved = checkpoint.load(device) if checkpoint else None
    if saved is not None:  # continue the run that stopped
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        set_rng_state(saved["rng"], device)
        run.restore(saved)
        model.set_inverse_temperature(saved["inverse_temperature"])
        for point in run.outcome.curve:  # the resumed run's curve is whole in curves.csv too
            if on_validation:
                on_validation(point)
    else:
        run.set_reference(model, task, cfg, seed)

    outcome = run.outcome
    for iteration in range(run.done + 1, 0 if run.stopped else cfg.iterations + 1):
        t0 = time.perf_counter()
        model.set_inverse_temperature(cfg.inverse_temperature.at(iteration - 1))
        batch = task.sample(cfg.batch_size, run.train_gen).to(device, p.dtype)
        step = train_step(model, task, batch, optimizer, cfg)  # fresh initial state every iteration
        if not step.applied:
            outcome.diverge(iteration, f"training loss is {step.loss}")
            break
        run.trained(iteration, step.loss, batch.steps, time.perf_counter() - t0, cfg)
        if on_iteration:
            on_iteration(iteration, step.loss)
        if run.validates_at(iteration, cfg):
            run.validation(model, task, cfg, iteration, on_validation)
        if run.stops(cfg):
            break
        if checkpoint and checkpoint_due(iteration, cfg):
            outcome.wall_time_s = run.wall_before_s + time.perf_counter() - start
            checkpoint.save(**run.checkpoint(model.state_dict(), optimizer.state_dict(), rng_state(device),
                                             model.inverse_temperature))

    run.end_of_budget()
    outcome.wall_time_s = run.wall_before_s + time.perf_counter() - start
    if checkpoint:
        checkpoint.delete()  # the run finished: a rerun trains afresh (--resume skips it by its row)
    return outcome


def _outcome_to(outcome: TrainOutcome) -> dict:
    return {k: v for k, v in dataclasses.asdict(outcome).items() if k != "extra"}


def _outcome_from(saved: dict) -> TrainOutcome:
    saved = dict(saved)
    saved["curve"] = [ValidationPoint(**p) for p in saved["curve"]]
    return TrainOutcome(**saved)
