"""Suites, --resume after a killed sweep, --jobs, and the Table 1 report and Figure 2 plot."""

import signal
import subprocess
import sys
import time
from argparse import Namespace

import pandas as pd
import pytest

from bench.commands.run import specs_from_args
from bench.config import ConfigError, load_config
from bench.reports import paper_table
from bench.reports.table1 import summarise, wide
from bench.cli import main

CONFIG = load_config()
TINY = ["-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8", "-q",
        "-s", "train.val_batches=1", "-s", "train.val_batch_size=2", "-s", "train.inference_batches=1"]


def run_args(**kw):
    base = dict(suite=None, models=None, tasks=None, iterations=None, seeds=None, seed=0, batch_size=None,
                val_every=None, device=None, dtype=None, options=None, jobs=1)
    base.update(kw)
    return Namespace(**base)


def test_table1_suite_is_the_papers_grid():
    specs = specs_from_args(run_args(suite="table1"), CONFIG)
    assert len(specs) == 10 * 4 * 3  # ARMIN twice (paper equations, authors' code), + the 2 associative models
    assert {s.model for s in specs} == {"lstm", "ntm", "dnc", "sam", "tardis", "awta", "armin", "armin-code",
                                        "fastweights", "learned-assoc"}
    assert {s.task for s in specs} == {"copy", "repeat_copy", "associative_recall", "priority_sort"}
    assert {s.train.iterations for s in specs} == {100_000} and {s.train.batch_size for s in specs} == {1}
    armin = next(s for s in specs if s.model == "armin" and s.task == "priority_sort")
    assert (armin.model_options["hidden_size"], armin.model_options["memory_slots"]) == (100, 50)
    assert (armin.model_options["input_size"], armin.model_options["output_size"]) == (9, 8)


def test_flags_override_the_suite():
    specs = specs_from_args(
        run_args(suite="table1", models="armin,ntm", iterations=50, seeds=2, device="cpu",
                 options=["model.hidden_size=16", "train.lr=0.001"]), CONFIG)
    assert len(specs) == 2 * 4 * 2
    assert {s.train.iterations for s in specs} == {50} and {s.train.lr for s in specs} == {0.001}
    assert {s.model_options["hidden_size"] for s in specs} == {16}
    assert sorted({s.seed for s in specs}) == [0, 1]


def test_smoke_suite_is_the_same_grid_on_a_small_budget():
    smoke = specs_from_args(run_args(suite="table1-smoke"), CONFIG)
    full = specs_from_args(run_args(suite="table1", seeds=1), CONFIG)
    assert [(s.model, s.task) for s in smoke] == [(s.model, s.task) for s in full]
    assert max(s.train.iterations for s in smoke) <= 100


def test_spec_hash_tracks_what_defines_a_run():
    a, = specs_from_args(run_args(models="armin", tasks="copy"), CONFIG)
    b, = specs_from_args(run_args(models="armin", tasks="copy", device="cpu", options=["train.threads=2"]), CONFIG)
    c, = specs_from_args(run_args(models="armin", tasks="copy", options=["train.lr=0.001"]), CONFIG)
    assert a.spec_hash == b.spec_hash != c.spec_hash


def test_suite_errors():
    with pytest.raises(ConfigError, match="unknown suite"):
        specs_from_args(run_args(suite="table7"), CONFIG)


def rows(out):
    return pd.read_csv(out / "runs.csv") if (out / "runs.csv").exists() else pd.DataFrame()


def test_resume_after_a_killed_sweep_runs_everything_exactly_once(tmp_path):
    out = tmp_path / "r"
    args = ["run", "-m", "lstm", "-t", "copy", "--seeds", "3", "-n", "300", "--val-every", "100", "--out", str(out), *TINY]
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(rows(out)) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # dies mid-sweep, possibly mid-run
    proc.wait()
    before = rows(out)
    assert 1 <= len(before) < 3  # killed mid-sweep
    done = subprocess.run([sys.executable, "-m", "bench.cli", *args, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} finished run(s) skipped" in done.stdout
    after = rows(out)
    assert sorted(after.seed) == [0, 1, 2]  # each run exactly once
    assert list(after.run_id[: len(before)]) == list(before.run_id)  # earlier rows untouched


def test_parallel_jobs_write_every_row(tmp_path):
    code = main(["run", "-m", "lstm,armin", "-t", "copy", "--seeds", "2", "-n", "6", "--val-every", "3",
                 "--jobs", "2", "--out", str(tmp_path), *TINY])
    runs = rows(tmp_path)
    seen = runs[["model", "seed", "status", "error"]].to_string()  # in the message of any failure below
    assert code == 0, seen
    assert sorted(zip(runs.model, runs.seed)) == [("armin", 0), ("armin", 1), ("lstm", 0), ("lstm", 1)], seen
    assert set(runs.status) <= {"solved", "unsolved"}, seen
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert curves.groupby("run_id").size().tolist() == [2, 2, 2, 2], curves.to_string()


def synthetic_runs():
    def row(model, task, seed, status, it=None, loss=None, minutes=10.0):
        return dict(model=model, task=task, seed=seed, status=status, iterations_to_solve=it, final_val_loss=loss,
                    time_to_solve_s=minutes * 60 if it else None, train_time_s=minutes * 60, variant="paper",
                    iterations_budget=100_000, param_count=90_498, run_id=f"{model}-{task}-{seed}")
    return pd.DataFrame([
        row("armin", "copy", 0, "solved", 7000, 0.009, 5.0),
        row("armin", "copy", 1, "solved", 9000, 0.008, 7.0),
        row("lstm", "copy", 0, "unsolved", None, 0.30, 60.0),
        row("lstm", "copy", 1, "unsolved", None, 0.40, 62.0),
        row("lstm", "copy", 2, "error", None, None, 0.0),
    ])


def test_table1_summary_means_spreads_and_paper_values():
    summary = summarise(synthetic_runs()).set_index("model")
    armin, lstm = summary.loc["armin"], summary.loc["lstm"]
    assert armin.ours_outcome == "solved" and armin.ours_value == pytest.approx(8.0)
    assert armin.ours_spread == pytest.approx(1.41421, rel=1e-4) and armin.ours_minutes == pytest.approx(6.0)
    assert lstm.ours_outcome == "unsolved" and lstm.ours_value == pytest.approx(0.35) and lstm.seeds == 2  # error row left out
    paper = paper_table("paper_table1_algorithmic").set_index(["model", "task"])
    assert armin.paper_value == paper.loc[("ARMIN", "copy"), "value"] == 7.6
    assert lstm.paper_outcome == "unsolved" and lstm.paper_value == pytest.approx(0.359)
    table = wide(summarise(synthetic_runs()))
    assert list(table.columns[:3]) == ["model", "params", "paper params"]
    assert table.set_index("model").loc["armin", "copy (paper)"] == "7.6k / 6 min"
    assert table.set_index("model").loc["lstm", "copy (ours)"] == "0/2 solved [0%-66%] in 100k, loss 0.350 / 61 min"
    assert table.set_index("model").loc["armin", "copy (ours)"] == "2/2 solved [34%-100%], median 7.0k [7.0k, 9.0k]† / 5 min"


def test_table1_marks_a_task_a_model_did_not_run():
    runs = synthetic_runs()
    runs.loc[runs.model == "lstm", "task"] = "priority_sort"
    table = wide(summarise(runs)).set_index("model")
    assert table.loc["armin", "priority_sort (ours)"] == "-" and table.loc["lstm", "copy (ours)"] == "-"
    # the paper's figure stands in its column even where we have no run of that task
    assert table.loc["armin", "priority_sort (paper)"] == "33.4k / 37 min"
    assert table.loc["lstm", "copy (paper)"] == "loss 0.359 / 66 min"
    assert list(table.columns[2:]) == ["copy (ours)", "copy (paper)", "priority_sort (ours)", "priority_sort (paper)"]


def test_report_and_plot_from_a_real_tiny_run(tmp_path):
    res = tmp_path / "res"
    assert main(["run", "-m", "armin,lstm", "-t", "copy", "--seeds", "2", "-n", "6", "--val-every", "2", "--out", str(res), *TINY]) == 0
    assert main(["report", "table1", "--in", str(res), "--out", str(tmp_path / "rep")]) == 0
    table = pd.read_csv(tmp_path / "rep" / "table1_long.csv")
    assert set(table.model) == {"armin", "lstm"} and (table.seeds == 2).all() and (table.paper_value.notna()).all()
    assert "copy (paper)" in (tmp_path / "rep" / "table1.md").read_text()
    assert main(["plot", "figure2", "--in", str(res), "--out", str(tmp_path / "fig")]) == 0
    for ext in ("png", "svg"):
        path = tmp_path / "fig" / f"figure2.{ext}"
        assert path.stat().st_size > 1000
    assert (tmp_path / "fig" / "figure2.png").read_bytes()[:4] == b"\x89PNG"


def test_reports_tell_apart_runs_of_one_preset_with_different_options():
    from bench.reports import distinguish_configurations

    runs = synthetic_runs().assign(dtype="float32", model_options='{"hidden_size": 100, "input_size": 10}')
    runs.loc[1, "model_options"] = '{"hidden_size": 100, "input_size": 10, "read": "soft"}'
    runs.loc[runs.model == "lstm", "dtype"] = "float64"  # same options and dtype for every LSTM row
    labelled = distinguish_configurations(runs)
    assert labelled.model.tolist()[:2] == ["armin", "armin (read=soft)"]  # the default shows no options
    assert (labelled.model[runs.model == "lstm"] == "lstm").all()
    summary = summarise(labelled).set_index("model")
    assert summary.loc["armin (read=soft)"].paper_value == 7.6  # still the paper's ARMIN row
    assert summary.loc["armin"].seeds == 1
