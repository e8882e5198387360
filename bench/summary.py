"""What ``bench run`` prints: the summary table at the end (readable at 80 columns) and the
progress display's texts (time remaining per run and for the sweep, the estimate before a long sweep).

The summary never cuts a value: headers are abbreviated instead, and columns are dropped in a fixed
order when the terminal is narrow. The first eight columns (model, task, seed, status, iterations to
solve, last and best validation loss, time) are always there; wider terminals get the rest
(``OPTIONAL_COLUMNS``, in order). When model and task names are too long for one line at the width,
the task column gives way first: the table gets a heading line per task and a row per model.
"""

from __future__ import annotations

import io
import math
from typing import Any, Iterable

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

# (column in runs.csv, header): always shown
CORE_COLUMNS = (
    ("model", "model"), ("task", "task"), ("seed", "seed"), ("status", "status"),
    ("iterations_to_solve", "solved@"), ("last_val_loss", "last loss"), ("best_val_loss", "best loss"),
    ("wall_time_s", "time"),
)
# shown, in this order, while the terminal has room
OPTIONAL_COLUMNS = (
    ("iterations_run", "iters"), ("final_val_loss", "mean10 loss"), ("train_steps_per_s", "train st/s"),
    ("infer_steps_per_s", "infer st/s"), ("param_count", "params"),
)
LEFT = {"model", "task", "status"}


def duration(seconds: Any) -> str:
    """'45s', '3m05s', '2h10m': a duration as a person reads it ('-' when unknown)."""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return "-"
    if not math.isfinite(seconds) or seconds < 0:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


INTEGER_COLUMNS = {"seed", "iterations_to_solve", "iterations_run", "param_count"}


def cell(column: str, value: Any) -> str:
    """One value as the summary shows it: whole, never cut."""
    if value is None or value == "":
        return "-"
    if column in INTEGER_COLUMNS or column.endswith(("_loss", "_time_s", "_per_s")):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return str(value)
        if math.isnan(value):
            return "-"
        if column.endswith("_time_s"):
            return duration(value)
        if column.endswith("_loss"):
            return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"
        if column == "seed":
            return str(int(value))
        return f"{value:,.0f}"
    return str(value)


def _table(columns: list[tuple[str, str]], rows: list[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False, show_edge=False, title=title,
                  title_justify="left", title_style="bold")
    for col, header in columns:
        table.add_column(header, justify="left" if col in LEFT else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(cell(col, row.get(col)) for col, _ in columns))
    return table


def _width(columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> int:
    """Characters the table of these columns takes (measured by rendering it unconstrained)."""
    console = Console(width=10_000, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(_table(columns, rows))
    return max((len(line.rstrip()) for line in capture.get().splitlines()), default=0)


def summary_layout(rows: list[dict[str, Any]], width: int) -> tuple[list[tuple[str, str]], bool]:
    """The columns to show at ``width`` and whether tasks become heading lines (see the module doc)."""
    columns, by_task = list(CORE_COLUMNS), False
    if _width(columns, rows) > width:
        columns, by_task = [c for c in columns if c[0] != "task"], True
    for optional in OPTIONAL_COLUMNS:
        if _width(columns + [optional], rows) <= width:
            columns.append(optional)
    return columns, by_task


def summary_table(rows: list[dict[str, Any]], width: int = 80) -> Group:
    """The sweep's summary, laid out for a terminal ``width`` columns wide."""
    columns, by_task = summary_layout(rows, width)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get("task")) if by_task else "", []).append(row)
    parts: list[Any] = [Text("mannbench results", style="bold")]
    for task, members in groups.items():
        parts.append(_table(columns, members, title=f"task {task}" if by_task else None))
    parts.append(Text("solved@: iteration the solved rule first held; last/best loss: validation BCE; "
                      "time: whole run", style="dim"))
    return Group(*parts)


def remaining_s(done: float, total: float, rate: float) -> float | None:
    """Seconds left for ``total - done`` units at ``rate`` per second (None when unknown)."""
    if rate <= 0 or not math.isfinite(rate) or total <= 0:
        return None
    return max(total - done, 0) / rate


def sweep_remaining_s(budgets: Iterable[int], progress: dict[Any, tuple[int, float]], jobs: int) -> float | None:
    """Seconds left for a sweep: the iterations not yet trained (``budgets`` of the runs not finished;
    ``progress``: run -> (iteration, it/s) of the runs in flight) at the mean speed seen so far,
    spread over ``jobs`` processes. None before any speed is known. Runs that solve stop earlier,
    so this is an upper estimate."""
    rates = [rate for _, rate in progress.values() if rate > 0 and math.isfinite(rate)]
    if not rates:
        return None
    mean = sum(rates) / len(rates)
    done = sum(iteration for iteration, _ in progress.values())
    return max(sum(budgets) - done, 0) / mean / max(min(jobs, max(len(progress), 1)), 1)


ESTIMATE_ABOVE_S = 180.0  # a sweep estimated longer than this gets a line saying so before it runs on


def estimate_line(seconds: float, n_runs: int, iterations: int, rate: float, jobs: int) -> str:
    return (f"estimated: up to {duration(seconds)} for {n_runs} run(s) of up to {iterations:,} iterations at "
            f"{rate:.0f} it/s, {jobs} at a time (a run that solves stops early)")
