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
# (appendix-fast-ntk)=
# # Appendix: computing NTKs fast
#
# ## Overview
#
# Every chapter of this book computes empirical NTKs, many of them at every epoch of a
# training run. The definition $\Theta = J J^\top$ suggests forming the $N \times P$
# Jacobian and multiplying; for a network with hundreds of thousands of parameters that is
# the slowest way there is. Following {cite}`novak2022fast`, `ntkbook.ntk` offers three
# exact methods and picks between them by their cost formulas.
#
# The fast one, the structured rule, works at the level of torch *operations*, not of layer
# classes: it finds every place where a parameter enters the computation (`F.linear`, `@`,
# `einsum`, a convolution, a bias add, the scale of a LayerNorm, an embedding lookup) in
# whatever module, function or tied layout the model is written, so a custom dense layer or
# an attention block is as fast as `nn.Linear`.
#
# In this appendix we will
#
# * state what each method costs, from the package's own documentation,
# * see how the operation-level rules work, and check them against plain autograd,
# * time `auto` against the plain torch.func Jacobian contraction on MLPs, a CNN and
#   Transformer encoders written in several styles, and see where the time goes,
# * time the methods against each other on the networks of the book, in one run on one
#   machine,
# * and check the performance targets the package was built to: speed-up over plain
#   Jacobian contraction, the share of the machine's matrix-product rate, memory bounds,
#   and iterative and matrix-free eigenvalues.

# %% tags=["hide-input"]
import re

import pandas as pd
import torch
from torch import nn

from ntkbook.experiments.ntk_speed import benchmark_targets, ntk_benchmark
from ntkbook.ntk import NTKMethod, empirical_ntk
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.glue import glue_values
from ntkbook.plots.ntk_speed import plot_method_times, plot_where_the_time_goes
from ntkbook.plots.tables import show_table

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
benchmark_profile = "full"  # one of ci, full: "full": N in {256, 1024, 4096} and the large-N tasks; "ci": small N
device = "cpu"  # device: "cuda" times the GPU path

# %% [markdown]
# ## What each method costs
#
# With $N$ samples, $O$ outputs and $P$ parameters, the documentation of each method of
# `NTKMethod` states its formula, cost and memory; the table below is read from it
# (`help(NTKMethod)` shows the whole text, formulas included):

# %% tags=["hide-input"]
def doc_fields(method, fields=("Cost", "Memory", "Wins")):
    """The summary line and the named fields of a method's docstring, without reST markup."""
    text = re.sub(r":\w+:`~?([^`]*)`", r"\1", re.sub(r"``([^`]*)``", r"\1", method.__doc__))
    summary, _, body = text.strip().partition("\n")
    row = {"method": method.value, "what it does": summary}
    for name in fields:
        found = re.search(rf"^{name}: (.*?)(?=^\w+: |\Z)", body, re.M | re.S)
        row[name.lower()] = " ".join(found.group(1).split()) if found else ""
    return row


show_table(pd.DataFrame([doc_fields(m) for m in NTKMethod]))

# %% [markdown]
# ## Rules at the level of operations
#
# Wherever a view $V$ of the parameters enters the computation, $z = \mathrm{op}(V, x)$, the
# per-sample gradient of $V$ is a sum over positions $t$ (tokens, pixels) of outer products,
#
# $$\frac{\partial f_n}{\partial V} = \sum_t L_{n,t} \otimes R_{n,t},$$
#
# with $L$ read from the output gradient $g = \partial f / \partial z$ and $R$ from the other
# operand $x$. For a dense layer $z = W h + b$, $L = g$ and $R = [h, 1]$; for a convolution
# $R$ holds the patches; for an elementwise scale (the affine part of a LayerNorm) every axis
# of $V$ is a *diagonal* one; for an embedding $R$ is the one-hot row index.
#
# To find the uses, the package runs each block of samples under a
# `torch.overrides.TorchFunctionMode` that sees every torch function the model calls. It
# follows views of the parameters (`W.T`, a reshape, a slice, `c * W`), records each call in
# which a view meets the data, and hands the model a copy of the call's output, so that
# in-place operations cannot disturb the tensor whose gradient it needs. One forward and $O$
# backward passes then give all the $L$ and $R$ of a block.
#
# Every use counts: a parameter used twice has the sum of its two uses as its per-sample
# gradient, and the kernel has the cross terms. Uses that land on the entries of the same
# parameter in the same way are concatenated along positions, so that one pair of Gram
# products carries them:
#
# $$\Theta \mathrel{+}= \sum_{t, t'} (L_t L_{t'}^\top) \odot (R_t R_{t'}^\top),$$
#
# which costs $T^2 (B + O A)$ multiply-adds per pair of samples for $T$ positions and widths
# $A$ and $B$ of $L$ and $R$. Where that costs more than the $O A B$ of contracting the
# per-sample gradients themselves (many tokens, a depthwise convolution), the group is
# contracted that way instead, with the per-sample gradients formed from the same $L$ and
# $R$. Each rule is checked against autograd on a few probe samples before it is used; a
# parameter without a rule (a weight computed through a norm, Python control flow on the
# data) falls back to per-sample Jacobians, and `stats` says why.
#
# Here is a layer written the way people write their own, a weight tied between an
# embedding and the output layer, and the kernel checked against the Jacobian contraction:

# %%
class CustomDense(nn.Module):
    """c * x @ w.T + 0.1 * b: no nn.Linear anywhere."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.w, self.b, self.c = nn.Parameter(torch.randn(d_out, d_in)), nn.Parameter(torch.randn(d_out)), d_in**-0.5

    def forward(self, x):
        return self.c * x @ self.w.T + 0.1 * self.b


class TiedLM(nn.Module):
    """Embed tokens, mix them with a custom layer, read out with the embedding table itself."""

    def __init__(self, vocab=20, d=16):
        super().__init__()
        self.E, self.mix = nn.Embedding(vocab, d), CustomDense(d, d)

    def forward(self, tokens):  # (N, T) integers
        h = torch.tanh(self.mix(self.E(tokens))).mean(1)  # (N, d)
        return h @ self.E.weight.T  # (N, vocab): the embedding, used a second time


torch.manual_seed(0)
lm, tokens = TiedLM().double(), torch.randint(0, 20, (32, 6))
stats = {}
theta = empirical_ntk(lm, tokens, method="structured", stats=stats)  # (32, 32)
for rule in stats["rules"]:
    print(rule)
print("fallback:", stats["fallback_params"])
print("equal to the Jacobian contraction:", torch.allclose(theta, empirical_ntk(lm, tokens, method="jacobian")))

# %% [markdown]
# The embedding table is one group with both of its uses (the lookup and the output
# product); the custom layer's bias joined its weight as an extra column of $R$, since the
# two only differ by the constant scales $c$ and $0.1$.
#
# ## The benchmark
#
# `ntk_benchmark` first times `auto` against the plain torch.func Jacobian contraction of
# the PyTorch NTK tutorial (per-sample Jacobians of both arguments with `vmap(jacrev)`,
# contracted parameter by parameter) on six networks: the 3x512 MLP written with
# `nn.Linear` and with the custom layer above, a small CNN written with `F.conv2d` on free
# parameters (10 outputs), two pre-norm Transformer encoders, and a weight-normalized MLP
# for which no rule exists. It then times each method on a 3-hidden-layer, width-512 ReLU
# MLP and on the book's ECRN (width 256, depth 8), both with 16 inputs and one output. Every
# speed-up is against a reference *measured in the same run*, so the ratios do not depend
# on what else the machine did that day.

# %%
table = ntk_benchmark(benchmark_profile, device=device)
matmul = table.attrs["matmul_GFLOPs"]
arch = table[table["task"] == "arch"]
shown = ["model", "N", "method", "seconds", "peak_MB", "speedup_vs_torchfunc", "speedup_vs_jacobian", "note"]
show_table(arch[shown], na="")

# %% [markdown]
# Where does `auto`'s time go? On the left, its speed-up over torch.func on each network
# (the black tick is the target, drawn where the run used the target's $N$); on the right,
# the share of its wall time in each phase of the structured method.

# %%
fig, axes = figure(2, profile=profile, seeds=1, stack=True)
plot_where_the_time_goes(table, axes=axes)
glue_figure("fig_time_split", fig)

# %% tags=["remove-cell"]
auto_rows = arch[arch["method"] == "auto"].set_index("model")
glue_values(speedup_custom=float(auto_rows.loc["mlp_custom", "speedup_vs_torchfunc"]),
            speedup_transformer=float(auto_rows.loc["transformer", "speedup_vs_torchfunc"]),
            arch_run=run_label(profile, 1) + f", benchmark profile {benchmark_profile}, device {device}")

# %% [markdown]
# ```{glue:figure} fig_time_split
# :name: fig-time-split
#
# Speed-up of `auto` over the plain torch.func Jacobian contraction, and where its time goes
# ({glue:text}`arch_run`).
# ```
#
# In this run the MLP of custom layers is {glue:text}`speedup_custom:.3g` times faster than
# torch.func and the 8-token encoder {glue:text}`speedup_transformer:.3g` times. With 16
# tokens of width 128 the Gram products over $T^2 = 256$ pairs of positions cost more than
# contracting per-sample gradients, and the cost formulas choose accordingly; for the
# weight-normalized MLP no rule applies and `auto` is the Jacobian contraction, computed
# once for both arguments and only on and above the diagonal.
#
# The method comparison on the book's networks:

# %%
methods = table[table["task"] != "arch"].drop(columns=["speedup_vs_torchfunc", "probe_s", "capture_s", "jacobian_s",
                                                       "gram_s", "persample_s"])
show_table(methods, na="")

# %% tags=["remove-cell"]
glue_values(matmul_rate=matmul, threads=table.attrs["threads"], memory_rule=table.attrs["peak_memory"])

# %% [markdown]
# This machine multiplies matrices at {glue:text}`matmul_rate:.0f` GFLOP/s with
# {glue:text}`threads` threads. Peak memory is measured as the
# {glue:text}`memory_rule`.

# %%
fig, axes = figure(2, profile=profile, seeds=1)
plot_method_times(table, ax=axes[0], model="mlp")
plot_method_times(table, ax=axes[1], model="ecrn")
glue_figure("fig_method_times", fig)

# %% tags=["remove-cell"]
glue_values(bench_run=run_label(profile, 1) + f", benchmark profile {benchmark_profile}, device {device}")

# %% [markdown]
# ```{glue:figure} fig_method_times
# :name: fig-method-times
#
# Wall time of each NTK method against the number of samples ({glue:text}`bench_run`).
# ```
#
# ## The targets
#
# The package was built against the targets below; `benchmark_targets` evaluates each on the
# tables above. A target is judged only where the run used the size it is stated for (in the
# `ci` profile the sizes are smaller: the values are shown, unjudged).

# %%
targets = benchmark_targets(table)
judgement = {True: "met", False: "not met"}  # None: the run did not use the target's size
show_table(targets.assign(met=[judgement.get(m, "not judged at this size") for m in targets["met"]]))

# %% tags=["remove-cell"]
judged = targets[targets["met"].notna()]
glue_values(n_targets=len(judged), n_met=int(judged["met"].astype(bool).sum()))

# %% [markdown]
# {glue:text}`n_met` of the {glue:text}`n_targets` targets judged in this run are met.
# The structured method wins because it never forms a per-sample Jacobian: it multiplies
# the Gram matrix of each operation's other operand elementwise with the Gram matrix of its
# output gradients, both matrix products that run near the machine's matrix-product rate.
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-fast-1
# ```
# For a dense layer with $d_{in}$ inputs and $d_{out}$ outputs, compare the FLOPs of the
# Jacobian contraction of that layer's weights with those of the structured rule, for one
# output. When does the structured rule stop paying off?
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-fast-1
# :class: dropdown
# ```
# The contraction costs about $2 N_1 N_2 d_{in} d_{out}$ FLOPs; the structured rule
# $2 N_1 N_2 (d_{in} + d_{out})$ plus an elementwise product. The ratio is
# $d_{in} d_{out} / (d_{in} + d_{out})$, about $d/2$ for a square layer: the rule stops
# paying off only for layers a few units wide, where the hooks cost more than they save,
# which is why `auto` still picks Jacobians for tiny models.
# ```{solution-end}
# ```
#
# ```{exercise-start}
# :label: ex-fast-2
# ```
# A self-attention projection $z = W h$ acts on $T$ tokens of width $d$ with $W$ of size
# $3d \times d$. With one output, when are the Gram products over positions cheaper than
# contracting the per-sample gradients? Check your answer against the two encoders of the
# benchmark.
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-fast-2
# :class: dropdown
# ```
# The Gram products cost $T^2 (d + 3d)$ multiply-adds per pair of samples, the per-sample
# gradients $3d \cdot d$. The Gram products win when $4 T^2 < 3 d$: for $d = 256$ up to
# $T = 13$ tokens, for $d = 128$ up to $T = 9$. The 8-token encoder of width 256 gets Gram
# products; the 16-token encoder of width 128 does not, which is why `auto` treats it
# differently.
# ```{solution-end}
# ```
