"""Figures of part II (the NTK-ECRN's mechanisms): each takes data and an ``ax``.

The data come from :mod:`ntkbook.experiments.mechanisms`. No function draws a non-finite value: diverged
runs are drawn as markers at their last finite epoch and named in the legend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from ntkbook.stats import t_interval
from ntkbook.plots.core import plot_spectrum, readable_log_axis

#: Line styles that keep coinciding curves apart (a variant identical to another stays visible).
LINESTYLES = ["-", "--", "-.", ":"]

__all__ = [
    "plot_spectra",
    "plot_metric_by_variant",
    "plot_metric_against_scale",
    "plot_lambda_max_curves",
    "plot_growth_fit",
    "plot_stability",
    "plot_scale_selection",
    "plot_frequency_errors",
    "plot_fits",
]


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def plot_spectra(eigenvalues: dict, *, ax=None, normalize: bool = False, names=None):
    """Sorted NTK spectra of several variants (median and min-max band across seeds).

    ``eigenvalues`` maps a variant name to an (S, N) array (see
    :func:`ntkbook.experiments.mechanisms.init_spectra`); ``names`` picks and orders the variants.
    """
    ax = _ax(ax)
    for i, name in enumerate(names or list(eigenvalues)):  # a dashed style per variant: equal spectra both show
        plot_spectrum(eigenvalues[name], ax=ax, label=name, normalize=normalize,
                      linestyle=LINESTYLES[i % len(LINESTYLES)], zorder=3 + i)
    ax.legend()
    return ax


def plot_metric_by_variant(table: pd.DataFrame, metric: str, *, ax=None, names=None, log: bool = False):
    """One column per variant: each seed as a dot, the mean and its 95 % t interval as a bar.

    ``table`` has the ``model, seed, metric, value`` columns of :func:`init_spectra`.
    """
    ax = _ax(ax)
    d = table[table["metric"] == metric]
    names = names or list(dict.fromkeys(d["model"]))
    for i, name in enumerate(names):
        v = d.loc[d["model"] == name, "value"].to_numpy(float)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"plot_metric_by_variant got non-finite {metric} values for {name!r}.")
        mean, lo, hi = t_interval(v)
        jitter = np.linspace(-0.12, 0.12, len(v)) if len(v) > 1 else np.zeros(1)
        ax.plot(i + jitter, v, "o", color="0.55", ms=4, zorder=2)
        if np.isfinite(lo):
            ax.errorbar([i], [mean], yerr=[[mean - lo], [hi - mean]], fmt="s", color="C0", capsize=5, zorder=3)
        else:
            ax.plot([i], [mean], "s", color="C0", zorder=3)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha="right")
    ax.set_ylabel(metric.replace("_", " "))
    if log:
        ax.set_yscale("log")
    return ax


def plot_metric_against_scale(table: pd.DataFrame, metric: str, scales: dict, *, baselines=(), ax=None,
                              bounds=None, label: str = "swept model"):
    """A metric of one model against a scale (log axis), with other models as horizontal bands.

    ``table`` has the ``model, seed, metric, value`` columns of :func:`init_spectra`;
    ``scales`` maps the names of the swept variants to their scale (e.g. the Fourier scale
    sigma), and ``baselines`` names the models drawn as a band (the mean and its 95 % t
    interval across seeds, which do not depend on the scale). Each swept point is the mean
    with its 95 % t interval (legend entry ``label``); ``bounds`` clips the intervals to a
    quantity's range.
    """
    ax = _ax(ax)
    d = table[table["metric"] == metric]
    xs, means, lows, highs = [], [], [], []
    for name, scale in sorted(scales.items(), key=lambda kv: kv[1]):
        v = d.loc[d["model"] == name, "value"].to_numpy(float)
        mean, lo, hi = t_interval(v, bounds=bounds)
        xs.append(scale), means.append(mean), lows.append(lo), highs.append(hi)
    xs, means, lows, highs = (np.asarray(a, float) for a in (xs, means, lows, highs))
    ok = np.isfinite(lows) & np.isfinite(highs)
    ax.plot(xs, means, "o-", color="C0", label=label)
    if ok.any():
        ax.errorbar(xs[ok], means[ok], yerr=[means[ok] - lows[ok], highs[ok] - means[ok]], fmt="none",
                    color="C0", capsize=4)
    for i, name in enumerate(baselines):
        v = d.loc[d["model"] == name, "value"].to_numpy(float)
        mean, lo, hi = t_interval(v, bounds=bounds)
        color = f"C{i + 1}"  # dashed styles: baselines with equal values both show
        ax.axhline(mean, color=color, lw=1.8, ls=LINESTYLES[(i + 1) % len(LINESTYLES)], label=name, zorder=1)
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axhspan(lo, hi, color=color, alpha=0.15, lw=0)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend()
    return ax


def plot_lambda_max_curves(curves: pd.DataFrame, runs: pd.DataFrame, *, depth: int, ax=None, relative: bool = True):
    """lambda_max(t) (divided by lambda_max(0) when ``relative``) for every alpha at one depth.

    The median over seeds is drawn for each alpha; a run that diverged is marked with an
    ``x`` at its last finite record and counted in the legend entry of its alpha.
    """
    ax = _ax(ax)
    c = curves[curves["depth"] == depth].copy()
    r = runs[runs["depth"] == depth]
    if relative:
        l0 = c[c["epoch"] == 0].set_index(["alpha", "seed"])["lambda_max"].rename("l0")
        c = c.join(l0, on=["alpha", "seed"])
        c["y"] = c["lambda_max"] / c["l0"]
    else:
        c["y"] = c["lambda_max"]
    alphas = sorted(c["alpha"].unique())
    colors = {a: f"C{i % 10}" for i, a in enumerate(alphas)}
    for a in alphas:
        ca = c[c["alpha"] == a]
        div = r[(r["alpha"] == a) & r["diverged"]]
        label = f"{a:g}" + (f" ({len(div)}/{r[r['alpha'] == a].shape[0]} diverged)" if len(div) else "")
        finished = ca[~ca["seed"].isin(div["seed"])]
        if len(finished):
            med = finished.groupby("epoch")["y"].median()
            ax.plot(med.index, med.to_numpy(), color=colors[a], label=label)
            label = None
        for seed in div["seed"]:
            last = ca[ca["seed"] == seed].sort_values("epoch").tail(1)
            ax.plot(last["epoch"], last["y"], "x", color=colors[a], ms=9, mew=2, label=label)
            label = None
    ax.set_xlabel("epoch t")
    ax.set_ylabel("$\\lambda_{\\max}(t) / \\lambda_{\\max}(0)$" if relative else "$\\lambda_{\\max}(t)$")
    ax.set_title(f"depth L = {depth}")
    ax.legend(title=r"$\alpha$", loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the axes, never over a curve
    return ax


def plot_growth_fit(table: pd.DataFrame, fits: pd.DataFrame, *, ax=None):
    """Excess growth of lambda_max against alpha (log-log), one colour per depth.

    Each (alpha, depth) point is the median over seeds of the runs used in the fits; the line
    is the median fitted power law of that depth, and the dotted grey line has slope 2 (the
    reconstructed Eq. (15)). Points with excess <= 0 or from diverged or unstable runs are not
    drawn (the fit left them out too; the chapter counts them).
    """
    ax = _ax(ax)
    used = table[table["used_in_fit"]]
    for i, depth in enumerate(sorted(used["depth"].unique())):
        u = used[used["depth"] == depth]
        med = u.groupby("alpha")["excess"].median()
        ax.plot(med.index, med.to_numpy(), "o", color=f"C{i}", label=f"L = {depth}")
        f = fits[(fits["depth"] == depth) & np.isfinite(fits["slope"])]
        if len(f):
            k, c = float(f["slope"].median()), float(f["intercept"].median())
            a = np.geomspace(med.index.min(), med.index.max(), 20)
            ax.plot(a, np.exp(c) * a ** k, "-", color=f"C{i}", lw=1, label=f"fit, slope {k:.2f}")
    if len(used):
        a = np.geomspace(used["alpha"].min(), used["alpha"].max(), 20)
        mid = float(used["excess"].median())
        a_mid = float(np.exp(np.log(used["alpha"]).median()))
        ax.plot(a, mid * (a / a_mid) ** 2, ":", color="0.4", label="slope 2")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a short log axis overlap
    if len(used):
        ticks = sorted(used["alpha"].unique())
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{a:g}" for a in ticks])
    ax.set_xlabel("residual scale $\\alpha$")
    ax.set_ylabel("excess drift of $\\lambda_{\\max}$")
    ax.legend()
    return ax


def plot_stability(runs: pd.DataFrame, *, column: str = "stability_ratio", limit: float = 2.0, ax=None,
                   ylabel: str = "lr $\\lambda_{\\max}(0)$ / n", limit_label: str = "stability limit 2"):
    """A per-run ratio (by default the stability ratio lr lambda_max(0) / n) against alpha, per depth.

    The line is the median over seeds of each depth; finished runs are dots, diverged runs
    crosses. The dashed line is ``limit``: for the stability ratio, 2, above which gradient
    descent cannot follow the kernel; for ``column="peak_ratio"`` (max_t lambda_max(t) /
    lambda_max(0)), 1 / rho, above which a step set at a fraction rho of the limit at
    initialization has become unstable.
    """
    ax = _ax(ax)
    for i, depth in enumerate(sorted(runs["depth"].unique())):
        r = runs[runs["depth"] == depth]
        med = r.groupby("alpha")[column].median()
        ax.plot(med.index, med.to_numpy(), "-", color=f"C{i}", lw=1, label=f"L = {depth}")
        ok, bad = r[~r["diverged"]], r[r["diverged"]]
        ax.plot(ok["alpha"], ok[column], "o", color=f"C{i}", ms=4)
        if len(bad):
            ax.plot(bad["alpha"], bad[column], "x", color=f"C{i}", ms=8, mew=2)
    ax.axhline(limit, ls="--", color="0.3", lw=1, label=limit_label)
    ax.plot([], [], "x", color="0.3", label="diverged run")
    pos = runs["alpha"] > 0
    ax.set_xscale("symlog", linthresh=float(runs.loc[pos, "alpha"].min()) if pos.any() else 1.0)
    ax.set_yscale("log")
    ax.set_xlabel("residual scale $\\alpha$")
    ax.set_ylabel(ylabel)
    readable_log_axis(ax.yaxis)  # a ratio between 1 and 2 would get a single labelled tick
    ax.legend()
    return ax


def plot_scale_selection(summary: pd.DataFrame, *, baseline=None, ax=None):
    """Validation MSE against the Fourier scale sigma (log-log), the selected scale marked.

    ``summary`` is the per-scale table of :func:`ntkbook.experiments.mechanisms.selected_scale`
    (mean and 95 % t interval across seeds); ``baseline`` an optional ``(mean, low, high)`` of
    the model without the embedding, drawn as a band. A scale at which some seed diverged has
    no mean and is drawn as a cross at the top of the axis.
    """
    ax = _ax(ax)
    ok = summary[np.isfinite(summary["mean"])]
    ax.plot(ok["fourier_scale"], ok["mean"], "o-", color="C0", label="Fourier on (validation)")
    err = ok[np.isfinite(ok["low"]) & np.isfinite(ok["high"])]
    if len(err):
        ax.errorbar(err["fourier_scale"], err["mean"],
                    yerr=[err["mean"] - err["low"], err["high"] - err["mean"]], fmt="none", color="C0", capsize=4)
    best = summary[summary["selected"]]
    ax.plot(best["fourier_scale"], best["mean"], "*", color="C3", ms=14, label="selected", zorder=4)
    if baseline is not None:
        mean, lo, hi = baseline
        ax.axhline(mean, color="C1", lw=1, label="Fourier off (validation)")
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axhspan(max(lo, 1e-300), hi, color="C1", alpha=0.15, lw=0)
    bad = summary[~np.isfinite(summary["mean"])]
    if len(bad):
        ax.plot(bad["fourier_scale"], [ax.get_ylim()[1]] * len(bad), "x", color="C3", ms=9, mew=2,
                label="a seed diverged", clip_on=False)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("Fourier scale $\\sigma$")
    ax.set_ylabel("validation MSE")
    readable_log_axis(ax.yaxis)
    ax.legend()
    return ax


def plot_frequency_errors(errors: pd.DataFrame, *, ax=None):
    """Relative error of each frequency component over training, per variant.

    The mean over seeds is the line and the min-max range across seeds the band (on a log
    axis a t interval from a few seeds reaches below zero, so the range is drawn instead);
    line style marks the variant, colour the frequency.
    """
    ax = _ax(ax)
    styles = ["-", "--", "-.", ":"]
    freqs = sorted(errors["frequency"].unique())
    for j, variant in enumerate(dict.fromkeys(errors["variant"])):
        for i, f in enumerate(freqs):
            e = errors[(errors["variant"] == variant) & (errors["frequency"] == f)]
            if not np.all(np.isfinite(e["relative_error"].to_numpy(float))):
                raise ValueError(f"plot_frequency_errors got non-finite errors for {variant!r}, f = {f:g}.")
            g = e.groupby("epoch")["relative_error"]
            mean, lo, hi = g.mean(), g.min(), g.max()
            ax.plot(mean.index, mean.to_numpy(), styles[j % 4], color=f"C{i}", label=f"{variant}, f = {f:g}")
            if e["seed"].nunique() > 1:
                ax.fill_between(mean.index, lo.to_numpy(), hi.to_numpy(), color=f"C{i}", alpha=0.15, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("epoch t")
    ax.set_ylabel("relative error of the component")
    ax.legend()
    return ax


def plot_fits(fits: pd.DataFrame, *, seed: int, ax=None):
    """The target and each variant's final prediction on the test grid, for one seed."""
    ax = _ax(ax)
    f = fits[fits["seed"] == seed]
    first = f[f["variant"] == f["variant"].iloc[0]].sort_values("x")
    ax.plot(first["x"], first["y_true"], color="0.2", lw=2.5, alpha=0.35, label="target")
    for i, variant in enumerate(dict.fromkeys(f["variant"])):
        v = f[f["variant"] == variant].sort_values("x")
        ax.plot(v["x"], v["y_pred"], color=f"C{i}", lw=1.2, label=variant)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend()
    return ax
