"""Sweeps as processes (few and small): a second sweep on a busy folder is refused; kill -9, SIGTERM
and Ctrl-C of a --jobs 2 sweep leave no process behind and --resume then gives each run exactly once;
a worker killed mid-run becomes an error row while the other runs finish."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.cli import main
from bench.store import read_rows

SEEDS = 4
ARGS = ["run", "-m", "lstm", "-t", "copy", "--seeds", str(SEEDS), "-n", "300", "--val-every", "150", "-q", "-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8",
        "-s", "train.val_batches=1", "-s", "train.val_batch_size=2", "-s", "train.inference_batches=1"]
WAIT_S = 120  # the longest wait for a sweep to reach the point a test needs (a loaded CI machine)
GONE_S = 10  # processes must be gone this soon after their sweep


def as_in_a_terminal() -> None:
    """The sweep's Ctrl-C as a terminal's foreground command gets it: pytest started in the background
    of a script (``pytest &``) ignores SIGINT, and an ignored signal stays ignored through exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(out: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench.cli", *ARGS, "--jobs", "2", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=as_in_a_terminal, **kw)


def rows(out: Path) -> list[dict]:
    return read_rows(out / "runs.csv", lambda m: None)


def wait_for(condition, proc: subprocess.Popen) -> None:
    deadline = time.time() + WAIT_S
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "the sweep never got there"
        time.sleep(0.05)


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def assert_all_gone(procs: list[psutil.Process]) -> None:
    """Every process in ``procs`` ends within GONE_S (a zombie awaiting its reaper counts as ended)."""
    deadline = time.time() + GONE_S
    alive = procs
    while alive and time.time() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    assert not alive, f"left running: {[(p.pid, p.cmdline()) for p in alive]}"


def assert_each_run_once_after_resume(out: Path) -> None:
    assert main([*ARGS, "--out", str(out), "--resume"]) == 0  # in this process: --jobs does not change a run
    assert sorted(int(r["seed"]) for r in rows(out)) == list(range(SEEDS))
    assert {r["status"] for r in rows(out)} <= {"solved", "unsolved"}


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM", "Ctrl-C"])
def test_a_stopped_sweep_leaves_no_process_and_resume_runs_each_run_once(tmp_path, how, capsys):
    out = tmp_path / "r"
    proc = start(out, start_new_session=True)  # its own process group, as a shell gives a command
    wait_for(lambda: (out / "logs").is_dir(), proc)  # the sweep holds its folder and has started runs
    assert main([*ARGS, "--out", str(out), "--resume"]) == 2  # a second sweep on the folder is refused
    refused = capsys.readouterr().err
    assert "in use by another sweep" in refused and f"pid {proc.pid}" in refused
    wait_for(lambda: len(rows(out)) >= 1 and len(descendants(proc.pid)) >= 2, proc)  # a row, and runs in flight
    family = descendants(proc.pid)  # the workers and multiprocessing's resource tracker
    if how == "kill -9":
        proc.send_signal(signal.SIGKILL)
    elif how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    stdout, stderr = proc.communicate(timeout=WAIT_S)
    assert_all_gone(family)
    written = rows(out)
    assert 1 <= len(written) < SEEDS, (proc.returncode, stdout[-1000:], stderr[-1000:])
    assert all(r["status"] != "error" for r in written), written  # the runs in flight were not recorded as errors
    if how != "kill -9":
        assert proc.returncode == {"SIGTERM": 143, "Ctrl-C": 130}[how], stderr
        assert "Traceback" not in stderr and stderr.strip() == "", stderr
        assert "--resume" in stdout
    # the same sweep with a worker still alive would be refused; with none, --resume runs the rest
    assert_each_run_once_after_resume(out)


def test_a_worker_killed_mid_run_is_an_error_row_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "r"
    proc = start(out)
    wait_for(lambda: len(logs_running(out)) >= 1, proc)
    log = logs_running(out)[0]
    pid = int(log.read_text().split("(pid ")[1].split()[0])
    family = descendants(proc.pid)
    assert pid in [p.pid for p in family]
    os.kill(pid, signal.SIGKILL)  # what the out-of-memory killer does
    stdout, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 1, stderr  # a run failed
    written = rows(out)
    assert sorted(int(r["seed"]) for r in written) == list(range(SEEDS))  # every run has its one row
    lost = [r for r in written if r["status"] == "error"]
    assert [r["run_id"] for r in lost] == [log.stem]
    assert "worker process died: killed by SIGKILL" in lost[0]["error"] and "run " in lost[0]["error"]
    assert lost[0]["log"] == str(log)
    assert {r["status"] for r in written if r not in lost} <= {"solved", "unsolved"}
    assert "worker process died" in stdout and "Traceback" not in stderr
    assert_all_gone(family)


def logs_running(out: Path) -> list[Path]:
    """Logs of runs that have started and not ended (their last line is not a status line)."""
    running = []
    for log in sorted((out / "logs").glob("*.log")) if (out / "logs").is_dir() else []:
        lines = log.read_text().strip().splitlines()
        if lines and (" run " in lines[-1] or lines[-1].startswith("it ")):
            running.append(log)
    return running
