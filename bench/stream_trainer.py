"""The epoch-based training loop of the real-data tasks (pMNIST, character-level language modelling),
registered as "stream" in bench.trainer.TRAINERS; a task picks it with ``trainer = "stream"`` and
offers the interface of tasks/_stream.py.

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

Files, when ``train.output_dir`` is set (``bench run`` sets it to its --out folder):
  OUT/checkpoints/NAME.last.pt  all a resume needs: weights, optimiser, schedule, RNG, the position in
                                the epoch, the carried state, the best so far, the curve. Written at
                                the end of each epoch and every ``checkpoint_every`` iterations.
  OUT/checkpoints/NAME.best.pt  the weights of the best validation metric
  OUT/epochs.csv                one row per epoch (EPOCH_COLUMNS)
NAME is model class, task class, seed and a fingerprint of every option that changes what is learned:
running the same run again continues from NAME.last.pt if that run did not finish.

Timing as the episodic loop: ``train_time_s`` covers training iterations only (batch making, forward,
backward, clipping, optimiser step); ``val_time_s`` the validation and test passes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from bench.config import RUN_LOCATION_OPTIONS, TrainConfig
from bench.profiler import PeakMemory, synchronize
from bench.store import append_rows
from bench.trainer import TrainOutcome, ValidationPoint, make_optimizer, register_trainer
from models.base import RecurrentModel, State, detach_state

EPOCH_SEED_STRIDE = 1_000_003  # epoch e of seed s shuffles with generator seed s * stride + e
CHECKPOINT_FORMAT = 1
FINGERPRINT_CHARS = 10
TRAINED = "unsolved"  # the status of a run that trained to its budget: real-data tasks have no "solved" rule
SECONDS_PER_MINUTE = 60.0

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


def fingerprint(model: RecurrentModel, task, cfg: TrainConfig, seed: int) -> str:
    """Hash of what defines what the run learns (not where or how fast it runs)."""
    train = {k: v for k, v in cfg.to_dict().items() if k not in RUN_LOCATION_OPTIONS}
    blob = json.dumps([model.registry_name, model.config.to_dict(), task.registry_name, task.config.to_dict(),
                       train, seed], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()


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

    def __init__(self, out_dir: Path, name: str, fingerprint: str, identity: dict[str, Any]):
        self.name, self.fingerprint, self.identity = name, fingerprint, identity
        self.folder = out_dir / "checkpoints"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.last, self.best = self.folder / f"{name}.last.pt", self.folder / f"{name}.best.pt"
        self.epochs = out_dir / "epochs.csv"

    @classmethod
    def for_run(cls, model: RecurrentModel, task, cfg: TrainConfig, seed: int) -> "RunFiles":
        fp = fingerprint(model, task, cfg, seed)
        name = f"{model.registry_name}-{task.registry_name}-s{seed}-{fp[:FINGERPRINT_CHARS]}"
        identity = {"model_class": model.registry_name, "task_class": task.registry_name, "seed": seed}
        return cls(Path(cfg.output_dir), name, fp, identity)

    @staticmethod
    def _save(obj: dict[str, Any], path: Path) -> None:
        """Write whole or not at all: a temporary file, fsynced, renamed over the old one."""
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def load(self, path: Path, device: torch.device) -> dict[str, Any] | None:
        """The checkpoint at ``path`` if it belongs to this run, else None."""
        if not path.is_file():
            return None
        checkpoint = torch.load(path, map_location=device, weights_only=True)
        ok = checkpoint.get("format") == CHECKPOINT_FORMAT and checkpoint.get("fingerprint") == self.fingerprint
        return checkpoint if ok else None

    def save_last(self, **content: Any) -> None:
        self._save({"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint, **content}, self.last)

    def save_best(self, weights: dict[str, torch.Tensor], epoch: float, metric: float) -> None:
        self._save({"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint, "model": weights,
                    "epoch": epoch, "val_metric": metric}, self.best)

    def log_epoch(self, row: dict[str, Any]) -> None:
        append_rows(self.epochs, EPOCH_COLUMNS, [{"run": self.name, **self.identity, **row}])


@dataclass
class Session:
    """Everything the loop changes, bundled so that a checkpoint can save and restore it."""

    model: RecurrentModel
    optimizer: torch.optim.Optimizer
    scheduler: Any
    progress: Progress = field(default_factory=Progress)
    outcome: TrainOutcome = field(default_factory=lambda: TrainOutcome(status=TRAINED))
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
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "progress": dataclasses.asdict(self.progress),
            "outcome": outcome,
            "state": self.state,
        }

    def restore(self, checkpoint: dict[str, Any]) -> None:
        device = next(self.model.parameters()).device
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler and checkpoint["scheduler"]:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        torch.set_rng_state(checkpoint["rng"].cpu())
        if checkpoint["cuda_rng"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(checkpoint["cuda_rng"].cpu(), device)
        self.progress = Progress(**checkpoint["progress"])
        outcome = dict(checkpoint["outcome"])
        outcome["curve"] = [ValidationPoint(**p) for p in outcome["curve"]]
        self.outcome = TrainOutcome(**outcome)
        self.wall_before_s = self.outcome.wall_time_s
        self.state = checkpoint["state"]


def _temperature(cfg: TrainConfig, progress: Progress) -> float:
    count = progress.epoch if cfg.temperature_unit == "epoch" else progress.iteration
    return cfg.inverse_temperature.at(count)


@register_trainer("stream")
def train_stream(
    model: RecurrentModel,
    task,
    cfg: TrainConfig,
    seed: int,
    on_iteration: Callable[[int, float], None] | None = None,
    on_validation: Callable[[ValidationPoint], None] | None = None,
) -> TrainOutcome:
    """Train ``model`` on an epoch-based ``task`` (see the module docstring); returns the outcome with
    the test metric of the best-validation weights in ``extra``."""
    start = time.perf_counter()
    p = next(model.parameters())
    device = p.device
    optimizer = make_optimizer(model, cfg)
    run = Session(model, optimizer, make_scheduler(optimizer, cfg, task.higher_is_better))
    files = RunFiles.for_run(model, task, cfg, seed) if cfg.output_dir else None
    if files:
        last = files.load(files.last, device)
        if last is not None and not last["progress"]["finished"]:
            run.restore(last)
            best = files.load(files.best, device)
            run.best_weights = best["model"] if best else None
            for point in run.outcome.curve:  # the resumed run's curve is whole in curves.csv too
                if on_validation:
                    on_validation(point)
    memory = PeakMemory(device)
    params = [q for q in model.parameters() if q.requires_grad]
    per_epoch = task.num_batches("train", cfg.batch_size)
    progress, outcome = run.progress, run.outcome
    model.train()

    def save_last() -> None:
        outcome.wall_time_s = run.wall_before_s + time.perf_counter() - start
        if files:
            files.save_last(**run.checkpoint())

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
            logits, end_state = model(batch.inputs, run.state)
            loss = task.loss(logits, batch)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                outcome.status, outcome.diverged_at = "diverged", progress.iteration + 1
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_value > 0:
                torch.nn.utils.clip_grad_value_(params, cfg.clip_value)
            if cfg.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm)
            optimizer.step()
            run.state = detach_state(end_state) if task.carries_state else None
            synchronize(device)
            elapsed = time.perf_counter() - t0
            outcome.train_time_s += elapsed
            outcome.train_steps += batch.steps
            outcome.iterations_run = progress.iteration = progress.iteration + 1
            progress.batch += 1
            progress.epoch_train_s += elapsed
            progress.epoch_loss_sum += loss_value
            progress.epoch_loss_count += 1
            memory.sample()
            if on_iteration:
                on_iteration(progress.iteration, loss_value)
            if cfg.checkpoint_every and progress.iteration % cfg.checkpoint_every == 0:
                save_last()
        if outcome.status == "diverged":
            break
        if progress.batch == 0:  # nothing trained since the last validation
            break
        _end_of_epoch(run, task, cfg, files, memory, per_epoch, epoch_start, on_validation)
        save_last()

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
    if not math.isfinite(val_loss):
        outcome.status, outcome.diverged_at = "diverged", progress.iteration
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
        "checkpoint": str(files.best) if files and run.best_weights is not None else "",
    }
