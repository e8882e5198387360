"""`bench compare`: speed as a ratio to LSTM in the same run, exact memory growth, missing rows, and the
exit codes of the CI gate, on hand-made profiles whose outcome is known."""

import argparse

import pandas as pd
import pytest

from bench.cli import main
from bench.commands.compare import MISSING, MORE_MEMORY, NEW, OK, SLOWER, compare, fraction

SETUP = "h32-T20-B4"
SPEEDS = {"lstm": 1000.0, "armin": 500.0, "ntm": 100.0}  # chars/s: armin is 0.5 x lstm, ntm 0.1 x lstm
MEMORY = {"lstm": 10_000, "armin": 20_000, "ntm": 40_000}


def profile(run_id="run-a", timestamp="2026-01-01T00:00:00+00:00", speeds=SPEEDS, memory=MEMORY, mode="train"):
    return pd.DataFrame([
        {"run_id": run_id, "timestamp": timestamp, "model": model, "setup": SETUP, "mode": mode,
         "chars_per_s": speed, "chars_per_s_best": 2 * speed, "chars_per_cpu_s": 3 * speed,
         "exact_memory_bytes": memory[model]}
        for model, speed in speeds.items()
    ])


def verdicts(current, baseline=None, slowdown=0.10, growth=0.05, speed="chars_per_s_best"):
    result = compare(profile() if baseline is None else baseline, current, slowdown, growth, "lstm", speed)
    return result.set_index("model")


def test_unchanged_pair_passes():
    result = verdicts(profile(run_id="run-b"))
    assert (result.verdict == OK).all()
    assert result.loc["armin", "speed_base"] == pytest.approx(0.5) and result.loc["ntm", "speed_cur"] == pytest.approx(0.1)
    assert (result.slowdown == 0).all() and (result.memory_growth == 0).all()


def test_planted_20_percent_slowdown_is_flagged():
    result = verdicts(profile(speeds={**SPEEDS, "armin": 400.0}))
    assert result.loc["armin", "slowdown"] == pytest.approx(0.20)  # ratio 0.5 -> 0.4
    assert result.loc["armin", "verdict"] == SLOWER
    assert result.loc["ntm", "verdict"] == OK and result.loc["lstm", "verdict"] == OK


def test_a_uniformly_slower_machine_cancels_out():
    assert (verdicts(profile(speeds={m: s / 3 for m, s in SPEEDS.items()})).verdict == OK).all()


def test_slowdown_within_the_limit_passes_and_the_speed_measure_can_be_chosen():
    assert verdicts(profile(speeds={**SPEEDS, "armin": 460.0})).loc["armin", "verdict"] == OK  # 8% < 10%
    for column in ("chars_per_s", "chars_per_cpu_s"):
        slower = profile()
        slower.loc[slower.model == "armin", column] /= 2  # the default (best wall time) unchanged
        assert verdicts(slower).loc["armin", "verdict"] == OK
        assert verdicts(slower, speed=column).loc["armin", "verdict"] == SLOWER


def test_planted_memory_growth_is_flagged():
    result = verdicts(profile(memory={**MEMORY, "ntm": 42_400, "armin": 20_800}))  # +6%, +4%
    assert result.loc["ntm", "memory_growth"] == pytest.approx(0.06) and result.loc["ntm", "verdict"] == MORE_MEMORY
    assert result.loc["armin", "verdict"] == OK
    both = verdicts(profile(speeds={**SPEEDS, "ntm": 50.0}, memory={**MEMORY, "ntm": 80_000}))
    assert both.loc["ntm", "verdict"] == f"{SLOWER}, {MORE_MEMORY}"


def test_missing_and_new_rows():
    current = profile(speeds={"lstm": 1000.0, "armin": 500.0, "dnc": 50.0}, memory={**MEMORY, "dnc": 1})
    result = verdicts(current)
    assert result.loc["ntm", "verdict"] == MISSING and result.loc["dnc", "verdict"] == NEW


def test_without_a_reference_row_raw_speeds_are_compared():
    base = profile(speeds={"armin": 500.0})
    result = verdicts(profile(speeds={"armin": 400.0}), baseline=base)
    assert result.loc["armin", "basis"] == "chars/s" and result.loc["armin", "verdict"] == SLOWER


def test_latest_row_of_each_key_is_used_with_its_own_runs_reference():
    old = profile(run_id="old", speeds={"lstm": 100.0, "armin": 10.0, "ntm": 10.0})
    new = profile(run_id="new", timestamp="2026-02-01T00:00:00+00:00")
    result = verdicts(pd.concat([old, new]))  # the new run's ratios, not ratios across runs
    assert (result.verdict == OK).all()


@pytest.mark.parametrize("text, value", [("10%", 0.10), ("0.1", 0.1), ("0%", 0.0), ("150%", 1.5)])
def test_fraction_parses_percentages_and_fractions(text, value):
    assert fraction(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["10", "-5%", "abc", ""])
def test_fraction_rejects_ambiguous_or_bad_limits(text):
    with pytest.raises(argparse.ArgumentTypeError):
        fraction(text)


def test_cli_exit_codes_and_readable_table(tmp_path, capsys):
    base, same, slow = tmp_path / "base.csv", tmp_path / "same.csv", tmp_path / "slow.csv"
    profile().to_csv(base, index=False)
    profile(run_id="b").to_csv(same, index=False)
    profile(run_id="c", speeds={**SPEEDS, "armin": 400.0}).to_csv(slow, index=False)
    assert main(["compare", str(base), str(same), "--max-slowdown", "10%", "--max-memory-growth", "5%"]) == 0
    assert "no regression" in capsys.readouterr().out
    assert main(["compare", str(base), str(slow), "--max-slowdown", "10%"]) == 1
    out = capsys.readouterr().out
    assert "1 regression(s)" in out and "armin h32-T20-B4 train: SLOWER" in out and "+20.0%" in out
    assert main(["compare", str(base), str(slow), "--max-slowdown", "25%", "--speed", "cpu"]) == 0
    capsys.readouterr()
    assert main(["compare", str(base), str(tmp_path / "nowhere")]) == 2
    assert "no profile CSV" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse: usage error
        main(["compare", str(base), str(same), "--max-slowdown", "10"])
    assert exit_.value.code == 2 and "--max-slowdown" in capsys.readouterr().err
