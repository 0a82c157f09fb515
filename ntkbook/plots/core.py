"""Shared figure style, the run footer, and the NTK spectrum plot.

Every figure says which profile and how many seeds produced it: :func:`figure` writes
that footer on the figure itself and :func:`run_label` returns the same words for the
caption.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns


def set_style() -> None:
    """The book's look: seaborn's whitegrid theme at notebook scale, colour-blind palette."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")


def run_label(profile: str, seeds: int | str) -> str:
    """'profile ci, 3 seeds': the words every caption and footer uses.

    ``seeds`` may be a phrase when a figure pools runs with different seed counts
    (the reproduction report: "as listed per claim")."""
    if isinstance(seeds, str):
        return f"profile {profile}, seeds {seeds}"
    if seeds < 1:
        raise ValueError(f"The 'seeds' parameter of run_label must be an int >= 1. Got {seeds!r} instead.")
    return f"profile {profile}, {seeds} seed{'s' if seeds != 1 else ''}"


def figure(ncols: int = 1, *, profile: str, seeds: int | str, width: float = 5.0, height: float = 3.6, **kwargs):
    """A new figure with ``ncols`` axes and a footer naming the profile and the seeds."""
    set_style()
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False, **kwargs)
    fig.text(0.995, 0.005, run_label(profile, seeds), ha="right", va="bottom", fontsize=8, color="0.4")
    return fig, axes[0] if ncols > 1 else axes[0, 0]


def glue_figure(name: str, fig) -> None:
    """Glue ``fig`` under ``name`` for a ``{glue:figure}`` directive, then close it so the
    notebook does not show it a second time."""
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)


def plot_spectrum(eigenvalues, *, ax=None, label: str | None = None, normalize: bool = False, **kwargs):
    """Eigenvalues in decreasing order against their index, on a log scale.

    ``eigenvalues`` may be one array or an (S, N) array of S seeds: then the median is
    drawn with the min-max band across seeds. Non-positive values (round-off of a PSD
    matrix) are clipped to the smallest positive one so the log axis stays finite, and
    the number clipped is reported in the legend label.
    """
    values = np.asarray(eigenvalues, dtype=float)
    if values.ndim == 1:
        values = values[None]
    if not np.all(np.isfinite(values)):
        raise ValueError("plot_spectrum got non-finite eigenvalues; refusing to draw them silently.")
    values = -np.sort(-values, axis=1)
    if normalize:
        values = values / values[:, :1]
    positive = values[values > 0]
    floor = positive.min() if positive.size else 1e-300
    clipped = int((values <= 0).sum())
    values = np.maximum(values, floor)
    index = np.arange(1, values.shape[1] + 1)
    if ax is None:
        ax = plt.gca()
    text = label or "spectrum"
    if clipped:
        text += f" ({clipped} values <= 0 clipped)"
    med = np.median(values, axis=0)
    (line,) = ax.plot(index, med, label=text, **kwargs)
    if values.shape[0] > 1:
        ax.fill_between(index, values.min(0), values.max(0), color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue index i")
    ax.set_ylabel("normalized eigenvalue" if normalize else "eigenvalue $\\lambda_i$")
    return ax
