"""Claim-box verdicts follow their stated rules."""

import math

import pytest

from ntkbook.claims.rules import (
    BOX_CLASS,
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SMOKE_CLASS,
    SMOKE_LABEL,
    SUPPORTED,
    VACUOUS,
    bound_rule,
    claim_box,
    interval_rule,
    sign_rule,
    threshold_rule,
    weakest_verdict,
)


def test_interval_inside_expected_range_is_supported():
    assert interval_rule(-0.5, -0.6, -0.4, (-0.7, -0.3)).verdict == SUPPORTED


def test_interval_outside_expected_range_is_not_supported():
    assert interval_rule(-1.0, -1.1, -0.9, (-0.7, -0.3)).verdict == NOT_SUPPORTED


def test_interval_straddling_the_boundary_is_inconclusive():
    assert interval_rule(-0.7, -0.8, -0.6, (-0.7, -0.3)).verdict == INCONCLUSIVE


def test_non_finite_measurement_is_inconclusive_never_supported():
    assert interval_rule(math.nan, -0.6, -0.4, (-0.7, -0.3)).verdict == INCONCLUSIVE
    assert threshold_rule(math.inf, at_most=1.0).verdict == INCONCLUSIVE


def test_sign_rule_reads_the_side_of_zero():
    assert sign_rule(-1.0, -2.0, -0.5, expect="negative").verdict == SUPPORTED
    assert sign_rule(1.0, 0.5, 2.0, expect="negative").verdict == NOT_SUPPORTED
    assert sign_rule(0.1, -0.5, 0.7, expect="negative").verdict == INCONCLUSIVE


def test_sign_rule_rejects_an_unknown_expectation():
    with pytest.raises(ValueError, match="'expect' parameter of sign_rule"):
        sign_rule(1.0, 0.0, 2.0, expect="bigger")


def test_claim_box_prints_claim_measurement_rule_and_verdict():
    v = threshold_rule(0.01, at_most=0.1, what="error")
    box = claim_box("Errors are small.", v)
    assert "Errors are small." in box and "error = 0.01" in box and "error <= 0.1" in box and SUPPORTED in box


# ----------------------------------------------------------------------------- the box in each profile
def _admonition_class(box):
    return next(line.removeprefix(":class: ") for line in box.splitlines() if line.startswith(":class: "))


@pytest.mark.parametrize(("verdict", "css"), [
    (sign_rule(-1.0, -2.0, -0.5, expect="negative"), "tip"),
    (sign_rule(1.0, 0.5, 2.0, expect="negative"), "danger"),
    (sign_rule(0.1, -0.5, 0.7, expect="negative"), "warning"),
])
def test_the_full_profile_box_is_coloured_by_its_verdict(verdict, css):
    box = claim_box("A claim.", verdict, profile="full")
    assert _admonition_class(box) == css
    assert f"**{verdict.verdict}**" in box and SMOKE_LABEL not in box


def test_a_vacuous_bound_is_styled_like_inconclusive_but_labelled_vacuous():
    v = bound_rule(3.5, 0.3, 0.25, 0.35, trivial=1.0)
    box = claim_box("A bound holds.", v, profile="full")
    assert v.verdict == VACUOUS
    assert _admonition_class(box) == BOX_CLASS[INCONCLUSIVE]
    assert f"**{VACUOUS}**" in box and INCONCLUSIVE not in box.split("\n")[0]


@pytest.mark.parametrize("verdict", [sign_rule(-1.0, -2.0, -0.5, expect="negative"), sign_rule(1.0, 0.5, 2.0, expect="negative")])
def test_the_ci_profile_box_is_a_neutral_smoke_run_that_still_shows_the_rule_output(verdict):
    box = claim_box("A claim.", verdict, profile="ci")
    title = box.splitlines()[0]
    assert SMOKE_LABEL in title and "not evidence about the paper" in title
    assert _admonition_class(box) == SMOKE_CLASS and SMOKE_CLASS not in BOX_CLASS.values()
    assert verdict.verdict in box and verdict.rule in box and verdict.measured in box


def test_a_sanity_check_box_says_so_and_shows_its_own_status_word():
    v = threshold_rule(0.0, at_most=1e-12, what="asymmetry")
    box = claim_box("The NTK is symmetric.", v, kind="sanity", status="passed", profile="full")
    assert "sanity check" in box.splitlines()[0] and "**passed**" in box and "**supported**" not in box
    assert _admonition_class(box) == "tip"


def test_claim_box_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="'kind' parameter of claim_box"):
        claim_box("A claim.", threshold_rule(0.0, at_most=1.0), kind="opinion")


def test_weakest_verdict_ranks_vacuous_with_inconclusive_below_supported():
    vac = bound_rule(3.5, 0.3, 0.25, 0.35, trivial=1.0)
    sup = sign_rule(-1.0, -2.0, -0.5, expect="negative")
    nos = sign_rule(1.0, 0.5, 2.0, expect="negative")
    assert weakest_verdict([sup, vac]).verdict == VACUOUS
    assert weakest_verdict([vac, nos]).verdict == NOT_SUPPORTED
