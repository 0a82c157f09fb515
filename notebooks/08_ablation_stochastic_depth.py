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
# (chapter-ablation-stochastic-depth)=
# # Ablation: stochastic depth
#
# ## Overview
#
# The NTK-ECRN {cite}`mysore2025ntkecrn` drops each residual block $l$ during training with
# probability $p_l$, as in stochastic depth {cite}`huang2016stochastic`. Every draw of the
# depth mask $m$ gives a different network, hence a different NTK $\Theta_m$. The paper
# describes the effect on the kernel by an expectation, $\mathbb{E}_m[\Theta_m]$, in which
# each block is weighted by its survival probability $1 - p_l$ (its Eq. (17)), and claims
# that the resulting smoothing improves generalization.
#
# The exact form of Eq. (17) is not public, so we derive a $(1 - p_l)$-weighted formula
# ourselves, state it, and test it against the expectation computed by brute force.
#
# In this chapter we will
#
# * estimate $\mathbb{E}_m[\Theta_m]$ by Monte Carlo over masks, with its standard error,
#   and exactly by summing over all $2^L$ masks,
# * compare it with our reconstruction of Eq. (17) and with the kernel of the network in
#   evaluation mode, for a sweep of the drop probability $p$,
# * measure how much the NTK's evolution during training varies from one mask draw to the next,
# * and compare the test error with and without stochastic depth over several seeds.

# %% tags=["hide-input"]
import numpy as np
import pandas as pd
import torch

from ntkbook.experiments.ablations import expected_ntk_check, mask_draw_trajectories
from ntkbook.stats import t_interval
from ntkbook.claims.chapter import check_claim
from ntkbook.data import load_dataset
from ntkbook.experiments.runs import ExperimentConfig, paired_comparison, run_experiment, summarize
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.ablations import plot_expected_ntk_gaps, plot_kernel_change_by_mask, plot_paired_errors
from ntkbook.claims.rules import interval_rule, sign_rule
from ntkbook.plots.glue import glue_values

# %% [markdown]
# The parameters below are the paper-scale defaults (the `full` profile); the book's
# continuous integration runs the smaller `ci` profile (see {ref}`rerun-and-adapt`).

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
n_points = 48  # int in [2, inf): N: inputs of the kernels compared in the first part
width = 256  # int in [1, inf): hidden width of the ECRN in the kernel comparison
depth = 6  # int in [1, 10]: L residual blocks: the exact mean sums 2^L mask NTKs
n_fourier = 32  # int in [1, inf): Fourier frequencies of the embedding
fourier_scale = 2.0  # float in (0, inf): sigma of the Fourier matrix B
drop_probs = [0.05, 0.1, 0.2, 0.3, 0.5]  # list of floats in [0, 1): the sweep of p (the same p for every block)
claim_p = 0.1  # float in [0, 1): the p at which the claim on Eq. (17) is judged (the ECRN's p_max); one of drop_probs
n_mc = 128  # int in [2, inf): masks drawn for the Monte Carlo estimate of E[Theta]
n_seeds = 8  # int in [2, inf): initializations (kernel part) and training seeds (generalization part)
train_width = 128  # int in [1, inf): width of the ECRN trained in the second part
train_depth = 6  # int in [1, inf): its depth
n_train = 64  # int in [2, inf): training points of the sinusoid regression
n_test = 256  # int in [2, inf): test points (a grid on [0, 1])
lr = 0.5  # float in (0, inf): full-batch gradient descent step
epochs = 400  # int in [1, inf): gradient descent steps
trajectory_drop_probs = [0.0, 0.1, 0.3]  # list of at least 2 floats in [0, 1): p values whose NTK evolution we follow
n_mask_draws = 8  # int in [2, inf): mask sequences per p at one fixed initialization
ntk_every = 20  # int in [1, inf): epochs between two NTK measurements
generalization_p = 0.1  # float in (0, 1): p of the "with stochastic depth" runs
device = "cpu"  # device: where the networks run ("cuda" works too)
cpu_threads = 1  # int in [0, inf): torch CPU threads; these small matrices run fastest on one (0: torch default)

# %% [markdown]
# ## The expected NTK under random masks
#
# Write the ECRN's blocks as $h_{l+1} = h_l + m_l\,\alpha_l\,\sigma(g_l)$ with independent
# $m_l \sim \mathrm{Bernoulli}(1 - p_l)$ (see {ref}`chapter-architecture` for the whole
# network). For a fixed mask the network is deterministic and has an empirical NTK
# $\Theta_m$; `ntkbook.ntk.expected_ntk` averages it over `n_mc` random masks and returns the
# elementwise standard error of that mean.
#
# For a small depth the expectation can also be computed exactly:
#
# $$
# \mathbb{E}_m[\Theta_m] = \sum_{m \in \{0,1\}^L} \prod_{l} (1-p_l)^{m_l}\, p_l^{1-m_l}\; \Theta_m .
# $$
#
# ## Reconstructing Eq. (17)
#
# In the infinite-width recursion of the ECRN's kernel (implemented by
# `ntkbook.analytic.ecrn_kernels`), block $l$ adds to the NTK a term proportional to $m_l^2 \alpha_l^2$:
#
# $$
# \Theta_{l+1} = \Theta_l + m_l^2\, \alpha_l^2\, \mathbb{E}[\sigma'(u)\sigma'(v)]\,
# \big(\Sigma_l + \sigma_w^2 \Theta_l\big).
# $$
#
# Since $m_l^2 = m_l$, its expectation is $1 - p_l$. **Our reconstruction of Eq. (17)**
# replaces $m_l^2$ by $1 - p_l$ in every block:
#
# $$
# \mathbb{E}_m[\Theta_m] \approx \Theta\big|_{\alpha_l \to \alpha_l \sqrt{1 - p_l}},
# $$
#
# the NTK of the same weights with every block kept and its branch scaled by
# $\alpha_l\sqrt{1-p_l}$, so that each block's increment is weighted by $1 - p_l$. This is
# exact for the terms that are linear in each $m_l$; it neglects only that the Gaussian
# expectations of block $l$ depend on the masks of earlier blocks. The package computes it
# with `ntkbook.experiments.ablations.weighted_ntk`.
#
# A tempting alternative is the NTK of the network in evaluation mode, where the branch is
# multiplied by its mean $1 - p_l$. That weights each increment by $(1 - p_l)^2$, not
# $1 - p_l$: it is the kernel of the *mean network*, not the mean of the kernels.
#
# ## Measuring the gap in units of the Monte Carlo error
#
# Let $\bar\Theta$ be the Monte Carlo mean and $s$ its elementwise standard error. For a
# reference kernel $R$ we compute
#
# $$
# z = \frac{\|\bar\Theta - R\|_F}{\|s\|_F}.
# $$
#
# If $R$ were the exact expectation, $\mathbb{E}\|\bar\Theta - R\|_F^2 = \sum_{ij} s_{ij}^2$,
# so $z$ is about 1; a systematic bias $b$ raises it to about $\sqrt{1 + \|b\|_F^2/\|s\|_F^2}$.
# The exact mean over all masks gives the calibration: its $z$ should be close to 1.

# %%
if cpu_threads > 0:
    torch.set_num_threads(cpu_threads)  # small matrix products: extra threads only contend
check = expected_ntk_check(
    drop_probs, list(range(n_seeds)), n_points=n_points, width=width, depth=depth,
    n_fourier=n_fourier, fourier_scale=fourier_scale, n_samples=n_mc, exact=True, device=device,
)
print("inputs: 1-d points drawn uniformly on [0, 1] (generated, one draw per seed)")
summary = check.groupby("p")[["formula_z", "eval_z", "exact_z", "formula_bias", "eval_bias", "formula_relative_stderr"]].mean()
summary.round(4)

# %% [markdown]
# Each row averages the initialization seeds. The figure shows the same numbers with their
# 95 % intervals across seeds.

# %%
at_claim = check[np.isclose(check["p"], claim_p)]
if at_claim.empty:
    raise ValueError(f"claim_p = {claim_p} must be one of drop_probs = {drop_probs}.")
z_mean, z_low, z_high = t_interval(at_claim["formula_z"])
z_eval, _, _ = t_interval(at_claim["eval_z"])
z_exact, _, _ = t_interval(at_claim["exact_z"])
bias_formula, _, _ = t_interval(at_claim["formula_bias"])
bias_eval, _, _ = t_interval(at_claim["eval_bias"])
rel_se, _, _ = t_interval(at_claim["formula_relative_stderr"])
largest = check[check["p"] == check["p"].max()]
fig, (ax_bias, ax_z) = figure(2, profile=profile, seeds=n_seeds)
plot_expected_ntk_gaps(check, ax_bias=ax_bias, ax_z=ax_z)
fig.suptitle(f"Expected NTK over depth masks: ECRN, width {width}, depth {depth}")
fig.tight_layout()
glue_figure("fig_sd_gaps", fig)

# %% tags=["remove-cell"]
glue_values(
    claim_p=claim_p,
    z_formula=z_mean,
    z_eval=z_eval,
    z_exact=z_exact,
    bias_formula_pct=100 * bias_formula,
    bias_eval_pct=100 * bias_eval,
    rel_se_pct=100 * rel_se,
    p_max=float(check["p"].max()),
    bias_formula_pmax_pct=100 * float(largest["formula_bias"].mean()),
    bias_eval_pmax_pct=100 * float(largest["eval_bias"].mean()),
    n_mc=n_mc,
    depth=depth,
    n_masks=2**depth,
    gap_run=run_label(profile, n_seeds),
)

# %% [markdown]
# ```{glue:figure} fig_sd_gaps
# :name: fig-sd-gaps
#
# Left: relative Frobenius distance from the exact expected NTK (all masks summed) of the
# $(1-p)$-weighted formula and of the eval-mode kernel, with the relative standard error of
# the Monte Carlo mean. Right: distance from the Monte Carlo mean in units of its standard
# error. Means and 95 % intervals across initializations ({glue:text}`gap_run`).
# ```
#
# At $p$ = {glue:text}`claim_p:.2g` the weighted formula lies
# {glue:text}`bias_formula_pct:.2f` % from the exact mean of the {glue:text}`n_masks` mask
# kernels, while the eval-mode kernel lies {glue:text}`bias_eval_pct:.2f` % from it. With
# {glue:text}`n_mc` masks the Monte Carlo error is {glue:text}`rel_se_pct:.2f` %. In units
# of that error the formula's distance from the Monte Carlo mean is $z$ =
# {glue:text}`z_formula:.2f`, against {glue:text}`z_exact:.2f` for the exact mean itself and
# {glue:text}`z_eval:.2f` for the eval-mode kernel; a $z$ near 1 is as close as sampling
# noise allows.
#
# At the largest drop probability, $p$ = {glue:text}`p_max:.2g`, the formula's bias is
# {glue:text}`bias_formula_pmax_pct:.2f` % (eval mode: {glue:text}`bias_eval_pmax_pct:.2f` %).
# The neglected mask dependence enters through finite-width fluctuations of the
# pre-activations, so the formula's bias should shrink as the width grows (see the
# exercises).

# %% tags=["hide-input"]
verdict_ntk = check_claim(
    "stochastic_depth_expected_ntk",
    interval_rule(z_mean, max(0.0, z_low), z_high, expected=(0.0, 2.0),  # z >= 0: clip the t interval at 0
                  what=f"z = ||MC mean - formula||_F / ||MC std. error||_F at p = {claim_p:g} (mean over initializations)"),
    profile=profile, seeds=n_seeds, glue_as="verdict_ntk",
    values={"z_formula": z_mean, "z_eval": z_eval, "z_exact": z_exact,
            "formula_bias": bias_formula, "eval_bias": bias_eval, "relative_stderr": rel_se,
            "n_mc": n_mc, "width": width, "depth": depth, "p": claim_p},
)

# %% [markdown]
# The rule: the formula is accepted when the 95 % interval of its mean $z$ across
# initializations lies inside $[0, 2]$ ($z$ is never negative, so the t interval is
# clipped at 0 and only its upper end matters), i.e. when its distance from the Monte
# Carlo mean is at most about twice what sampling noise alone produces. More masks shrink the standard error, so at some sample size the
# formula's bias will show; the exact-mean comparison in the figure measures that bias
# directly.
#
# ## How much does the NTK's evolution vary between mask draws?
#
# Next we train. We fix one initialization and train it several times by full-batch
# gradient descent, each run with its own sequence of random masks (one mask per step), and
# follow the relative change $\|\Theta_t - \Theta_0\|_F / \|\Theta_0\|_F$ of the NTK (in
# evaluation mode, on the training inputs). With $p = 0$ all runs are identical; the spread
# for $p > 0$ is the variance that stochastic depth adds to the kernel's evolution.

# %%
data = load_dataset("sinusoids", n_train=n_train, n_test=n_test, seed=0,
                    frequencies=[1.0, 3.0], amplitudes=[1.0, 0.5], noise=0.1)
print(data.source)
trajectories = mask_draw_trajectories(
    data, drop_probs=trajectory_drop_probs, mask_seeds=list(range(n_mask_draws)), init_seed=0,
    width=train_width, depth=train_depth, n_fourier=n_fourier, fourier_scale=fourier_scale,
    lr=lr, epochs=epochs, ntk_every=ntk_every, n_probe=n_train, device=device,
)
n_diverged = int(trajectories.groupby(["p", "mask_seed"])["diverged"].any().sum())
last = trajectories[trajectories["epoch"] == trajectories["epoch"].max()]
spread = last.groupby("p")["kernel_change"].agg(["mean", "std"])
spread

# %%
fig, (ax_mean, ax_std) = figure(2, profile=profile, seeds=n_mask_draws)
plot_kernel_change_by_mask(trajectories, ax_mean=ax_mean, ax_std=ax_std)
fig.suptitle(f"NTK evolution across mask draws: ECRN, width {train_width}, depth {train_depth}")
fig.tight_layout()
glue_figure("fig_sd_trajectories", fig)

# %% tags=["remove-cell"]
p_hi = max(trajectory_drop_probs)
glue_values(
    traj_p_hi=p_hi,
    traj_std_hi=float(spread.loc[p_hi, "std"]),
    traj_mean_hi=float(spread.loc[p_hi, "mean"]),
    traj_cv_hi_pct=100 * float(spread.loc[p_hi, "std"] / spread.loc[p_hi, "mean"]),
    traj_std_0=float(spread.loc[min(trajectory_drop_probs), "std"]),
    traj_p_lo=min(trajectory_drop_probs),
    n_mask_draws=n_mask_draws,
    n_diverged_traj=n_diverged,
    traj_run=f"profile {profile}, one initialization, {n_mask_draws} mask draws",
)

# %% [markdown]
# ```{glue:figure} fig_sd_trajectories
# :name: fig-sd-trajectories
#
# Left: relative change of the NTK during training, mean over mask draws with the min-max
# band, for each $p$. Right: its standard deviation across mask draws
# ({glue:text}`traj_run`).
# ```
#
# At the end of training, the relative kernel change varies across the
# {glue:text}`n_mask_draws` mask draws with a standard deviation of
# {glue:text}`traj_std_hi:.2g` at $p$ = {glue:text}`traj_p_hi:.2g` (that is
# {glue:text}`traj_cv_hi_pct:.1f` % of its mean {glue:text}`traj_mean_hi:.3g`), against
# {glue:text}`traj_std_0:.2g` at $p$ = {glue:text}`traj_p_lo:.2g`. Runs that diverged:
# {glue:text}`n_diverged_traj`. This is the trade-off the paper names: stochastic depth
# makes the kernel of any single run less predictable, and the expected-kernel analysis
# above describes only the average.
#
# ## Does stochastic depth lower the test error?
#
# Finally the paper's generalization claim. We train the same ECRN on the same sinusoid
# regression with and without stochastic depth; seed $s$ fixes the data split and the
# initialization of both runs, so the comparison is paired seed by seed.

# %%
common = dict(
    dataset="sinusoids", model="ecrn",
    dataset_kwargs=dict(n_train=n_train, n_test=n_test, frequencies=[1.0, 3.0], amplitudes=[1.0, 0.5], noise=0.1),
    optimizer="gd", lr=lr, epochs=epochs, seeds=list(range(n_seeds)),
)
arch = dict(width=train_width, depth=train_depth, n_fourier=n_fourier, fourier_scale=fourier_scale)
with_sd = ExperimentConfig(**common, model_kwargs=dict(arch, drop_prob=generalization_p), label="with stochastic depth")
without_sd = ExperimentConfig(**common, model_kwargs=dict(arch, drop_prob=0.0), label="without")
runs = pd.concat([run_experiment(c, results_dir="results/runs/08_ablation_stochastic_depth", device=device)
                  for c in (with_sd, without_sd)], ignore_index=True)
summarize(runs, metrics=["mse"], splits=["train", "test"])[["model", "split", "n", "mean", "ci_low", "ci_high"]]

# %%
comparison = paired_comparison(runs, "with stochastic depth", "without", "mse", split="test")
print(comparison)

fig, ax = figure(profile=profile, seeds=n_seeds)
plot_paired_errors(comparison.differences, ax=ax, labels=(f"p = {generalization_p:g}", "p = 0"))
ax.set_title("Test MSE, paired by seed")
glue_figure("fig_sd_paired", fig)

# %% tags=["remove-cell"]
glue_values(gen_p=generalization_p, gen_diff=comparison.mean_difference, gen_low=comparison.ci_low,
            gen_high=comparison.ci_high, gen_n=comparison.n, gen_run=run_label(profile, n_seeds))

# %% [markdown]
# ```{glue:figure} fig_sd_paired
# :name: fig-sd-paired
#
# Test MSE of each seed without ($p = 0$) and with stochastic depth, joined by a line
# ({glue:text}`gen_run`).
# ```

# %% tags=["hide-input"]
verdict_gen = check_claim(
    "stochastic_depth_generalization",
    sign_rule(comparison.mean_difference, comparison.ci_low, comparison.ci_high, expect="negative",
              what=f"test MSE with (p = {generalization_p:g}) minus without, paired by seed"),
    profile=profile, seeds=n_seeds, glue_as="verdict_gen",
    values={"mean_difference": comparison.mean_difference, "ci_low": comparison.ci_low,
            "ci_high": comparison.ci_high, "p_value": comparison.p_value, "n": comparison.n,
            "drop_prob": generalization_p, "epochs": epochs},
)

# %% [markdown]
# Over {glue:text}`gen_n` paired seeds, the test MSE with stochastic depth
# ($p$ = {glue:text}`gen_p:.2g`) minus the test MSE without is {glue:text}`gen_diff:.3g`
# (95 % interval {glue:text}`gen_low:.3g` to {glue:text}`gen_high:.3g`): the verdict is
# **{glue:text}`verdict_gen`**. Where the interval is not entirely below zero, our runs do
# not support the paper's claim in this setting. A plausible reason: with full-batch
# gradient descent and a fixed number of steps, dropping blocks also slows the fit (each
# step trains a thinner network), a cost that can outweigh the regularization on a small,
# smooth regression task (the last exercise asks for a fairer comparison).
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-sd-1
# ```
# For a single block ($L = 1$), write $\Theta_m$ as a polynomial in $m_1$ and compare its
# expectation with the weighted formula. Which term makes them differ, and why does it
# vanish as the width grows?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-sd-1
# :class: dropdown
# ```
# With one block, $\Theta_m = \Theta^{(0)} + m_1 A + m_1^2 B$ where $\Theta^{(0)}$ is the
# kernel without the block, $A$ the cross terms between the projection path and the branch
# (linear in the branch) and $B$ the branch's own contribution (quadratic in it); no other
# mask enters. Then $\mathbb{E}[\Theta_m] = \Theta^{(0)} + (1-p)(A + B)$. The weighted
# formula scales the branch by $\sqrt{1-p}$, giving $\Theta^{(0)} + \sqrt{1-p}\,A + (1-p)B$:
# it agrees on the quadratic term and differs on $A$, which vanishes in the infinite-width
# limit (the branch is independent of the path it is added to). Check it numerically with
# `expected_ntk_check([0.3], [0], depth=1)`: the bias falls as the width grows.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-sd-2
# ```
# Rerun the kernel comparison with `width` = 64 and with `width` = 1024
# (`ntkbook run 08_ablation_stochastic_depth -p width 64`). How does the formula's bias
# change? And the eval-mode kernel's?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-sd-2
# :class: dropdown
# ```
# The formula's bias shrinks as the width grows: its error comes from the finite-width
# cross terms of the previous exercise. The eval-mode kernel's bias does not
# shrink: weighting increments by $(1-p)^2$ instead of $1-p$ is wrong at every width,
# including the infinite-width limit (`ntkbook.analytic.ecrn_kernels` computes both limits).
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-sd-3
# ```
# The generalization comparison trains both variants for the same number of steps. Design a
# fairer comparison, for instance one that stops each run at its best validation error, and
# run it with `ntkbook.experiments.runs.run_experiment`.
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-sd-3
# :class: dropdown
# ```
# Split the training set into training and validation parts, record the validation MSE every
# epoch (pass the validation split as the test split of a second `Dataset`), and compare the
# test MSE at each run's best validation epoch. With the same budget of steps, a fairer
# alternative is to scale the learning rate of the branch by $1/(1-p)$ during training, so
# that the expected update matches the network without drops.
# ```{solution-end}
# ```
