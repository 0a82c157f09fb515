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
# (chapter-ablation-fourier)=
# # Ablation: Fourier features on and off
#
# ## Overview
#
# Networks trained by gradient descent fit the low frequencies of a target first and the
# high frequencies late, if at all: the *spectral bias* of {cite}`rahaman2019spectral`.
# In the NTK picture the reason is the kernel's spectrum: the residual along an eigenvector
# with eigenvalue $\lambda_i$ shrinks at a rate proportional to $\lambda_i$, and smooth
# (low-frequency) functions carry the large eigenvalues. The NTK-ECRN
# {cite}`mysore2025ntkecrn` puts a Fourier feature embedding
# $\varphi(x) = [\sin(2\pi Bx), \cos(2\pi Bx)]$ in front of its residual tower, after
# {cite}`tancik2020fourier`, and claims that it reduces the spectral bias and enriches the
# NTK spectrum.
#
# In this chapter we will
#
# * choose the embedding's scale $\sigma$ on a validation split carved from the training
#   data, over a grid fixed in advance, never on the test set,
# * train the ECRN with and without its embedding on a target made of one low- and one
#   high-frequency sinusoid, and plot the fits,
# * measure the error of each frequency component over training, by projecting the
#   prediction on each mode,
# * read the same story off the NTK at initialization: how fast each mode is learned, and
#   how fast the eigenvalues decay.

# %% tags=["hide-input"]
import math

import numpy as np
import pandas as pd
import torch

from ntkbook.claims.chapter import check_claim, model_metrics
from ntkbook.claims.rules import sign_rule
from ntkbook.data import frequency_errors, load_dataset
from ntkbook.experiments.mechanisms import (final_errors, fourier_ablation, fourier_scale_selection,
                                            frequency_error_difference, init_spectra, mode_rates, selected_scale)
from ntkbook.experiments.runs import paired_comparison
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.glue import glue_values
from ntkbook.plots.mechanisms import (plot_fits, plot_frequency_errors, plot_metric_by_variant, plot_scale_selection,
                                      plot_spectra)
from ntkbook.plots.tables import show_table
from ntkbook.stats import t_interval

torch.set_num_threads(1)  # the models here are small: one thread avoids threading overhead

# %% [markdown]
# The parameters below are the paper-scale defaults (the `full` profile); the book's `ci`
# profile runs smaller ones (see {ref}`rerun-and-adapt`).

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
n_train = 256  # int in [2, inf): training points, uniform on [0, 1]
n_test = 256  # int in [2, inf): test points, an even grid on [0, 1] (for the plots)
frequencies = [1.0, 10.0]  # list of at least 2 floats in (0, inf): cycles per unit of the target's two sinusoids: low and high
amplitudes = [1.0, 0.5]  # list of at least 2 floats in (0, inf): their amplitudes
noise = 0.05  # float in [0, inf): standard deviation of the noise on the training targets
width = 256  # int in [1, inf): hidden width of the ECRN
depth = 4  # int in [1, inf): residual blocks
n_fourier = 64  # int in [1, inf): m: Fourier frequencies of the embedding (2m features)
scale_grid = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]  # list of at least 1 floats in (0, inf): candidate sigmas of B, a factor 2 apart, fixed before any run (validation picks one)
val_fraction = 0.25  # float in (0, 1): share of each training set held out to choose sigma
n_select_seeds = 3  # int in [1, inf): the first seeds, whose validation splits choose sigma
epochs = 600  # int in [1, inf): full-batch gradient-descent steps (the same for every model and candidate)
lr_fraction = 0.5  # float in (0, 1]: each model's step is this fraction of its stability limit 2n / lambda_max
every = 25  # int in [1, inf): epochs between two measurements of the per-frequency errors
n_seeds = 5  # int in [2, inf): seeds: each draws its own data and initialization
device = "cpu"  # device: where training happens ("cuda" works too)

# %% [markdown]
# ## The task and the two models
#
# The target is $y(x) = a_1 \sin(2\pi f_1 x) + a_2 \sin(2\pi f_2 x)$ on $[0, 1]$ plus
# Gaussian noise on the training targets, a reconstruction of the paper's "regression with
# sinusoidal modes". Both models are the same ECRN (width {glue:text}`width`, depth
# {glue:text}`depth`, the package's default residual scale and stochastic depth); the only
# difference is the embedding: "Fourier on" uses {glue:text}`n_fourier` random frequencies
# with a scale $\sigma$ chosen below, "Fourier off" feeds $x$ itself to the first dense
# layer (`n_fourier=0`).
#
# Each model is trained by full-batch gradient descent for {glue:text}`epochs` steps with a
# step set from its own kernel, $\eta = $ {glue:text}`lr_fraction:g`
# $\times\, 2n/\lambda_{\max}(0)$ (`ntkbook.experiments.mechanisms.stable_lr`), so that both
# take the same step *relative to their stability limit*: the comparison is between
# kernels, not between learning rates.
#
# ## Choosing $\sigma$ on validation data
#
# The embedding's scale is a hyperparameter, and the target's frequencies must not choose
# it. We sweep $\sigma$ over the grid {glue:text}`scale_grid_text` (a factor 2 apart, fixed
# before any run). For each of the first {glue:text}`n_select_seeds` seeds,
# {glue:text}`val_pct:.0f` % of the training set (independent random draws) is held out as
# a validation split (`ntkbook.data.hold_out_validation`, the split the
# B-scale chapter uses too); the ECRN is trained on the rest at
# every $\sigma$ with the same number of steps and the same relative step, and the scale
# with the lowest mean validation MSE across those seeds is selected
# (`ntkbook.experiments.mechanisms.selected_scale`; a scale at which any seed diverged cannot be
# selected). The test set plays no part. The model without the embedding is trained the
# same way on the same splits; it has no scale to choose (its step is set by its own
# kernel, its budget is the same), so its validation error is only shown for comparison.

# %%
data_kwargs = dict(n_train=n_train, n_test=n_test, frequencies=tuple(frequencies),
                   amplitudes=tuple(amplitudes), noise=noise)
print(load_dataset("sinusoids", seed=0, **data_kwargs).source)
common = dict(width=width, depth=depth)
seeds = list(range(n_seeds))
select_seeds = seeds[:min(n_select_seeds, n_seeds)]
selection = fourier_scale_selection(scales=scale_grid, on={**common, "n_fourier": n_fourier},
                                    off={**common, "n_fourier": 0}, seeds=select_seeds, data_kwargs=data_kwargs,
                                    epochs=epochs, lr_fraction=lr_fraction, val_fraction=val_fraction, device=device)
fourier_scale, per_scale = selected_scale(selection)
off_val = t_interval(selection.loc[selection.variant == "Fourier off", "val_mse"], bounds=(0.0, math.inf))
print("selected sigma:", fourier_scale)
show_table(per_scale)

# %% tags=["remove-cell"]
glue_values(width=width, depth=depth, n_fourier=n_fourier, fourier_scale=fourier_scale, lr_fraction=lr_fraction,
            epochs=epochs, run=run_label(profile, n_seeds), scale_grid_text=", ".join(f"{s:g}" for s in scale_grid),
            n_select_seeds=len(select_seeds), val_pct=100 * val_fraction,
            val_selected=float(per_scale.loc[per_scale.selected, "mean"].iloc[0]), val_off=off_val.mean,
            n_selection_runs=len(selection), f_high_target=max(frequencies))

# %%
fig, ax = figure(profile=profile, seeds=len(select_seeds))
plot_scale_selection(per_scale, baseline=tuple(off_val), ax=ax)
ax.set_title("validation error against the Fourier scale")
glue_figure("fig_selection", fig)

# %% [markdown]
# ```{glue:figure} fig_selection
# :name: fig-selection-ch7
#
# Validation MSE of the ECRN with its embedding at each scale $\sigma$ of the grid (mean and
# 95 % t interval across the selection seeds), the selected scale starred, and the ECRN
# without the embedding as a band ({glue:text}`run_select`, validation splits).
# ```
#
# The selected scale is $\sigma$ = {glue:text}`fourier_scale:g`, with a mean validation
# MSE of {glue:text}`val_selected:.3g`, against {glue:text}`val_off:.3g` without the
# embedding. Too small a $\sigma$ gives frequencies that do not reach the target's
# high-frequency component; too large a $\sigma$ gives a kernel that no longer relates
# nearby points and fits the noise (the B-scale chapter studies this trade-off). From here
# on, "Fourier on" is the ECRN at the selected scale, trained on the whole training set and
# evaluated once on the test grid.

# %%
variants = {"Fourier on": {**common, "n_fourier": n_fourier, "fourier_scale": fourier_scale},
            "Fourier off": {**common, "n_fourier": 0}}
out = fourier_ablation(variants=variants, seeds=seeds, data_kwargs=data_kwargs, epochs=epochs,
                       lr_fraction=lr_fraction, every=every, device=device)
show_table(out["runs"][["variant", "seed", "lr", "lambda_max0", "diverged", "test_mse"]])

# %% tags=["remove-cell"]
glue_values(run_select=run_label(profile, len(select_seeds)))

# %% [markdown]
# ## The fits
#
# First the plain picture: the target on the test grid and both models' predictions after
# {glue:text}`epochs` steps, for the first seed.

# %%
fig, ax = figure(profile=profile, seeds=n_seeds)
plot_fits(out["fits"], seed=seeds[0], ax=ax)
ax.set_title(f"final fits (seed {seeds[0]})")
glue_figure("fig_fits", fig)
# a summary beside the count of diverged runs: their non-finite errors are dropped and counted (n_dropped)
mse = out["runs"].groupby("variant")["test_mse"].apply(
    lambda v: pd.Series(vars(t_interval(v, nonfinite="drop", bounds=(0.0, math.inf))))).unstack()

# %% tags=["remove-cell"]
variant_keys = [("Fourier on", "on"), ("Fourier off", "off")]
glue_values(
    {f"mse_{key}": float(mse.loc[name, "mean"]) for name, key in variant_keys},
    {f"mse_{key}_lo": float(mse.loc[name, "low"]) for name, key in variant_keys},
    {f"mse_{key}_hi": float(mse.loc[name, "high"]) for name, key in variant_keys},
    n_diverged=int(out["runs"]["diverged"].sum()),
)

# %% [markdown]
# ```{glue:figure} fig_fits
# :name: fig-fits-ch7
#
# The target (thick grey) and the predictions of the ECRN with and without its Fourier
# embedding on the test grid after training (first seed; {glue:text}`run`).
# ```
#
# The test mean squared error is {glue:text}`mse_on:.3g`
# (95 % interval [{glue:text}`mse_on_lo:.3g`, {glue:text}`mse_on_hi:.3g`]) with the
# embedding and {glue:text}`mse_off:.3g` ([{glue:text}`mse_off_lo:.3g`,
# {glue:text}`mse_off_hi:.3g`]) without it; {glue:text}`n_diverged` runs diverged.
#
# ## The error of each frequency component
#
# To see *which part* of the target each model misses, project the prediction $\hat f$ on
# the modes. On the test grid we solve the least-squares problem
#
# $$
# \hat f(x) \approx c_0 + \sum_k \big(s_k \sin(2\pi f_k x) + c_k \cos(2\pi f_k x)\big),
# $$
#
# and compare the part along mode $k$, $s_k \sin(2\pi f_k x) + c_k \cos(2\pi f_k x)$, with
# the true component $a_k \sin(2\pi f_k x)$: the relative error of the component is the
# norm of their difference over the norm of the true component (1 means the mode was not
# learned at all). By hand, for the first seed's final fit without the embedding:

# %%
fit = out["fits"][(out["fits"].seed == seeds[0]) & (out["fits"].variant == "Fourier off")]
xg, pred = fit["x"].to_numpy(), fit["y_pred"].to_numpy()
f_k, a_k = np.asarray(frequencies), np.asarray(amplitudes)
arg = 2 * np.pi * np.outer(xg, f_k)  # (N, K)
basis = np.hstack([np.ones((len(xg), 1)), np.sin(arg), np.cos(arg)])  # (N, 1 + 2K)
coef, *_ = np.linalg.lstsq(basis, pred, rcond=None)
K = len(f_k)
by_hand = [np.linalg.norm(coef[1 + k] * np.sin(arg[:, k]) + coef[1 + K + k] * np.cos(arg[:, k])
                          - a_k[k] * np.sin(arg[:, k])) / np.linalg.norm(a_k[k] * np.sin(arg[:, k]))
           for k in range(K)]
data0 = load_dataset("sinusoids", seed=seeds[0], **data_kwargs)
package = frequency_errors(data0, torch.tensor(pred.copy()))["relative_error"].to_numpy()
print("by hand:", np.round(by_hand, 6), " ntkbook.data.frequency_errors:", np.round(package, 6))

# %% tags=["remove-cell"]
glue_values(hand_gap=float(np.max(np.abs(np.asarray(by_hand) - package))))

# %% [markdown]
# The hand-written projection and `ntkbook.data.frequency_errors` agree to
# {glue:text}`hand_gap:.1e`. The package records this error for every mode every
# {glue:text}`every` steps of training:

# %%
fig, ax = figure(profile=profile, seeds=n_seeds)
plot_frequency_errors(out["errors"], ax=ax)
ax.set_title("error of each frequency component during training")
glue_figure("fig_errors", fig)

f_low, f_high = min(frequencies), max(frequencies)
final = final_errors(out["errors"])  # seed x (variant, frequency); NaN for a diverged run
high = frequency_error_difference(out["errors"], "Fourier on", "Fourier off", f_high)  # paired, on - off
low = frequency_error_difference(out["errors"], "Fourier on", "Fourier off", f_low)
d_high, d_high_lo, d_high_hi = high.mean_difference, high.ci_low, high.ci_high
d_low, d_low_lo, d_low_hi = low.mean_difference, low.ci_low, low.ci_high
err_high = {name: t_interval(final[(name, f_high)], bounds=(0.0, math.inf)) for name in variants}
show_table(final)

# %% tags=["remove-cell"]
glue_values(every=every, f_low=f_low, f_high=f_high, d_high=d_high, d_high_lo=d_high_lo, d_high_hi=d_high_hi,
            d_low=d_low, d_low_lo=d_low_lo, d_low_hi=d_low_hi,
            err_high_on=float(final[("Fourier on", f_high)].mean()),
            err_high_off=float(final[("Fourier off", f_high)].mean()),
            err_low_on=float(final[("Fourier on", f_low)].mean()),
            err_low_off=float(final[("Fourier off", f_low)].mean()))

# %% [markdown]
# ```{glue:figure} fig_errors
# :name: fig-errors-ch7
#
# Relative error of each frequency component of the prediction during gradient descent:
# mean over seeds with the min-max band across seeds; colour marks the frequency, line
# style the model
# ({glue:text}`run`).
# ```
#
# Without the embedding the high-frequency component ($f$ = {glue:text}`f_high:g`) keeps a
# relative error of {glue:text}`err_high_off:.3g` at the end of training (1 is "not
# learned"), while the low one ($f$ = {glue:text}`f_low:g`) reaches
# {glue:text}`err_low_off:.3g`: the spectral bias. With the embedding the errors are
# {glue:text}`err_high_on:.3g` and {glue:text}`err_low_on:.3g`. Seed by seed, the final
# error of the high-frequency component changes by {glue:text}`d_high:.3g`
# (95 % interval [{glue:text}`d_high_lo:.3g`, {glue:text}`d_high_hi:.3g`]) when the
# embedding is switched on, and that of the low-frequency one by {glue:text}`d_low:.3g`
# ([{glue:text}`d_low_lo:.3g`, {glue:text}`d_low_hi:.3g`]).

# %% tags=["hide-input"]
verdict_bias = check_claim(
    "fourier_reduces_spectral_bias",
    sign_rule(d_high, d_high_lo, d_high_hi, expect="negative",
              what=f"the paired difference of the final relative error of the f = {f_high:g} component, on minus off"),
    profile=profile, seeds=n_seeds, glue_as="verdict_bias", p_value=high.p_value, values={
        "high_frequency": f_high, "difference_high": [d_high, d_high_lo, d_high_hi],
        "difference_low": [d_low, d_low_lo, d_low_hi], "test_mse": mse.reset_index().to_dict("records"),
        **model_metrics(f"final relative error of the f = {f_high:g} component (test grid)", err_high),
        "epochs": epochs, "fourier_scale": fourier_scale, "fourier_scale_selected_from": list(scale_grid),
        "selection": per_scale.to_dict("records"), "selection_seeds": select_seeds, "val_fraction": val_fraction,
    },
)

# %% [markdown]
# ## The same story in the kernel
#
# Why does one model learn the high frequency and the other not? Linearize: gradient
# descent shrinks the training residual along an NTK eigenvector with eigenvalue
# $\lambda_i$ by a factor $1 - \eta\lambda_i/n$ per step, and with our step
# $\eta = 2\rho n/\lambda_{\max}$ ($\rho$ the fraction above) that factor is
# $1 - 2\rho\,\lambda_i/\lambda_{\max}$. A mode $v$ that is not an eigenvector is learned at
# a speed set by the *rate* $v^\top\Theta v / (v^\top v\, \lambda_{\max})$ between 0 and 1
# (`ntkbook.experiments.mechanisms.mode_rates` averages it over $\sin$ and $\cos$). We compute it for
# both frequencies on the training inputs of the first seed, at initialization.

# %%
data_first = load_dataset("sinusoids", seed=seeds[0], dtype=torch.float64, **data_kwargs)
specs = {name: ("ecrn", kwargs) for name, kwargs in variants.items()}
rates = mode_rates(specs, data_first.x_train, frequencies, seeds)
rate_table = rates.groupby(["variant", "frequency"])["rate"].mean().unstack("frequency")
show_table(rate_table)

# %% tags=["remove-cell"]
glue_values({f"rate_high_{key}": float(rate_table.loc[name, f_high]) for name, key in variant_keys},
            {f"rate_low_{key}": float(rate_table.loc[name, f_low]) for name, key in variant_keys})

# %% [markdown]
# Without the embedding the high-frequency mode has rate {glue:text}`rate_high_off:.2g`
# against {glue:text}`rate_low_off:.2g` for the low one; with it, {glue:text}`rate_high_on:.2g`
# and {glue:text}`rate_low_on:.2g`. The ratio of rates is roughly the ratio of the numbers
# of steps the two modes need.
#
# The whole spectrum tells the same story. We compute the eigenvalues of both kernels on
# the training inputs for every seed and compare their decay through the effective rank
# $(\sum_i\lambda_i)^2/\sum_i\lambda_i^2$ (chapter {ref}`chapter-architecture`).

# %%
eigs, spectra = init_spectra(specs, data_first.x_train, seeds)
enrich = paired_comparison(spectra, "Fourier on", "Fourier off", "effective_rank", split="init")
print(enrich)
fig, axes = figure(2, profile=profile, seeds=n_seeds)
plot_spectra(eigs, ax=axes[0], normalize=True)
axes[0].set_title("NTK eigenvalues / the largest")
plot_metric_by_variant(spectra, "effective_rank", ax=axes[1], names=list(variants))
axes[1].set_title("effective rank (dots: seeds; 95 % t interval)")
fig.tight_layout()
glue_figure("fig_spectrum", fig)
top = {name: float(np.mean((e / e[:, :1] > 1e-3).sum(axis=1))) for name, e in eigs.items()}

# %% tags=["remove-cell"]
glue_values(
    {f"reff_{key}": float(spectra[(spectra.model == name) & (spectra.metric == "effective_rank")]["value"].mean())
     for name, key in variant_keys},
    {f"n_above_{key}": top[name] for name, key in variant_keys},
    enrich=enrich.mean_difference,
    enrich_lo=enrich.ci_low,
    enrich_hi=enrich.ci_high,
)

# %% [markdown]
# ```{glue:figure} fig_spectrum
# :name: fig-spectrum-ch7
#
# Left: the NTK eigenvalues at initialization on the training inputs, divided by the
# largest (median over seeds, min-max band). Right: the effective rank per seed with its
# 95 % t interval ({glue:text}`run`).
# ```
#
# With the embedding, on average {glue:text}`n_above_on:.3g` eigenvalues exceed
# $10^{-3}\lambda_{\max}$, against {glue:text}`n_above_off:.3g` without it, and the
# effective rank is {glue:text}`reff_on:.3g` against {glue:text}`reff_off:.3g`: a paired
# difference of {glue:text}`enrich:.3g` (95 % interval [{glue:text}`enrich_lo:.3g`,
# {glue:text}`enrich_hi:.3g`]).

# %% tags=["hide-input"]
verdict_spec = check_claim(
    "fourier_enriches_spectrum",
    sign_rule(enrich.mean_difference, enrich.ci_low, enrich.ci_high, expect="positive",
              what="the paired difference in effective rank of the NTK at initialization, on minus off"),
    profile=profile, seeds=n_seeds, glue_as="verdict_spec", p_value=enrich.p_value, values={
        "on_minus_off": enrich.as_dict(), "eigenvalues_above_1e-3": top, "fourier_scale": fourier_scale,
        **model_metrics("effective rank of the NTK at initialization", {
            name: t_interval(spectra[(spectra.model == name) & (spectra.metric == "effective_rank")]["value"],
                             bounds=(1.0, float(n_train))) for name in variants}),
    },
)

# %% [markdown]
# Both claims are read here at the scale the validation splits selected,
# $\sigma$ = {glue:text}`fourier_scale:g`. The embedding helps because its random
# frequencies cover the target's; at a much smaller $\sigma$ they would not, and at a much
# larger one the kernel stops relating nearby points, as the validation curve shows.
#
# ## What changed in this chapter's verdicts, and why
#
# An earlier version fixed $\sigma$ equal to the target's high frequency,
# {glue:text}`f_high_target:g` cycles per unit: a choice made by knowing the answer, which a
# user of the embedding does not have. Now $\sigma$ is chosen from the grid
# {glue:text}`scale_grid_text` by the validation error of {glue:text}`n_selection_runs`
# training runs on splits carved from the training sets, and the test grid is used once,
# for the selected $\sigma$ = {glue:text}`fourier_scale:g`. At that scale the spectral-bias
# verdict is **{glue:text}`verdict_bias`** and the spectrum verdict
# **{glue:text}`verdict_spec`**. A diverged run would enter both as a missing value and make
# its verdict inconclusive (the intervals' "void" policy), never silently better.
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-fourier-1
# ```
# Rerun the chapter with the grid reduced to $\sigma = 1$ (`ntkbook run 07_ablation_fourier
# -p scale_grid "[1.0]"`), so that the selection has no choice. Does the embedding still
# help with the high-frequency component? Explain with the rates of the last section.
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-fourier-1
# :class: dropdown
# ```
# With $\sigma = 1$ the random frequencies $B_k \sim \mathcal N(0, 1)$ are almost all below
# 3 cycles per unit, so $\varphi$ has almost no energy near $f = 10$; the kernel's rate for
# that mode stays small and the high-frequency error stays high, close to the model without
# embedding. The low-frequency mode is still learned faster than without the embedding.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-fourier-2
# ```
# For a *fixed* kernel, the residual along eigenvector $i$ after $t$ steps is
# $(1 - 2\rho\lambda_i/\lambda_{\max})^t$ times its initial value. How many steps does a
# mode with rate $10^{-3}$ need to lose 90 % of its error at $\rho = 0.5$?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-fourier-2
# :class: dropdown
# ```
# We need $(1 - 10^{-3})^t \le 0.1$, so $t \ge \ln 10 / (-\ln(1 - 10^{-3})) \approx 2302$
# steps: almost four times the 600 steps of the `full` profile.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-fourier-3
# ```
# Make the embedding trainable (`trainable_fourier=True` in the "Fourier on" variant). Does
# the high-frequency error fall faster? What happens to $B$?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-fourier-3
# :class: dropdown
# ```
# Add `"trainable_fourier": True` to the variant's keyword arguments. $B$ then receives
# gradients, and the NTK gains the terms of $B$ itself (their derivatives carry the factor
# $2\pi x$, which is large for the sin/cos arguments), so the step set by `stable_lr`
# shrinks. Compare the final rows of `B` with their initial values to see which frequencies
# moved towards the target's.
# ```{solution-end}
# ```
