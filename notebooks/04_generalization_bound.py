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
# (chapter-generalization-bound)=
# # A generalization bound from the NTK
#
# ## Overview
#
# If a wide network trained by gradient descent is close to kernel regression with its NTK
# ({ref}`chapter-linearized-dynamics`), its test error should be predictable from the kernel
# and the labels alone. {cite}`arora2019finegrained` turned this into a theorem for a two-layer
# relu network: with probability at least $1 - \delta$, the population loss of the trained
# network is at most
#
# $$
# \sqrt{\frac{2\, y^\top (H^\infty)^{-1} y}{n}} + O\left(\sqrt{\frac{\log \frac{n}{\lambda_0 \delta}}{n}}\right),
# $$
#
# where $H^\infty$ is the $n \times n$ NTK Gram matrix of the training inputs and
# $\lambda_0 = \lambda_{\min}(H^\infty)$. The first term is small when the labels lie along
# the kernel's large eigenvalues (a "smooth" labelling) and grows when they do not (noise).
# The paper whose architecture this book studies links the NTK spectrum to generalization
# through a bound, its Eq. (8), and leaves open whether that bound is numerically tight (see
# the paper summary in `../shared/papers/`). The exact form of Eq. (8) is not public; taking
# it to be the bound above is our reconstruction. Here
# we answer with numbers.
#
# In this chapter we will
#
# * build $H^\infty$ for the network of the theorem and check it against the empirical NTK,
# * evaluate the bound on a binary task on the sphere, over training-set sizes and label-noise
#   levels,
# * train the networks, measure their test loss, and compare it with the bound.

# %% tags=["hide-input"]
import torch

from ntkbook.claims.chapter import check_claim
from ntkbook.ntk import empirical_ntk
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.theory import plot_bound_vs_error
from ntkbook.experiments.theory import TwoLayerReLU, arora_gram, bound_vs_error_sweep, relative_frobenius, sphere_binary_task
from ntkbook.claims.rules import threshold_rule
from ntkbook.plots.glue import glue_values

torch.set_num_threads(1)  # small models: one thread avoids threading overhead on a shared CPU

# %% [markdown]
# The parameters below are the paper-scale defaults (the `full` profile); the `ci` profile
# uses smaller training sets, fewer noise levels, a narrower network and fewer seeds (see
# {ref}`rerun-and-adapt`).

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
ns = [100, 200, 400, 800]  # list of at least 2 ints in [2, inf): training-set sizes n
noises = [0.0, 0.2, 0.4]  # list of floats in [0, 0.5): label-flip probabilities (train and test)
dim = 5  # int in [2, inf): input dimension d (inputs on the unit sphere)
n_test = 2000  # int in [1, inf): fresh test points per run
width = 2048  # int in [1, inf): hidden units m of the two-layer network
steps = 1000  # int in [1, inf): full-batch gradient-descent steps
lr_factor = 1.5  # float in (0, 2): eta times lambda_max of H; the linearized dynamics are stable below 2
kappa = 0.1  # float in (0, inf): standard deviation of the first-layer weights at initialization
delta = 0.05  # float in (0, 1): failure probability of the bound
constant = 1.0  # float in [0, inf): the constant we take in front of the O(sqrt(log(n / (lambda_0 delta)) / n)) term
n_seeds = 3  # int in [1, inf): independent data sets and initializations per (n, noise)
device = "cpu"  # device: where the networks are trained ("cuda" works too)

# %% [markdown]
# ## The network, the kernel and the loss
#
# The theorem is about $f(x) = \frac{1}{\sqrt m}\sum_{r=1}^m a_r\, \mathrm{relu}(w_r^\top x)$
# with $w_r \sim N(0, \kappa^2 I)$ trained by gradient descent on $\frac12\sum_i (f(x_i) - y_i)^2$
# and the signs $a_r \in \{\pm 1\}$ fixed (`ntkbook.experiments.theory.TwoLayerReLU`). Its NTK with respect
# to the first layer converges, as $m \to \infty$, to
#
# $$
# H^\infty_{ij} = \mathbb{E}_{w \sim N(0, I)}\big[x_i^\top x_j\, \mathbb{1}\{w^\top x_i \ge 0,\ w^\top x_j \ge 0\}\big]
# = \frac{x_i^\top x_j\,(\pi - \arccos x_i^\top x_j)}{2\pi}
# $$
#
# for unit-norm inputs (the relu arc-cosine kernel of `ntkbook.analytic`). Before trusting the
# formula, we compare it with the empirical NTK of one network at initialization.

# %%
torch_device = torch.device(device)
check = sphere_binary_task(min(ns), 1, dim=dim, seed=0, device=torch_device)
net = TwoLayerReLU(dim, width, kappa=kappa, seed=0).double().to(torch_device)
gram_error = relative_frobenius(empirical_ntk(net, check.x_train), arora_gram(check.x_train))
print(f"||Theta_m - H_inf||_F / ||H_inf||_F = {gram_error:.3g} at width {width}")

# %% tags=["remove-cell"]
glue_values(gram_error=gram_error, width=width)

# %% [markdown]
# At width {glue:text}`width` the empirical kernel is within {glue:text}`gram_error:.2g`
# (relative Frobenius distance) of $H^\infty$, the size of fluctuation
# {ref}`chapter-infinite-width` leads us to expect.
#
# The theorem bounds the population loss for any loss $\ell(f, y)$ that is 1-Lipschitz in
# $f$, takes values in $[0, 1]$ and vanishes at $f = y$. We use the ramp loss
# $\ell(f, y) = \min(1, |f - y|)$. With labels $y \in \{-1, +1\}$ a wrong sign means
# $|f - y| \ge 1$, so it is also an upper bound on the 0-1 test error, which we report too.
#
# ## The task
#
# Inputs are uniform on the unit sphere in $\mathbb{R}^d$ (the theorem needs $\|x\| = 1$) and
# the clean label is $\operatorname{sign}(x_1 x_2)$. Each label, train and test alike, is
# flipped with probability $p$, so the test loss can be no better than the noise allows. This
# task is ours (the paper's experiments are on real data sets); it is small enough to train
# many networks and hard enough that no linear classifier solves it.

# %%
print(sphere_binary_task(min(ns), 10, dim=dim, noise=max(noises), seed=0).source)

# %% [markdown]
# ## Bound against measured loss
#
# For each size $n$, noise level $p$ and seed, `bound_vs_error_sweep` draws a data set,
# evaluates the bound on its training part, trains a network of width {glue:text}`width` for
# {glue:text}`steps` steps with $\eta$ = {glue:text}`lr_factor` $/\lambda_{\max}(H^\infty)$, and measures the ramp
# loss on {glue:text}`n_test` fresh test points.
#
# Two choices are ours and we state them. First, the theorem writes its second term as
# $O(\cdot)$ without a constant; we take the constant {glue:text}`constant`, that is
# $\sqrt{\log(n/(\lambda_0\delta))/n}$ with $\delta$ = {glue:text}`delta`. Second, the theorem
# assumes training has run until the training loss is negligible; we stop after a fixed number
# of steps and therefore add the measured training loss to the bound (the uniform-convergence
# argument behind the theorem bounds the population loss by the training loss plus the
# complexity terms). What we compare is
#
# $$
# \text{bound} = \hat L_{\text{train}} + \sqrt{\frac{2\, y^\top (H^\infty)^{-1} y}{n}}
# + \sqrt{\frac{\log \frac{n}{\lambda_0 \delta}}{n}} .
# $$

# %%
results = bound_vs_error_sweep(ns, noises, list(range(n_seeds)), n_test=n_test, dim=dim, width=width, steps=steps,
                               lr_factor=lr_factor, kappa=kappa, delta=delta, constant=constant, device=torch_device)
n_diverged = int(results["diverged"].sum())
summary = results.groupby(["noise", "n"])[["main", "extra", "train_loss", "full_bound", "test_loss", "test_error", "ratio"]].median()
summary.round(3)

# %%
finite = results[~results["diverged"]]
ratio_min = float(finite["ratio"].min())
means = finite.groupby(["noise", "n"])[["full_bound", "test_loss"]].mean()
rank_corr = float(means["full_bound"].rank().corr(means["test_loss"].rank()))
clean, noisy = finite[finite.noise == min(noises)], finite[finite.noise == max(noises)]
n_vacuous = int((finite["full_bound"] >= 1).sum())

fig, ax = figure(profile=profile, seeds=n_seeds, width=6.0, height=4.2)
plot_bound_vs_error(finite, ax=ax)
ax.set_title("Arora et al.'s bound vs measured test loss")
ax.legend(fontsize=7, ncol=2)
glue_figure("fig_bound", fig)

# %% tags=["remove-cell"]
holds = "holds in every run" if ratio_min >= 1 else f"fails in {int((finite['ratio'] < 1).sum())} runs"
scale = ("and is vacuous (above 1) in every run" if n_vacuous == len(finite)
         else f"and is vacuous (above 1) in {n_vacuous} of {len(finite)} runs")
glue_values(
    steps=steps,
    lr_factor=lr_factor,
    n_test=n_test,
    constant=constant,
    delta=delta,
    ratio_min=ratio_min,
    ratio_median=float(finite["ratio"].median()),
    ratio_max=float(finite["ratio"].max()),
    n_runs=len(results),
    n_diverged=n_diverged,
    n_vacuous=n_vacuous,
    main_min=float(finite["main"].min()),
    main_ratio_min=float((finite["main"] / finite["test_loss"]).min()),
    train_loss_median=float(finite["train_loss"].median()),
    rank_corr=rank_corr,
    noise_max=max(noises),
    main_clean=float(clean["main"].median()),
    main_noisy=float(noisy["main"].median()),
    loss_clean=float(clean["test_loss"].median()),
    loss_noisy=float(noisy["test_loss"].median()),
    err_clean=float(clean["test_error"].median()),
    answer=f"{holds}, is loose by a median factor of {finite['ratio'].median():.3g}, {scale}",
    run=run_label(profile, n_seeds),
)

# %% [markdown]
# ```{glue:figure} fig_bound
# :name: fig-bound
#
# The bound (squares, dashed) and the measured test ramp loss (circles, solid) against the
# training-set size, one colour per label-noise level; lines join the medians across seeds and
# the dotted line marks 1, above which a bound on a loss in $[0, 1]$ says nothing
# ({glue:text}`run`).
# ```
#
# Over {glue:text}`n_runs` runs the ratio bound / measured test loss is at least
# {glue:text}`ratio_min:.3g`, with median {glue:text}`ratio_median:.3g` and maximum
# {glue:text}`ratio_max:.3g`. Even without the training loss and the second term, the first
# term alone exceeds the measured loss by a factor of at least {glue:text}`main_ratio_min:.3g`.
# It is never below {glue:text}`main_min:.3g`,
# and in {glue:text}`n_vacuous` of the {glue:text}`n_runs` runs the bound exceeds 1, the
# largest value the ramp loss can take.
# (Runs whose training diverged: {glue:text}`n_diverged`; the median training loss at the end
# was {glue:text}`train_loss_median:.3g`.)
#
# How well does the bound follow the data? Going from clean labels to a flip probability of
# {glue:text}`noise_max:g`, the median first term grows from {glue:text}`main_clean:.3g` to
# {glue:text}`main_noisy:.3g` while the measured test loss grows from
# {glue:text}`loss_clean:.3g` to {glue:text}`loss_noisy:.3g`; across the (n, noise) settings
# the rank correlation between the bound and the measured loss is {glue:text}`rank_corr:.2f`.
# On clean labels the median 0-1 test error of the networks is {glue:text}`err_clean:.3g`.
#
# So, to the open question, in numbers: in our runs the bound {glue:text}`answer`. A bound
# that exceeds the measured loss several times over is informative about *which* labellings
# are hard, not about *how* hard. {cite}`arora2019finegrained` report the same on real data:
# their complexity measure separates true from random labels, without claiming to be close
# to the measured error.

# %% tags=["hide-input"]
verdict_bound = check_claim(
    "generalization_bound",
    threshold_rule(ratio_min, at_least=1.0, what="the smallest ratio bound / measured test loss over all runs"),
    profile=profile, seeds=n_seeds, glue_as="verdict_bound",
    values={"ratio_min": ratio_min, "ratio_median": float(finite["ratio"].median()),
            "ratio_max": float(finite["ratio"].max()), "n_vacuous": n_vacuous,
            "n_runs": len(results), "rank_corr": rank_corr, "ns": ns, "noises": noises, "width": width,
            "constant": constant, "delta": delta},
)

# %% [markdown]
# Verdict: {glue:text}`verdict_bound`. The verdict checks only that the bound holds; its
# tightness is the ratio reported above.
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-bound-1
# ```
# Replace the labels by independent random signs (noise level 0.5). How do the first term of
# the bound and the measured test loss behave as $n$ grows?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-bound-1
# :class: dropdown
# ```
# With random signs, $\mathbb{E}\, y^\top (H^\infty)^{-1} y = \operatorname{tr}(H^\infty)^{-1}
# \ge n^2 / \operatorname{tr} H^\infty = 2n$ (the diagonal of $H^\infty$ is $1/2$ on the
# sphere, and the harmonic mean of the eigenvalues is at most their mean), so the first term is
# about 2 or more at every $n$: it does not fall. The measured test ramp loss stays near
# its chance level too. `bound_vs_error_sweep(ns, [0.5], ...)` shows both.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-bound-2
# ```
# The first term is $\sqrt{2/n}\,\|(H^\infty)^{-1/2} y\|$. Write it with the eigenvalues
# $\lambda_i$ and eigenvectors $v_i$ of $H^\infty$, and explain with
# {ref}`chapter-linearized-dynamics` why labels with large projections on small-$\lambda_i$
# directions are both hard to learn and penalized by the bound.
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-bound-2
# :class: dropdown
# ```
# $y^\top (H^\infty)^{-1} y = \sum_i (v_i^\top y)^2 / \lambda_i$. Gradient descent fits the
# component along $v_i$ at a rate proportional to $\lambda_i$, and to fit it the weights must
# travel a distance proportional to $|v_i^\top y| / \sqrt{\lambda_i}$; the bound is a
# Rademacher-complexity bound for networks within that distance of their initialization, so
# every slow direction the labels need enlarges the function class the bound must cover.
# ```{solution-end}
# ```
