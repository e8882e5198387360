"""Solve statistics in `bench report table1` (censoring, the statistics columns, the pairwise table) and
`bench plot solve-curves`, on hand-made runs whose statistics are known."""

import math

import pandas as pd
import pytest

from bench.cli import main
from bench.reports.table1 import (
    code_base,
    measure_from_curve,
    pairs,
    preset_classes,
    solve_sample,
    summarise,
    variants,
    wide,
    with_train_loss_measure,
)

BUDGET = 30_000


def run(model, seed, status, solved_at=None, minutes=10.0, iterations_run=BUDGET, task="copy", **columns):
    return dict(run_id=f"{model}-{task}-{seed}", model=model, task=task, seed=seed, status=status,
                iterations_budget=BUDGET, iterations_run=solved_at or iterations_run, iterations_to_solve=solved_at,
                time_to_solve_s=minutes * 60 if solved_at else None, train_time_s=minutes * 60,
                final_val_loss=0.005 if solved_at else 0.3, param_count=1000, **{"variant": "paper", **columns})


def fast_and_slow():
    return pd.DataFrame([run("ntm", s, "solved", at, m) for s, (at, m) in enumerate([(6000, 4), (6000, 4), (7000, 5)])]
                        + [run("armin", 0, "solved", 20_000, 15), run("armin", 1, "unsolved", minutes=25),
                           run("armin", 2, "diverged", minutes=5, iterations_run=10_000)])


def test_unsolved_and_diverged_runs_are_censored_at_the_budget():
    armin = fast_and_slow().query("model == 'armin'")
    iterations = solve_sample(armin, "iterations")
    assert iterations.durations == (20.0, 30.0, 30.0) and iterations.solved == (True, False, False)
    minutes = solve_sample(armin, "minutes")
    assert minutes.durations == (15.0, 25.0, 15.0)  # diverged: 5 min for 10k of the 30k budget -> 15 min


def test_a_row_without_its_figure_is_left_out_of_the_sample():
    runs = fast_and_slow()
    runs.loc[0, "iterations_to_solve"] = None  # a solved row missing its iteration (truncated)
    runs["time_to_solve_s"] = runs.time_to_solve_s.astype(object)
    runs.loc[1, "time_to_solve_s"] = "garbage"  # malformed
    assert solve_sample(runs.query("model == 'ntm'"), "iterations").n == 2
    assert solve_sample(runs.query("model == 'ntm'"), "minutes").n == 2


def test_summary_statistics_columns():
    summary = summarise(fast_and_slow()).set_index("model")
    ntm, armin = summary.loc["ntm"], summary.loc["armin"]
    assert ntm.solve_fraction == 1 and ntm.solve_low == pytest.approx(0.4385, abs=1e-4)  # Wilson 3/3
    assert ntm.median_k == 6.0 and ntm.median_minutes == 4.0
    assert armin.solve_fraction == pytest.approx(1 / 3) and math.isinf(armin.median_k)  # 1 of 3: not reached
    assert not ntm.median_interval_reliable
    cells = wide(summarise(fast_and_slow())).set_index("model")["copy (ours)"]
    assert cells["ntm"].startswith("3/3 solved [44%-100%], median 6.0k [6.0k, ")
    assert cells["armin"] == "1/3 solved [6%-79%], median not reached (> 30k)"
    half = wide(summarise(fast_and_slow().query("seed != 2"))).set_index("model")["copy (ours)"]["armin"]
    assert half == "1/2 solved [9%-91%], median 20.0k [20.0k, ∞]† / 15 min"  # half solved: the median is reached


def test_pairs_table_says_which_is_faster_or_that_it_cannot_tell():
    table = pairs(fast_and_slow())
    assert len(table) == 1
    row = table.iloc[0]
    assert (row.model_a, row.model_b, row.solved_a, row.solved_b) == ("armin", "ntm", "1/3", "3/3")
    assert row.faster_iterations == "ntm" and row.p_iterations < 0.05
    assert row.verdict_iterations.startswith("ntm faster (p = ")
    two = fast_and_slow().query("seed < 2")
    assert pairs(two).iloc[0].verdict_iterations.startswith("too few runs to tell (2 vs 2")


def test_report_cli_writes_the_tables_and_refuses_results_without_finished_runs(tmp_path, capsys):
    fast_and_slow().to_csv(tmp_path / "runs.csv", index=False)
    assert main(["report", "table1", "--in", str(tmp_path), "--out", str(tmp_path)]) == 0
    pair_table = pd.read_csv(tmp_path / "table1_pairs.csv")
    assert pair_table.faster_iterations.tolist() == ["ntm"]
    assert "median 6.0k" in (tmp_path / "table1.md").read_text()
    errors = tmp_path / "errors"
    errors.mkdir()
    pd.DataFrame([run("ntm", 0, "error")]).to_csv(errors / "runs.csv", index=False)
    for command in (["report", "table1"], ["plot", "solve-curves"]):
        capsys.readouterr()
        assert main([*command, "--in", str(errors)]) == 2
        err = capsys.readouterr().err
        assert "no finished run" in err and err.count("\n") == 1


def test_solve_curves_plot(tmp_path):
    fast_and_slow().to_csv(tmp_path / "runs.csv", index=False)
    assert main(["plot", "solve-curves", "--in", str(tmp_path), "--out", str(tmp_path / "fig")]) == 0
    for ext in ("png", "svg"):
        assert (tmp_path / "fig" / f"solve_curves.{ext}").stat().st_size > 1000
    assert (tmp_path / "fig" / "solve_curves.png").read_bytes()[:4] == b"\x89PNG"


# --- table1_variants: paper variant, code variant and Table 1 side by side -------------------------------------

CODE = "code:head_input=c_normalized,separate_erase=False"


def both_variants():
    """NTM solves copy in both variants, the code variant later; LSTM on priority sort with the paper's targets and
    with the code's (priority_sort-code); DNC only as coded."""
    return pd.DataFrame([run("ntm", s, "solved", 6000 + 100 * s, 4) for s in range(3)]
                        + [run("ntm-code", s, "solved", 20_000 + 100 * s, 12, variant=CODE) for s in range(3)]
                        + [run("lstm", 0, "solved", 37_000, 30, task="priority_sort"),
                           run("lstm", 0, "unsolved", task="priority_sort-code"),
                           run("dnc-code", 0, "unsolved", variant="code:cosine_over_width=True")])


def test_code_presets_pair_with_their_base_by_name_and_class():
    classes = preset_classes(pd.DataFrame(), "models", "model", "model_class")  # benchmarks.yaml's presets
    assert code_base("dnc-code", classes) == "dnc" and code_base("armin-pmnist-code", classes) == "armin-pmnist"
    assert code_base("dnc", classes) is None and code_base("no-such-code", classes) is None
    assert code_base("priority_sort-code", preset_classes(pd.DataFrame(), "tasks", "task", "task_class")) == "priority_sort"
    assert code_base("x-code", {"x-code": "ntm", "x": "dnc"}) is None  # another class: not its variant
    recorded = pd.DataFrame({"model": ["mine (hidden_size=8)", "mine-code"], "model_class": ["lstm", "lstm"]})
    assert code_base("mine-code", preset_classes(recorded, "models", "model", "model_class")) == "mine"  # runs' record


def test_variants_table_cells_side_by_side():
    runs = both_variants()
    table = variants(runs, summarise(runs)).set_index("model")
    assert list(table.index) == ["lstm", "ntm", "dnc"]  # Table 1's order
    ntm = table.loc["ntm"]
    assert (ntm["paper variant"], ntm["code variant"]) == ("ntm", "ntm-code")
    assert ntm["copy paper variant (ours)"].startswith("3/3 solved [44%-100%], median 6.1k [6.0k, ")  # 6.0k, 6.1k, 6.2k
    assert ntm["copy code variant (ours)"].startswith("3/3 solved [44%-100%], median 20.1k [20.0k, ")
    assert ntm["copy code variant (ours)"].endswith("† / 12 min (authors' measure 0/3)")
    assert ntm["copy paper (Table 1)"] == "12.4k / 32 min"
    assert ntm["copy paper vs code (log-rank)"].startswith("paper faster (p = ")  # 3 vs 3, fully separated
    lstm = table.loc["lstm"]  # priority_sort-code is a column of Table 1's priority_sort
    assert lstm["priority_sort paper variant (ours)"].startswith("1/1 solved [21%-100%], median 37.0k")
    assert lstm["priority_sort code variant (ours)"] == "0/1 solved [0%-79%] in 30k, loss 0.300 / 10 min (authors' measure 0/1)"
    assert lstm["priority_sort paper (Table 1)"] == "37.0k / 32 min"
    assert lstm["priority_sort paper vs code (log-rank)"].startswith("too few runs to tell (1 vs 1")
    assert "priority_sort-code paper variant (ours)" not in table.columns


def test_variants_table_marks_a_missing_variant_and_is_left_out_without_pairs(tmp_path):
    runs = both_variants()
    table = variants(runs, summarise(runs)).set_index("model")
    dnc = table.loc["dnc"]  # no paper-variant run: its cells say so, Table 1's cell is still there
    assert (dnc["paper variant"], dnc["copy paper variant (ours)"], dnc["copy paper vs code (log-rank)"]) == ("-", "-", "-")
    assert dnc["copy code variant (ours)"] == "0/1 solved [0%-79%] in 30k, loss 0.300 / 10 min (authors' measure 0/1)"
    assert dnc["copy paper (Table 1)"] == "loss 0.429 / 348 min"
    assert table.loc["lstm", "copy paper variant (ours)"] == "-"  # a task the model did not run
    paper_only = runs[~runs.model.str.endswith("-code") & (runs.task == "copy")]
    assert variants(paper_only, summarise(paper_only)) is None
    paper_only.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["report", "table1", "--in", str(tmp_path), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "table1.md").is_file() and not (tmp_path / "table1_variants.md").exists()


def test_a_run_with_code_options_on_a_paper_preset_is_a_code_variant_and_several_are_named():
    runs = both_variants().query("model == 'ntm'")
    options = pd.DataFrame([run("ntm (head_input=c_normalized)", 0, "unsolved", variant=CODE),
                            run("ntm-code", 0, "unsolved", minutes=20, variant=CODE)])
    runs = pd.concat([runs, options.astype(runs.dtypes.to_dict())], ignore_index=True)
    ntm = variants(runs, summarise(runs)).set_index("model").loc["ntm"]
    assert ntm["code variant"] == "ntm (head_input=c_normalized), ntm-code"
    assert ntm["copy code variant (ours)"] == (
        "ntm (head_input=c_normalized): 0/1 solved [0%-79%] in 30k, loss 0.300 / 10 min (authors' measure 0/1); "
        "ntm-code: 0/1 solved [0%-79%] in 30k, loss 0.300 / 20 min (authors' measure 0/1)")
    verdicts = ntm["copy paper vs code (log-rank)"].split("; ")
    assert [v.split(":")[0] for v in verdicts] == ["ntm vs ntm (head_input=c_normalized)", "ntm vs ntm-code"]


def test_one_code_preset_on_a_task_and_on_its_code_variant_gets_two_named_entries():
    runs = pd.DataFrame([run("ntm", 0, "unsolved", task="priority_sort"),
                         run("ntm-code", 0, "unsolved", task="priority_sort", variant=CODE),
                         run("ntm-code", 0, "solved", 9000, task="priority_sort-code", variant=CODE)])
    ntm = variants(runs, summarise(runs)).set_index("model").loc["ntm"]
    assert ntm["priority_sort code variant (ours)"].startswith(
        "ntm-code: 0/1 solved [0%-79%] in 30k, loss 0.300 / 10 min (authors' measure 0/1); "
        "ntm-code on priority_sort-code: 1/1 solved")
    verdicts = ntm["priority_sort paper vs code (log-rank)"].split("; ")
    assert verdicts == ["ntm vs ntm-code: neither solved",
                        "ntm vs ntm-code on priority_sort-code: too few runs to tell (1 vs 1: even complete "
                        "separation gives p = 0.317)"]


def test_variants_report_survives_malformed_lines(tmp_path):
    runs = both_variants()
    garbage = runs[runs.model == "ntm-code"].iloc[[0]].assign(seed=9, iterations_to_solve="garbage")  # malformed value
    pd.concat([runs, garbage]).to_csv(tmp_path / "runs.csv", index=False)
    header = (tmp_path / "runs.csv").read_text().splitlines()[0].split(",")
    too_many = ",".join(["ntm-code", "copy", "9", "solved"] + ["x"] * len(header))
    with open(tmp_path / "runs.csv", "a") as f:
        f.write(f'{too_many}\nntm-code,copy\nntm-code,"copy,9\n')  # too many fields, truncated, an open quote
    assert main(["report", "table1", "--in", str(tmp_path), "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "table1_variants.csv").set_index("model")
    assert table.loc["ntm", "copy code variant (ours)"].startswith("4/4 solved")  # the garbage row still counts as solved
    assert table.loc["ntm", "copy paper variant (ours)"].startswith("3/3 solved")
    assert "| ntm " in (tmp_path / "table1_variants.md").read_text()


# --- the authors' measure beside the paper's rule -----------------------------------------------------
def test_the_authors_measure_from_a_curve_needs_whole_windows():
    curve = pd.DataFrame({"iteration": [200, 400, 600, 700, 800, 1000],
                          "train_loss": [0.5, 0.02, 0.012, 0.005, 0.009, 0.001]})
    # 700 closes no window; 800 follows 700 (100 iterations: not a whole window); 1000 is the first
    assert measure_from_curve(curve, 200, 0.01) == 1000
    assert measure_from_curve(curve, 200, 0.013) == 600
    assert measure_from_curve(curve.iloc[:3], 200, 0.01) is None


def test_both_measures_in_each_variants_cell_the_old_rows_from_their_curves():
    """ntm: the rows hold the measure (4k, 5k, never); ntm-code: rows written before the column, their
    curves (val_every 200) say 3.6k, 6.2k; a curve validated every 100 iterations holds no whole window."""
    runs = both_variants().query("model in ['ntm', 'ntm-code']").copy()
    runs["train_loss_solved_at"] = [4000, 5000, None, None, None, None]
    runs["train_options"] = [None] * 5 + ['{"val_every": 100}']
    curves = pd.DataFrame([
        {"run_id": "ntm-code-copy-0", "iteration": i, "train_loss": 0.005 if i >= 3600 else 0.3} for i in range(200, 4001, 200)
    ] + [{"run_id": "ntm-code-copy-1", "iteration": i, "train_loss": 0.005 if i >= 6200 else 0.3} for i in range(200, 7001, 200)
    ] + [{"run_id": "ntm-code-copy-2", "iteration": i, "train_loss": 0.001} for i in range(100, 1001, 100)])
    filled = with_train_loss_measure(runs, curves)
    assert filled.train_loss_solved_at.tolist()[3:5] == [3600, 6200] and math.isnan(filled.train_loss_solved_at.iloc[5])
    ntm = variants(filled, summarise(filled)).set_index("model").loc["ntm"]
    assert ntm["copy paper variant (ours)"].endswith("(authors' measure 2/3, median 5.0k [4.0k, ∞]†)")
    assert ntm["copy code variant (ours)"].endswith("(authors' measure 2/3, median 6.2k [3.6k, ∞]†)")
    long = summarise(filled).set_index("model")
    assert long.loc["ntm", "train_loss_solved"] == "2/3" and long.loc["ntm-code", "train_loss_median_k"] == 6.2
