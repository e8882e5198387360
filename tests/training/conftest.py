"""Shared by the training tests: one run through the sweep (the only writer of rows and curves)."""

import pytest

from bench.execution.executor import InlineExecutor
from bench.execution.sweep import run_sweep
from bench.store import ResultsStore


def _run_and_store(spec, out, on_progress=None):
    """Train ``spec`` in this process, write its row and curve to ``out``; returns the row.
    ``on_progress(spec, iteration, loss)`` is called at every iteration (it may raise to kill the run)."""

    def on_event(kind, sp, *data):
        if kind == "progress" and on_progress is not None:
            on_progress(sp, *data)

    with ResultsStore(out) as store:
        [row] = run_sweep([spec], store, InlineExecutor(), on_event)
    return row


@pytest.fixture
def run_and_store():
    return _run_and_store
