"""Where the book's files live: the only module that knows the repository layout.

The book root is the checkout that holds ``_toc.yml`` and ``notebooks/``: the directory
named by ``NTKBOOK_ROOT`` when it is set, else the checkout this package was imported from.
Everything else (notebooks, profiles, executed chapters, results) hangs off it; results go
to ``NTKBOOK_RESULTS_DIR`` instead when that is set.

Two profiles, two homes for their canonical runs:

=====================  ===========================================  ===============
what                   ``full`` (the snapshot profile)               ``ci``
=====================  ===========================================  ===============
executed chapters      ``book/executed/full/`` (committed)           ``book/executed/ci/`` (ignored)
claim records          ``book/measured/claims/full/`` (committed)    ``results/claims/ci/``
HTML book              ``_build/html`` (the published book)          ``_build/ci/html``
=====================  ===========================================  ===============

The other pipeline modules read these names at call time (``paths.EXECUTED_DIR``), so a
test can point the whole pipeline at a scratch tree by patching this module alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
ROOT = Path(os.environ.get("NTKBOOK_ROOT") or PACKAGE_DIR.parent).resolve()
NOTEBOOK_DIR = ROOT / "notebooks"  # the jupytext sources; run notebooks in notebooks/runs/
PROFILE_DIR = ROOT / "profiles"  # profiles/PROFILE/NAME.yaml: a profile's overrides for one notebook
EXECUTED_DIR = ROOT / "book" / "executed"  # EXECUTED_DIR/PROFILE/NAME.ipynb: canonical runs, with stamps
MEASURED_DIR = ROOT / "book" / "measured"  # claims/full/: the snapshot's claim records (committed)
TOC_PATH = ROOT / "_toc.yml"
CONFIG_PATH = ROOT / "_config.yml"
TOC_CHAPTER_PREFIX = "book/chapters/"  # how _toc.yml names an executed chapter: book/chapters/STEM
BUILD_DIR = ROOT / "_build"  # the HTML books, their staged sources, the timings of the last `ntkbook book`
RESULTS_DIR = Path(os.environ.get("NTKBOOK_RESULTS_DIR") or ROOT / "results")
PROFILES = ("ci", "full")
SNAPSHOT_PROFILE = "full"  # the profile whose runs are committed and published


def executed_dir(profile: str) -> Path:
    """Where the canonical runs of ``profile`` put their executed notebooks and stamps."""
    return EXECUTED_DIR / profile


def records_root(profile: str) -> Path:
    """The folder holding ``claims/PROFILE/`` for the canonical runs of ``profile``: the
    committed ``book/measured`` for the snapshot profile, the results folder otherwise."""
    return MEASURED_DIR if profile == SNAPSHOT_PROFILE else RESULTS_DIR


def claims_dir(profile: str) -> Path:
    """Where the canonical runs of ``profile`` keep their claim records (absolute)."""
    return (records_root(profile) / "claims" / profile).resolve()


def sweeps_dir() -> Path:
    """Where sweeps put their runs and tables unless told otherwise."""
    return RESULTS_DIR / "sweeps"


@dataclass(frozen=True)
class BookDirs:
    """The folders of one HTML build of the book."""

    source: Path  # the staged Sphinx source tree (generated: the pages with their banners)
    doctrees: Path  # Sphinx's cache, one per build, so the two builds never share one
    html: Path  # the HTML book


def book_dirs(profile: str) -> BookDirs:
    """The build folders of the book made from ``profile``'s executed chapters: the
    snapshot profile's book is the published one, ``_build/html``; another profile's
    goes to ``_build/PROFILE/html``."""
    base = BUILD_DIR / profile
    html = BUILD_DIR / "html" if profile == SNAPSHOT_PROFILE else base / "html"
    return BookDirs(source=base / "src", doctrees=base / "doctrees", html=html)


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the book root when it lies inside it (for messages), else as given."""
    path = Path(path)
    try:
        return str(Path(os.path.abspath(path)).relative_to(ROOT))  # abspath: never through a link
    except ValueError:
        return str(path)


def from_display(text: str) -> Path:
    """The inverse of :func:`display_path`: a relative path is taken from the book root."""
    path = Path(text)
    return path if path.is_absolute() else ROOT / path
