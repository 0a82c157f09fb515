"""Figures of the chapter "Beyond the paper: scale": the CNTK as a width limit, the CNTK against
the fully connected NTK on CIFAR-10, and the ECRN's lambda_max against depth and training size.

Every function takes a table the chapter computed (:mod:`ntkbook.experiments.beyond_scale`) and
an ``ax``; log-log panels show every seed as a dot and the mean of the per-seed fits as a line.
A non-positive or non-finite value is drawn as a red cross on the axis and counted, never
dropped silently.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_loglog_fit", "plot_kernel_accuracy", "plot_kernel_difference"]


def _value_ticks(ax, values) -> None:
    """Ticks of a log x axis at the measured values, labelled as plain integers."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ticks = sorted({float(v) for v in values})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticklabels([f"{t:g}" for t in ticks])


def plot_loglog_fit(table: pd.DataFrame, *, x: str, y: str, slope: float, intercept: float, ax=None,
                    reference: float | None = None, reference_label: str = "", limit: str | None = None,
                    xlabel: str = "", ylabel: str = ""):
    """``y`` against ``x`` on log-log axes: one dot per row, the fit exp(intercept) x^slope,
    an optional reference slope through the fit's value at the smallest x, and an optional
    column ``limit`` (one value per x, e.g. the infinite-width value) as a second line."""
    if ax is None:
        ax = plt.gca()
    values = table[y].to_numpy(float)
    bad = table[~np.isfinite(values) | (values <= 0)]
    good = table.drop(bad.index)
    ax.plot(good[x], good[y], "o", alpha=0.5, label="one seed")
    if len(bad):
        ax.plot(bad[x], np.zeros(len(bad)), "x", color="red", transform=ax.get_xaxis_transform(), clip_on=False,
                label=f"{len(bad)} non-finite or non-positive")
    grid = np.geomspace(table[x].min(), table[x].max(), 50)
    fit = np.exp(intercept) * grid**slope if np.isfinite(slope) else np.full_like(grid, np.nan)
    ax.plot(grid, fit, "-", label=f"fit: slope {slope:.2f}")
    if reference is not None:
        ax.plot(grid, fit[0] * (grid / grid[0]) ** reference, ":", color="0.3", label=reference_label)
    if limit is not None:
        lim = table.groupby(x)[limit].first()
        ax.plot(lim.index, lim.to_numpy(float), "s--", color="0.5", markersize=4, label="infinite width")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _value_ticks(ax, table[x])
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.legend(fontsize=8)
    return ax


def plot_kernel_accuracy(table: pd.DataFrame, *, ax=None, labels: dict | None = None):
    """Test accuracy of each kernel against the training size n (log axis), with the binomial
    standard error sqrt(p (1 - p) / n_test) as error bars (``table`` has a column n_test)."""
    if ax is None:
        ax = plt.gca()
    labels = labels or {}
    for kernel, g in table.groupby("kernel", sort=False):
        g = g.sort_values("n")
        p = g["accuracy"].to_numpy(float)
        se = np.sqrt(p * (1 - p) / g["n_test"].to_numpy(float))
        ax.errorbar(g["n"], 100 * p, yerr=100 * se, marker="o", capsize=3, label=labels.get(kernel, kernel))
    ax.set_xscale("log")
    _value_ticks(ax, table["n"])
    ax.set_xlabel("training images n")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    return ax


def plot_kernel_difference(table: pd.DataFrame, *, ax=None):
    """The paired-bootstrap difference of test accuracy (CNTK minus FC NTK, percentage points)
    with its 95 % interval, against the training size n; a line at 0."""
    if ax is None:
        ax = plt.gca()
    g = table.drop_duplicates("n").sort_values("n")
    diff = 100 * g["diff"].to_numpy(float)
    err = np.vstack([diff - 100 * g["low"].to_numpy(float), 100 * g["high"].to_numpy(float) - diff])
    ax.errorbar(g["n"], diff, yerr=err, marker="o", capsize=3, color="C2")
    ax.axhline(0.0, color="0.4", lw=1)
    ax.set_xscale("log")
    _value_ticks(ax, g["n"])
    ax.set_xlabel("training images n")
    ax.set_ylabel("accuracy, CNTK - FC NTK (points)")
    return ax
