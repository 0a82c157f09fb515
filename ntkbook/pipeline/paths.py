"""Where the book's files live: the only module that knows the repository layout.

The book root is the checkout that holds ``_toc.yml`` and ``notebooks/``: the directory
named by ``NTKBOOK_ROOT`` when it is set, else the checkout this package was imported from.
Everything else (notebooks, profiles, executed chapters, results) hangs off it; results go
to ``NTKBOOK_RESULTS_DIR`` instead when that is set.

The other pipeline modules read these names at call time (``paths.EXECUTED_DIR``), so a
test can point the whole pipeline at a scratch tree by patching this module alone.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
ROOT = Path(os.environ.get("NTKBOOK_ROOT") or PACKAGE_DIR.parent).resolve()
NOTEBOOK_DIR = ROOT / "notebooks"  # the jupytext sources; run notebooks in notebooks/runs/
PROFILE_DIR = ROOT / "profiles"  # profiles/PROFILE/NAME.yaml: a profile's overrides for one notebook
EXECUTED_DIR = ROOT / "book" / "chapters"  # the executed chapters the book is built from
TOC_PATH = ROOT / "_toc.yml"
TOC_CHAPTER_PREFIX = "book/chapters/"  # how _toc.yml names an executed chapter: book/chapters/STEM
BUILD_DIR = ROOT / "_build"  # the HTML book and the timings of the last `ntkbook book`
RESULTS_DIR = Path(os.environ.get("NTKBOOK_RESULTS_DIR") or ROOT / "results")
PROFILES = ("ci", "full")


def claims_dir(profile: str) -> Path:
    """Where the canonical runs of ``profile`` keep their claim records (absolute)."""
    return (RESULTS_DIR / "claims" / profile).resolve()


def sweeps_dir() -> Path:
    """Where sweeps put their runs and tables unless told otherwise."""
    return RESULTS_DIR / "sweeps"


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the book root when it lies inside it (for messages), else as given."""
    path = Path(path)
    try:
        return str(Path(os.path.abspath(path)).relative_to(ROOT))  # abspath: never through a link
    except ValueError:
        return str(path)
