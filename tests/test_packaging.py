"""`pip install .` gives a working `bench`: the wheel holds every subpackage and benchmarks.yaml, and
the installed command lists and runs from a folder that is not the repository (no PYTHONPATH to it).
Builds offline (no build isolation: setuptools >= 70.1, see the test extra), about 20 s."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "bench", "models", "tasks")  # what a wheel is built from
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]


def pip(*args: str, cwd: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project built as a wheel from a clean copy of its sources, installed into a bare folder."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    for name in SOURCES:  # a copy: the build writes build/ and *.egg-info beside the sources
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(src, source / name)
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "sources"]):  # a checkout of its own
        subprocess.run(GIT + command, cwd=source, check=True, capture_output=True)
    commit = subprocess.run(GIT + ["rev-parse", "--short=12", "HEAD"], cwd=source, capture_output=True, text=True).stdout.strip()
    (root / "commit").write_text(commit)
    pip("wheel", ".", "--no-deps", "--no-build-isolation", "--wheel-dir", str(root / "dist"), cwd=source)
    (wheel,) = (root / "dist").glob("mannbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("bench/commands/run.py", "bench/reports/table1.py", "bench/plots/figure2.py",
                     "bench/benchmarks.yaml", "bench/reports/templates/site.html.j2", "models/armin.py",
                     "tasks/data.py", "bench/_build_info.py",
                     "bench/paper/paper_table1_algorithmic.csv", "bench/paper/paper_table2_pmnist.csv",
                     "bench/paper/paper_table3_charlm.csv", "bench/paper/paper_table4_setups.csv"):
        assert expected in names, f"{expected} missing from the wheel"
    target = root / "site"
    pip("install", "--no-deps", "--target", str(target), str(wheel), cwd=root)
    return target


def run_installed(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(target / "bin" / "bench"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_installed_wheel_lists_and_runs_from_any_folder(installed, tmp_path):
    where = subprocess.run([sys.executable, "-c", "import bench; print(bench.__file__)"], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout + where.stderr  # not the repository's

    listed = run_installed(installed, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert "armin-code" in listed.stdout and "table1" in listed.stdout and "figure2" in listed.stdout

    ran = run_installed(installed, tmp_path, "run", "-m", "lstm", "-t", "copy", "-n", "3", "--val-every", "3", "-q",
                        "-s", "model.hidden_size=8", "-s", "task.max_length=3", "-s", "train.val_batches=1",
                        "-s", "train.inference_batches=1", "--out", "out")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert runs[["model", "task", "iterations_run"]].values.tolist() == [["lstm", "copy", 3]]
    # provenance: the version, the behaviour version, and the commit the wheel was built from
    from bench import __version__
    from bench.behaviour import BEHAVIOUR_VERSION
    row = runs.iloc[0]
    assert row.package_version == __version__ and row.behaviour_version == BEHAVIOUR_VERSION
    assert row.git_commit == (installed.parent / "commit").read_text()


def test_installed_wheel_reports_and_plots_from_a_bare_folder(installed, tmp_path):
    """The paper's tables travel with the package: Table 1 and the plots work with no checkout in sight."""
    ran = run_installed(installed, tmp_path, "run", "-m", "lstm,armin", "-t", "copy", "-n", "4", "--val-every", "2", "-q",
                        "-s", "model.hidden_size=8", "-s", "task.max_length=3", "-s", "train.val_batches=1",
                        "-s", "train.inference_batches=1", "--out", "out")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    for command in (["report", "table1"], ["plot", "solve-curves"], ["plot", "figure2"]):
        done = run_installed(installed, tmp_path, *command, "--in", "out")
        assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_csv(tmp_path / "reports" / "table1_long.csv")
    assert table.paper_value.notna().all()  # the paper's numbers came from the package
    assert (tmp_path / "reports" / "solve_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "reports" / "figure2.png").read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def example_installed(installed, tmp_path_factory) -> Path:
    """examples/gru-attention (an external model package) built as a wheel and installed beside mannbench."""
    root = tmp_path_factory.mktemp("example")
    source = root / "source"
    shutil.copytree(REPO / "examples" / "gru-attention", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip("wheel", ".", "--no-deps", "--no-build-isolation", "--wheel-dir", str(root / "dist"), cwd=source)
    (wheel,) = (root / "dist").glob("mannbench_gru_attention-*.whl")
    target = root / "site"
    pip("install", "--no-deps", "--target", str(target), str(wheel), cwd=root)
    return target


def test_an_installed_model_package_and_a_plugin_file_run_report_and_profile(installed, example_installed, tmp_path):
    """The worked example's commands (docs/plugins.md), from a folder outside the repository."""
    env = {**os.environ, "PYTHONPATH": f"{installed}{os.pathsep}{example_installed}", "OMP_NUM_THREADS": "1"}

    def bench(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(installed / "bin" / "bench"), *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    checked = bench("check-model", "gru-attention", "--long-steps", "50")
    assert "gru-attention: keeps the contract" in checked.stdout
    (tmp_path / "my_lstm.py").write_text(
        "from dataclasses import dataclass\nfrom models.lstm import LSTM, LSTMConfig\nfrom models.base import register_model\n"
        "@register_model('my-lstm')\nclass MyLSTM(LSTM):\n    pass\n")
    tiny = ["-t", "copy", "-n", "4", "--val-every", "2", "-q", "-s", "task.max_length=3", "-s", "train.val_batches=1",
            "-s", "train.inference_batches=1", "-s", "model.hidden_size=8"]
    bench("run", "--plugin", "my_lstm.py", "-m", "gru-attention,my-lstm,armin", *tiny, "-s", "train.generalization=true",
          "--jobs", "2", "--out", "out")
    runs = pd.read_csv(tmp_path / "out" / "runs.csv", keep_default_na=False).set_index("model")
    assert (runs["status"] != "error").all(), runs["error"]
    assert runs.loc["gru-attention", "plugins"] == "entry-point:mannbench.models:gru-attention@mannbench-gru-attention==0.1.0"
    assert runs.loc["my-lstm", "plugins"].startswith(f"file:{tmp_path / 'my_lstm.py'}@sha256:")
    bench("report", "table1", "--in", "out")  # the paper's tables travel with the package
    assert "gru-attention" in set(pd.read_csv(tmp_path / "reports" / "table1_long.csv")["model"])
    bench("profile", "-m", "gru-attention,lstm", "--hidden", "8", "--mode", "train,infer", "--tbptt", "3",
          "--batch-size", "2", "--repeats", "1", "--warmup", "1", "-q", "--out", "prof")
    assert "gru-attention" in set(pd.read_csv(tmp_path / "prof" / "profile.csv")["model"])


def test_the_packaged_configuration_is_the_top_level_file():
    """One file to edit: bench/benchmarks.yaml (package data) is a link to the repository's
    benchmarks.yaml, never a copy that could drift from it."""
    root = Path(__file__).resolve().parent.parent
    packaged = root / "bench" / "benchmarks.yaml"
    assert packaged.is_symlink() and packaged.resolve() == (root / "benchmarks.yaml").resolve()
