"""The bibliography: every entry cited, listed in the author-year form of its citations,
and two works of the same authors and year told apart by a letter."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIB = ROOT / "book" / "references.bib"


@pytest.fixture(scope="module")
def bib_style():
    pytest.importorskip("sphinxcontrib.bibtex")
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import ntkbook_bib
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))
    return ntkbook_bib


def _keys() -> list[str]:
    return re.findall(r"^@\w+\{([^,]+),", BIB.read_text(), re.M)


def _cited() -> set[str]:
    cited = set()
    for path in [*ROOT.glob("notebooks/*.py"), *ROOT.glob("book/*.md")]:
        for keys in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", path.read_text(encoding="utf-8")):
            cited.update(k.strip() for k in keys.split(","))
    return cited


def test_every_entry_of_the_bibliography_is_cited_by_a_page_of_the_book():
    uncited = sorted(set(_keys()) - _cited())
    assert not uncited, f"entries of references.bib that no page cites: {uncited}"


def test_every_citation_names_an_entry_of_the_bibliography():
    assert not sorted(_cited() - set(_keys()))


def test_two_works_of_the_same_authors_and_year_get_the_letters_a_and_b(bib_style):
    from pybtex.database import parse_file

    labels = {e.key: e.label for e in bib_style.Style().format_bibliography(parse_file(str(BIB)))}
    assert {labels["arora2019exact"], labels["arora2019finegrained"]} == {"Arora et al., 2019a", "Arora et al., 2019b"}
    assert labels["holm1979simple"] == "Holm, 1979" and labels["nadeau2003inference"] == "Nadeau and Bengio, 2003"


def test_every_arxiv_identifier_is_well_formed():
    from pybtex.database import parse_file

    entries = parse_file(str(BIB)).entries
    eprints = {key: e.fields["eprint"] for key, e in entries.items() if "eprint" in e.fields}
    assert eprints
    for key, eprint in eprints.items():
        assert re.fullmatch(r"\d{4}\.\d{4,5}", eprint), f"{key}: eprint {eprint!r} is not an arXiv identifier"
        assert entries[key].fields.get("archivePrefix") == "arXiv", key
