r"""The statistics every chapter's summaries and verdicts use: one copy of each.

* :func:`t_interval`: the two-sided Student-t interval of a mean across seeds,
  mean +- t_{(1+c)/2, n-1} s / sqrt(n), with s the unbiased standard deviation.
* :func:`loglog_slope` and :func:`slope_interval`: least-squares fits of
  log y = a + b log x, one per seed, and the t-interval of the slope b across seeds.
* :func:`paired_difference`: seed-by-seed differences a - b with their t-interval and
  the paired t-test.
* :func:`corrected_resampled_t`: the same for repeated random train/test splits of one
  data set, with the variance corrected for the overlap of the splits (Nadeau & Bengio 2003).
* :func:`paired_bootstrap`: a difference of per-example scores on one fixed test set,
  resampling test examples and seeds, so the test set's own sampling error is counted.
* :func:`mcnemar`: the exact McNemar test of two classifiers on the same test examples.
* :func:`holm`: Holm's step-down adjustment of several p-values (family-wise error).

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
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from ntkbook._validation import check_float, check_option, fail

__all__ = ["Interval", "t_interval", "loglog_slope", "slope_interval", "paired_difference", "PairedDifference",
           "corrected_resampled_t", "paired_bootstrap", "mcnemar", "holm", "one_sided_p", "NONFINITE_POLICIES"]

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


def t_interval(values, confidence: float = 0.95, *, nonfinite: str = "void", bounds: tuple[float, float] | None = None
               ) -> Interval:
    """The Student-t confidence interval of the mean of ``values``.

    Returns an :class:`Interval` (unpacks as ``mean, low, high``). With fewer than two
    usable values the bounds are NaN: there is no interval, and a verdict rule reads
    "inconclusive". ``nonfinite`` says what a NaN or infinite value does (module docstring).
    ``bounds=(lo, hi)`` is for a quantity that cannot leave [lo, hi] (an accuracy): the
    interval is intersected with it, so it never claims impossible values.
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
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, float(bounds[0])), min(high, float(bounds[1]))
    return Interval(mean, low, high, int(v.size), dropped, std)


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
    """Seed-by-seed differences a - b: their mean, t-interval and paired t-test.

    The one definition of these fields: the comparisons of the experiments
    (:class:`ntkbook.experiments.runs.PairedComparison`,
    :class:`ntkbook.experiments.benchmarks.Comparison`) extend it with what was compared.
    """

    n: int
    mean_difference: float
    ci_low: float
    ci_high: float
    t_statistic: float
    p_value: float
    confidence: float
    differences: np.ndarray

    def numbers(self) -> dict[str, float]:
        """Every field but ``differences``, in field order: n, mean_difference, ci_low,
        ci_high, t_statistic, p_value, confidence (the keyword arguments of an extension's
        constructor, or the numbers of its record)."""
        return {f.name: getattr(self, f.name) for f in fields(PairedDifference) if f.name != "differences"}


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


def corrected_resampled_t(differences, n_train: int, n_test: int, confidence: float = 0.95, *,
                          nonfinite: str = "void") -> PairedDifference:
    """Paired differences over J repeated random train/test splits of one data set.

    The splits overlap, so the J differences are correlated and the plain paired t-test
    understates their variance. Nadeau & Bengio (2003) correct it: with s^2 the sample
    variance of the differences,

        t = mean / sqrt((1/J + n_test/n_train) s^2),   J - 1 degrees of freedom,

    and the interval is mean +- t_{(1+c)/2, J-1} sqrt((1/J + n_test/n_train) s^2). With
    n_test / n_train = 1/4 and J = 10 the standard error grows by sqrt(3.5), about 1.9x.
    """
    from scipy import stats

    owner = "corrected_resampled_t"
    n_train = int(check_float(n_train, "n_train", owner, 1.0))
    n_test = int(check_float(n_test, "n_test", owner, 1.0))
    check_float(confidence, "confidence", owner, 0.0, 1.0, low_open=True, high_open=True)
    d = _values(differences, owner)
    if d.size == 0:
        fail("differences", owner, "a sequence holding at least one value", differences)
    use, _, void = _apply_policy(d, nonfinite, owner)
    j = use.size
    mean = float(use.mean()) if j else math.nan
    if void or j < 2:
        return PairedDifference(j, mean, math.nan, math.nan, math.nan, math.nan, confidence, d)
    var = float(use.var(ddof=1)) * (1.0 / j + n_test / n_train)
    if var == 0.0:
        return PairedDifference(j, mean, mean, mean, math.nan, math.nan, confidence, d)
    se = math.sqrt(var)
    t_stat = mean / se
    half = float(stats.t.ppf(0.5 + confidence / 2, j - 1)) * se
    p = float(2 * stats.t.sf(abs(t_stat), j - 1))
    return PairedDifference(j, mean, mean - half, mean + half, t_stat, p, confidence, d)


def paired_bootstrap(a, b, confidence: float = 0.95, *, n_boot: int = 2000, seed: int = 0) -> PairedDifference:
    """The difference of two models' mean per-example scores on one fixed test set.

    ``a`` and ``b`` have shape (n_seeds, n_examples): a per-example score (1/0 for a correct
    prediction, or a loss) of each model for each training seed, on the same test examples.
    Each bootstrap replicate resamples the seeds and, independently, the test examples (both
    with replacement) and takes mean(a) - mean(b); the interval is the percentile interval
    of the replicates. Resampling examples counts the sampling error of the test set itself
    (about +-1.5 accuracy points on 1,000 images), which an interval across seeds on one
    fixed test set leaves out. The p-value is two-sided: twice the share of replicates on
    the other side of 0. Cost: O(n_boot * n_seeds * n_examples).
    """
    from ntkbook._validation import check_int, check_seed

    owner = "paired_bootstrap"
    n_boot = check_int(n_boot, "n_boot", owner, low=100)
    seed = check_seed(seed, "seed", owner)
    check_float(confidence, "confidence", owner, 0.0, 1.0, low_open=True, high_open=True)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim == 1:
        a, b = a[None, :], b[None, :] if b.ndim == 1 else b
    if a.ndim != 2 or a.shape != b.shape or a.size == 0:
        fail("b", owner, f"an array of the shape of a, (n_seeds, n_examples) = {a.shape}", getattr(b, "shape", b))
    diff = a - b  # (S, E)
    mean = float(diff.mean())
    if not np.all(np.isfinite(diff)):
        return PairedDifference(a.shape[0], mean, math.nan, math.nan, math.nan, math.nan, confidence, diff.mean(1))
    rng = np.random.default_rng(seed)
    s_idx = rng.integers(0, a.shape[0], size=(n_boot, a.shape[0]))  # (B, S)
    e_idx = rng.integers(0, a.shape[1], size=(n_boot, a.shape[1]))  # (B, E)
    reps = np.empty(n_boot)
    for i in range(n_boot):
        reps[i] = diff[np.ix_(s_idx[i], e_idx[i])].mean()
    alpha = 1.0 - confidence
    low, high = (float(q) for q in np.quantile(reps, [alpha / 2, 1 - alpha / 2]))
    p = float(min(1.0, 2 * min((reps <= 0).mean(), (reps >= 0).mean())))
    return PairedDifference(a.shape[0], mean, low, high, math.nan, p, confidence, diff.mean(1))


def mcnemar(correct_a, correct_b) -> dict:
    """Exact McNemar test: do two classifiers err on the same test examples equally often?

    With n01 the examples only ``b`` gets right and n10 those only ``a`` gets right, under
    the null n10 ~ Binomial(n01 + n10, 1/2); the two-sided exact p-value is returned with
    the counts and the accuracy difference acc(a) - acc(b) = (n10 - n01) / n.
    """
    from scipy import stats

    a = np.asarray(correct_a).astype(bool).ravel()
    b = np.asarray(correct_b).astype(bool).ravel()
    if a.shape != b.shape or a.size == 0:
        fail("correct_b", "mcnemar", f"a non-empty 0/1 sequence as long as correct_a ({a.size})", b.size)
    n10, n01 = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if n10 + n01 == 0 else float(stats.binomtest(n10, n10 + n01, 0.5).pvalue)
    return {"n10": n10, "n01": n01, "difference": (n10 - n01) / a.size, "p_value": p}


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (controls the family-wise error rate).

    With the m p-values sorted ascending, p_(i) becomes max_{j <= i} min(1, (m - j + 1) p_(j));
    NaN p-values (no test) stay NaN and do not count in m. A claim whose adjusted p-value
    exceeds the level is no longer significant once the other tests are taken into account.
    """
    p = _values(p_values, "holm")
    out = np.full(p.shape, math.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return out
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        fail("p_values", "holm", "probabilities in [0, 1] (or NaN)", p.tolist())
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out


def one_sided_p(result, expect: str) -> float:
    """The one-sided p-value of a t-test given by a :class:`ntkbook.stats.PairedDifference`,
    for the alternative that the mean difference is below 0 (``expect="negative"``) or above
    it (``"positive"``): half the two-sided p-value when the t statistic lies on that side,
    one minus that half otherwise; NaN when there is no test.
    """
    check_option(expect, "expect", "one_sided_p", ("negative", "positive"))
    t, p = float(result.t_statistic), float(result.p_value)
    if not (math.isfinite(t) and math.isfinite(p)):
        return math.nan
    on_side = t < 0 if expect == "negative" else t > 0
    return p / 2 if on_side else 1.0 - p / 2
