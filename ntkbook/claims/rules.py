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
- :func:`one_sided_rule`: the same for an inequality against any constant ("at most c").
- :func:`threshold_rule`: a single number against a bound.
- :func:`bound_rule`: an upper bound against an observed quantity; *vacuous* when the
  bound is at least the quantity's own largest value.

Example::

    >>> v = interval_rule(estimate=-0.52, low=-0.58, high=-0.46, expected=(-0.7, -0.3))
    >>> v.verdict
    'supported'
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"
# A bound that says no more than the quantity's own range (e.g. a bound >= 1 on a loss in
# [0, 1]) holds whatever the data: it is uninformative, never evidence that the claim holds.
VACUOUS = "vacuous"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, VACUOUS)


@dataclass(frozen=True)
class Verdict:
    verdict: str  # one of VERDICTS
    rule: str  # the rule, in words, with its thresholds
    measured: str  # the measured values, in words
    rule_name: str = ""  # the function that computed it: a key of RULES
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


@_recorded
def one_sided_rule(estimate: float, low: float, high: float, *, at_most: float | None = None,
                   at_least: float | None = None, what: str = "the estimate") -> Verdict:
    """For a one-sided claim "the quantity is at most (or at least) c", judged on its interval.

    Supported when the whole interval [low, high] lies on the claimed side of c
    (``high <= at_most``, or ``low >= at_least``); not supported when it lies entirely on the
    other side; inconclusive when it contains c or is not finite. Exactly one of ``at_most``
    and ``at_least`` is given. An estimate far on the claimed side is supported, however far:
    that is what an inequality claims (compare :func:`interval_rule`, for a predicted window).
    """
    if (at_most is None) == (at_least is None):
        raise ValueError("one_sided_rule needs exactly one of 'at_most' and 'at_least'.")
    bound, side = (at_most, "at most") if at_most is not None else (at_least, "at least")
    rule = (
        f"supported if the 95 % interval of {what} lies entirely {'below' if at_most is not None else 'above'} "
        f"{bound:g} (the claim: {what} is {side} {bound:g}), not supported if it lies entirely on the other side, "
        f"inconclusive if it contains {bound:g}"
    )
    measured = f"{what} = {estimate:.3g} (95 % interval [{low:.3g}, {high:.3g}])"
    if not _finite(estimate, low, high, bound):
        return Verdict(INCONCLUSIVE, rule, measured + "; not finite")
    if at_most is not None:
        holds, fails = high <= at_most, low > at_most
    else:
        holds, fails = low >= at_least, high < at_least
    return Verdict(SUPPORTED if holds else NOT_SUPPORTED if fails else INCONCLUSIVE, rule, measured)


@_recorded
def bound_rule(bound: float, observed: float, low: float, high: float, *, trivial: float,
               what: str = "the observed value", bound_name: str = "the bound") -> Verdict:
    """For an upper bound on a quantity whose own range ends at ``trivial``.

    Vacuous when ``bound >= trivial`` (it holds whatever the data, so it says nothing);
    otherwise supported when the interval of the observed quantity lies entirely at or below
    the bound (``high <= bound``), not supported when entirely above it (``low > bound``),
    inconclusive otherwise or when not finite.
    """
    rule = (
        f"vacuous if {bound_name} >= {trivial:g} (the largest value {what} can take); otherwise supported if the "
        f"95 % interval of {what} lies at or below {bound_name}, not supported if it lies entirely above, "
        f"inconclusive otherwise"
    )
    measured = f"{bound_name} = {bound:.3g}; {what} = {observed:.3g} (95 % interval [{low:.3g}, {high:.3g}])"
    if not _finite(bound, observed, low, high, trivial):
        return Verdict(INCONCLUSIVE, rule, measured + "; not finite")
    if bound >= trivial:
        return Verdict(VACUOUS, rule, measured)
    if high <= bound:
        return Verdict(SUPPORTED, rule, measured)
    if low > bound:
        return Verdict(NOT_SUPPORTED, rule, measured)
    return Verdict(INCONCLUSIVE, rule, measured)


RULES = {"interval_rule": interval_rule, "sign_rule": sign_rule, "threshold_rule": threshold_rule,
         "one_sided_rule": one_sided_rule, "bound_rule": bound_rule}


def derive(rule_name: str, inputs: dict) -> Verdict:
    """Apply a named rule to saved inputs: how the report re-derives every status."""
    if rule_name not in RULES:
        raise ValueError(f"The 'rule_name' must be one of {sorted(RULES)}. Got {rule_name!r} instead.")
    args = dict(inputs)
    if "expected" in args:
        args["expected"] = tuple(args["expected"])
    return RULES[rule_name](**args)


# The box's admonition class for each verdict at paper scale: green, red, and amber for
# both "inconclusive" and "vacuous" (neither is evidence either way; the title says which).
BOX_CLASS = {SUPPORTED: "tip", NOT_SUPPORTED: "danger", INCONCLUSIVE: "warning", VACUOUS: "warning"}
SMOKE_PROFILE = "ci"
SMOKE_LABEL = "smoke run (ci profile): a check that the code runs, not evidence about the paper"
SMOKE_CLASS = "note"  # neutral: neither the green nor the red of a verdict
KIND_LABEL = {"paper": "", "theory": " (theory result)", "beyond": " (beyond the paper)",
              "sanity": " (sanity check of the software)"}

# The ASCII forms of math that the claims' wording (ntkbook.claims.registry.CLAIMS) and the
# rules' ``what`` texts use, and the LaTeX each box shows instead. The registry and the
# records keep the ASCII, which reads as it is in plain text (the report, the JSON records,
# a terminal); only the box, which the book renders as MyST, turns it into math. A form not
# listed here stays ASCII. Longer forms come first in the match, so "lambda_max(0)" is one
# formula, not "lambda_max" followed by "(0)".
ASCII_MATH = {
    "sqrt(2 y^T H^-1 y / n) + sqrt(log(n / (lambda_0 delta)) / n)":
        r"\sqrt{2 y^\top H^{-1} y / n} + \sqrt{\log(n / (\lambda_0 \delta)) / n}",
    "||formula - exact E_m[Theta_m]||_F / ||exact||_F":
        r"\|\text{formula} - \text{exact}\ \mathbb{E}_m[\Theta_m]\|_F / \|\text{exact}\|_F",
    "||Delta Theta||_F / ||Theta_0||_F": r"\|\Delta\Theta\|_F / \|\Theta_0\|_F",
    "||Delta Theta||_F": r"\|\Delta\Theta\|_F",
    "G <= G_0 + C sum_l alpha_l^2": r"G \le G_0 + C \sum_l \alpha_l^2",
    "sum_l alpha_l^2": r"\sum_l \alpha_l^2",
    "G - G_0": r"G - G_0",
    "0 < alpha <= 1": r"0 < \alpha \le 1",
    "exp(-eta lambda_i t / n)": r"\exp(-\eta \lambda_i t / n)",
    "1/(2n) sum r^2": r"\frac{1}{2n} \sum r^2",
    "kappa = lambda_0 delta / n": r"\kappa = \lambda_0 \delta / n",
    "0.8 (x_1 + x_2^2)": r"0.8\,(x_1 + x_2^2)",
    "Theta = J J^T": r"\Theta = J J^\top",
    "J J^T": r"J J^\top",
    "E[Theta]": r"\mathbb{E}[\Theta]",
    "alpha_l sqrt(1 - p_l)": r"\alpha_l \sqrt{1 - p_l}",
    "(1 - p_l)": r"(1 - p_l)",
    "2n / lambda_max(0)": r"2n / \lambda_{\max}(0)",
    "-lambda_min/lambda_max": r"-\lambda_{\min}/\lambda_{\max}",
    "lambda_max(0)": r"\lambda_{\max}(0)",
    "lambda_max": r"\lambda_{\max}",
    "lambda_min": r"\lambda_{\min}",
    "lambda_0": r"\lambda_0",
    "lambda_i": r"\lambda_i",
    "alpha_l = 1/sqrt(L)": r"\alpha_l = 1/\sqrt{L}",
    "alpha_l = 1": r"\alpha_l = 1",
    "alpha_l^2": r"\alpha_l^2",
    "alpha_l": r"\alpha_l",
    "alpha": r"\alpha",
    "sigma": r"\sigma",
    "p_l": r"p_l",
    "2^L": r"2^L",
    "width^(-1/2)": r"\mathrm{width}^{-1/2}",
    "width^(-1/4)": r"\mathrm{width}^{-1/4}",
    "1/width": r"1/\mathrm{width}",
    "n^(-1/2)": r"n^{-1/2}",
}
# an ASCII form counts only as a whole: not inside a word or a name (alpha_max, lambda_maxima)
_ASCII_MATH_RE = re.compile(
    r"(?<![\w\\$])(?:" + "|".join(re.escape(k) for k in sorted(ASCII_MATH, key=len, reverse=True)) + r")(?![\w^])"
)
_MATH_OR_CODE = re.compile(r"(\$[^$]*\$|`[^`]*`)")  # spans that are already math or code: left alone


def as_math(text: str) -> str:
    """``text`` with every ASCII formula of :data:`ASCII_MATH` written as MyST math.

    >>> as_math("lambda_max grows like alpha_l^2")
    '$\\lambda_{\\max}$ grows like $\\alpha_l^2$'

    Spans already in ``$...$`` or in backticks are left as they are.
    """
    parts = _MATH_OR_CODE.split(text)
    return "".join(part if i % 2 else _ASCII_MATH_RE.sub(lambda m: f"${ASCII_MATH[m.group(0)]}$", part)
                   for i, part in enumerate(parts))


def claim_box(claim: str, verdict: Verdict, *, source: str = "", kind: str = "paper", status: str | None = None,
              profile: str | None = None, paper_scale: str = "") -> str:
    """MyST markdown for the chapter's "Claim / What we measured" box.

    Display it with ``IPython.display.Markdown(claim_box(...))``; the book renders
    notebook markdown output as MyST, so the admonition shows as a box.

    ``kind`` is the claim's kind ("paper", "theory" or "sanity", see
    :mod:`ntkbook.claims.registry`) and ``status`` the word the box shows for the verdict
    (a sanity check "passed" rather than "supported"; default: the verdict itself). In the
    ``ci`` profile (``profile="ci"``) the box is labelled a smoke run and styled neutrally
    (:data:`SMOKE_CLASS`): its sizes and seeds test that the code runs, not the paper, so
    it shows the rule's output without the green or red of a verdict. Every other profile
    gets the coloured box of :data:`BOX_CLASS`.

    ``paper_scale`` is a line appended to the box (in a run below paper scale,
    :func:`ntkbook.claims.chapter.check_claim` puts there the verdict of the committed
    ``full``-profile record of the same claim). The claim, its source, the measurement and
    the rule are shown with their ASCII formulas as math (:func:`as_math`).
    """
    if kind not in KIND_LABEL:
        raise ValueError(f"The 'kind' parameter of claim_box must be one of {', '.join(KIND_LABEL)}. Got {kind!r} instead.")
    word = verdict.verdict if status is None else status
    src = f"\n\n*Claim source:* {as_math(source)}" if source else ""
    body = (f"*Claim:* {as_math(claim)}{src}\n\n*What we measured:* {as_math(verdict.measured)}.\n\n"
            f"*Rule:* {as_math(verdict.rule)}.")
    tail = f"\n\n{paper_scale}" if paper_scale else ""
    if profile == SMOKE_PROFILE:
        return (
            f":::{{admonition}} Claim / What we measured{KIND_LABEL[kind]}: {SMOKE_LABEL}\n:class: {SMOKE_CLASS}\n\n"
            f"{body}\n\n*Rule output at smoke-run size:* {word} (recorded as for any run; the `full` profile "
            f"is the one that tests the claim){tail}\n:::\n"
        )
    return (
        f":::{{admonition}} Claim / What we measured{KIND_LABEL[kind]}: **{word}**\n:class: {BOX_CLASS[verdict.verdict]}\n\n"
        f"{body}\n\n*Verdict:* **{word}**{tail}\n:::\n"
    )


def show_claim(claim: str, verdict: Verdict, *, source: str = "", kind: str = "paper", status: str | None = None,
               profile: str | None = None, paper_scale: str = ""):
    """Display the claim box in a notebook and return the verdict (for glue and tests);
    the keywords are those of :func:`claim_box`."""
    from IPython.display import Markdown, display

    display(Markdown(claim_box(claim, verdict, source=source, kind=kind, status=status, profile=profile,
                               paper_scale=paper_scale)))
    return verdict


def weakest_verdict(verdicts):
    """The weakest of several verdicts (for a claim that needs all of
    them): not supported < inconclusive = vacuous < supported; between equal verdicts, the one whose
    interval lies closest to zero relative to its width (lower |mid| / half-width)."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("The 'verdicts' parameter of weakest_verdict must hold at least one verdict. Got none.")
    order = {NOT_SUPPORTED: 0, VACUOUS: 1, INCONCLUSIVE: 1, SUPPORTED: 2}

    def margin(v):
        inputs = v.inputs or {}
        low, high = inputs.get("low", math.nan), inputs.get("high", math.nan)
        if not (math.isfinite(low) and math.isfinite(high)) or high == low:
            return -math.inf
        return abs(low + high) / (high - low)

    return min(verdicts, key=lambda v: (order[v.verdict], margin(v)))
