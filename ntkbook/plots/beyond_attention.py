"""Figures of the chapter on eigenvalue control in attention models (beyond_attention).

The lambda_max(t) curves, the growth fit and the width plot are chapter 06's and chapter 10's
(:func:`ntkbook.plots.mechanisms.plot_lambda_max_curves`, :func:`~ntkbook.plots.mechanisms.plot_growth_fit`,
:func:`ntkbook.plots.ablations.plot_width_loglog`); this module adds the three figures that are
new here. Each takes a table of :mod:`ntkbook.experiments.beyond_attention` and an axis.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

__all__ = ["plot_depth_scaling", "plot_kernel_shares", "plot_ntk_times"]


def _check_columns(df, columns, owner):
    if not isinstance(df, pd.DataFrame) or not set(columns) <= set(df.columns):
        raise ValueError(f"The 'table' parameter of {owner} must be a DataFrame with the columns {sorted(columns)}. "
                         f"Got {list(getattr(df, 'columns', [])) or type(df).__name__} instead.")


def _seeds_and_median(ax, g: pd.DataFrame, x: str, y: str, color: str, label: str) -> pd.Series:
    """Every seed's ``y`` against ``x`` as a faint dot and the median over seeds as a line; returns the medians."""
    ax.plot(g[x], g[y], "o", color=color, alpha=0.4, ms=4)
    med = g.groupby(x)[y].median()
    ax.plot(med.index, med.to_numpy(), "-", color=color, label=label)
    return med


def plot_depth_scaling(table: pd.DataFrame, *, ax=None):
    """lambda_max(0) against the depth L on log-log axes, one colour per branch-scale schedule:
    every seed as a dot, the median over seeds as a line (the table of ``depth_lambda_max0``)."""
    _check_columns(table, {"schedule", "depth", "seed", "lambda_max0"}, "plot_depth_scaling")
    ax = ax or plt.gca()
    for i, (label, g) in enumerate(table.groupby("schedule", sort=False)):
        _seeds_and_median(ax, g, "depth", "lambda_max0", f"C{i}", f"$\\alpha_l$ = {label}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("depth L (blocks)")
    ax.set_ylabel("$\\lambda_{\\max}(0)$")
    ax.legend(fontsize=8)
    return ax


def plot_kernel_shares(table: pd.DataFrame, *, group: str = "query/key", ax=None):
    """The share of one parameter group in the trace of the NTK against the width, log-log, one
    colour per score scale (median over seeds, dots for seeds), with a dotted line of slope -1
    through the first median of each (the table of ``kernel_share_table``)."""
    _check_columns(table, {"score_scale", "width", "seed", "group", "share"}, "plot_kernel_shares")
    ax = ax or plt.gca()
    part = table[table["group"] == group]
    for i, (scale, g) in enumerate(part.groupby("score_scale", sort=False)):
        med = _seeds_and_median(ax, g, "width", "share", f"C{i}", f"scores scaled by {scale}")
        w = med.index.to_numpy(float)
        ax.plot(w, med.iloc[0] * (w / w[0]) ** -1.0, ":", color=f"C{i}", lw=1)
    ax.plot([], [], ":", color="0.4", label="slope -1")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width n")
    ax.set_ylabel(f"share of {group} in tr $\\Theta$")
    ax.legend(fontsize=8)
    return ax


def plot_ntk_times(table: pd.DataFrame, *, ax=None):
    """Seconds for one NTK against the width, one line per method (the table of ``ntk_times``);
    the legend says what ``auto`` chose at each width."""
    _check_columns(table, {"width", "method", "resolved", "seconds"}, "plot_ntk_times")
    ax = ax or plt.gca()
    for i, (method, g) in enumerate(table.groupby("method", sort=False)):
        g = g.sort_values("width")
        label = method if method != "auto" else f"auto (chose {', '.join(dict.fromkeys(g['resolved']))})"
        ax.plot(g["width"], g["seconds"], "o-", color=f"C{i}", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width n")
    ax.set_ylabel("seconds per NTK")
    ax.legend(fontsize=8)
    return ax
