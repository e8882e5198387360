"""One run in this process: the run lock refuses a second trainer of the same spec (epoch-based runs
included), an error row's log holds the whole traceback, and the words for a lost worker."""

import signal
import socket
import sys

import numpy as np
import pytest

from bench.cli import build_parser
from bench.commands.run import specs_from_args
from bench.config import load_config
from bench.execution.executor import InlineExecutor, death_reason, lost_row
from bench.execution.run import execute, make_job
import bench.execution.run as run_module
from bench.store import read_rows, run_lock

TINY = ["-s", "model.hidden_size=8", "-s", "train.val_batch_size=2", "-s", "train.inference_batches=1"]
EPISODIC = ["-s", "train.val_batches=1"]  # an option of the episodic loop only: the epoch run is refused it


def specs(out, *argv, tiny=(*TINY, *EPISODIC)):
    args = build_parser()[0].parse_args(["run", *argv, *tiny, "--out", str(out)])
    return specs_from_args(args, load_config())


@pytest.fixture
def text_spec(tmp_path):
    """An epoch-based run (character LM, the stream loop) on a small text file."""
    text = tmp_path / "words.txt"
    text.write_text(" ".join(np.random.RandomState(0).choice(["the", "memory", "reads", "a", "slot"], 300)))
    spec, = specs(tmp_path / "out", "-m", "lstm", "-t", "text-smoke", "-s", f"task.text_file={text}",
                  "-s", "task.tbptt_length=10", "-s", "train.epochs=1", "-s", "train.batch_size=4", tiny=TINY)
    return spec


def test_an_epoch_run_held_by_another_process_is_refused_and_touches_nothing(tmp_path, text_spec):
    out = tmp_path / "out"
    job = make_job(text_spec, out)
    events = []
    with run_lock(out, text_spec.spec_hash):  # a stale process still training this run
        row = execute(job, lambda *e: events.append(e))
    assert row["status"] == "error" and row["error"].startswith("refused: this run is being trained by another process")
    assert "pid" in row["error"] and events == []
    assert not (out / "epochs.csv").exists()
    assert not (out / "checkpoints").exists() or not any((out / "checkpoints").iterdir())
    events = []
    row = execute(make_job(text_spec, out), lambda *e: events.append(e))  # the lock released: the run trains
    assert row["status"] == "unsolved" and row["epochs_run"] == 1
    assert len([e for e in events if e[0] == "epoch"]) == 1  # its epoch row goes to the sweep ...
    assert not (out / "epochs.csv").exists()  # ... which alone writes the results folder


def test_the_sweep_writes_the_epoch_rows_of_its_runs(tmp_path, text_spec):
    from bench.execution.executor import InlineExecutor
    from bench.execution.sweep import run_sweep
    from bench.store import ResultsStore

    with ResultsStore(tmp_path / "out") as store:
        [row] = run_sweep([text_spec], store, InlineExecutor())
    epochs = read_rows(tmp_path / "out" / "epochs.csv")
    assert row["epochs_run"] == 1 and len(epochs) == 1 and epochs[0]["seed"] == str(text_spec.seed)


def test_an_error_row_keeps_the_first_line_and_its_log_the_whole_traceback(tmp_path, monkeypatch):
    spec, = specs(tmp_path, "-m", "lstm", "-t", "copy", "-n", "2")

    def broken_task(*args, **kwargs):
        raise ValueError("the task broke\nwith a second line of detail")

    monkeypatch.setattr(run_module, "build_task", broken_task)
    row = execute(make_job(spec, tmp_path))
    assert row["status"] == "error" and row["error"] == "ValueError: the task broke"
    log = open(row["log"]).read()
    assert "Traceback (most recent call last)" in log and "in broken_task" in log and "with a second line of detail" in log


def test_the_inline_executor_ends_every_job_with_one_done_event(tmp_path):
    jobs = [make_job(s, tmp_path) for s in specs(tmp_path, "-m", "lstm", "-t", "copy", "-n", "2", "--val-every", "1",
                                                   "--seeds", "2")]
    events = []
    InlineExecutor().run(jobs, events.append)
    assert [(e.index, e.kind) for e in events if e.kind != "progress"] == [
        (0, "start"), (0, "validation"), (0, "validation"), (0, "done"),
        (1, "start"), (1, "validation"), (1, "validation"), (1, "done")]
    assert [e.data[0]["run_id"] for e in events if e.kind == "done"] == [j.run_id for j in jobs]
    assert [e.data[0]["node"] for e in events if e.kind == "done"] == [socket.gethostname()] * 2


def test_a_lost_worker_says_how_it_died_and_what_its_log_said_last(tmp_path):
    assert death_reason(-signal.SIGKILL) == "killed by SIGKILL (out of memory, or killed)"
    assert death_reason(-signal.SIGSEGV) == "killed by SIGSEGV (segmentation fault)"
    assert death_reason(3) == "exited with code 3"
    spec, = specs(tmp_path, "-m", "lstm", "-t", "copy", "-n", "2")
    job = make_job(spec, tmp_path)
    (tmp_path / "logs").mkdir()
    open(job.log_path, "w").write("run started\nit 100 val_loss 0.5\nFatal Python error: Segmentation fault\n")
    row = lost_row(job, death_reason(-signal.SIGSEGV))
    assert row["status"] == "error" and row["run_id"] == job.run_id and row["spec_hash"] == spec.spec_hash
    assert row["error"] == ("worker process died: killed by SIGSEGV (segmentation fault), mid-run; last lines of its log: "
                            "run started | it 100 val_loss 0.5 | Fatal Python error: Segmentation fault")
    assert row["log"] == job.log_path and row["node"] == socket.gethostname()  # a local worker: this machine
    assert lost_row(job, "vanished", node="10.0.0.7/ab12")["node"] == "10.0.0.7/ab12"  # a Ray task: its node


def test_executor_options_without_ray_or_without_the_executor_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    from bench.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["run", "-m", "lstm", "-t", "copy", "--executor", "ray", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install -e '.[ray]'" in err
    assert main(["run", "-m", "lstm", "-t", "copy", "--address", "auto", "--out", str(tmp_path)]) == 2
    assert "--address auto needs --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "runs.csv").exists()
