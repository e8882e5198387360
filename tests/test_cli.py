"""The CLI end to end on a tiny budget, the CSVs it writes, and bad input (one line, exit 2)."""

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from bench.cli import main
from bench.config import DEFAULT_CONFIG_PATH
from bench.store import CURVE_COLUMNS, RUN_COLUMNS
from tasks.base import register_task
from tasks.algorithmic import CopyTask

TINY = ["-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8", "--val-every", "5", "-q",
        "-s", "train.val_batches=2", "-s", "train.inference_batches=2"]


def bench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_run_end_to_end_writes_well_formed_csvs(tmp_path):
    out = tmp_path / "res"
    proc = bench("run", "--models", "armin,lstm", "--task", "copy", "--iterations", "10", "--seeds", "2", "--out", str(out), *TINY)
    assert proc.returncode == 0, proc.stderr
    assert "mannbench results" in proc.stdout
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs.columns) == list(RUN_COLUMNS)
    assert len(runs) == 4
    assert sorted(zip(runs.model, runs.seed)) == [("armin", 0), ("armin", 1), ("lstm", 0), ("lstm", 1)]
    assert set(runs.status) <= {"solved", "unsolved"}
    assert (runs.iterations_run == 10).all() and (runs.param_count > 0).all()
    assert (runs.train_steps_per_s > 0).all() and (runs.infer_steps_per_s > 0).all()
    assert (runs.saved_tensor_bytes > 0).all() and runs.torch_version.notna().all() and runs.git_commit.notna().all()
    assert runs.loc[runs.model == "armin", "variant"].eq("paper").all()
    assert runs.loc[runs.model == "armin", "infer_path"].eq("eval:argmax-index-inplace").all()
    curves = pd.read_csv(out / "curves.csv")
    assert list(curves.columns) == list(CURVE_COLUMNS)
    assert sorted(curves.groupby("run_id").iteration.apply(list).tolist()) == [[5, 10]] * 4
    assert set(curves.run_id) == set(runs.run_id)
    assert "train_time_s" in (out / "COLUMNS.md").read_text()

    again = bench("run", "--models", "lstm", "--task", "copy", "--iterations", "5", "--out", str(out), *TINY)
    assert again.returncode == 0, again.stderr
    assert len(pd.read_csv(out / "runs.csv")) == 5  # appended, earlier rows intact


def test_code_variant_is_recorded(tmp_path):
    assert main(["run", "-m", "armin-code", "-t", "copy", "-n", "5", "--out", str(tmp_path), *TINY]) == 0
    row = pd.read_csv(tmp_path / "runs.csv").iloc[0]
    assert row.variant.startswith("code:") and "read=soft" in row.variant and "cell_tanh=True" in row.variant


def test_list_and_help(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "armin" in out and "priority_sort" in out and "table1" in out and "figure2" in out
    for args in (["--help"], ["run", "--help"], ["list", "--help"]):
        with pytest.raises(SystemExit) as exit_:  # argparse prints the help and exits
            main(args)
        assert exit_.value.code == 0 and "usage: bench" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--iterations" in capsys.readouterr().out


def bad_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("models: {armin: {class: armin}\ntasks: [\n")
    return ["--config", str(path)]




def assert_one_line_error(code: int, lines: list[str], message: str) -> None:
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert message in lines[0] and "Traceback" not in lines[0], lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "-m", "armni", "-t", "copy"], "unknown model 'armni'; valid: "),
        (["run", "-m", "armin", "-t", "cpy"], "unknown task 'cpy'; valid: "),
        (["run", "-m", "armin", "-t", "copy", "-s", "model.hidden_size=0"], "hidden_size must be >= 1"),
        (["run", "-m", "armin", "-t", "copy", "-s", "model.memory_slots=0"], "memory_slots >= 1"),
        (["run", "-m", "armin", "-t", "copy", "-s", "model.colour=red"], "has no option(s) colour"),
        (["run", "-m", "armin", "-t", "copy", "-s", "task.min_length=9", "-s", "task.max_length=3"], "copy"),
        (["run", "-m", "armin", "-t", "copy", "-n", "0"], "train.iterations=0: must be greater than or equal to 1"),
        (["run", "-m", "armin", "-t", "copy", "--seeds", "0"], "--seeds: '0' is not valid: give an integer from 1"),
        (["run", "-m", "armin", "-t", "copy", "-s", "oops"], "expected SCOPE.NAME=VALUE"),
        (["run", "-m", "armin", "-t", "copy", "-s", "train.lr=abc"], "train.lr='abc': must be a number"),
        (["run", "-m", "armin", "-t", "copy", "-s", "model.hidden_size=8.5"], "model.hidden_size=8.5: must be an integer"),
        (["run", "-m", "armin", "-t", "copy", "-s", "task.bits=many"], "task.bits='many': must be an integer"),
        (["run", "-m", "armin", "-t", "copy", "--device", "cuda:1000"], "asked for, but torch sees"),  # with or without a GPU
        (["run", "-m", "armin"], "give --models and --task, or --suite"),
        (["run", "--suite", "nope"], "unknown suite 'nope'"),
        (["run", "-m", "armin", "-t", "copy", "--jobs", "0"], "--jobs must be >= 1"),
        (["report", "table9"], "unknown report 'table9'"),
        (["frobnicate"], "invalid choice"),
        # issue 15's small cases
        (["run", "-m", "lstm", "-t", "copy", "--seed", "1e20"], "--seed: '1e20' is not valid: give an integer from 0 to"),
        (["run", "-m", "lstm", "-t", "copy", "--seed", "100000000000000000000"], "--seed: '100000000000000000000'"),
        (["profile", "-p", "ci", "--vocab", "1"], "--vocab: '1' is not valid: give an integer from 2"),
        (["profile", "-p", "ci", "--hidden", "1000000000"], "model.hidden_size=1000000000: must be less than or equal"),
        (["profile", "-p", "ci", "--hidden", "100000"], "has 40,025,800,050 weights and buffers; at most"),
        (["profile", "-p", "ci", "--out", ""], "--out/-o: '' is not a folder name"),
        (["report", "table1", "--out", ""], "--out/-o: '' is not a folder name"),
        ("BAD_YAML", "malformed YAML"),
        ("UNWRITABLE", "is not writable"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli, tmp_path, capsys, args, message):
    if args == "BAD_YAML":
        args = [*bad_yaml(tmp_path), "run", "-m", "armin", "-t", "copy"]
    elif args == "UNWRITABLE":
        blocker = tmp_path / "file"
        blocker.write_text("")
        args = ["run", "-m", "armin", "-t", "copy", "-n", "1", "--out", str(blocker / "sub")]
    assert_one_line_error(*cli(args, capsys), message)


def test_a_model_given_twice_runs_once_with_a_note(cli, tmp_path, capsys):
    code, lines = cli(["run", "-m", "lstm,lstm", "-t", "copy,copy", "-n", "2", "--out", str(tmp_path), *TINY], capsys)
    assert code == 0, lines
    assert "bench: note: model 'lstm' given 2 times; it runs once" in lines
    assert "bench: note: task 'copy' given 2 times; it runs once" in lines
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 1


def error_rows(folder: Path) -> Path:
    """A results folder whose only run ended in an error."""
    row = {column: "" for column in RUN_COLUMNS} | {"model": "lstm", "task": "copy", "seed": 0, "status": "error",
                                                    "error": "RuntimeError: boom"}
    folder.mkdir()
    pd.DataFrame([row], columns=list(RUN_COLUMNS)).to_csv(folder / "runs.csv", index=False)
    return folder


@pytest.mark.parametrize("report", ["table1", "table2", "table3"])
@pytest.mark.parametrize("contents, message", [
    (None, "no finished run in"),  # only error rows
    ("", "no rows in runs.csv"),
    (",".join(RUN_COLUMNS) + "\n", "no rows in runs.csv of"),
])
def test_report_on_results_without_a_finished_run_is_one_line(cli, tmp_path, capsys, report, contents, message):
    folder = error_rows(tmp_path / "res")
    if contents is not None:
        (folder / "runs.csv").write_text(contents)
    assert_one_line_error(*cli(["report", report, "--in", str(folder), "--out", str(tmp_path / "o")], capsys), message)


@pytest.mark.parametrize("command", [["report", "table1"], ["plot", "figure2"]])
def test_report_or_plot_out_pointing_at_a_file_is_one_line(cli, tmp_path, capsys, command):
    folder = error_rows(tmp_path / "res")
    blocker = tmp_path / "file.txt"
    blocker.write_text("")
    code, lines = cli([*command, "--in", str(folder), "--out", str(blocker)], capsys)
    assert_one_line_error(code, lines, f"--out {blocker} is a file; give a folder")
    assert blocker.read_text() == ""


@register_task("test_nan_copy")
class NaNCopy(CopyTask):
    """Copy whose loss turns NaN at the 5th call with gradients (the memory probe makes call 1, so
    training iteration 4; validations do not count): a run that diverges."""

    calls = 0

    def loss(self, logits, batch):
        NaNCopy.calls += torch.is_grad_enabled()
        value = super().loss(logits, batch)
        return value * math.nan if NaNCopy.calls == 5 else value


def test_diverged_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    config = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())
    config["tasks"]["nan_copy"] = {"class": "test_nan_copy", "bits": 4, "max_length": 3}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    NaNCopy.calls = 0
    code = main(["--config", str(path), "run", "-m", "lstm,armin", "-t", "nan_copy", "-n", "20", "--val-every", "100",
                 "-q", "-s", "model.hidden_size=8", "-s", "train.val_batches=1", "--out", str(tmp_path / "r")])
    assert code == 0
    runs = pd.read_csv(tmp_path / "r" / "runs.csv")
    assert runs.status.tolist() == ["diverged", "unsolved"]
    assert runs.diverged_at.tolist()[0] == 4
    assert runs.iterations_run.tolist() == [3, 20]


def test_progress_in_a_log_file_is_a_line_per_validation(tmp_path):
    args = [a for a in TINY if a != "-q"]
    proc = bench("run", "-m", "lstm", "-t", "copy", "-n", "10", "--jobs", "2", "--seeds", "2", "--out", str(tmp_path), *args)
    assert proc.returncode == 0, proc.stderr
    for seed in (0, 1):
        for iteration in (5, 10):
            assert f"lstm/copy/s{seed} it {iteration} val_loss" in proc.stdout


def test_log_file_progress_has_a_heartbeat_between_validations(tmp_path, monkeypatch, capsys):
    import bench.commands.run as run_command

    monkeypatch.setattr(run_command, "LOG_HEARTBEAT_S", 0.0)  # a line at every progress report
    args = [a for a in TINY if a != "-q"]
    assert main(["run", "-m", "lstm", "-t", "copy", "-n", "4", "--out", str(tmp_path), *args]) == 0
    out = capsys.readouterr().out
    assert "lstm/copy/s0 it 1/4 loss" in out and "lstm/copy/s0 it 3/4 loss" in out


def test_numbers_written_as_yaml_reads_them_as_text_are_numbers(tmp_path):
    # YAML 1.1 reads 1e-3 (no dot) as a string; the row must hold the number the user meant
    args = [a for a in TINY]
    assert main(["run", "-m", "armin", "-t", "copy", "-n", "2", "--out", str(tmp_path), *args,
                 "-s", "train.lr=1e-3", "-s", "model.hidden_size=1e1", "-s", "train.inverse_temperature.max=5e0"]) == 0
    row = pd.read_csv(tmp_path / "runs.csv").iloc[0]
    assert row.lr == 0.001 and row.hidden_size == 10
    assert '"max": 5.0' in row.train_options
