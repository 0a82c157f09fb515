"""The whole book on Dask: independent chapters side by side on a two-worker LocalCluster,
the chapters that read what others wrote after them, and failures reported without losing
the other chapters' runs."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from ntkbook.pipeline import paths
from ntkbook.pipeline.notebooks import NotebookFailed, chapter_status
from ntkbook.pipeline.parallel import execute_chapters, readers

pytest.importorskip("distributed")

CHAPTER = textwrap.dedent(
    '''\
    # %% [markdown]
    # # Chapter {name}

    # %% tags=["parameters"]
    profile = "full"  # one of ci, full: which profile produced this run
    fail = False  # bool: raise in the next cell

    # %%
    import os, time
    time.sleep(1.0)
    assert not fail, "asked to fail"
    print("threads", os.environ.get("OMP_NUM_THREADS"))
    '''
)

READER = textwrap.dedent(
    '''\
    # ---
    # jupyter:
    #   ntkbook:
    #     depends_on: ["book/executed/{profile}/.*.stamp.json"]
    # ---

    # %% [markdown]
    # # The report

    # %% tags=["parameters"]
    profile = "full"  # one of ci, full: which profile produced this run

    # %%
    import glob
    print(sorted(glob.glob("book/executed/ci/*.ipynb")))
    '''
)


@pytest.fixture
def book(tmp_path, monkeypatch):
    root = tmp_path / "book_root"
    (root / "notebooks").mkdir(parents=True)
    (root / "profiles" / "ci").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (root / "notebooks" / f"{name}.py").write_text(CHAPTER.replace("{name}", name))
    (root / "notebooks" / "report.py").write_text(READER)
    toc = "format: jb-book\nroot: book/intro\nchapters:\n" + "".join(
        f"- file: book/chapters/{n}\n" for n in ("a", "b", "c", "report"))
    (root / "_toc.yml").write_text(toc)
    monkeypatch.setenv("NTKBOOK_ROOT", str(root))  # the workers are other processes: they find the book from it
    monkeypatch.delenv("NTKBOOK_CLAIMS_DIR", raising=False)
    monkeypatch.delenv("NTKBOOK_FORCE", raising=False)
    paths.use_root(root)
    yield root
    paths.use_root(None)


def _finished(root: Path, stem: str) -> str:
    return json.loads((root / "book" / "executed" / "ci" / f".{stem}.stamp.json").read_text())["finished"]


def test_a_chapter_that_declares_what_it_reads_is_a_reader(book):
    assert readers(["a", "b", "c", "report"]) == ["report"]


@pytest.mark.slow
def test_two_workers_run_the_independent_chapters_then_the_reader(book):
    logged: list[str] = []
    timings = execute_chapters(["a", "b", "c", "report"], "ci", workers=2, log=logged.append, progress=False)
    assert all(timings[s] is not None and timings[s] > 0 for s in ("a", "b", "c", "report"))
    assert all(chapter_status(s, "ci").state == "current" for s in ("a", "b", "c", "report"))
    assert _finished(book, "report") >= max(_finished(book, s) for s in ("a", "b", "c"))
    out = (book / "book" / "executed" / "ci" / "a.ipynb").read_text()
    assert f"threads {max(1, (os.cpu_count() or 1) // 2)}" in out  # two workers share the cores out
    again = execute_chapters(["a", "b", "c", "report"], "ci", workers=2, log=logged.append, progress=False)
    assert all(v is None for v in again.values())  # everything current: nothing reruns
    assert any("local Dask cluster of 2 workers" in line for line in logged)


@pytest.mark.slow
def test_a_failing_chapter_is_named_and_the_others_still_run(book):
    (book / "profiles" / "ci" / "b.yaml").write_text("fail: true\n")
    with pytest.raises(NotebookFailed, match="1 chapter.*failed.*b"):
        execute_chapters(["a", "b", "c", "report"], "ci", workers=2, log=lambda _: None, progress=False)
    assert chapter_status("a", "ci").state == "current" and chapter_status("c", "ci").state == "current"
    assert chapter_status("b", "ci").state == "missing"


def test_workers_must_be_a_positive_int(book):
    with pytest.raises(ValueError, match="'workers' parameter of execute_chapters"):
        execute_chapters(["a"], "ci", workers=0, log=lambda _: None, progress=False)
