"""What a new user meets first: the quickstart suite, the summary at 80 columns, the progress texts,
reports and plots that never write into their inputs, and the warning when results of different
behaviour versions are combined."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from rich.console import Console

from bench.behaviour import BEHAVIOUR_VERSION
from bench.cli import main
from bench.config import expand_runs, load_config, suite
from bench.reports import behaviour_versions, warn_mixed_behaviour
from bench.summary import duration, summary_table, sweep_remaining_s

TINY = ["-s", "task.max_length=3", "-s", "model.hidden_size=8", "-n", "4", "--val-every", "2", "-q",
        "-s", "train.val_batches=1", "-s", "train.inference_batches=1"]


def render(rows, width: int) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)
    console.print(summary_table(rows, width))
    return console.export_text()


def test_quickstart_suite_is_the_readme_demo_and_valid():
    config = load_config(None)
    quick = suite(config, "quickstart")
    assert quick["models"] == ["armin-code", "ntm", "lstm"] and quick["tasks"] == ["copy-short"]
    specs = expand_runs(config, quick["models"], quick["tasks"], [0], quick["overrides"])
    assert [s.model for s in specs] == ["armin-code", "ntm", "lstm"]
    assert specs[0].task_options["max_length"] == 5 and specs[0].train.iterations <= 6000  # minutes, not hours


def test_three_model_run_summary_at_80_columns_shows_every_name_status_and_loss(tmp_path):
    out = tmp_path / "res"
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "run", "-m", "armin-code,ntm,lstm", "-t", "copy",
                           "--out", str(out), *TINY], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_csv(out / "runs.csv")
    table = proc.stdout[proc.stdout.index("mannbench results"):proc.stdout.index("runs: ")]
    assert max(len(line) for line in table.splitlines()) <= 80, proc.stdout
    for _, row in runs.iterrows():
        line = next(line for line in table.splitlines() if line.startswith(row.model + " "))
        assert row.status in line and f"{row.last_val_loss:.4f}" in line and f"{row.best_val_loss:.4f}" in line
    assert "…" not in table and "nan" not in proc.stdout
    assert f"bench report table1 --in {out}" in proc.stdout  # what to run next


def test_long_names_make_a_heading_per_task_and_wide_terminals_get_more_columns():
    rows = [{"model": name, "task": "associative_recall-code", "seed": 0, "status": status,
             "iterations_to_solve": solved, "last_val_loss": 2.5e-6 if solved else 0.2345, "best_val_loss": 0.1,
             "wall_time_s": 95.0, "iterations_run": 3600, "param_count": 92518}
            for name, status, solved in (("learned-assoc-pmnist", "solved", 3600), ("armin-code", "unsolved", None))]
    narrow = render(rows, 80)
    assert max(len(line.rstrip()) for line in narrow.splitlines()) <= 80
    assert "task associative_recall-code" in narrow and "learned-assoc-pmnist" in narrow and "unsolved" in narrow
    assert "2.50e-06" in narrow and "0.2345" in narrow and "3,600" in narrow and "1m35s" in narrow
    wide = render(rows, 200)
    assert "task associative_recall-code" not in wide  # one table, a task column
    assert "params" in wide and "92,518" in wide and "params" not in narrow


def test_progress_texts_never_say_nan():
    assert duration(5) == "5s" and duration(185) == "3m05s" and duration(7800) == "2h10m"
    assert duration(float("nan")) == "-" and duration(None) == "-"
    assert sweep_remaining_s([100, 100], {}, 1) is None  # nothing known yet: no number
    # two runs of 100 iterations, one at 20 of them at 10 it/s: 180 iterations left at 10 it/s, one process
    assert sweep_remaining_s([100, 100], {"a": (20, 10.0)}, 1) == 18.0
    assert sweep_remaining_s([100, 100], {"a": (20, 10.0), "b": (20, 10.0)}, 2) == 8.0


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_reports_and_plots_leave_their_inputs_byte_identical_and_refuse_foreign_files(tmp_path, monkeypatch, capsys):
    res = tmp_path / "res"
    assert main(["run", "-m", "armin,lstm", "-t", "copy", "--out", str(res), *TINY]) == 0
    (res / "table1.md").write_text("a table someone committed\n")  # an input folder with a table of its own
    before = folder_digest(res)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["report", "table1", "--in", str(res)]) == 0
    assert main(["plot", "figure2", "--in", str(res)]) == 0
    assert folder_digest(res) == before
    assert (work / "reports" / "table1.md").is_file() and (work / "reports" / "figure2.png").is_file()
    assert main(["report", "table1", "--in", str(res)]) == 0  # its own files: replaced without asking

    # into the input folder: table1.md there was not made by bench, so nothing is written
    capsys.readouterr()
    assert main(["report", "table1", "--in", str(res), "--out", str(res)]) == 2
    err = capsys.readouterr().err
    assert "would replace 1 file(s) that bench did not write" in err and "--force" in err and err.count("\n") == 1
    assert folder_digest(res) == before
    assert main(["report", "table1", "--in", str(res), "--out", str(res), "--force"]) == 0
    assert (res / "table1.md").read_text() != "a table someone committed\n"


def test_a_report_over_two_behaviour_versions_warns_with_counts(tmp_path, capsys):
    runs = pd.DataFrame({"behaviour_version": [BEHAVIOUR_VERSION, BEHAVIOUR_VERSION, None]})
    assert behaviour_versions(runs) == {"unrecorded": 1, f"v{BEHAVIOUR_VERSION}": 2}
    said = []
    warn_mixed_behaviour(runs, said.append)
    assert len(said) == 1 and "2 results-behaviour versions" in said[0] and f"2 row(s) v{BEHAVIOUR_VERSION}" in said[0]
    said.clear()
    warn_mixed_behaviour(runs.iloc[:2], said.append)
    assert said == []

    res = tmp_path / "res"
    assert main(["run", "-m", "lstm", "-t", "copy", "--seeds", "2", "--out", str(res), *TINY]) == 0
    rows = pd.read_csv(res / "runs.csv")
    assert (rows.behaviour_version == BEHAVIOUR_VERSION).all() and rows.package_version.notna().all()
    rows.loc[0, "behaviour_version"] = BEHAVIOUR_VERSION - 1 if BEHAVIOUR_VERSION > 1 else BEHAVIOUR_VERSION + 1
    rows.to_csv(res / "runs.csv", index=False)
    capsys.readouterr()
    assert main(["report", "table1", "--in", str(res), "--out", str(tmp_path / "rep")]) == 0
    err = capsys.readouterr().err
    assert "mix 2 results-behaviour versions" in err and "1 row(s) v" in err


def test_readme_commands_match_ci_and_name_what_exists():
    """The README's two commands: the test command is the one .ci/run runs; the main job names a suite
    of the packaged configuration."""
    root = Path(__file__).resolve().parents[1]
    commands = [line.strip() for line in (root / "README.md").read_text().splitlines()
                if line.startswith("    python3 -m venv .venv")]
    assert len(commands) == 2, commands
    main_job, tests = commands
    assert tests in (root / ".ci" / "run").read_text()
    assert main_job.endswith("bench run --suite quickstart --jobs 2")
    assert "quickstart" in load_config(None)["suites"]
