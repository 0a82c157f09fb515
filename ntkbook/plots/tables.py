"""Tables on the page: one call that turns a data frame into something a reader can scan.

A bare data frame at the end of a cell shows pandas' default: a 0..n index, every float
with six decimals, long strings cut at 50 characters, and a table wider than the page.
:func:`show_table` returns a styled, index-free display of the same frame instead:

- no 0..n index: a default range index is dropped, a named one (the groups of a
  ``groupby``) becomes the first columns;
- numbers rounded to ``digits`` significant digits (a whole number prints without
  decimals: 10 seeds, not 10.0), in plain notation between 1e-4 and 1e6;
- strings shown whole (left-aligned; numbers right-aligned), in cells that wrap inside
  the page's width rather than scroll.

Example::

    show_table(runs.groupby("width")[["gap", "lr"]].median())  # ends a notebook cell
    show_table(per_depth, digits=2, caption="One row per depth")
"""

from __future__ import annotations

import math
import numbers

import pandas as pd

from ntkbook._validation import fail

# wrap every cell inside the page; a small font keeps wide tables legible on a phone
_STYLES = [
    {"selector": "", "props": [("font-size", "0.85em"), ("max-width", "100%"), ("border-collapse", "collapse")]},
    {"selector": "th, td", "props": [("white-space", "normal"), ("overflow-wrap", "anywhere"), ("text-align", "left"),
                                     ("padding", "0.2em 0.6em")]},
    {"selector": "caption", "props": [("caption-side", "top"), ("text-align", "left")]},
]


def format_number(value, digits: int = 3, na: str = "–") -> str:
    """``value`` as a table shows it: ``digits`` significant digits, whole numbers without
    decimals, scientific notation only below 1e-4 or from 1e6 on, ``na`` for NaN or None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return na
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return na
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer() and abs(value) < 1e6:
        return f"{int(value)}"
    if value != 0 and not 1e-4 <= abs(value) < 1e6:
        return f"{value:.{max(digits - 1, 0)}e}"
    text = f"{value:.{digits}g}"
    return f"{value:.{max(digits - 1 - math.floor(math.log10(abs(value))), 0)}f}" if "e" in text else text


def show_table(frame, *, digits: int = 3, caption: str | None = None, na: str = "–"):
    """A styled, index-free, rounded display of ``frame`` (end a cell with it).

    Parameters
    ----------
    frame : pandas.DataFrame or pandas.Series
        The table. A default range index is dropped; a named index (or a MultiIndex, as a
        ``groupby`` gives) becomes the first columns. A Series is shown as one column.
    digits : int, default 3
        Significant digits of every number (:func:`format_number`).
    caption : str, optional
        A line shown above the table.
    na : str, default "–"
        What a missing value shows.

    Returns
    -------
    pandas.io.formats.style.Styler
        The display object; the frame itself is not changed.
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        fail("frame", "show_table", "a pandas DataFrame or Series", frame)
    if isinstance(digits, bool) or not isinstance(digits, numbers.Integral) or digits < 1:
        fail("digits", "show_table", "an int in the range [1, inf)", digits)
    if caption is not None and not isinstance(caption, str):
        fail("caption", "show_table", "a string or None", caption)
    default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    shown = frame.reset_index(drop=default_index)
    if isinstance(shown.columns, pd.MultiIndex):  # flattened: a two-level header does not wrap on a phone
        shown.columns = [" ".join(str(p) for p in col if str(p)) for col in shown.columns]
    else:
        shown.columns = [str(c) for c in shown.columns]
    numeric = [c for c in shown.columns if pd.api.types.is_numeric_dtype(shown[c])]  # right-aligned, text left
    styler = (shown.style.format(lambda v: format_number(v, digits, na), escape="html")
              .set_properties(subset=numeric, **{"text-align": "right"})
              .hide(axis="index").set_table_styles(_STYLES).set_table_attributes('class="dataframe ntkbook-table"'))
    return styler.set_caption(caption) if caption else styler
