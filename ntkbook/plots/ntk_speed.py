"""Figures of the appendix "Computing NTKs fast"."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from ntkbook.plots.core import readable_log_axis


def plot_method_times(table: pd.DataFrame, *, ax, model: str):
    """Seconds against N (log-log) for each NTK method on one model; skipped sizes are left out
    of the lines and marked with an open circle at the top of the axes."""
    rows = table[(table["model"] == model) & (table["task"] == "ntk")]
    for method, g in rows.groupby("method", sort=False):
        g = g.sort_values("N")
        done = g[np.isfinite(g["seconds"])]
        (line,) = ax.plot(done["N"], done["seconds"], marker="o", label=method)
        skipped = g[~np.isfinite(g["seconds"])]
        if len(skipped):
            ax.plot(skipped["N"], [ax.get_ylim()[1]] * len(skipped), marker="o", mfc="none", ls="none", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ns = sorted(set(rows["N"].to_numpy(dtype=float)))
    ax.set_xticks(ns, [f"{n:g}" for n in ns])  # the sizes run, not minor labels that collide
    ax.xaxis.set_minor_formatter(NullFormatter())
    readable_log_axis(ax.yaxis)
    ax.set_xlabel("N (samples)")
    ax.set_ylabel("seconds")
    ax.set_title(model)
    ax.legend()
    return ax


#: The phases of the structured method, in the order they run, with the labels of the figure.
PHASES = {"probe_s": "probe (find and check the rules)", "capture_s": "record factors (forward, O backward)",
          "jacobian_s": "per-sample Jacobians (fallback)", "persample_s": "contract per-sample gradients",
          "gram_s": "Gram products", "other_s": "the rest (blocks, copies, checks)"}


def time_split(table: pd.DataFrame, method: str = "auto") -> pd.DataFrame:
    """Seconds of each phase of ``method`` per architecture row (columns of :data:`PHASES`), with "other_s"
    the wall time not in any phase; indexed by model."""
    rows = table[(table["task"] == "arch") & (table["method"] == method)].set_index("model")
    split = rows[[c for c in PHASES if c != "other_s"]].fillna(0.0).clip(lower=0.0)
    split["other_s"] = (rows["seconds"] - split.sum(axis=1)).clip(lower=0.0)
    return split


def plot_where_the_time_goes(table: pd.DataFrame, *, axes):
    """Left: the speed-up of ``auto`` over plain torch.func for each architecture, with its target
    (a tick) where the run used the target's N. Right: the share of ``auto``'s wall time in each phase
    of the structured method. ``axes``: two axes; the architecture rows of :func:`ntk_benchmark`."""
    from ntkbook.experiments.ntk_speed import ARCHITECTURES

    ax, ax2 = axes
    arch = table[(table["task"] == "arch") & (table["method"] == "auto")].set_index("model")
    names = [n for n in ARCHITECTURES if n in arch.index]
    y = np.arange(len(names))[::-1]
    speed = arch.loc[names, "speedup_vs_torchfunc"].to_numpy(dtype=float)
    ax.barh(y, speed, color="C0")
    for yi, n, v in zip(y, names, speed):
        target_n, target, _ = ARCHITECTURES[n]
        if int(arch.loc[n, "N"]) == target_n:
            ax.plot([target, target], [yi - 0.4, yi + 0.4], color="k", lw=2)
        ax.text(v, yi, f" {v:.3g}x", va="center")
    ax.axvline(1.0, color="0.5", lw=0.8, ls="--")
    ax.set_xscale("log")
    ticks = [t for t in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500) if 0.3 * min(speed.min(), 1) <= t <= 3 * speed.max()]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_yticks(y, [f"{n} (N={int(arch.loc[n, 'N'])})" for n in names])
    ax.set_xlabel("speed-up of auto over torch.func (black: target)")
    split = time_split(table).loc[names]
    share = split.div(split.sum(axis=1).replace(0.0, np.nan), axis=0).fillna(0.0)
    left = np.zeros(len(names))
    for i, (col, label) in enumerate(PHASES.items()):
        ax2.barh(y, share[col].to_numpy(), left=left, color=f"C{i}", label=label)
        left += share[col].to_numpy()
    ax2.set_yticks(y, [""] * len(names))
    ax2.set_xlim(0, 1)
    ax2.set_xlabel("share of auto's wall time")
    ax2.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)  # beside the bars
    return axes
