"""One run: a RunJob (a RunSpec with its run id and log file) becomes (task, model), is trained and
measured, and comes back as its row. Whoever executes a run (this process, a worker process, a Ray
task) calls ``execute``; it writes no results file: events and the row go back to the sweep, the only
writer.

The run holds its run lock (OUT/locks/SPEC_HASH.lock) while it trains, so a second process given the
same run (a resumed sweep beside a stale one) is refused instead of training beside it on the same
checkpoints. A run that fails (an exception) comes back as status "error" with the full traceback in
its log; a run whose loss stops being finite is "diverged" (the training loop decides). An interrupt
(Ctrl-C, SIGTERM) is not a failure: it propagates and no row is made.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from bench.config import RunSpec
from bench.run_metrics import PeakMemory, inference_throughput, saved_tensor_bytes
from bench.store import LockHeld, StoreError, environment, run_lock, utc_now
from bench.training import DTYPES, TRAINERS, TrainOutcome, ValidationPoint
from models import build_model
from tasks import build_task

RSS_SAMPLE_EVERY = 10  # iterations between RSS samples (psutil call: tens of microseconds)
LOGS = "logs"  # OUT/logs/RUN_ID.log

# emit(kind, *data): ("progress", iteration, loss), ("validation", ValidationPoint)
Emit = Callable[..., None]
TrainLoop = Callable[..., TrainOutcome]


@dataclass
class RunJob:
    """What an executor is given: the spec, where its results belong, and its identity."""

    spec: RunSpec
    out_dir: str  # the results folder (the run lock and the log live there)
    run_id: str
    log_path: str
    threads: int = 0  # torch threads when the spec does not set train.threads (0: torch's default)


def make_run_id(spec: RunSpec) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{spec.model}-{spec.task}-s{spec.seed}-{stamp}-{uuid.uuid4().hex[:6]}"


def make_job(spec: RunSpec, out_dir: str | Path, threads: int = 0) -> RunJob:
    run_id = make_run_id(spec)
    log = Path(out_dir) / LOGS / f"{run_id}.log"
    return RunJob(spec, str(out_dir), run_id, str(log), threads)


def base_row(job: RunJob) -> dict[str, Any]:
    """The columns a run's row has before it runs (what defines it)."""
    spec, cfg = job.spec, job.spec.train
    return {
        "run_id": job.run_id,
        "model": spec.model,
        "model_class": spec.model_class,
        "task": spec.task,
        "task_class": spec.task_class,
        "seed": spec.seed,
        "spec_hash": spec.spec_hash,
        "iterations_budget": cfg.iterations,
        "batch_size": cfg.batch_size,
        "optimizer": cfg.optimizer,
        "lr": cfg.lr,
        "dtype": cfg.dtype,
        "model_options": json.dumps(spec.model_options, sort_keys=True),
        "task_options": json.dumps(spec.task_options, sort_keys=True),
        "train_options": json.dumps(cfg.to_dict(), sort_keys=True),
        "log": job.log_path,
        **{k: spec.model_options.get(k) for k in ("input_size", "output_size", "hidden_size", "memory_slots", "memory_width")},
    }


def error_row(job: RunJob, error: str, node: str | None = None) -> dict[str, Any]:
    """The row of a run that did not come back (its worker died): made by the sweep, not the run.
    ``node``: where the run was executing (default: this machine, where local workers run)."""
    row = base_row(job)
    row.update(environment(torch.device("cpu")), device=job.spec.train.device, status="error", error=error,
               timestamp=utc_now(), node=socket.gethostname() if node is None else node)
    return row


class RunLog:
    """Appends lines to the run's log file (created with its folder). Best effort: a log that cannot
    be written (disk full) does not fail the run; the row is what counts."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def write(self, text: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(text if text.endswith("\n") else text + "\n")
        except OSError:
            pass


def log_tail(path: str | Path, lines: int = 5, max_chars: int = 600) -> str:
    """The last ``lines`` non-empty lines of a log, joined with " | " (for a one-line error)."""
    try:
        with Path(path).open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 8 * max_chars))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    tail = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    return tail[-max_chars:] if tail else "(log empty)"


def execute(job: RunJob, emit: Emit | None = None, train_loop: TrainLoop | None = None) -> dict[str, Any]:
    """Train and measure one run; returns its row (status "error" with the traceback in the log if it
    failed). Writes no results file. ``train_loop`` replaces the task's training loop (same signature
    as the registered loops)."""
    emit = emit or (lambda *a: None)
    spec, cfg = job.spec, job.spec.train
    device = torch.device(cfg.device)
    if cfg.threads or job.threads:
        torch.set_num_threads(cfg.threads or job.threads)
    log = RunLog(job.log_path)
    log.write(f"{utc_now()} run {job.run_id}: {spec.model}/{spec.task} seed {spec.seed} spec_hash {spec.spec_hash} "
              f"(pid {os.getpid()} on {socket.gethostname()})")
    row = {**base_row(job), **environment(device), "node": socket.gethostname()}  # a Ray task names its node
    try:
        with run_lock(job.out_dir, spec.spec_hash):
            row.update(_train_and_measure(job, device, log, emit, train_loop))
    except LockHeld as held:
        row.update(status="error", error=f"refused: this run is being trained by another process ({held})")
    except StoreError:
        raise  # a results file cannot be written (disk full): not this run's failure; the sweep stops
    except Exception as err:  # noqa: BLE001 - one failed run must not end the sweep
        log.write(traceback.format_exc())
        row.update(status="error", error=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    row["timestamp"] = utc_now()
    log.write(f"{row['timestamp']} {row.get('status')}" + (f": {row['error']}" if row.get("error") else ""))
    return row


def build_run(spec: RunSpec, device: torch.device) -> tuple[Any, Any]:
    """The run's task and its freshly initialised model (seeded by the spec's seed)."""
    torch.manual_seed(spec.seed)
    task = build_task(spec.task_class, **spec.task_options)
    model = build_model(spec.model_class, **spec.model_options).to(device=device, dtype=DTYPES[spec.train.dtype])
    return task, model


def _train_and_measure(job: RunJob, device: torch.device, log: RunLog, emit: Emit,
                       train_loop: TrainLoop | None) -> dict[str, Any]:
    spec, cfg = job.spec, job.spec.train
    task, model = build_run(spec, device)
    row: dict[str, Any] = {"param_count": model.num_parameters(), "variant": model.variant()}
    memory = PeakMemory(device)
    row["saved_tensor_bytes"] = saved_tensor_bytes(model, task, cfg.batch_size)

    def on_iteration(iteration: int, loss: float) -> None:
        if iteration % RSS_SAMPLE_EVERY == 0:
            memory.sample()
        emit("progress", iteration, loss)

    def on_validation(point: ValidationPoint) -> None:
        log.write(f"it {point.iteration} val_loss {point.val_loss:.6g} train_loss {point.train_loss:.6g}")
        emit("validation", point)

    train = train_loop or TRAINERS[getattr(task, "trainer", "episodic")]
    outcome = train(model, task, cfg, spec.seed, on_iteration, on_validation, fingerprint=spec.spec_hash,
                    on_epoch=lambda row: emit("epoch", row))  # the sweep writes OUT/epochs.csv
    row.update(_outcome_columns(outcome, cfg.solved_window))
    row.update(outcome.extra)
    row["infer_steps_per_s"], row["infer_path"] = inference_throughput(model, task, cfg.batch_size, cfg.inference_batches)
    row.update(memory.result())
    if cfg.generalization:  # after every measurement of the run, so it changes none of them
        from bench.generalisation import evaluate_run

        run = {"run_id": job.run_id, "model": spec.model, "task": spec.task, "seed": spec.seed}
        emit("generalization", evaluate_run(model, task, run))  # the sweep writes OUT/generalization.csv
    return row


def _outcome_columns(outcome: TrainOutcome, window: int) -> dict[str, Any]:
    losses = [p.val_loss for p in outcome.curve]
    return {
        "status": outcome.status,
        "iterations_run": outcome.iterations_run,
        "iterations_to_solve": outcome.iterations_to_solve,
        "final_val_loss": outcome.final_val_loss(window),
        "last_val_loss": losses[-1] if losses else None,
        "best_val_loss": min(losses) if losses else None,
        "diverged_at": outcome.diverged_at,
        "error": outcome.diverged_reason,  # why the run diverged (the exception for error rows)
        "time_to_solve_s": outcome.time_to_solve_s,
        "train_time_s": outcome.train_time_s,
        "val_time_s": outcome.val_time_s,
        "wall_time_s": outcome.wall_time_s,
        "train_steps_per_s": outcome.train_steps / outcome.train_time_s if outcome.train_time_s > 0 else None,
    }
