"""Worker processes on this machine (``bench run --jobs N``, N > 1).

Each worker is a spawned process with a pipe of its own to the sweep: it receives one unit at a time
(a RunJob, or with --vectorize-seeds the RunJobs of a seed group, trained together) and sends back the
runs' events and their rows. No shared queue and no multiprocessing Manager (a
Manager is a process of its own that outlives a killed parent, and a worker killed while writing a
shared queue can leave its lock held): a worker that dies takes only its own pipe with it.

Lifecycle:
- a worker dies with the sweep, kill -9 of the sweep included: the kernel kills it when its parent
  dies (prctl PR_SET_PDEATHSIG on Linux), and a watchdog thread that polls the parent pid covers the
  rest;
- Ctrl-C reaches the whole process group: workers ignore SIGINT and the sweep stops them (SIGTERM, then
  SIGKILL), so the runs in flight end without a row and without a traceback;
- a worker that dies mid-run (killed, out of memory, segfault) becomes the "error" row of its run,
  saying how it died with the last lines of its log, and a fresh worker takes the next job. A worker
  killed by SIGTERM/SIGINT/SIGHUP is recorded only after ``SIGNAL_GRACE_S``: when a whole process group
  is told to stop (Slurm, systemd), the sweep stops too and records nothing.

A worker sends its stdout and stderr (warnings, a fatal error's stack from ``faulthandler``) to the log
of the run it is executing.
"""

from __future__ import annotations

import ctypes
import faulthandler
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import wait

from bench.execution.executor import Event, EmitEvent, Executor, death_reason, lost_row, throttled_emit
from bench.execution.run import RunJob

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCHDOG_S = 0.5  # how often a worker checks that its parent is alive
EXIT_ORPHANED = 70  # a worker whose parent is gone exits with this code
POLL_S = 0.2  # the sweep's longest wait for an event
STOP_GRACE_S = 3.0  # after SIGTERM, how long a worker may take before SIGKILL
SIGNAL_GRACE_S = 1.0  # a worker stopped by a signal that may be meant for the whole group: wait before recording
GROUP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


# --- in the worker ----------------------------------------------------------------------------------
def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` (its parent) does, however the parent ends."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still holds
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(EXIT_ORPHANED)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="parent-watchdog").start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_S)
    os._exit(EXIT_ORPHANED)


def _output_to(path: str) -> None:
    """Point this process's stdout and stderr (file descriptors 1 and 2) at ``path``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def worker_main(conn, parent_pid: int) -> None:
    """A worker's life: take a job, run it, send its events and row back; until told to stop."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle
    faulthandler.enable()  # a fatal error (segfault) leaves its stack in the run's log (stderr)
    from bench.execution.run import execute_unit  # the heavy imports, once the worker is tied to its parent

    while True:
        try:
            unit = conn.recv()  # one run, or the seeds of a vectorized group: a list of RunJobs
        except EOFError:  # the sweep is gone
            return
        if unit is None:
            return
        _output_to(unit[0].log_path)
        emitters = [throttled_emit(job, lambda kind, data, s=s: conn.send((s, kind, data))) for s, job in enumerate(unit)]
        conn.send((0, "done", (execute_unit(unit, emitters),)))


# --- in the sweep -----------------------------------------------------------------------------------
class Worker:
    def __init__(self, context, parent_pid: int):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child, parent_pid), daemon=True, name="bench-worker")
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited through exec: no Ctrl-C traceback
        try:                                                     # from a worker still importing
            self.process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        child.close()
        self.indices: list[int] = []  # the unit it runs (positions in the sweep's jobs), empty when idle
        self.unit: list[RunJob] = []

    def give(self, indices: list[int], unit: list[RunJob]) -> None:
        self.indices, self.unit = indices, unit
        self.conn.send(unit)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()


class ProcessExecutor(Executor):
    name = "local"

    def __init__(self, jobs: int):
        self.jobs = jobs

    def run(self, jobs: list[RunJob], emit: EmitEvent) -> None:
        self.run_units(jobs, [[index] for index in range(len(jobs))], emit)

    def run_units(self, jobs: list[RunJob], units: list[list[int]], emit: EmitEvent) -> None:
        """Each unit (positions in ``jobs``: one run, or a vectorized seed group, trained together by
        ``bench.execution.run.execute_group``) to one worker; otherwise as ``run``."""
        context = multiprocessing.get_context("spawn")  # no forked OpenMP or torch state
        queue = deque(units)
        workers: list[Worker] = []
        dying: list[tuple[float, Worker]] = []  # stopped by a group signal: recorded after a grace period
        try:
            while queue or any(w.unit for w in workers) or dying:
                while queue and len([w for w in workers if w.unit]) < self.jobs:
                    idle = next((w for w in workers if not w.unit), None)
                    if idle is None:
                        idle = Worker(context, os.getpid())
                        workers.append(idle)
                    unit = queue.popleft()
                    try:
                        idle.give(unit, [jobs[i] for i in unit])
                    except OSError:  # it died while idle: nothing was lost, a fresh one takes the unit
                        idle.indices, idle.unit = [], []
                        idle.process.join()
                        workers.remove(idle)
                        queue.appendleft(unit)
                        continue
                    for index in unit:
                        emit(Event(index, "start"))
                busy = [w for w in workers if w.unit]
                wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=POLL_S)
                for worker in busy:
                    if not self._receive(worker, emit):  # the worker is gone
                        worker.process.join()
                        workers.remove(worker)
                        if worker.process.exitcode in [-s for s in GROUP_SIGNALS]:
                            dying.append((time.monotonic() + SIGNAL_GRACE_S, worker))
                        else:
                            self._lost(worker, emit)
                now = time.monotonic()
                for due, worker in [d for d in dying if d[0] <= now]:
                    dying.remove((due, worker))
                    self._lost(worker, emit)
        finally:
            _shut_down(workers)

    @staticmethod
    def _receive(worker: Worker, emit: EmitEvent) -> bool:
        """Hand on every message the worker has sent; False if it has died (its pipe is closed)."""
        try:
            while worker.conn.poll():
                position, kind, data = worker.conn.recv()
                if kind == "done":
                    indices = worker.indices
                    worker.indices, worker.unit = [], []
                    for index, row in zip(indices, data[0]):
                        emit(Event(index, "done", (row,)))
                else:
                    emit(Event(worker.indices[position], kind, data))
        except (EOFError, OSError):
            return False
        return worker.process.is_alive() or worker.conn.poll() is True

    @staticmethod
    def _lost(worker: Worker, emit: EmitEvent) -> None:
        how = death_reason(worker.process.exitcode)
        for index, job in zip(worker.indices, worker.unit):  # none if it died between units: nothing lost
            emit(Event(index, "done", (lost_row(job, how),)))
        worker.indices, worker.unit = [], []


def _shut_down(workers: list[Worker]) -> None:
    """Stop every worker and wait until each is gone: idle ones are told to stop, busy ones (their
    runs are abandoned, not recorded) get SIGTERM, then SIGKILL."""
    for worker in workers:
        try:
            if not worker.unit:
                worker.conn.send(None)
            else:
                worker.stop()
        except OSError:
            worker.stop()
    deadline = time.monotonic() + STOP_GRACE_S
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
