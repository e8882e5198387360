"""bench/stats.py against values worked by hand (the derivations are in the comments)."""

import math

import pytest

from bench.stats import (MIN_RUNS_FOR_MEDIAN_INTERVAL, Sample, compare_samples, km_curve, km_median, logrank,
                         min_attainable_p, observed_minus_expected, wilson_interval)

Z = 1.959964  # two-sided 95% normal quantile


def test_wilson_interval_k2_n3():
    # p = 2/3, z^2 = 3.8415: centre (p + z^2/2n) / (1 + z^2/n) = (0.6667 + 0.6402) / 2.2805 = 0.5731,
    # half width z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2) = 0.8594 * sqrt(0.07407 + 0.10671) = 0.3654
    assert wilson_interval(2, 3) == pytest.approx((0.2077, 0.9385), abs=1e-4)


def test_wilson_interval_at_the_edges_is_not_a_point():
    # k = 0: [0, z^2 / (n + z^2)] = [0, 3.8415 / 6.8415]; k = n mirrors it
    assert wilson_interval(0, 3) == pytest.approx((0.0, 0.5615), abs=1e-4)
    assert wilson_interval(3, 3) == pytest.approx((0.4385, 1.0), abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(4, 3)


def test_km_median_with_a_censored_run_and_its_band():
    # runs solved at 2, 4, 6; one unsolved at its budget 8. S(2) = 3/4, S(4) = 2/4, S(6) = 1/4: the median
    # is 4, the first time S <= 1/2. Band at t = 2 (log(-log) Greenwood): sum d/(n(n-d)) = 1/(4*3);
    # v = (1/12) / ln(0.75)^2 = 1.00693; S^exp(+-z sqrt v) = 0.75^7.147, 0.75^0.1399 = 0.1280, 0.9606
    sample = Sample.of([2, 4, 6, 8], [True, True, True, False])
    median = km_median(sample)
    assert median.value == 4
    assert median.low == 2  # the band's lower edge is below 1/2 already at t = 2
    assert math.isinf(median.high)  # its upper edge never reaches 1/2 with 4 runs
    assert not median.reliable and sample.n < MIN_RUNS_FOR_MEDIAN_INTERVAL
    curve = km_curve(sample).set_index("time")
    assert curve.loc[0.0, "solved"] == 0
    assert curve.loc[2.0, "solved"] == pytest.approx(0.25)
    assert curve.loc[2.0, ["low", "high"]].tolist() == pytest.approx([1 - 0.9606, 1 - 0.1280], abs=1e-3)
    assert curve.loc[8.0, "solved"] == pytest.approx(0.75)  # the censored run does not solve


def test_censoring_changes_the_median():
    # solved at 1 and 6, two runs unsolved at 2 and 3: S(1) = 3/4; at 6 one run is at risk and solves:
    # S(6) = 0, so the median is 6 (the solved runs alone would say 3.5)
    assert km_median(Sample.of([1, 2, 3, 6], [True, False, False, True])).value == 6


def test_km_median_not_reached_when_fewer_than_half_solve():
    median = km_median(Sample.of([3, 10, 10], [True, False, False]))
    assert math.isinf(median.value) and math.isinf(median.high)


def test_km_median_interval_is_finite_with_enough_runs():
    sample = Sample.of(range(1, 11), [True] * 9 + [False])  # S = 1 - t/10 up to 9; median 5
    median = km_median(sample)
    assert median.value == 5 and median.low < 5 < median.high < 10 and median.reliable


def test_logrank_on_separated_samples_by_hand():
    # A solves at 1, 2, 3; B at 4, 5, 6. Per solve time of A (n at risk, n_A): (6, 3), (5, 2), (4, 1):
    # E_A = 1/2 + 2/5 + 1/4 = 1.15, V = 0.25 + 0.24 + 0.1875 = 0.6775; (O - E)^2 / V = 1.85^2 / 0.6775 = 5.052
    # p = P(chi2_1 > 5.052) = erfc(sqrt(5.052 / 2)) = 0.0246
    a, b = Sample.of([1, 2, 3], [True] * 3), Sample.of([4, 5, 6], [True] * 3)
    p, excess = logrank(a, b)
    assert p == pytest.approx(math.erfc(math.sqrt(1.85**2 / 0.6775 / 2)), rel=1e-6)
    assert p == pytest.approx(0.0246, abs=1e-4)
    assert excess == pytest.approx(1.85) and observed_minus_expected(b, a) == pytest.approx(-1.85)
    result = compare_samples(a, b, "ntm", "lstm")
    assert result.faster == result.ahead == "ntm" and result.verdict.startswith("ntm faster (p = 0.0246")


def test_logrank_on_identical_samples():
    a = Sample.of([2, 5, 9, 9], [True, True, False, False])
    p, excess = logrank(a, a)
    assert p == pytest.approx(1.0) and excess == pytest.approx(0.0)
    assert compare_samples(a, a, "x", "y").verdict.startswith("no difference shown")
    assert compare_samples(a, a).ahead is None


def test_too_few_runs_to_tell():
    # 2 vs 2, one sample's two solves tied before the other's: E = 2 * 2/4 = 1, V = 2*2*2*2 / (16*3) = 1/3;
    # (2 - 1)^2 / (1/3) = 3 (untied: (7/6)^2 / (17/36) = 2.88, less extreme) -> p = erfc(sqrt(3/2)) = 0.0833
    assert min_attainable_p(2, 2) == pytest.approx(math.erfc(math.sqrt(3 / 2)))
    result = compare_samples(Sample.of([1, 2], [True, True]), Sample.of([30, 30], [False, False]), "ntm", "armin")
    assert result.verdict.startswith("too few runs to tell (2 vs 2")
    assert result.ahead == "ntm" and result.faster is None  # ahead, but not shown to be faster
    # 3 vs 2: the two solving first, untied: (n, n_1) = (5, 2), (4, 1): E = 0.4 + 0.25, V = 0.24 + 0.1875;
    # 1.35^2 / 0.4275 = 4.263 -> p = 0.0389 (the three tied first: chi-squared n - 1 = 4, p = 0.0455)
    assert min_attainable_p(3, 2) == pytest.approx(math.erfc(math.sqrt(1.35**2 / 0.4275 / 2)))
    tied = compare_samples(Sample.of([6, 6, 6], [True] * 3), Sample.of([30, 30], [False] * 2), "a", "b")
    assert tied.verdict.startswith("a faster") and tied.p_value == pytest.approx(math.erfc(math.sqrt(4 / 2)))


@pytest.mark.parametrize("blocks", [[3], [1, 1, 1], [2, 1], [1, 2]])
def test_separated_statistic_is_lifelines_logrank(blocks):
    from bench.stats import _separated_statistic

    times = [t for t, size in enumerate(blocks, start=1) for _ in range(size)]
    a, b = Sample.of(times, [True] * 3), Sample.of([10, 11, 12], [True] * 3)
    p, _ = logrank(a, b)
    assert math.erfc(math.sqrt(_separated_statistic(blocks, 3, 3) / 2)) == pytest.approx(p)


def test_neither_solved():
    none = Sample.of([30, 30, 30], [False] * 3)
    assert compare_samples(none, none).verdict == "neither solved"


def test_sample_validation():
    with pytest.raises(ValueError):
        Sample.of([1, 2], [True])
    with pytest.raises(ValueError):
        Sample.of([float("nan")], [True])
