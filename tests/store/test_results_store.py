"""The results store: whole rows only (a failed write is cut back), readers that skip what is not a
row, the folder lock, read-only files, and --resume on corrupted runs.csv files (in-process)."""

import errno
import json
import os
import shutil

import pytest

from bench.cli import main
from bench.store import (
    CURVE_COLUMNS,
    RUN_COLUMNS,
    ResultsStore,
    StoreError,
    append_rows,
    finished_spec_hashes,
    folder_lock,
    read_frame,
    read_rows,
)
import bench.store.table as table

TINY = ["-m", "lstm", "-t", "copy", "--seeds", "3", "-n", "2", "--val-every", "2", "-q",
        "-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8",
        "-s", "train.val_batches=1", "-s", "train.val_batch_size=2", "-s", "train.inference_batches=1"]
COLUMNS = ["run_id", "status", "note"]


def sweep(out, *extra):
    return main(["run", *TINY, "--out", str(out), *extra])


def seeds_in(out):
    return sorted(int(row["seed"]) for row in read_rows(out / "runs.csv"))


def whole_lines(path):
    data = path.read_bytes()
    return data.endswith(b"\n") and all(line.count(b",") >= len(RUN_COLUMNS) - 1 for line in data.splitlines()[1:])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A results folder with three finished runs (seeds 0, 1, 2)."""
    out = tmp_path_factory.mktemp("finished")
    assert sweep(out) == 0
    assert seeds_in(out) == [0, 1, 2]
    return out


# --- the readers ----------------------------------------------------------------------------------
def write(path, text: bytes):
    path.write_bytes(text)
    return path


def test_reader_skips_every_kind_of_bad_line_and_names_them(tmp_path):
    warnings = []
    path = write(tmp_path / "runs.csv", b"run_id,status,note\r\n"  # an older file's line ends
                 b"a,solved,fine\r\n"
                 b'b,solved,"unbalanced quote\n'
                 b"c,solved,fine\n"
                 b"d,solved,\xff\xfe not utf-8\n"
                 b"e,solved\n"  # a field short
                 b"f,solved," + b"x" * (table.MAX_LINE_BYTES + 10) + b"\n"
                 b"g,solved,fine\n"
                 b"h,sol")  # being written, or cut by a crash
    rows = read_rows(path, warnings.append)
    assert [r["run_id"] for r in rows] == ["a", "c", "g"]
    assert rows[0] == {"run_id": "a", "status": "solved", "note": "fine"}
    assert len(warnings) == 1 and str(path) in warnings[0]
    for number in (3, 5, 6, 7, 9):
        assert f"line {number} (" in warnings[0]
    assert "not UTF-8" in warnings[0] and "unterminated" in warnings[0] and "longer than" in warnings[0]
    frame = read_frame(path, warnings.append)
    assert frame.run_id.tolist() == ["a", "c", "g"]


@pytest.mark.parametrize("content", [b"", b"run_id,status,note\n", b"run_id,sta"])
def test_empty_header_only_or_cut_header_files_have_no_rows(tmp_path, content):
    path = write(tmp_path / "runs.csv", content)
    assert read_rows(path, pytest.fail if content != b"run_id,sta" else (lambda m: None)) == []
    frame = read_frame(path, lambda m: None, columns=COLUMNS)
    assert frame.empty and list(frame.columns) == COLUMNS


def test_values_with_line_breaks_stay_on_one_line(tmp_path):
    path = tmp_path / "t.csv"
    append_rows(path, COLUMNS, [{"run_id": "a", "status": "error", "note": "line one\nline two\r\nthree"}])
    assert path.read_text().count("\n") == 2
    assert read_rows(path, pytest.fail)[0]["note"] == "line one line two three"


# --- the writer -----------------------------------------------------------------------------------
def test_a_partial_last_line_is_cut_before_the_next_row(tmp_path):
    path = tmp_path / "t.csv"
    append_rows(path, COLUMNS, [{"run_id": "a"}])
    with path.open("ab") as f:
        f.write(b"b,solv")  # a writer killed mid-row
    append_rows(path, COLUMNS, [{"run_id": "c"}])
    assert path.read_text() == "run_id,status,note\na,,\nc,,\n"


def test_a_row_appended_by_another_process_between_open_and_lock_keeps_one_header(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.touch()  # empty: both writers open it at size 0
    real_flock, raced = table.fcntl.flock, []

    def flock(fd, op):  # the other process takes the lock first and writes the header and a row
        if op == table.fcntl.LOCK_EX and not raced:
            raced.append(True)
            append_rows(path, COLUMNS, [{"run_id": "other"}])
        real_flock(fd, op)

    monkeypatch.setattr(table.fcntl, "flock", flock)
    append_rows(path, COLUMNS, [{"run_id": "mine"}])
    assert [line.split(",")[0] for line in path.read_text().splitlines()] == ["run_id", "other", "mine"]


def test_disk_full_mid_row_leaves_whole_rows_and_says_so(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    append_rows(path, COLUMNS, [{"run_id": "a", "status": "solved"}])
    before = path.read_bytes()

    def half_then_full(fd, data):
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(table, "write_bytes", half_then_full)
    with pytest.raises(StoreError, match="No space left on device.*cut back to its last whole row"):
        append_rows(path, COLUMNS, [{"run_id": "b", "status": "solved", "note": "x" * 100}])
    assert path.read_bytes() == before


def test_disk_full_during_a_sweep_one_line_whole_rows_and_resume_completes(tmp_path, monkeypatch, capsys):
    real, runs_rows = table.write_bytes, []

    def full_at_second_run_row(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("runs.csv"):
            runs_rows.append(data)
            if len(runs_rows) == 2:
                os.write(fd, data[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)

    monkeypatch.setattr(table, "write_bytes", full_at_second_run_row)
    assert sweep(tmp_path) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and "--resume" in err
    assert "Traceback" not in err
    assert whole_lines(tmp_path / "runs.csv") and seeds_in(tmp_path) == [0]
    monkeypatch.setattr(table, "write_bytes", real)
    assert sweep(tmp_path, "--resume") == 0
    assert seeds_in(tmp_path) == [0, 1, 2]


# --- the folder: lock, read-only files, older layouts ---------------------------------------------
def test_a_second_sweep_on_a_folder_in_use_is_refused(tmp_path, capsys):
    with folder_lock(tmp_path):  # the first sweep, as far as the folder is concerned
        assert sweep(tmp_path) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "in use by another sweep" in err and f"pid {os.getpid()}" in err
    assert not (tmp_path / "runs.csv").exists()
    assert sweep(tmp_path) == 0  # released: the folder is free again
    assert not (tmp_path / ".bench.lock").exists()


def test_a_lock_file_left_by_a_dead_process_is_taken_over(tmp_path):
    (tmp_path / ".bench.lock").write_text(json.dumps({"pid": 999999999, "host": "gone", "what": "bench run",
                                                      "since": "2020-01-01T00:00:00+00:00"}))
    with ResultsStore(tmp_path) as store:
        store.append_run({"run_id": "a", "status": "solved"})
    assert [r["run_id"] for r in read_rows(tmp_path / "runs.csv")] == ["a"]


def test_a_read_only_runs_csv_is_one_line_and_exit_2(finished, tmp_path, capsys):
    out = tmp_path / "ro"
    shutil.copytree(finished, out)
    runs = out / "runs.csv"
    before = runs.read_bytes()
    runs.chmod(0o444)
    try:
        assert sweep(out, "--resume") == 2
    finally:
        runs.chmod(0o644)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "read-only" in err and str(runs) in err
    assert runs.read_bytes() == before


def test_an_older_layout_gets_the_new_columns_and_keeps_its_rows(tmp_path):
    old = [c for c in RUN_COLUMNS if c != "log"]
    append_rows(tmp_path / "runs.csv", old, [{"run_id": "a", "status": "solved", "spec_hash": "h1"}])
    with (tmp_path / "runs.csv").open("ab") as f:
        f.write(b'bad,"line\n')
    with ResultsStore(tmp_path) as store:
        store.append_run({"run_id": "b", "status": "solved", "spec_hash": "h2", "log": "b.log"})
    rows = read_rows(tmp_path / "runs.csv", lambda m: None)
    assert [(r["run_id"], r["log"]) for r in rows] == [("a", ""), ("b", "b.log")]
    assert finished_spec_hashes(tmp_path, lambda m: None) == {"h1", "h2"}
    assert b'bad,"line\n' in (tmp_path / "runs.csv").read_bytes()  # a bad line is kept as it was


def test_a_runs_file_from_before_the_node_column_reads_with_node_empty(tmp_path):
    append_rows(tmp_path / "runs.csv", [c for c in RUN_COLUMNS if c != "node"], [{"run_id": "a", "hostname": "h"}])
    assert "node" not in read_rows(tmp_path / "runs.csv")[0]  # a reader takes the file as it is: row.get("node")
    with ResultsStore(tmp_path) as store:
        store.append_run({"run_id": "b", "node": "10.0.0.7/ab12"})
    rows = read_rows(tmp_path / "runs.csv", lambda m: None)
    assert [(r["run_id"], r["hostname"], r["node"]) for r in rows] == [("a", "h", ""), ("b", "", "10.0.0.7/ab12")]
    assert "| node |" in (tmp_path / "COLUMNS.md").read_text()


def test_writing_outside_the_lock_is_a_bug(tmp_path):
    with pytest.raises(AssertionError):
        ResultsStore(tmp_path).append_curve([{"run_id": "a"}])
    assert set(CURVE_COLUMNS) >= {"run_id", "iteration", "val_loss"}


# --- --resume on corrupted files ------------------------------------------------------------------
def corrupt(path, case):
    lines = path.read_bytes().splitlines(keepends=True)  # header + seeds 0, 1, 2
    if case == "unbalanced quote":  # seed 0's row opens a quote it never closes: it used to swallow the rest
        lines[1] = lines[1].replace(b",lstm,", b',"lstm,', 1)
    elif case == "partial row":
        lines[3] = lines[3][: len(lines[3]) // 2]
    elif case == "empty":
        lines = []
    elif case == "header only":
        lines = lines[:1]
    elif case == "non-UTF-8":
        lines[2] = lines[2].replace(b",lstm,", b",lstm\xff\xfe,", 1)
    elif case == "over-long line":
        lines.insert(2, b"x" * (table.MAX_LINE_BYTES + 1) + b"\n")
    path.write_bytes(b"".join(lines))


CASES = {  # case: the seeds whose rows survive it
    "unbalanced quote": [1, 2], "partial row": [0, 1], "empty": [], "header only": [],
    "non-UTF-8": [0, 2], "over-long line": [0, 1, 2],
}


@pytest.mark.parametrize("case", CASES)
def test_resume_on_a_corrupted_runs_csv_runs_each_missing_run_exactly_once(finished, tmp_path, capsys, case):
    out = tmp_path / "r"
    shutil.copytree(finished, out)
    corrupt(out / "runs.csv", case)
    capsys.readouterr()
    assert seeds_in(out) == CASES[case]
    assert sweep(out, "--resume") == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert f"{len(CASES[case])} finished run(s) skipped" in captured.out
    if case not in ("empty", "header only"):
        assert f"{out / 'runs.csv'}: skipped 1 line(s)" in captured.err
    whole = read_rows(out / "runs.csv", lambda m: None)
    assert sorted(int(r["seed"]) for r in whole) == [0, 1, 2]  # each run exactly once
    assert main(["report", "table1", "--in", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert "Traceback" not in capsys.readouterr().err
