"""Figures and tables of the reproduction report: the status-count bars, the coloured
status badges and the report's HTML table.

The badges carry their colours as inline styles (from :data:`STATUS_COLORS`, the same
colours as the bars), so they read the same in the book, in Jupyter and in the intro's
findings table, which ``ntkbook book`` writes with :func:`status_badge`. The class names
``ntkbook-status``, ``ntkbook-report`` leave room for the book's stylesheet to refine them.

These functions read the report's table (``ntkbook.claims.report.reproduction_table``)
by its column names; they never import the claims layer.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import pandas as pd

# Paper claims and theory results are reproduced or not (green / orange); open questions
# beyond the paper hold or do not hold (a yellow-green and a brown); sanity checks pass or
# fail, in a blue and a purple of their own, so that a passed check or an answered question
# never reads as a reproduced claim; inconclusive and vacuous are both uninformative (amber,
# and a paler amber); not run is grey.
STATUS_COLORS = {
    "reproduced": "#1b9e77",
    "not reproduced": "#d95f02",
    "holds": "#66a61e",
    "does not hold": "#a6761d",
    "passed": "#4c78a8",
    "failed": "#7570b3",
    "inconclusive": "#e6ab02",
    "vacuous": "#f3d98b",
    "not run in this profile": "#999999",
}
DARK_TEXT = {"inconclusive", "vacuous"}  # light badges: dark text, for contrast
SHORT_LABELS = {"not run in this profile": "not run"}  # what a badge shows, where shorter than the status


def plot_status_counts(counts: pd.DataFrame, *, ax):
    """Horizontal stacked bars: for each row of ``counts`` (a kind of claim, or the paper
    claims before and after Holm's correction), how many claims have each status.

    Statuses no row has are left out of the legend; the first row is drawn at the top.
    """
    counts = counts.loc[:, [c for c in counts.columns if counts[c].sum() > 0]]
    labels = [str(i) for i in counts.index][::-1]
    left = pd.Series(0.0, index=labels)
    for status in counts.columns:
        values = pd.Series(counts[status].astype(float).to_numpy()[::-1], index=labels)
        ax.barh(labels, values, left=left, color=STATUS_COLORS.get(str(status), None), label=str(status))
        left = left + values
    ax.set_xlabel("number of claims")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def status_badge(status, count: int | None = None) -> str:
    """An HTML badge for ``status``: its short word on its colour (``count`` after it, when
    given). An unknown status gets a grey badge rather than an error."""
    status = str(status)
    color = STATUS_COLORS.get(status, "#999999")
    text = "#222" if status in DARK_TEXT else "#fff"
    label = html.escape(SHORT_LABELS.get(status, status)) + ("" if count is None else f"&nbsp;{int(count)}")
    slug = status.replace(" ", "-")
    return (f'<span class="ntkbook-status ntkbook-status-{slug}" style="background:{color};color:{text};'
            f'border-radius:0.8em;padding:0.05em 0.6em;font-size:0.85em;font-weight:600;white-space:nowrap">'
            f"{label}</span>")


def summary_html(summary: Mapping[str, Mapping[str, int]], kind_names: Mapping[str, str]) -> str:
    """The counts a report opens with: for each kind, its name, its number of claims and a
    badge per status with how many claims have it. ``summary`` is
    ``ntkbook.claims.report.kind_summary``'s ``{kind: {"total": n, status: count, ...}}``."""
    rows = []
    for kind, counts in summary.items():
        badges = " ".join(status_badge(s, n) for s, n in counts.items() if s != "total")
        rows.append(f"<li><strong>{html.escape(kind_names.get(kind, kind))}</strong> ({counts['total']}): {badges}</li>")
    return f'<ul class="ntkbook-report-counts" style="list-style:none;padding-left:0">{"".join(rows)}</ul>'


def _seeds(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(int(value))


def _p(value) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.2g}"


def report_html(table: pd.DataFrame, chapters: Mapping[str, tuple[str, str]] | None = None) -> str:
    """The report's table of the claims in ``table`` as HTML, one row group per chapter.

    ``table`` has the columns of ``ntkbook.claims.report.reproduction_table`` (rows in the
    order to show, e.g. ``grouped``). ``chapters`` maps a chapter's stem to its title and the
    address of its page (``{"06_eigenvalue_control": ("Eigenvalue control", "06_eigenvalue_control.html")}``);
    a chapter it does not name is shown by its stem, without a link.

    Each row shows the status after Holm's correction as a badge, with the raw status below
    it where the correction changed it; the claim, with what was measured (and each model's
    own metric, and the claim's id) folded away below it; the seeds as an integer; and the
    raw and adjusted p-values, or the reason there are none.
    """
    chapters = chapters or {}
    head = ("<thead><tr><th style='width:9.5em'>status</th><th>claim</th>"
            "<th style='width:3.5em'>seeds</th><th style='width:7em'>p (raw / Holm)</th></tr></thead>")
    body, current = [], None
    for row in table.itertuples(index=False):
        if row.chapter != current:
            current = row.chapter
            title, href = chapters.get(row.chapter, (row.chapter, ""))
            name = f'<a href="{html.escape(href)}">{html.escape(title)}</a>' if href else html.escape(title)
            body.append(f'<tr class="ntkbook-report-chapter"><th colspan="4" style="text-align:left;'
                        f'background:rgba(127,127,127,0.12)">{name}</th></tr>')
        status = status_badge(row.adjusted)
        if str(row.status) != str(row.adjusted):
            status += f'<br><small>raw: {status_badge(row.status)}</small>'
        details = [html.escape(row.measured)] if row.measured else []
        if row.models:
            details.append(f"each model: {html.escape(row.models)}")
        details.append(f"id: <code>{html.escape(row.id)}</code>")
        measured = (f"<details><summary><small>what was measured</small></summary><small>{'<br>'.join(details)}"
                    "</small></details>" if row.measured else f"<br><small>id: <code>{html.escape(row.id)}</code></small>")
        if math.isfinite(row.p_value):
            p = f"{_p(row.p_value)} / {_p(row.p_holm)}" if math.isfinite(row.p_holm) else _p(row.p_value)
        else:
            p = f"<small>{html.escape(row.test)}</small>" if row.measured else ""
        body.append(f"<tr><td>{status}</td><td>{html.escape(row.claim)}{measured}</td>"
                    f"<td>{_seeds(row.seeds)}</td><td>{p}</td></tr>")
    return (f'<div class="ntkbook-report" style="overflow-x:auto"><table style="table-layout:fixed;width:100%;'
            f'min-width:30em;font-size:0.85em">{head}<tbody>{"".join(body)}</tbody></table></div>')
