"""Figures of the reproduction report."""

from __future__ import annotations

import pandas as pd

STATUS_COLORS = {
    "reproduced": "#1b9e77",
    "not reproduced": "#d95f02",
    "inconclusive": "#e6ab02",
    "not run in this profile": "#999999",
}


def plot_status_counts(counts: pd.DataFrame, *, ax):
    """Horizontal stacked bars: for each kind of claim, how many have each status."""
    left = pd.Series(0, index=counts.index, dtype=float)
    for status in counts.columns:
        values = counts[status].astype(float)
        ax.barh(counts.index.astype(str), values, left=left, color=STATUS_COLORS.get(str(status), None), label=str(status))
        left = left + values
    ax.set_xlabel("number of claims")
    ax.legend(loc="lower right", fontsize=8)
    return ax
