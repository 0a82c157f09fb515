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

# %% [markdown]
# (chapter-reproduction-report)=
# # Reproduction report
#
# ## Overview
#
# Each chapter of this book ends its main result in a *Claim / What we measured* box and
# saves what it measured, together with the rule that turned the measurement into a
# verdict. This chapter collects those records into one table: one row per claim of the
# paper {cite}`mysore2025ntkecrn` and per theory result of part I.
#
# In this chapter we will
#
# * list every claim with the chapter that tests it, the profile and seeds of the run,
#   and the measured values,
# * derive every status again from the saved rule inputs (never from a typed word), and
# * count how many of the paper's claims our runs reproduce.
#
# The statuses are: *reproduced* (the rule says supported), *not reproduced* (the rule
# says not supported), *inconclusive* (the interval straddles the predicted side or
# range), and *not run in this profile* (no chapter saved a record for it in this profile).

# %% tags=["hide-input"]
from IPython.display import HTML, display

from ntkbook.pipeline.paths import RESULTS_DIR, ROOT
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.report import plot_status_counts
from ntkbook.claims.report import STATUS_ORDER, reproduction_table, status_counts
from ntkbook.plots.glue import glue_values

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner); the report reads that profile's records
measured_dir = "book/measured"  # str: full-profile records saved with the book (from runs made while it was written)

# %% [markdown]
# ## The table
#
# `reproduction_table` joins the registry of claims with the saved records and derives
# each status from the record's rule inputs; a record whose saved verdict disagrees with
# its own inputs stops the report with an error rather than being shown.

# %%
table = reproduction_table(profile, results_dir=RESULTS_DIR)
columns = ["id", "status", "claim", "seeds", "measured", "chapter"]


def show_table(frame):
    """The table in a small font inside a horizontally scrolling box, status beside the id."""
    html = frame[columns].to_html(index=False, escape=True, na_rep="")
    display(HTML(f'<div style="overflow-x:auto; font-size:0.8em">{html}</div>'))


show_table(table)

# %%
counts = status_counts(table)
paper = table[table.kind == "paper"]
theory = table[table.kind == "theory"]
counts

# %% tags=["remove-cell"]
glue_values(
    {f"paper_{status.replace(' ', '_')}": int((paper.status == status).sum()) for status in STATUS_ORDER},
    {f"theory_{status.replace(' ', '_')}": int((theory.status == status).sum()) for status in STATUS_ORDER},
    n_claims=len(table),
    n_paper=len(paper),
    n_theory=len(theory),
    report_run=run_label(profile, "as listed per claim"),
)

# %% [markdown]
# The book tests {glue:text}`n_claims` claims: {glue:text}`n_paper` of the paper's and
# {glue:text}`n_theory` theory results. Of the paper's claims, in this profile,
# {glue:text}`paper_reproduced` are reproduced, {glue:text}`paper_not_reproduced` are not
# reproduced, {glue:text}`paper_inconclusive` are inconclusive and
# {glue:text}`paper_not_run_in_this_profile` were not run. Of the theory results,
# {glue:text}`theory_reproduced` are reproduced, {glue:text}`theory_not_reproduced` are not,
# {glue:text}`theory_inconclusive` are inconclusive and
# {glue:text}`theory_not_run_in_this_profile` were not run.

# %%
fig, ax = figure(profile=profile, seeds="as listed per claim", width=6.5)
plot_status_counts(counts, ax=ax)
glue_figure("fig_status", fig)

# %% [markdown]
# ```{glue:figure} fig_status
# :name: fig-report-status
#
# Status of every claim, by kind ({glue:text}`report_run`).
# ```

# %% [markdown]
# ## At paper scale
#
# The `full` profile takes minutes to an hour per chapter on a 2-core CPU, too long for the
# book's continuous integration. The records below were saved from `full`-profile runs made
# while the book was written (`book/measured/`), and their statuses are derived from their
# saved rule inputs exactly as above.

# %%
measured = reproduction_table("full", results_dir=ROOT / measured_dir)
is_paper = measured.kind == "paper"
show_table(measured)

# %% tags=["remove-cell"]
glue_values(
    full_paper_reproduced=int((is_paper & (measured.status == STATUS_ORDER[0])).sum()),
    full_paper_not_reproduced=int((is_paper & (measured.status == STATUS_ORDER[1])).sum()),
    full_paper_inconclusive=int((is_paper & (measured.status == STATUS_ORDER[2])).sum()),
    full_not_run=int((measured.status == STATUS_ORDER[3]).sum()),
)

# %% [markdown]
# At paper scale, {glue:text}`full_paper_reproduced` of the paper's claims are reproduced,
# {glue:text}`full_paper_not_reproduced` are not reproduced and
# {glue:text}`full_paper_inconclusive` are inconclusive; {glue:text}`full_not_run` claims
# have no saved full-profile record.
#
# ## How to read a status
#
# A status is only as strong as the run behind it. The `ci` profile uses small sizes and
# few seeds, so many comparisons end *inconclusive*: their intervals are wide. The `full`
# profile (`make book PROFILE=full`) runs the paper-scale defaults, and its table is the one
# to quote. Where a claim is *not reproduced*, its chapter shows the numbers and discusses
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
