"""Figures of the chapter "Beyond the paper: scale": the CNTK as a width limit, the CNTK against
the fully connected NTK on CIFAR-10, the ECRN's lambda_max against depth and training size, and
lambda_max(t) against validation accuracy over training as the training set grows.

Every function takes a table the chapter computed (:mod:`ntkbook.experiments.beyond_scale`) and
an ``ax``; log-log panels show every seed as a dot and the mean of the per-seed fits as a line.
A non-positive or non-finite value is drawn as a red cross on the axis and counted, never
dropped silently.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ntkbook.plots.core import readable_log_axis

__all__ = ["plot_loglog_fit", "plot_kernel_accuracy", "plot_kernel_difference", "plot_growth_trajectories",
           "plot_size_scaling", "plot_gap_trend"]


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
    readable_log_axis(ax.yaxis)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * (high / low) ** 0.6)  # a band above every point and line, for the legend
    ax.legend(fontsize=8, loc="upper left")
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


def _size_colours(sizes) -> dict:
    """One colour per training size, light to dark (seaborn's "flare" palette)."""
    import seaborn as sns

    sizes = sorted({int(n) for n in sizes})
    return dict(zip(sizes, sns.color_palette("flare", len(sizes))))


def plot_growth_trajectories(trajectory: pd.DataFrame, *, model: str, ax=None, label: str | None = None):
    """lambda_max(t) / lambda_max(0) against the validation accuracy, epoch by epoch, for ``model``.

    ``trajectory`` holds the rows of :func:`ntkbook.experiments.beyond_scale.training_by_size`
    (n, model, seed, epoch, ratio, val_accuracy). One line per seed and training size, coloured
    by the size (light: small n, dark: large n), from the open circle at initialization to the
    dot at the last recorded epoch; the ratio on a log axis, the accuracy in percent. Rows
    with a non-finite or non-positive ratio are counted in the title, not drawn.
    """
    if ax is None:
        ax = plt.gca()
    d = trajectory[trajectory.model == model]
    if d.empty:
        raise ValueError(f"plot_growth_trajectories: no rows for model {model!r}")
    ratio = d["ratio"].to_numpy(float)
    bad = int((~np.isfinite(ratio) | (ratio <= 0) | ~np.isfinite(d["val_accuracy"].to_numpy(float))).sum())
    colours = _size_colours(trajectory["n"])
    for (n, _), g in d.groupby(["n", "seed"]):
        g = g.sort_values("epoch")
        ok = np.isfinite(g["ratio"]) & (g["ratio"] > 0) & np.isfinite(g["val_accuracy"])
        g = g[ok]
        if g.empty:
            continue
        acc = 100 * g["val_accuracy"].to_numpy(float)
        ax.plot(acc, g["ratio"], "-", color=colours[int(n)], lw=1.2, alpha=0.8)
        ax.plot(acc[:1], g["ratio"].iloc[:1], "o", mfc="white", color=colours[int(n)], ms=4)
        ax.plot(acc[-1:], g["ratio"].iloc[-1:], "o", color=colours[int(n)], ms=4)
    for n, c in colours.items():
        ax.plot([], [], "-", color=c, label=f"n = {n}")
    ax.axhline(1.0, color="0.4", lw=1, ls=":")
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis)
    ax.set_xlabel("validation accuracy (%)")
    ax.set_ylabel(r"$\lambda_{\max}(t) / \lambda_{\max}(0)$")
    ax.set_title((label or model) + (f" ({bad} rows not drawn)" if bad else ""))
    return ax


def plot_size_scaling(summary: pd.DataFrame, quantity: str, *, ax=None, labels: dict | None = None,
                      ylabel: str = "", scale: float = 1.0):
    """``quantity`` of every model against the training size n, log-log: a dot per seed and the
    mean over seeds per size as a line (``scale`` multiplies the values, e.g. 100 for percent).
    Non-finite or non-positive values are counted in the legend, not drawn."""
    if ax is None:
        ax = plt.gca()
    labels = labels or {}
    for i, (model, g) in enumerate(summary.groupby("model", sort=False)):
        v = scale * g[quantity].to_numpy(float)
        ok = np.isfinite(v) & (v > 0)
        mean = pd.Series(v[ok], index=g["n"].to_numpy()[ok]).groupby(level=0).mean()
        name = labels.get(model, model) + (f" ({int((~ok).sum())} not drawn)" if (~ok).any() else "")
        ax.plot(g["n"].to_numpy()[ok], v[ok], "o", color=f"C{i}", alpha=0.4, ms=4)
        ax.plot(mean.index, mean.to_numpy(), "-", color=f"C{i}", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _value_ticks(ax, summary["n"])
    readable_log_axis(ax.yaxis)
    ax.set_xlabel("training images n")
    ax.set_ylabel(ylabel or quantity)
    ax.legend(fontsize=8)
    return ax


def plot_gap_trend(differences: pd.DataFrame, *, slope: float, intercept: float, ax=None, ylabel: str = ""):
    """The accuracy difference (points) of every seed against n on a log axis, the mean of the
    per-seed least-squares lines in log2 n (``slope`` per doubling, ``intercept`` at n = 1),
    and a line at 0. ``differences`` has columns n, seed, difference."""
    if ax is None:
        ax = plt.gca()
    for seed, g in differences.groupby("seed"):
        g = g.sort_values("n")
        ax.plot(g["n"], g["difference"], "o-", color="C2", alpha=0.35, lw=0.8, ms=4,
                label="one seed" if seed == differences["seed"].min() else None)
    grid = np.geomspace(differences["n"].min(), differences["n"].max(), 20)
    if np.isfinite(slope) and np.isfinite(intercept):
        ax.plot(grid, intercept + slope * np.log2(grid), "-", color="C2", lw=2,
                label=f"fit: {slope:+.2g} points per doubling")
    ax.axhline(0.0, color="0.4", lw=1)
    ax.set_xscale("log")
    _value_ticks(ax, differences["n"])
    ax.set_xlabel("training images n")
    ax.set_ylabel(ylabel or "difference (points)")
    ax.legend(fontsize=8)
    return ax
