"""The reproduction report: one row per claim, its status derived from saved results.

:func:`reproduction_table` joins the registry of claims (``ntkbook.claims.registry.CLAIMS``) with
the records the chapters saved for one profile. Every status is derived again from the
saved rule inputs (as ``ntkbook.claims.registry.derived_status`` does); a record whose saved verdict
disagrees with what its inputs give, or whose rule cannot be applied, raises
:class:`ReportError` instead of being shown. The kind of each claim (paper claim, theory
result, open question beyond the paper, sanity check) comes from the registry, never from
the record, so records saved before kinds existed read the same as new ones; a sanity
check *passes* or *fails* and an open question *holds* or *does not hold*: neither is ever
counted as *reproduced*.

Multiplicity: the book tests many of the paper's claims, and at the 5 % level some would
come out significant by chance alone. The report therefore applies Holm's step-down
correction (:func:`ntkbook.stats.holm`) across the **paper claims whose record carries a
p-value** (the p-value of the test behind the verdict, saved by
``check_claim(..., p_value=...)``), and shows both statuses:

- ``status``: what the claim's own rule says (the *raw* status);
- ``adjusted``: the status after the correction. A paper claim whose raw status is
  *reproduced* or *not reproduced* becomes *inconclusive* when its Holm-adjusted p-value
  exceeds :data:`HOLM_LEVEL` (0.05); every other status is kept. A paper claim without a
  p-value (its verdict rests on no single test, or its record predates p-values) keeps its
  status and reads "no test"; theory results and sanity checks are outside the family and
  keep theirs ("not adjusted").

The family is the set of paper claims with a p-value *in the profile being reported*, so
a profile that ran fewer claims corrects over fewer tests.

:func:`grouped` orders the rows as a reader scans them (by kind, then chapter) and
:func:`kind_summary` gives the counts a summary opens with; the HTML of the report and its
status badges are drawn by :mod:`ntkbook.plots.report`.

:func:`chapter_timings` reads the wall time of every executed chapter from the stamps
the runner writes beside the executed chapters, for the page on running the book at scale.
Like the rest of the claims layer, this module never asks where the repository is: the
caller passes the folders.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ntkbook._io import read_json
from ntkbook.claims.registry import (
    CLAIMS,
    FAILED,
    KINDS,
    BEYOND,
    DOES_NOT_HOLD,
    HOLDS,
    NOT_REPRODUCED,
    NOT_RUN,
    PAPER,
    PASSED,
    REPRODUCED,
    SANITY,
    THEORY,
    load_records,
    status_of,
)
from ntkbook.claims.rules import INCONCLUSIVE, VACUOUS
from ntkbook.stats import holm

STATUS_ORDER = [REPRODUCED, NOT_REPRODUCED, HOLDS, DOES_NOT_HOLD, PASSED, FAILED, INCONCLUSIVE, VACUOUS, NOT_RUN]
HOLM_LEVEL = 0.05  # the family-wise error rate the adjusted statuses control (the 95 % of the intervals)
NO_TEST = "no test"
NOT_ADJUSTED = "not adjusted"
KIND_NAMES = {PAPER: "paper claims", THEORY: "theory results", BEYOND: "open questions (beyond the paper)", SANITY: "sanity checks"}


class ReportError(ValueError):
    """A saved record from which no status can be derived."""


def _p_value(claim_id: str, record: dict | None) -> float:
    """The record's p-value, NaN when it has none (no test, or an older record)."""
    if record is None or record.get("p_value") is None:
        return math.nan
    p = record["p_value"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ReportError(f"The saved p-value of claim {claim_id!r} must be a number in [0, 1] or null. Got {p!r} instead.")
    return float(p)


def _models(record: dict | None) -> str:
    """Each model's own metric with its interval, from ``values["models"]`` (empty when not kept)."""
    models = (record or {}).get("values", {}).get("models") if isinstance((record or {}).get("values"), dict) else None
    if not isinstance(models, dict):
        return ""

    def number(x):
        return "nan" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3g}"

    parts = [f"{name}: {number(m.get('mean'))} [{number(m.get('low'))}, {number(m.get('high'))}]" for name, m in models.items()]
    metrics = {m.get("metric") for m in models.values()}
    head = f"{metrics.pop()}: " if len(metrics) == 1 else ""
    return head + "; ".join(parts)


def adjusted_status(status: str, p_holm: float, level: float = HOLM_LEVEL) -> str:
    """The status after Holm's correction: *reproduced* or *not reproduced* becomes
    *inconclusive* when the adjusted p-value exceeds ``level``; anything else (and a NaN
    p-value: no test) is kept."""
    if status in (REPRODUCED, NOT_REPRODUCED) and math.isfinite(p_holm) and p_holm > level:
        return INCONCLUSIVE
    return status


def reproduction_table(profile: str, results_dir=None) -> pd.DataFrame:
    """One row per claim: id, kind, claim, chapter, source, profile, seeds, measured,
    models, rule, status, p_value, p_holm, adjusted, test.

    ``status`` is the raw status from the claim's rule; ``adjusted`` the status after
    Holm's correction over the paper claims with a p-value (module docstring); ``p_value``
    and ``p_holm`` are NaN where there is no test (or the claim is not a paper claim, for
    ``p_holm``); ``test`` says which in words. ``models`` shows each model's own metric
    with its interval where the chapter kept it. ``results_dir`` is the folder holding
    ``claims/PROFILE/`` (see :func:`ntkbook.claims.registry.load_records` for the default).

    Raises
    ------
    ReportError
        When a record is not valid JSON (truncated), names an unknown claim, cannot be
        re-derived from its inputs, carries a verdict that its own inputs do not give
        (a hand-edited record), or a p-value outside [0, 1].
    """
    from ntkbook.claims.rules import derive

    try:
        records = load_records(profile, results_dir)
    except ValueError as err:
        raise ReportError(str(err)) from None
    unknown = sorted(set(records) - set(CLAIMS))
    if unknown:
        raise ReportError(f"Saved records name claims that are not in ntkbook.claims.registry.CLAIMS: {unknown}.")
    rows = []
    for claim in CLAIMS.values():
        record = records.get(claim.id)
        try:
            rederived = derive(record["rule_name"], record["inputs"]).verdict if record is not None else None
            status = NOT_RUN if record is None else status_of(rederived, claim.kind)
        except (KeyError, TypeError, ValueError) as err:
            raise ReportError(f"The status of claim {claim.id!r} cannot be derived from its saved record: {err}") from err
        if record is not None and record.get("verdict") != rederived:
            raise ReportError(
                f"The saved verdict of claim {claim.id!r} ({record.get('verdict')!r}) is not what its saved inputs give "
                f"({rederived!r}); the record was edited by hand or by a different rule."
            )
        rows.append(
            {
                "id": claim.id,
                "kind": claim.kind,
                "claim": claim.text,
                "chapter": claim.chapter,
                "source": claim.source,
                "profile": record["profile"] if record else profile,
                "seeds": record["seeds"] if record else None,
                "measured": record["measured"] if record else "",
                "models": _models(record),
                "rule": record["rule"] if record else "",
                "status": status,
                "p_value": _p_value(claim.id, record),
            }
        )
    table = pd.DataFrame(rows)
    table["seeds"] = table["seeds"].astype("Int64")  # a count: "10", never "10.0" (missing where not run)
    family = (table.kind == PAPER) & table.p_value.notna()
    table["p_holm"] = np.nan
    if family.any():
        table.loc[family, "p_holm"] = holm(table.loc[family, "p_value"].to_numpy())
    table["adjusted"] = [adjusted_status(s, p) for s, p in zip(table.status, table.p_holm)]
    table["test"] = [
        NOT_ADJUSTED if kind != PAPER else NO_TEST if not math.isfinite(p) else f"Holm over {int(family.sum())}"
        for kind, p in zip(table.kind, table.p_value)
    ]
    for column in ("status", "adjusted"):
        table[column] = pd.Categorical(table[column], categories=STATUS_ORDER)
    return table


def format_p(p: float, test: str) -> str:
    """A p-value for the table: three significant digits, or the ``test`` words where there is none."""
    return test if p is None or not math.isfinite(p) else f"{p:.3g}"


def status_counts(table: pd.DataFrame, column: str = "status") -> pd.DataFrame:
    """Counts of each status (``column``: "status" raw, or "adjusted"), one row per kind in
    the order of :data:`KINDS` (paper, theory, beyond, sanity)."""
    counts = table.groupby(["kind", column], observed=False).size().unstack(fill_value=0)
    return counts.reindex(index=[k for k in KINDS if k in counts.index], columns=STATUS_ORDER, fill_value=0)


def summary_counts(table: pd.DataFrame) -> pd.DataFrame:
    """The report's figure data: one row each for the paper claims (raw), the paper claims
    after Holm's correction, the theory results and the sanity checks; one column per status."""
    raw, adjusted = status_counts(table, "status"), status_counts(table, "adjusted")
    rows = {}
    for kind in KINDS:
        if kind not in raw.index:
            continue
        if kind == PAPER:
            rows[f"{KIND_NAMES[kind]} (raw)"] = raw.loc[kind]
            rows[f"{KIND_NAMES[kind]} (Holm-adjusted)"] = adjusted.loc[kind]
        else:
            rows[KIND_NAMES[kind]] = raw.loc[kind]
    return pd.DataFrame(rows).T.reindex(columns=STATUS_ORDER, fill_value=0)


def grouped(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``table`` in the order a reader scans them: by kind (:data:`KINDS`: paper
    claims, theory results, open questions, sanity checks), then by chapter in the order the
    book reaches them (the registry's order), then as the registry lists them."""
    chapters = list(dict.fromkeys(c.chapter for c in CLAIMS.values()))
    keys = pd.DataFrame({
        "kind": [KINDS.index(k) for k in table.kind],
        "chapter": [chapters.index(c) if c in chapters else len(chapters) for c in table.chapter],
        "row": range(len(table)),
    }, index=table.index)
    return table.loc[keys.sort_values(["kind", "chapter", "row"]).index]


def kind_summary(table: pd.DataFrame, column: str = "adjusted") -> dict[str, dict[str, int]]:
    """For each kind present in ``table`` (in :data:`KINDS` order), the number of claims of
    each status in ``column`` that at least one claim has, in :data:`STATUS_ORDER`, with
    their total under ``"total"``: the counts the report and the book's intro open with,
    such as ``{"paper": {"total": 27, "reproduced": 9, ...}, "theory": {...}, ...}``."""
    counts = status_counts(table, column)
    out = {}
    for kind in counts.index:
        row = counts.loc[kind]
        out[kind] = {"total": int(row.sum()), **{str(s): int(n) for s, n in row.items() if n > 0}}
    return out


def chapter_timings(executed_dir: str | Path) -> pd.DataFrame:
    """Wall time (s) and profile of the last execution of every chapter in ``executed_dir``,
    from the runner's stamps (a truncated stamp raises ``ValueError`` naming it)."""
    rows = []
    for stamp in sorted(Path(executed_dir).glob(".*.stamp.json")):
        data = read_json(stamp)
        rows.append({"chapter": stamp.name[1:].removesuffix(".stamp.json"), "profile": data.get("profile"), "seconds": data.get("seconds")})
    return pd.DataFrame(rows, columns=["chapter", "profile", "seconds"])
