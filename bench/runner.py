"""Runner: turns each RunSpec into (task, model), trains it, profiles it and appends its rows.

A run that fails (an exception) is recorded with status "error" and the sweep goes on; a run whose
loss stops being finite is recorded as "diverged" by the trainer. Ctrl-C stops the sweep; every row
already written stays intact.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from queue import Empty
from typing import Any, Callable

import torch

from bench.config import RunSpec
from bench.profiler import PeakMemory, inference_throughput, saved_tensor_bytes
from bench.results import ResultsStore, environment, utc_now
from bench.trainer import DTYPES, TRAINERS, TrainOutcome, ValidationPoint
import bench.stream_trainer  # noqa: F401  registers the "stream" loop
from models import build_model
from tasks import build_task

RSS_SAMPLE_EVERY = 10  # iterations between RSS samples (psutil call: tens of microseconds)

ProgressHook = Callable[[RunSpec, int, float], None]


def make_run_id(spec: RunSpec) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{spec.model}-{spec.task}-s{spec.seed}-{stamp}-{uuid.uuid4().hex[:6]}"


def execute(spec: RunSpec, store: ResultsStore, on_progress: ProgressHook | None = None,
            on_point: Callable[[RunSpec, ValidationPoint], None] | None = None) -> dict[str, Any]:
    """Run one spec to completion and append its row; returns the row."""
    cfg = spec.train
    device = torch.device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_id = make_run_id(spec)
    row: dict[str, Any] = {
        "run_id": run_id,
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
        **{k: spec.model_options.get(k) for k in ("input_size", "output_size", "hidden_size", "memory_slots", "memory_width")},
        **environment(device),
    }
    try:
        torch.manual_seed(spec.seed)
        task = build_task(spec.task_class, **spec.task_options)
        model = build_model(spec.model_class, **spec.model_options).to(device=device, dtype=DTYPES[cfg.dtype])
        row.update(param_count=model.num_parameters(), variant=model.variant())
        memory = PeakMemory(device)
        row["saved_tensor_bytes"] = saved_tensor_bytes(model, task, cfg.batch_size)

        def on_iteration(iteration: int, loss: float) -> None:
            if iteration % RSS_SAMPLE_EVERY == 0:
                memory.sample()
            if on_progress:
                on_progress(spec, iteration, loss)

        def on_validation(point: ValidationPoint) -> None:
            store.append_curve([{"run_id": run_id, "model": spec.model, "task": spec.task, "seed": spec.seed, **vars(point)}])
            if on_point:
                on_point(spec, point)

        train = TRAINERS[getattr(task, "trainer", "episodic")]
        outcome = train(model, task, cfg, spec.seed, on_iteration, on_validation)
        row.update(_outcome_columns(outcome, cfg.solved_window))
        row.update(outcome.extra)
        row["infer_steps_per_s"], row["infer_path"] = inference_throughput(model, task, cfg.batch_size, cfg.inference_batches)
        row.update(memory.result())
        if cfg.generalization:  # after every measurement of the run, so it changes none of them
            from bench.generalisation import evaluate_run
            evaluate_run(model, task, store.out_dir, row)
    except Exception as err:  # noqa: BLE001 - one failed run must not end the sweep
        row.update(status="error", error=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    row["timestamp"] = utc_now()
    store.append_run(row)
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
        "time_to_solve_s": outcome.time_to_solve_s,
        "train_time_s": outcome.train_time_s,
        "val_time_s": outcome.val_time_s,
        "wall_time_s": outcome.wall_time_s,
        "train_steps_per_s": outcome.train_steps / outcome.train_time_s if outcome.train_time_s > 0 else None,
    }


# on_event(kind, spec, *data): ("start",), ("progress", iteration, loss), ("validation", ValidationPoint), ("done", row)
Event = Callable[..., None]
PROGRESS_INTERVAL_S = 0.5  # how often a worker process reports progress
POLL_S = 0.2


def run_sweep(specs: list[RunSpec], out_dir: Path, jobs: int = 1, on_event: Event | None = None) -> list[dict[str, Any]]:
    """Run every spec, ``jobs`` at a time (separate processes when jobs > 1); returns their rows."""
    on_event = on_event or (lambda *a: None)
    if jobs <= 1:
        store = ResultsStore(out_dir)
        rows = []
        for spec in specs:
            on_event("start", spec)
            row = execute(spec, store, lambda sp, it, loss: on_event("progress", sp, it, loss),
                          lambda sp, point: on_event("validation", sp, point))
            rows.append(row)
            on_event("done", spec, row)
        return rows
    return _run_parallel(specs, out_dir, jobs, on_event)


def threads_per_job(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def _worker(spec: RunSpec, out_dir: Path, jobs: int, queue) -> dict[str, Any]:
    """One run in a worker process; progress goes back through ``queue``."""
    if not spec.train.threads:
        torch.set_num_threads(threads_per_job(jobs))
    queue.put(("start", spec.key))
    last = [0.0]

    def report(sp: RunSpec, iteration: int, loss: float) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL_S or iteration == sp.train.iterations:
            last[0] = now
            queue.put(("progress", sp.key, iteration, loss))

    return execute(spec, ResultsStore(out_dir), report, lambda sp, point: queue.put(("validation", sp.key, point)))


def _run_parallel(specs: list[RunSpec], out_dir: Path, jobs: int, on_event: Event) -> list[dict[str, Any]]:
    by_key = {spec.key: spec for spec in specs}
    rows = []
    context = multiprocessing.get_context("spawn")  # no forked OpenMP state
    with context.Manager() as manager:
        queue = manager.Queue()
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
        try:
            futures = {pool.submit(_worker, spec, out_dir, jobs, queue): spec for spec in specs}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                _drain(queue, by_key, on_event)
                for future in done:
                    spec = futures[future]
                    row = future.result()
                    rows.append(row)
                    on_event("done", spec, row)
            _drain(queue, by_key, on_event)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return rows


def _drain(queue, by_key: dict, on_event: Event) -> None:
    while True:
        try:
            kind, key, *data = queue.get_nowait()
        except Empty:
            return
        on_event(kind, by_key[key], *data)
