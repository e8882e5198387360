"""Results store: one CSV row per run (runs.csv) and the validation curves (curves.csv).

Rows are appended whole, under a file lock, flushed and fsynced: a run or a sweep that dies never
corrupts rows already written. Every row carries its environment. ``COLUMNS.md`` beside the CSVs
says what each column means (and what each time includes).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import fcntl
import os
import platform
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable

import torch

from bench.config import ConfigError
from bench.status import FINISHED  # statuses --resume treats as done ("error" is retried)

REPO_ROOT = Path(__file__).resolve().parent.parent

RUN_COLUMNS: dict[str, str] = {
    "run_id": "unique id of the run (model-task-seed-time)",
    "timestamp": "UTC time the run finished, ISO 8601",
    "model": "model preset name in benchmarks.yaml",
    "model_class": "registered model class",
    "variant": "paper/code choices in effect (ARMIN: 'paper' or the authors'-code options used)",
    "task": "task preset name",
    "task_class": "registered task class",
    "seed": "seed of weights, data and sampling noise",
    "spec_hash": "fingerprint of model/task/training options and seed (what --resume matches)",
    "status": "solved | unsolved | diverged | error",
    "iterations_budget": "iteration budget",
    "iterations_run": "iterations actually trained",
    "iterations_to_solve": "iteration at which the paper's solved rule first held (empty if not solved)",
    "final_val_loss": "mean validation loss of the last `solved_window` validations (the paper's figure for unsolved runs)",
    "last_val_loss": "last validation loss",
    "best_val_loss": "lowest validation loss",
    "diverged_at": "iteration at which the divergence rule fired: a NaN/inf loss, or the validation loss far above the untrained model's (empty otherwise)",
    "metric_name": "task metric reported on the test split (e.g. test_accuracy, test_bpc); empty for algorithmic tasks",
    "metric_value": "value of metric_name (best-validation checkpoint)",
    "best_val_metric": "best validation value of the task metric",
    "epochs_run": "epochs trained (epoch-based tasks)",
    "data": "data actually used (dataset name and files/checksums), for real-data tasks",
    "checkpoint": "path of the saved checkpoint, if any",
    "error": "exception message for status=error; for status=diverged, the rule that fired with its numbers",
    "time_to_solve_s": "training time (excl. validation) until solved, seconds",
    "train_time_s": "time in training iterations only: batch generation, forward, backward, clipping, optimiser step",
    "val_time_s": "time in validation (inference mode, no grad)",
    "wall_time_s": "whole run: training + validation + bookkeeping (excl. model build and the inference benchmark)",
    "train_steps_per_s": "training throughput: time steps x batch / train_time_s (the paper's chars/s)",
    "infer_steps_per_s": "inference throughput: time steps x batch per second of forward in eval mode, no grad, batch generation excluded",
    "infer_path": "code path the inference timing took (e.g. ARMIN eval:argmax-index-inplace)",
    "peak_cuda_bytes": "torch.cuda.max_memory_allocated over the run (GPU only)",
    "peak_rss_growth_bytes": "peak growth of process RSS over the run (psutil, sampled), CPU",
    "max_rss_bytes": "process lifetime peak RSS (ru_maxrss)",
    "saved_tensor_bytes": "bytes autograd saves for backward in one training forward on the task's longest batch (repeatable)",
    "param_count": "trainable parameters",
    "input_size": "model input width",
    "output_size": "model output width",
    "hidden_size": "hidden/controller size",
    "memory_slots": "memory rows (n_mem)",
    "memory_width": "memory row width",
    "batch_size": "training batch size",
    "optimizer": "optimiser",
    "lr": "learning rate",
    "model_options": "all model options, JSON",
    "task_options": "all task options, JSON",
    "train_options": "all training options, JSON",
    "device": "torch device used",
    "dtype": "parameter dtype",
    "device_name": "GPU name or CPU model",
    "cpu_model": "CPU model",
    "num_threads": "torch intra-op threads",
    "torch_version": "torch.__version__",
    "python_version": "Python version",
    "hostname": "machine name",
    "git_commit": "git commit of the harness (with '-dirty' if the tree had changes)",
}

CURVE_COLUMNS: dict[str, str] = {
    "run_id": "run id, as in runs.csv",
    "model": "model preset",
    "task": "task preset",
    "seed": "seed",
    "iteration": "training iteration at which validation ran",
    "val_loss": "mean validation loss over freshly generated batches (eval mode)",
    "train_loss": "mean training loss since the previous validation",
    "inverse_temperature": "gumbel 1/tau at that iteration",
    "train_time_s": "training time so far (excl. validation)",
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit or "unknown") + ("-dirty" if dirty else "")


def environment(device: torch.device) -> dict[str, Any]:
    """What the numbers depend on; stored in every row."""
    cpu = _cpu_model()
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
        "cpu_model": cpu,
        "num_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "hostname": socket.gethostname(),
        "git_commit": _git_commit(),
    }


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class ResultsStore:
    """Appends rows to ``runs.csv`` and ``curves.csv`` in ``out_dir``."""

    RUNS, CURVES, COLUMNS_DOC = "runs.csv", "curves.csv", "COLUMNS.md"

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.out_dir):  # a probe of its own: worker processes open stores at once
                pass
        except OSError as err:
            raise ConfigError(f"output folder {self.out_dir} is not writable: {err.strerror or err}") from None
        self.runs_path = self.out_dir / self.RUNS
        self.curves_path = self.out_dir / self.CURVES
        for path, columns in ((self.runs_path, RUN_COLUMNS), (self.curves_path, CURVE_COLUMNS)):
            self._drop_partial_line(path)
            self._check_header(path, list(columns))
        self._write_columns_doc()

    @staticmethod
    def _drop_partial_line(path: Path) -> None:
        """A process killed in the middle of a write can leave an unterminated last line: drop it."""
        if not path.is_file() or path.stat().st_size == 0:
            return
        with path.open("r+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # not while another process appends a row
            try:
                data = f.read()
                if not data.endswith(b"\n"):
                    f.truncate(data.rfind(b"\n") + 1)
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @staticmethod
    def _check_header(path: Path, columns: list[str]) -> None:
        if path.is_file() and path.stat().st_size > 0:
            with path.open(newline="") as f:
                header = next(csv.reader(f), [])
            if header != columns:
                raise ConfigError(f"{path} has another column layout (older harness?); write to a new --out folder")

    def _write_columns_doc(self) -> None:
        lines = ["# Columns of the result files", ""]
        for name, columns in ((self.RUNS, RUN_COLUMNS), (self.CURVES, CURVE_COLUMNS)):
            lines += [f"## {name}", "", "| column | meaning |", "| --- | --- |"]
            lines += [f"| {col} | {doc} |" for col, doc in columns.items()] + [""]
        (self.out_dir / self.COLUMNS_DOC).write_text("\n".join(lines))

    @staticmethod
    def _append(path: Path, columns: Iterable[str], rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        columns = list(columns)
        with path.open("a", newline="") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                text = io.StringIO()  # rows go to the file in one write
                writer = csv.DictWriter(text, fieldnames=columns, extrasaction="raise")
                if f.seek(0, os.SEEK_END) == 0:  # the size now, under the lock (another process may have written since open)
                    writer.writeheader()
                for row in rows:
                    writer.writerow({c: row.get(c) for c in columns})
                f.write(text.getvalue())
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def append_run(self, row: dict[str, Any]) -> None:
        unknown = set(row) - set(RUN_COLUMNS)
        if unknown:
            raise KeyError(f"row has undocumented columns: {sorted(unknown)}")
        self._append(self.runs_path, RUN_COLUMNS, [row])

    def append_curve(self, rows: list[dict[str, Any]]) -> None:
        self._append(self.curves_path, CURVE_COLUMNS, rows)



def finished_spec_hashes(out_dir: str | Path) -> set[str]:
    """spec_hash of every run in ``out_dir/runs.csv`` that finished (for ``--resume``)."""
    path = Path(out_dir) / ResultsStore.RUNS
    if not path.is_file():
        return set()
    with path.open(newline="") as f:
        return {row["spec_hash"] for row in csv.DictReader(f) if row.get("status") in FINISHED and row.get("spec_hash")}
