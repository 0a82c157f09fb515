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
# (chapter-empirical-ntk)=
# # The empirical neural tangent kernel
#
# ## Overview
#
# Train a network $f(x;\theta)$ by gradient descent and ask how a step on one input moves
# the output on another. To first order the answer is a kernel, the *neural tangent
# kernel* (NTK) of {cite}`jacot2018ntk`:
#
# $$
# \Theta(x, x') = \sum_{p=1}^{P} \frac{\partial f(x;\theta)}{\partial \theta_p}\,
# \frac{\partial f(x';\theta)}{\partial \theta_p}
# = J(x)\, J(x')^\top ,
# $$
#
# where $J(x) \in \mathbb{R}^{O \times P}$ is the Jacobian of the $O$ outputs with respect
# to the $P$ parameters. On a batch of $N$ inputs, stacking the Jacobians gives the
# $N \times N$ Gram matrix $\Theta = J J^\top$ (summed over outputs).
#
# In this chapter we will
#
# * compute $\Theta$ for a small multilayer perceptron by hand, one autograd call per input,
# * check it against the package's `ntkbook.ntk.empirical_ntk`,
# * compare the package's three ways of computing it, which must agree, and time each,
# * check the two properties every Gram matrix has: symmetry and positive semi-definiteness,
# * and look at its eigenvalue spectrum at initialization, over several seeds.
#
# The agreement of the methods and the semi-definiteness are *sanity checks*: properties that
# correct software must have, whatever the network. They say nothing about the paper or about
# networks, and the book's reproduction report counts them apart from the paper's claims and
# the theory results, as passed or failed, never as "reproduced". A check is worth running only
# if it can fail, so for each we also build, on purpose, a kernel it must reject.

# %% tags=["hide-input"]
import numpy as np
import torch

from ntkbook.ntk import empirical_ntk
from ntkbook.plots import figure, glue_figure, plot_spectrum, run_label
from ntkbook.plots.theory import plot_method_costs
from ntkbook.experiments.theory import (
    METHOD_TOLERANCE,
    compare_ntk_methods,
    max_relative_difference,
    psd_defect,
    psd_tolerance,
)
from ntkbook.claims.chapter import check_claim
from ntkbook.claims.rules import threshold_rule
from ntkbook.plots.glue import glue_values

torch.set_num_threads(1)  # small models: one thread avoids threading overhead on a shared CPU

# %% [markdown]
# The parameters below are the paper-scale defaults (the `full` profile). The book's
# continuous integration runs a smaller `ci` profile; see {ref}`rerun-and-adapt` for how
# to rerun this chapter with your own values.

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
n_points = 256  # int in [2, inf): N: inputs in the Gram matrix
in_features = 8  # int in [1, inf): input dimension d
width = 512  # int in [1, inf): hidden width n
depth = 3  # int in [1, inf): hidden layers
n_seeds = 5  # int in [1, inf): independent initializations for the spectrum
dtype = "float64"  # one of float32, float64: float64 makes the checks sharp; float32 works too

# %% [markdown]
# ## A small network and some inputs
#
# We use a plain tanh MLP written with `torch.nn`, and inputs drawn uniformly from the
# unit sphere so that every input has the same norm.

# %%
torch_dtype = getattr(torch, dtype)


def make_mlp(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers, fan_in = [], in_features
    for _ in range(depth):
        layers += [torch.nn.Linear(fan_in, width), torch.nn.Tanh()]
        fan_in = width
    layers.append(torch.nn.Linear(fan_in, 1))
    return torch.nn.Sequential(*layers).to(torch_dtype)


generator = torch.Generator().manual_seed(1234)
x = torch.randn(n_points, in_features, generator=generator, dtype=torch_dtype)
x = x / x.norm(dim=1, keepdim=True)  # (N, d), unit norm
model = make_mlp(seed=0)
n_params = sum(p.numel() for p in model.parameters())

# %% tags=["remove-cell"]
glue_values(n_params=n_params, n_points=n_points)

# %% [markdown]
# The network has {glue:text}`n_params:,` parameters and we evaluate the kernel on
# {glue:text}`n_points` inputs.
#
# ## The definition, computed by hand
#
# The most literal way to build $J$: one backward pass per input gives the gradient of
# $f(x_i)$ with respect to every parameter, flattened into row $i$ of $J$.

# %%
def jacobian_by_loop(net: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    params = [p for p in net.parameters() if p.requires_grad]
    rows = []
    for xi in inputs:  # one backward pass per input: N passes in all
        out = net(xi[None]).sum()  # scalar output f(x_i)
        grads = torch.autograd.grad(out, params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)  # (N, P)


J = jacobian_by_loop(model, x)
theta_by_hand = J @ J.T  # (N, N)
theta = empirical_ntk(model, x)  # the package's implementation
rel_diff = ((theta - theta_by_hand).norm() / theta_by_hand.norm()).item()
print(f"J: {tuple(J.shape)}, Theta: {tuple(theta.shape)}, relative difference {rel_diff:.2e}")

# %% tags=["remove-cell"]
glue_values(rel_diff=rel_diff)

# %% [markdown]
# The hand-built kernel and `empirical_ntk` agree to a relative Frobenius difference of
# {glue:text}`rel_diff:.1e`. The loop costs $N$ backward passes and stores all of $J$
# ($N \times P$ numbers). The package has faster ways to get the same matrix.
#
# ## Three ways to compute the same kernel
#
# `empirical_ntk` has a `method` argument (the enum `ntkbook.ntk.NTKMethod`). Write $N$ for
# the number of inputs, $O$ for the outputs ($O = 1$ here), $P$ for the parameters, $F$ for
# the cost of one forward pass of one input (about $2P$ floating-point operations for a dense
# network) and $d_{\text{in}}, d_{\text{out}}$ for the widths of each dense layer $l$. The
# docstrings of the enum state the cost of each method {cite}`novak2022fast`:
#
# | method | what it computes | cost in FLOPs (for `outputs="trace"`) |
# |---|---|---|
# | `jacobian` | per-input Jacobians $J(X)$ with `vmap(jacrev)`, then $J J^\top$ | about $3 O F$ per input, plus $2 N^2 O P$ for the contraction |
# | `ntvp` | column by column: a vector-Jacobian product, then a Jacobian-vector product | about $3 N^2 O F$ |
# | `structured` | layer by layer, $\Theta = \sum_l (G_l G_l^\top) \odot (H_l H_l^\top + 1)$ from the layer inputs $H_l$ and output gradients $G_l$ | $(1 + O)$ passes per input, plus $2 N^2 \sum_l (d_{\text{in}} + O\, d_{\text{out}})$ |
# | `auto` | whichever of the three has the smallest estimated FLOP count | that of the method it picks |
#
# The structured rule uses the fact that for a dense layer $z = W h + b$ the gradient with
# respect to $W$ is the outer product $g h^\top$ of the output gradient and the input, so the
# inner product of two such gradients factorizes: $\langle g h^\top, g' h'^\top\rangle =
# (g \cdot g')(h \cdot h')$. It never forms a $P$-dimensional vector.
#
# We compute the kernel of the same network on the same inputs with each method, time each,
# and measure how far each is from the `jacobian` result (the largest entrywise difference,
# relative to the largest entry).

# %%
methods = compare_ntk_methods(model, x, ["jacobian", "ntvp", "structured", "auto"], reference="jacobian")
dense = [m for m in model if isinstance(m, torch.nn.Linear)]
layer_sum = sum(m.in_features + m.out_features for m in dense)  # sum_l (d_in + O d_out), O = 1
flops = {  # the docstring formulas with F = 2P, O = 1, N = n_points
    "jacobian": 3 * 2 * n_params * n_points + 2 * n_points**2 * n_params,
    "ntvp": 3 * n_points**2 * 2 * n_params,
    "structured": 2 * 2 * n_params * n_points + 2 * n_points**2 * layer_sum,
}
methods["estimated_flops"] = [flops[c] for c in methods["chosen"]]
worst_method_diff = float(methods["max_rel_diff"].max())
method_tolerance = METHOD_TOLERANCE[dtype]  # round-off allowance, fixed in the package before any kernel is seen
seconds = dict(zip(methods["method"], methods["seconds"]))
methods.style.format({"seconds": "{:.3f}", "rel_diff": "{:.1e}", "max_rel_diff": "{:.1e}", "estimated_flops": "{:.2e}"})

# %% tags=["remove-cell"]
glue_values(
    method_tolerance=method_tolerance,
    worst_method_diff=worst_method_diff,
    speedup_structured=seconds["jacobian"] / seconds["structured"],
    speedup_ntvp=seconds["jacobian"] / seconds["ntvp"],
    auto_choice=str(methods.set_index("method").loc["auto", "chosen"]),
    layer_sum=layer_sum,
    flop_ratio=flops["jacobian"] / flops["structured"],
    methods_run=run_label(profile, 1),
)

# %% [markdown]
# The largest entrywise difference from the `jacobian` kernel is
# {glue:text}`worst_method_diff:.1e` of the largest entry, against a round-off allowance of
# {glue:text}`method_tolerance:.0e` for this dtype. The methods differ in cost. Here $P$ = {glue:text}`n_params:,` while
# $\sum_l (d_{\text{in}} + d_{\text{out}})$ = {glue:text}`layer_sum:,`, so the cost formulas
# predict the structured rule to need {glue:text}`flop_ratio:.3g` times fewer operations than
# the Jacobian contraction; on this machine it ran {glue:text}`speedup_structured:.3g` times
# faster (timings of one run each, on a shared CPU). FLOP counts are only a guide: they
# ignore that the Jacobian method writes and reads $N \times P$ numbers of memory, while the
# structured rule works with a few $N \times d$ matrices. The `ntvp` method ran
# {glue:text}`speedup_ntvp:.2g` times as fast as `jacobian`: it never stores a Jacobian,
# which is what it is for, not speed. `auto` picked the {glue:text}`auto_choice` method.

# %%
fig, ax = figure(profile=profile, seeds=1)
plot_method_costs(methods, ax=ax)
ax.set_title(f"Empirical NTK of {n_points} inputs, {n_params:,} parameters")
glue_figure("fig_methods", fig)

# %% [markdown]
# ```{glue:figure} fig_methods
# :name: fig-methods-ch1
#
# Wall time of each method of `empirical_ntk` on the chapter's network and inputs
# ({glue:text}`methods_run`; one timing each, on a shared CPU).
# ```

# %% [markdown]
# The rule of this sanity check: the methods agree if the largest entrywise difference from
# the `jacobian` kernel, relative to its largest entry, is at most the allowance,
# $10^{-10}$ in float64 (machine epsilon is about $2 \times 10^{-16}$) or $10^{-4}$ in float32
# (epsilon about $10^{-7}$): far above round-off, far below a real disagreement. To see that
# the rule can fail, we apply it to a kernel that is wrong on purpose: the NTK of the same
# network with its first layer left out of the sum (its weights frozen), a bug of the kind a
# layerwise rule could have.

# %%
first = dense[0]
first.weight.requires_grad_(False)
first.bias.requires_grad_(False)
theta_missing_layer = empirical_ntk(model, x, method="structured")
first.weight.requires_grad_(True)
first.bias.requires_grad_(True)
missing_diff = max_relative_difference(theta_missing_layer, empirical_ntk(model, x, method="jacobian"))
rule_what = "largest entrywise difference from the jacobian kernel / largest entry"
broken_methods = threshold_rule(missing_diff, at_most=method_tolerance, what=rule_what)
print(f"first layer left out: difference {missing_diff:.3g} -> {broken_methods.verdict}")

# %% tags=["remove-cell"]
glue_values(missing_diff=missing_diff, broken_methods=broken_methods.verdict)

# %% tags=["hide-input"]
verdict_methods = check_claim(
    "ntk_methods_agree",
    threshold_rule(worst_method_diff, at_most=method_tolerance, what=rule_what),
    profile=profile, seeds=1, glue_as="verdict_methods",
    values={"max_rel_diff": dict(zip(methods["method"], methods["max_rel_diff"])),
            "seconds": seconds, "n_points": n_points, "n_params": n_params,
            "missing_layer_diff": missing_diff, "missing_layer_verdict": broken_methods.verdict},
)

# %% [markdown]
# With the first layer left out the difference is {glue:text}`missing_diff:.2g` and the rule
# reads {glue:text}`broken_methods`; on the package's methods it reads
# {glue:text}`verdict_methods`.
#
# ## Symmetry and positive semi-definiteness
#
# $\Theta = J J^\top$ is symmetric, and $v^\top \Theta v = \|J^\top v\|^2 \ge 0$ for every
# $v$, so no eigenvalue is negative. In floating point both hold up to round-off, which
# `psd_defect` measures: the relative asymmetry $\|\Theta - \Theta^\top\|_F / \|\Theta\|_F$
# and the most negative eigenvalue relative to $\lambda_{\max}$. The package's kernel is
# symmetric by construction (`empirical_ntk` computes the blocks on and above the diagonal and
# mirrors them), so for it the asymmetry only checks the mirroring; the hand-built $J J^\top$
# above is a product computed in full, so we check both and keep the worse.

# %%
defects = {"empirical_ntk": psd_defect(theta), "by hand": psd_defect(theta_by_hand)}
asymmetry = max(d["asymmetry"] for d in defects.values())
neg_ratio = max(d["neg_ratio"] for d in defects.values())
lam_min, lam_max = defects["empirical_ntk"]["lam_min"], defects["empirical_ntk"]["lam_max"]
tolerance = psd_tolerance(n_points, torch_dtype)  # 100 N eps: round-off allowance of an N x N eigensolver
print(f"asymmetry {asymmetry:.1e}; lambda_max {lam_max:.4g}; most negative / lambda_max {neg_ratio:.1e}")

# %% tags=["remove-cell"]
glue_values(asymmetry=asymmetry, neg_ratio=neg_ratio, lam_max=lam_max, tolerance=tolerance)

# %% [markdown]
# The relative asymmetry is {glue:text}`asymmetry:.1e` and the most negative eigenvalue,
# relative to $\lambda_{\max}$ = {glue:text}`lam_max:.4g`, is {glue:text}`neg_ratio:.1e`,
# against an allowance of {glue:text}`tolerance:.1e`. To see that this rule too can fail, we
# build two matrices it must reject: the kernel with its smallest eigenvalue moved to
# $-10^{-6}\lambda_{\max}$ (indefinite, by an amount far too small to see in any plot), and
# the kernel plus an antisymmetric part of relative size $10^{-6}$.

# %%
evals, evecs = torch.linalg.eigh(theta)  # ascending
u = evecs[:, :1]  # (N, 1): the eigenvector of lambda_min
indefinite = theta - (evals[0] + 1e-6 * evals[-1]) * (u @ u.T)
skew = torch.randn(n_points, n_points, generator=torch.Generator().manual_seed(0), dtype=torch_dtype)
asymmetric = theta + 1e-6 * theta.norm() * (skew - skew.T) / (skew - skew.T).norm()
rule_what_psd = "max(relative asymmetry, -lambda_min/lambda_max)"
broken_psd = {name: threshold_rule(psd_defect(m)["defect"], at_most=tolerance, what=rule_what_psd).verdict
              for name, m in [("indefinite", indefinite), ("asymmetric", asymmetric)]}
print(broken_psd)

# %% tags=["remove-cell"]
glue_values(broken_indefinite=broken_psd["indefinite"], broken_asymmetric=broken_psd["asymmetric"])

# %% tags=["hide-input"]
worst = max(asymmetry, neg_ratio)
verdict = check_claim(
    "ntk_psd",
    threshold_rule(worst, at_most=tolerance, what=rule_what_psd),
    profile=profile, seeds=1, glue_as="verdict_psd",
    values={"asymmetry": asymmetry, "neg_ratio": neg_ratio, "broken": broken_psd},
)

# %% [markdown]
# The rule reads {glue:text}`broken_indefinite` for the indefinite matrix,
# {glue:text}`broken_asymmetric` for the asymmetric one, and {glue:text}`verdict_psd` for the
# package's kernel.

# %% [markdown]
# ## The spectrum at initialization
#
# How are the eigenvalues spread? We repeat the computation for several random
# initializations and plot the sorted spectrum: the median across seeds and its min-max
# band.

# %%
spectra = []
for seed in range(n_seeds):
    net = make_mlp(seed)
    spectra.append(torch.linalg.eigvalsh(empirical_ntk(net, x)).numpy())
spectra = np.stack(spectra)  # (n_seeds, N)
top_share = float(np.mean(spectra[:, -1] / spectra.sum(axis=1)))
condition = float(np.median(spectra[:, -1] / np.maximum(spectra[:, 0], 1e-300)))

fig, ax = figure(profile=profile, seeds=n_seeds)
plot_spectrum(spectra, ax=ax, label=f"tanh MLP, width {width}, depth {depth}")
ax.set_title("Empirical NTK spectrum at initialization")
ax.legend()
glue_figure("fig_spectrum", fig)

# %% tags=["remove-cell"]
glue_values(top_share=100 * top_share, condition=condition, spectrum_run=run_label(profile, n_seeds))

# %% [markdown]
# ```{glue:figure} fig_spectrum
# :name: fig-spectrum-ch1
#
# Sorted eigenvalues of the empirical NTK at initialization ({glue:text}`spectrum_run`).
# ```
#
# The spectrum falls steeply: the largest eigenvalue alone carries
# {glue:text}`top_share:.1f` % of the trace on average, and the median condition number
# $\lambda_{\max}/\lambda_{\min}$ is {glue:text}`condition:.3g`. Gradient descent learns
# the direction of each eigenvector at a rate proportional to its eigenvalue, so this
# shape already predicts which functions the network fits first: the theme of
# {cite}`rahaman2019spectral` and of the chapters that follow.
#
# ## What changed in this chapter's verdicts, and why
#
# Earlier versions of the book counted the agreement of the methods and the semi-definiteness
# of the kernel as results *reproduced*, next to the paper's claims. Neither can say anything
# about the paper: both hold for any correct implementation, and they could not come out
# otherwise unless the package had a bug. They are now *sanity checks*, which the reproduction
# report lists apart and marks passed or failed. Their rules and round-off allowances are the
# same as before (now fixed in `ntkbook.experiments.theory`, beside the measurements); what is
# new is the evidence that each rule can fail: it reads {glue:text}`broken_methods` for a kernel
# with a layer missing and {glue:text}`broken_indefinite` and {glue:text}`broken_asymmetric`
# for an indefinite and an asymmetric matrix.
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-ntk-1
# ```
# Show that $\operatorname{tr}\Theta = \sum_i \|\nabla_\theta f(x_i)\|^2$ and check it
# numerically with `J`.
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-ntk-1
# :class: dropdown
# ```
# $\operatorname{tr}(J J^\top) = \sum_i (J J^\top)_{ii} = \sum_i \|J_i\|^2$.
# In code: `torch.allclose(theta.trace(), (J**2).sum())`.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-ntk-2
# ```
# Rerun the chapter with `width` set to 64 and then 2048
# (`ntkbook run 01_empirical_ntk -p width 64`). How does the spread of the spectrum
# across seeds change, and why?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-ntk-2
# :class: dropdown
# ```
# The band narrows as the width grows: the empirical NTK concentrates around a
# deterministic limit, the analytic NTK, with fluctuations of order $1/\sqrt{n}$.
# The chapter *Infinite width* measures this rate.
# ```{solution-end}
# ```
