"""Figures of the reproduction report."""

from __future__ import annotations

import pandas as pd

# Paper claims and theory results are reproduced or not (green / orange); sanity checks
# pass or fail, in a blue and a purple of their own, so that a passed check never reads as
# a reproduced claim; inconclusive and vacuous are both uninformative (amber, and a paler
# amber); not run is grey.
STATUS_COLORS = {
    "reproduced": "#1b9e77",
    "not reproduced": "#d95f02",
    "passed": "#4c78a8",
    "failed": "#7570b3",
    "inconclusive": "#e6ab02",
    "vacuous": "#f3d98b",
    "not run in this profile": "#999999",
}


def plot_status_counts(counts: pd.DataFrame, *, ax):
    """Horizontal stacked bars: for each row of ``counts`` (a kind of claim, or the paper
    claims before and after Holm's correction), how many claims have each status.

    Statuses no row has are left out of the legend; the first row is drawn at the top.
    """
    counts = counts.loc[:, [c for c in counts.columns if counts[c].sum() > 0]]
    labels = [str(i) for i in counts.index][::-1]
    left = pd.Series(0.0, index=labels)
    for status in counts.columns:
        values = pd.Series(counts[status].astype(float).to_numpy()[::-1], index=labels)
        ax.barh(labels, values, left=left, color=STATUS_COLORS.get(str(status), None), label=str(status))
        left = left + values
    ax.set_xlabel("number of claims")
    ax.legend(loc="lower right", fontsize=8)
    return ax
