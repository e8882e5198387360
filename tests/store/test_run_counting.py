"""Each run counted once: the readers of runs.csv rows (reports, plots, --resume) count a run once
however often its row is there (same spec_hash and seed: the last finished row counts) and warn with
the count; --resume repairs such a folder; an input named twice is read once; running a finished spec
again into the same folder adds nothing unless --rerun asks for it."""

from __future__ import annotations

import shutil

import pytest

from bench.cli import main
from bench.store import DUPLICATES, FINISHED, read_rows, unique_runs
from bench.store.results import duplicate_runs
from bench.store.table import read_numbered_rows, remove_lines

TINY = ["-m", "lstm", "-t", "copy", "--seeds", "3", "-n", "2", "--val-every", "2", "-q",
        "-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8",
        "-s", "train.val_batches=1", "-s", "train.val_batch_size=2", "-s", "train.inference_batches=1"]


def sweep(out, *extra):
    return main(["run", *TINY, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A results folder with three finished runs (seeds 0, 1, 2)."""
    out = tmp_path_factory.mktemp("finished")
    assert sweep(out) == 0
    return out


@pytest.fixture
def folder(finished, tmp_path):
    out = tmp_path / "r"
    shutil.copytree(finished, out)
    return out


def solved_cell(tmp_path, capsys, *inputs):
    """The lstm/copy cell of table1.csv built from ``inputs`` (e.g. '0/3 solved ...'), and stderr."""
    argv = ["report", "table1", "--out", str(tmp_path / "report")]
    for path in inputs:
        argv += ["--in", str(path)]
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    text = (tmp_path / "report" / "table1.csv").read_text()
    return next(part for part in text.split(",") if " solved" in part).strip('"'), err


def duplicate_a_row(folder, line=1):
    lines = (folder / "runs.csv").read_bytes().splitlines(keepends=True)
    (folder / "runs.csv").write_bytes(b"".join(lines + [lines[line]]))


def test_a_duplicated_row_counts_once_with_a_warning_and_resume_repairs_it(folder, tmp_path, capsys):
    duplicate_a_row(folder)
    cell, err = solved_cell(tmp_path, capsys, folder)
    assert cell.startswith("0/3 solved"), cell  # was 0/4
    assert "1 duplicate row(s) of 1 run(s) not counted" in err
    assert sweep(folder, "--resume") == 0
    out = capsys.readouterr().out
    assert "--resume: 1 duplicate row(s) of 1 run(s) moved" in out and "3 finished run(s) skipped" in out
    assert len(read_rows(folder / "runs.csv")) == 3
    assert len(read_rows(folder / DUPLICATES)) == 1  # moved aside, not lost
    cell, err = solved_cell(tmp_path, capsys, folder)
    assert cell.startswith("0/3 solved") and "duplicate" not in err


@pytest.mark.parametrize("twice", ["folder twice", "folder and its runs.csv"])
def test_an_input_named_twice_is_read_once(folder, tmp_path, capsys, twice):
    other = folder if twice == "folder twice" else folder / "runs.csv"
    cell, err = solved_cell(tmp_path, capsys, folder, other)
    assert cell.startswith("0/3 solved"), cell  # was 0/6
    assert "duplicate" not in err


def test_the_same_run_in_two_folders_counts_once(folder, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    cell, err = solved_cell(tmp_path, capsys, folder, copy)
    assert cell.startswith("0/3 solved"), cell
    assert "3 duplicate row(s) of 3 run(s) not counted" in err


def test_running_a_finished_spec_again_adds_nothing_unless_rerun(folder, tmp_path, capsys):
    capsys.readouterr()
    assert sweep(folder) == 0
    assert "3 run(s) already finished" in capsys.readouterr().out
    assert len(read_rows(folder / "runs.csv")) == 3
    assert main(["run", *TINY, "--seeds", "1", "--out", str(folder), "--rerun"]) == 0
    rows = read_rows(folder / "runs.csv")
    assert len(rows) == 4 and rows[-1]["seed"] == "0"
    assert main(["plot", "figure2", "--in", str(folder), "--out", str(tmp_path / "plot")]) == 0
    cell, err = solved_cell(tmp_path, capsys, folder)
    assert cell.startswith("0/3 solved") and "1 duplicate row(s) of 1 run(s)" in err
    counted = unique_runs(rows, lambda message: None)
    assert [r["run_id"] for r in counted if r["seed"] == "0"] == [rows[-1]["run_id"]]  # the rerun's row counts


def test_resume_and_rerun_together_are_refused(folder, capsys):
    assert sweep(folder, "--resume", "--rerun") == 2


def row(spec_hash, seed, status):
    return {"spec_hash": spec_hash, "seed": seed, "status": status}


def test_which_row_of_a_run_counts():
    done = sorted(FINISHED)[0]
    rows = [row("a", "0", done), row("a", "0", "error"),  # finished then error: the finished one
            row("b", "0", "error"), row("b", "0", "error"),  # only errors: the last
            row("c", "0", "error"), row("c", "0", done), row("c", "0", done),  # the last finished
            row("c", "1", done),  # another seed: another run
            row("", "0", done), row("", "0", done)]  # no fingerprint (an old file): never merged
    assert duplicate_runs(rows) == [1, 2, 4, 5]


def test_removing_lines_keeps_every_other_line_byte_for_byte(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\n\xff\xfe,3\n3,4\n\"unclosed,5\n5,6\n")
    numbered = read_numbered_rows(path, lambda message: None)
    assert [n for n, _ in numbered] == [2, 4, 6]
    remove_lines(path, {4})
    assert path.read_bytes() == b"a,b\n1,2\n\xff\xfe,3\n\"unclosed,5\n5,6\n"
