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
# * check the two properties every Gram matrix has: symmetry and positive semi-definiteness,
# * and look at its eigenvalue spectrum at initialization, over several seeds.

# %%
import numpy as np
import torch
from myst_nb import glue

from ntkbook.ntk import empirical_ntk
from ntkbook.plots import figure, glue_figure, plot_spectrum, run_label
from ntkbook.claims import record_claim
from ntkbook.verdicts import show_claim, threshold_rule

# %% [markdown]
# The parameters below are the paper-scale defaults (the `full` profile). The book's
# continuous integration runs a smaller `ci` profile; see {ref}`rerun-and-adapt` for how
# to rerun this chapter with your own values.

# %% tags=["parameters"]
profile = "full"  # which profile produced this run (set by the runner)
n_points = 256  # N: inputs in the Gram matrix
in_features = 8  # input dimension d
width = 512  # hidden width n
depth = 3  # hidden layers
n_seeds = 5  # independent initializations for the spectrum
dtype = "float64"  # float64 makes the checks sharp; float32 works too

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
glue("n_params", n_params, display=False)
glue("n_points", n_points, display=False)

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
glue("rel_diff", rel_diff, display=False)
print(f"J: {tuple(J.shape)}, Theta: {tuple(theta.shape)}, relative difference {rel_diff:.2e}")

# %% [markdown]
# The hand-built kernel and `empirical_ntk` agree to a relative Frobenius difference of
# {glue:text}`rel_diff:.1e`. The loop costs $N$ backward passes and stores all of $J$
# ($N \times P$ numbers); the appendix *Computing NTKs fast* shows methods that avoid both.
#
# ## Symmetry and positive semi-definiteness
#
# $\Theta = J J^\top$ is symmetric, and $v^\top \Theta v = \|J^\top v\|^2 \ge 0$ for every
# $v$, so no eigenvalue is negative. In floating point both hold up to round-off, which we
# measure relative to the largest eigenvalue.

# %%
asymmetry = ((theta - theta.T).norm() / theta.norm()).item()
eigenvalues = torch.linalg.eigvalsh(theta)  # ascending
lam_min, lam_max = eigenvalues[0].item(), eigenvalues[-1].item()
neg_ratio = max(0.0, -lam_min) / lam_max
eps = torch.finfo(torch_dtype).eps
tolerance = 100 * n_points * eps  # round-off allowance for an N x N eigensolver
glue("asymmetry", asymmetry, display=False)
glue("neg_ratio", neg_ratio, display=False)
glue("lam_max", lam_max, display=False)
glue("tolerance", tolerance, display=False)
print(f"asymmetry {asymmetry:.1e}; lambda_max {lam_max:.4g}; most negative / lambda_max {neg_ratio:.1e}")

# %% [markdown]
# The relative asymmetry is {glue:text}`asymmetry:.1e` and the most negative eigenvalue,
# relative to $\lambda_{\max}$ = {glue:text}`lam_max:.4g`, is {glue:text}`neg_ratio:.1e`:
# both at the level of round-off (our tolerance is {glue:text}`tolerance:.1e`).

# %%
worst = max(asymmetry, neg_ratio)
verdict = show_claim(
    "The empirical NTK is a symmetric positive semi-definite matrix.",
    threshold_rule(worst, at_most=tolerance, what="max(relative asymmetry, -lambda_min/lambda_max)"),
    source="the definition Theta = J J^T (Jacot et al. 2018)",
)
record_claim("ntk_psd", verdict, profile=profile, seeds=1, values={"asymmetry": asymmetry, "neg_ratio": neg_ratio})
glue("verdict_psd", verdict.verdict, display=False)

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
glue("top_share", 100 * top_share, display=False)
glue("condition", condition, display=False)
glue("spectrum_run", run_label(profile, n_seeds), display=False)

fig, ax = figure(profile=profile, seeds=n_seeds)
plot_spectrum(spectra, ax=ax, label=f"tanh MLP, width {width}, depth {depth}")
ax.set_title("Empirical NTK spectrum at initialization")
ax.legend()
glue_figure("fig_spectrum", fig)

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
