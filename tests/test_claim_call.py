"""A chapter checks a claim with one call, and glues its numbers with one call."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from ntkbook.claims import chapter, registry
from ntkbook.claims.chapter import check_claim, get_claim
from ntkbook.claims.registry import CLAIMS
from ntkbook.claims.rules import ASCII_MATH, SUPPORTED, Verdict, as_math, interval_rule, sign_rule
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
    monkeypatch.delenv(chapter.PAPER_SCALE_DIR_ENV, raising=False)
    monkeypatch.setattr(registry, "RESULTS_DIR", tmp_path / "results", raising=False)
    return tmp_path


def supported():
    return interval_rule(-0.5, -0.6, -0.4, (-0.7, -0.3), what="the slope")


def test_the_box_takes_the_claims_wording_and_source_from_the_registry(shown, ad_hoc):
    check_claim("width_convergence_rate", supported(), profile="ci", seeds=3)
    (box,) = shown["boxes"]
    claim = CLAIMS["width_convergence_rate"]
    assert as_math(claim.text) in box and as_math(claim.source) in box
    assert "the slope = -0.5" in box and SUPPORTED in box


def test_a_tested_as_clause_is_shown_after_the_claim_text(shown, ad_hoc):
    check_claim("alpha_bounds_lambda_max", interval_rule(2.0, 1.8, 2.2, (1.5, 2.5)), profile="ci", seeds=3)
    claim = CLAIMS["alpha_bounds_lambda_max"]
    assert claim.tested_as
    assert as_math(f"(tested as: {claim.tested_as})") in shown["boxes"][0]


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


# ----------------------------------------------------------------------------- kinds, p-values, model metrics, profiles
@pytest.fixture
def canonical(tmp_path, monkeypatch):
    """A canonical run: records go to the folder NTKBOOK_CLAIMS_DIR names."""
    folder = tmp_path / "claims" / "ci"
    monkeypatch.setenv("NTKBOOK_CLAIMS_DIR", str(folder))
    return folder


def test_every_claim_has_one_of_the_four_kinds():
    from ntkbook.claims.registry import KINDS, status_of

    assert set(KINDS) == {"sanity", "theory", "paper", "beyond"}
    assert status_of("supported", "beyond") == "holds" and status_of("not supported", "beyond") == "does not hold"
    assert {c.kind for c in CLAIMS.values()} <= set(KINDS)


def test_the_ntk_properties_of_correct_software_are_sanity_checks_not_theory_or_paper_claims():
    assert CLAIMS["ntk_psd"].kind == "sanity" and CLAIMS["ntk_methods_agree"].kind == "sanity"
    assert CLAIMS["width_convergence_rate"].kind == "theory" and CLAIMS["uci_boston_vs_mlp"].kind == "paper"


def test_a_claim_of_an_unknown_kind_cannot_be_registered():
    with pytest.raises(ValueError, match="'kind' of claim 'x' must be one of"):
        registry.Claim("x", "A claim.", "01_empirical_ntk", "nowhere", "opinion")


def test_the_p_value_is_saved_in_the_record(shown, canonical):
    check_claim("uci_boston_vs_mlp", sign_rule(-1.0, -2.0, -0.5, expect="negative"), profile="ci", seeds=10, p_value=0.012)
    assert json.loads((canonical / "uci_boston_vs_mlp.json").read_text())["p_value"] == 0.012


@pytest.mark.parametrize("p_value", [None, float("nan")])
def test_no_p_value_or_a_nan_one_is_saved_as_null_no_test(shown, canonical, p_value):
    check_claim("uci_boston_vs_mlp", sign_rule(-1.0, -2.0, -0.5, expect="negative"), profile="ci", seeds=10, p_value=p_value)
    assert json.loads((canonical / "uci_boston_vs_mlp.json").read_text())["p_value"] is None


@pytest.mark.parametrize("p_value", [-0.1, 1.5, "small", True])
def test_a_p_value_outside_zero_one_is_refused_before_anything_is_shown(shown, canonical, p_value):
    with pytest.raises(ValueError, match=r"'p_value' parameter of check_claim must be a finite float in the range \[0, 1\]"):
        check_claim("uci_boston_vs_mlp", sign_rule(-1.0, -2.0, -0.5, expect="negative"), profile="ci", seeds=10,
                    p_value=p_value)
    assert shown == {"boxes": [], "glued": {}} and not list(canonical.parent.rglob("*.json"))


def test_a_numpy_p_value_is_saved_as_a_plain_number(shown, canonical):
    import numpy as np

    check_claim("uci_iris_vs_mlp", sign_rule(1.0, 0.5, 2.0, expect="positive"), profile="ci", seeds=10, p_value=np.float64(0.2))
    assert json.loads((canonical / "uci_iris_vs_mlp.json").read_text())["p_value"] == 0.2


def test_model_metrics_keeps_each_models_own_metric_with_its_interval(shown, canonical):
    from ntkbook.claims.chapter import model_metrics
    from ntkbook.stats import t_interval

    ecrn, mlp = t_interval([0.10, 0.12, 0.11]), (0.2, 0.15, 0.25)
    values = {"difference": -0.09, **model_metrics("test MSE", {"ECRN": ecrn, "MLP": mlp})}
    check_claim("uci_boston_vs_mlp", sign_rule(-0.09, -0.12, -0.06, expect="negative"), profile="ci", seeds=3, values=values)
    models = json.loads((canonical / "uci_boston_vs_mlp.json").read_text())["values"]["models"]
    assert models["ECRN"] == {"metric": "test MSE", "mean": pytest.approx(ecrn.mean), "low": pytest.approx(ecrn.low),
                              "high": pytest.approx(ecrn.high), "n": 3}
    assert models["MLP"] == {"metric": "test MSE", "mean": 0.2, "low": 0.15, "high": 0.25, "n": None}


def test_model_metrics_refuses_what_is_not_an_interval():
    from ntkbook.claims.chapter import model_metrics

    with pytest.raises(ValueError, match="'intervals' parameter of model_metrics"):
        model_metrics("test MSE", {"ECRN": 0.1})
    with pytest.raises(ValueError, match="'metric' parameter of model_metrics"):
        model_metrics("", {"ECRN": (0.1, 0.0, 0.2)})


def test_a_models_entry_that_breaks_the_convention_is_refused_before_anything_is_shown(shown, canonical):
    with pytest.raises(ValueError, match="'values' parameter of check_claim must be a dict whose 'models' entry"):
        check_claim("uci_boston_vs_mlp", sign_rule(-1.0, -2.0, -0.5, expect="negative"), profile="ci", seeds=3,
                    values={"models": {"ECRN": 0.1}})
    assert shown == {"boxes": [], "glued": {}}


def test_the_ci_box_is_a_neutral_smoke_run_and_the_verdict_is_recorded_and_glued_as_in_full(shown, canonical, monkeypatch):
    from ntkbook.claims.rules import SMOKE_CLASS, SMOKE_LABEL

    check_claim("uci_boston_vs_mlp", sign_rule(-1.0, -2.0, -0.5, expect="negative"), profile="ci", seeds=3)
    ci_box, ci_glued = shown["boxes"][-1], dict(shown["glued"])
    ci_record = json.loads((canonical / "uci_boston_vs_mlp.json").read_text())
    assert SMOKE_LABEL in ci_box and f":class: {SMOKE_CLASS}" in ci_box and ":class: tip" not in ci_box

    full = canonical.parent / "full"
    monkeypatch.setenv("NTKBOOK_CLAIMS_DIR", str(full))
    check_claim("uci_boston_vs_mlp", sign_rule(-1.0, -2.0, -0.5, expect="negative"), profile="full", seeds=3)
    full_record = json.loads((full / "uci_boston_vs_mlp.json").read_text())
    assert ":class: tip" in shown["boxes"][-1] and SMOKE_LABEL not in shown["boxes"][-1]
    assert ci_glued == shown["glued"] == {"verdict_uci_boston_vs_mlp": SUPPORTED}
    assert {k: v for k, v in ci_record.items() if k != "profile"} == {k: v for k, v in full_record.items() if k != "profile"}


def test_a_sanity_check_box_reads_passed_not_supported(shown, ad_hoc):
    check_claim("ntk_psd", supported(), profile="full", seeds=1)
    (box,) = shown["boxes"]
    assert "sanity check" in box.splitlines()[0] and "**passed**" in box and "**supported**" not in box
    assert shown["glued"] == {"verdict_ntk_psd": SUPPORTED}  # the chapter's prose keeps its glued verdict word


# ----------------------------------------------------------------------------- math in the boxes
def _outside_math(text):
    """``text`` with its ``$...$`` spans removed."""
    import re

    return re.sub(r"\$[^$]*\$", "", text)


def test_the_registry_wording_stays_plain_text_for_the_report_and_the_records():
    for claim in CLAIMS.values():
        assert "$" not in claim.wording + claim.source, f"{claim.id}: write ASCII; the box renders it as math"


def test_every_ascii_formula_of_the_registry_is_shown_as_math():
    for claim in CLAIMS.values():
        rest = _outside_math(as_math(f"{claim.wording} {claim.source}"))
        for form in ("lambda_", "alpha_", "^T", "^(", "sqrt(", "||", "E[", "sum_"):
            assert form not in rest, f"{claim.id}: {form!r} is left as ASCII in {rest!r}"


def test_as_math_writes_each_form_of_its_table_as_latex():
    for ascii_form, latex in ASCII_MATH.items():
        assert as_math(f"see {ascii_form} here") == f"see ${latex}$ here"


def test_as_math_takes_the_longest_form_as_one_formula():
    assert as_math("lambda_max(0) and 2n / lambda_max(0)") == r"$\lambda_{\max}(0)$ and $2n / \lambda_{\max}(0)$"


def test_as_math_leaves_names_that_merely_contain_a_form_alone():
    assert as_math("alpha_max, lambda_maxima and the sigmas") == "alpha_max, lambda_maxima and the sigmas"


def test_as_math_leaves_math_and_code_spans_alone():
    assert as_math(r"$\alpha_l$ and `alpha_l` and alpha_l") == r"$\alpha_l$ and `alpha_l` and $\alpha_l$"


def test_the_box_shows_the_claim_and_the_measurement_as_math(shown, ad_hoc):
    check_claim("alpha_bounds_lambda_max", interval_rule(2.0, 1.8, 2.2, (1.5, 2.5), what="growth of lambda_max"),
                profile="ci", seeds=3)
    (box,) = shown["boxes"]
    assert r"$\lambda_{\max}$" in box and r"$\alpha_l^2$" in box
    assert "lambda_max" not in _outside_math(box) and "alpha_l" not in _outside_math(box)


def test_a_beyond_the_paper_claim_gets_its_own_box_label(shown, ad_hoc):
    check_claim("attention_width_reduces_kernel_change", supported(), profile="full", seeds=3)
    assert "(beyond the paper)" in shown["boxes"][0].splitlines()[0] and "**holds**" in shown["boxes"][0]


# ----------------------------------------------------------------------------- the paper-scale verdict
@pytest.fixture
def paper_scale(tmp_path, monkeypatch):
    """A folder of full-profile records, named by NTKBOOK_PAPER_SCALE_DIR, holding one record of lazy_training."""
    folder = tmp_path / "measured"
    registry.record_claim("lazy_training", interval_rule(-0.9, -1.0, -0.8, (-1.5, -0.3), what="the slope"),
                          profile="full", seeds=5, results_dir=folder)
    monkeypatch.setenv(chapter.PAPER_SCALE_DIR_ENV, str(folder))
    return folder


def test_a_ci_box_adds_the_verdict_of_the_full_profile_record(shown, ad_hoc, paper_scale):
    wrong = interval_rule(0.5, 0.4, 0.6, (-1.5, -0.3), what="the slope")  # not supported at smoke-run size
    check_claim("lazy_training", wrong, profile="ci", seeds=2)
    (line,) = [ln for ln in shown["boxes"][0].splitlines() if ln.startswith("*Paper-scale verdict")]
    assert line.startswith("*Paper-scale verdict (full profile") and "**reproduced**" in line
    assert "the slope = -0.9" in line


def test_the_paper_scale_verdict_is_derived_again_from_the_records_inputs(shown, ad_hoc, paper_scale):
    path = paper_scale / "claims" / "full" / "lazy_training.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "verdict": "not supported"}))  # a typed verdict that disagrees
    check_claim("lazy_training", supported(), profile="ci", seeds=2)
    assert "**reproduced**" in shown["boxes"][0].split("Paper-scale verdict")[1]


def test_the_paper_scale_line_names_the_commit_saved_in_the_record(ad_hoc, paper_scale):
    path = paper_scale / "claims" / "full" / "lazy_training.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "commit": "abc1234"}))
    assert chapter.paper_scale_line("lazy_training", "ci").startswith("*Paper-scale verdict (full profile, commit abc1234):*")


def test_a_ci_box_says_when_the_claim_has_no_full_profile_record(shown, ad_hoc, paper_scale):
    check_claim("linearized_dynamics", supported(), profile="ci", seeds=2)
    assert "*Paper-scale verdict:* this claim has no full-profile record yet" in shown["boxes"][0]


def test_the_full_profile_box_is_itself_the_paper_scale_verdict(shown, ad_hoc, paper_scale):
    check_claim("lazy_training", supported(), profile="full", seeds=5)
    assert "Paper-scale verdict" not in shown["boxes"][0]


def test_a_run_told_no_folder_of_records_shows_no_paper_scale_line(shown, ad_hoc):
    check_claim("lazy_training", supported(), profile="ci", seeds=2)
    assert "Paper-scale verdict" not in shown["boxes"][0]


def test_the_paper_scale_dir_argument_wins_over_the_environment(shown, ad_hoc, paper_scale, tmp_path):
    check_claim("lazy_training", supported(), profile="ci", seeds=2, paper_scale_dir=tmp_path / "elsewhere")
    assert "*Paper-scale verdict:* no full-profile records yet" in shown["boxes"][0]
