"""Every verdict rule can go either way: each outcome is reached on constructed inputs.

A rule that cannot return "not supported" (or "inconclusive", or "vacuous" for a bound)
decides its claim by design, not by the data. For every rule in
``ntkbook.claims.rules.RULES`` the cases below drive it to each of its outcomes, in both
directions where it has two (``expect``, ``at_most``/``at_least``), and check that the
report's re-derivation from the saved record gives the same verdict. A rule added to
RULES without cases here fails ``test_every_rule_is_driven_to_each_of_its_outcomes``.
"""

import json
import math

import pytest

from ntkbook.claims.registry import load_records, record_claim
from ntkbook.claims.report import reproduction_table
from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, RULES, SUPPORTED, VACUOUS, derive

TWO_WAY = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)
OUTCOMES = {  # what each rule can return; a rule not listed here must be added with its cases
    "interval_rule": TWO_WAY,
    "sign_rule": TWO_WAY,
    "threshold_rule": TWO_WAY,
    "one_sided_rule": TWO_WAY,
    "bound_rule": TWO_WAY + (VACUOUS,),
}

WINDOW = (-0.75, -0.25)
CASES = [  # (rule, outcome, keyword arguments)
    # interval_rule: a predicted window
    ("interval_rule", SUPPORTED, {"estimate": -0.5, "low": -0.6, "high": -0.4, "expected": WINDOW}),
    ("interval_rule", NOT_SUPPORTED, {"estimate": -1.0, "low": -1.1, "high": -0.9, "expected": WINDOW}),
    ("interval_rule", NOT_SUPPORTED, {"estimate": 0.0, "low": -0.1, "high": 0.1, "expected": WINDOW}),
    ("interval_rule", INCONCLUSIVE, {"estimate": -0.75, "low": -0.85, "high": -0.65, "expected": WINDOW}),
    ("interval_rule", INCONCLUSIVE, {"estimate": -0.5, "low": -1.0, "high": 0.0, "expected": WINDOW}),  # wider than the window
    ("interval_rule", INCONCLUSIVE, {"estimate": math.nan, "low": -0.6, "high": -0.4, "expected": WINDOW}),
    # sign_rule: the side of zero, both directions
    ("sign_rule", SUPPORTED, {"difference": -1.0, "low": -2.0, "high": -0.5, "expect": "negative"}),
    ("sign_rule", NOT_SUPPORTED, {"difference": 1.0, "low": 0.5, "high": 2.0, "expect": "negative"}),
    ("sign_rule", INCONCLUSIVE, {"difference": -0.1, "low": -0.5, "high": 0.3, "expect": "negative"}),
    ("sign_rule", SUPPORTED, {"difference": 1.0, "low": 0.5, "high": 2.0, "expect": "positive"}),
    ("sign_rule", NOT_SUPPORTED, {"difference": -1.0, "low": -2.0, "high": -0.5, "expect": "positive"}),
    ("sign_rule", INCONCLUSIVE, {"difference": 0.1, "low": -0.3, "high": 0.5, "expect": "positive"}),
    ("sign_rule", INCONCLUSIVE, {"difference": 1.0, "low": math.nan, "high": math.nan, "expect": "positive"}),
    # threshold_rule: one number against a bound, both directions
    ("threshold_rule", SUPPORTED, {"value": 0.01, "at_most": 0.1}),
    ("threshold_rule", NOT_SUPPORTED, {"value": 0.2, "at_most": 0.1}),
    ("threshold_rule", SUPPORTED, {"value": 3.0, "at_least": 2.0}),
    ("threshold_rule", NOT_SUPPORTED, {"value": 1.0, "at_least": 2.0}),
    ("threshold_rule", NOT_SUPPORTED, {"value": 5.0, "at_least": 0.0, "at_most": 4.0}),
    ("threshold_rule", INCONCLUSIVE, {"value": math.inf, "at_most": 0.1}),
    ("threshold_rule", INCONCLUSIVE, {"value": math.nan, "at_least": 2.0}),
    # one_sided_rule: an inequality, both directions; far on the claimed side is still supported
    ("one_sided_rule", SUPPORTED, {"estimate": 1.8, "low": 1.5, "high": 1.95, "at_most": 2.0}),
    ("one_sided_rule", SUPPORTED, {"estimate": -5.0, "low": -6.0, "high": -4.0, "at_most": 2.0}),
    ("one_sided_rule", NOT_SUPPORTED, {"estimate": 2.5, "low": 2.1, "high": 2.9, "at_most": 2.0}),
    ("one_sided_rule", INCONCLUSIVE, {"estimate": 2.0, "low": 1.8, "high": 2.2, "at_most": 2.0}),
    ("one_sided_rule", SUPPORTED, {"estimate": 0.3, "low": 0.1, "high": 0.5, "at_least": 0.0}),
    ("one_sided_rule", NOT_SUPPORTED, {"estimate": -0.3, "low": -0.5, "high": -0.1, "at_least": 0.0}),
    ("one_sided_rule", INCONCLUSIVE, {"estimate": 0.1, "low": -0.1, "high": 0.3, "at_least": 0.0}),
    ("one_sided_rule", INCONCLUSIVE, {"estimate": 0.1, "low": math.nan, "high": 0.3, "at_least": 0.0}),
    # bound_rule: an upper bound on a quantity in [0, trivial]
    ("bound_rule", SUPPORTED, {"bound": 0.6, "observed": 0.3, "low": 0.25, "high": 0.35, "trivial": 1.0}),
    ("bound_rule", NOT_SUPPORTED, {"bound": 0.2, "observed": 0.3, "low": 0.25, "high": 0.35, "trivial": 1.0}),
    ("bound_rule", INCONCLUSIVE, {"bound": 0.3, "observed": 0.3, "low": 0.25, "high": 0.35, "trivial": 1.0}),
    ("bound_rule", INCONCLUSIVE, {"bound": 0.6, "observed": math.nan, "low": 0.25, "high": 0.35, "trivial": 1.0}),
    ("bound_rule", VACUOUS, {"bound": 3.5, "observed": 0.3, "low": 0.25, "high": 0.35, "trivial": 1.0}),
    ("bound_rule", VACUOUS, {"bound": 1.0, "observed": 0.3, "low": 0.25, "high": 0.35, "trivial": 1.0}),  # = trivial: still says nothing
]
IDS = [f"{rule}-{outcome.replace(' ', '_')}-{i}" for i, (rule, outcome, _) in enumerate(CASES)]


def test_every_rule_is_driven_to_each_of_its_outcomes():
    assert set(OUTCOMES) == set(RULES), "a rule in RULES has no reachability cases (or a listed rule is gone)"
    for name, outcomes in OUTCOMES.items():
        reached = {outcome for rule, outcome, _ in CASES if rule == name}
        assert reached == set(outcomes), f"{name} is never driven to {sorted(set(outcomes) - reached)}"


@pytest.mark.parametrize(("rule", "outcome", "kwargs"), CASES, ids=IDS)
def test_the_rule_reaches_the_outcome(rule, outcome, kwargs):
    verdict = RULES[rule](**kwargs)
    assert verdict.verdict == outcome, verdict.measured
    assert verdict.rule_name == rule


@pytest.mark.parametrize(("rule", "outcome", "kwargs"), CASES, ids=IDS)
def test_derive_from_the_saved_record_gives_the_same_verdict(rule, outcome, kwargs, tmp_path):
    verdict = RULES[rule](**kwargs)
    path = record_claim("uci_boston_vs_mlp", verdict, profile="ci", seeds=3, results_dir=tmp_path)
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} is not strict JSON"))
    record = load_records("ci", results_dir=tmp_path)["uci_boston_vs_mlp"]
    assert derive(record["rule_name"], record["inputs"]).verdict == outcome
    reproduction_table("ci", results_dir=tmp_path)  # the report agrees (it raises on any disagreement)


@pytest.mark.parametrize("rule", sorted(OUTCOMES))
def test_the_rule_states_its_outcomes_in_words(rule):
    _, _, kwargs = next(case for case in CASES if case[0] == rule)
    text = RULES[rule](**kwargs).rule
    assert "supported if" in text and ("not supported" in text or "otherwise" in text)
    if VACUOUS in OUTCOMES[rule]:
        assert VACUOUS in text
