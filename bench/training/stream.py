"""The epoch-based training loop of the real-data tasks (pMNIST, character-level language modelling),
registered as "stream" in bench.training.TRAINERS; a task picks it with ``trainer = "stream"`` and
offers the interface of tasks/_stream.py. Each batch is one call of the shared step
(bench/training/step.py); the divergence rule is bench/training/divergence.py's, its reference the
first validation.

Each epoch runs over the task's training split in batches. With ``task.carries_state`` (truncated
BPTT over contiguous streams) the model's whole recurrent state at the end of batch k (hidden vectors,
memory, read vectors, counters), detached from the graph, is the initial state of batch k + 1; each
epoch starts from the initial state. Otherwise every batch starts from the initial state.

After each epoch the validation split is evaluated in inference mode (``model.eval()``, no grad, batches
of ``train.val_batch_size``): the mean cross-entropy goes to the curve, the task's metric (accuracy,
bits per character) drives the best checkpoint, the learning-rate schedule (``lr_schedule``) and early
stopping (``early_stopping_patience``). The run ends after ``train.epochs`` epochs (0: no limit) or
``train.iterations`` iterations, whichever comes first (an epoch cut short is validated too). At the
end the best-validation weights are evaluated on the test split: ``metric_value`` in runs.csv.

Files, when ``train.output_dir`` and the run's fingerprint are given (``bench run`` gives both):
  OUT/checkpoints/NAME.last.pt  all a resume needs: weights, optimiser, schedule, RNG, the position in
                                the epoch, the carried state, the best so far, the curve, the divergence
                                rule's state. Written at the end of each epoch and every
                                ``checkpoint_every`` iterations; kept when the run finishes (marked
                                finished: a rerun then trains afresh).
  OUT/checkpoints/NAME.best.pt  the weights of the best validation metric
  OUT/epochs.csv                one row per epoch (EPOCH_COLUMNS)
NAME is model class, task class, seed and the run's fingerprint (RunSpec.spec_hash, see
bench/training/checkpoint.py): running the same run again continues from NAME.last.pt if that run
did not finish.

Timing as the episodic loop: ``train_time_s`` covers training iterations only (batch making, forward,
backward, clipping, optimiser step); ``val_time_s`` the validation and test passes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from bench.config import TrainConfig
from bench.run_metrics import PeakMemory
from bench.store import append_rows
from bench.status import UNSOLVED
from bench.training.checkpoint import CheckpointFile, rng_state, run_name, set_rng_state
from bench.training.divergence import DivergenceRule
from bench.training.outcome import TrainOutcome, ValidationPoint
from bench.loop_options import STREAM_OPTIONS
from bench.training.registry import register_trainer
from bench.training.step import make_optimizer, train_step
from models.base import RecurrentModel, State, detach_state

EPOCH_SEED_STRIDE = 1_000_003  # epoch e of seed s shuffles with generator seed s * stride + e
SECONDS_PER_MINUTE = 60.0

EPOCHS_FILE = "epochs.csv"
EPOCH_COLUMNS: dict[str, str] = {
    "run": "checkpoint name of the run (model class-task class-seed-fingerprint), as in runs.csv's checkpoint",
    "model_class": "registered model class",
    "task_class": "registered task class",
    "seed": "seed",
    "epoch": "epochs done (fractional when the iteration budget cut the epoch short)",
    "iteration": "training iterations done",
    "lr": "learning rate during the epoch",
    "inverse_temperature": "gumbel 1/tau during the epoch's last iteration",
    "train_loss": "mean training loss of the epoch",
    "val_loss": "mean cross-entropy per prediction on the validation split (eval mode)",
    "metric_name": "the task metric (accuracy, bpc)",
    "val_metric": "the metric on the validation split",
    "test_metric": "the metric on the test split after this epoch (train.test_every_epoch), else empty",
    "epoch_train_min": "minutes of training iterations in the epoch (excl. evaluation)",
    "epoch_wall_min": "minutes of the whole epoch, evaluation included",
    "peak_cuda_bytes": "torch.cuda.max_memory_allocated so far (GPU only)",
    "max_rss_bytes": "process peak resident set size so far",
    "timestamp": "UTC time the epoch ended",
}


@dataclass
class Progress:
    """Where a run stands; saved in every checkpoint."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches of the current epoch done
    iteration: int = 0
    best_metric: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0  # completed epochs since the best
    finished: bool = False
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    epoch_train_s: float = 0.0  # training time of the current epoch so far


def better(value: float, best: float | None, higher_is_better: bool) -> bool:
    if best is None:
        return True
    return value > best if higher_is_better else value < best


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, higher_is_better: bool):
    if cfg.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max" if higher_is_better else "min", factor=cfg.lr_decay, patience=cfg.lr_patience)
    if cfg.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step_epochs, gamma=cfg.lr_decay)
    return None


@torch.no_grad()
def evaluate(model: RecurrentModel, task, split: str, batch_size: int) -> tuple[float, float]:
    """(mean cross-entropy per prediction, task metric) over the whole ``split``, in inference mode;
    the state is carried between batches when the task carries it."""
    p = next(model.parameters())
    was_training = model.training
    model.eval()
    state: State | None = None
    loss_sum = metric_sum = count = 0.0
    for batch in task.batches(split, batch_size):
        batch = batch.to(p.device, p.dtype)
        logits, end_state = model(batch.inputs, state)
        state = end_state if task.carries_state else None
        predictions = float(batch.mask.sum())
        if predictions == 0:
            continue
        loss_sum += task.loss(logits, batch).item() * predictions
        total, n = task.metric_terms(logits, batch)
        metric_sum, count = metric_sum + total, count + n
    model.train(was_training)
    if count == 0:
        raise ValueError(f"the {split} split of {task.registry_name} has nothing to predict")
    return loss_sum / count, metric_sum / count


class RunFiles:
    """Checkpoints and the per-epoch log of one run under ``cfg.output_dir``."""

    def __init__(self, out_dir: Path, name: str, fingerprint: str, identity: dict[str, Any],
                 on_epoch: Callable[[dict[str, Any]], None] | None = None):
        self.name, self.identity, self.on_epoch = name, identity, on_epoch
        self.last = CheckpointFile.in_folder(out_dir, name, "last", fingerprint)
        self.best = CheckpointFile.in_folder(out_dir, name, "best", fingerprint)
        self.epochs = Path(out_dir) / EPOCHS_FILE

    @classmethod
    def for_run(cls, model: RecurrentModel, task, cfg: TrainConfig, seed: int, fingerprint: str,
                on_epoch: Callable[[dict[str, Any]], None] | None = None) -> "RunFiles":
        identity = {"model_class": model.registry_name, "task_class": task.registry_name, "seed": seed}
        return cls(Path(cfg.output_dir), run_name(model, task, seed, fingerprint), fingerprint, identity, on_epoch)

    def save_best(self, weights: dict[str, torch.Tensor], epoch: float, metric: float) -> None:
        self.best.save(model=weights, epoch=epoch, val_metric=metric)

    def log_epoch(self, row: dict[str, Any]) -> None:
        """An epoch's row: to ``on_epoch`` (in a sweep, which alone writes the results folder), else
        appended to OUT/epochs.csv here (the loop used on its own)."""
        row = {"run": self.name, **self.identity, **row}
        if self.on_epoch is not None:
            self.on_epoch(row)
        else:
            append_rows(self.epochs, EPOCH_COLUMNS, [row])


@dataclass
class Session:
    """Everything the loop changes, bundled so that a checkpoint can save and restore it."""

    model: RecurrentModel
    optimizer: torch.optim.Optimizer
    scheduler: Any
    divergence: DivergenceRule
    progress: Progress = field(default_factory=Progress)
    outcome: TrainOutcome = field(default_factory=lambda: TrainOutcome(status=UNSOLVED))
    state: State | None = None  # carried into the next training batch
    best_weights: dict[str, torch.Tensor] | None = None
    wall_before_s: float = 0.0  # wall time of earlier sessions of this run (before a resume)

    def checkpoint(self) -> dict[str, Any]:
        device = next(self.model.parameters()).device
        outcome = {k: v for k, v in dataclasses.asdict(self.outcome).items() if k != "extra"}
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "rng": rng_state(device),
            "progress": dataclasses.asdict(self.progress),
            "divergence": self.divergence.state(),
            "outcome": outcome,
            "state": self.state,
        }

    def restore(self, checkpoint: dict[str, Any]) -> None:
        device = next(self.model.parameters()).device
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler and checkpoint["scheduler"]:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        set_rng_state(checkpoint["rng"], device)
        self.progress = Progress(**checkpoint["progress"])
        self.divergence.load_state(checkpoint["divergence"])
        outcome = dict(checkpoint["outcome"])
        outcome["curve"] = [ValidationPoint(**p) for p in outcome["curve"]]
        self.outcome = TrainOutcome(**outcome)
        self.wall_before_s = self.outcome.wall_time_s
        self.state = checkpoint["state"]


def _temperature(cfg: TrainConfig, progress: Progress) -> float:
    count = progress.epoch if cfg.temperature_unit == "epoch" else progress.iteration
    return cfg.inverse_temperature.at(count)


@register_trainer("stream", uses=STREAM_OPTIONS)
def train_stream(
    model: RecurrentModel,
    task,
    cfg: TrainConfig,
    seed: int,
    on_iteration: Callable[[int, float], None] | None = None,
    on_validation: Callable[[ValidationPoint], None] | None = None,
    *,
    fingerprint: str | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainOutcome:
    """Train ``model`` on an epoch-based ``task`` (see the module docstring); returns the outcome with
    the test metric of the best-validation weights in ``extra``. ``fingerprint`` (the RunSpec's
    spec_hash) names the files; without it or ``cfg.output_dir`` none is written. ``on_epoch(row)``
    takes each epochs.csv row instead of this loop writing it (a sweep's one writer)."""
    start = time.perf_counter()
    p = next(model.parameters())
    device = p.device
    optimizer = make_optimizer(model, cfg)
    run = Session(model, optimizer, make_scheduler(optimizer, cfg, task.higher_is_better),
                  DivergenceRule.from_config(cfg))
    files = RunFiles.for_run(model, task, cfg, seed, fingerprint, on_epoch) if cfg.output_dir and fingerprint else None
    if files:
        last = files.last.load(device)
        if last is not None and not last["progress"]["finished"]:
            run.restore(last)
            best = files.best.load(device)
            run.best_weights = best["model"] if best else None
            for point in run.outcome.curve:  # the resumed run's curve is whole in curves.csv too
                if on_validation:
                    on_validation(point)
    memory = PeakMemory(device)
    per_epoch = task.num_batches("train", cfg.batch_size)
    progress, outcome = run.progress, run.outcome
    model.train()

    def save_last() -> None:
        outcome.wall_time_s = run.wall_before_s + time.perf_counter() - start
        if files:
            files.last.save(**run.checkpoint())

    while not progress.finished:
        if (cfg.epochs and progress.epoch >= cfg.epochs) or progress.iteration >= cfg.iterations:
            break
        generator = torch.Generator().manual_seed(seed * EPOCH_SEED_STRIDE + progress.epoch)
        batches = task.batches("train", cfg.batch_size, generator)
        for _ in range(progress.batch):  # resumed mid-epoch: skip the batches already trained on
            next(batches)
        epoch_start = time.perf_counter()
        while progress.iteration < cfg.iterations:
            t0 = time.perf_counter()
            batch = next(batches, None)
            if batch is None:
                break
            model.set_inverse_temperature(_temperature(cfg, progress))
            batch = batch.to(device, p.dtype)
            step = train_step(model, task, batch, optimizer, cfg, run.state)  # the carried state, or None
            if not step.applied:
                outcome.diverge(progress.iteration + 1, f"training loss is {step.loss}")
                break
            run.state = detach_state(step.end_state) if task.carries_state else None
            elapsed = time.perf_counter() - t0
            outcome.train_time_s += elapsed
            outcome.train_steps += batch.steps
            outcome.iterations_run = progress.iteration = progress.iteration + 1
            progress.batch += 1
            progress.epoch_train_s += elapsed
            progress.epoch_loss_sum += step.loss
            progress.epoch_loss_count += 1
            memory.sample()
            if on_iteration:
                on_iteration(progress.iteration, step.loss)
            if cfg.checkpoint_every and progress.iteration % cfg.checkpoint_every == 0:
                save_last()
        if outcome.diverged_at is not None:
            break
        if progress.batch == 0:  # nothing trained since the last validation
            break
        _end_of_epoch(run, task, cfg, files, memory, per_epoch, epoch_start, on_validation)
        save_last()

    reason = run.divergence.check_end() if outcome.diverged_at is None else None
    if reason:  # the budget ended mid-streak
        outcome.diverge(progress.iteration, reason)
    outcome.extra = _final_metrics(run, task, cfg, files, per_epoch)
    progress.finished = True
    save_last()
    return outcome


def _end_of_epoch(run: Session, task, cfg: TrainConfig, files: RunFiles | None, memory: PeakMemory,
                  per_epoch: int, epoch_start: float, on_validation) -> None:
    """Validate (and test, if asked), keep the best weights, step the schedule, decide early stopping,
    log the epoch; a complete epoch moves the run to the next one."""
    progress, outcome, model = run.progress, run.outcome, run.model
    t0 = time.perf_counter()
    val_loss, val_metric = evaluate(model, task, "valid", cfg.val_batch_size)
    test_metric = evaluate(model, task, "test", cfg.val_batch_size)[1] if cfg.test_every_epoch else None
    outcome.val_time_s += time.perf_counter() - t0
    epochs_done = progress.epoch + progress.batch / per_epoch
    point = ValidationPoint(progress.iteration, val_loss, progress.epoch_loss_sum / progress.epoch_loss_count,
                            model.inverse_temperature, outcome.train_time_s)
    outcome.curve.append(point)
    if on_validation:
        on_validation(point)
    reason = run.divergence.check_validation(val_loss)
    if reason:
        outcome.diverge(progress.iteration, reason)
        progress.finished = True
    elif better(val_metric, progress.best_metric, task.higher_is_better):
        progress.best_metric, progress.best_epoch, progress.bad_epochs = val_metric, math.ceil(epochs_done), 0
        run.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if files:
            files.save_best(run.best_weights, epochs_done, val_metric)
    elif progress.batch >= per_epoch:
        progress.bad_epochs += 1
    lr = run.optimizer.param_groups[0]["lr"]
    if files:
        usage = memory.result()
        files.log_epoch({
            "epoch": round(epochs_done, 4), "iteration": progress.iteration, "lr": lr,
            "inverse_temperature": model.inverse_temperature, "train_loss": point.train_loss, "val_loss": val_loss,
            "metric_name": task.metric_name, "val_metric": val_metric, "test_metric": test_metric,
            "epoch_train_min": progress.epoch_train_s / SECONDS_PER_MINUTE,
            "epoch_wall_min": (time.perf_counter() - epoch_start) / SECONDS_PER_MINUTE,
            "peak_cuda_bytes": usage["peak_cuda_bytes"], "max_rss_bytes": usage["max_rss_bytes"],
            "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        })
    progress.epoch_loss_sum, progress.epoch_loss_count, progress.epoch_train_s = 0.0, 0, 0.0
    if progress.batch >= per_epoch:  # a complete epoch
        progress.epoch, progress.batch, run.state = progress.epoch + 1, 0, None
        if isinstance(run.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            run.scheduler.step(val_metric)
        elif run.scheduler is not None:
            run.scheduler.step()
        if cfg.early_stopping_patience and progress.bad_epochs >= cfg.early_stopping_patience:
            progress.finished = True


def _final_metrics(run: Session, task, cfg: TrainConfig, files: RunFiles | None, per_epoch: int) -> dict[str, Any]:
    """The result columns of a real-data run: the test metric of the best-validation weights, etc."""
    metric_value = None
    if run.best_weights is not None:
        t0 = time.perf_counter()
        current = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
        run.model.load_state_dict(run.best_weights)
        metric_value = evaluate(run.model, task, "test", cfg.val_batch_size)[1]
        run.model.load_state_dict(current)
        run.outcome.val_time_s += time.perf_counter() - t0
    progress = run.progress
    return {
        "metric_name": f"test_{task.metric_name}",
        "metric_value": metric_value,
        "best_val_metric": progress.best_metric,
        "epochs_run": round(progress.epoch + progress.batch / per_epoch, 4),
        "data": task.data_description(),
        "checkpoint": str(files.best.path) if files and run.best_weights is not None else "",
    }
