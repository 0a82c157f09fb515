"""Claim-box verdicts follow their stated rules."""

import math

import pytest

from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, claim_box, interval_rule, sign_rule, threshold_rule


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
