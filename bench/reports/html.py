"""The answer in one place: ``bench report html --in FOLDER... --out SITE`` writes a static site, SITE/index.html
with its figures (PNG and SVG under SITE/figures/) and its tables as CSV (SITE/tables/), that opens from disk
in any browser, offline: no server, nothing fetched from elsewhere (the sorting script and the styles are
inline in the page).

The page holds what the inputs allow, each built by the same code as ``bench report`` and ``bench plot``:
Table 1 ours beside the paper in both variants, with the solve statistics and the pairwise log-rank tests;
Tables 2-4; every figure (validation curves, solve curves, generalisation, Figure 3, scaling); and per
input folder where its numbers came from (commands, commits, package version, CPU/GPU, dates, rows,
behaviour versions). What the inputs do not hold is said on the page, never an error.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import jinja2
import pandas as pd
from rich.console import Console

from bench.config import ConfigError
from bench.iteration_cost import FILENAME as COST_FILE
from bench.iteration_cost import read_costs
from bench.plots import PLOTS
from bench.reports import read_csvs, register_report
from bench.reports import table1 as t1
from bench.reports import table2 as t2
from bench.reports import table3 as t3
from bench.reports.render import _display, artifact_options, made_files, options
from bench.store import read_frame

TEMPLATES = Path(__file__).with_name("templates")
ALGORITHMIC = set(t1.TASK_ORDER)
PROFILE_FILE = "profile.csv"
PROVENANCE_COLUMNS = ("package_version", "behaviour_version")  # recorded by newer runs; shown where present
COMMAND_LINE = re.compile(r"^\s*(?:[A-Z_]+=\S+\s+)*(bench|python|python3)\s.*$")


@dataclass
class Section:
    """A part of the page: tables and figures, or why it is empty."""
    key: str
    title: str
    intro: str = ""
    tables: list[dict] = field(default_factory=list)  # {title, caption, html, csv}
    figures: list[dict] = field(default_factory=list)  # {title, caption, png, svg}
    missing: list[str] = field(default_factory=list)


class Site:
    def __init__(self, out: Path):
        self.out = out
        self.sections: list[Section] = []
        if (out / "index.html").is_file():  # a site built before: its figures and tables are rebuilt
            for part in ("figures", "tables"):
                shutil.rmtree(out / part, ignore_errors=True)
        (out / "figures").mkdir(parents=True, exist_ok=True)
        (out / "tables").mkdir(parents=True, exist_ok=True)

    def table(self, section: Section, frame: pd.DataFrame, name: str, title: str, caption: str = "") -> None:
        """Add ``frame`` to ``section`` as a sortable HTML table and SITE/tables/NAME.csv."""
        frame = frame.reset_index(drop=True)
        csv = f"tables/{name}.csv"
        frame.to_csv(self.out / csv, index=False)
        if frame.empty:
            section.missing.append(f"{title}: no rows in the inputs")
            return
        styled = frame.map(_display).style.hide(axis="index").format(escape="html").format_index(escape="html", axis=1)
        html = styled.to_html(table_attributes=f'class="sortable" id="table-{name}"', table_uuid=name)
        section.tables.append({"title": title, "caption": caption, "html": html, "csv": csv, "name": name,
                               "rows": len(frame)})

    def figure(self, section: Section, plot: str, inputs: list[Path], title: str, caption: str = "") -> None:
        """Run ``bench plot PLOT`` on ``inputs`` into SITE/figures/; what stops it is noted as missing."""
        if not inputs:
            section.missing.append(f"{title}: no input folder has the files it needs")
            return
        target = self.out / "figures"
        try:
            paths = PLOTS[plot](inputs, target, quiet_console())
        except ConfigError as err:
            section.missing.append(f"{title}: {err}")
            return
        png = next((p for p in paths if p.suffix == ".png"), None)
        svg = next((p for p in paths if p.suffix == ".svg"), None)
        if png is None:
            section.missing.append(f"{title}: the plot wrote no PNG")
            return
        section.figures.append({"title": title, "caption": caption, "png": f"figures/{png.name}",
                                "svg": f"figures/{svg.name}" if svg else None})


def quiet_console() -> Console:
    return Console(file=io.StringIO(), width=160)


def has(folder: Path, name: str) -> bool:
    return (folder / name).is_file()


def _task_base(task: str) -> str:
    return task[:-len("-code")] if task.endswith("-code") else task


def algorithmic(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of Table 1's tasks (or their "-code" variants)."""
    column = runs.task_class if "task_class" in runs else runs.task
    keep = column.astype(str).isin(ALGORITHMIC) | runs.task.astype(str).map(_task_base).isin(ALGORITHMIC)
    return runs[keep]


def folders_with_algorithmic_runs(folders: list[Path]) -> list[Path]:
    found = []
    for folder in folders:
        if has(folder, "runs.csv") and has(folder, "curves.csv"):
            runs = read_frame(folder / "runs.csv")
            if not runs.empty and "task" in runs and not algorithmic(runs).empty:
                found.append(folder)
    return found


def table1_section(site: Site, runs: pd.DataFrame | None, folders: list[Path]) -> Section:
    section = Section("table1", "Table 1: algorithmic tasks, ours beside the paper",
                      "Per model and task: k/n seeds solved with the Wilson 95% interval, the Kaplan-Meier median "
                      "iterations to solve with its 95% interval (unsolved runs censored at their budget), the "
                      "budget, and for cells where no run solved the mean loss of the last 10 validations, as the "
                      "paper reports; minutes as the note under the table says (measured, or iterations x a cost "
                      "profiled alone). The paper's cell beside each of ours.")
    site.sections.append(section)
    runs = None if runs is None else algorithmic(runs)
    if runs is None or runs.empty or runs[runs.status.isin(t1.FINISHED)].empty:
        section.missing.append("Table 1: no finished run of copy, repeat copy, associative recall or priority sort "
                               "in the inputs")
        return section
    costs = read_costs(folders)
    summary = t1.summarise(runs, costs)
    footnote = f"{t1.FOOTNOTE}; {t1.minutes_note(costs)}"
    if costs is None:
        section.missing.append("Comparable minutes: no iteration_cost.csv in the inputs (bench cost --in FOLDER "
                               "profiles each model's training iteration alone); Table 1 shows measured minutes")
    site.table(section, t1.wide(summary), "table1", "Table 1, ours beside the paper's", footnote)
    by_variant = t1.variants(runs, summary)
    if by_variant is None:
        section.missing.append("Table 1 by variant: no model has runs of both its paper and its code variant")
    else:
        site.table(section, by_variant, "table1_variants", t1.VARIANTS_TITLE, f"{t1.VARIANTS_NOTE}; {footnote}")
    site.table(section, statistics_view(summary), "table1_statistics",
               "Solve statistics per cell (numbers)", "interval columns: 95%; inf: not reached; budget and median in "
               "thousands of iterations; loss: mean of the last 10 validations, the paper's figure for unsolved cells")
    site.table(section, t1.pairs(runs), "table1_pairs", "Pairwise: which model solves faster (log-rank test over seeds)",
               "per task, every two models; a verdict at p < 0.05, or that the runs are too few for any outcome to "
               "reach it")
    curve_folders = folders_with_algorithmic_runs(folders)
    site.figure(section, "solve-curves", curve_folders, "Solve curves",
                "Kaplan-Meier fraction of seeds solved against iterations and against minutes of training, 95% band; "
                "a tick where a run ended unsolved; dotted: the paper's iterations to solve")
    site.figure(section, "figure2", curve_folders, "Validation curves (Figure 2)",
                "median over all seeds; a solved run stopped training and is held at its last validation loss "
                "(runs that trained on after dipping below the threshold did relapse); band: interquartile range")
    return section


def statistics_view(summary: pd.DataFrame) -> pd.DataFrame:
    """Table 1's statistics as numbers, one row per model and task."""
    s = summary
    unsolved = s.ours_outcome == "unsolved"
    return pd.DataFrame({
        "model": s.model, "task": s.task,
        "variant": s.variant.astype(str).map(lambda v: "code" if v.startswith(t1.CODE_VARIANT) else v or "-"),
        "solved": s.solved,
        "solved %": (s.solve_fraction * 100).round(0), "solved % low": (s.solve_low * 100).round(0),
        "solved % high": (s.solve_high * 100).round(0),
        "median k": s.median_k.astype(float).round(2), "median k low": s.median_k_low.astype(float).round(2),
        "median k high": s.median_k_high.astype(float).round(2), "budget k": s.budget_k,
        "loss (unsolved)": s.ours_value.where(unsolved).astype(float).round(4),
        "ms per iteration (profiled)": (s.seconds_per_iteration * 1000).round(1),
        "median minutes (iterations x profiled)": s.median_minutes_profiled.astype(float).round(1),
        "median minutes (measured)": s.median_minutes.astype(float).round(1), "diverged": s.diverged,
        "paper": [t1.cell(v, None, m, o) for v, m, o in zip(s.paper_value, s.paper_minutes, s.paper_outcome)],
    })


def tables234_section(site: Site, runs: pd.DataFrame | None, profile_folders: list[Path]) -> Section:
    section = Section("tables234", "Tables 2-4: permuted MNIST, character-level language modelling, setups")
    site.sections.append(section)
    if runs is None:
        section.missing.append("Tables 2 and 3: no runs.csv in the inputs")
    else:
        classes = set(runs.task_class.astype(str)) if "task_class" in runs else set()
        table2 = t2.summarise(runs) if "pmnist" in classes else pd.DataFrame()
        if table2.empty:
            section.missing.append("Table 2 (pMNIST): no finished pmnist run in the inputs")
        else:
            site.table(section, table2, "table2", "Table 2: permuted pixel MNIST, ours beside the paper's",
                       "test accuracy of the best-validation weights, mean ± std over seeds; the paper: MNIST, "
                       "float64, Tesla K80")
        table3 = t3.summarise(runs) if "charlm" in classes else pd.DataFrame()
        if table3.empty:
            section.missing.append("Table 3 (character-level LM): no finished charlm run in the inputs")
        else:
            site.table(section, t3.wide(table3), "table3", "Table 3: test bits per character, ours beside the paper's")
    if not profile_folders:
        section.missing.append("Table 4: no profile.csv in the inputs (bench profile --profile table4)")
    else:
        from bench.reports.table4 import table4
        try:
            with artifact_options(format="csv", all_runs=options().all_runs):
                written = table4(profile_folders, site.out / "tables" / "_table4", quiet_console())
            frame = pd.read_csv(written[0])
            shutil.rmtree(site.out / "tables" / "_table4", ignore_errors=True)
            site.table(section, frame, "table4", "Table 4: LSTM and ARMIN setups, ours beside the paper's",
                       "paper: Titan XP GPU; memory ours: GPU max allocated, or CPU peak RSS growth")
        except ConfigError as err:
            section.missing.append(f"Table 4: {err}")
    return section


def figures_section(site: Site, folders: list[Path], profile_folders: list[Path]) -> Section:
    section = Section("figures", "Speed, memory and generalisation")
    site.sections.append(section)
    site.figure(section, "figure3", profile_folders, "Figure 3: speed and memory against hidden size",
                "bars: memory in the unit measured (the paper: GB of GPU memory); lines: characters per second")
    site.figure(section, "scaling", profile_folders, "Time and memory against memory size (SAM paper Figure 1)")
    general = [f for f in folders if has(f, "generalization.csv") and has(f, "runs.csv")]
    all_runs = options().all_runs
    which = "solved and unsolved runs apart" if all_runs else "runs that solved only (--all-runs adds the others)"
    site.figure(section, "generalization", general, "Generalisation beyond the training lengths",
                f"{which}; training range shaded")
    if general:
        from bench.reports.generalization import generalization
        try:
            with artifact_options(format="csv", all_runs=all_runs):
                written = generalization(general, site.out / "tables" / "_generalization", quiet_console())
            frame = pd.read_csv(written[-1])
            shutil.rmtree(site.out / "tables" / "_generalization", ignore_errors=True)
            site.table(section, frame, "generalization", "Generalisation: errors at 1x, 2x and 4x the training maximum",
                       which)
        except ConfigError as err:
            section.missing.append(f"Generalisation table: {err}")
    return section


def commands_of(folder: Path) -> list[str]:
    """The command lines written in a folder's COMMANDS.md or README.md (lines that run bench or python)."""
    lines = []
    for name in ("COMMANDS.md", "README.md"):
        path = folder / name
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                if COMMAND_LINE.match(line) and line.startswith(("    ", "\t", "bench", "python")):
                    lines.append(line.strip())
    return list(dict.fromkeys(lines))


def _values(frames: list[pd.DataFrame], column: str) -> list[str]:
    found = []
    for frame in frames:
        if column in frame:
            found += [str(v) for v in frame[column].dropna().astype(str) if str(v).strip()]
    return sorted(set(found))


def provenance(folder: Path) -> dict:
    """Where a folder's numbers came from, as recorded in its rows and its notes."""
    files = {name: read_frame(folder / name) for name in ("runs.csv", PROFILE_FILE, "generalization.csv", "curves.csv",
                                                          COST_FILE) if has(folder, name)}
    frames = [f for name, f in files.items() if name in ("runs.csv", PROFILE_FILE, COST_FILE)]
    stamps = sorted(_values(frames, "timestamp"))
    devices = _values(frames, "device")
    names = _values(frames, "device_name") or _values(frames, "cpu_model")
    notes = [f.name for f in sorted(folder.glob("*.md"))]
    record = {
        "folder": str(folder),
        "rows": ", ".join(f"{name}: {len(frame):,}" for name, frame in files.items()) or "no results CSV",
        "dates": f"{stamps[0][:16]} to {stamps[-1][:16]}".replace("T", " ") if stamps else "not recorded",
        "commits": ", ".join(_values(frames, "git_commit")) or "not recorded",
        "hardware": "; ".join(devices + [n for n in names if n not in devices]) or "not recorded",
        "threads": ", ".join(_values(frames, "num_threads")) or "-",
        "torch": ", ".join(_values(frames, "torch_version")) or "-",
        "commands": commands_of(folder),
        "notes": notes,
    }
    for column in PROVENANCE_COLUMNS:
        record[column] = ", ".join(_values(frames, column)) or "not recorded"
    return record


def package_version() -> str:
    try:
        return metadata.version("mannbench")
    except metadata.PackageNotFoundError:
        return "not installed"


def render(site: Site, folders: list[Path], provenance_rows: list[dict]) -> Path:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    page = env.get_template("site.html.j2").render(
        sections=site.sections, provenance=provenance_rows, folders=[str(f) for f in folders],
        built=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version=package_version(),
        command=" ".join(["bench"] + sys.argv[1:]) if Path(sys.argv[0]).name in ("bench", "cli.py", "__main__.py")
        else "bench report html " + " ".join(f"--in {f}" for f in folders) + f" --out {site.out}",
        missing=[(s.title, m) for s in site.sections for m in s.missing])
    index = site.out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


@register_report("html")
def html(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """A static site (SITE/index.html, figures, tables as CSV) of every table and figure the results
    folders allow, with where each number came from; open index.html from disk."""
    folders = [Path(p).parent if Path(p).suffix == ".csv" else Path(p) for p in inputs]
    folders = list(dict.fromkeys(folders))
    absent = [f for f in folders if not f.is_dir()]
    if absent:
        raise ConfigError(f"no such results folder: {', '.join(map(str, absent))}")
    destination = options().destination or out  # out may be the staging folder the files are moved from
    if destination.resolve() in {f.resolve() for f in folders}:
        raise ConfigError(f"--out {destination} is an input folder; give the site a folder of its own, e.g. results/site")
    for name in made_files(destination):  # the site is rebuilt whole: an earlier build's figures and tables go
        if name.startswith(("figures/", "tables/")):
            (destination / name).unlink(missing_ok=True)
    site = Site(out)
    run_folders = [f for f in folders if has(f, "runs.csv")]
    runs = None
    if run_folders:
        try:
            runs = read_csvs(run_folders, "runs.csv")
        except ConfigError:
            runs = None
    profile_folders = [f for f in folders if has(f, PROFILE_FILE)]
    table1_section(site, runs, folders)
    tables234_section(site, runs, profile_folders)
    figures_section(site, folders, profile_folders)
    index = render(site, folders, [provenance(f) for f in folders])
    shown = sum(len(s.tables) for s in site.sections), sum(len(s.figures) for s in site.sections)
    missing = sum(len(s.missing) for s in site.sections)
    console.print(f"{shown[0]} tables, {shown[1]} figures; {missing} part(s) the inputs do not allow (listed on "
                  f"the page). Open {destination / index.relative_to(out)} in a browser.")
    figures = sorted((out / "figures").iterdir())
    tables = sorted((out / "tables").iterdir())
    return [index] + figures + tables
