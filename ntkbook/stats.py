"""Confidence intervals across seeds, shared by every chapter's summaries.

``t_interval(values)`` returns ``(mean, low, high)``: the two-sided Student-t interval of the
mean, half-width t_{(1+c)/2, n-1} * s / sqrt(n) with s the unbiased standard deviation.
With fewer than two values, or any value that is not finite, the bounds are NaN: there is no
interval, and the verdict rules of :mod:`ntkbook.claims.rules` turn NaN into "inconclusive".
"""

from __future__ import annotations

import math

import numpy as np


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the t confidence interval of the mean of ``values``."""
    from scipy import stats

    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("The 'values' parameter of t_interval must hold at least one value. Got an empty sequence instead.")
    mean = float(v.mean())
    if v.size < 2 or not np.all(np.isfinite(v)):
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1)) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return mean, mean - half, mean + half
