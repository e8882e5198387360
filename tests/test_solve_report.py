"""Solve statistics in `bench report table1` (censoring, the statistics columns, the pairwise table) and
`bench plot solve-curves`, on hand-made runs whose statistics are known."""

import math

import pandas as pd
import pytest

from bench.cli import main
from bench.reports.table1 import pairs, solve_sample, summarise, wide

BUDGET = 30_000


def run(model, seed, status, solved_at=None, minutes=10.0, iterations_run=BUDGET, task="copy"):
    return dict(run_id=f"{model}-{task}-{seed}", model=model, task=task, seed=seed, status=status,
                iterations_budget=BUDGET, iterations_run=solved_at or iterations_run, iterations_to_solve=solved_at,
                time_to_solve_s=minutes * 60 if solved_at else None, train_time_s=minutes * 60,
                final_val_loss=0.005 if solved_at else 0.3, variant="paper", param_count=1000)


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
    assert main(["report", "table1", "--in", str(tmp_path)]) == 0
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
