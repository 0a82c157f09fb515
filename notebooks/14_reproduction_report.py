# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: ntkbook
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   ntkbook:
#     depends_on:
#     - results/claims/{profile}/*.json
#     - book/measured/claims/full/*.json
# ---

# %% tags=["remove-cell"]
# ntkbook install cell: written by `python -m ntkbook.pipeline.colab` (do not edit by hand)
# Installs the book's package where it is missing (Colab); does nothing where ntkbook is importable.
import importlib
import importlib.util
import subprocess
import sys

NTKBOOK_REPOSITORY = "https://github.com/ntkbook/ntkbook"
if importlib.util.find_spec("ntkbook") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    f"ntkbook[book] @ git+{NTKBOOK_REPOSITORY}"], check=True)
    importlib.invalidate_caches()

# This chapter reads files of the repository: opened alone, it clones them beside itself.
import os

from ntkbook.pipeline import paths

if paths.find_root() is None:
    if not os.path.isdir("ntkbook-repository"):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", NTKBOOK_REPOSITORY, "ntkbook-repository"], check=True)
    paths.use_root("ntkbook-repository")  # also exported as NTKBOOK_ROOT, for the kernels this chapter starts

# %% [markdown]
# (chapter-reproduction-report)=
# # Reproduction report
#
# ## Overview
#
# Each chapter of this book ends its main result in a *Claim / What we measured* box and
# saves what it measured, together with the rule that turned the measurement into a
# verdict and, where one test stands behind the verdict, that test's p-value. This chapter
# collects those records into one table: one row per claim of the paper
# {cite}`mysore2025ntkecrn`, per theory result of part I, and per sanity check of the
# software.
#
# In this chapter we will
#
# * count, for each kind of claim, how many have each status at paper scale,
# * list every claim, grouped by kind and by the chapter that tests it (each chapter's name
#   links to its page), with its status as a coloured badge, what was measured, the seeds
#   and the p-values,
# * derive every status again from the saved rule inputs (never from a typed word),
# * correct the paper's claims for multiplicity with Holm's method {cite}`holm1979simple` and show the status
#   before and after the correction, and
# * compare this run's statuses with the paper-scale ones.
#
# **Four kinds of claim.** A *paper claim* is something the paper asserts about the ECRN
# or its benchmarks. A *theory result* is a published result the paper rests on (Jacot et
# al., Lee et al., Arora et al.). An *open question* is one the paper leaves open and the
# part "Beyond the paper" answers. A *sanity check* is a property any correct
# implementation has whatever the paper says, such as the empirical NTK being positive
# semi-definite: it tests our software, not the paper, so it is never counted as
# reproduced. The kind of each claim is written once, in `ntkbook.claims.registry.CLAIMS`;
# the report takes it from there, not from the saved record.
#
# **Statuses.** For a paper claim or a theory result: *reproduced* (the rule says
# supported), *not reproduced* (the rule says not supported). For an open question:
# *holds* or *does not hold*. For a sanity check: *passed* or *failed*. For every kind: *inconclusive* (the interval straddles the side or
# range the claim predicts), *vacuous* (a bound that cannot fail, because it is at least
# the largest value the bounded quantity can take; it is uninformative, not evidence that
# the claim holds), and *not run in this profile* (no chapter saved a record for it).

# %% tags=["hide-input"]
from IPython.display import HTML, display

from ntkbook.claims.registry import BEYOND, KIND_STATUS, KINDS, NOT_RUN, PAPER, SANITY, THEORY
from ntkbook.claims.report import HOLM_LEVEL, KIND_NAMES, grouped, kind_summary, reproduction_table, summary_counts
from ntkbook.claims.rules import SMOKE_LABEL, SMOKE_PROFILE
from ntkbook.pipeline.paths import ROOT, SNAPSHOT_PROFILE, records_root
from ntkbook.pipeline.site import chapter_pages
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.glue import glue_values
from ntkbook.plots.report import plot_status_counts, report_html, summary_html

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner); the report reads that profile's records
measured_dir = "book/measured"  # str: full-profile records saved with the book (from runs made while it was written)

# %% [markdown]
# (report-at-a-glance)=
# ## At a glance
#
# The records below were saved by the `full`-profile runs of the chapters, the paper-scale
# runs that the published book shows, and are kept with the book in `book/measured/`.
# `reproduction_table` joins them with the registry of claims and derives each status from
# the record's saved rule inputs; a record whose saved verdict disagrees with its own
# inputs stops the report with an error rather than being shown. A paper claim's status is
# counted after the multiplicity correction explained {ref}`below <report-multiplicity>`.

# %% tags=["hide-input"]
measured = grouped(reproduction_table("full", results_dir=ROOT / measured_dir))
chapters = chapter_pages()  # stem -> (title, address of its page), for the links
display(HTML(summary_html(kind_summary(measured), KIND_NAMES)))


# %% tags=["remove-cell"]
def kind_counts(frame, column, prefix):
    """Glue-ready counts ``PREFIX_KIND_STATUS`` of each kind and each status it can take."""
    out = {}
    for kind in KINDS:
        rows = frame[frame.kind == kind]
        for status in [*dict.fromkeys(KIND_STATUS[kind].values()), NOT_RUN]:
            out[f"{prefix}_{kind}_{status.replace(' ', '_')}"] = int((rows[column] == status).sum())
        out[f"{prefix}_n_{kind}"] = len(rows)
    return out


def holm_summary(frame, prefix):
    """How many paper claims carry a p-value, and how many the correction turns inconclusive."""
    paper = frame[frame.kind == PAPER]
    changed = paper[paper.status.astype(str) != paper.adjusted.astype(str)]
    return {f"{prefix}_n_tests": int(paper.p_value.notna().sum()), f"{prefix}_n_no_test": int(paper.p_value.isna().sum()),
            f"{prefix}_n_changed": len(changed),
            f"{prefix}_changed_ids": ", ".join(changed.id) if len(changed) else "none"}


full = {**kind_counts(measured, "status", "full"), **kind_counts(measured, "adjusted", "full_adj"),
        **holm_summary(measured, "full")}
glue_values(full, n_claims=len(measured), holm_level=HOLM_LEVEL)

# %% [markdown]
# The book checks {glue:text}`n_claims` claims. At paper scale, of the
# {glue:text}`full_n_paper` paper claims {glue:text}`full_paper_reproduced` are reproduced,
# {glue:text}`full_paper_not_reproduced` are not reproduced,
# {glue:text}`full_paper_inconclusive` are inconclusive, {glue:text}`full_paper_vacuous` are
# vacuous and {glue:text}`full_paper_not_run_in_this_profile` have no saved record, as their
# own rules judge them. {glue:text}`full_n_tests` of them carry a p-value and
# {glue:text}`full_n_no_test` read "no test"; after Holm's correction
# {glue:text}`full_adj_paper_reproduced` are reproduced,
# {glue:text}`full_adj_paper_not_reproduced` not reproduced and
# {glue:text}`full_adj_paper_inconclusive` inconclusive (changed by the correction:
# {glue:text}`full_changed_ids`). Of the {glue:text}`full_n_theory` theory results,
# {glue:text}`full_theory_reproduced` are reproduced and
# {glue:text}`full_theory_not_run_in_this_profile` have no record; of the
# {glue:text}`full_n_beyond` open questions, {glue:text}`full_beyond_holds` hold,
# {glue:text}`full_beyond_does_not_hold` do not and
# {glue:text}`full_beyond_not_run_in_this_profile` have no record. The
# {glue:text}`full_n_sanity` sanity checks: {glue:text}`full_sanity_passed` passed and
# {glue:text}`full_sanity_failed` failed; a passed check adds to no count of reproduced
# claims.
#
# ## The claims at paper scale
#
# One table per kind, one block per chapter (its name links to the chapter). The badge is
# the status after Holm's correction, with the raw status of the claim's own rule beside it
# where the correction changed it. "What was measured" unfolds what the chapter's rule
# judged, each model's own metric with its interval where the chapter kept them, and the
# claim's id.
# The last column gives the raw and the Holm-adjusted p-value, or says why there is none:
# "no test" (the verdict rests on no single test) or "not adjusted" (not a paper claim).
#
# ### The paper's claims

# %% tags=["hide-input"]
def show_kind(frame, kind):
    """The report's table of the claims of one kind, grouped by chapter."""
    display(HTML(report_html(frame[frame.kind == kind], chapters)))


show_kind(measured, PAPER)

# %% [markdown]
# ### Theory results the paper rests on

# %% tags=["hide-input"]
show_kind(measured, THEORY)

# %% [markdown]
# ### Open questions beyond the paper

# %% tags=["hide-input"]
show_kind(measured, BEYOND)

# %% [markdown]
# ### Sanity checks of the software

# %% tags=["hide-input"]
show_kind(measured, SANITY)

# %% [markdown]
# ## This run
#
# {glue:text}`run_profile_note`

# %% tags=["hide-input"]
table = grouped(reproduction_table(profile, results_dir=records_root(profile)))
display(HTML(summary_html(kind_summary(table), KIND_NAMES)))
if profile != SNAPSHOT_PROFILE:  # the full profile's run is the paper-scale table above
    display(HTML(f"<details><summary>every claim of this run (profile {profile})</summary>"
                 f"{report_html(table, chapters)}</details>"))
this_run = {**kind_counts(table, "status", "run"), **kind_counts(table, "adjusted", "run_adj"), **holm_summary(table, "run")}
summary, summary_full = summary_counts(table), summary_counts(measured)

# %% tags=["remove-cell"]
glue_values(
    this_run,
    report_run=run_label(profile, "as listed per claim"),
    run_profile_note=(
        f"This run is a {SMOKE_LABEL}. Its sizes and seeds are small, so its statuses are not to be quoted; "
        "the paper-scale ones above are. Its own table is folded away below its counts."
        if profile == SMOKE_PROFILE else
        "This run used the full profile: its records are the paper-scale ones above."
        if profile == SNAPSHOT_PROFILE else
        f"This run used the {profile} profile; its table is folded away below its counts."
    ),
)

# %% [markdown]
# In this run, of the paper's claims {glue:text}`run_paper_reproduced` are reproduced,
# {glue:text}`run_paper_not_reproduced` are not reproduced,
# {glue:text}`run_paper_inconclusive` are inconclusive, {glue:text}`run_paper_vacuous` are
# vacuous and {glue:text}`run_paper_not_run_in_this_profile` were not run; after Holm's
# correction {glue:text}`run_adj_paper_reproduced` are reproduced,
# {glue:text}`run_adj_paper_not_reproduced` not reproduced and
# {glue:text}`run_adj_paper_inconclusive` inconclusive ({glue:text}`run_n_tests` of them
# carry a p-value; the correction changed {glue:text}`run_n_changed`:
# {glue:text}`run_changed_ids`). The figure sets this run's counts beside the paper-scale
# ones.

# %%
fig, (ax_run, ax_full) = figure(2, profile=f"{profile} (left) and full (right)", seeds="as listed per claim", stack=True,
                               sharex=True)
plot_status_counts(summary, ax=ax_run)
ax_run.set_title(f"this run (profile {profile})", fontsize=9)
plot_status_counts(summary_full, ax=ax_full)
ax_full.set_title("saved full-profile records", fontsize=9)
ax_full.tick_params(labelleft=False)
glue_figure("fig_status", fig)

# %% [markdown]
# ```{glue:figure} fig_status
# :name: fig-report-status
#
# Status of every claim by kind, for this run ({glue:text}`report_run`, left) and for the
# full-profile records saved with the book (right). The paper's claims appear twice: as
# their own rules judge them (raw) and after Holm's correction. Sanity checks pass or fail
# in colours of their own: a passed check is not a reproduced claim.
# ```
#
# (report-multiplicity)=
# ## Many tests at once: Holm's correction
#
# Each comparison of the paper's claims is a test at the 5 % level (a 95 % interval on one
# side of zero). With many such tests, some would come out significant by chance alone
# even if no claim held. Holm's step-down method (Holm 1979) controls the
# probability of even one false decision across the whole family: sort the $m$ p-values,
# $p_{(1)} \le \dots \le p_{(m)}$, and replace the $i$-th by
#
# $$
# \tilde p_{(i)} = \max_{j \le i} \min\{1, (m - j + 1)\, p_{(j)}\}.
# $$
#
# The report applies it with this rule, fixed before the data and written in
# `ntkbook.claims.report`:
#
# * the family is the paper claims of the profile whose record carries a p-value (the
#   p-value of the test behind the verdict: a corrected resampled t-test, a paired
#   bootstrap or McNemar's test, passed as `check_claim(..., p_value=...)`);
# * a claim that its rule calls *reproduced* or *not reproduced* becomes *inconclusive*
#   when its adjusted p-value exceeds {glue:text}`holm_level`; every other status is kept;
# * a paper claim without a p-value keeps its status and reads "no test": its verdict
#   rests on no single test (a threshold, or an interval of a fitted slope), or its record
#   predates p-values;
# * theory results, open questions and sanity checks are not in the family and are not
#   adjusted.
#
# The correction can only weaken a decided status, never create one: a claim is reported
# as reproduced after adjustment only if its own rule says so and its test survives the
# other tests of the family.
#
# ## How to read a status
#
# A status is only as strong as the run behind it. The `ci` profile is a smoke run: it
# uses small sizes and few seeds to check that every chapter's code runs, and its boxes
# are labelled so and drawn in a neutral colour; its statuses are recorded the same way,
# but they are not evidence about the paper. The `full` profile (`make book PROFILE=full`)
# runs the paper-scale defaults, and its tables above are the ones to quote, with the
# status after the correction. Where a claim is *not reproduced*, its chapter shows the numbers and discusses
# the setup: the paper's own hyperparameters are not public, and each reconstruction is
# stated where it is made.
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-report-1
# ```
# Pick a claim marked *inconclusive*. Which parameter of its chapter would you raise to
# narrow its interval, and by roughly how much must the number of seeds grow to halve it?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-report-1
# :class: dropdown
# ```
# A 95 % t-interval shrinks like $1/\sqrt{S}$ in the number of seeds $S$ (for fixed spread),
# so halving it takes about four times the seeds: rerun the chapter with
# `ntkbook run CHAPTER -p n_seeds 4S` and then this report.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-report-2
# ```
# Edit one saved record in `results/claims/ci/` by hand, changing its `verdict`, and rerun
# this chapter. What happens, and why is that the right behaviour?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-report-2
# :class: dropdown
# ```
# The report stops with a `ReportError`: the status is derived again from the saved rule
# inputs, and the typed verdict no longer matches them. A report that silently trusted the
# typed word could show a claim as reproduced that the data do not support.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-report-3
# ```
# Four paper claims have p-values 0.01, 0.02, 0.03 and 0.20, and the first three are
# *reproduced* by their own rules. Which survive Holm's correction at 0.05? Check your
# answer with `ntkbook.stats.holm`.
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-report-3
# :class: dropdown
# ```
# Sorted, the adjusted values are $\min(1, 4 \cdot 0.01) = 0.04$, then
# $\max(0.04, 3 \cdot 0.02) = 0.06$, $\max(0.06, 2 \cdot 0.03) = 0.06$ and
# $\max(0.06, 1 \cdot 0.20) = 0.20$. Only the first stays below 0.05, so only it remains
# *reproduced*; the second and third become *inconclusive*. Each of the three would pass
# alone: the correction is what four tests at once cost. `holm([0.01, 0.02, 0.03, 0.20])`
# returns `[0.04, 0.06, 0.06, 0.2]`.
# ```{solution-end}
# ```
