"""The fingerprint of the code that computes a result, for cache keys that cannot go stale.

A cached result is valid only for the code that produced it. :func:`code_fingerprint`
hashes the source of the computing layers of the package (the library and
:mod:`ntkbook.experiments`: everything but the claims, the pipeline and the plots, which
only read results) together with the versions of torch, numpy and scipy. Any edit to that
code changes the fingerprint and so every cache key built on it: a result computed by old
code is recomputed, never served.

Cost: reading about 0.5 MB of source, a few milliseconds; memoized per process, since
the source of an imported package does not change under a running computation.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["code_fingerprint", "package_fingerprint", "PACKAGE_DIR"]

PACKAGE_DIR = Path(__file__).resolve().parent
# Layers that only read results: a change there never changes a number.
_READERS = ("claims", "pipeline", "plots")


@functools.lru_cache(maxsize=None)
def code_fingerprint() -> str:
    """SHA-256 (hex) of the computing code's source and the numeric libraries' versions."""
    import numpy
    import scipy
    import torch

    digest = _source_digest(skip=_READERS)
    for lib in (torch, numpy, scipy):
        digest.update(f"{lib.__name__}=={lib.__version__}".encode())
    return digest.hexdigest()


def _source_digest(skip: tuple[str, ...] = ()):
    """SHA-256 over the package's ``*.py`` files (relative path and bytes, in sorted order),
    leaving out the top-level folders named in ``skip``: the one way the package hashes its code."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR)
        if rel.parts[0] in skip:
            continue
        digest.update(str(rel).encode())
        digest.update(path.read_bytes())
    return digest


def package_fingerprint() -> str:
    """SHA-256 (hex) of every source file of the package, the readers included.

    For executed notebooks rather than cached numbers: a chapter's output also depends on
    the plots and the claims code, so a change anywhere in the package reruns it. Not
    memoized: a long session (``ntkbook book``, a notebook calling the pipeline) may see the
    sources change between two runs.
    """
    return _source_digest().hexdigest()
