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

# %% [markdown]
# (chapter-ablation-bscale)=
# # Ablation: the scale of the Fourier features
#
# ## Overview
#
# The ECRN's first layer maps an input $x$ to $\phi(x) = [\sin(2\pi Bx), \cos(2\pi Bx)]$
# with $B_{kj} \sim \mathcal{N}(0, \sigma^2)$. The paper {cite}`mysore2025ntkecrn` warns that
# a poorly scaled $B$ breaks the embedding's benefit but does not say how. Tancik et al.
# {cite}`tancik2020fourier` report the pattern in their Figure 4: too small a $\sigma$
# underfits (the network cannot represent the target's high frequencies) and too large a
# $\sigma$ overfits (it interpolates the training points with high-frequency noise).
#
# The reason shows in the kernel. For a random $B$ with many frequencies the embedding's
# kernel is $\tfrac12 \exp(-2\pi^2\sigma^2 \|x - x'\|^2)$: a Gaussian of width
# $1/(2\pi\sigma)$. When $\sigma$ is small every pair of training points looks alike (a
# kernel of low effective rank); when $\sigma$ is large every point looks unrelated to its
# neighbours (a kernel close to the identity, of full rank).
#
# In this chapter we will
#
# * sweep $\sigma$ log-spaced from 0.1 to 100, one papermill run of the notebook
#   `notebooks/runs/bscale_point.py` per value, collected into one table,
# * plot the train and test error against $\sigma$ over several seeds,
# * plot the effective rank of the NTK at initialization against $\sigma$,
# * and judge the underfit/overfit pattern by a stated rule.

# %% tags=["hide-input"]
import numpy as np
import pandas as pd

from ntkbook.experiments.ablations import bscale_contrasts
from ntkbook.pipeline.sweep import filtered_stderr
from ntkbook.claims.rules import weakest_verdict
from ntkbook.claims.chapter import check_claim
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.ablations import plot_bscale_errors, plot_bscale_rank
from ntkbook.pipeline.sweep import run_sweep
from ntkbook.claims.rules import sign_rule
from ntkbook.plots.glue import glue_values

# %% [markdown]
# The parameters below are the paper-scale defaults (the `full` profile); the `ci` profile
# sweeps fewer values with smaller runs (see {ref}`rerun-and-adapt`). The sizes of each run
# (width, epochs, data) are the parameters of the run notebook and its own profile.

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
sigmas = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]  # list of at least 2 floats in [0, inf): Fourier scales, log-spaced
n_seeds = 8  # int in [2, inf): seeds per scale (passed to every run)
workers = 0  # int in [0, inf): parallel runs on this machine (0: one per CPU core)
scheduler = ""  # str: address of a Dask scheduler, e.g. "tcp://host:8786" ("" runs locally)
force_runs = False  # bool: rerun a point even when its saved run is up to date
device = "cpu"  # device: where each run trains ("cuda" works too)

# %% [markdown]
# ## One run per scale
#
# `run_sweep` checks every value against the run notebook's declared parameters before the
# first run, executes the runs in parallel, records a failed run with its error instead of
# stopping, and returns one row per run with every number the run glued. The equivalent
# command is `ntkbook sweep bscale_point -p fourier_scale 0.1,1,10,100`.

# %%
with filtered_stderr():  # drops the kernel's transport warning that every run prints
    runs = run_sweep(
        "bscale_point", "fourier_scale", sigmas, profile=profile,
        fixed={"n_seeds": n_seeds, "device": device},
        workers=workers or None, scheduler=scheduler or None,
        output_dir=f"results/sweeps/bscale_point-{profile}", force=force_runs or None,  # None: `ntkbook run --force` reruns the points too
    )
runs[["fourier_scale", "status", "seconds", "train_mse", "test_mse", "effective_rank", "error"]]

# %% [markdown]
# Each row is one papermill run: its status, its wall time in seconds (near zero when a
# saved run was up to date and reused) and the means over seeds it glued. A failed run
# keeps its row, with the error, and its numbers are missing (NaN), so it shows in the
# figures as a cross rather than disappearing.

# %%
n_failed = int((runs["status"] != "ok").sum())
per_seed = []  # one row per (scale, seed), rebuilt from the glued values train_mse_s0, ...
for _, run in runs.iterrows():
    for seed in range(n_seeds):
        row = {"fourier_scale": float(run["fourier_scale"]), "seed": seed}
        for metric in ("train_mse", "test_mse", "gap", "effective_rank"):
            row[metric] = pd.to_numeric(run.get(f"{metric}_s{seed}", np.nan), errors="coerce")
        per_seed.append(row)
table = pd.DataFrame(per_seed)
n_nonfinite = int(table[["train_mse", "test_mse"]].isna().any(axis=1).sum())
glued_n_train = pd.to_numeric(runs.get("n_train", pd.Series(dtype=float)), errors="coerce").dropna()
n_train = int(glued_n_train.iloc[0]) if len(glued_n_train) else None  # None if every run failed
print(f"{len(runs)} runs, {n_failed} failed; {n_nonfinite} (scale, seed) results not finite")
for source in runs.get("source", pd.Series(dtype=object)).dropna().unique():
    print("data:", source)  # the first seed's data; every seed draws its own

# %% tags=["remove-cell"]
glue_values(n_runs=len(runs), n_failed=n_failed, n_nonfinite=n_nonfinite, sweep_seconds=float(runs["seconds"].sum()))

# %% [markdown]
# The sweep made {glue:text}`n_runs` runs, of which {glue:text}`n_failed` failed; the
# runs took {glue:text}`sweep_seconds:.0f` s of wall time in total (in parallel, so the
# chapter waited less). {glue:text}`n_nonfinite` (scale, seed) results are not finite
# (diverged or failed runs).
#
# ## Train and test error against the scale

# %%
means = table.groupby("fourier_scale")[["train_mse", "test_mse", "gap", "effective_rank"]].mean()
contrasts = bscale_contrasts(table)
fig, ax = figure(profile=profile, seeds=n_seeds)
plot_bscale_errors(table, ax=ax)
ax.set_title("ECRN on sinusoid regression: error against the B-scale")
glue_figure("fig_bscale_errors", fig)

# %% tags=["remove-cell"]
glue_values(
    sigma_min=contrasts["smallest"],
    sigma_max=contrasts["largest"],
    sigma_train_best=contrasts["train_best"],
    sigma_test_best=contrasts["test_best"],
    train_at_min=float(means.loc[contrasts["smallest"], "train_mse"]),
    train_best=float(means.loc[contrasts["train_best"], "train_mse"]),
    test_best=float(means.loc[contrasts["test_best"], "test_mse"]),
    gap_at_max=float(means.loc[contrasts["largest"], "gap"]),
    gap_at_best=float(means.loc[contrasts["test_best"], "gap"]),
    test_at_max=float(means.loc[contrasts["largest"], "test_mse"]),
    train_at_max=float(means.loc[contrasts["largest"], "train_mse"]),
    bscale_run=run_label(profile, n_seeds),
)

# %% [markdown]
# ```{glue:figure} fig_bscale_errors
# :name: fig-bscale-errors
#
# Train and test MSE against the Fourier scale $\sigma$: geometric mean across seeds and
# the 95 % interval of the mean log-MSE, one papermill run per scale
# ({glue:text}`bscale_run`).
# ```
#
# At the smallest scale, $\sigma$ = {glue:text}`sigma_min:g`, the train MSE is
# {glue:text}`train_at_min:.3g`, against {glue:text}`train_best:.3g` at the scale that fits
# the training set best ($\sigma$ = {glue:text}`sigma_train_best:g`): a network that cannot
# fit its own training data is underfitting. The test error is lowest at
# $\sigma$ = {glue:text}`sigma_test_best:g` ({glue:text}`test_best:.3g`, with a test-train
# gap of {glue:text}`gap_at_best:.3g`). At the largest scale, $\sigma$ =
# {glue:text}`sigma_max:g`, the train MSE is {glue:text}`train_at_max:.3g` and the test MSE
# {glue:text}`test_at_max:.3g`: a gap of {glue:text}`gap_at_max:.3g`. A gap much larger than
# at the best scale is the signature of overfitting.
#
# ## The NTK's effective rank against the scale
#
# The run notebook also measured the effective rank of the NTK at initialization on the
# training inputs, $(\sum_i \lambda_i)^2 / \sum_i \lambda_i^2$: 1 for a rank-one kernel,
# $N$ for a multiple of the identity.

# %%
rank_small = float(means["effective_rank"].iloc[0])
rank_large = float(means["effective_rank"].iloc[-1])

fig, ax = figure(profile=profile, seeds=n_seeds)
plot_bscale_rank(table, ax=ax, n_train=n_train)
ax.set_title("Effective rank of the NTK at initialization")
glue_figure("fig_bscale_rank", fig)

# %% tags=["remove-cell"]
glue_values(rank_small=rank_small, rank_large=rank_large, n_train=n_train if n_train is not None else -1)

# %% [markdown]
# ```{glue:figure} fig_bscale_rank
# :name: fig-bscale-rank
#
# Effective rank of the ECRN's NTK at initialization on the training inputs against
# $\sigma$, mean and 95 % interval across seeds ({glue:text}`bscale_run`).
# ```
#
# The effective rank goes from {glue:text}`rank_small:.3g` at the smallest scale to
# {glue:text}`rank_large:.3g` at the largest, out of {glue:text}`n_train` training points.
# A low-rank kernel can fit only a few smooth directions of the targets (underfitting); a
# kernel close to the identity fits every training target, noise included, and predicts
# almost nothing between them (overfitting). The good scales lie in between.
#
# ## The verdict
#
# The claim has two halves, so we test each with a paired sign rule across seeds and require
# both:
#
# 1. **underfitting at small $\sigma$**: the train MSE at the smallest scale minus the train
#    MSE at the scale with the lowest mean train MSE, seed by seed, is positive;
# 2. **overfitting at large $\sigma$**: the test-train gap at the largest scale minus the gap
#    at the scale with the lowest mean test MSE, seed by seed, is positive.
#
# The claim is supported only if both are; the box shows the weaker of the two verdicts (not
# supported, then inconclusive, then supported; between two equal verdicts, the one whose
# interval lies closer to zero relative to its width), and both are printed below it.

# %% tags=["hide-input"]
under, over = contrasts["underfit"], contrasts["overfit"]
v_under = sign_rule(under["mean"], under["low"], under["high"], expect="positive",
                    what=f"train MSE at sigma = {contrasts['smallest']:g} minus at sigma = {contrasts['train_best']:g} (paired by seed)")
v_over = sign_rule(over["mean"], over["low"], over["high"], expect="positive",
                   what=f"test-train gap at sigma = {contrasts['largest']:g} minus at sigma = {contrasts['test_best']:g} (paired by seed)")
verdict = check_claim(
    "bscale_underfit_overfit",
    weakest_verdict([v_under, v_over]),
    profile=profile, seeds=n_seeds, glue_as="verdict_bscale",
    values={"underfit": under, "overfit": over, "verdict_underfit": v_under.verdict,
            "verdict_overfit": v_over.verdict, "sigmas": sigmas, "n_failed": n_failed,
            "smallest": contrasts["smallest"], "largest": contrasts["largest"],
            "train_best": contrasts["train_best"], "test_best": contrasts["test_best"]},
)
print(f"underfitting half: {v_under.verdict}: {v_under.measured}")
print(f"overfitting half:  {v_over.verdict}: {v_over.measured}")

# %% tags=["remove-cell"]
glue_values(under_mean=under["mean"], over_mean=over["mean"])

# %% [markdown]
# The underfitting contrast is {glue:text}`under_mean:.3g` and the overfitting contrast
# {glue:text}`over_mean:.3g` (means over seeds); the combined verdict is
# **{glue:text}`verdict_bscale`**. Where it is supported, the NTK-ECRN behaves like the plain
# networks of Tancik et al.: the B-scale is a bandwidth that must match the frequencies of
# the target and the density of the training points.
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-bscale-1
# ```
# With $N$ training points spread evenly on $[0, 1]$, at what $\sigma$ does the embedding's
# kernel $\tfrac12\exp(-2\pi^2\sigma^2 |x - x'|^2)$ fall to 1 % of its peak between two
# neighbouring points? Compare with the scale where the test error is lowest above.
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-bscale-1
# :class: dropdown
# ```
# Neighbours are $1/N$ apart, so we need $2\pi^2\sigma^2/N^2 = \ln 100$, i.e.
# $\sigma = N\sqrt{\ln 100 / (2\pi^2)} \approx 0.48 N$. For $N = 32$ that is about 15: above
# this scale neighbouring training points barely see each other and the kernel is close to
# the identity on the training set, so expect the test error to rise there.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-bscale-2
# ```
# Run the sweep from the command line for a finer grid around the best scale, for instance
# `ntkbook sweep bscale_point -p fourier_scale 1,2,3,5,8`, and read `runs.csv` with pandas.
# Then double `n_train` (add `-p n_train 64`). How does the best scale move?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-bscale-2
# :class: dropdown
# ```
# With more training points the points are closer together, so a larger $\sigma$ (a narrower
# kernel) can be used before neighbouring points stop informing each other: the overfitting
# side of the curve moves to larger $\sigma$, while the underfitting side, set by the
# target's highest frequency, stays where it is.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-bscale-3
# ```
# The sweep runs one process per value on this machine. Start a local Dask cluster with two
# workers (`distributed.LocalCluster(n_workers=2)`) and pass its scheduler address as the
# chapter's `scheduler` parameter. What must the workers share with the machine that
# submits the sweep?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-bscale-3
# :class: dropdown
# ```
# `ntkbook run 09_ablation_bscale -p scheduler tcp://127.0.0.1:PORT`. Each worker executes
# the run notebook from the checkout and writes the executed notebook into the sweep's
# output folder, which the submitting process then reads: the workers need the same
# checkout, the same Python environment and the same file system.
# ```{solution-end}
# ```
