# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
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

# %% [markdown]
# (chapter-build-your-own)=
# # Build your own chapter
#
# ## Overview
#
# This chapter is a template for coursework: a complete, small chapter that uses the
# package and the pipeline exactly as the rest of the book does. Copy
# `notebooks/15_build_your_own_chapter.py` to a new name, change the question, and run it
# with `ntkbook run NEW_NAME`.
#
# The question this template asks: *how much does the NTK of an ECRN move during training,
# and does a larger residual scale $\alpha$ move it more?*
#
# In this chapter we will
#
# * declare parameters (paper-scale defaults) and a small `ci` profile,
# * load a dataset through `ntkbook.data` and print where it came from,
# * train with `ntkbook.train`, recording the NTK on a probe set every few epochs,
# * glue every number into the prose, draw the figure with `ntkbook.plots`, and
# * end with a claim box whose verdict a stated rule computes.

# %%
import pandas as pd

from ntkbook.data import load_dataset
from ntkbook.experiments.runs import paired_comparison, summarize
from ntkbook.models import ECRN
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.glue import glue_values
from ntkbook.plots.tables import show_table
from ntkbook.train import NTKTracker, train
from ntkbook.claims.rules import show_claim, sign_rule

# %% [markdown]
# ## 1. Parameters
#
# One cell tagged `parameters` declares every knob with its paper-scale default. The
# runner checks every override against these names and types before anything runs, so
# `ntkbook run 15_build_your_own_chapter -p alphas "[0.1, 1.0]"` works and
# `-p alphas big` is refused with a clear message.

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
alphas = [0.1, 0.5, 1.0]  # list of at least 2 floats in [0, inf): residual scales to compare
width = 256  # int in [1, inf): hidden width of the ECRN
depth = 4  # int in [1, inf): residual blocks
n_train = 256  # int in [2, inf): training points of the sinusoid task
epochs = 200  # int in [1, inf): full-batch gradient-descent epochs
lr = 0.5  # float in (0, inf): learning rate
n_probe = 64  # int in [2, inf): probe points for the NTK
n_seeds = 5  # int in [2, inf): seeds per alpha
device = "cpu"  # device: "cuda" runs the same code on a GPU

# %% [markdown]
# ## 2. Data
#
# A sum of a low- and a high-frequency sinusoid in one dimension. Every dataset in the
# book says where it came from.

# %%
data = load_dataset("sinusoids", n_train=n_train, seed=0, device=device)
print(data.source)

# %% [markdown]
# ## 3. The experiment
#
# For each $\alpha$ and seed we train an ECRN and record the relative kernel change
# $\|\Theta_T - \Theta_0\|_F / \|\Theta_0\|_F$ on a fixed probe set.

# %%
rows = []  # tidy rows: one per (alpha, seed), the format ntkbook.experiments.runs summarizes
n_diverged = 0
for alpha in alphas:
    for seed in range(n_seeds):
        model = ECRN(1, 1, width=width, depth=depth, alpha=alpha, drop_prob=0.0, seed=seed)
        tracker = NTKTracker(n_probe, every=max(1, epochs // 4))
        result = train(model, data, optimizer="gd", lr=lr, epochs=epochs, seed=seed, device=device, callbacks=[tracker])
        n_diverged += int(result.diverged)
        ntk = result.ntk[result.ntk.metric == "kernel_change"].sort_values("epoch")
        rows.append({"model": f"alpha={alpha:g}", "seed": seed, "epoch": int(ntk.epoch.iloc[-1]),
                     "split": "probe", "metric": "kernel_change", "value": float(ntk.value.iloc[-1])})
runs = pd.DataFrame(rows)
glue_values(n_diverged=n_diverged)
summary = summarize(runs)
summary["alpha"] = summary["model"].str.removeprefix("alpha=").astype(float)
show_table(summary)

# %% [markdown]
# {glue:text}`n_diverged` of the runs diverged (a diverged run stops early and its last
# finite record is used; the training chapter explains how divergence is recorded).

# %%
def plot_change(summary: pd.DataFrame, ax):
    """Mean relative kernel change against alpha with its 95 % interval (a chapter-local plot:
    in the book's own chapters such functions live in ntkbook.plots)."""
    s = summary.sort_values("alpha")
    ax.errorbar(s["alpha"], s["mean"], yerr=[s["mean"] - s["ci_low"], s["ci_high"] - s["mean"]], marker="o", capsize=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"residual scale $\alpha$")
    ax.set_ylabel(r"$\|\Theta_T-\Theta_0\|_F/\|\Theta_0\|_F$")
    return ax


fig, ax = figure(profile=profile, seeds=n_seeds)
plot_change(summary, ax)
glue_figure("fig_template_change", fig)
glue_values(template_run=run_label(profile, n_seeds))

# %% [markdown]
# ```{glue:figure} fig_template_change
# :name: fig-template-change
#
# Relative change of the NTK during training against the residual scale, mean and 95 %
# interval across seeds ({glue:text}`template_run`).
# ```
#
# ## 4. The claim box
#
# The rule compares the smallest and the largest $\alpha$ on the same seeds: the paired
# difference of the kernel change, largest minus smallest, must have a 95 % interval
# entirely above zero.

# %%
paired = paired_comparison(runs, f"alpha={max(alphas):g}", f"alpha={min(alphas):g}", "kernel_change", split="probe")
verdict = show_claim(
    "A larger residual scale alpha makes the NTK move more during training.",
    sign_rule(paired.mean_difference, paired.ci_low, paired.ci_high, expect="positive", what="change(alpha_max) - change(alpha_min)"),
    source="the question of this template",
)
glue_values(template_diff=float(paired.mean_difference))

# %% [markdown]
# The mean paired difference is {glue:text}`template_diff:.3g`. A chapter of your own
# would now discuss what this means. To have the {ref}`chapter-reproduction-report` pick it
# up, add the claim (its id, wording and source) to `ntkbook.claims.registry.CLAIMS` and
# replace `show_claim` by one call, `ntkbook.claims.chapter.check_claim(claim_id, verdict,
# profile=profile, seeds=n_seeds)`: it takes the wording from the registry, shows the box,
# saves the record (in a canonical run only) and glues the verdict. The book's chapters also
# tag their plumbing cells: `remove-cell` for cells that only glue numbers, `hide-input` for
# set-up and claim cells.
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-template-1
# ```
# Make this template your own: replace the dataset by `"gaussian_mixture"` (a
# classification task: train with `loss="ce"`) and ask whether the kernel change depends
# on the task.
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-template-1
# :class: dropdown
# ```
# Change the data cell to `load_dataset("gaussian_mixture", n_train=n_train, seed=0)`,
# build the ECRN with `in_features=data.x_train.shape[1]` and `out_features=data.n_classes`,
# and pass `loss="ce"` to `train`. Keep the rest: the tracker, the summary and the rule work
# unchanged.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-template-2
# ```
# Add a `ci` profile for your chapter in `profiles/ci/` and time both profiles with
# `ntkbook run`. Which parameter dominates the cost?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-template-2
# :class: dropdown
# ```
# The cost is about (number of alphas) x (seeds) x (epochs) training steps, each costing
# O(n_train x parameters), plus one NTK of the probe set every few epochs
# (O(n_probe^2 x parameters) for the structured method). Epochs and seeds multiply
# everything; the probe size enters quadratically, but only in the tracked epochs.
# ```{solution-end}
# ```
