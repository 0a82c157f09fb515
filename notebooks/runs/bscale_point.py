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
# # One point of the B-scale sweep
#
# A run notebook, not a chapter: the chapter {ref}`chapter-ablation-bscale` executes it
# once per Fourier scale with `ntkbook.pipeline.sweep.run_sweep` (or `ntkbook sweep bscale_point -p
# fourier_scale 0.1,1,10,100`) and reads back the values glued here.
#
# For one scale sigma it trains the ECRN (stochastic depth off) on a 1-d sinusoid regression
# for several seeds with `ntkbook.experiments.ablations.bscale_point`, and glues the train and test
# MSE, their gap and the effective rank of the NTK at initialization: the mean over seeds
# and the value of every seed (`train_mse_s0`, `test_mse_s0`, ...).

# %%
import math

import torch
from myst_nb import glue

from ntkbook.experiments.ablations import bscale_point

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
fourier_scale = 10.0  # float in [0, inf): sigma: the entries of B are N(0, sigma^2)
n_seeds = 8  # int in [1, inf): seeds (each draws data, B and weights)
n_train = 32  # int in [2, inf): training points on [0, 1]
n_test = 256  # int in [2, inf): test points (a grid on [0, 1]), scored against the clean target
noise = 0.1  # float in [0, inf): std of the Gaussian noise on the training targets
width = 128  # int in [1, inf): ECRN width
depth = 4  # int in [1, inf): ECRN residual blocks
n_fourier = 64  # int in [1, inf): frequencies in B (the embedding has 2 n_fourier features)
lr = 0.5  # float in (0, inf): full-batch gradient descent step
epochs = 1000  # int in [1, inf): gradient descent steps
device = "cpu"  # device: where the network runs ("cuda" works too)
cpu_threads = 1  # int in [0, inf): torch CPU threads; these small matrices run fastest on one (0: torch default)

# %%
if cpu_threads > 0:
    torch.set_num_threads(cpu_threads)
table = bscale_point(fourier_scale, list(range(n_seeds)), n_train=n_train, n_test=n_test, noise=noise,
                     width=width, depth=depth, n_fourier=n_fourier, lr=lr, epochs=epochs, device=device)
print(table["source"].iloc[0])
table.drop(columns="source")

# %%
def as_float(value):
    return float(value) if math.isfinite(value) else float("nan")


glue("n_seeds", n_seeds, display=False)
glue("n_train", n_train, display=False)
glue("n_diverged", int(table["diverged"].sum()), display=False)
glue("source", str(table["source"].iloc[0]), display=False)
for metric in ("train_mse", "test_mse", "gap", "effective_rank"):
    glue(metric, as_float(table[metric].mean()), display=False)  # NaN if any seed diverged
    for seed, value in zip(table["seed"], table[metric]):
        glue(f"{metric}_s{seed}", as_float(value), display=False)
