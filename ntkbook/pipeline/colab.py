"""The install cell every chapter starts with, so that a chapter opened alone on Colab runs.

A chapter opened from the book's Colab button is a lone ``.ipynb`` on a machine that has
neither ``ntkbook`` nor the repository. Its first cell (tagged ``remove-cell``: the HTML
book never shows it, Colab and Jupyter do) therefore

1. does nothing where ``ntkbook`` is importable (a checkout, ``pip install ntkbook``, the
   pipeline's own runs); otherwise installs ``ntkbook[book]`` from the repository with pip;
2. in a chapter that reads the repository's files (one that imports ``ntkbook.pipeline``,
   the layer that knows the repository: the sweep's run notebook and profiles, the claim
   records, the timing records), and only when no book root is found
   (:func:`ntkbook.pipeline.paths.find_root`), clones the repository shallowly into the
   working directory and points the book root at the clone (:func:`~ntkbook.pipeline.paths.use_root`).

A committed notebook cannot read ``_config.yml`` on Colab, so the cell carries the
repository URL itself: the ``repository.url`` of ``_config.yml`` ("THE ONE VALUE TO SET"),
written in by this module. After changing that URL, rewrite every chapter's cell and its
paired ``.ipynb`` with::

    python -m ntkbook.pipeline.colab            # --check: only list the notebooks out of date

``tests/test_colab.py`` fails while any notebook's cell differs from what this module writes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ntkbook.pipeline import paths

MARKER = "# ntkbook install cell: written by `python -m ntkbook.pipeline.colab` (do not edit by hand)"
CELL_HEADER = '# %% tags=["remove-cell"]'
CLONE_DIR = "ntkbook-repository"  # where a lone chapter clones the repository, in its working directory
_NEEDS_CHECKOUT = re.compile(r"^\s*(?:from|import)\s+ntkbook\.pipeline\b", re.MULTILINE)

_INSTALL = '''\
{marker}
# Installs the book's package where it is missing (Colab); does nothing where ntkbook is importable.
import importlib
import importlib.util
import subprocess
import sys

NTKBOOK_REPOSITORY = "{url}"
if importlib.util.find_spec("ntkbook") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    f"ntkbook[book] @ git+{{NTKBOOK_REPOSITORY}}"], check=True)
    importlib.invalidate_caches()
'''

_CHECKOUT = '''\
# This chapter reads files of the repository: opened alone, it clones them beside itself.
import os

from ntkbook.pipeline import paths

if paths.find_root() is None:
    if not os.path.isdir("{clone}"):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", NTKBOOK_REPOSITORY, "{clone}"], check=True)
    paths.use_root("{clone}")  # also exported as NTKBOOK_ROOT, for the kernels this chapter starts
'''


def repository_url(config_path: str | Path | None = None) -> str:
    """``repository.url`` of ``_config.yml`` (default: the book's), without a trailing slash."""
    from ntkbook.pipeline.site import read_config

    config_path = Path(config_path) if config_path is not None else paths.CONFIG_PATH
    url = str(((read_config(config_path).get("repository") or {}).get("url") or "")).strip().rstrip("/")
    if not re.fullmatch(r"https://\S+", url):
        raise ValueError(f"The 'repository.url' of {config_path} must be an https URL of the book's "
                         f"repository. Got {url!r} instead.")
    return url


def needs_checkout(source: str) -> bool:
    """Whether a chapter (its jupytext source, without its install cell) reads files of the
    repository: whether it imports ``ntkbook.pipeline``."""
    return bool(_NEEDS_CHECKOUT.search(source))


def install_cell(url: str, checkout: bool) -> str:
    """The install cell, in jupytext percent format, ending in a blank line."""
    body = _INSTALL.format(marker=MARKER, url=url)
    if checkout:
        body += "\n" + _CHECKOUT.format(clone=CLONE_DIR)
    return f"{CELL_HEADER}\n{body}\n"


def _split(text: str) -> tuple[str, str, str]:
    """(YAML header with the blank line after it, the install cell or "", the rest)."""
    header_end = 0
    if text.startswith("# ---\n"):
        end = text.index("\n# ---\n", 5) + len("\n# ---\n")
        header_end = end + (1 if text[end:end + 1] == "\n" else 0)
    head, rest = text[:header_end], text[header_end:]
    if rest.startswith(CELL_HEADER + "\n" + MARKER):
        nxt = re.search(r"^# %%", rest[len(CELL_HEADER):], re.MULTILINE)
        cut = len(CELL_HEADER) + nxt.start() if nxt else len(rest)
        return head, rest[:cut], rest[cut:]
    return head, "", rest


def with_install_cell(text: str, url: str) -> str:
    """A jupytext source with its install cell written (replaced, or put first)."""
    head, _, rest = _split(text)
    return head + install_cell(url, needs_checkout(rest)) + rest


def current_install_cell(text: str) -> str:
    """The install cell of a jupytext source as it stands ("" when it has none)."""
    return _split(text)[1]


def notebook_sources(notebook_dir: str | Path | None = None) -> list[Path]:
    """The chapters: the jupytext sources directly in ``notebooks/`` (run notebooks below
    it are executed by the pipeline, never opened alone)."""
    return sorted(Path(notebook_dir if notebook_dir is not None else paths.NOTEBOOK_DIR).glob("*.py"))


def write_install_cells(url: str | None = None, notebook_dir: str | Path | None = None,
                        sync: bool = True) -> list[Path]:
    """Rewrite the install cell of every chapter whose cell differs; return those rewritten.

    ``url`` defaults to :func:`repository_url`. ``sync`` updates each rewritten source's
    paired ``.ipynb`` with ``jupytext --sync``.
    """
    url = url or repository_url()
    changed = []
    for source in notebook_sources(notebook_dir):
        text = source.read_text(encoding="utf-8")
        new = with_install_cell(text, url)
        if new != text:
            source.write_text(new, encoding="utf-8")
            changed.append(source)
    if sync and changed:
        from jupytext.cli import jupytext

        for source in changed:
            jupytext(["--sync", "--quiet", str(source)])
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ntkbook.pipeline.colab",
        description="Write every chapter's install cell from the repository URL in _config.yml.")
    parser.add_argument("--check", action="store_true", help="list the chapters whose cell is out of date; write nothing")
    args = parser.parse_args(argv)
    url = repository_url()
    if args.check:
        stale = [s for s in notebook_sources() if with_install_cell(s.read_text(encoding="utf-8"), url)
                 != s.read_text(encoding="utf-8")]
        for source in stale:
            print(f"{paths.display_path(source)}: install cell out of date", file=sys.stderr)
        return 1 if stale else 0
    for source in write_install_cells(url):
        print(f"{paths.display_path(source)}: install cell written for {url}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
