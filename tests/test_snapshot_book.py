"""`ntkbook book` builds a book from a profile's executed chapters without executing them:
each page under a banner for a current, a stale or a missing run, the jupytext sources
offered for download, the snapshot's book in _build/html and the ci book in _build/ci/html.

One small book (three toy chapters and an intro, with the real _config.yml and extension)
is built in a temporary directory: chapter a is a current full-profile run, chapter b was
run and then edited (stale), chapter c was never run (missing).
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from ntkbook.pipeline import cli, notebooks

from test_snapshot import point_paths_at

BOOK = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _chapter(stem: str) -> str:
    return textwrap.dedent(
        f'''\
        # %% [markdown]
        # # Toy chapter {stem}

        # %% tags=["parameters"]
        profile = "full"  # one of ci, full: which profile produced this run
        n_points = 8  # int in [1, inf): a size

        # %%
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from myst_nb import glue
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.plot([0, n_points])
        glue("fig_{stem}", fig, display=False)
        glue("n_{stem}", n_points, display=False)

        # %% [markdown]
        # It measured {{glue:text}}`n_{stem}` points.
        #
        # ```{{glue:figure}} fig_{stem}
        # :name: fig-{stem}
        #
        # A line through {{glue:text}}`n_{stem}` points.
        # ```
        #
        # See {{numref}}`fig-{stem}`.
        '''
    )


@pytest.fixture(scope="module")
def toy_book(tmp_path_factory):
    """The toy book, with chapter a current, b stale and c missing in the full profile."""
    root = tmp_path_factory.mktemp("toy") / "book_root"
    (root / "notebooks").mkdir(parents=True)
    (root / "profiles" / "ci").mkdir(parents=True)
    for stem in ("toy_a", "toy_b", "toy_c"):
        (root / "notebooks" / f"{stem}.py").write_text(_chapter(stem))
    shutil.copy(BOOK / "_config.yml", root / "_config.yml")
    shutil.copytree(BOOK / "book" / "_ext", root / "book" / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(BOOK / "book" / "references.bib", root / "book" / "references.bib")
    (root / "book" / "intro.md").write_text("# The toy book\n\nThree chapters.\n")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        "- file: book/chapters/toy_a\n- file: book/chapters/toy_b\n- file: book/chapters/toy_c\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        point_paths_at(root, mp)
        for stem in ("toy_a", "toy_b"):
            notebooks.run_notebook(stem, profile="full", progress=False)
        (root / "notebooks" / "toy_b.py").write_text(_chapter("toy_b").replace("It measured", "This time it measured"))
        stamps_before = {p: p.stat().st_mtime_ns for p in (root / "book" / "executed").rglob(".*.stamp.json")}
        assert cli.main(["book"]) == 0
        staged = {p: p.stat().st_mtime_ns for p in (root / "_build" / "full" / "src").rglob("*") if p.is_file()}
        assert cli.main(["book"]) == 0  # again, nothing changed
        restaged = {p: p.stat().st_mtime_ns for p in (root / "_build" / "full" / "src").rglob("*") if p.is_file()}
        stamps_after = {p: p.stat().st_mtime_ns for p in (root / "book" / "executed").rglob(".*.stamp.json")}
        published = (root / "_build" / "html" / "index.html").stat().st_mtime_ns
        assert cli.main(["book", "--profile", "ci"]) == 0
        yield {"root": root, "staged": staged, "restaged": restaged, "stamps": (stamps_before, stamps_after),
               "published_mtime": published}


def _html(root: Path, doc: str, book: str = "html") -> str:
    base = root / "_build" / ("html" if book == "html" else "ci/html")
    return (base / f"{doc}.html").read_text()


def test_the_published_book_is_built_without_executing_anything(toy_book):
    before, after = toy_book["stamps"]
    assert before == after and len(before) == 2
    assert (toy_book["root"] / "_build" / "html" / "index.html").is_file()


def test_a_current_chapter_names_the_profile_commit_machine_and_date_of_its_run(toy_book):
    page = _html(toy_book["root"], "book/chapters/toy_a")
    assert "ntkbook-current" in page and "Paper-scale run" in page
    assert "Executed with the" in page and "torch threads" in page and " UTC" in page


def test_a_stale_chapter_shows_its_old_run_under_a_banner_naming_what_changed(toy_book):
    page = _html(toy_book["root"], "book/chapters/toy_b")
    assert "ntkbook-stale" in page and "the chapter’s source changed" in page.replace("&#8217;", "’")
    assert "It measured" in page and "This time" not in page  # the old run is shown, not recomputed


def test_a_chapter_never_run_shows_its_source_with_placeholders_under_a_banner(toy_book):
    page = _html(toy_book["root"], "book/chapters/toy_c")
    assert "ntkbook-missing" in page and "(not run)" in page and "not-run" in page
    assert 'id="fig-toy_c"' in page or "fig-toy-c" in page  # the figure keeps its name


def test_the_other_pages_name_the_books_profile_and_how_many_chapters_are_current(toy_book):
    page = _html(toy_book["root"], "book/intro")
    assert "ntkbook-book" in page and "1 of 3 chapters current, 1 stale, 1 not run yet" in page


def test_each_chapter_offers_its_jupytext_source_beside_the_executed_notebook(toy_book):
    root = toy_book["root"]
    assert (root / "_build" / "html" / "notebooks" / "toy_a.py").read_bytes() == (root / "notebooks" / "toy_a.py").read_bytes()
    page = _html(root, "book/chapters/toy_a")
    assert 'href="../../notebooks/toy_a.py"' in page and "btn-download-py-button" in page


def test_a_second_build_with_nothing_changed_rewrites_no_staged_file(toy_book):
    assert toy_book["staged"] == toy_book["restaged"]


def test_the_ci_book_goes_to_its_own_folder_and_names_its_profile(toy_book):
    root = toy_book["root"]
    page = _html(root, "book/chapters/toy_a", book="ci")
    assert "ntkbook-profile-ci" in page and "Smoke run" in page and "ntkbook-current" in page
    assert (root / "_build" / "html" / "index.html").stat().st_mtime_ns == toy_book["published_mtime"]
    assert sorted(p.name for p in (root / "book" / "executed" / "ci").glob("*.ipynb")) == ["toy_a.ipynb", "toy_b.ipynb", "toy_c.ipynb"]


def test_every_build_stages_the_findings_from_the_committed_records(toy_book):
    findings = toy_book["root"] / "_build" / "full" / "src" / "book" / "findings.md"
    text = findings.read_text()
    assert "## What the book found" in text and "the `full` profile's records" in text
    assert "0 of the" in text and ">not run</span>" in text  # the toy book has no records
