"""Every figure of the book, drawn by functions that tests can call too.

``ntkbook.plots.core`` holds the shared style, the run footer (profile and seeds) and the
spectrum plot of chapter 1; each part of the book has its own module:
``ntkbook.plots.theory`` (part I), ``ntkbook.plots.mechanisms`` (part II) and
``ntkbook.plots.benchmarks`` (part III).
"""

from ntkbook.plots.core import figure, glue_figure, plot_spectrum, run_label, set_style

__all__ = ["figure", "glue_figure", "plot_spectrum", "run_label", "set_style"]
