"""How a report's tables leave the program: files in the chosen format (Markdown, LaTeX or CSV alone,
made by pandas: ``to_markdown`` and the Styler's ``to_latex``), and the terminal view.

Every format also writes the CSV: it is the data the HTML report and other tools read.

The options of one ``bench report`` / ``bench plot`` call (``--format``, ``--all-runs``) are set once by
the command (``artifact_options``) and read by the builders that use them, so that a builder's
signature stays (inputs, out, console).
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

FORMATS = ("markdown", "latex", "csv")
SUFFIX = {"markdown": ".md", "latex": ".tex"}


MADE = ".bench-made"  # in an output folder: the files bench report / bench plot wrote there, one a line


def made_files(out: Path) -> set[str]:
    """The files (relative paths) that bench report / bench plot wrote into ``out``."""
    try:
        return {line for line in (out / MADE).read_text().splitlines() if line}
    except OSError:
        return set()


@dataclass(frozen=True)
class ArtifactOptions:
    format: str = "markdown"  # the text format written beside the CSV (csv: the CSV alone)
    all_runs: bool = False  # reports and plots of solved runs only (generalisation) take every run
    destination: Path | None = None  # where the files land (builders write into a staging folder first)


_OPTIONS: contextvars.ContextVar[ArtifactOptions] = contextvars.ContextVar("artifact_options", default=ArtifactOptions())


def options() -> ArtifactOptions:
    return _OPTIONS.get()


@contextlib.contextmanager
def artifact_options(**settings):
    """Within the block, builders see these options (``format``, ``all_runs``, ``destination``)."""
    token = _OPTIONS.set(ArtifactOptions(**settings))
    try:
        yield
    finally:
        _OPTIONS.reset(token)


# LaTeX: characters with a meaning of their own, and the non-ASCII ones our cells use that pdflatex's
# default input encoding does not know (∞ † ±, ≤, ×)
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "∞": r"$\infty$", "†": r"\textdagger{}", "±": r"$\pm$", "≤": r"$\leq$", "≥": r"$\geq$",
                  "×": r"$\times$", "…": r"\dots{}"}
_LATEX_PATTERN = re.compile("|".join(re.escape(c) for c in _LATEX_SPECIAL))


def latex_escape(text) -> str:
    """``text`` as LaTeX prints it literally: ``repeat_copy 5% & more`` -> ``repeat\\_copy 5\\% \\& more``."""
    return _LATEX_PATTERN.sub(lambda m: _LATEX_SPECIAL[m.group(0)], str(text))


def _display(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):  # a column of integers with gaps is read as floats: 90000.0 -> 90000
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


def to_latex(df: pd.DataFrame, title: str) -> str:
    """A booktabs table (pandas Styler), every cell, header and the caption escaped."""
    shown = df.reset_index(drop=True).map(_display)
    styler = shown.style.hide(axis="index").format(latex_escape).format_index(latex_escape, axis=1)
    caption = latex_escape(title.split("\n\n")[0])
    return styler.to_latex(hrules=True, caption=caption, column_format="l" * len(shown.columns))


def to_markdown(df: pd.DataFrame, title: str) -> str:
    return f"# {title}\n\n{df.to_markdown(index=False)}\n"


def write_table(df: pd.DataFrame, out: Path, stem: str, title: str) -> list[Path]:
    """Write ``df`` as CSV and in the chosen format (``--format``); returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / f"{stem}.csv"
    df.to_csv(csv_path, index=False)
    written = [csv_path]
    fmt = options().format
    if fmt == "markdown":
        written.append(out / f"{stem}.md")
        written[-1].write_text(to_markdown(df, title))
    elif fmt == "latex":
        written.append(out / f"{stem}.tex")
        written[-1].write_text(to_latex(df, title))
    return written


WRAP_AT = 32  # a cell longer than this wraps onto lines of about this width
PADDING = 3  # rich's border and padding per column


def fits(df: pd.DataFrame, width: int) -> bool:
    """Whether every column gets its longest cell, or WRAP_AT characters where that is longer, within
    ``width``: else a wide table would wrap its cells a word or two per line."""
    needed = 0
    for column in df.columns:
        longest = max(len(_display(v)) for v in [column, *df[column]])
        needed += min(longest, WRAP_AT) + PADDING
    return needed <= width


def show_table(console: Console, df: pd.DataFrame, title: str, caption: str | None = None) -> None:
    """``df`` in the terminal: a table where its columns fit the width, else one block per row (the
    row's first column as its heading, then a line per column), never a word per line."""
    if df.empty:
        console.print(f"[bold]{title}[/]: no rows")
        return
    if fits(df, console.width):
        view = Table(title=title, caption=caption)
        for column in df.columns:
            view.add_column(str(column))
        for _, row in df.iterrows():
            view.add_row(*(_display(v) for v in row.values))
        console.print(view)
        return
    console.print(f"[bold]{title}[/]")
    label_width = max(len(str(c)) for c in df.columns)
    for _, row in df.iterrows():
        heading = " / ".join(_display(row[c]) for c in df.columns[:1])
        console.rule(heading, align="left")
        block = Table.grid(padding=(0, 2))
        block.add_column(width=min(label_width, console.width // 3), style="dim")
        block.add_column()
        for column in df.columns[1:]:
            block.add_row(str(column), _display(row[column]))
        console.print(block)
    if caption:
        console.print(caption, style="dim")
