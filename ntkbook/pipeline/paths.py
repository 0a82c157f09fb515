"""Where the book's files live: the only module that knows the repository layout.

The **book root** is the folder that holds ``_toc.yml`` and ``notebooks/``, found as
``jupyter-book build PATH`` finds its book. In order:

1. ``NTKBOOK_ROOT`` when it is set (``ntkbook --root PATH`` sets it through :func:`use_root`);
2. the nearest folder at or above the working directory that holds both;
3. the checkout this package was imported from, when it holds both (an editable install);
4. none: the package works as a library, and whatever needs the book (``ntkbook run``,
   ``ntkbook book``, the names below) raises :class:`BookRootError`, one sentence naming
   ``--root`` and ``NTKBOOK_ROOT``.

Everything else (notebooks, profiles, executed chapters) hangs off the root. The results
folder (caches, sweeps, the ``ci`` claim records) is ``NTKBOOK_RESULTS_DIR`` when that is
set, else ``ROOT/results``, else, with no book, the per-user cache folder of
``platformdirs`` (``~/.cache/ntkbook/results`` on Linux): never inside the installed package.

Two profiles, two homes for their canonical runs:

=====================  ===========================================  ===============
what                   ``full`` (the snapshot profile)               ``ci``
=====================  ===========================================  ===============
executed chapters      ``book/executed/full/`` (committed)           ``book/executed/ci/`` (ignored)
claim records          ``book/measured/claims/full/`` (committed)    ``results/claims/ci/``
HTML book              ``_build/html`` (the published book)          ``_build/ci/html``
=====================  ===========================================  ===============

The other pipeline modules read these names at call time (``paths.EXECUTED_DIR``), so a
test can point the whole pipeline at a scratch tree by patching this module alone, or by
calling :func:`use_root`.

>>> from ntkbook.pipeline import paths
>>> paths.use_root("path/to/checkout")        # doctest: +SKIP
>>> paths.NOTEBOOK_DIR                         # doctest: +SKIP
PosixPath('/.../path/to/checkout/notebooks')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

ROOT_ENV = "NTKBOOK_ROOT"  # names the book root; exported by use_root so kernels and workers agree
RESULTS_ENV = "NTKBOOK_RESULTS_DIR"  # names the results folder, wherever the book is
BOOK_MARKERS = ("_toc.yml", "notebooks")  # a folder holding both is a book root
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the installed ntkbook/ (never written to)


class BookRootError(FileNotFoundError):
    """No book root: a command that needs the book's files was run outside any book.

    A ``FileNotFoundError``, so ``ntkbook`` reports it in one line with exit status 2."""


def is_book_root(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds ``_toc.yml`` and a ``notebooks/`` folder."""
    path = Path(path)
    return (path / BOOK_MARKERS[0]).is_file() and (path / BOOK_MARKERS[1]).is_dir()


def find_root(start: str | os.PathLike | None = None) -> Path | None:
    """The book root for a process started in ``start`` (default: the working directory).

    ``$NTKBOOK_ROOT`` if set, else the nearest folder at or above ``start`` that
    :func:`is_book_root`, else the checkout above :data:`PACKAGE_DIR` if it is one, else None.
    A ``$NTKBOOK_ROOT`` that names no book raises :class:`BookRootError`.
    """
    named = os.environ.get(ROOT_ENV)
    if named:
        root = Path(named).expanduser().resolve()
        if not is_book_root(root):
            raise BookRootError(f"{ROOT_ENV} names {root}, which holds no _toc.yml and notebooks/; "
                                f"point {ROOT_ENV} or --root at the book's checkout.")
        return root
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if is_book_root(folder):
            return folder
    checkout = PACKAGE_DIR.parent
    return checkout if is_book_root(checkout) else None


class MissingBookRoot:
    """What every book path is when there is no book root. Joining it (``/``) gives it
    back, so ``NOTEBOOK_DIR`` and the others exist; using it as a path (``os.fspath``,
    ``open``, ``.glob``, ``.exists``, ``.read_text`` ...) raises :class:`BookRootError`."""

    def __init__(self, reason: str):
        self.reason = reason

    def __truediv__(self, other) -> MissingBookRoot:
        return self

    def __fspath__(self):
        raise BookRootError(self.reason)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise BookRootError(self.reason)

    def __repr__(self) -> str:
        return "<no book root>"


def _no_root_reason() -> str:
    return (f"No book root: neither {Path.cwd()} nor a folder above it holds _toc.yml and notebooks/, "
            f"and ntkbook was not imported from a checkout that does; run from inside the book's "
            f"checkout or name it with --root PATH or the {ROOT_ENV} environment variable.")


def default_results_dir(root: Path | None) -> Path:
    """``$NTKBOOK_RESULTS_DIR``, else ``root/results``, else the per-user cache's ``results``."""
    named = os.environ.get(RESULTS_ENV)
    if named:
        return Path(named).expanduser()
    if root is not None:
        return root / "results"
    return platformdirs.user_cache_path("ntkbook") / "results"


def _point_at(root: Path | None, reason: str = "") -> None:
    """Set every module-level path from ``root`` (None: the :class:`MissingBookRoot`)."""
    global ROOT, NOTEBOOK_DIR, PROFILE_DIR, EXECUTED_DIR, MEASURED_DIR, TOC_PATH, CONFIG_PATH, BUILD_DIR, RESULTS_DIR
    ROOT = root if root is not None else MissingBookRoot(reason or _no_root_reason())
    NOTEBOOK_DIR = ROOT / "notebooks"  # the jupytext sources; run notebooks in notebooks/runs/
    PROFILE_DIR = ROOT / "profiles"  # profiles/PROFILE/NAME.yaml: a profile's overrides for one notebook
    EXECUTED_DIR = ROOT / "book" / "executed"  # EXECUTED_DIR/PROFILE/NAME.ipynb: canonical runs, with stamps
    MEASURED_DIR = ROOT / "book" / "measured"  # claims/full/: the snapshot's claim records (committed)
    TOC_PATH = ROOT / "_toc.yml"
    CONFIG_PATH = ROOT / "_config.yml"
    BUILD_DIR = ROOT / "_build"  # the HTML books, their staged sources, the timings of the last `ntkbook book`
    RESULTS_DIR = default_results_dir(root)


def use_root(path: str | os.PathLike | None) -> Path | None:
    """Point every path of this module at the book in ``path`` and return its root.

    ``path`` must hold ``_toc.yml`` and ``notebooks/``; it is also exported as
    ``$NTKBOOK_ROOT``, so the chapters' kernels and the sweep's workers use the same book.
    None forgets any exported root and finds the root again (:func:`find_root`).
    The results folder follows the root unless ``$NTKBOOK_RESULTS_DIR`` is set.
    """
    if path is None:
        os.environ.pop(ROOT_ENV, None)
        root = find_root()
    else:
        root = Path(path).expanduser().resolve()
        if not is_book_root(root):
            raise BookRootError(f"The book root given by --root (or use_root's 'path') must be a folder that "
                                f"holds _toc.yml and notebooks/. Got {os.fspath(path)!r} instead.")
        os.environ[ROOT_ENV] = str(root)
    _point_at(root)
    return root


def _initial_root() -> tuple[Path | None, str]:
    try:
        return find_root(), ""
    except BookRootError as err:  # a bad $NTKBOOK_ROOT must not break `import ntkbook`
        return None, str(err)


ROOT: Path | MissingBookRoot
NOTEBOOK_DIR: Path | MissingBookRoot
PROFILE_DIR: Path | MissingBookRoot
EXECUTED_DIR: Path | MissingBookRoot
MEASURED_DIR: Path | MissingBookRoot
TOC_PATH: Path | MissingBookRoot
CONFIG_PATH: Path | MissingBookRoot
BUILD_DIR: Path | MissingBookRoot
RESULTS_DIR: Path
_point_at(*_initial_root())
TOC_CHAPTER_PREFIX = "book/chapters/"  # how _toc.yml names an executed chapter: book/chapters/STEM
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
    if not isinstance(ROOT, Path):  # no book: nothing to be relative to
        return str(path)
    try:
        return str(Path(os.path.abspath(path)).relative_to(ROOT))  # abspath: never through a link
    except ValueError:
        return str(path)


def from_display(text: str) -> Path:
    """The inverse of :func:`display_path`: a relative path is taken from the book root."""
    path = Path(text)
    return path if path.is_absolute() else ROOT / path
