"""The one call a chapter makes to check a claim.

A chapter computes a :class:`~ntkbook.claims.rules.Verdict` with a rule of
:mod:`ntkbook.claims.rules` and hands it to :func:`check_claim` with the claim's id. The
call then does the four things every claim needs, always the same way:

1. looks the claim up in :data:`ntkbook.claims.registry.CLAIMS`, the one place its
   wording and source are written (an unknown id fails before anything is shown);
2. saves the record with :func:`ntkbook.claims.registry.record_claim`, which writes only
   in a canonical run of the chapter (an ad-hoc run shows the box and saves nothing);
3. shows the "Claim / What we measured" box (:func:`ntkbook.claims.rules.show_claim`),
   its formulas as math, and, in a run below paper scale, the paper-scale verdict
   (:func:`paper_scale_line`);
4. glues the verdict for the chapter's prose, by default as ``verdict_<claim_id>``.

**The paper-scale verdict.** A box of a ``ci`` run (any profile but ``full``) ends with the
verdict of the committed ``full``-profile record of the same claim, derived again from its
saved inputs as the report derives it, with the commit that record was committed in:
"Paper-scale verdict (full profile, commit abc1234): **reproduced**". The records are read
with :func:`ntkbook.claims.registry.load_records` from the folder that holds
``claims/full/``: the ``paper_scale_dir`` argument, else ``$NTKBOOK_PAPER_SCALE_DIR``
(:data:`PAPER_SCALE_DIR_ENV`), which the pipeline sets for every run it makes (to
``book/measured``). Like :mod:`ntkbook.claims.registry`, this module never asks where the
repository is: a run that is given neither (plain papermill, a copy of the notebook
elsewhere) shows no such line. A claim with no full-profile record says so. At the
``full`` profile the box itself is the paper-scale verdict and gets no extra line.

Example::

    verdict = check_claim(
        "ntk_psd",
        threshold_rule(worst, at_most=tolerance, what="max(asymmetry, -lambda_min/lambda_max)"),
        profile=profile, seeds=1, values={"asymmetry": asymmetry},
        glue_as="verdict_psd",  # the prose says {glue:text}`verdict_psd`
    )

A comparison passes the p-value of its test (for the report's Holm correction) and each
model's own metric with its interval (:func:`model_metrics`, re-exported here)::

    test = corrected_resampled_t(mse_ecrn - mse_mlp, n_train, n_test)
    check_claim(
        "uci_boston_vs_mlp",
        sign_rule(test.mean_difference, test.ci_low, test.ci_high, expect="negative", what="MSE(ECRN) - MSE(MLP)"),
        profile=profile, seeds=n_splits, p_value=test.p_value,
        values=model_metrics("test MSE", {"ECRN": t_interval(mse_ecrn), "MLP": t_interval(mse_mlp)}),
    )
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from ntkbook.claims.registry import CLAIMS, Claim, derived_status, load_records, model_metrics, record_claim, status_of
from ntkbook.claims.rules import Verdict, as_math, show_claim

__all__ = ["check_claim", "get_claim", "model_metrics", "paper_scale_line"]

PAPER_SCALE_PROFILE = "full"  # the profile whose records are the paper-scale verdicts
PAPER_SCALE_DIR_ENV = "NTKBOOK_PAPER_SCALE_DIR"  # the folder holding claims/full/: set by the pipeline


def get_claim(claim_id: str) -> Claim:
    """The registered claim ``claim_id``; a ValueError names the unknown id and the known ones."""
    if not isinstance(claim_id, str) or claim_id not in CLAIMS:
        raise ValueError(
            f"The 'claim_id' parameter of check_claim must be one of the ids in ntkbook.claims.registry.CLAIMS "
            f"({', '.join(sorted(CLAIMS))}). Got {claim_id!r} instead."
        )
    return CLAIMS[claim_id]


def _commit_of(path: Path) -> str:
    """The short hash of the commit that last changed ``path``, "uncommitted" when its
    content differs from that commit's, "" when git cannot say (no git, no repository)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(path.parent), *args, "--", path.name], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()

    try:
        commit = git("log", "-1", "--format=%h")
        changed = git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return ""
    if changed or not commit:
        return "uncommitted"
    return commit


def paper_scale_line(claim_id: str, profile: str, paper_scale_dir=None) -> str:
    """The line a box below paper scale adds: the verdict of the ``full``-profile record of
    ``claim_id`` (see "The paper-scale verdict" above); "" at the ``full`` profile or when
    no folder of records is known.

    ``paper_scale_dir`` is the folder holding ``claims/full/ID.json`` (default:
    ``$NTKBOOK_PAPER_SCALE_DIR``).
    """
    get_claim(claim_id)
    if profile == PAPER_SCALE_PROFILE:
        return ""
    folder = paper_scale_dir if paper_scale_dir is not None else os.environ.get(PAPER_SCALE_DIR_ENV)
    if not folder:
        return ""
    folder = Path(folder)
    if not (folder / "claims" / PAPER_SCALE_PROFILE).is_dir():
        return "*Paper-scale verdict:* no full-profile records yet (`ntkbook book --profile full` makes them)."
    record = load_records(PAPER_SCALE_PROFILE, results_dir=folder).get(claim_id)
    if record is None:
        return "*Paper-scale verdict:* this claim has no full-profile record yet (`ntkbook book --profile full` makes it)."
    commit = record.get("commit") or _commit_of(folder / "claims" / PAPER_SCALE_PROFILE / f"{claim_id}.json")
    where = f"full profile, commit {commit}" if commit and commit != "uncommitted" else (
        "full profile, not yet committed" if commit else "full profile")
    measured = f" ({as_math(record['measured'])})" if record.get("measured") else ""
    return f"*Paper-scale verdict ({where}):* **{derived_status(record)}**{measured}"


def check_claim(
    claim_id: str,
    verdict: Verdict,
    *,
    profile: str,
    seeds: int,
    values: dict[str, Any] | None = None,
    p_value: float | None = None,
    glue_as: str | None = None,
    note: str = "",
    paper_scale_dir=None,
) -> Verdict:
    """Show, record and glue the check of a registered claim; returns ``verdict``.

    Parameters
    ----------
    claim_id : str
        An id of :data:`ntkbook.claims.registry.CLAIMS`; the box takes the claim's wording
        (its text and, when the chapter tests a narrower form, "(tested as: ...)") and its
        source from there.
    verdict : Verdict
        The output of a rule of :mod:`ntkbook.claims.rules` (it carries the rule's inputs,
        from which the report derives the status again).
    profile : str
        The profile of this run. In the ``ci`` profile the box is labelled a smoke run
        ("a check that the code runs, not evidence about the paper") and styled
        neutrally; the verdict is computed, recorded and glued the same way in every
        profile.
    seeds : int
        The number of seeds behind the verdict.
    values : dict, optional
        Measured numbers the report should keep beside the verdict. By convention a
        comparison puts each model's own metric with its interval under ``"models"``,
        built by :func:`ntkbook.claims.registry.model_metrics`; the report shows them.
    p_value : float, optional
        The p-value of the test behind the verdict, when there is one (e.g. the one-sided
        p-value of a corrected resampled t-test, a paired bootstrap or McNemar's test). It
        is saved in the record; the report adjusts the p-values of the paper's claims with
        Holm's correction (:func:`ntkbook.stats.holm`). None (the default) means the
        verdict rests on no single test, and the report says "no test".
    glue_as : str, optional
        The name under which the verdict word is glued; default ``verdict_<claim_id>``.
    note : str, optional
        Words about this run appended to the source in the box (e.g. which variant of a
        data set it used); they are not part of the claim's wording.
    paper_scale_dir : path, optional
        The folder holding ``claims/full/``, whose record of this claim a box below paper
        scale quotes (:func:`paper_scale_line`); default ``$NTKBOOK_PAPER_SCALE_DIR``.

    Returns
    -------
    Verdict
        ``verdict`` itself, so a chapter can go on using it.
    """
    claim = get_claim(claim_id)
    if not isinstance(verdict, Verdict):
        raise TypeError(f"The 'verdict' parameter of check_claim must be a Verdict computed by a rule of ntkbook.claims.rules. Got {type(verdict).__name__} instead.")
    name = f"verdict_{claim_id}" if glue_as is None else glue_as
    if not isinstance(name, str) or not name:
        raise ValueError(f"The 'glue_as' parameter of check_claim must be a non-empty string or None. Got {glue_as!r} instead.")
    # record first: a verdict no rule computed is refused before a box is shown for it;
    # outside a canonical run record_claim saves nothing and returns None
    record_claim(claim_id, verdict, profile=profile, seeds=seeds, values=values, p_value=p_value)
    source = f"{claim.source}; {note}" if note else claim.source
    show_claim(claim.wording, verdict, source=source, kind=claim.kind, status=status_of(verdict.verdict, claim.kind),
               profile=profile, paper_scale=paper_scale_line(claim_id, profile, paper_scale_dir))

    from myst_nb import glue

    glue(name, verdict.verdict, display=False)
    return verdict
