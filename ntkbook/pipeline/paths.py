"""Where the book's files live: the only module that knows the repository layout.

The book root is the checkout that holds ``_toc.yml`` and ``notebooks/``: the directory
named by ``NTKBOOK_ROOT`` when it is set, else the checkout this package was imported from.
Everything else (notebooks, profiles, executed chapters, results) hangs off it.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
ROOT = Path(os.environ.get("NTKBOOK_ROOT") or PACKAGE_DIR.parent).resolve()
NOTEBOOK_DIR = ROOT / "notebooks"
PROFILE_DIR = ROOT / "profiles"
EXECUTED_DIR = ROOT / "book" / "chapters"
TOC_PATH = ROOT / "_toc.yml"
RESULTS_DIR = Path(os.environ.get("NTKBOOK_RESULTS_DIR") or ROOT / "results")
PROFILES = ("ci", "full")
