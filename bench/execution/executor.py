"""The executor interface: run RunJobs somewhere and hand their events back to the sweep.

An executor's ``run(jobs, emit)`` calls ``emit(event)`` in the calling thread for every event of every
job, and ends every job with exactly one "done" event carrying its row, also when the process (or
Ray worker) running the job died: then the executor makes an "error" row that says how it died
(``lost_row``). It never writes results; the sweep does, from the events. On an interrupt
(KeyboardInterrupt, SIGTERM) it stops every job in flight, leaves no process behind, emits nothing
more and re-raises.

Executors by name (``bench run --executor NAME``): "local" (this machine: in this process with one
job at a time, worker processes with --jobs > 1) and "ray" (a Ray cluster).
"""

from __future__ import annotations

import signal
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

from bench.execution.run import RunJob, error_row, execute, log_tail


@dataclass
class Event:
    index: int  # position of the job in the list given to run()
    kind: str  # "start" | "progress" (iteration, loss) | "validation" (ValidationPoint) | "done" (row)
    data: tuple = ()


EmitEvent = Callable[[Event], None]


class Executor(ABC):
    name = ""

    @abstractmethod
    def run(self, jobs: list[RunJob], emit: EmitEvent) -> None:
        """Run every job (see the module docstring for the contract)."""


PROGRESS_INTERVAL_S = 0.5  # how often a run in a worker process or a Ray task reports progress


def throttled_emit(job: RunJob, send: Callable[[str, tuple], None]) -> Callable[..., None]:
    """``emit(kind, *data)`` for a run executing away from the sweep: every event goes to ``send``,
    except progress, which goes at most every PROGRESS_INTERVAL_S (and at the last iteration)."""
    last = [0.0]

    def emit(kind: str, *data: Any) -> None:
        if kind == "progress":
            now = time.monotonic()
            if now - last[0] < PROGRESS_INTERVAL_S and data[0] != job.spec.train.iterations:
                return
            last[0] = now
        send(kind, data)

    return emit


def death_reason(exitcode: int | None) -> str:
    """How a worker process ended, in words (``exitcode`` as multiprocessing gives it: -N for signal N)."""
    if exitcode is None:
        return "vanished"
    if exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        hint = {signal.SIGKILL: " (out of memory, or killed)", signal.SIGSEGV: " (segmentation fault)",
                signal.SIGBUS: " (bus error)", signal.SIGABRT: " (aborted)"}.get(number, "")
        return f"killed by {name}{hint}"
    return f"exited with code {exitcode}"


def lost_row(job: RunJob, how: str, node: str | None = None) -> dict[str, Any]:
    """The error row of a job whose worker died: how, and the last lines of the run's log (``node``:
    where it ran, see ``error_row``)."""
    return error_row(job, f"worker process died: {how}, mid-run; last lines of its log: {log_tail(job.log_path)}", node)


class InlineExecutor(Executor):
    """One job at a time in this very process (``--jobs 1``): nothing to start, nothing to lose but
    the process itself."""

    name = "local"

    def run(self, jobs: list[RunJob], emit: EmitEvent) -> None:
        for index, job in enumerate(jobs):
            emit(Event(index, "start"))
            row = execute(job, lambda kind, *data, i=index: emit(Event(i, kind, data)))
            emit(Event(index, "done", (row,)))
