"""`bench compare`: speed as a ratio to LSTM in the same run, exact memory growth, missing rows, and the
exit codes of the CI gate, on hand-made profiles whose outcome is known."""

import argparse

import pandas as pd
import pytest

from bench.cli import main
from bench.config import ConfigError
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


def test_without_a_reference_row_raw_speeds_are_compared_only_on_request():
    base = profile(speeds={"armin": 500.0})
    with pytest.raises(ConfigError, match="reference model 'lstm'.*--raw-speeds-same-machine"):
        verdicts(profile(speeds={"armin": 400.0}), baseline=base)
    result = compare(base, profile(speeds={"armin": 400.0}), 0.10, 0.05, raw_speeds=True).set_index("model")
    assert result.loc["armin", "basis"] == "chars/s" and result.loc["armin", "verdict"] == SLOWER


def test_raw_speeds_gate_the_reference_too_and_are_refused_across_machines():
    result = compare(profile(), profile(speeds={**SPEEDS, "lstm": 500.0}), 0.10, 0.05, raw_speeds=True)
    assert result.set_index("model").loc["lstm", "verdict"] == SLOWER
    other = profile().assign(cpu_model="another CPU")
    with pytest.raises(ConfigError, match="different machines.*cpu_model"):
        compare(profile().assign(cpu_model="AMD EPYC"), other, 0.10, 0.05, raw_speeds=True)


@pytest.mark.parametrize("side", ["baseline", "current"])
def test_nothing_to_compare_is_an_error_not_a_pass(side):
    empty = profile().iloc[:0]
    sides = {"baseline": profile(), "current": profile(run_id="b"), side: empty}
    with pytest.raises(ConfigError, match=f"{side} profile has no rows"):
        compare(sides["baseline"], sides["current"], 0.10, 0.05)


@pytest.mark.parametrize("side", ["baseline", "current"])
@pytest.mark.parametrize("column, value", [("chars_per_s_best", float("nan")), ("chars_per_s_best", float("inf")),
                                           ("chars_per_s_best", 0.0), ("exact_memory_bytes", float("nan"))])
def test_missing_or_non_finite_values_are_errors(side, column, value):
    bad = profile()
    bad.loc[bad.model == "ntm", column] = value
    sides = {"baseline": profile(), "current": profile(run_id="b"), side: bad}
    with pytest.raises(ConfigError, match=f"{side} profile: {column} of ntm {SETUP} train"):
        compare(sides["baseline"], sides["current"], 0.10, 0.05)


def test_a_nan_reference_speed_is_an_error():
    bad = profile()
    bad.loc[bad.model == "lstm", "chars_per_s_best"] = float("nan")
    with pytest.raises(ConfigError, match="current profile: chars_per_s_best of lstm"):
        compare(profile(), bad, 0.10, 0.05)


def test_unknown_reference_or_a_run_without_it_is_an_error():
    with pytest.raises(ConfigError, match="no row of the reference model 'bogus'"):
        compare(profile(), profile(), 0.10, 0.05, reference="bogus")
    infer_without_lstm = profile(mode="infer", speeds={"armin": 500.0})  # lstm only in train mode
    with pytest.raises(ConfigError, match=f"no 'lstm' row in the run, setup and mode of armin {SETUP} infer"):
        compare(profile(), pd.concat([profile(), infer_without_lstm]), 0.10, 0.05)


@pytest.mark.parametrize("limit", [float("nan"), float("inf"), -0.1])
def test_compare_refuses_a_limit_that_is_not_a_finite_number(limit):
    with pytest.raises(ConfigError, match="--max-slowdown"):
        compare(profile(), profile(), limit, 0.05)


def test_latest_row_of_each_key_is_used_with_its_own_runs_reference():
    old = profile(run_id="old", speeds={"lstm": 100.0, "armin": 10.0, "ntm": 10.0})
    new = profile(run_id="new", timestamp="2026-02-01T00:00:00+00:00")
    result = verdicts(pd.concat([old, new]))  # the new run's ratios, not ratios across runs
    assert (result.verdict == OK).all()


@pytest.mark.parametrize("text, value", [("10%", 0.10), ("0.1", 0.1), ("0%", 0.0), ("150%", 1.5)])
def test_fraction_parses_percentages_and_fractions(text, value):
    assert fraction(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["10", "-5%", "abc", "", "nan", "nan%", "inf%", "-inf", "inf"])
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


def test_cli_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    base, header_only, nan_speed = tmp_path / "base.csv", tmp_path / "header.csv", tmp_path / "nan.csv"
    profile().to_csv(base, index=False)
    profile().iloc[:0].to_csv(header_only, index=False)
    nan = profile(run_id="n")
    nan.loc[nan.model == "armin", "chars_per_cpu_s"] = float("nan")
    nan.to_csv(nan_speed, index=False)
    cases = [
        ([str(header_only), str(base)], "baseline profile has no rows"),
        ([str(base), str(header_only)], "current profile has no rows"),
        ([str(base), str(nan_speed), "--speed", "cpu"], "chars_per_cpu_s of armin"),
        ([str(base), str(base), "--reference", "bogus"], "reference model 'bogus'"),
    ]
    for argv, message in cases:
        assert main(["compare", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)
    for limit in ("nan", "nan%", "inf%"):
        with pytest.raises(SystemExit) as exit_:
            main(["compare", str(base), str(base), "--max-slowdown", limit])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "--max-slowdown" in err and err.count("\n") == 1
