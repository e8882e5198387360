"""SIGTERM under --executor ray stops the sweep as under the local executor: exit 143 and the line that
says how to resume. Ray installs SIGTERM handlers of its own (sys.exit(15), a native stack dump) and
turns an exception raised inside its calls into a SystemError; the executor keeps the sweep's handler
and calls it between Ray's calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.execution.ray import DeferredSigterm

WAIT_S = 300


def test_sigterm_is_recorded_during_ray_calls_and_delivered_between_them():
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        deferred = DeferredSigterm()
        deferred.install()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert calls == []  # only recorded: nothing raised inside whatever ran then
        deferred.deliver()
        assert calls == [signal.SIGTERM]
        deferred.deliver()
        assert calls == [signal.SIGTERM]  # once
        deferred.restore()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert calls == [signal.SIGTERM] * 2  # the handler from before is back
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_under_ray_exits_143_with_the_resume_line(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    sweep = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "run", "-m", "lstm", "-t", "copy", "-n", "100000", "-q",
         "-s", "model.hidden_size=8", "--executor", "ray", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + WAIT_S
    while time.time() < deadline and not list(out.glob("logs/*.log")) and sweep.poll() is None:
        time.sleep(0.2)  # the run has started in its Ray task
    sweep.send_signal(signal.SIGTERM)
    try:
        output, _ = sweep.communicate(timeout=WAIT_S)
    finally:
        sweep.kill()
    assert sweep.returncode == 143, output
    assert "stopped by SIGTERM" in output and "--resume" in output, output
    assert "Traceback" not in output and "SystemError" not in output, output
