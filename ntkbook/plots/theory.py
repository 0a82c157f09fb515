"""Figures of part I (NTK foundations). Each function takes data and an ``ax`` and returns the ax.

Non-finite values are never dropped silently: the log-log plots mark a run whose value is NaN
or infinite (a diverged run) with a red cross on the lower edge of the axes and say how many
there were in the legend.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
import pandas as pd


def _ax(ax):
    return plt.gca() if ax is None else ax


def plot_method_costs(df: pd.DataFrame, *, ax=None):
    """Seconds per NTK method (a horizontal bar chart on a log axis), from
    :func:`ntkbook.experiments.theory.compare_ntk_methods`."""
    ax = _ax(ax)
    labels = [m if c == m else f"{m} (-> {c})" for m, c in zip(df["method"], df["chosen"])]
    from matplotlib.ticker import LogLocator

    bars = ax.barh(labels, df["seconds"], color=[f"C{i}" for i in range(len(df))])
    ax.bar_label(bars, labels=[f"{s:.3g} s" for s in df["seconds"]], padding=3)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(right=float(df["seconds"].max()) * 5)
    ax.set_xlabel("seconds (fastest run)")
    ax.invert_yaxis()
    return ax


def plot_loglog_sweep(df: pd.DataFrame, *, x: str = "width", y: str, ax=None, label: str = "", color=None,
                      slope: float | None = None, intercept: float | None = None, reference: float | None = None):
    """Values ``y`` against ``x`` on log-log axes: one dot per seed, the median across seeds
    joined by a line, the fitted line log y = intercept + slope log x (dashed) when given, and a
    reference slope (dotted, through the median at the smallest x) when ``reference`` is given."""
    ax = _ax(ax)
    values = df[y].to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    good = df[~bad]
    med = good.groupby(x)[y].median()
    text = label + (f" (slope {slope:.2f})" if slope is not None and np.isfinite(slope) else "")
    if bad.any():
        text += f", {int(bad.sum())} non-finite"
    (line,) = ax.plot(med.index, med.values, "-", color=color, label=text, lw=1.5)
    ax.plot(good[x], good[y], "o", color=line.get_color(), alpha=0.45, ms=4)
    if slope is not None and intercept is not None and np.isfinite(slope):
        xs = np.array([good[x].min(), good[x].max()], dtype=float)
        ax.plot(xs, np.exp(intercept) * xs**slope, "--", color=line.get_color(), lw=1)
    if reference is not None and len(med):
        xs = np.array([med.index.min(), med.index.max()], dtype=float)
        ax.plot(xs, med.iloc[0] * (xs / xs[0]) ** reference, ":", color="0.3", lw=1)
    if bad.any():
        xb = df[bad][x].to_numpy(dtype=float)
        ax.plot(xb, np.full_like(xb, 0.0), "x", color="red", ms=8, clip_on=False,
                transform=ax.get_xaxis_transform())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = sorted(set(df[x].to_numpy(dtype=float)))
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(x)
    return ax


def plot_trajectory_overlay(x: np.ndarray, f_net, f_lin, steps, *, ax=None, target=None):
    """Network outputs (solid) and linearized outputs (dashed) on the test inputs ``x`` (1-D,
    sorted) at the training steps ``steps`` (rows of ``f_net`` and ``f_lin``, each (T+1, m))."""
    ax = _ax(ax)
    x = np.asarray(x).reshape(-1)
    order = np.argsort(x)
    f_net, f_lin = np.asarray(f_net), np.asarray(f_lin)
    if target is not None:
        ax.plot(x[order], np.asarray(target).reshape(-1)[order], color="0.6", lw=3, alpha=0.5, label="target")
    for i, t in enumerate(steps):
        c = f"C{i}"
        ax.plot(x[order], f_net[t][order], "-", color=c, lw=1.5, label=f"network, step {t}")
        ax.plot(x[order], f_lin[t][order], "--", color="k", lw=0.8)
    ax.plot([], [], "--", color="k", lw=0.8, label="linearized")
    ax.set_xlabel("input u")
    ax.set_ylabel("f(u)")
    return ax


def plot_decay_rates(rates: pd.DataFrame, *, ax=None, color=None, label: str = "measured"):
    """Measured decay rate of the residual along each NTK eigenvector against eta lambda_i / n
    (the eigenvalue in units of the step), log-log, with the two predictions: the
    continuous-time rate eta lambda_i / n (solid) and the exact rate of discrete gradient descent
    -log|1 - eta lambda_i / n| (dashed). Modes that did not decay (rate <= 0) are marked with red
    crosses on the lower edge."""
    ax = _ax(ax)
    r = rates.sort_values("linear_rate")
    ok = np.isfinite(r["measured_rate"]) & (r["measured_rate"] > 0)
    ax.plot(r["linear_rate"][ok], r["measured_rate"][ok], "o", color=color, alpha=0.6, ms=5, label=label)
    if (~ok).any():
        xb = r["linear_rate"][~ok].to_numpy(dtype=float)
        ax.plot(xb, np.zeros_like(xb), "x", color="red", ms=8, clip_on=False, transform=ax.get_xaxis_transform(),
                label=f"{int((~ok).sum())} not decaying")
    xs = np.geomspace(r["linear_rate"].min(), r["linear_rate"].max(), 100)
    ax.plot(xs, xs, "-", color="0.2", lw=1, label=r"rate $=\eta\lambda_i/n$")
    ax.plot(xs, -np.log(np.abs(1 - xs)), "--", color="0.4", lw=1, label=r"rate $=-\log|1-\eta\lambda_i/n|$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\eta\lambda_i/n$ ($\lambda_i$ an eigenvalue of $\Theta_0$)")
    ax.set_ylabel("measured decay rate per step")
    return ax


def plot_bound_vs_error(df: pd.DataFrame, *, ax=None):
    """Bound (train loss + main + extra) and measured test loss against n, one colour per label
    set (target and noise level, from :func:`ntkbook.experiments.theory.bound_vs_error_sweep`):
    circles and solid lines for the measured test loss, squares and dashed lines for the bound
    (medians across seeds joined; each seed a dot), and a dotted line at 1, the largest value of
    the ramp loss, above which a bound is vacuous."""
    ax = _ax(ax)
    groups = df.groupby(["target", "noise"]) if "target" in df.columns else df.groupby(["noise"])
    for i, (key, g) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        name = f"{key[0]}, noise {key[1]:g}" if len(key) == 2 else f"noise {key[0]:g}"
        c = f"C{i}"
        for col, style, marker, what in [("test_loss", "-", "o", "test loss"), ("full_bound", "--", "s", "bound")]:
            vals = g[col].to_numpy(dtype=float)
            if not np.all(np.isfinite(vals)):
                raise ValueError(f"plot_bound_vs_error got non-finite values in {col!r}; report them instead of plotting.")
            med = g.groupby("n")[col].median()
            ax.plot(med.index, med.values, style, color=c, label=f"{what}, {name}")
            ax.plot(g["n"], g[col], marker, color=c, alpha=0.4, ms=4)
    from matplotlib.ticker import FuncFormatter

    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ns = sorted(set(df["n"].to_numpy(dtype=float)))
    ax.set_xticks(ns, [f"{v:g}" for v in ns])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("training set size n")
    ax.set_ylabel("test ramp loss (in [0, 1]) and bound")
    return ax
