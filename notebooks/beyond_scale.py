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
# (chapter-beyond-scale)=
# # Beyond the paper: scale, and the convolutional NTK
#
# ## Overview
#
# The NTK-ECRN paper {cite}`mysore2025ntkecrn` asks, among its open questions, whether the
# ECRN's controlled eigenvalue growth persists as the data and the depth grow, and its
# CIFAR-10 comparison is against a "conventional NTK" that, in
# {ref}`chapter-cifar10`, is the kernel of a fully connected network on flattened pixels.
# For images the conventional NTK is the convolutional one {cite}`arora2019exact`: the limit
# of a CNN as its number of channels grows. This chapter goes past the paper on both counts.
#
# In this chapter we will
#
# * compute the analytic NTK of ReLU CNNs with 3x3 convolutions (`ntkbook.cntk`) and check
#   that the empirical NTKs of random CNNs converge to it as the channels grow, at the
#   central-limit rate of {ref}`chapter-infinite-width`;
# * compare kernel regression with the convolutional NTK (CNTK) and with the fully connected
#   NTK on CIFAR-10 {cite}`krizhevsky2009cifar`, both tuned on validation images with the same
#   budget, at several training sizes;
# * measure the ECRN's largest NTK eigenvalue at initialization from 2 to 32 residual blocks
#   at a fixed width and a fixed $\alpha_l$, and how it scales with the training size, against
#   the reconstructed bound of {ref}`chapter-eigenvalue-control`.

# %% tags=["hide-input"]
import math
import time

import numpy as np
import torch
from IPython.display import display

from ntkbook.claims.chapter import check_claim
from ntkbook.claims.rules import interval_rule, one_sided_rule, sign_rule
from ntkbook.experiments.beyond_scale import (bootstrap_one_sided_p, cifar_images, cnn_kernel_errors,
                                              compare_kernels, ecrn_lambda_max, kernel_bank)
from ntkbook.experiments.theory import compare_exponent
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.beyond_scale import plot_kernel_accuracy, plot_kernel_difference, plot_loglog_fit
from ntkbook.plots.glue import glue_values
from ntkbook.stats import one_sided_p, paired_bootstrap, paired_difference, slope_interval

# %% [markdown]
# The parameters below are the paper-scale defaults for a 2-core CPU (the `full` profile).
# The `ci` profile uses fewer channels, seeds and images: **its numbers are a smoke test**.
# See {ref}`rerun-and-adapt` to rerun with your own values (for example on a GPU with
# `-p device cuda -p n_train 5000 -p readout gap`).

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
device = "cpu"  # device: where the kernels and the networks are computed ("cuda" works too)
threads = 1  # int in [0, inf): torch CPU threads (0: leave torch's default)
conv_channels = [16, 32, 64, 128, 256, 512]  # list of at least 2 ints in [1, inf): channels n of the random CNNs
conv_seeds = 6  # int in [2, inf): seeds of the convergence measurement (one log-log slope each)
conv_images = 8  # int in [2, 5000]: CIFAR training images on which the CNN kernels are compared
conv_pool = 8  # int in [1, 32]: average pooling of those images (8: 4 x 4 pixels)
conv_depth = 2  # int in [1, inf): conv layers of the CNNs
n_nets = 4  # int in [1, inf): networks averaged into the mean empirical NTK of one seed and width
n_train = 2000  # int in [10, 5000]: CIFAR training images (20 % of each size are held out for validation)
n_test = 1000  # int in [10, 1000]: CIFAR test images
pool = 2  # int in [1, 32]: average pooling of the CIFAR images for both kernels (2: 16 x 16 pixels)
readout = "flatten"  # one of flatten, gap: readout of the CNTK (gap costs P^2 per pair: a GPU's)
cntk_depths = [2, 5]  # list of at least 1 ints in [1, inf): candidate conv depths of the CNTK
fc_depths = [1, 4]  # list of at least 1 ints in [1, inf): candidate depths of the FC NTK (chapter 13's)
sizes = [250, 500, 1000, 2000]  # list of at least 1 ints in [10, 5000]: nested training sizes (the largest one decides the claim)
ecrn_depths = [2, 4, 8, 16, 32]  # list of at least 2 ints in [1, inf): residual blocks L of the ECRN
ecrn_seeds = 4  # int in [2, inf): ECRN initializations
ecrn_width = 256  # int in [1, inf): width of the ECRN
ecrn_alpha = 0.3536  # float in [0, inf): alpha_l of every block, fixed across depths (1/sqrt(8), the ECRN default at L = 8)
ecrn_probe = 64  # int in [2, 5000]: CIFAR training images on which lambda_max(0) is measured
ecrn_sizes = [125, 250, 500, 1000]  # list of at least 2 ints in [2, 5000]: training sizes n for lambda_max(0) against n
ecrn_size_depth = 4  # int in [1, inf): residual blocks of the ECRN in the training-size sweep

# %%
if threads > 0:
    torch.set_num_threads(threads)
started = time.perf_counter()

# %% [markdown]
# ## The convolutional NTK
#
# A CNN with 3x3 convolutions, zero ("SAME") padding and ReLU, in the NTK parameterization of
# the book's other networks (every weight $N(0, 1)$, each layer multiplied by
# $\sigma_w / \sqrt{\text{fan-in}}$ with fan-in $9n$ for $n$ input channels), has an
# infinite-width kernel that obeys a recursion over pairs of pixels $(p, p')$
# {cite}`arora2019exact`. With $\mathcal{B}$ the mean over the 3x3 window shifted together
# at both pixels,
#
# $$
# \Sigma_{l+1}(p, p') = \sigma_w^2\, \mathcal{B}\big[\mathbb{E}\,\mathrm{relu}(u)\,\mathrm{relu}(v)\big] + \sigma_b^2,
# \qquad
# \Theta_{l+1} = \Sigma_{l+1} + \sigma_w^2\, \mathcal{B}\big[\mathbb{E}\,\mathrm{relu}'(u)\,\mathrm{relu}'(v)\; \Theta_l\big],
# $$
#
# the same arc-cosine expectations {cite}`cho2009kernel` as the MLP kernels of
# {ref}`chapter-infinite-width`. The window moves both pixels by the same offset, so the
# entries at offset $p' - p = 0$ need only entries at offset 0. A readout that flattens the
# last feature map reads only those: its kernel costs $O(N^2 P L)$ for $P$ pixels and depth
# $L$. A readout by global average pooling reads every pixel pair, $O(N^2 P^2 L)$.
# `ntkbook.cntk.cntk_kernels` computes both, in blocks of image pairs under a memory bound.
#
# The check: random CNNs (`ntkbook.convnet.ConvNet`, built from `nn.Conv2d`) of growing
# width, their empirical NTK computed by the package's engine, against the analytic kernel.
# Each seed gives one curve of the relative error
# $\|\bar\Theta_n - \Theta_\infty\|_F / \|\Theta_\infty\|_F$ against the channels $n$
# ($\bar\Theta_n$: the mean over `n_nets` networks) and one log-log slope.

# %%
conv_x = cifar_images(max(conv_images, 10), 10, pool=conv_pool, device=device).x_train[:conv_images]
print("images for the convergence check:", tuple(conv_x.shape))
errors = cnn_kernel_errors(conv_x, conv_channels, list(range(conv_seeds)), depth=conv_depth, n_nets=n_nets)
conv_fit = slope_interval(errors, x="channels", y="rel_error", by="seed")
errors.pivot_table(index="channels", columns="seed", values="rel_error").round(4)

# %%
fig, ax = figure(profile=profile, seeds=conv_seeds)
plot_loglog_fit(errors, x="channels", y="rel_error", slope=conv_fit["slope"],
                intercept=float(conv_fit["slopes"]["intercept"].mean()), ax=ax, reference=-0.5,
                reference_label="slope -1/2 (central limit)", xlabel="channels n",
                ylabel="relative error of the empirical NTK")
ax.set_title(f"Random ReLU CNNs ({conv_depth} conv layers) against the CNTK")
glue_figure("fig_cntk_convergence", fig)

# %% tags=["remove-cell"]
glue_values(conv_slope=conv_fit["slope"], conv_low=conv_fit["low"], conv_high=conv_fit["high"],
            conv_err_first=float(errors.groupby("channels")["rel_error"].mean().iloc[0]),
            conv_err_last=float(errors.groupby("channels")["rel_error"].mean().iloc[-1]),
            conv_n_first=int(min(conv_channels)), conv_n_last=int(max(conv_channels)),
            conv_half=compare_exponent(conv_fit["low"], conv_fit["high"], -0.5),
            conv_seconds=float(errors["seconds"].sum()), conv_run=run_label(profile, conv_seeds),
            conv_side=int(conv_x.shape[-1]), conv_n_images=int(conv_x.shape[0]))

# %% [markdown]
# ```{glue:figure} fig_cntk_convergence
# :name: fig-cntk-convergence
#
# Relative Frobenius error of the empirical NTK of random ReLU CNNs against the analytic
# CNTK, on {glue:text}`conv_n_images` CIFAR images of {glue:text}`conv_side` x
# {glue:text}`conv_side` pixels (flatten readout), one dot per seed and width; the line is
# the mean of the per-seed log-log fits ({glue:text}`conv_run`).
# ```
#
# From {glue:text}`conv_n_first` to {glue:text}`conv_n_last` channels the mean error falls
# from {glue:text}`conv_err_first:.3g` to {glue:text}`conv_err_last:.3g`. The fitted slope is
# {glue:text}`conv_slope:.3g` (95 % interval {glue:text}`conv_low:.3g` to
# {glue:text}`conv_high:.3g` across seeds); $-1/2$ lies {glue:text}`conv_half`. The empirical
# NTKs took {glue:text}`conv_seconds:.3g` s.
#
# The claim is a rate, so the rule is a window fixed before the run, the one
# {ref}`chapter-infinite-width` uses for MLPs: *supported* if the whole interval of the
# slope lies in $[-0.75, -0.25]$, *not supported* if it lies entirely outside.

# %% tags=["hide-input"]
verdict_conv = check_claim(
    "cntk_matches_wide_cnns",
    interval_rule(conv_fit["slope"], conv_fit["low"], conv_fit["high"], expected=(-0.75, -0.25),
                  what="log-log slope of the relative error of the mean empirical NTK against the channels"),
    profile=profile, seeds=conv_seeds, glue_as="verdict_conv",
    note=f"{conv_depth} conv layers, flatten readout, {conv_x.shape[0]} CIFAR images at {conv_x.shape[-1]}x{conv_x.shape[-1]}",
    values={"slope": conv_fit["slope"], "slope_low": conv_fit["low"], "slope_high": conv_fit["high"],
            "per_seed_slopes": conv_fit["slopes"]["slope"].tolist(), "channels": conv_channels,
            "depth": conv_depth, "n_nets": n_nets},
)

# %% [markdown]
# The verdict is **{glue:text}`verdict_conv`**.
#
# ## CIFAR-10: the CNTK against the fully connected NTK
#
# Both kernels see the same images: the CIFAR-10 subset of {ref}`chapter-cifar10`,
# standardized per channel and, our reconstruction choice, **downsampled by 2x2 average
# pooling to 16 x 16 pixels**, which cuts the CNTK's cost by 4 on this CPU. The fully
# connected kernel is chapter 13's "NTK" baseline (ReLU, $\sigma_w = 1$, $\sigma_b = 0.1$) on
# the flattened pooled images. Each kernel has {glue:text}`budget` candidates (depths), each
# with the ridge chosen from the same seven values; the choice minimizes the
# temperature-scaled cross-entropy on the validation images, the last 20 % of the training
# images, exactly as for every kernel model of chapter 13. The test images are predicted
# once, by the selected candidate. Smaller training sizes are nested subsets of the largest
# one, each with its own validation split, so one bank of kernel matrices serves them all.

# %%
data = cifar_images(n_train, n_test, pool=pool, device=device)
print("source:", data.source)
print(f"train {tuple(data.x_train.shape)}, test {tuple(data.x_test.shape)}")
bank = kernel_bank(data, {"cntk": cntk_depths, "fc_ntk": fc_depths}, readout=readout)
print("seconds per kernel (all candidates, train and test blocks):",
      {k: round(v, 1) for k, v in bank["seconds"].items()})
table, examples = compare_kernels(bank, data, sizes=sizes)
display(table[["n", "kernel", "depth", "relative_ridge", "temperature", "val_score", "accuracy",
               "cross_entropy"]].round({"temperature": 4, "val_score": 4, "accuracy": 4, "cross_entropy": 4}))

# %% tags=["remove-cell"]
glue_values(budget=len(cntk_depths), cifar_n=int(max(sizes)), cifar_n_test=len(data.x_test),
            cifar_side=int(data.x_train.shape[-1]), cifar_device=str(device), cifar_readout=readout,
            cntk_seconds=float(bank["seconds"]["cntk"]), fc_seconds=float(bank["seconds"]["fc_ntk"]))

# %% [markdown]
# This run used up to {glue:text}`cifar_n` training images and {glue:text}`cifar_n_test` test
# images of {glue:text}`cifar_side` x {glue:text}`cifar_side` pixels, on
# {glue:text}`cifar_device`, with the {glue:text}`cifar_readout` readout. The CNTK's matrices
# took {glue:text}`cntk_seconds:.3g` s, the fully connected kernel's
# {glue:text}`fc_seconds:.2g` s.

# %%
largest = int(max(sizes))
pair = paired_bootstrap(examples[largest]["cntk"], examples[largest]["fc_ntk"])
fig, axes = figure(2, profile=profile, seeds=1)
plot_kernel_accuracy(table, ax=axes[0], labels={"cntk": "CNTK", "fc_ntk": "FC NTK"})
axes[0].set_title("test accuracy")
plot_kernel_difference(table, ax=axes[1])
axes[1].set_title("paired difference")
fig.tight_layout()
glue_figure("fig_cntk_cifar", fig)

# %% tags=["remove-cell"]
at = table[table.n == largest].set_index("kernel")
glue_values(acc_cntk=float(100 * at.loc["cntk", "accuracy"]), acc_fc=float(100 * at.loc["fc_ntk", "accuracy"]),
            acc_diff=float(100 * pair.mean_difference), acc_low=float(100 * pair.ci_low),
            acc_high=float(100 * pair.ci_high), depth_cntk=int(at.loc["cntk", "depth"]),
            depth_fc=int(at.loc["fc_ntk", "depth"]), cifar_run=run_label(profile, 1))

# %% [markdown]
# ```{glue:figure} fig_cntk_cifar
# :name: fig-cntk-cifar
#
# Kernel regression on CIFAR-10 at nested training sizes: test accuracy of each kernel with
# the binomial standard error (left), and the paired difference CNTK minus FC NTK with its
# 95 % bootstrap interval over the test images (right) ({glue:text}`cifar_run`: the kernels
# have no random initialization).
# ```
#
# At {glue:text}`cifar_n` training images the CNTK (depth {glue:text}`depth_cntk` selected)
# reaches {glue:text}`acc_cntk:.1f` % and the fully connected NTK (depth
# {glue:text}`depth_fc`) {glue:text}`acc_fc:.1f` %: a difference of
# {glue:text}`acc_diff:.2g` points (95 % interval {glue:text}`acc_low:.2g` to
# {glue:text}`acc_high:.2g`). The interval comes from a paired bootstrap over the test images
# {cite}`efron1993bootstrap` (`ntkbook.stats.paired_bootstrap`): both kernels are judged on
# the same resampled images. The rule is the sign rule of chapter 13: *supported* if the
# interval lies above 0.

# %% tags=["hide-input"]
p_cifar = bootstrap_one_sided_p(pair, "positive")
verdict_cifar = check_claim(
    "cntk_beats_fc_ntk",
    sign_rule(pair.mean_difference, pair.ci_low, pair.ci_high, expect="positive",
              what="test accuracy of CNTK minus FC NTK regression (paired bootstrap over test images)"),
    profile=profile, seeds=1, glue_as="verdict_cifar", p_value=p_cifar,
    note=(f"{largest} training images at {data.x_train.shape[-1]}x{data.x_train.shape[-1]} (2x2 pooling: "
          f"reconstruction), {readout} readout, on {device}"),
    values={"mean_difference": pair.mean_difference, "ci_low": pair.ci_low, "ci_high": pair.ci_high,
            "p_value_one_sided": p_cifar, "n_train": largest, "n_test": len(data.x_test),
            "image_side": int(data.x_train.shape[-1]), "readout": readout, "device": str(device),
            "cntk_depths": cntk_depths, "fc_depths": fc_depths,
            "accuracy_cntk": float(at.loc["cntk", "accuracy"]), "accuracy_fc_ntk": float(at.loc["fc_ntk", "accuracy"])},
)

# %% [markdown]
# The verdict is **{glue:text}`verdict_cifar`** (one-sided bootstrap p =
# {glue:text}`p_cifar:.2g`).

# %% tags=["remove-cell"]
glue_values(p_cifar=p_cifar)

# %% [markdown]
# ## The ECRN's largest eigenvalue against depth
#
# Chapter 06 reconstructs the paper's Eq. (15) as a bound on the growth of $\lambda_{\max}$
# by $C \sum_l \alpha_l^2$. At a fixed $\alpha_l = \alpha$ for every block that sum is
# $\alpha^2 L$: linear in the number of blocks $L$. The paper's next check asks whether the
# control persists with depth; we ask the testable form: from 2 to 32 blocks at a fixed
# width, does $\lambda_{\max}$ of the NTK at initialization grow at most linearly in $L$, a
# log-log slope of at most 1? We hold $\alpha = 1/\sqrt{8}$, the ECRN's default at $L = 8$,
# fixed as blocks are added (our choice; the default schedule $1/\sqrt{L}$ would make the
# sum constant). The ECRN has no stochastic depth here ($p_l = 0$), and its inputs are
# CIFAR training images (the same pooled images, flattened) with the Fourier scale of
# chapter 13's rule. Beside the finite networks the infinite-width value from
# `ntkbook.analytic.ecrn_kernels` shows where they converge.

# %%
probe = data.x_train[:ecrn_probe].flatten(1)
lam_depth = ecrn_lambda_max(probe, ecrn_depths, list(range(ecrn_seeds)), width=ecrn_width, alpha=ecrn_alpha)
depth_fit = slope_interval(lam_depth, x="depth", y="lambda_max", by="seed")
lam_depth.pivot_table(index="depth", columns="seed", values="lambda_max").assign(
    analytic=lam_depth.groupby("depth")["analytic"].first()).round(2)

# %%
fig, ax = figure(profile=profile, seeds=ecrn_seeds)
plot_loglog_fit(lam_depth, x="depth", y="lambda_max", slope=depth_fit["slope"],
                intercept=float(depth_fit["slopes"]["intercept"].mean()), ax=ax, reference=1.0,
                reference_label=r"slope 1 ($\sum_l \alpha_l^2 = \alpha^2 L$)", limit="analytic",
                xlabel="residual blocks L", ylabel=r"$\lambda_{\max}$ of the NTK at initialization")
ax.set_title(f"ECRN, width {ecrn_width}, alpha = {ecrn_alpha:g}")
glue_figure("fig_ecrn_depth", fig)

# %% tags=["remove-cell"]
local = lam_depth.groupby("depth")["analytic"].first()
glue_values(depth_slope=depth_fit["slope"], depth_low=depth_fit["low"], depth_high=depth_fit["high"],
            depth_run=run_label(profile, ecrn_seeds), ecrn_width_glue=ecrn_width, ecrn_alpha_glue=ecrn_alpha,
            local_first=float(np.log(local.iloc[1] / local.iloc[0]) / np.log(local.index[1] / local.index[0])),
            local_last=float(np.log(local.iloc[-1] / local.iloc[-2]) / np.log(local.index[-1] / local.index[-2])),
            lam_shallow=float(lam_depth.groupby("depth")["lambda_max"].mean().iloc[0]),
            lam_deep=float(lam_depth.groupby("depth")["lambda_max"].mean().iloc[-1]),
            depth_first=int(min(ecrn_depths)), depth_last=int(max(ecrn_depths)),
            ecrn_seconds=float(lam_depth["seconds"].sum()))

# %% [markdown]
# ```{glue:figure} fig_ecrn_depth
# :name: fig-ecrn-depth
#
# $\lambda_{\max}$ of the ECRN's empirical NTK at initialization on {glue:text}`ecrn_probe_glue`
# CIFAR images against the number of residual blocks (width {glue:text}`ecrn_width_glue`,
# $\alpha_l$ = {glue:text}`ecrn_alpha_glue` in every block), one dot per seed, the mean of the
# per-seed fits, the infinite-width value (squares) and a line of slope 1, the growth of
# $\sum_l \alpha_l^2$ ({glue:text}`depth_run`).
# ```
#
# From {glue:text}`depth_first` to {glue:text}`depth_last` blocks the mean $\lambda_{\max}$
# goes from {glue:text}`lam_shallow:.3g` to {glue:text}`lam_deep:.3g`; the fitted slope is
# {glue:text}`depth_slope:.3g` (95 % interval {glue:text}`depth_low:.3g` to
# {glue:text}`depth_high:.3g` across seeds). A single slope hides a curvature: between the
# two shallowest depths the infinite-width curve has a local slope of
# {glue:text}`local_first:.2g`, between the two deepest {glue:text}`local_last:.2g`. The
# finite networks took {glue:text}`ecrn_seconds:.3g` s.
#
# The rule is `one_sided_rule` at 1: *supported* if the interval of the slope lies at or
# below 1, *not supported* if it lies entirely above, *inconclusive* otherwise; its p-value
# is that of the one-sided t-test of the per-seed slopes against 1.

# %% tags=["hide-input"]
depth_test = paired_difference(depth_fit["slopes"]["slope"].to_numpy(float), np.ones(len(depth_fit["slopes"])))
p_depth = one_sided_p(depth_test, "negative")
verdict_depth = check_claim(
    "ecrn_lambda_max_depth_growth",
    one_sided_rule(depth_fit["slope"], depth_fit["low"], depth_fit["high"], at_most=1.0,
                   what="log-log slope of lambda_max(0) against the number of blocks (mean over seeds)"),
    profile=profile, seeds=ecrn_seeds, glue_as="verdict_depth", p_value=p_depth,
    note=f"width {ecrn_width}, alpha_l = {ecrn_alpha:g} fixed, no stochastic depth, {probe.shape[0]} CIFAR images",
    values={"slope": depth_fit["slope"], "slope_low": depth_fit["low"], "slope_high": depth_fit["high"],
            "per_seed_slopes": depth_fit["slopes"]["slope"].tolist(), "depths": ecrn_depths, "width": ecrn_width,
            "alpha": ecrn_alpha, "p_value_one_sided": p_depth,
            "analytic_lambda_max": lam_depth.groupby("depth")["analytic"].first().tolist()},
)

# %% tags=["remove-cell"]
glue_values(p_depth=p_depth, ecrn_probe_glue=int(probe.shape[0]))

# %% [markdown]
# The verdict is **{glue:text}`verdict_depth`** (one-sided p = {glue:text}`p_depth:.2g`).
# The bound is an upper bound on *growth during training*; what we measured is its
# precondition at initialization, the kernel's own scale. A slope at or below 1 says that
# the fixed $\alpha_l$ keeps the scale within what the sum $\sum_l \alpha_l^2$ allows; a
# slope above 1 would mean that the blocks compound (each block multiplies the kernel of the
# ones below by $1 + \alpha^2 \mathbb{E}[\phi'\phi']$, a product, not a sum), which is what a
# fixed $\alpha$ risks at large depth and what the $1/\sqrt{L}$ schedule prevents.
#
# ## How the numbers scale with the training size
#
# Two scalings without a claim. $\lambda_{\max}(0)$ of an NTK on $n$ inputs grows with $n$:
# for a kernel with a mean entry $\bar\Theta > 0$ the constant vector alone gives
# $\lambda_{\max} \ge n \bar\Theta$, so a slope near 1 is expected. We measure it for the ECRN
# with {glue:text}`ecrn_size_depth_glue` blocks, seed by seed, and fit the slope with its
# interval. The gap between the two kernels is the second panel of
# {numref}`fig-cntk-cifar`, repeated here with its fit against $\log n$.

# %%
lam_n = ecrn_lambda_max(data.x_train[:max(ecrn_sizes)].flatten(1), [ecrn_size_depth], list(range(ecrn_seeds)),
                        width=ecrn_width, alpha=ecrn_alpha, sizes=ecrn_sizes)
n_fit = slope_interval(lam_n, x="n", y="lambda_max", by="seed")
gaps = table.drop_duplicates("n").sort_values("n")
gap_slope, gap_intercept = np.polyfit(np.log(gaps["n"].to_numpy(float)), 100 * gaps["diff"].to_numpy(float), 1)
fig, axes = figure(2, profile=profile, seeds=ecrn_seeds)
plot_loglog_fit(lam_n, x="n", y="lambda_max", slope=n_fit["slope"], intercept=float(n_fit["slopes"]["intercept"].mean()),
                ax=axes[0], reference=1.0, reference_label="slope 1", limit="analytic",
                xlabel="training images n", ylabel=r"$\lambda_{\max}(0)$")
axes[0].set_title(f"ECRN, {ecrn_size_depth} blocks")
plot_kernel_difference(table, ax=axes[1])
grid = np.geomspace(gaps["n"].min(), gaps["n"].max(), 20)
axes[1].plot(grid, gap_intercept + gap_slope * np.log(grid), "--", color="0.4", label="fit in log n")
axes[1].legend(fontsize=8)
axes[1].set_title("CNTK - FC NTK")
fig.tight_layout()
glue_figure("fig_scale_n", fig)

# %% tags=["remove-cell"]
glue_values(n_slope=n_fit["slope"], n_low=n_fit["low"], n_high=n_fit["high"], ecrn_size_depth_glue=ecrn_size_depth,
            gap_per_doubling=float(gap_slope * math.log(2)), n_run=run_label(profile, ecrn_seeds),
            total_seconds=float(time.perf_counter() - started))

# %% [markdown]
# ```{glue:figure} fig_scale_n
# :name: fig-scale-n
#
# Left: $\lambda_{\max}$ of the ECRN's NTK at initialization on the first $n$ training
# images, one dot per seed, with the infinite-width value. Right: the accuracy gap CNTK minus
# FC NTK with its bootstrap intervals and a least-squares line in $\log n$
# ({glue:text}`n_run`).
# ```
#
# $\lambda_{\max}(0)$ grows with slope {glue:text}`n_slope:.3g` in $n$ (95 % interval
# {glue:text}`n_low:.3g` to {glue:text}`n_high:.3g` across seeds). Chapter 06 sets the
# gradient-descent step of the book's mean loss from $2n / \lambda_{\max}(0)$; with a slope
# near 1 that step is about the same at every training size. The accuracy gap
# changes by {glue:text}`gap_per_doubling:.2g` points per doubling of $n$ on the fitted line;
# the gaps at different sizes share their images, so the line describes these runs and has
# no interval of its own.
#
# The whole chapter took {glue:text}`total_seconds:.0f` s in this run.
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-beyondscale-1
# ```
# Repeat the convergence check with the global-average-pooling readout
# (`cnn_kernel_errors(conv_x, conv_channels, seeds, readout="gap")`). Is the rate the same?
# Which of the two readouts has the larger error at a given width, and why?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-beyondscale-1
# :class: dropdown
# ```
# The rate is again about $n^{-1/2}$: every entry is still an average over channels. The
# readout by pooling has only $n$ readout weights against $P n$ for the flattened map, so the
# readout's contribution to the kernel averages over fewer independent terms and fluctuates
# more; expect a larger error at equal width with the same slope.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-beyondscale-2
# ```
# Rerun the depth sweep with $\alpha_l = 1$ (`-p ecrn_alpha 1.0`, a plain residual tower) and
# with a smaller $\alpha$ (`-p ecrn_alpha 0.1`). How does the slope change, and what does the
# infinite-width curve say about depths beyond 32?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-beyondscale-2
# :class: dropdown
# ```
# The kernel's recursion multiplies the NTK by about $1 + \alpha^2 \mathbb{E}[\phi'(u)\phi'(v)]$
# per block, so $\log \lambda_{\max}$ grows roughly like $\alpha^2 L$: for small $\alpha$ the
# growth looks linear (or flatter) over 2 to 32 blocks, for $\alpha = 1$ it compounds and the
# slope exceeds 1. The infinite-width curve (`ecrn_kernels`) can be evaluated at any depth in
# a fraction of a second, and its local slope keeps rising with $L$ at a fixed $\alpha$.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-beyondscale-3
# ```
# The CNTK's advantage should grow with the resolution at which locality matters. Rerun the
# comparison on 8 x 8 images (`-p pool 4`). How do the two accuracies and their difference
# change?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-beyondscale-3
# :class: dropdown
# ```
# Coarser images lose the fine structure that the 3x3 windows exploit, and at 8 x 8 the
# receptive field of a few conv layers covers most of the image, so the CNTK moves towards a
# fully connected kernel and the difference shrinks; both accuracies fall. The CNTK is also
# 4 times cheaper, which is the reason to try it first on a CPU.
# ```{solution-end}
# ```
