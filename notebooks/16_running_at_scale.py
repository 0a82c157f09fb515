# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: ntkbook
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   ntkbook:
#     depends_on:
#     - book/executed/{profile}/.*.stamp.json
#     - book/timings/*.json
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

# This chapter reads files of the repository: opened alone, it clones them beside itself.
import os

from ntkbook.pipeline import paths

if paths.find_root() is None:
    if not os.path.isdir("ntkbook-repository"):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", NTKBOOK_REPOSITORY, "ntkbook-repository"], check=True)
    paths.use_root("ntkbook-repository")  # also exported as NTKBOOK_ROOT, for the kernels this chapter starts

# %% [markdown]
# (chapter-running-at-scale)=
# # Running the book at scale: GPUs and Dask clusters
#
# ## Overview
#
# The published book shows the paper-scale runs (the `full` profile): a snapshot of the
# executed chapters committed in `book/executed/full/`, which `make book` builds into HTML
# without executing anything. The banner at the top of each page says which profile,
# commit and machine produced it and when, or that the chapter changed since (a *stale*
# page) or was never run. The `ci` profile is the small smoke run of the tests. Every
# chapter runs at paper scale on a CPU, on a GPU, and with its sweeps spread over a Dask
# cluster. In this chapter we will
#
# * show how to run the `full` profile and refresh the snapshot, on a GPU and on a cluster,
# * list how long each chapter of this profile took, read from the runner's own stamps, and
# * list the measured times of other `full`-profile runs saved with the book.

# %% tags=["hide-input"]
import json

import pandas as pd
from IPython.display import HTML, display

from ntkbook.pipeline import paths
from ntkbook.pipeline.stamps import executed_runs
from ntkbook.plots.glue import glue_values

# %% tags=["parameters"]
profile = "full"  # one of ci, full: which profile produced this run (set by the runner)
timings_dir = "book/timings"  # str: saved timing records of full-profile runs

# %% [markdown]
# ## The full profile
#
# Each chapter's `parameters` cell holds its paper-scale defaults, so the `full` profile
# needs no configuration:
#
# ```console
# $ .venv/bin/ntkbook status --profile full          # which chapters are current, stale (why) or missing
# $ make book PROFILE=full                           # rerun the stale ones into the snapshot, then the HTML
# $ .venv/bin/ntkbook run 13_cifar10 --profile full  # one chapter
# ```
#
# A chapter's run is stale when its source, its parameters, the `ntkbook` package or a file
# it reads changed since; only stale chapters are executed again. The executed notebooks,
# their stamps and the claim records (`book/measured/claims/full/`) are then committed with
# the book. An ad-hoc run (`-p NAME VALUE`) never replaces the snapshot: it needs `--output`.
#
# ## On a GPU
#
# Nothing in `ntkbook` names a device: the NTK engine computes on the device of the model
# and the data, models and datasets are moved with `device=`, and training follows the
# model. Install the CUDA build of the same torch release (`pip install torch==2.13.0` on a
# machine with CUDA) and pass the device to the chapters that train. `--device` places the
# chapters that declare a `device` parameter and keeps the run canonical (it says where the
# run computes, not what), so it refreshes the snapshot:
#
# ```console
# $ make book PROFILE=full DEVICE=cuda
# $ .venv/bin/ntkbook run 11_synthetic_benchmarks --profile full --device cuda
# ```
#
# `empirical_ntk(..., out_device="cpu")` streams a kernel that does not fit in GPU memory
# to host memory block by block, and `ntk_eigenvalues` works matrix-free when even that is
# too large (see the appendix on computing NTKs fast).
#
# ## On a Dask cluster
#
# Sweeps are independent papermill runs. `ntkbook sweep` runs them on local worker
# processes by default; given the address of an existing Dask distributed scheduler it
# runs them on the cluster's workers instead, which must see this checkout (a shared file
# system):
#
# ```console
# $ dask scheduler &                                   # or an existing cluster
# $ dask worker tcp://SCHEDULER:8786 --nworkers 4 &
# $ .venv/bin/ntkbook sweep bscale_point -p fourier_scale 0.1,0.3,1,3,10,30,100 \
#       --profile full --scheduler tcp://SCHEDULER:8786
# ```
#
# The collected table (`results/sweeps/.../runs.csv`) records every run's parameters,
# status and wall time; a failed run is reported and does not stop the others.
#
# ## How long each chapter took in this profile's runs

# %%
this_build = executed_runs(profile)
this_build = this_build[this_build.chapter != "16_running_at_scale"].reset_index(drop=True)
total = float(this_build.seconds.sum())
display(HTML(this_build.to_html(index=False, float_format=lambda v: f"{v:.1f}")))

# %% tags=["remove-cell"]
glue_values(build_total_min=total / 60, build_n=len(this_build))

# %% [markdown]
# The {glue:text}`build_n` other chapters of this profile took
# {glue:text}`build_total_min:.1f` minutes in all, on the machines listed beside them (a
# chapter is executed again only when its source, parameters, the package or a file it
# reads changed, so the times may come from different runs).
#
# ## Measured full-profile runs
#
# Besides the snapshot's own stamps, timing records of `full`-profile runs made while the
# book was written are saved in `book/timings/` (copies of the `_build/timings-full.json`
# that `ntkbook book --profile full` writes). Each names the machine it ran on.

# %%
records = []
for path in sorted((paths.ROOT / timings_dir).glob("*.json")):
    rec = json.loads(path.read_text())
    machine = rec.get("machine", {})
    where = machine.get("gpu") or f"CPU, {machine.get('cpus')} cores"
    if rec.get("note"):
        print(f"{path.name}: {rec['note']}")
    for chapter, seconds in rec.get("seconds", {}).items():
        records.append({"run": path.stem, "machine": where, "chapter": chapter, "seconds": seconds})
full = pd.DataFrame(records, columns=["run", "machine", "chapter", "seconds"])
if full.empty:
    print("No full-profile timing record is saved with this book yet.")
else:
    wide = full.pivot_table(index="chapter", columns="machine", values="seconds", aggfunc="first")
    display(HTML(wide.to_html(float_format=lambda v: f"{v:.0f}", na_rep="not run")))

# %% tags=["remove-cell"]
glue_values(n_full_runs=full.run.nunique())

# %% [markdown]
# {glue:text}`n_full_runs` saved full-profile run(s) are listed above, in seconds per
# chapter.
#
# ## Exercises
#
# ```{exercise-start}
# :label: ex-scale-1
# ```
# Start a two-worker local Dask cluster from Python and run a sweep on it.
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-scale-1
# :class: dropdown
# ```
# ```python
# from distributed import LocalCluster
# from ntkbook.pipeline.sweep import run_sweep
# with LocalCluster(n_workers=2, threads_per_worker=1) as cluster:
#     table = run_sweep("bscale_point", "fourier_scale", [0.1, 1.0, 10.0],
#                       scheduler=cluster.scheduler_address)
# print(table[["fourier_scale", "status", "seconds"]])
# ```
# ```{solution-end}
# ```
