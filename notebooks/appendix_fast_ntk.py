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
# In this appendix we will
#
# * state what each method costs, from the package's own documentation,
# * time them against each other on the networks of the book, in one run on one machine,
# * and check the performance targets the package was built to: speed-up over plain
#   Jacobian contraction, the share of the machine's matrix-product rate, memory bounds,
#   and iterative and matrix-free eigenvalues.

# %% tags=["hide-input"]
from IPython.display import HTML, display

from ntkbook.experiments.ntk_speed import benchmark_targets, ntk_benchmark
from ntkbook.ntk import NTKMethod
from ntkbook.plots import figure, glue_figure, run_label
from ntkbook.plots.glue import glue_values
from ntkbook.plots.ntk_speed import plot_method_times

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
benchmark_profile = "full"  # one of ci, full: "full": N in {256, 1024, 4096} and the large-N tasks; "ci": small N
device = "cpu"  # device: "cuda" times the GPU path

# %% [markdown]
# ## What each method costs
#
# With $N$ samples, $O$ outputs and $P$ parameters, the documentation of each method of
# `NTKMethod` states its formula, cost and memory:

# %%
for method in NTKMethod:
    print(f"--- {method.value} ---\n{method.__doc__}")

# %% [markdown]
# ## The benchmark
#
# `ntk_benchmark` times each method on a 3-hidden-layer, width-512 ReLU MLP and on the
# book's ECRN (width 256, depth 8), both with 16 inputs and one output, and reports each
# method's speed-up over the torch.func Jacobian contraction *measured in the same run*,
# so the ratios do not depend on what else the machine did that day.

# %%
table = ntk_benchmark(benchmark_profile, device=device)
matmul = table.attrs["matmul_GFLOPs"]
display(HTML(table.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="")))

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
# The package was built against five targets; `benchmark_targets` evaluates each on the
# table above (in the `ci` profile the sizes are smaller, so the N-dependent targets are
# evaluated at the largest N that ran).

# %%
targets = benchmark_targets(table)
display(HTML(targets.to_html(index=False, float_format=lambda v: f"{v:.3g}")))

# %% tags=["remove-cell"]
glue_values(n_targets=len(targets), n_met=int(targets["met"].sum()))

# %% [markdown]
# {glue:text}`n_met` of the {glue:text}`n_targets` targets evaluated in this run are met.
# The structured method wins because it never forms a per-sample Jacobian: it multiplies
# the layer inputs' Gram matrix elementwise with the output gradients' Gram matrix, both
# matrix products that run near the machine's matrix-product rate.
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
