"""Figures of the ablation chapters of part II: stochastic depth, B-scale, width.

Every function takes the data a chapter computed (a pandas table from
:mod:`ntkbook.experiments.ablations`) and an ``ax``, draws means with 95 % t intervals across seeds, and
never drops a non-finite value silently: diverged or failed points are drawn as red crosses
on the axis and counted in the legend.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ntkbook.stats import t_interval

__all__ = [
    "plot_mean_band",
    "plot_expected_ntk_gaps",
    "plot_kernel_change_by_mask",
    "plot_paired_errors",
    "plot_bscale_errors",
    "plot_bscale_frequency_errors",
    "plot_bscale_rank",
    "plot_width_trajectories",
    "plot_width_loglog",
]


def _summary(table: pd.DataFrame, x: str, y: str, log: bool = False, bounds=None) -> pd.DataFrame:
    """Mean and 95 % t interval of ``y`` per value of ``x``, of the finite values (of the
    positive ones, and in log space, with ``log``); ``n_bad`` counts those left out, which
    the figure marks. ``bounds`` clips the interval to the range the quantity can take."""
    rows = []
    for key, g in table.groupby(x, sort=True):
        values = g[y].to_numpy(float)
        if log:  # geometric mean, interval of the mean log; a non-positive value counts as non-finite
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(values > 0, np.log(values), math.nan)
        iv = t_interval(values, nonfinite="drop", bounds=None if log else bounds)  # dropped runs: drawn as crosses
        mean, low, high = (float(np.exp(v)) if log and np.isfinite(v) else v for v in iv)
        rows.append({x: key, "mean": mean, "low": low, "high": high, "n": iv.n, "n_bad": iv.n_dropped})
    return pd.DataFrame(rows)


def plot_mean_band(table: pd.DataFrame, x: str, y: str, *, ax=None, label=None, marker="o", log=False, bounds=None,
                   **kwargs):
    """Mean of ``y`` across the rows sharing each ``x`` with its 95 % t interval as a band.

    With ``log=True`` (for positive quantities on a log axis) the line is the geometric mean
    and the band the exponentiated t interval of the mean of log(y); non-positive values then
    count as non-finite. ``bounds=(lo, hi)`` keeps the band of a bounded quantity (a
    distance, an error) inside its range.

    Points where some rows are not finite (diverged runs) get a red cross at the bottom of
    the axis and the count in the label, so they are shown, not hidden.
    """
    if ax is None:
        ax = plt.gca()
    for col in (x, y):
        if col not in table.columns:
            raise ValueError(f"The 'table' parameter of plot_mean_band must have a column {col!r}. Got columns {list(table.columns)}.")
    s = _summary(table, x, y, log=log, bounds=bounds)
    bad = int(s["n_bad"].sum())
    text = label or y
    if bad:
        text += f" ({bad} non-finite runs, marked x)"
    (line,) = ax.plot(s[x], s["mean"], marker=marker, label=text, **kwargs)
    ok = np.isfinite(s["low"].to_numpy(float))
    if ok.any():
        ax.fill_between(s[x][ok], s["low"][ok], s["high"][ok], color=line.get_color(), alpha=0.2, linewidth=0)
    if bad:
        xs = s[x][s["n_bad"] > 0]
        ax.plot(xs, np.zeros(len(xs)), "x", color="red", markersize=9, transform=ax.get_xaxis_transform(), clip_on=False)
    return ax


def plot_expected_ntk_gaps(table: pd.DataFrame, *, ax_bias, ax_z=None):
    """Left: relative distance of the weighted formula and of the eval-mode kernel from the
    exact expected NTK against p (geometric means, log axis), with the measured round-off
    and the round-off tolerance the claim is judged against. Right (when ``ax_z`` is given and the table has the Monte
    Carlo columns): the distance from a Monte Carlo mean in units of its standard error
    (z), with z = 1, what the exact mean itself gives."""
    plot_mean_band(table, "p", "formula_bias", ax=ax_bias, label=r"$(1 - p)$-weighted formula (Eq. 17, reconstr.)", log=True)
    plot_mean_band(table, "p", "eval_bias", ax=ax_bias, label=r"eval-mode kernel, $(1 - p)^2$", marker="s", log=True)
    plot_mean_band(table, "p", "roundoff", ax=ax_bias, label="measured round-off (two NTK methods)", marker="v",
                   linestyle=":", color="0.5", log=True)
    tol = table.groupby("p", sort=True)["tolerance"].max()
    ax_bias.plot(tol.index, tol.to_numpy(float), "--", color="0.2", label="round-off tolerance (the rule)")
    ax_bias.set_yscale("log")
    ax_bias.set_xlabel("drop probability p")
    ax_bias.set_ylabel(r"relative distance from exact $\mathrm{E}[\Theta]$")
    ax_bias.legend()
    if ax_z is None or "formula_z" not in table.columns:
        return
    z_range = (0.0, math.inf)  # z is a ratio of norms
    plot_mean_band(table, "p", "formula_z", ax=ax_z, label="formula", bounds=z_range)
    plot_mean_band(table, "p", "eval_z", ax=ax_z, label="eval-mode kernel", marker="s", bounds=z_range)
    plot_mean_band(table, "p", "exact_z", ax=ax_z, label="exact mean (calibration)", marker="^", linestyle="--",
                   bounds=z_range)
    ax_z.axhline(1.0, color="0.5", linewidth=1)
    ax_z.set_xlabel("drop probability p")
    ax_z.set_ylabel(r"$z = \|\bar\Theta_{\mathrm{MC}} - \Theta_{\mathrm{ref}}\| / \|\mathrm{s.e.}\|$")
    ax_z.legend()


def plot_kernel_change_by_mask(table: pd.DataFrame, *, ax_mean, ax_std):
    """Left: relative NTK change over training, mean across mask draws with the min-max band,
    one line per p. Right: its standard deviation across mask draws."""
    for p, g in table.groupby("p", sort=True):
        stats = g.groupby("epoch")["kernel_change"].agg(["mean", "min", "max", "std"]).reset_index()
        (line,) = ax_mean.plot(stats["epoch"], stats["mean"], marker="o", markersize=3, label=f"p = {p:g}")
        ax_mean.fill_between(stats["epoch"], stats["min"], stats["max"], color=line.get_color(), alpha=0.2, linewidth=0)
        ax_std.plot(stats["epoch"], stats["std"].fillna(0.0), marker="o", markersize=3, color=line.get_color(), label=f"p = {p:g}")
    ax_mean.set_xlabel("epoch")
    ax_mean.set_ylabel(r"$\|\Theta_t - \Theta_0\|_F / \|\Theta_0\|_F$")
    ax_mean.legend()
    ax_std.set_xlabel("epoch")
    ax_std.set_ylabel("std across mask draws")
    ax_std.legend()


def plot_paired_errors(diffs: pd.DataFrame, *, ax=None, labels=("with", "without")):
    """Test error per seed for two variants, the pairs joined by a line (``diffs`` has columns
    seed, a, b as in :class:`ntkbook.experiments.runs.PairedComparison`)."""
    if ax is None:
        ax = plt.gca()
    for _, row in diffs.iterrows():
        ax.plot([0, 1], [row["b"], row["a"]], color="0.6", marker="o")
    ax.set_xticks([0, 1], [labels[1], labels[0]])
    ax.set_xlim(-0.4, 1.4)
    ax.set_ylabel("test MSE")
    return ax


def plot_bscale_errors(table: pd.DataFrame, *, ax=None):
    """Train, validation (when the table has ``val_mse``) and test MSE against the Fourier
    scale sigma (log-log): geometric mean across seeds and the 95 % interval of the mean log;
    failed runs are crosses on the axis."""
    if ax is None:
        ax = plt.gca()
    plot_mean_band(table, "fourier_scale", "train_mse", ax=ax, label="train MSE (fitted points)", log=True)
    if "val_mse" in table.columns:
        plot_mean_band(table, "fourier_scale", "val_mse", ax=ax, label=r"validation MSE (chooses $\sigma$)", marker="^",
                       linestyle="--", log=True)
    plot_mean_band(table, "fourier_scale", "test_mse", ax=ax, label="test MSE", marker="s", log=True)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"Fourier scale $\sigma$")
    ax.set_ylabel("MSE")
    ax.legend()
    return ax


def plot_bscale_frequency_errors(table: pd.DataFrame, frequencies, *, ax=None):
    """Relative test error of each frequency component against sigma (log-log), one line per
    frequency: ``table`` has a column ``freq_error_k`` for the k-th of ``frequencies``
    (:func:`ntkbook.experiments.ablations.bscale_point`). Geometric mean across seeds with the
    95 % interval of the mean log; a relative error of 1 (dotted) is a component not learned
    at all."""
    if ax is None:
        ax = plt.gca()
    for k, f in enumerate(frequencies):
        col = f"freq_error_{k}"
        if col not in table.columns:
            raise ValueError(f"The 'table' parameter of plot_bscale_frequency_errors must have a column {col!r} "
                             f"for frequency {f:g}. Got columns {list(table.columns)}.")
        plot_mean_band(table, "fourier_scale", col, ax=ax, label=f"frequency {f:g}", marker="os^vD"[k % 5], log=True)
    ax.axhline(1.0, color="0.3", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"Fourier scale $\sigma$")
    ax.set_ylabel("relative error of the component (test grid)")
    ax.legend()
    return ax


def plot_bscale_rank(table: pd.DataFrame, *, ax=None, n_train=None):
    """Effective rank of the NTK at initialization against sigma, with the number of training
    points (the largest possible rank) as a dotted line."""
    if ax is None:
        ax = plt.gca()
    plot_mean_band(table, "fourier_scale", "effective_rank", ax=ax, label=r"effective rank of $\Theta_0$")
    if n_train is not None:
        ax.axhline(n_train, color="0.3", linestyle=":", linewidth=1, label=f"N = {n_train}")
    ax.set_xscale("log")
    ax.set_xlabel(r"Fourier scale $\sigma$")
    ax.set_ylabel("effective rank")
    ax.legend()
    return ax


def plot_width_trajectories(table: pd.DataFrame, *, ax=None):
    """Relative NTK change over training, one line per width: geometric mean across seeds
    with the 95 % interval of the mean log, on a log axis. Epoch 0 (where the change is 0 by
    definition) is left out."""
    if ax is None:
        ax = plt.gca()
    later = table[table["epoch"] > 0]
    for width, g in later.groupby("width", sort=True):
        plot_mean_band(g, "epoch", "kernel_change", ax=ax, label=f"width {width}", markersize=3, log=True)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"$\|\Theta_t - \Theta_0\|_F / \|\Theta_0\|_F$")
    ax.legend()
    return ax


def plot_width_loglog(final: pd.DataFrame, slope: float, intercept: float, *, ax=None):
    """Final relative NTK change against width on log-log axes: every seed as a dot, the
    mean fit exp(intercept) width^slope, and the references width^(-1/2) (the bound of Jacot
    et al. 2018 and Lee et al. 2019) and 1/width (Dyer & Gur-Ari 2020) through the fit's
    value at the smallest width."""
    if ax is None:
        ax = plt.gca()
    bad = final[~np.isfinite(final["kernel_change"].to_numpy(float)) | (final["kernel_change"] <= 0)]
    good = final.drop(bad.index)
    ax.plot(good["width"], good["kernel_change"], "o", alpha=0.5, label="one seed")
    if len(bad):
        ax.plot(bad["width"], np.zeros(len(bad)), "x", color="red", transform=ax.get_xaxis_transform(),
                clip_on=False, label=f"{len(bad)} non-finite runs")
    w = np.geomspace(final["width"].min(), final["width"].max(), 50)
    fit = np.exp(intercept) * w**slope
    ax.plot(w, fit, "-", label=f"fit: slope {slope:.2f}")
    ax.plot(w, fit[0] * (w / w[0]) ** -0.5, ":", color="0.3", label="slope -1/2 (the bound)")
    ax.plot(w, fit[0] * (w / w[0]) ** -1.0, "--", color="0.5", label="slope -1 (Dyer & Gur-Ari)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width n")
    ax.set_ylabel("final relative NTK change")
    ax.legend()
    return ax
