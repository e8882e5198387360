"""Ray tasks (``bench run --executor ray [--address auto|HOST:PORT]``): each run is a Ray task with
one CPU (with ``--vectorize-seeds``, each vectorized seed group is one task: ``run_units``); its
events come back through a Ray queue and its row as the task's result, and the sweep (the driver)
alone writes them. Without ``--address`` a local Ray instance with ``--jobs`` CPUs is
started for the command and stopped at its end.

A task whose worker dies (killed, out of memory, its node lost) is not retried: its runs become
"error" rows that says what Ray reported, and the sweep goes on. Every row's ``node`` column names the
Ray node that ran it (NODE_IP/NODE_ID; the local executors write the hostname). Ctrl-C and SIGTERM cancel every
outstanding task (force: their workers are killed) before the sweep stops.

Every node needs mannbench importable (``pip install -e '.[ray]'`` on each) and the results folder at
the same path for run logs and run locks (a shared file system), else each node keeps its own.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from typing import Any

from bench.config import ConfigError
from bench.execution.executor import Event, EmitEvent, Executor, lost_row, throttled_emit
from bench.execution.run import RunJob, error_row, log_tail

INSTALL = "pip install -e '.[ray]'"
POLL_S = 0.2  # the driver's longest wait for an event
CPUS_PER_RUN = 1


def ray_node() -> str:
    """The Ray node this process runs on: NODE_IP/NODE_ID (the row's ``node`` column)."""
    import ray

    return f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()}"


def _run_unit(jobs: list[RunJob], indices: list[int], events) -> list[dict[str, Any]]:
    """The Ray task: one run, or the seeds of one vectorized group trained together
    (``bench.execution.run.execute_group``); their events into ``events`` (a ray.util.queue.Queue),
    their rows as the result. The "start" events carry the node, for the rows of a task lost later."""
    from bench.execution.run import execute_unit

    node = ray_node()
    for index in indices:
        events.put((index, "start", (node,)))
    emitters = [throttled_emit(job, lambda kind, data, i=index: events.put((i, kind, data)))
                for job, index in zip(jobs, indices)]
    return [{**row, "node": node} for row in execute_unit(jobs, emitters)]


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, jobs: int, address: str | None = None):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError(f"--executor ray needs Ray, which is not installed: {INSTALL}") from None
        self.jobs, self.address = jobs, address

    def run(self, jobs: list[RunJob], emit: EmitEvent) -> None:
        self.run_units(jobs, [[index] for index in range(len(jobs))], emit)

    def run_units(self, jobs: list[RunJob], units: list[list[int]], emit: EmitEvent) -> None:
        """Each unit (positions in ``jobs``: one run, or a vectorized seed group) a Ray task with one
        CPU; otherwise as ``run``."""
        import ray
        from ray.util.queue import Queue

        started_here = not ray.is_initialized()
        sigterm = DeferredSigterm()  # the sweep's SIGTERM handler, as it is before Ray takes the signal
        pending: list = []
        try:
            if started_here:
                try:
                    ray.init(address=self.address, num_cpus=None if self.address else self.jobs * CPUS_PER_RUN,
                             include_dashboard=False, log_to_driver=False)
                except SystemExit as stop:  # SIGTERM while Ray starts, through Ray's own handler
                    if stop.code != signal.SIGTERM:
                        raise
                    sigterm.caught = (signal.SIGTERM, None)
            sigterm.install()
            sigterm.deliver()
            events = Queue(actor_options={"num_cpus": 0})
            task = ray.remote(num_cpus=CPUS_PER_RUN, max_retries=0)(_run_unit)
            unit_of = {task.remote([dataclasses.replace(jobs[i], threads=CPUS_PER_RUN) for i in unit], unit, events): unit
                       for unit in units}  # torch threads: the task's CPU share, not the driver's
            pending = list(unit_of)
            node_of: dict[int, str] = {}  # where each started task runs

            def on_event(event: Event) -> None:
                if event.kind == "start":
                    node_of[event.index] = event.data[0]
                    event = Event(event.index, "start")
                emit(event)

            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
                _drain(events, on_event)
                sigterm.deliver()  # here, outside Ray's calls: raised inside one, it became a SystemError
                for ref in done:
                    unit = unit_of[ref]
                    rows = _results(ray, ref, [jobs[i] for i in unit], node_of.get(unit[0], ""))
                    for index, row in zip(unit, rows):
                        emit(Event(index, "done", (row,)))
            sigterm.deliver()
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started_here:
                ray.shutdown()
            sigterm.restore()


class DeferredSigterm:
    """SIGTERM for the time of a Ray sweep: ``ray.init`` installs handlers of its own (Python's
    sys.exit(15), and its core worker's native stack dump), and a handler that raises inside one of
    Ray's calls comes out as a SystemError. So: the handler in place before Ray (the sweep's, which
    stops the sweep with exit 143 and the resume line) is noted, SIGTERM is only recorded while Ray
    runs (``install``), and the noted handler is called where ``deliver`` is, between Ray's calls."""

    def __init__(self):
        self.active = threading.current_thread() is threading.main_thread()  # signals go to the main thread
        self.previous = signal.getsignal(signal.SIGTERM) if self.active else None
        self.caught: tuple | None = None

    def install(self) -> None:
        if self.active:
            signal.signal(signal.SIGTERM, self._record)  # anew at the C level too, over Ray's

    def _record(self, signum, frame) -> None:
        self.caught = (signum, frame)

    def deliver(self) -> None:
        caught, self.caught = self.caught, None
        if caught is None:
            return
        if callable(self.previous):
            self.previous(*caught)
        elif self.previous != signal.SIG_IGN:  # the default: end as SIGTERM ends a process
            self.restore()
            signal.raise_signal(signal.SIGTERM)

    def restore(self) -> None:
        if self.active and self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _drain(events, emit: EmitEvent) -> None:
    size = events.size()
    if size:
        for index, kind, data in events.get_nowait_batch(size):
            emit(Event(index, kind, data))


def _results(ray, ref, jobs: list[RunJob], node: str) -> list[dict[str, Any]]:
    """The task's rows, or the error row of each of its runs if the task did not come back (``node``:
    where it ran, "" if it never started)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:  # an exception outside the run's own handling
        cause = err.cause if err.cause is not None else err
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        return [error_row(job, f"the Ray task failed: {type(cause).__name__}: {first}; "
                               f"last lines of its log: {log_tail(job.log_path)}", node) for job in jobs]
    except ray.exceptions.RayError as err:  # the worker or its node died, out of memory, ...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return [lost_row(job, f"Ray reported {type(err).__name__}: {reason}"[:300], node) for job in jobs]
