"""Claim boxes: a claim, what was measured, and a verdict computed by a stated rule.

Every chapter ends its main result in a "Claim / What we measured" box. The verdict is
never typed: it is the output of a rule applied to measured numbers, and the rule is
printed in the box so a reader can check it.

The rules used in the book:

- :func:`interval_rule`: *supported* when a confidence interval lies entirely inside the
  range the claim predicts, *not supported* when it lies entirely outside, otherwise
  *inconclusive*.
- :func:`sign_rule`: for a paired difference ``a - b`` with a confidence interval:
  *supported* when the interval lies entirely on the side the claim predicts,
  *not supported* when entirely on the other side, otherwise *inconclusive*.

Example::

    >>> v = interval_rule(estimate=-0.52, low=-0.58, high=-0.46, expected=(-0.7, -0.3))
    >>> v.verdict
    'supported'
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)


@dataclass(frozen=True)
class Verdict:
    verdict: str  # one of VERDICTS
    rule: str  # the rule, in words, with its thresholds
    measured: str  # the measured values, in words
    rule_name: str = ""  # the function that computed it: interval_rule, sign_rule or threshold_rule
    inputs: dict | None = None  # its arguments, so the verdict can be derived again from saved results

    def as_dict(self) -> dict:
        return asdict(self)


def _recorded(rule):
    """Make a rule return its own name and arguments with the verdict."""
    import functools
    import inspect

    signature = inspect.signature(rule)

    @functools.wraps(rule)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        inputs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in bound.arguments.items()}
        inputs = {k: (float(v) if hasattr(v, "item") and not isinstance(v, (list, str)) else v) for k, v in inputs.items()}
        v = rule(*args, **kwargs)
        return Verdict(v.verdict, v.rule, v.measured, rule.__name__, inputs)

    return wrapper


def _finite(*values: float) -> bool:
    return all(v is not None and math.isfinite(float(v)) for v in values)


@_recorded
def interval_rule(estimate: float, low: float, high: float, expected: tuple[float, float], *, what: str = "the estimate") -> Verdict:
    """Supported when the whole interval [low, high] lies in ``expected``; not supported
    when it misses ``expected`` entirely; inconclusive otherwise (or when not finite)."""
    lo_exp, hi_exp = expected
    rule = (
        f"supported if the 95 % interval of {what} lies inside [{lo_exp:g}, {hi_exp:g}], "
        f"not supported if it lies entirely outside, inconclusive otherwise"
    )
    measured = f"{what} = {estimate:.3g} (95 % interval [{low:.3g}, {high:.3g}])"
    if not _finite(estimate, low, high):
        return Verdict(INCONCLUSIVE, rule, measured + "; not finite")
    if lo_exp <= low and high <= hi_exp:
        return Verdict(SUPPORTED, rule, measured)
    if high < lo_exp or low > hi_exp:
        return Verdict(NOT_SUPPORTED, rule, measured)
    return Verdict(INCONCLUSIVE, rule, measured)


@_recorded
def sign_rule(difference: float, low: float, high: float, *, expect: str, what: str = "the difference") -> Verdict:
    """For a paired difference with interval [low, high]; ``expect`` is "negative" or "positive"."""
    if expect not in ("negative", "positive"):
        raise ValueError(f"The 'expect' parameter of sign_rule must be 'negative' or 'positive'. Got {expect!r} instead.")
    rule = (
        f"supported if the 95 % interval of {what} lies entirely {'below' if expect == 'negative' else 'above'} 0, "
        f"not supported if it lies entirely on the other side, inconclusive if it contains 0"
    )
    measured = f"{what} = {difference:.3g} (95 % interval [{low:.3g}, {high:.3g}])"
    if not _finite(difference, low, high):
        return Verdict(INCONCLUSIVE, rule, measured + "; not finite")
    below, above = high < 0, low > 0
    if (expect == "negative" and below) or (expect == "positive" and above):
        return Verdict(SUPPORTED, rule, measured)
    if (expect == "negative" and above) or (expect == "positive" and below):
        return Verdict(NOT_SUPPORTED, rule, measured)
    return Verdict(INCONCLUSIVE, rule, measured)


@_recorded
def threshold_rule(value: float, *, at_most: float | None = None, at_least: float | None = None, what: str = "the value") -> Verdict:
    """Supported when ``value`` meets the bound(s); not supported otherwise; inconclusive if not finite."""
    if at_most is None and at_least is None:
        raise ValueError("threshold_rule needs 'at_most' or 'at_least'.")
    parts = []
    if at_least is not None:
        parts.append(f"{what} >= {at_least:g}")
    if at_most is not None:
        parts.append(f"{what} <= {at_most:g}")
    rule = "supported if " + " and ".join(parts) + ", not supported otherwise"
    measured = f"{what} = {value:.3g}"
    if not _finite(value):
        return Verdict(INCONCLUSIVE, rule, measured + "; not finite")
    ok = (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
    return Verdict(SUPPORTED if ok else NOT_SUPPORTED, rule, measured)


RULES = {"interval_rule": interval_rule, "sign_rule": sign_rule, "threshold_rule": threshold_rule}


def derive(rule_name: str, inputs: dict) -> Verdict:
    """Apply a named rule to saved inputs: how the report re-derives every status."""
    if rule_name not in RULES:
        raise ValueError(f"The 'rule_name' must be one of {sorted(RULES)}. Got {rule_name!r} instead.")
    args = dict(inputs)
    if "expected" in args:
        args["expected"] = tuple(args["expected"])
    return RULES[rule_name](**args)


def claim_box(claim: str, verdict: Verdict, *, source: str = "") -> str:
    """MyST markdown for the chapter's "Claim / What we measured" box.

    Display it with ``IPython.display.Markdown(claim_box(...))``; the book renders
    notebook markdown output as MyST, so the admonition shows as a box.
    """
    kind = {SUPPORTED: "tip", NOT_SUPPORTED: "danger", INCONCLUSIVE: "warning"}[verdict.verdict]
    src = f"\n\n*Claim source:* {source}" if source else ""
    return (
        f":::{{admonition}} Claim / What we measured: **{verdict.verdict}**\n:class: {kind}\n\n"
        f"*Claim:* {claim}{src}\n\n*What we measured:* {verdict.measured}.\n\n"
        f"*Rule:* {verdict.rule}.\n\n*Verdict:* **{verdict.verdict}**\n:::\n"
    )


def show_claim(claim: str, verdict: Verdict, *, source: str = ""):
    """Display the claim box in a notebook and return the verdict (for glue and tests)."""
    from IPython.display import Markdown, display

    display(Markdown(claim_box(claim, verdict, source=source)))
    return verdict


def weakest_verdict(verdicts):
    """The weakest of several verdicts (for a claim that needs all of
    them): not supported < inconclusive < supported; between equal verdicts, the one whose
    interval lies closest to zero relative to its width (lower |mid| / half-width)."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("The 'verdicts' parameter of weakest_verdict must hold at least one verdict. Got none.")
    order = {NOT_SUPPORTED: 0, INCONCLUSIVE: 1, SUPPORTED: 2}

    def margin(v):
        inputs = v.inputs or {}
        low, high = inputs.get("low", math.nan), inputs.get("high", math.nan)
        if not (math.isfinite(low) and math.isfinite(high)) or high == low:
            return -math.inf
        return abs(low + high) / (high - low)

    return min(verdicts, key=lambda v: (order[v.verdict], margin(v)))
