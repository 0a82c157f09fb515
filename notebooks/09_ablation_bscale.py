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

# This chapter reads files of the repository: opened alone, it clones them beside itself.
import os

from ntkbook.pipeline import paths

if paths.find_root() is None:
    if not os.path.isdir("ntkbook-repository"):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", NTKBOOK_REPOSITORY, "ntkbook-repository"], check=True)
    paths.use_root("ntkbook-repository")  # also exported as NTKBOOK_ROOT, for the kernels this chapter starts

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
# * plot the train, validation and test error against $\sigma$ over several seeds, and the
#   error of each frequency component of the target against $\sigma$ (the paper's proposed
#   check of the sensitivity to the B-scale),
# * plot the effective rank of the NTK at initialization against $\sigma$,
# * and judge the underfit/overfit pattern by a stated rule, against the scale each seed
#   chooses on validation data.

# %% tags=["hide-input"]
import numpy as np
import pandas as pd

from ntkbook.experiments.ablations import bscale_contrasts
from ntkbook.pipeline.sweep import filtered_stderr
from ntkbook.claims.rules import weakest_verdict
from ntkbook.claims.chapter import check_claim
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.ablations import plot_bscale_errors, plot_bscale_frequency_errors, plot_bscale_rank
from ntkbook.pipeline.sweep import run_sweep
from ntkbook.claims.rules import sign_rule
from ntkbook.plots.glue import glue_values
from ntkbook.plots.tables import show_table

# %% [markdown]
# The parameters below are the paper-scale defaults (the `full` profile); the `ci` profile
# sweeps fewer values with smaller runs (see {ref}`rerun-and-adapt`). The sizes of each run
# (width, epochs, data, the validation split) are the parameters of the run notebook and
# its own profile.

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
#
# Every run uses the same recipe (width, depth, learning rate, number of steps): only
# $\sigma$ changes. Each seed draws its training points and holds the last few out for
# validation; the network is fitted to the others.

# %%
with filtered_stderr():  # drops the kernel's transport warning that every run prints
    runs = run_sweep(
        "bscale_point", "fourier_scale", sigmas, profile=profile,
        fixed={"n_seeds": n_seeds, "device": device},
        workers=workers or None, scheduler=scheduler or None,
        output_dir=f"results/sweeps/bscale_point-{profile}", force=force_runs or None,  # None: `ntkbook run --force` reruns the points too
    )
show_table(runs[["fourier_scale", "status", "seconds", "train_mse", "val_mse", "test_mse", "effective_rank", "error"]])

# %% [markdown]
# Each row is one papermill run: its status, its wall time in seconds (near zero when a
# saved run was up to date and reused) and the means over seeds it glued. A failed run
# keeps its row, with the error, and its numbers are missing (NaN), so it shows in the
# figures as a cross rather than disappearing.

# %%
def glued_number(name):
    """The first finite value the runs glued under ``name`` (the same in every run), or None."""
    values = pd.to_numeric(runs.get(name, pd.Series(dtype=float)), errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else None


n_failed = int((runs["status"] != "ok").sum())
n_frequencies = int(glued_number("n_frequencies") or 0)
frequencies = [glued_number(f"frequency_{k}") for k in range(n_frequencies)]
freq_columns = [f"freq_error_{k}" for k in range(n_frequencies)]
per_seed = []  # one row per (scale, seed), rebuilt from the glued values train_mse_s0, ...
for _, run in runs.iterrows():
    for seed in range(n_seeds):
        row = {"fourier_scale": float(run["fourier_scale"]), "seed": seed}
        for metric in ("train_mse", "val_mse", "test_mse", "gap", "effective_rank", *freq_columns):
            row[metric] = pd.to_numeric(run.get(f"{metric}_s{seed}", np.nan), errors="coerce")
        per_seed.append(row)
table = pd.DataFrame(per_seed)
n_nonfinite = int(table[["train_mse", "val_mse", "test_mse"]].isna().any(axis=1).sum())
n_fit, n_val = glued_number("n_fit"), glued_number("n_val")  # None if every run failed
print(f"{len(runs)} runs, {n_failed} failed; {n_nonfinite} (scale, seed) results not finite")
for source in runs.get("source", pd.Series(dtype=object)).dropna().unique():
    print("data:", source)  # the first seed's data; every seed draws its own

# %% tags=["remove-cell"]
glue_values(n_runs=len(runs), n_failed=n_failed, n_nonfinite=n_nonfinite, sweep_seconds=float(runs["seconds"].sum()),
            n_fit=int(n_fit) if n_fit is not None else -1, n_val=int(n_val) if n_val is not None else -1)

# %% [markdown]
# The sweep made {glue:text}`n_runs` runs, of which {glue:text}`n_failed` failed; the
# runs took {glue:text}`sweep_seconds:.0f` s of wall time in total (in parallel, so the
# chapter waited less). {glue:text}`n_nonfinite` (scale, seed) results are not finite
# (diverged or failed runs). Each network was fitted to {glue:text}`n_fit` points, with
# {glue:text}`n_val` more held out for validation.
#
# ## Choosing the scale on validation data
#
# The scale a practitioner would use is the one with the lowest validation error. Each seed
# chooses its own, $\sigma^*_s$, from its held-out points alone; the test set plays no part
# in the choice (`ntkbook.experiments.ablations.bscale_contrasts`). The test curves in the
# figures below describe the sweep; no choice reads them, and the verdict reads the test
# error only at each seed's $\sigma^*_s$ and at the largest scale.

# %%
means = table.groupby("fourier_scale")[["train_mse", "val_mse", "test_mse", "gap", "effective_rank", *freq_columns]].mean()
contrasts = bscale_contrasts(table)
chosen = pd.Series(contrasts["chosen"], name="sigma chosen on validation")
at_chosen = pd.DataFrame([table[(table.seed == s) & np.isclose(table.fourier_scale, c)].iloc[0]
                          for s, c in chosen.items() if np.isfinite(c)])
fig, ax = figure(profile=profile, seeds=n_seeds)
plot_bscale_errors(table, ax=ax)
ax.set_title("ECRN on sinusoid regression: error against the B-scale")
glue_figure("fig_bscale_errors", fig)
show_table(chosen.to_frame().T)

# %% tags=["remove-cell"]
smallest, largest = contrasts["smallest"], contrasts["largest"]
glue_values(
    sigma_min=smallest,
    sigma_max=largest,
    sigma_chosen=contrasts["chosen_mode"],
    sigma_chosen_low=float(chosen.min()),
    sigma_chosen_high=float(chosen.max()),
    n_chosen_mode=int(np.isclose(chosen, contrasts["chosen_mode"]).sum()),
    train_at_min=float(means.loc[smallest, "train_mse"]),
    train_at_chosen=float(at_chosen["train_mse"].mean()) if len(at_chosen) else float("nan"),
    test_at_chosen=float(at_chosen["test_mse"].mean()) if len(at_chosen) else float("nan"),
    gap_at_chosen=float(at_chosen["gap"].mean()) if len(at_chosen) else float("nan"),
    gap_at_max=float(means.loc[largest, "gap"]),
    test_at_max=float(means.loc[largest, "test_mse"]),
    train_at_max=float(means.loc[largest, "train_mse"]),
    bscale_run=run_label(profile, n_seeds),
)

# %% [markdown]
# ```{glue:figure} fig_bscale_errors
# :name: fig-bscale-errors
#
# Train MSE (on the fitted points), validation MSE (on the held-out points, which choose
# $\sigma$) and test MSE (on the clean target) against the Fourier scale $\sigma$:
# geometric mean across seeds and the 95 % interval of the mean log-MSE, one papermill run
# per scale ({glue:text}`bscale_run`).
# ```
#
# The seeds chose $\sigma^*$ between {glue:text}`sigma_chosen_low:g` and
# {glue:text}`sigma_chosen_high:g`, most often {glue:text}`sigma_chosen:g`
# ({glue:text}`n_chosen_mode` of the seeds). At the smallest scale, $\sigma$ =
# {glue:text}`sigma_min:g`, the train MSE is {glue:text}`train_at_min:.3g`, against
# {glue:text}`train_at_chosen:.3g` at the chosen scales; a network that fits its own
# training points worse than a better-scaled one is underfitting. At the chosen scales the test MSE is
# {glue:text}`test_at_chosen:.3g`, with a test-train gap of {glue:text}`gap_at_chosen:.3g`.
# At the largest scale, $\sigma$ = {glue:text}`sigma_max:g`, the train MSE is
# {glue:text}`train_at_max:.3g` and the test MSE {glue:text}`test_at_max:.3g`: a gap of
# {glue:text}`gap_at_max:.3g`. A gap much larger than at the chosen scale is the signature
# of overfitting.
#
# ## The error of each frequency component
#
# The paper's third proposed check is the sensitivity of the spectral-bias reduction to the
# scale of $B$. The target here is a sum of sinusoids; `ntkbook.data.frequency_errors`
# projects the prediction on the test grid onto each component and reports its relative
# error $\|\hat f_k - f_k\| / \|f_k\|$ (1 means the component was not learned at all).

# %%
fig, ax = figure(profile=profile, seeds=n_seeds)
plot_bscale_frequency_errors(table, frequencies, ax=ax)
ax.set_title("Error of each frequency component against the B-scale")
glue_figure("fig_bscale_frequencies", fig)
freq_summary = means[freq_columns].rename(columns={c: f"frequency {f:g}" for c, f in zip(freq_columns, frequencies)})
show_table(freq_summary)

# %% tags=["remove-cell"]
glue_values(
    {f"freq_{k}": f for k, f in enumerate(frequencies)},
    {f"freq_error_{k}_min": float(means.loc[smallest, c]) for k, c in enumerate(freq_columns)},
    {f"freq_error_{k}_max": float(means.loc[largest, c]) for k, c in enumerate(freq_columns)},
    {f"freq_error_{k}_chosen": float(at_chosen[c].mean()) if len(at_chosen) else float("nan")
     for k, c in enumerate(freq_columns)},
)

# %% [markdown]
# ```{glue:figure} fig_bscale_frequencies
# :name: fig-bscale-frequencies
#
# Relative test error of each frequency component of the target against $\sigma$:
# geometric mean across seeds and the 95 % interval of the mean log ({glue:text}`bscale_run`).
# ```
#
# At the smallest scale the low-frequency component (frequency {glue:text}`freq_0:g`) has
# relative error {glue:text}`freq_error_0_min:.3g` and the high-frequency one (frequency
# {glue:text}`freq_1:g`) {glue:text}`freq_error_1_min:.3g`; at the chosen scales they are
# {glue:text}`freq_error_0_chosen:.3g` and {glue:text}`freq_error_1_chosen:.3g`, and at the
# largest scale {glue:text}`freq_error_0_max:.3g` and {glue:text}`freq_error_1_max:.3g`.
# The pattern of Tancik et al. predicts a high-frequency error that falls as $\sigma$ grows
# towards the target's frequency, and errors of both components that rise again at large
# $\sigma$, where the network fits the noise between the training points; the figure shows
# how far these runs follow it. This part is descriptive: no verdict rests on it.
#
# ## The NTK's effective rank against the scale
#
# The run notebook also measured the effective rank of the NTK at initialization on the
# fitted inputs, $(\sum_i \lambda_i)^2 / \sum_i \lambda_i^2$: 1 for a rank-one kernel,
# $N$ for a multiple of the identity.

# %%
rank_small = float(means["effective_rank"].iloc[0])
rank_large = float(means["effective_rank"].iloc[-1])

fig, ax = figure(profile=profile, seeds=n_seeds)
plot_bscale_rank(table, ax=ax, n_train=int(n_fit) if n_fit is not None else None)
ax.set_title("Effective rank of the NTK at initialization")
glue_figure("fig_bscale_rank", fig)

# %% tags=["remove-cell"]
glue_values(rank_small=rank_small, rank_large=rank_large)

# %% [markdown]
# ```{glue:figure} fig_bscale_rank
# :name: fig-bscale-rank
#
# Effective rank of the ECRN's NTK at initialization on the fitted inputs against
# $\sigma$, mean and 95 % interval across seeds ({glue:text}`bscale_run`).
# ```
#
# The effective rank goes from {glue:text}`rank_small:.3g` at the smallest scale to
# {glue:text}`rank_large:.3g` at the largest, out of {glue:text}`n_fit` fitted points.
# A low-rank kernel can fit only a few smooth directions of the targets (underfitting); a
# kernel close to the identity fits every training target, noise included, and predicts
# almost nothing between them (overfitting). The good scales lie in between.
#
# ## The verdict
#
# The claim has two halves, so we test each with a paired sign rule across seeds, in the
# claim's direction, and require both:
#
# 1. **underfitting at small $\sigma$**: the train MSE at the smallest scale minus the train
#    MSE at the seed's chosen scale $\sigma^*_s$ is positive;
# 2. **overfitting at large $\sigma$**: the test-train gap at the largest scale minus the gap
#    at $\sigma^*_s$ is positive.
#
# The claim is supported only if both are; the box shows the weaker of the two verdicts (not
# supported, then inconclusive, then supported; between two equal verdicts, the one whose
# interval lies closer to zero relative to its width), and both are printed below it. The
# seeds are independent replicates (each draws its own data, $B$ and weights), so each
# half's interval is the t interval across seeds, and its p-value the one-sided paired t
# test; the p-value of the claim is the larger of the two, as a claim that needs both halves
# is only as strong as its weaker half (an intersection-union test). The package's tests
# drive this rule to each outcome on constructed tables.

# %% tags=["hide-input"]
under, over = contrasts["underfit"], contrasts["overfit"]
v_under = sign_rule(under["mean"], under["low"], under["high"], expect="positive",
                    what=f"train MSE at sigma = {smallest:g} minus at the sigma chosen on validation (paired by seed)")
v_over = sign_rule(over["mean"], over["low"], over["high"], expect="positive",
                   what=f"test-train gap at sigma = {largest:g} minus at the sigma chosen on validation (paired by seed)")
p_claim = max(under["p_value"], over["p_value"])  # NaN if either half has no test
verdict = check_claim(
    "bscale_underfit_overfit",
    weakest_verdict([v_under, v_over]),
    profile=profile, seeds=n_seeds, glue_as="verdict_bscale", p_value=p_claim,
    values={"underfit": under, "overfit": over, "verdict_underfit": v_under.verdict,
            "verdict_overfit": v_over.verdict, "sigmas": sigmas, "n_failed": n_failed,
            "smallest": smallest, "largest": largest, "chosen": {str(k): v for k, v in contrasts["chosen"].items()},
            "n_fit": n_fit, "n_val": n_val,
            "per_frequency_error": {f"{f:g}": {"smallest": float(means.loc[smallest, c]), "largest": float(means.loc[largest, c])}
                                    for f, c in zip(frequencies, freq_columns)}},
)
print(f"underfitting half: {v_under.verdict}: {v_under.measured}; one-sided p = {under['p_value']:.3g}")
print(f"overfitting half:  {v_over.verdict}: {v_over.measured}; one-sided p = {over['p_value']:.3g}")

# %% tags=["remove-cell"]
glue_values(under_mean=under["mean"], under_low=under["low"], under_high=under["high"],
            over_mean=over["mean"], over_low=over["low"], over_high=over["high"],
            verdict_under=v_under.verdict, verdict_over=v_over.verdict, p_claim=p_claim)

# %% [markdown]
# The underfitting contrast is {glue:text}`under_mean:.3g` (95 % interval
# {glue:text}`under_low:.3g` to {glue:text}`under_high:.3g`: **{glue:text}`verdict_under`**)
# and the overfitting contrast {glue:text}`over_mean:.3g` ({glue:text}`over_low:.3g` to
# {glue:text}`over_high:.3g`: **{glue:text}`verdict_over`**); the combined verdict is
# **{glue:text}`verdict_bscale`** (p = {glue:text}`p_claim:.2g`). Where it is supported, the
# NTK-ECRN behaves like the plain networks of Tancik et al.: the B-scale is a bandwidth that
# must match the frequencies of the target and the density of the training points.
#
# ## What changed in this chapter's verdict, and why
#
# An earlier edition compared the largest scale with the scale of lowest mean **test**
# error, and the smallest scale with the scale of lowest mean train error: the reference
# scale was chosen on the very numbers the verdict then read, which favours the claim. Now
# each seed chooses its scale on held-out training points, the test set enters the verdict
# only at the chosen and the largest scale, and each half reports its one-sided p-value.
# The chapter also adds the error of each frequency component against $\sigma$, the check
# the paper proposes. On these runs the verdict is **{glue:text}`verdict_bscale`**.
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-bscale-1
# ```
# With $N$ training points spread evenly on $[0, 1]$, at what $\sigma$ does the embedding's
# kernel $\tfrac12\exp(-2\pi^2\sigma^2 |x - x'|^2)$ fall to 1 % of its peak between two
# neighbouring points? Compare with the scales the seeds chose above.
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-bscale-1
# :class: dropdown
# ```
# Neighbours are $1/N$ apart, so we need $2\pi^2\sigma^2/N^2 = \ln 100$, i.e.
# $\sigma = N\sqrt{\ln 100 / (2\pi^2)} \approx 0.48 N$. For $N = 32$ that is about 15: above
# this scale neighbouring training points barely see each other and the kernel is close to
# the identity on the training set, so expect the validation and test errors to rise there.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-bscale-2
# ```
# Run the sweep from the command line for a finer grid around the chosen scale, for instance
# `ntkbook sweep bscale_point -p fourier_scale 1,2,3,5,8`, and read `runs.csv` with pandas.
# Then draw more training points (add `-p n_train 72`). How does the chosen scale move?
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
