"""Bad input and bad luck, one line and exit 2 (or an error row that says what happened): compare on an
empty or undecodable profile, report and plot into a folder that cannot be written, a full disk while
a checkpoint is written, and error text printed literally on the console."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from bench.cli import main
from bench.store import read_rows

TINY = ["-m", "lstm", "-t", "copy", "-n", "2", "--val-every", "2",
        "-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8",
        "-s", "train.val_batches=1", "-s", "train.val_batch_size=2", "-s", "train.inference_batches=1"]


def one_line_exit_2(argv, capsys, message):
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, lines)
    assert message in lines[0], lines[0]


@pytest.mark.parametrize("content, message", [
    (b"", "is empty: not a profile CSV"),
    (b"run_id,model,setup,mode,chars_per_s\n\xff\xfe,lstm,a,b,1\n", "is not UTF-8 text: not a profile CSV"),
])
def test_compare_on_an_empty_or_undecodable_profile(tmp_path, capsys, content, message):
    path = tmp_path / "profile.csv"
    path.write_bytes(content)
    one_line_exit_2(["compare", str(path), str(path)], capsys, f"{path} {message}")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    assert main(["run", *TINY, "-q", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("command", [["report", "table1"], ["plot", "figure2"]])
def test_report_and_plot_into_a_read_only_folder(results, tmp_path, capsys, command):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)  # read-only, even for root: no write permission bit
    try:
        one_line_exit_2([*command, "--in", str(results), "--out", str(locked)], capsys,
                        f"--out {locked}: cannot write the {command[0]} there: {locked} is read-only")
    finally:
        locked.chmod(stat.S_IRWXU)
    assert not list(locked.iterdir())
    below = locked / "new" / "sub"  # made only where it can be: refused, and nothing made
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        one_line_exit_2([*command, "--in", str(results), "--out", str(below)], capsys,
                        f"--out {below}: cannot write the {command[0]} there: {locked} is read-only")
    finally:
        locked.chmod(stat.S_IRWXU)
    assert not list(locked.iterdir())


@pytest.mark.parametrize("command", [["report", "table1"], ["plot", "figure2"]])
def test_report_and_plot_into_a_folder_below_a_file(results, tmp_path, capsys, command):
    below = results / "runs.csv" / "sub"
    one_line_exit_2([*command, "--in", str(results), "--out", str(below)], capsys,
                    f"--out {below}: cannot write the {command[0]} there: Not a directory")


def test_a_full_disk_while_writing_a_checkpoint_is_named_in_the_row_and_on_the_console(tmp_path, capsys, monkeypatch):
    real = os.write

    def full_for_checkpoints(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp") and "checkpoints" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(os, "write", full_for_checkpoints)
    capsys.readouterr()
    assert main(["run", *TINY, "-n", "3", "-s", "train.checkpoint_every=1", "-q", "--out", str(tmp_path)]) == 1
    monkeypatch.setattr(os, "write", real)
    [row] = read_rows(tmp_path / "runs.csv")
    assert row["status"] == "error"
    assert row["error"] == "no space left on device: OSError: [Errno 28] No space left on device", row["error"]
    console = " ".join(capsys.readouterr().out.split())  # lines wrapped at the console's width joined again
    assert "no space left on device: OSError: [Errno 28] No space left on device" in console


def test_error_text_is_printed_literally(tmp_path, capsys, monkeypatch):
    """Rich reads [lowercase ...] as markup and drops it: torch's messages start with such brackets."""
    from bench.training import checkpoint

    def torch_failure(obj, path):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 276288 vs 276180")

    monkeypatch.setattr(checkpoint, "save_atomic", torch_failure)
    capsys.readouterr()
    assert main(["run", *TINY, "-n", "3", "-s", "train.checkpoint_every=1", "--out", str(tmp_path)]) == 1
    console = " ".join(capsys.readouterr().out.split())
    expected = "RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos 276288 vs 276180"
    assert console.count(expected) == 2, console  # when the run ends, and in the summary's list of errors
