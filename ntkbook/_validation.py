"""One vocabulary for checking public arguments, in scikit-learn's wording.

Every public function of the package checks its arguments where they enter, with these
helpers, and a bad value raises :class:`InvalidParameterError` (a ``ValueError`` and a
``TypeError``, so either ``except`` catches it) with one sentence that names the
parameter, its owner, what is allowed and what was received::

    >>> check_int(0, "width", "ECRN")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    ntkbook._validation.InvalidParameterError: The 'width' parameter of ECRN must be an int in the range [1, inf). Got 0 instead.

Booleans are never accepted as numbers (``True`` is not a width), floats are never
truncated to ints (``2.5`` is not a sample count), and NaN or infinity is never a valid
float unless a caller asks for it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["InvalidParameterError", "fail", "check_int", "check_float", "check_option", "check_bool",
           "check_seed", "check_seeds", "check_ints", "check_floats", "check_optional_int", "check_finite"]


class InvalidParameterError(ValueError, TypeError):
    """A public argument has the wrong type or value (caught as ValueError or TypeError)."""


def fail(name: str, owner: str, allowed: str, value: Any) -> None:
    """Raise the package's one error for a bad argument."""
    raise InvalidParameterError(f"The '{name}' parameter of {owner} must be {allowed}. Got {value!r} instead.")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _range(low, high, low_open, high_open) -> str:
    left = "(" if low_open or low == -math.inf else "["
    right = ")" if high_open or high == math.inf else "]"
    def fmt(v):
        if v in (math.inf, -math.inf):
            return "inf" if v > 0 else "-inf"
        return str(v) if isinstance(v, int) else f"{v:g}"

    return f"{left}{fmt(low)}, {fmt(high)}{right}"


def check_int(value, name: str, owner: str, low: int = 1, high: float = math.inf) -> int:
    """``int(value)`` if ``value`` is an int (not a bool) with low <= value <= high, else raise."""
    if not _is_int(value) or value < low or value > high:
        fail(name, owner, f"an int in the range {_range(low, high, False, False)}", value)
    return int(value)


def check_optional_int(value, name: str, owner: str, low: int = 1, high: float = math.inf) -> int | None:
    """None, or :func:`check_int` of ``value``."""
    if value is None:
        return None
    if not _is_int(value) or value < low or value > high:
        fail(name, owner, f"None or an int in the range {_range(low, high, False, False)}", value)
    return int(value)


def check_float(value, name: str, owner: str, low: float = 0.0, high: float = math.inf, *,
                low_open: bool = False, high_open: bool = False) -> float:
    """``float(value)`` if ``value`` is a finite real (not a bool) in the stated range, else raise.

    The range is [low, high] by default; ``low_open`` / ``high_open`` exclude an end.
    """
    ok = _is_real(value) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        fail(name, owner, f"a finite float in the range {_range(low, high, low_open, high_open)}", value)
    return float(value)


def check_option(value, name: str, owner: str, options: Iterable[str]) -> str:
    """``value`` if it is one of the strings ``options``, else raise."""
    options = list(options)
    if not isinstance(value, str) or value not in options:
        fail(name, owner, f"a str among {sorted(options)}", value)
    return value


def check_bool(value, name: str, owner: str) -> bool:
    """``value`` if it is a bool, else raise."""
    if not isinstance(value, bool):
        fail(name, owner, "a bool", value)
    return value


def check_seed(value, name: str = "seed", owner: str = "this function") -> int:
    """A random seed: an int in [0, 2**63)."""
    return check_int(value, name, owner, low=0, high=2**63 - 1)


def _sequence(values, name, owner, allowed) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, Iterable)) or isinstance(values, dict):
        fail(name, owner, allowed, values)
    out = list(values)
    if not out:
        fail(name, owner, allowed, values)
    return out


def check_seeds(values, name: str = "seeds", owner: str = "this function") -> list[int]:
    """A non-empty sequence of distinct seeds (ints >= 0)."""
    allowed = "a non-empty sequence of distinct ints >= 0"
    out = _sequence(values, name, owner, allowed)
    if any(not _is_int(s) or s < 0 for s in out) or len(set(int(s) for s in out)) != len(out):
        fail(name, owner, allowed, values)
    return [int(s) for s in out]


def check_ints(values, name: str, owner: str, low: int = 1) -> list[int]:
    """A non-empty sequence of ints >= low."""
    allowed = f"a non-empty sequence of ints >= {low}"
    out = _sequence(values, name, owner, allowed)
    if any(not _is_int(v) or v < low for v in out):
        fail(name, owner, allowed, values)
    return [int(v) for v in out]


def check_floats(values, name: str, owner: str, low: float = 0.0, high: float = math.inf, *,
                 low_open: bool = False, high_open: bool = False) -> list[float]:
    """A non-empty sequence of finite floats, each in the stated range."""
    allowed = f"a non-empty sequence of finite floats in the range {_range(low, high, low_open, high_open)}"
    out = _sequence(values, name, owner, allowed)
    for v in out:
        ok = _is_real(v) and math.isfinite(float(v))
        if ok:
            f = float(v)
            ok = (f > low if low_open else f >= low) and (f < high if high_open else f <= high)
        if not ok:
            fail(name, owner, allowed, values)
    return [float(v) for v in out]


def check_finite(values, name: str, owner: str):
    """``values`` (a torch tensor, or an array-like of numbers) if no entry is NaN or infinite.

    The error counts the bad entries instead of printing the array::

        The 'x1' parameter of mlp_kernels must hold only finite values. Got a tensor of shape
        (4, 3) with 1 NaN and 0 infinite entries instead.
    """
    if hasattr(values, "isnan") and hasattr(values, "isinf"):  # a torch tensor, on any device
        n_nan, n_inf, kind = int(values.isnan().sum()), int(values.isinf().sum()), "a tensor"
        shape = tuple(values.shape)
    else:
        import numpy as np

        array = np.asarray(values, dtype=float)
        n_nan, n_inf, kind, shape = int(np.isnan(array).sum()), int(np.isinf(array).sum()), "an array", array.shape
    if n_nan or n_inf:
        raise InvalidParameterError(f"The '{name}' parameter of {owner} must hold only finite values. Got {kind} "
                                    f"of shape {shape} with {n_nan} NaN and {n_inf} infinite entries instead.")
    return values
