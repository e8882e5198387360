"""A sweep: every RunJob through an executor, and every row written by this process alone.

The executor hands back events; the sweep appends validation points to curves.csv and each finished
run's row to runs.csv (``ResultsStore``, which the caller holds open: the folder lock), then passes the
event on (progress display). SIGTERM becomes ``Terminated`` (like Ctrl-C's KeyboardInterrupt) for the
time of the sweep, so both stop it the same way: the executor stops the runs in flight, nothing is
recorded for them, and the caller says how to resume.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from bench.config import RunSpec
from bench.execution.executor import Event, Executor, InlineExecutor
from bench.execution.run import make_job
from bench.store import ResultsStore, append_rows
from bench.training.stream import EPOCH_COLUMNS, EPOCHS_FILE
from bench.generalisation import write_rows as write_generalization_rows

# on_event(kind, spec, *data): ("start",), ("progress", iteration, loss), ("validation", ValidationPoint),
# ("epoch", row of epochs.csv), ("generalization", rows), ("done", row)
OnEvent = Callable[..., None]

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived (``timeout``, systemd, Slurm): stop as on Ctrl-C."""


@contextmanager
def sigterm_stops() -> Iterator[None]:
    """While inside: SIGTERM raises ``Terminated`` in the main thread."""
    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def threads_per_job(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def make_executor(name: str, jobs: int, address: str | None = None) -> Executor:
    """The executor called ``name`` ("local" or "ray") for ``jobs`` runs at a time."""
    if name == "ray":
        from bench.execution.ray import RayExecutor

        return RayExecutor(jobs, address)
    if jobs <= 1:
        return InlineExecutor()
    from bench.execution.local import ProcessExecutor

    return ProcessExecutor(jobs)


def run_sweep(specs: list[RunSpec], store: ResultsStore, executor: Executor,
              on_event: OnEvent | None = None, jobs: int = 1, keep_weights: bool = False) -> list[dict[str, Any]]:
    """Run every spec through ``executor``, writing curves and rows to ``store`` (open); returns the
    rows in the order of ``specs`` (those that finished). ``keep_weights``: each run saves its final
    weights (``OUT/weights/RUN_ID.pt``, the row's ``checkpoint`` column) for ``bench inspect``."""
    on_event = on_event or (lambda *a: None)
    threads = threads_per_job(jobs) if jobs > 1 else 0
    run_jobs = [make_job(spec, store.out_dir, threads, keep_weights) for spec in specs]
    rows: dict[int, dict[str, Any]] = {}

    def emit(event: Event) -> None:
        job = run_jobs[event.index]
        spec = job.spec
        if event.kind == "validation":
            point = event.data[0]
            store.append_curve([{"run_id": job.run_id, "model": spec.model, "task": spec.task, "seed": spec.seed,
                                 **vars(point)}])
        elif event.kind == "epoch":
            append_rows(store.out_dir / EPOCHS_FILE, EPOCH_COLUMNS, [event.data[0]])
        elif event.kind == "generalization":
            write_generalization_rows(store.out_dir, event.data[0])
        elif event.kind == "done":
            store.append_run(event.data[0])
            rows[event.index] = event.data[0]
        on_event(event.kind, spec, *event.data)

    executor.run(run_jobs, emit)
    return [rows[i] for i in sorted(rows)]
