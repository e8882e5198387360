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

import errno
import json
import os
import socket
import time
import traceback
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from bench.config import RunSpec
from bench.plugins import describe as describe_plugins
from bench.plugins import ensure as ensure_plugins
from bench.run_metrics import PeakMemory, inference_throughput, saved_tensor_bytes
from bench.store import LockHeld, StoreError, environment, run_lock, utc_now
from bench.training import DTYPES, TRAINERS, TrainOutcome, ValidationPoint
from bench.training.checkpoint import rng_state, set_rng_state
from bench.training.group import train_group
from models import build_model
from models.seeded import NotVectorizable
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
    keep_weights: bool = False  # save the final weights to OUT/weights/RUN_ID.pt (bench run --keep-weights)


def make_run_id(spec: RunSpec) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{spec.model}-{spec.task}-s{spec.seed}-{stamp}-{uuid.uuid4().hex[:6]}"


def make_job(spec: RunSpec, out_dir: str | Path, threads: int = 0, keep_weights: bool = False) -> RunJob:
    run_id = make_run_id(spec)
    log = Path(out_dir) / LOGS / f"{run_id}.log"
    return RunJob(spec, str(out_dir), run_id, str(log), threads, keep_weights)


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
        "plugins": describe_plugins(spec.plugins),
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
    device = _set_up(job)
    log = _start_log(job)
    row = {**base_row(job), **environment(device), "node": socket.gethostname()}  # a Ray task names its node
    try:
        with run_lock(job.out_dir, spec.spec_hash):
            run = Prepared.build(job, device, emit, log)
            train = train_loop or TRAINERS[getattr(run.task, "trainer", "episodic")]
            outcome = train(run.model, run.task, cfg, spec.seed, run.on_iteration, run.on_validation,
                            fingerprint=spec.spec_hash,
                            on_epoch=lambda row: emit("epoch", row))  # the sweep writes OUT/epochs.csv
            row.update(run.measure(outcome))
    except LockHeld as held:
        row.update(status="error", error=_refused(held))
    except StoreError:
        raise  # a results file cannot be written (disk full): not this run's failure; the sweep stops
    except Exception as err:  # noqa: BLE001 - one failed run must not end the sweep
        _failed(row, log, err)
    return _finish_row(row, log)


def execute_group(jobs: list[RunJob], emit: Callable[..., None]) -> list[dict[str, Any]]:
    """Train the seeds of ``jobs`` (one seed group: the same spec but the seed) as one computation
    (bench/training/group.py) and measure each; one row per seed, made as ``execute`` makes a run's
    row. Each seed holds its run lock, writes its log and reports its progress and validation points
    (``emit(s, kind, *data)``, s its position) as it trains, and checkpoints as its ordinary run does.
    A model option without a per-seed version (``NotVectorizable``) runs the seeds one by one."""
    cfg = jobs[0].spec.train
    device = _set_up(jobs[0])
    logs = [_start_log(job) for job in jobs]
    rows = [{**base_row(job), **environment(device), "node": socket.gethostname()} for job in jobs]
    with ExitStack() as locks:
        members = []  # positions of the seeds this process holds the lock of
        for s, job in enumerate(jobs):
            try:
                locks.enter_context(run_lock(job.out_dir, job.spec.spec_hash))
                members.append(s)
            except LockHeld as held:
                rows[s].update(status="error", error=_refused(held))
        try:
            runs, rng = [], []
            for s in members:  # each seed's model, measurements and random state as its ordinary run's
                runs.append(Prepared.build(jobs[s], device, lambda kind, *data, s=s: emit(s, kind, *data), logs[s]))
                rng.append(rng_state(device))
            outcomes = train_group(
                [run.model for run in runs], runs[0].task, cfg, [jobs[s].spec.seed for s in members],
                lambda k, iteration, loss: runs[k].on_iteration(iteration, loss),
                lambda k, point: runs[k].on_validation(point),
                fingerprints=[jobs[s].spec.spec_hash for s in members], rng=rng) if members else []
            train_options = json.dumps({**cfg.to_dict(), "vectorized": len(jobs), "vectorized_batches": "own"},
                                       sort_keys=True)
            for k, (s, run, outcome) in enumerate(zip(members, runs, outcomes)):
                set_rng_state(rng[k], device)  # measured from the random state its ordinary run ends with
                outcome.extra["train_options"] = train_options
                rows[s].update(run.measure(outcome))
        except NotVectorizable:  # an option of the model needs a layer or operation without a per-seed version
            fallback = True
        except StoreError:
            raise
        except Exception as err:  # noqa: BLE001 - recorded in every seed's row, as a failed run is recorded
            fallback = False
            for s in members:
                _failed(rows[s], logs[s], err)
        else:
            fallback = False
    if fallback:  # the locks are released: each seed takes its own
        return [execute(job, lambda kind, *data, s=s: emit(s, kind, *data)) for s, job in enumerate(jobs)]
    return [_finish_row(row, log) for row, log in zip(rows, logs)]


def execute_unit(jobs: list[RunJob], emitters: list[Callable[..., None]]) -> list[dict[str, Any]]:
    """An executor's unit of work, where it runs: one run (``execute``) or the seeds of one group
    trained together (``execute_group``); ``emitters[s]`` takes job ``s``'s events. A row per job."""
    if len(jobs) == 1:
        return [execute(jobs[0], emitters[0])]
    return execute_group(jobs, lambda s, kind, *data: emitters[s](kind, *data))


def _set_up(job: RunJob) -> torch.device:
    cfg = job.spec.train
    if cfg.threads or job.threads:
        torch.set_num_threads(cfg.threads or job.threads)
    return torch.device(cfg.device)


def _start_log(job: RunJob) -> RunLog:
    spec = job.spec
    log = RunLog(job.log_path)
    log.write(f"{utc_now()} run {job.run_id}: {spec.model}/{spec.task} seed {spec.seed} spec_hash {spec.spec_hash} "
              f"(pid {os.getpid()} on {socket.gethostname()})")
    return log


def _refused(held: LockHeld) -> str:
    return f"refused: this run is being trained by another process ({held})"


def _failed(row: dict[str, Any], log: RunLog, err: Exception) -> None:
    log.write("".join(traceback.format_exception(type(err), err, err.__traceback__)))
    row.update(status="error", error=error_text(err))


def _finish_row(row: dict[str, Any], log: RunLog) -> dict[str, Any]:
    row["timestamp"] = utc_now()
    log.write(f"{row['timestamp']} {row.get('status')}" + (f": {row['error']}" if row.get("error") else ""))
    return row


def error_text(err: BaseException) -> str:
    """An exception as a run's one-line error: its type and first line, led by "no space left on
    device" when a full disk (ENOSPC) is behind it, however deep in the chain of causes."""
    text = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
    return f"no space left on device: {text}" if disk_full(err) else text


def disk_full(err: BaseException | None) -> bool:
    """Whether ENOSPC is ``err`` or one of its causes."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return True
        err = err.__cause__ or err.__context__
    return False


def build_run(spec: RunSpec, device: torch.device) -> tuple[Any, Any]:
    """The run's task and its freshly initialised model (seeded by the spec's seed)."""
    torch.manual_seed(spec.seed)
    task = build_task(spec.task_class, **spec.task_options)
    model = build_model(spec.model_class, **spec.model_options).to(device=device, dtype=DTYPES[spec.train.dtype])
    return task, model


@dataclass
class Prepared:
    """One run before training: its task and model (built after ``torch.manual_seed(seed)``, as
    every run's), the row columns measured before training, its memory meter and its callbacks
    (progress and validation points to ``emit``, validation points to the log)."""

    job: RunJob
    task: Any
    model: Any
    row: dict[str, Any]
    memory: PeakMemory
    emit: Emit
    log: RunLog

    @classmethod
    def build(cls, job: RunJob, device: torch.device, emit: Emit, log: RunLog) -> "Prepared":
        spec, cfg = job.spec, job.spec.train
        ensure_plugins(spec.plugins)  # a worker process (--jobs, Ray) imports the user's model or task first
        task, model = build_run(spec, device)
        row: dict[str, Any] = {"param_count": model.num_parameters(), "variant": model.variant()}
        memory = PeakMemory(device)
        row["saved_tensor_bytes"] = saved_tensor_bytes(model, task, cfg.batch_size)
        return cls(job, task, model, row, memory, emit, log)

    def on_iteration(self, iteration: int, loss: float) -> None:
        if iteration % RSS_SAMPLE_EVERY == 0:
            self.memory.sample()
        self.emit("progress", iteration, loss)

    def on_validation(self, point: ValidationPoint) -> None:
        self.log.write(f"it {point.iteration} val_loss {point.val_loss:.6g} train_loss {point.train_loss:.6g}")
        self.emit("validation", point)

    def measure(self, outcome: TrainOutcome) -> dict[str, Any]:
        """The row's columns after training: the outcome, inference throughput, memory, generalisation."""
        spec, cfg, model, task = self.job.spec, self.job.spec.train, self.model, self.task
        row = dict(self.row)
        row.update(_outcome_columns(outcome, cfg.solved_window))
        row.update(outcome.extra)
        row["infer_steps_per_s"], row["infer_path"] = inference_throughput(model, task, cfg.batch_size, cfg.inference_batches)
        row.update(self.memory.result())
        if cfg.generalization:  # after every measurement of the run, so it changes none of them
            from bench.generalisation import evaluate_run

            run = {"run_id": self.job.run_id, "model": spec.model, "task": spec.task, "seed": spec.seed}
            self.emit("generalization", evaluate_run(model, task, run))  # the sweep writes OUT/generalization.csv
        if self.job.keep_weights:
            from bench.inspect import save_weights

            row["weights"] = str(save_weights(self.job, model))
        return row


def _outcome_columns(outcome: TrainOutcome, window: int) -> dict[str, Any]:
    losses = [p.val_loss for p in outcome.curve]
    return {
        "status": outcome.status,
        "iterations_run": outcome.iterations_run,
        "iterations_to_solve": outcome.iterations_to_solve,
        "train_loss_solved_at": outcome.train_loss_solved_at,
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
