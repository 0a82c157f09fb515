"""The intro's "What the book found": written by `ntkbook book` from the committed
full-profile claim records on every build, never typed by hand."""

from __future__ import annotations

import json

import pytest

from ntkbook.claims.registry import CLAIMS, record_claim
from ntkbook.claims.rules import sign_rule
from ntkbook.pipeline import paths, site


@pytest.fixture
def measured(tmp_path, monkeypatch):
    """An empty book whose committed records folder is ``tmp_path/book/measured``."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(paths, "MEASURED_DIR", tmp_path / "book" / "measured")
    return tmp_path / "book" / "measured"


def _reproduced(claim_id, folder):
    return record_claim(claim_id, sign_rule(-1.5, -2.0, -1.0, expect="negative"), profile="full", seeds=5,
                        results_dir=folder)


def _row(text, claim_id):
    """The table row of claim ``claim_id`` in the findings ``text``."""
    wording = site._md(CLAIMS[claim_id].text)
    return next(line for line in text.splitlines() if line.startswith("|") and wording in line)


def test_the_findings_name_the_profile_its_records_and_how_many_claims_have_one(measured):
    _reproduced("synthetic_regression_vs_mlp", measured)
    text = site.findings_markdown(in_toc=set())
    assert "the `full` profile's records in `book/measured/claims/full/`" in text
    assert f"1 of the {len(CLAIMS)} claims the book checks" in text


def test_a_claim_without_a_record_reads_not_run(measured):
    text = site.findings_markdown(in_toc=set())
    assert ">not run</span>" in _row(text, "uci_iris_vs_mlp")


def test_the_verdict_is_derived_from_the_saved_record(measured):
    _reproduced("synthetic_regression_vs_mlp", measured)
    assert ">reproduced</span>" in _row(site.findings_markdown(in_toc=set()), "synthetic_regression_vs_mlp")


def test_a_hand_edited_record_is_reported_on_the_page_instead_of_a_verdict(measured):
    path = _reproduced("synthetic_regression_vs_mlp", measured)
    record = json.loads(path.read_text())
    record["verdict"] = "not supported"  # typed by hand: the inputs say "supported"
    path.write_text(json.dumps(record))
    text = site.findings_markdown(in_toc=set())
    assert ":::{warning}" in text and "could not be read" in text and "| Verdict |" not in text


def test_paper_claims_theory_results_and_open_questions_get_a_table_each_in_that_order(measured):
    text = site.findings_markdown(in_toc=set())
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    n = {kind: sum(c.kind == kind for c in CLAIMS.values()) for kind in ("paper", "theory", "beyond")}
    assert headings == [f"### The paper's claims ({n['paper']})", f"### Theory results the paper rests on ({n['theory']})",
                        f"### Open questions beyond the paper ({n['beyond']})"]
    assert "ntk_psd" not in text and CLAIMS["ntk_psd"].text not in text  # sanity checks: counted, not listed


def test_each_claim_links_to_its_chapter_and_the_findings_to_the_report_where_the_book_has_them(measured):
    text = site.findings_markdown(in_toc={"12_uci", "14_reproduction_report"})
    assert _row(text, "uci_iris_vs_mlp").endswith("<br>{doc}`/book/chapters/12_uci` |")
    assert _row(text, "cifar_accuracy_vs_ntk").endswith("<br>`13_cifar10` |")  # no page: named, not linked
    assert "The {doc}`/book/chapters/14_reproduction_report` shows" in text


def test_the_intro_includes_the_findings_page_the_build_stages():
    intro = (site.paths.ROOT / "book" / "intro.md").read_text()
    assert f"```{{include}} {site.FINDINGS_PAGE.removeprefix('book/')}\n```" in intro
