"""An unpickler that admits plain containers and numpy arrays, and nothing else.

The CIFAR-10 python release is a set of pickles; :func:`pickle.load` on a file from the
network can run any code. :func:`restricted_load` reads them with :class:`RestrictedUnpickler`,
which resolves only numpy's array reconstructors and a latin-1-only ``_codecs.encode``.

Example::

    >>> import io, pickle
    >>> import numpy as np
    >>> from ntkbook.data import restricted_load
    >>> restricted_load(io.BytesIO(pickle.dumps({b"data": np.zeros(3, np.uint8)})))[b"data"]
    array([0, 0, 0], dtype=uint8)
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["RestrictedUnpickler", "restricted_load"]


def _reconstruct():
    return np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's _reconstruct, whatever its module


def _frombuffer():
    return np.zeros(1).__reduce_ex__(5)[0]  # numpy's _frombuffer (pickle protocol 5)


def _safe_codecs_encode(obj, encoding="utf-8", errors="strict"):
    # Python 3's protocol-2 pickles encode bytes as _codecs.encode(str, "latin1").
    if encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return str(obj).encode("latin1", errors)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits plain containers and numpy arrays, and nothing else.

    The CIFAR-10 python batches are pickled dicts of bytes keys, lists, strings and one numpy
    ``uint8`` array. Dicts, lists, tuples, strings, bytes and numbers need no global lookup;
    the only globals admitted are numpy's array reconstructors (``_reconstruct``, and
    ``_frombuffer`` for protocol 5), ``numpy.ndarray``,
    ``numpy.dtype`` and a latin-1-only ``_codecs.encode``. Any other global (``os.system``,
    ``builtins.eval``, ...) raises :class:`pickle.UnpicklingError`.
    """

    _ALLOWED: dict[tuple[str, str], Callable[[], Any]] = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: _safe_codecs_encode,
    }

    def find_class(self, module: str, name: str):
        getter = self._ALLOWED.get((module, name))
        if getter is None:
            raise pickle.UnpicklingError(
                f"refusing to unpickle global {module}.{name}: only plain containers and "
                f"numpy arrays are allowed"
            )
        return getter()

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent ids")


def restricted_load(fh, *, encoding: str = "bytes"):
    """Unpickle from a binary file object with :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(fh, encoding=encoding).load()
