"""Solve statistics over seeds, for runs that may never solve.

A run that ends unsolved is a censored observation: it did not solve within its budget, which says
its time to solve is longer than the budget, not that it is missing. Hence survival analysis, with
"solved" as the event (Kaplan & Meier 1958; the log-rank test, Mantel 1966), computed by lifelines;
the Wilson score interval of a proportion (Wilson 1927) by scipy. Pure functions of plain sequences.

  wilson_interval(k, n)                  solve fraction k/n with its 95% interval
  km_median(durations, solved)           median time to solve [95% interval], unsolved runs censored
  km_curve(durations, solved)            the fraction solved against time, with its 95% band
  logrank(a, b)                          log-rank p-value and which sample solves faster
  compare_samples(a, b)                  the same with a verdict that says when n is too small

Conventions (lifelines'): the median is the first time at which the fraction still unsolved is <= 1/2
(infinite when fewer than half solve: "not reached"); its interval is where the 95% band of the
curve (Greenwood's variance on the log(-log) scale) crosses 1/2, infinite when the band never does.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times
from scipy.stats import binomtest, chi2

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
# With n uncensored runs, even the widest distribution-free interval of the median, [min, max], covers
# it with probability 1 - 2 / 2^n: at least 95% needs n >= 6. Below that no 95% interval of the median
# can be trusted (lifelines' band is still computed, and flagged).
MIN_RUNS_FOR_MEDIAN_INTERVAL = 6
MAX_ENUMERATED_RUNS = 12  # min_attainable_p tries every tie pattern of up to this many solves


@dataclass(frozen=True)
class Sample:
    """Times to solve of the runs of one cell: ``durations[i]`` is when run i solved if
    ``solved[i]``, else the time it ran without solving (censored there)."""

    durations: tuple[float, ...]
    solved: tuple[bool, ...]

    def __post_init__(self):
        if len(self.durations) != len(self.solved):
            raise ValueError(f"{len(self.durations)} durations but {len(self.solved)} solved flags")
        if any(not math.isfinite(d) or d < 0 for d in self.durations):
            raise ValueError(f"durations must be finite and >= 0, got {self.durations}")

    @classmethod
    def of(cls, durations: Sequence[float], solved: Sequence[bool]) -> "Sample":
        return cls(tuple(float(d) for d in durations), tuple(bool(s) for s in solved))

    @property
    def n(self) -> int:
        return len(self.durations)

    @property
    def k(self) -> int:
        return sum(self.solved)


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of the proportion k/n (scipy's binomtest): well-behaved at k = 0, k = n
    and small n, where the normal (Wald) interval collapses to a point."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _fit(sample: Sample, confidence: float) -> KaplanMeierFitter:
    if sample.n < 1:
        raise ValueError("no runs")
    with warnings.catch_warnings():  # lifelines warns on tiny samples; the callers flag those themselves
        warnings.simplefilter("ignore")
        return KaplanMeierFitter(alpha=1 - confidence).fit(sample.durations, sample.solved)


@dataclass(frozen=True)
class Median:
    value: float  # inf: fewer than half solved ("not reached")
    low: float
    high: float  # inf: the band never reaches 1/2 (more runs, or a longer budget, needed)
    reliable: bool  # False: fewer than MIN_RUNS_FOR_MEDIAN_INTERVAL runs, the interval cannot hold 95%


def km_median(sample: Sample, confidence: float = CONFIDENCE) -> Median:
    """Kaplan-Meier median time to solve with its interval; unsolved runs are censored."""
    fit = _fit(sample, confidence)
    bounds = median_survival_times(fit.confidence_interval_).iloc[0]
    low, high = float(bounds.iloc[0]), float(bounds.iloc[1])
    return Median(float(fit.median_survival_time_), low, high, sample.n >= MIN_RUNS_FOR_MEDIAN_INTERVAL)


def km_curve(sample: Sample, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """The fraction of runs solved by each time (1 - Kaplan-Meier), with its band: columns time,
    solved, low, high; starts at time 0 with 0 solved."""
    fit = _fit(sample, confidence)
    survival = fit.survival_function_.iloc[:, 0]
    band = fit.confidence_interval_
    return pd.DataFrame({
        "time": survival.index.to_numpy(dtype=float),
        "solved": 1 - survival.to_numpy(),
        "low": 1 - band.iloc[:, 1].to_numpy(),  # the band's upper survival is the lower fraction solved
        "high": 1 - band.iloc[:, 0].to_numpy(),
    })


def observed_minus_expected(a: Sample, b: Sample) -> float:
    """Solves of ``a`` minus those expected were both samples alike (the log-rank statistic's
    numerator): > 0 when ``a`` solves faster. At each solve time t, with d solves among the n runs
    still unsolved just before t, n_a of them from ``a``: expected solves of ``a`` = d * n_a / n."""
    durations = np.array(a.durations + b.durations)
    solved = np.array(a.solved + b.solved, dtype=bool)
    from_a = np.arange(len(durations)) < a.n
    expected = 0.0
    for t in np.unique(durations[solved]):
        at_risk = durations >= t
        d = np.sum(solved & (durations == t))
        expected += d * np.sum(at_risk & from_a) / np.sum(at_risk)
    return float(a.k - expected)


def logrank(a: Sample, b: Sample) -> tuple[float, float]:
    """(log-rank p-value, observed minus expected solves of ``a``); p = 1 when neither solved."""
    if a.k + b.k == 0:
        return 1.0, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = logrank_test(a.durations, b.durations, a.solved, b.solved)
    return float(result.p_value), observed_minus_expected(a, b)


def _tie_blocks(m: int):
    """Every way m solves can fall into successive groups of equal times (compositions of m)."""
    if m > MAX_ENUMERATED_RUNS:  # 2^(m-1) ways; past this the all-tied bound is far below any alpha
        yield from ([m], [1] * m)
        return
    for cuts in itertools.product((False, True), repeat=m - 1):
        blocks, size = [], 1
        for cut in cuts:
            if cut:
                blocks.append(size)
                size = 1
            else:
                size += 1
        yield blocks + [size]


def _separated_statistic(blocks: list[int], n_first: int, n_other: int) -> float:
    """Log-rank chi-squared when all ``n_first`` runs of one sample solve, in tied ``blocks``, before
    any of the other sample's (whose later solves or censorings add nothing: nothing of the first is
    left at risk). Per solve time: E = d n_1 / n, V = n_1 (n - n_1) d (n - d) / (n^2 (n - 1))."""
    at_risk_first, at_risk = n_first, n_first + n_other
    excess = variance = 0.0
    for d in blocks:
        excess += d - d * at_risk_first / at_risk
        if at_risk > 1:
            variance += at_risk_first * (at_risk - at_risk_first) * d * (at_risk - d) / (at_risk**2 * (at_risk - 1))
        at_risk_first, at_risk = at_risk_first - d, at_risk - d
    return excess**2 / variance if variance > 0 else 0.0


def min_attainable_p(n_a: int, n_b: int) -> float:
    """The smallest log-rank p-value samples of these sizes can give: every run of one sample solving
    before any of the other, over every way its solve times can tie (ties matter: all tied gives
    chi-squared n - 1). Above ALPHA, no outcome of these runs could show a difference."""
    if n_a < 1 or n_b < 1:
        return 1.0
    statistic = max(_separated_statistic(blocks, first, other)
                    for first, other in ((n_a, n_b), (n_b, n_a)) for blocks in _tie_blocks(first))
    return float(chi2.sf(statistic, df=1))


@dataclass(frozen=True)
class Comparison:
    p_value: float
    ahead: str | None  # the sample that solved more than expected were both alike (None: alike, or no solves)
    min_p: float  # min_attainable_p of the sample sizes
    significant: bool  # p < alpha (only possible when min_p < alpha)
    verdict: str

    @property
    def faster(self) -> str | None:
        """The faster sample's name where the difference is significant, else None."""
        return self.ahead if self.significant else None


def compare_samples(a: Sample, b: Sample, name_a: str = "a", name_b: str = "b", alpha: float = ALPHA) -> Comparison:
    """Log-rank comparison of two samples with a verdict in words: which solves faster and whether
    the difference is significant at ``alpha``, or that the samples are too small to tell."""
    p, excess = logrank(a, b)
    ahead = None if a.k + b.k == 0 or excess == 0 else (name_a if excess > 0 else name_b)
    min_p = min_attainable_p(a.n, b.n)
    significant = a.k + b.k > 0 and p < alpha
    if a.k + b.k == 0:
        verdict = "neither solved"
    elif min_p > alpha:
        verdict = f"too few runs to tell ({a.n} vs {b.n}: even complete separation gives p = {min_p:.3g})"
    elif significant:
        verdict = f"{ahead} faster (p = {p:.3g})"
    else:
        verdict = f"no difference shown (p = {p:.3g})"
    return Comparison(p, ahead, min_p, significant, verdict)
