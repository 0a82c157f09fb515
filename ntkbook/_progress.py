"""Progress bars for long work: one helper, the same bar in Jupyter and in a terminal.

:func:`progress_bar` returns a ``tqdm.auto`` bar: a widget in Jupyter when ipywidgets is
installed, a text bar on stderr otherwise (tqdm.auto's one-time warning about the missing
widget library is silenced, the text bar is drawn instead). It is quiet when

* the caller asks (``show=False``: every public function with a ``progress`` argument), or
* the environment variable ``TQDM_DISABLE`` is set to a true value (``1``, ``true``):
  tqdm's own convention, honoured here for the widget bar too. The book's pipeline sets it
  in the kernels it starts, so executed chapters never store bars in their outputs.

Example::

    >>> with progress_bar(total=3, desc="blocks", show=False) as bar:  # show=False: no output
    ...     for _ in range(3):
    ...         bar.update()
"""

from __future__ import annotations

import os
import warnings
from typing import Any

__all__ = ["progress_bar", "quiet_by_environment"]


def quiet_by_environment() -> bool:
    """Whether ``TQDM_DISABLE`` asks for no bars (any value but empty, 0, false, no)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def progress_bar(iterable=None, *, show: bool = True, **kwargs: Any):
    """A ``tqdm.auto.tqdm`` over ``iterable`` (or with ``total=``); disabled unless ``show``.

    Other keyword arguments go to tqdm (``total``, ``desc``, ``unit``, ``leave``, ``delay``...).
    A disabled bar prints nothing and costs next to nothing per update.
    """
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)  # "IProgress not found": falls back to text
        from tqdm.auto import tqdm
    kwargs["disable"] = not show or quiet_by_environment()
    return tqdm(iterable, **kwargs)
