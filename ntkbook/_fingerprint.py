"""The fingerprint of the code that computes a result, for cache keys that cannot go stale.

A cached result is valid only for the code that produced it. :func:`code_fingerprint`
hashes the source of the computing layers of the package (the library and
:mod:`ntkbook.experiments`: everything but the claims, the pipeline and the plots, which
only read results) together with the versions of torch, numpy and scipy. Any edit to that
code changes the fingerprint and so every cache key built on it: a result computed by old
code is recomputed, never served.

Cost: reading about 0.5 MB of source, a few milliseconds; memoized per process, since
the source of an imported package does not change under a running computation.

An executed chapter is stamped instead with :func:`package_fingerprint` of its own source:
the hash of the package modules it can import, directly or through other modules
(:func:`modules_read_by`), so a new module or an edit to one the chapter never imports
leaves its snapshot current, while an edit anywhere it reaches makes it stale.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
from pathlib import Path

__all__ = ["code_fingerprint", "package_fingerprint", "modules_read_by", "PACKAGE_DIR"]

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


def package_fingerprint(source: Path) -> str:
    """SHA-256 (hex) of the package's source files that the notebook ``source`` imports,
    directly or through each other (:func:`modules_read_by`), the readers included.

    For executed notebooks rather than cached numbers: a chapter's output also depends on
    the plots and the claims code it imports, so a change to any of them reruns it, and a
    change to a module it cannot reach does not. Not memoized: a long session
    (``ntkbook book``, a notebook calling the pipeline) may see the sources change between
    two runs.
    """
    digest = hashlib.sha256()
    for rel, sha in modules_read_by(source).items():
        digest.update(f"{rel}\0{sha}\n".encode())
    return digest.hexdigest()


# `from ntkbook.x import a, b` or `import ntkbook.x` in a notebook's code (magics and shell
# lines make a notebook's code no valid Python, so its imports are found line by line).
_NOTEBOOK_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(ntkbook(?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)"
                              r"|import[ \t]+(ntkbook(?:\.\w+)*))", re.MULTILINE)


def modules_read_by(source: Path) -> dict[str, str]:
    """The package files a notebook can execute, as {path relative to the package: SHA-256}.

    Starts from the ``ntkbook`` imports in the notebook's code (``source``: a ``.ipynb`` or
    its paired ``.py``) and follows every import statement of each module reached, those
    inside functions included, and each package's ``__init__``. A module that imports by a
    computed name would escape this; the package has none (a test checks).

    Cost: parsing the modules reached, about 0.5 MB at most: tens of milliseconds.
    """
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".ipynb":
        text = "\n".join("".join(c.get("source", "")) for c in json.loads(text).get("cells", [])
                         if c.get("cell_type") == "code")
    todo = []
    for m in _NOTEBOOK_IMPORT.finditer(text):
        if m.group(3):
            todo.append(m.group(3))
        else:
            todo.append(m.group(1))
            names = m.group(2).strip("()").split(",")
            todo += [f"{m.group(1)}.{n.split(' as ')[0].strip()}" for n in names if n.strip()]
    found: dict[str, Path] = {}
    while todo:
        for path in _module_files(todo.pop()):
            rel = path.relative_to(PACKAGE_DIR).as_posix()
            if rel not in found:
                found[rel] = path
                todo += _imports_of(path)
    return {rel: hashlib.sha256(found[rel].read_bytes()).hexdigest() for rel in sorted(found)}


def _module_files(name: str) -> list[Path]:
    """The files that importing ``name`` executes (its packages' ``__init__`` too); none
    when ``name`` is no ``ntkbook`` module (a function or class imported from one)."""
    parts = name.split(".")
    if parts[0] != "ntkbook":
        return []
    files = []
    for k in range(1, len(parts) + 1):
        base = PACKAGE_DIR.joinpath(*parts[1:k])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif k > 1 and base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
        else:
            break
    return files


def _imports_of(path: Path) -> list[str]:
    """Every module name an import statement of ``path`` names (``from a import b``: ``a``
    and ``a.b``), relative imports resolved."""
    rel = path.relative_to(PACKAGE_DIR).with_suffix("")
    package = ["ntkbook", *rel.parts[:-1]]  # the package a relative import starts from
    names = []
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module or ""
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names]
    return names
