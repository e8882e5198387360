"""The results of a sweep: one CSV row per run (runs.csv), the validation curves (curves.csv) and
COLUMNS.md, which says what each column means (and what each time includes).

Only the sweep's own process writes here (workers send their results back to it), holding the
folder lock for as long as it writes: a second sweep on the same folder is refused. Rows are
written whole (bench/store/table.py); every row carries its environment.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import stat
from pathlib import Path
from typing import Any

from bench import __version__
from bench.behaviour import BEHAVIOUR_VERSION
from bench.errors import ConfigError
from bench.version import harness_commit
from bench.status import FINISHED  # statuses --resume treats as done ("error" is retried)
from bench.store.lock import LockHeld, folder_lock
from bench.store.table import (
    Warn, append_rows, frame_of, header_of, read_numbered_rows, read_rows, remove_lines, rewrite_with_columns,
    warn_on_stderr,
)

DUPLICATES = "runs-duplicates.csv"  # rows --resume took out of runs.csv as duplicates of a run (kept, not counted)

RUN_COLUMNS: dict[str, str] = {
    "run_id": "unique id of the run (model-task-seed-time)",
    "timestamp": "UTC time the run finished, ISO 8601",
    "model": "model preset name in benchmarks.yaml",
    "model_class": "registered model class",
    "variant": "paper/code choices in effect (ARMIN: 'paper' or the authors'-code options used)",
    "task": "task preset name",
    "task_class": "registered task class",
    "plugins": "plugins the model or task class came from, SOURCE@IDENTITY (file hash or package version; part of spec_hash); empty for built-ins",
    "seed": "seed of weights, data and sampling noise",
    "spec_hash": "fingerprint of model/task/training options and seed (what --resume matches)",
    "status": "solved | unsolved | diverged | error",
    "iterations_budget": "iteration budget",
    "iterations_run": "iterations actually trained",
    "iterations_to_solve": "iteration at which the paper's solved rule first held (empty if not solved)",
    "train_loss_solved_at": "the ARMIN authors' measure: first iteration ending a window of train_loss_window (200) iterations whose mean training loss fell below solved_threshold (empty if never, or if the run stopped first)",
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
    "weights": "the run's final weights, kept by bench run --keep-weights (OUT/weights/RUN_ID.pt) for bench inspect; empty otherwise",
    "error": "for status=error: the exception (type and first line), or how the worker process died; for status=diverged, the rule that fired with its numbers",
    "log": "the run's log file: progress, and the full traceback of an error",
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
    "node": "where the run executed: the machine's hostname (local executor: this process or its worker processes), or NODE_IP/NODE_ID of the Ray node that ran the task (--executor ray; NODE_ID as `ray list nodes` shows it); empty in files written before the column existed, and for a Ray task lost before it started",
    "git_commit": "git commit of the harness (with '-dirty' if the tree had changes); a wheel built from a checkout carries the commit it was built from; 'unknown' otherwise",
    "package_version": "mannbench version that wrote the row",
    "behaviour_version": "results-behaviour version (bench/behaviour.py): rows of the same spec and seed are comparable only within one version",
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


def environment(device) -> dict[str, Any]:
    """What the numbers depend on (``device``: a torch.device); stored in every row."""
    import torch  # here: readers of the store need no torch

    cpu = _cpu_model()
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
        "cpu_model": cpu,
        "num_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "hostname": socket.gethostname(),
        "git_commit": harness_commit(),
        "package_version": __version__,
        "behaviour_version": BEHAVIOUR_VERSION,
    }


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class ResultsStore:
    """The writer of ``runs.csv`` and ``curves.csv`` in ``out_dir``; write inside ``with``, which holds
    the folder lock::

        with ResultsStore(out) as store:
            store.append_run(row)
    """

    RUNS, CURVES, COLUMNS_DOC = "runs.csv", "curves.csv", "COLUMNS.md"

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.runs_path = self.out_dir / self.RUNS
        self.curves_path = self.out_dir / self.CURVES
        self._lock = folder_lock(self.out_dir)

    def __enter__(self) -> "ResultsStore":
        """Take the folder (a second sweep is refused here) and check that its files can be written."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except LockHeld as held:
            raise ConfigError(f"{self.out_dir} is in use by another sweep ({held}); wait for it to end, "
                              f"stop it, or write to another --out folder") from None
        except OSError as err:
            raise ConfigError(f"output folder {self.out_dir} is not writable: {err.strerror or err}") from None
        try:
            for path, columns in ((self.runs_path, RUN_COLUMNS), (self.curves_path, CURVE_COLUMNS)):
                _check_writable(path)
                check_header(path, list(columns))
            self._write_columns_doc()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()

    @property
    def is_open(self) -> bool:
        return self._lock.fd is not None

    def _write_columns_doc(self) -> None:
        lines = ["# Columns of the result files", ""]
        for name, columns in ((self.RUNS, RUN_COLUMNS), (self.CURVES, CURVE_COLUMNS)):
            lines += [f"## {name}", "", "| column | meaning |", "| --- | --- |"]
            lines += [f"| {col} | {doc} |" for col, doc in columns.items()] + [""]
        try:
            (self.out_dir / self.COLUMNS_DOC).write_text("\n".join(lines))
        except OSError as err:
            raise ConfigError(f"output folder {self.out_dir} is not writable: {err.strerror or err}") from None

    def append_run(self, row: dict[str, Any]) -> None:
        """One run's row, whole (``StoreError`` if it cannot be written)."""
        unknown = set(row) - set(RUN_COLUMNS)
        if unknown:
            raise KeyError(f"row has undocumented columns: {sorted(unknown)}")
        assert self.is_open, "write inside `with ResultsStore(...)`"
        append_rows(self.runs_path, RUN_COLUMNS, [row])

    def remove_duplicate_runs(self) -> tuple[int, int]:
        """Move the rows of runs.csv that ``duplicate_runs`` leaves out to DUPLICATES (appended first,
        so a crash between the two steps loses nothing), leaving each run once in runs.csv. Returns
        (rows moved, runs they belonged to)."""
        assert self.is_open, "write inside `with ResultsStore(...)`"
        numbered = read_numbered_rows(self.runs_path, lambda message: None)  # the reader warns about bad lines
        rows = [row for _, row in numbered]
        dropped = duplicate_runs(rows)
        if not dropped:
            return 0, 0
        append_rows(self.out_dir / DUPLICATES, RUN_COLUMNS, [rows[i] for i in dropped])
        remove_lines(self.runs_path, {numbered[i][0] for i in dropped})
        return len(dropped), len({run_key(rows[i]) for i in dropped})

    def append_curve(self, rows: list[dict[str, Any]]) -> None:
        assert self.is_open, "write inside `with ResultsStore(...)`"
        append_rows(self.curves_path, CURVE_COLUMNS, rows)


def _check_writable(path: Path) -> None:
    """A results file that exists must be writable; one without any write permission bit counts as
    read-only even for root (someone protected it)."""
    if not path.exists():
        return
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{path} is not a regular file; write to another --out folder")
    if not (mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) or not os.access(path, os.W_OK):
        raise ConfigError(f"{path} is read-only: make it writable (chmod u+w) or write to another --out folder")
    try:
        with path.open("ab"):
            pass
    except OSError as err:
        raise ConfigError(f"{path} cannot be written ({err.strerror or err}); write to another --out folder") from None


def check_header(path: Path, columns: list[str]) -> None:
    """A file written by an older harness with fewer columns gets the new ones (empty); another
    layout is refused."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    header = header_of(path)
    if header is None or header == columns:
        return  # no readable header: the readers skip the file with a warning, new rows still go in
    if set(header) < set(columns):
        rewrite_with_columns(path, columns)
        return
    raise ConfigError(f"{path} has another column layout (columns {', '.join(sorted(set(header) - set(columns)))} "
                      f"are unknown here); write to a new --out folder")



def run_key(row: dict[str, Any]) -> tuple[str, str] | None:
    """What makes two rows the same run: fingerprint and seed (None for a row without a fingerprint,
    written before the column existed: never taken for another's duplicate)."""
    spec_hash = str(row.get("spec_hash") or "")
    return (spec_hash, str(row.get("seed"))) if spec_hash and spec_hash != "nan" else None


def duplicate_runs(rows: list[dict[str, Any]]) -> list[int]:
    """Positions in ``rows`` of the rows that another row of the same run (``run_key``) outranks:
    of one run's rows the last finished one counts (a rerun's row replaces the earlier), else the
    last one (an error retried and failed again)."""
    kept: dict[tuple[str, str], int] = {}
    for position, row in enumerate(rows):
        key = run_key(row)
        if key is None:
            continue
        earlier = kept.get(key)
        if earlier is None or row.get("status") in FINISHED or rows[earlier].get("status") not in FINISHED:
            kept[key] = position
    counted = set(kept.values())
    return [i for i, row in enumerate(rows) if run_key(row) is not None and i not in counted]


def unique_runs(rows: list[dict[str, Any]], warn: Warn = warn_on_stderr, where: str = "runs.csv") -> list[dict[str, Any]]:
    """``rows`` with each run once (``duplicate_runs``), and a warning with the count if any was left out.
    Every reader of runs.csv rows goes through here: reports, plots, ``--resume``."""
    dropped = set(duplicate_runs(rows))
    if dropped:
        runs = len({run_key(rows[i]) for i in dropped})
        warn(f"{where}: {len(dropped)} duplicate row(s) of {runs} run(s) not counted (same spec_hash and seed: the "
             f"last finished row of each counts); bench run --resume on the folder moves them to {DUPLICATES}")
    return [row for i, row in enumerate(rows) if i not in dropped]


def read_runs(out_dir: str | Path, warn: Warn = warn_on_stderr) -> list[dict[str, str]]:
    """The whole rows of ``out_dir/runs.csv`` (bad lines skipped with a warning), each run once."""
    path = Path(out_dir) / ResultsStore.RUNS
    return unique_runs(read_rows(path, warn), warn, str(path))


def read_runs_frame(paths: list[str | Path], warn: Warn = warn_on_stderr):
    """The rows of the runs CSV files ``paths`` as one pandas DataFrame (types as ``read_frame``), each
    file read once however often it is named, and each run once across all of them."""
    files = list(dict.fromkeys(Path(p).resolve() for p in paths))
    rows = [row for path in files for row in read_rows(path, warn)]
    where = ", ".join(str(p) for p in files) if len(files) > 1 else str(files[0]) if files else "runs.csv"
    return frame_of(unique_runs(rows, warn, where), RUN_COLUMNS)


def finished_spec_hashes(out_dir: str | Path, warn: Warn = warn_on_stderr) -> set[str]:
    """spec_hash of every run in ``out_dir/runs.csv`` that finished (for ``--resume``)."""
    return {row["spec_hash"] for row in read_runs(out_dir, warn) if row.get("status") in FINISHED and row.get("spec_hash")}
