"""Glue a chapter's numbers for its prose, in one call.

A chapter's text quotes measured values with ``{glue:text}`name:format``` roles; the
notebook stores each value under its name with :func:`myst_nb.glue`. :func:`glue_values`
stores several at once, none of them displayed, so a run of ``glue(...)`` lines becomes
one call. Figures have their own call, :func:`ntkbook.plots.core.glue_figure`, which
also closes the figure.

Example::

    glue_values(n_points=n_points, slope=slope)  # {glue:text}`slope:.2f` in the prose
    glue_values({f"mse_{m}": mse[m] for m in models}, run=run_label(profile, n_seeds))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def glue_values(*mappings: Mapping[str, Any], **values: Any) -> None:
    """Glue every value under its name with ``display=False``.

    It returns nothing, so that a call ending a cell shows nothing either.

    Parameters
    ----------
    *mappings : mapping of str to value
        Names built in code (``{f"mse_{model}": ...}``), glued in order.
    **values
        Names written out (``slope=slope``).

    Raises
    ------
    ValueError
        When a name is given twice (the second value would silently replace the first).
    TypeError
        When a name is not a non-empty string, or a value is a matplotlib figure (glue
        figures with :func:`ntkbook.plots.glue_figure`, which also closes them).
    """
    glued: dict[str, Any] = {}
    for mapping in (*mappings, values):
        if not isinstance(mapping, Mapping):
            raise TypeError(f"The positional arguments of glue_values must be mappings of names to values. Got {type(mapping).__name__} instead.")
        for name, value in mapping.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"The names given to glue_values must be non-empty strings. Got {name!r} instead.")
            if name in glued:
                raise ValueError(f"glue_values got the name {name!r} twice; each glued name must be given once.")
            if _is_figure(value):
                raise TypeError(f"The value of {name!r} is a figure: glue it with ntkbook.plots.glue_figure, which also closes it.")
            glued[name] = value
    if glued:
        from myst_nb import glue

        for name, value in glued.items():
            glue(name, value, display=False)


def _is_figure(value: Any) -> bool:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a dependency of the book
        return False
    return isinstance(value, Figure)
