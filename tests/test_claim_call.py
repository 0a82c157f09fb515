"""A chapter checks a claim with one call, and glues its numbers with one call."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from ntkbook.claims import chapter, registry
from ntkbook.claims.chapter import check_claim, get_claim
from ntkbook.claims.registry import CLAIMS
from ntkbook.claims.rules import SUPPORTED, Verdict, interval_rule, sign_rule
from ntkbook.plots.glue import glue_values


@pytest.fixture
def shown(monkeypatch):
    """Every box and glued value the call makes, instead of displaying them."""
    seen = {"boxes": [], "glued": {}}
    import IPython.display
    import myst_nb

    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: seen["boxes"].append(obj.data))

    def fake_glue(name, value, display=True):
        assert display is False, "glued values are never displayed where they are glued"
        seen["glued"][name] = value

    monkeypatch.setattr(myst_nb, "glue", fake_glue)
    return seen


@pytest.fixture
def ad_hoc(tmp_path, monkeypatch):
    """A run that is not canonical: no NTKBOOK_CLAIMS_DIR, and the repository's results folder out of reach."""
    monkeypatch.delenv("NTKBOOK_CLAIMS_DIR", raising=False)
    monkeypatch.setattr(registry, "RESULTS_DIR", tmp_path / "results", raising=False)
    return tmp_path


def supported():
    return interval_rule(-0.5, -0.6, -0.4, (-0.7, -0.3), what="the slope")


def test_the_box_takes_the_claims_wording_and_source_from_the_registry(shown, ad_hoc):
    check_claim("width_convergence_rate", supported(), profile="ci", seeds=3)
    (box,) = shown["boxes"]
    claim = CLAIMS["width_convergence_rate"]
    assert claim.text in box and claim.source in box
    assert "the slope = -0.5" in box and SUPPORTED in box


def test_a_tested_as_clause_is_shown_after_the_claim_text(shown, ad_hoc):
    check_claim("alpha_bounds_lambda_max", interval_rule(2.0, 1.8, 2.2, (1.5, 2.5)), profile="ci", seeds=3)
    claim = CLAIMS["alpha_bounds_lambda_max"]
    assert claim.tested_as
    assert f"(tested as: {claim.tested_as})" in shown["boxes"][0]


def test_a_run_note_is_appended_to_the_source(shown, ad_hoc):
    check_claim("uci_boston_vs_mlp", sign_rule(-1.0, -2.0, -0.5, expect="negative"), profile="ci", seeds=3,
                note="Boston without column b")
    assert f"{CLAIMS['uci_boston_vs_mlp'].source}; Boston without column b" in shown["boxes"][0]


def test_the_verdict_is_glued_as_verdict_and_the_claim_id_by_default(shown, ad_hoc):
    verdict = check_claim("ntk_psd", supported(), profile="ci", seeds=1)
    assert shown["glued"] == {"verdict_ntk_psd": SUPPORTED}
    assert verdict.verdict == SUPPORTED


def test_glue_as_keeps_the_name_the_chapter_prose_uses(shown, ad_hoc):
    check_claim("ntk_psd", supported(), profile="ci", seeds=1, glue_as="verdict_psd")
    assert shown["glued"] == {"verdict_psd": SUPPORTED}


def test_a_canonical_run_records_the_verdict_in_the_claims_dir(shown, tmp_path, monkeypatch):
    claims_dir = tmp_path / "claims" / "ci"
    monkeypatch.setenv("NTKBOOK_CLAIMS_DIR", str(claims_dir))
    check_claim("ntk_psd", supported(), profile="ci", seeds=1, values={"asymmetry": 0.0})
    record = json.loads((claims_dir / "ntk_psd.json").read_text())
    assert record["verdict"] == SUPPORTED and record["values"] == {"asymmetry": 0.0}


def test_an_ad_hoc_run_shows_and_glues_but_records_nothing(shown, ad_hoc):
    check_claim("ntk_psd", supported(), profile="ci", seeds=1)
    assert len(shown["boxes"]) == 1 and "verdict_ntk_psd" in shown["glued"]
    assert not list(ad_hoc.rglob("*.json"))


def test_a_record_claim_that_returns_none_is_fine(shown, ad_hoc, monkeypatch):
    monkeypatch.setattr(chapter, "record_claim", lambda *args, **kwargs: None)
    assert check_claim("ntk_psd", supported(), profile="ci", seeds=1).verdict == SUPPORTED


def test_an_unknown_claim_id_fails_before_anything_is_shown(shown, ad_hoc):
    with pytest.raises(ValueError, match=r"'claim_id' parameter of check_claim must be one of .*Got 'no_such_claim' instead"):
        check_claim("no_such_claim", supported(), profile="ci", seeds=1)
    assert shown == {"boxes": [], "glued": {}}


def test_a_typed_verdict_is_refused_before_anything_is_shown(shown, ad_hoc):
    with pytest.raises(ValueError, match="computed by a rule"):
        check_claim("ntk_psd", Verdict("supported", "trust me", "nothing"), profile="ci", seeds=1)
    with pytest.raises(TypeError, match="'verdict' parameter of check_claim"):
        check_claim("ntk_psd", "supported", profile="ci", seeds=1)
    assert shown == {"boxes": [], "glued": {}}


def test_get_claim_returns_the_registered_claim():
    assert get_claim("lazy_training") is CLAIMS["lazy_training"]


def test_every_claims_wording_is_one_sentence_with_at_most_one_tested_as_clause():
    for claim in CLAIMS.values():
        assert claim.text.endswith(".") and claim.wording.endswith("."), claim.id
        assert "tested as" not in claim.text, f"{claim.id}: put the testable form in tested_as"
        assert claim.wording.count("(tested as: ") == (1 if claim.tested_as else 0)


def test_no_chapter_types_a_claims_wording_again():
    from pathlib import Path

    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    for source in sorted(notebooks.glob("*.py")):
        text = source.read_text()
        for claim in CLAIMS.values():
            assert f'"{claim.text}' not in text, f"{source.name} types the wording of {claim.id}; use check_claim"


def test_glue_values_glues_keywords_and_mappings_without_displaying(shown):
    glue_values({"mse_ecrn": 0.1, "mse_mlp": 0.2}, {"n": 3}, slope=-0.5)
    assert shown["glued"] == {"mse_ecrn": 0.1, "mse_mlp": 0.2, "n": 3, "slope": -0.5}


def test_glue_values_returns_nothing_so_a_cell_ending_with_it_shows_nothing(shown):
    assert glue_values(a=1) is None


def test_glue_values_refuses_a_name_given_twice(shown):
    with pytest.raises(ValueError, match="'slope' twice"):
        glue_values({"slope": 1.0}, slope=2.0)
    assert shown["glued"] == {}


def test_glue_values_refuses_a_figure_and_names_glue_figure(shown):
    fig = plt.figure()
    try:
        with pytest.raises(TypeError, match="glue_figure"):
            glue_values(fig_x=fig)
    finally:
        plt.close(fig)


def test_glue_values_refuses_a_name_that_is_not_a_string(shown):
    with pytest.raises(TypeError, match="non-empty strings"):
        glue_values({1: 2.0})
