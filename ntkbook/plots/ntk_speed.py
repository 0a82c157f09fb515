"""Figures of the appendix "Computing NTKs fast"."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
    ax.set_xlabel("N (samples)")
    ax.set_ylabel("seconds")
    ax.set_title(model)
    ax.legend(fontsize=8)
    return ax
