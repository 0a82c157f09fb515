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
# for several seeds with `ntkbook.experiments.ablations.bscale_point`: each seed holds the
# last `n_val` of its training points out for validation and fits the others. It glues the
# train, validation and test MSE, their gap, the test error of each frequency component and
# the effective rank of the NTK at initialization: the mean over seeds and the value of
# every seed (`train_mse_s0`, `val_mse_s0`, `freq_error_0_s0`, ...). The chapter chooses
# sigma on the validation values only.

# %%
import math

import torch
from myst_nb import glue

from ntkbook.experiments.ablations import bscale_point

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
fourier_scale = 10.0  # float in [0, inf): sigma: the entries of B are N(0, sigma^2)
n_seeds = 8  # int in [1, inf): seeds (each draws data, B and weights)
n_train = 48  # int in [4, inf): training points drawn on [0, 1], the validation points included
n_val = 16  # int in [1, inf): of these, the last ones held out for validation (the network fits n_train - n_val)
n_test = 256  # int in [2, inf): test points (a grid on [0, 1]), scored against the clean target
noise = 0.1  # float in [0, inf): std of the Gaussian noise on the training targets
frequencies = [1.0, 5.0]  # list of floats in (0, inf): frequencies of the target's components (cycles on [0, 1])
amplitudes = [1.0, 0.5]  # list of floats in [0, inf): their amplitudes, one per frequency
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
table = bscale_point(fourier_scale, list(range(n_seeds)), n_train=n_train, n_val=n_val, n_test=n_test,
                     frequencies=frequencies, amplitudes=amplitudes, noise=noise, width=width, depth=depth,
                     n_fourier=n_fourier, lr=lr, epochs=epochs, device=device)
print(table["source"].iloc[0])
table.drop(columns="source")

# %%
def as_float(value):
    return float(value) if math.isfinite(value) else float("nan")


glue("n_seeds", n_seeds, display=False)
glue("n_train", n_train, display=False)
glue("n_fit", n_train - n_val, display=False)
glue("n_val", n_val, display=False)
glue("n_diverged", int(table["diverged"].sum()), display=False)
glue("source", str(table["source"].iloc[0]), display=False)
glue("n_frequencies", len(frequencies), display=False)
for k, f in enumerate(frequencies):
    glue(f"frequency_{k}", float(f), display=False)
metrics = ["train_mse", "val_mse", "test_mse", "gap", "effective_rank"] + [f"freq_error_{k}" for k in range(len(frequencies))]
for metric in metrics:
    glue(metric, as_float(table[metric].mean()), display=False)  # NaN if any seed diverged
    for seed, value in zip(table["seed"], table[metric]):
        glue(f"{metric}_s{seed}", as_float(value), display=False)
