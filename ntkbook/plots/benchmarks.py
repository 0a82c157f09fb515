"""Figures of part III (the paper's benchmarks): per-model intervals, paired differences,
learning curves and the NTK eigenvalue evolution during training.

Every function takes data and an ``ax`` and returns the ``ax``. Nothing non-finite is drawn
silently: a model with fewer finished seeds than the others is annotated with the count, and
a model with no finite value is named on the axes as "no finite value".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ntkbook.plots.core import readable_log_axis

__all__ = ["plot_model_intervals", "plot_paired_differences", "plot_learning_curves",
           "plot_ntk_evolution", "plot_kernel_change"]


def _check_columns(df: pd.DataFrame, columns, owner: str, name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"The '{name}' argument of {owner} must have the columns {list(columns)}. "
                         f"Missing {missing}.")


def plot_model_intervals(summary: pd.DataFrame, metric: str, *, ax, n_expected: int | None = None,
                         log: bool = False, order=None):
    """Mean and 95 % confidence interval of ``metric`` for each model (one row per model).

    ``summary`` is the output of :meth:`ntkbook.experiments.benchmarks.BenchmarkResult.summary`
    or :func:`ntkbook.experiments.runs.summarize` (columns model, metric, n, mean, ci_low,
    ci_high). When ``n_expected`` is given, a model with fewer seeds is
    annotated "n of N seeds" (the others diverged); an interval that is not finite (n < 2) is
    drawn as a bare point and annotated.
    """
    _check_columns(summary, ["model", "metric", "n", "mean", "ci_low", "ci_high"],
                   "plot_model_intervals", "summary")
    d = summary[summary.metric == metric].set_index("model")
    if d.empty:
        raise ValueError(f"The 'metric' argument of plot_model_intervals must be one of "
                         f"{sorted(summary.metric.unique())}. Got {metric!r} instead.")
    models = [m for m in (order or d.index) if m in d.index]
    for i, model in enumerate(models):
        row = d.loc[model]
        mean, lo, hi, n = float(row["mean"]), float(row["ci_low"]), float(row["ci_high"]), int(row["n"])
        color = f"C{i}"
        if not math.isfinite(mean):
            ax.annotate("no finite value", (0.02, i), xycoords=("axes fraction", "data"), va="center")
            continue
        if math.isfinite(lo) and math.isfinite(hi):
            low, high = (max(lo, mean * 1e-3), hi) if log else (lo, hi)
            ax.errorbar(mean, i, xerr=[[mean - low], [high - mean]], fmt="o", color=color,
                        capsize=4)
        else:
            ax.plot(mean, i, "o", color=color)
            ax.annotate(" interval undefined (n < 2)", (mean, i), va="center")
        if n_expected is not None and n < n_expected:
            ax.annotate(f" {n} of {n_expected} seeds", (mean, i), va="bottom",
                        color="C3")
    ax.set_yticks(range(len(models)), models)
    ax.set_ylim(-0.6, len(models) - 0.4)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel(f"test {metric} (mean, 95 % CI)")
    return ax


def plot_paired_differences(comparisons, *, ax, labels=None):
    """Paired differences (a - b) with their 95 % intervals, and the zero line.

    ``comparisons`` is a list of :class:`ntkbook.experiments.benchmarks.Comparison` or
    :class:`ntkbook.experiments.runs.PairedComparison` (anything with model_a, model_b,
    metric, n, mean_difference, ci_low and ci_high); ``labels`` overrides the default
    "a - b" names.
    """
    comparisons = list(comparisons)
    if not comparisons:
        raise ValueError("The 'comparisons' argument of plot_paired_differences must hold at "
                         "least one PairedComparison. Got an empty list instead.")
    labels = labels or [f"{c.model_a} - {c.model_b}" for c in comparisons]
    for i, c in enumerate(comparisons):
        if not math.isfinite(c.mean_difference):
            ax.annotate("no finite value", (0.02, i), xycoords=("axes fraction", "data"), va="center")
            continue
        if math.isfinite(c.ci_low) and math.isfinite(c.ci_high):
            ax.errorbar(c.mean_difference, i, xerr=[[c.mean_difference - c.ci_low],
                                                     [c.ci_high - c.mean_difference]],
                        fmt="o", color=f"C{i}", capsize=4)
        else:
            ax.plot(c.mean_difference, i, "o", color=f"C{i}")
        ax.annotate(f"  n = {c.n}", (c.mean_difference, i), va="bottom")
    ax.axvline(0.0, color="0.3", linewidth=1)
    ax.xaxis.set_major_locator(MaxNLocator(5))  # long tick labels such as -0.125 collide at 7+ ticks
    ax.set_yticks(range(len(comparisons)), labels)
    ax.set_ylim(-0.6, len(comparisons) - 0.4)
    ax.invert_yaxis()
    metric = comparisons[0].metric
    ax.set_xlabel(f"paired difference in test {metric} (95 % CI)")
    return ax


def plot_learning_curves(frame: pd.DataFrame, metric: str, *, ax, split: str = "test",
                         log: bool = False, order=None):
    """``metric`` against the epoch: the mean over seeds with its min-max band.

    Models with a single epoch (the kernel baseline) are drawn as dashed horizontal lines.
    Epochs that some seeds did not reach (they diverged) are drawn from the seeds that did,
    and the label says how many seeds finished.
    """
    _check_columns(frame, ["model", "seed", "epoch", "split", "metric", "value"],
                   "plot_learning_curves", "frame")
    d = frame[(frame.split == split) & (frame.metric == metric)]
    models = [m for m in (order or d.model.unique()) if m in set(d.model)]
    for i, model in enumerate(models):
        g = d[d.model == model]
        n_seeds = g.seed.nunique()
        last = g.groupby("seed").epoch.max()
        finished = int((last == last.max()).sum())
        stats = g.groupby("epoch").value.agg(["mean", "min", "max"])
        label = model if finished == n_seeds else f"{model} ({finished} of {n_seeds} seeds finished)"
        if len(stats) == 1:
            ax.axhline(stats["mean"].iloc[0], color=f"C{i}", linestyle="--", label=label)
            continue
        ax.plot(stats.index, stats["mean"], color=f"C{i}", label=label)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=f"C{i}", alpha=0.2,
                        linewidth=0)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{split} {metric}")
    return ax


def plot_ntk_evolution(evolution: pd.DataFrame, *, ax, normalize: bool = True, order=None,
                       ylabel: str = r"$\lambda_{\max}(t)$"):
    """The tracked NTK eigenvalue of each network against the epoch, on a log scale.

    ``evolution`` has columns model, seed, epoch, value (as returned by
    :meth:`ntkbook.experiments.benchmarks.BenchmarkResult.ntk_evolution`). With ``normalize`` each seed is
    divided by its value at epoch 0, so networks whose kernels differ in scale by orders of
    magnitude can share an axis. Median over seeds with the min-max band.
    """
    _check_columns(evolution, ["model", "seed", "epoch", "value"], "plot_ntk_evolution",
                   "evolution")
    if not np.isfinite(evolution["value"].to_numpy(float)).all():
        raise ValueError("plot_ntk_evolution got non-finite eigenvalues; refusing to draw them "
                         "silently.")
    models = [m for m in (order or evolution.model.unique()) if m in set(evolution.model)]
    for i, model in enumerate(models):
        g = evolution[evolution.model == model].copy()
        if normalize:
            first = g[g.epoch == g.epoch.min()].set_index("seed")["value"]
            g["value"] = g["value"] / g["seed"].map(first)
        stats = g.groupby("epoch").value.agg(["median", "min", "max"])
        ax.plot(stats.index, stats["median"], marker="o", color=f"C{i}", label=model)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=f"C{i}", alpha=0.2,
                        linewidth=0)
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel + (r" / $\lambda_{\max}(0)$" if normalize else ""))
    return ax


def plot_kernel_change(evolution: pd.DataFrame, *, ax, order=None):
    """The relative kernel change ||Theta_t - Theta_0||_F / ||Theta_0||_F against the epoch
    (epochs after the first), median over seeds with the min-max band, on a log scale.

    ``evolution`` has columns model, seed, epoch, value (the ``kernel_change`` records of
    :meth:`ntkbook.experiments.benchmarks.BenchmarkResult.ntk_evolution`).
    """
    _check_columns(evolution, ["model", "seed", "epoch", "value"], "plot_kernel_change",
                   "evolution")
    d = evolution[evolution.epoch > evolution.epoch.min()]
    if not np.isfinite(d["value"].to_numpy(float)).all():
        raise ValueError("plot_kernel_change got non-finite values; refusing to draw them "
                         "silently.")
    models = [m for m in (order or d.model.unique()) if m in set(d.model)]
    epochs = sorted(d.epoch.unique())
    if len(epochs) == 1:  # one epoch: a line plot would be a column of dots on a degenerate axis
        for i, model in enumerate(models):
            v = d[d.model == model].value
            med = float(v.median())
            ax.errorbar([i], [med], yerr=[[med - v.min()], [v.max() - med]], fmt="o", color=f"C{i}", capsize=4)
        ax.set_xticks(range(len(models)), models, rotation=20, ha="right")
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_xlabel(f"model (one epoch recorded: epoch {epochs[0]:g})")
    else:
        for i, model in enumerate(models):
            stats = d[d.model == model].groupby("epoch").value.agg(["median", "min", "max"])
            ax.plot(stats.index, stats["median"], marker="o", color=f"C{i}", label=model)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=f"C{i}", alpha=0.2,
                            linewidth=0)
        ax.set_xlabel("epoch")
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis)
    ax.set_ylabel(r"$\|\Theta_t - \Theta_0\|_F / \|\Theta_0\|_F$")
    return ax
