"""Table 4 of the ARMIN paper from `bench profile --profile table4` output: parameters, memory and
chars/s of the LSTM and ARMIN setups, the paper's figures beside ours."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.config import ConfigError
from bench.profile_engine import latest, read_profiles
from bench.reports import paper_table, register_report, show_table, write_table

PAPER_TABLE = "paper_table4_setups"
GB = 2**30
MILLION = 1e6
# (paper column, our column): the sizes that define a setup
SIZE_COLUMNS = (("hidden_size", "hidden_size"), ("n_mem", "memory_slots"), ("tbptt_length", "tbptt"),
                ("batch_size", "batch_size"))


def _setup_name(paper_row: pd.Series) -> str:
    return f"{paper_row.model}-{paper_row.setup}"  # e.g. ARMIN-1, as in benchmarks.yaml's table4 profile


def _same_sizes(paper_row: pd.Series, ours: pd.Series) -> bool:
    return all((pd.isna(paper_row[p]) and not ours[o]) or paper_row[p] == ours[o] for p, o in SIZE_COLUMNS)


@register_report("table4")
def table4(inputs: list[Path], out: Path, console) -> list[Path]:
    """Table 4: LSTM and ARMIN setups on PTB-sized data: parameters, memory, chars/s (paper beside ours)."""
    rows = latest(read_profiles(inputs))
    paper = paper_table(PAPER_TABLE)
    table = []
    for p in paper.itertuples(index=False):
        p = pd.Series(p._asdict())
        name = _setup_name(p)
        mine = rows[rows.setup == name].set_index("mode")
        if "train" not in mine.index:
            continue
        train = mine.loc["train"]
        infer = mine.loc["infer"] if "infer" in mine.index else None
        table.append({
            "setup": name,
            "hidden": int(train.hidden_size),
            "n_mem": int(train.memory_slots) or None,
            "T_trunc": int(train.tbptt),
            "batch": int(train.batch_size),
            "sizes as paper": "yes" if _same_sizes(p, train) else "no",
            "params M (ours)": round(train.param_count / MILLION, 2),
            "params M (paper)": p.param_count_m,
            "memory GB (ours)": round(train.peak_memory_bytes / GB, 2),
            "saved for backward GB (ours)": round(train.saved_tensor_bytes / GB, 2),
            "memory GB (paper)": p.memory_gb,
            "train chars/s (ours)": round(train.chars_per_s),
            "train chars/s (paper)": p.speed_chars_per_s,
            "infer chars/s (ours)": None if infer is None else round(infer.chars_per_s),
            "train operators/step: fwd, bwd, opt (ours)": _operators(train),
            "infer operators/step (ours)": None if infer is None else _operators(infer),
            "operators counted under torch": train.get("torch_version") if _has_counts(train) else None,
            "BPC (ours)": None,  # needs the character-level language-modelling task
            "BPC (paper)": p.bpc,
            "device (ours)": f"{train.device} {train.device_name}, {int(train.num_threads)} thread(s)",
        })
    if not table:
        names = ", ".join(_setup_name(pd.Series(p._asdict())) for p in paper.itertuples(index=False))
        raise ConfigError(f"no Table 4 setups ({names}) in the profile; run bench profile --profile table4")
    # the paper's layout: one column per setup, one row per quantity
    df = pd.DataFrame(table, dtype=object).set_index("setup").T.rename_axis("quantity").reset_index()
    show_table(console, df.map(_cell), "Table 4, ours beside the paper's (paper: Titan XP GPU; memory ours: GPU max "
               "allocated, or CPU peak RSS growth)")
    return write_table(df, out, "table4", "ARMIN paper Table 4: setups on Penn Treebank (ours beside the paper's)")


def _has_counts(row: pd.Series) -> bool:
    return not pd.isna(row.get("ops_forward"))


def _operators(row: pd.Series) -> str | None:
    """ATen operators dispatched by one step, per phase (bench/op_count.py); None for a profile without them."""
    if not _has_counts(row):
        return None
    phases = [row.get(c) for c in ("ops_forward", "ops_backward", "ops_optimizer")]
    return ", ".join(f"{int(v):,}" for v in phases if not pd.isna(v))


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return f"{value:,}" if isinstance(value, (int, float)) else str(value)
