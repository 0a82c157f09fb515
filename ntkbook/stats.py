r"""The statistics every chapter's summaries and verdicts use: one copy of each.

* :func:`t_interval`: the two-sided Student-t interval of a mean across seeds,
  mean +- t_{(1+c)/2, n-1} s / sqrt(n), with s the unbiased standard deviation.
* :func:`loglog_slope` and :func:`slope_interval`: least-squares fits of
  log y = a + b log x, one per seed, and the t-interval of the slope b across seeds.
* :func:`paired_difference`: seed-by-seed differences a - b with their t-interval and
  the paired t-test.

Non-finite values (a run that diverged, a failed fit) are never dropped silently. Each
function takes a ``nonfinite`` policy:

* ``"void"`` (the default): the interval is NaN, so a verdict rule of
  :mod:`ntkbook.claims.rules` reads "inconclusive" -- a diverged seed can never make a
  result look better;
* ``"drop"``: the finite values only, with the number left out returned as ``n_dropped``,
  for summaries that report the diverged runs beside the interval;
* ``"raise"``: a ``ValueError``.

Costs are negligible (O(n) in the number of seeds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ntkbook._validation import check_float, check_option, fail

__all__ = ["Interval", "t_interval", "loglog_slope", "slope_interval", "paired_difference", "PairedDifference",
           "NONFINITE_POLICIES"]

NONFINITE_POLICIES = ("void", "drop", "raise")


@dataclass(frozen=True)
class Interval:
    """A mean with its t-interval; unpacks as ``mean, low, high``."""

    mean: float
    low: float
    high: float
    n: int
    n_dropped: int = 0
    std: float = math.nan

    def __iter__(self):
        return iter((self.mean, self.low, self.high))

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def _values(values, owner: str) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        fail("values", owner, "a sequence of numbers", values)
    if v.ndim > 1 and v.size != max(v.shape):
        fail("values", owner, "a 1-D sequence of numbers", values)
    return v.reshape(-1)


def _apply_policy(v: np.ndarray, nonfinite: str, owner: str) -> tuple[np.ndarray, int, bool]:
    """(values to use, number dropped, void?) under the non-finite policy."""
    check_option(nonfinite, "nonfinite", owner, NONFINITE_POLICIES)
    bad = ~np.isfinite(v)
    if not bad.any():
        return v, 0, False
    if nonfinite == "raise":
        raise ValueError(f"The 'values' parameter of {owner} holds {int(bad.sum())} non-finite value(s) "
                         f"({v[bad].tolist()}); nonfinite='raise' refuses them.")
    if nonfinite == "drop":
        return v[~bad], int(bad.sum()), False
    return v, 0, True


def t_interval(values, confidence: float = 0.95, *, nonfinite: str = "void") -> Interval:
    """The Student-t confidence interval of the mean of ``values``.

    Returns an :class:`Interval` (unpacks as ``mean, low, high``). With fewer than two
    usable values the bounds are NaN: there is no interval, and a verdict rule reads
    "inconclusive". ``nonfinite`` says what a NaN or infinite value does (module docstring).
    """
    from scipy import stats

    check_float(confidence, "confidence", "t_interval", 0.0, 1.0, low_open=True, high_open=True)
    v = _values(values, "t_interval")
    if v.size == 0:
        fail("values", "t_interval", "a sequence holding at least one value", values)
    v, dropped, void = _apply_policy(v, nonfinite, "t_interval")
    if v.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0, dropped)
    mean = float(v.mean())
    if void:
        return Interval(math.nan if not np.isfinite(mean) else mean, math.nan, math.nan, int(v.size), 0)
    if v.size < 2:
        return Interval(mean, math.nan, math.nan, int(v.size), dropped)
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1)) * std / math.sqrt(v.size)
    return Interval(mean, mean - half, mean + half, int(v.size), dropped, std)


def loglog_slope(x, y) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line log y = intercept + slope log x.

    ``x`` and ``y`` must be 1-D, of the same length, finite and positive, with at least two
    distinct x; otherwise a ``ValueError`` names what is wrong (a caller that wants NaN
    for a failed fit uses :func:`slope_interval`, whose policy decides).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or np.unique(x).size < 2:
        fail("x", "loglog_slope", "a 1-D sequence with at least 2 distinct values and the shape of y", x.tolist())
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("The 'x' and 'y' parameters of loglog_slope must be finite and positive "
                         f"(a log-log fit). Got x={x.tolist()}, y={y.tolist()} instead.")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


def slope_interval(df, *, x: str = "width", y: str, by: str | Sequence[str] = "seed",
                   confidence: float = 0.95, nonfinite: str = "void") -> dict:
    """One log-log slope per group of ``by`` (a seed, or an (architecture, seed) pair), and
    the mean slope with its t-interval across the groups.

    A group whose ``y`` holds a non-finite or non-positive value has no slope (NaN); the
    ``nonfinite`` policy then decides as in :func:`t_interval`: by default such a group
    voids the interval. Returns ``{"slope", "low", "high", "n", "dropped", "slopes"}``
    where ``slopes`` is a DataFrame of (by..., slope, intercept, n_points).
    """
    import pandas as pd

    keys = [by] if isinstance(by, str) else list(by)
    for col in [x, y, *keys]:
        if col not in df.columns:
            fail("df", "slope_interval", f"a DataFrame with a column {col!r}", list(df.columns))
    rows = []
    for key, g in df.groupby(keys if len(keys) > 1 else keys[0], sort=True):
        g = g.sort_values(x)
        gx, gy = g[x].to_numpy(float), g[y].to_numpy(float)
        ok = np.all(np.isfinite(gy)) and np.all(gy > 0) and np.all(gx > 0) and np.unique(gx).size >= 2
        s, c = loglog_slope(gx, gy) if ok else (math.nan, math.nan)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key)), "slope": s, "intercept": c, "n_points": len(g)})
    slopes = pd.DataFrame(rows, columns=[*keys, "slope", "intercept", "n_points"])
    if slopes.empty:
        return {"slope": math.nan, "low": math.nan, "high": math.nan, "n": 0, "dropped": 0, "slopes": slopes}
    iv = t_interval(slopes["slope"].to_numpy(), confidence, nonfinite=nonfinite)
    n_bad = int((~np.isfinite(slopes["slope"].to_numpy())).sum())
    return {"slope": iv.mean, "low": iv.low, "high": iv.high, "n": iv.n, "dropped": n_bad, "slopes": slopes}


@dataclass(frozen=True)
class PairedDifference:
    """Seed-by-seed differences a - b: their mean, t-interval and paired t-test."""

    n: int
    mean_difference: float
    ci_low: float
    ci_high: float
    t_statistic: float
    p_value: float
    confidence: float
    differences: np.ndarray


def paired_difference(a, b, confidence: float = 0.95, *, nonfinite: str = "void") -> PairedDifference:
    """Compare paired samples ``a`` and ``b`` (same seeds, same order) by their differences.

    The interval is :func:`t_interval` of a - b; the test is the two-sided paired t-test
    (``scipy.stats.ttest_rel``), NaN when fewer than two pairs or all differences are equal.
    A pair with a non-finite member is handled by ``nonfinite`` as in :func:`t_interval`.
    """
    from scipy import stats

    a, b = _values(a, "paired_difference"), _values(b, "paired_difference")
    if a.shape != b.shape or a.size == 0:
        fail("b", "paired_difference", f"a non-empty sequence as long as a ({a.size})", b.tolist())
    diff = a - b
    iv = t_interval(diff, confidence, nonfinite=nonfinite)
    use = np.isfinite(diff)
    da, db = a[use], b[use]
    if iv.low == iv.low and da.size >= 2 and np.ptp(da - db) > 0:
        test = stats.ttest_rel(da, db)
        t_stat, p = float(test.statistic), float(test.pvalue)
    else:
        t_stat, p = math.nan, math.nan
    return PairedDifference(iv.n, iv.mean, iv.low, iv.high, t_stat, p, confidence, diff)
