"""The reproduction report: one row per claim, its status derived from saved results.

:func:`reproduction_table` joins the registry of claims (``ntkbook.claims.registry.CLAIMS``) with
the records the chapters saved for one profile. Every status is derived again from the
saved rule inputs (``ntkbook.claims.registry.derived_status``); a record whose saved verdict
disagrees with what its inputs give, or whose rule cannot be applied, raises
:class:`ReportError` instead of being shown.

:func:`chapter_timings` reads the wall time of every executed chapter from the stamps
the runner writes beside the executed chapters, for the page on running the book at scale.
Like the rest of the claims layer, this module never asks where the repository is: the
caller passes the folders.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ntkbook._io import read_json
from ntkbook.claims.registry import CLAIMS, NOT_RUN, STATUS, derived_status, load_records

STATUS_ORDER = ["reproduced", "not reproduced", "inconclusive", "vacuous", NOT_RUN]


class ReportError(ValueError):
    """A saved record from which no status can be derived."""


def reproduction_table(profile: str, results_dir=None) -> pd.DataFrame:
    """One row per claim: id, kind, claim, chapter, source, profile, seeds, measured, status.

    ``results_dir`` is the folder holding ``claims/PROFILE/`` (see
    :func:`ntkbook.claims.registry.load_records` for the default).

    Raises
    ------
    ReportError
        When a record is not valid JSON (truncated), names an unknown claim, cannot be
        re-derived from its inputs, or carries a verdict that its own inputs do not give
        (a hand-edited record).
    """
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
            status = derived_status(record)
        except (KeyError, TypeError, ValueError) as err:
            raise ReportError(f"The status of claim {claim.id!r} cannot be derived from its saved record: {err}") from err
        if record is not None and STATUS[record["verdict"]] != status:
            raise ReportError(
                f"The saved verdict of claim {claim.id!r} ({record['verdict']!r}) is not what its saved inputs give "
                f"({status!r}); the record was edited by hand or by a different rule."
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
                "rule": record["rule"] if record else "",
                "status": status,
            }
        )
    table = pd.DataFrame(rows)
    table["status"] = pd.Categorical(table["status"], categories=STATUS_ORDER)
    return table


def status_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Counts of each status, by kind of claim (paper or theory)."""
    return table.groupby(["kind", "status"], observed=False).size().unstack(fill_value=0)


def chapter_timings(executed_dir: str | Path) -> pd.DataFrame:
    """Wall time (s) and profile of the last execution of every chapter in ``executed_dir``,
    from the runner's stamps (a truncated stamp raises ``ValueError`` naming it)."""
    rows = []
    for stamp in sorted(Path(executed_dir).glob(".*.stamp.json")):
        data = read_json(stamp)
        rows.append({"chapter": stamp.name[1:].removesuffix(".stamp.json"), "profile": data.get("profile"), "seconds": data.get("seconds")})
    return pd.DataFrame(rows, columns=["chapter", "profile", "seconds"])
