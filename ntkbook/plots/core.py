"""Shared figure style, the run footer, and the NTK spectrum plot.

Every figure says which profile and how many seeds produced it: :func:`figure` writes
that footer on the figure itself and :func:`run_label` returns the same words for the
caption.

Legibility is set here and nowhere else. The rule: shown in the book's content column
(:data:`DISPLAY_PX` wide at a 1280 px desktop window), every text of a figure is at least
the body's small text (:data:`SMALL_TEXT_PX`), and the PNG has at least 1.5x the pixels it
is shown with, up to the widest desktop column (:data:`MAX_DISPLAY_PX`). Hence one figure
width (:data:`WIDTH_IN`, panels stacked rather than narrowed), one smallest font
(:data:`MIN_FONT_PT`) and one resolution (:data:`DPI`).
"""

from __future__ import annotations

import io
import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.text import Text


#: The rendered width of a figure in the book, in CSS px: the content column of the Jupyter
#: Book theme at a 1280 px desktop window (measured in the built ci book; the column is 608 to
#: 800 px across desktop windows of 992 px and wider, and 774 px from 1440 px up).
DISPLAY_PX = 672
#: The widest the column gets on a desktop (at a 1100 px window).
MAX_DISPLAY_PX = 800
#: The body's small text in the theme (``small``, ``--pst-font-size-milli`` = 0.9 rem), in CSS px.
SMALL_TEXT_PX = 14.4
#: Every figure of the book is this wide (inches): its panels are stacked rather than narrowed,
#: so that the text scale on the page is the same in every figure.
WIDTH_IN = 6.4
#: Pixels per inch of the saved PNG: 1280 px natural width, 1.6x the widest desktop column.
DPI = 200
#: The smallest font (points) whose text, shown at DISPLAY_PX, is as large as SMALL_TEXT_PX:
#: 14.4 px * 72 / (672 px / 6.4 in) = 9.9 pt.
MIN_FONT_PT = math.ceil(SMALL_TEXT_PX * 72 * WIDTH_IN / DISPLAY_PX)
#: Height (inches) of one row of panels: a single panel, a row of two, a stacked panel.
HEIGHTS = {1: 4.0, 2: 3.3, "stacked": 2.9}
#: The gid of the run label :func:`figure` writes, which :func:`glue_figure` moves under everything.
STAMP_GID = "ntkbook-run-label"


def set_style() -> None:
    """The book's look: seaborn's whitegrid theme, colour-blind palette, and the one place that
    sets font sizes and resolution (every text at least :data:`MIN_FONT_PT`, saved at :data:`DPI`)."""
    base = MIN_FONT_PT
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", rc={
        "font.size": base, "xtick.labelsize": base, "ytick.labelsize": base, "legend.fontsize": base,
        "legend.title_fontsize": base, "axes.labelsize": base + 1, "axes.titlesize": base + 1,
        "figure.titlesize": base + 2, "figure.labelsize": base + 1,
        "figure.dpi": DPI, "savefig.dpi": DPI, "legend.framealpha": 0.85,
    })


def run_label(profile: str, seeds: int | str) -> str:
    """'profile ci, 3 seeds': the words every caption and footer uses.

    ``seeds`` may be a phrase when a figure pools runs with different seed counts
    (the reproduction report: "as listed per claim")."""
    if isinstance(seeds, str):
        return f"profile {profile}, seeds {seeds}"
    if seeds < 1:
        raise ValueError(f"The 'seeds' parameter of run_label must be an int >= 1. Got {seeds!r} instead.")
    return f"profile {profile}, {seeds} seed{'s' if seeds != 1 else ''}"


def figure(panels: int = 1, *, profile: str, seeds: int | str, height: float | None = None,
           stack: bool | None = None, **kwargs):
    """A new figure, :data:`WIDTH_IN` wide, with ``panels`` axes and a run label (profile, seeds).

    One or two panels sit side by side; three or more, or any number with ``stack=True`` (for
    panels whose legends need the full width), are stacked in one column. ``height`` is the
    height of one row of panels in inches (default :data:`HEIGHTS`). Returns the figure and
    the axes (one, or a 1-D array of ``panels``). :func:`glue_figure` moves the run label
    under every other artist, where it cannot cover ticks or labels.
    """
    if not isinstance(panels, int) or panels < 1:
        raise ValueError(f"The 'panels' parameter of figure must be an int >= 1. Got {panels!r} instead.")
    set_style()
    stacked = panels >= 3 if stack is None else bool(stack) and panels > 1
    rows, cols = (panels, 1) if stacked else (1, panels)
    row_height = height if height is not None else HEIGHTS["stacked" if stacked else panels]
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, row_height * rows), squeeze=False, **kwargs)
    fig.text(1.0, 0.0, run_label(profile, seeds), ha="right", va="top", fontsize=MIN_FONT_PT, color="0.35",
             gid=STAMP_GID)
    axes = axes.reshape(-1)
    return fig, axes if panels > 1 else axes[0]


def enforce_min_font(fig, minimum: float = MIN_FONT_PT) -> int:
    """Raise every text of ``fig`` smaller than ``minimum`` points to ``minimum``; returns how many.

    The safety net behind :func:`set_style`: a ``fontsize=7`` passed by a caller cannot make a
    label smaller than the page's small text."""
    raised = 0
    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < minimum:
            text.set_fontsize(minimum)
            raised += 1
    return raised


def smallest_font(fig) -> float:
    """The smallest font size (points) of any visible, non-empty text of ``fig``."""
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
    return min(sizes) if sizes else math.inf


def place_run_label(fig) -> None:
    """Lay ``fig`` out, then put its run label below and right of everything else drawn."""
    stamps = [t for t in fig.texts if t.get_gid() == STAMP_GID]
    for t in stamps:
        t.set_visible(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "tight_layout not applied" for exotic axes
        if fig.get_layout_engine() is None:
            fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    box = fig.get_tightbbox(renderer)  # inches
    width, height = fig.get_size_inches()
    for t in stamps:
        t.set_position((box.x1 / width, box.y0 / height - 0.03 / height))
        t.set_visible(True)


def figure_png(fig) -> bytes:
    """``fig`` as the PNG the book shows: fonts floored, run label placed, :data:`DPI` pixels
    per inch, cropped to its content (and padded back to :data:`WIDTH_IN` if narrower), stored with a 256-colour palette (a third of the bytes
    of full colour, with no visible change for line art)."""
    from PIL import Image

    enforce_min_font(fig)
    place_run_label(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05, facecolor="white")
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    full = round(WIDTH_IN * DPI)
    if image.width < full:  # cropping left it narrower: pad back, so that every figure has the same scale
        padded = Image.new("RGB", (full, image.height), "white")
        padded.paste(image, ((full - image.width) // 2, 0))
        image = padded
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, format="png",
                                                                                               optimize=True)
    return out.getvalue()


def glue_figure(name: str, fig) -> None:
    """Glue ``fig`` under ``name`` for a ``{glue:figure}`` directive (as the PNG of
    :func:`figure_png`), then close it so the notebook does not show it a second time."""
    from IPython.display import Image
    from myst_nb import glue

    png = figure_png(fig)
    plt.close(fig)
    glue(name, Image(data=png, format="png"), display=False)


def readable_log_axis(axis, *, max_ticks: int = 6) -> None:
    """Label a log ``axis`` (``ax.xaxis`` or ``ax.yaxis``) with plain numbers when its data span
    less than two decades, where the default locator leaves one or two labelled ticks; wider
    spans keep the decade ticks, without the minor labels that collide."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

    lo, hi = sorted(axis.get_view_interval())
    if lo > 0 and hi / lo < 3:  # under a factor 3: evenly spaced values
        axis.set_major_locator(MaxNLocator(max_ticks))
        axis.set_minor_locator(NullLocator())
    elif lo > 0 and hi / lo < 100:  # up to two decades: 1, 2 and 5 of each decade, evenly spread on the log axis
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


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
        # min-max band across seeds: filled, and edged so that a narrow band stays visible
        ax.fill_between(index, values.min(0), values.max(0), color=line.get_color(), alpha=0.3,
                        linewidth=0.6, edgecolor=line.get_color())
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue index i")
    ax.set_ylabel("normalized eigenvalue" if normalize else "eigenvalue $\\lambda_i$")
    return ax
