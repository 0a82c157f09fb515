r"""The experiments of the chapter "Beyond the paper: scale" (issue 16, parts 2 and 3).

Three measurements, each a function returning tidy tables; the notebook explains and plots:

* **The CNTK as a width limit** (:func:`cnn_kernel_errors`): the relative Frobenius error of
  the mean empirical NTK of random ReLU CNNs (:class:`ntkbook.convnet.ConvNet`, NTK
  parameterization) against the analytic :func:`ntkbook.cntk.cntk_kernels`, over the number
  of channels; its log-log slope is about -1/2 at the central-limit rate of chapter 02.
* **The CNTK against the fully connected NTK on CIFAR-10** (:func:`kernel_bank`,
  :func:`compare_kernels`): kernel ridge regression with each kernel on the same images, the
  candidate (a depth) and its ridge chosen on validation images by the temperature-scaled
  validation cross-entropy (:func:`ntkbook.experiments.tuning.selection_score`, the protocol
  of every kernel model of chapter 13), the same number of candidates for both kernels, and
  the test images predicted once, by the selected candidate. The fully connected kernel is
  chapter 13's "ntk" baseline (:class:`ntkbook.experiments.kernel_baseline.KernelBaseline`
  with its defaults: relu, w_std 1, b_std 0.1). Nested training sizes reuse one bank of
  kernel matrices: the first n training images, the last 20 % of them held out.
* **lambda_max of the ECRN at initialization against depth and training size**
  (:func:`ecrn_lambda_max`): the largest eigenvalue of the empirical NTK of
  :class:`ntkbook.models.ECRN` at fixed width and fixed alpha_l, with its infinite-width value
  from :func:`ntkbook.analytic.ecrn_kernels`, against the reconstructed bound of chapter 06, in
  which the eigenvalue's growth is controlled by sum_l alpha_l^2 = alpha^2 L (linear in L).
* **lambda_max(t) against validation accuracy over training, as the training set grows**
  (:func:`training_by_size`): chapter 13's ECRN and vector baselines, tuned and trained by
  chapter 13's own protocol (:func:`size_benchmark`, :func:`ntkbook.experiments.benchmarks.run_benchmark`)
  at each training size n, the offline 5,000-image pool below it and the official archive
  (:mod:`ntkbook.data.cifar_archive`) above; per probe epoch lambda_max of the empirical NTK
  and the validation accuracy (:func:`training_trajectories`); the growth
  lambda_max(T) / lambda_max(0) and the accuracies fitted against n (:func:`scaling_fits`,
  :func:`growth_difference`, :func:`accuracy_gap_trend`); and the same for the ECRN trained at
  depths 2 to 32 with a fixed alpha_l (:func:`training_by_depth`).

Reconstruction choices (stated in the chapter): images downsampled by ``pool`` x ``pool``
average pooling (32 x 32 -> 16 x 16 by default) so that the CNTK fits a 2-core CPU; the flatten
readout on a CPU (global average pooling, O(P^2), on a GPU); both kernels see the same
downsampled images.

Example::

    >>> data = cifar_images(100, 50, pool=4)                    # (N, 3, 8, 8) images
    >>> bank = kernel_bank(data, {"cntk": (1, 2), "fc_ntk": (1, 2)})
    >>> table, examples = compare_kernels(bank, data, sizes=[100])
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ntkbook._validation import check_float, check_int, check_ints, check_option, check_seeds, fail
from ntkbook.analytic import ecrn_kernels
from ntkbook.cntk import cntk_kernels, cntk_kernels_by_depth
from ntkbook.convnet import ConvNet
from ntkbook.data import (CIFAR_CLASSES, CIFAR_SUBSET_TEST_PER_CLASS, CIFAR_SUBSET_TRAIN_PER_CLASS, DataError, Dataset,
                          load_dataset)
from ntkbook.experiments.benchmarks import Benchmark, BenchmarkResult, cifar_benchmark, run_benchmark, unit_phase_scale
from ntkbook.experiments.kernel_baseline import RIDGE_GRID, KernelBaseline, kernel_matrix, ridge_path
from ntkbook.experiments.theory import relative_frobenius
from ntkbook.experiments.tuning import VALIDATION_SPLIT, selection_score, validation_size
from ntkbook.models import ECRN
from ntkbook.ntk import empirical_ntk
from ntkbook.stats import PairedDifference, paired_bootstrap, paired_difference, slope_interval, t_interval

__all__ = ["cnn_kernel_errors", "cifar_images", "kernel_bank", "compare_kernels", "ecrn_lambda_max",
           "bootstrap_one_sided_p", "size_benchmark", "depth_benchmark", "training_by_size", "training_by_depth",
           "training_trajectories", "scaling_fits", "growth_difference", "accuracy_gap_trend", "SizeSweep",
           "KERNELS", "VALIDATION_FRACTION", "SIZE_MODELS", "VECTOR_NETWORKS", "POOL_TRAIN", "POOL_TEST",
           "GAP_TOLERANCE"]

KERNELS = ("cntk", "fc_ntk")  # the convolutional NTK and chapter 13's fully connected NTK
VALIDATION_FRACTION = 0.2  # of the training images, as in chapter 13


# ----------------------------------------------------------------------------- the width limit


def cnn_kernel_errors(x: torch.Tensor, channels: Sequence[int], seeds: Sequence[int], *, depth: int = 2,
                      readout: str = "flatten", n_nets: int = 1, w_std: float = 1.0, b_std: float = 0.1
                      ) -> pd.DataFrame:
    """||mean_k Theta_n^(k) - Theta_inf||_F / ||Theta_inf||_F over channels n and seeds.

    For seed s and n channels, ``n_nets`` ConvNets (seeds s * 1000 + k) give their empirical NTKs
    on the images ``x`` (N, C, H, W) (:func:`ntkbook.ntk.empirical_ntk`, the networks in the
    dtype of ``x``); their mean is compared with :func:`ntkbook.cntk.cntk_kernels`. Averaging
    k networks lowers the fluctuation by sqrt(k) and leaves its n^(-1/2) rate unchanged.
    Returns a DataFrame (channels, seed, rel_error, seconds). Cost: one empirical NTK per
    network, O(N^2) products of the gradients of its 9 n^2 (depth - 1) parameters.
    """
    owner = "cnn_kernel_errors"
    channels = check_ints(channels, "channels", owner)
    seeds = check_seeds(seeds, "seeds", owner)
    n_nets = check_int(n_nets, "n_nets", owner)
    limit = cntk_kernels(x, depth=depth, readout=readout, w_std=w_std, b_std=b_std)[1]
    rows = []
    for s in seeds:
        for n in channels:
            start = time.perf_counter()
            kernels = []
            for k in range(n_nets):
                net = ConvNet(x.shape[1], 1, channels=n, depth=depth, readout=readout, image_size=tuple(x.shape[2:]),
                              w_std=w_std, b_std=b_std, seed=s * 1000 + k).to(device=x.device, dtype=x.dtype)
                kernels.append(empirical_ntk(net, x))
            mean = torch.stack(kernels).mean(0)  # (N, N)
            rows.append({"channels": n, "seed": s, "rel_error": relative_frobenius(mean, limit),
                         "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- CIFAR-10 kernels


def cifar_images(n_train: int, n_test: int, *, pool: int = 2, seed: int = 0, device=None,
                 dtype=torch.float64) -> Dataset:
    """The CIFAR-10 subset of chapter 13 as images (N, 3, 32 / pool, 32 / pool).

    ``load_dataset("cifar10", flatten=False, seed=seed)`` (stratified draws from the offline
    5,000 / 1,000 pool, standardized per channel with training statistics), then
    ``pool`` x ``pool`` average pooling (1: the full 32 x 32 images). Reconstruction.
    """
    owner = "cifar_images"
    pool = check_int(pool, "pool", owner)
    if 32 % pool:
        fail("pool", owner, "an int dividing 32 (1, 2, 4, 8, 16 or 32)", pool)
    data = load_dataset("cifar10", n_train=n_train, n_test=n_test, seed=seed, flatten=False, dtype=dtype,
                        device=device)
    x_train, x_test = (F.avg_pool2d(x, pool) if pool > 1 else x for x in (data.x_train, data.x_test))
    size = 32 // pool
    return Dataset(x_train, data.y_train, x_test, data.y_test, data.task, data.n_classes,
                   [f"c{c}_{i}_{j}" for c in range(3) for i in range(size) for j in range(size)],
                   f"{data.source}; {pool}x{pool} average pooling to {size}x{size}" if pool > 1 else data.source,
                   data.name, data.notes, dict(data.extras))


def _kernels_by_depth(kind: str, x1, x2, depths, readout):
    """The NTK of ``kind`` for every depth, (N1, N2) float64 on the CPU: the CNTK in one pass
    (:func:`ntkbook.cntk.cntk_kernels_by_depth`), the fully connected NTK per depth."""
    if kind == "cntk":
        res = cntk_kernels_by_depth(x1, x2, depths=depths, readout=readout)
        return {d: k[1].to("cpu", torch.float64) for d, k in res.items()}
    return {d: kernel_matrix(KernelBaseline(depth=d), x1, x2).cpu() for d in depths}


def kernel_bank(data: Dataset, depths: Mapping[str, Sequence[int]], *, readout: str = "flatten") -> dict:
    """Every candidate's kernel matrices: ``{kind: {depth: (K_train (n, n), K_test (n_test, n))}}``.

    ``depths`` maps each kind of :data:`KERNELS` to its candidate depths (conv layers of the
    CNTK, hidden layers of the fully connected NTK; the same number for every kind: the same
    budget). Computed where the images are (CPU or GPU). The test block is computed with the
    rest, but only the selected candidate's ever predicts (:func:`compare_kernels`). Records
    the seconds each kind took under ``bank["seconds"]``.
    """
    owner = "kernel_bank"
    if not isinstance(depths, Mapping) or not depths or any(k not in KERNELS for k in depths):
        fail("depths", owner, f"a mapping from kernels among {list(KERNELS)} to candidate depths", depths)
    grids = {k: check_ints(v, "depths", owner) for k, v in depths.items()}
    if len({len(v) for v in grids.values()}) != 1:
        fail("depths", owner, "the same number of candidate depths for every kernel (the same budget)", depths)
    check_option(readout, "readout", owner, ("flatten", "gap"))
    bank, seconds = {}, {}
    for kind, ds in grids.items():
        start = time.perf_counter()
        train = _kernels_by_depth(kind, data.x_train, None, ds, readout)
        test = _kernels_by_depth(kind, data.x_test, data.x_train, ds, readout)
        bank[kind] = {d: (train[d], test[d]) for d in ds}
        seconds[kind] = time.perf_counter() - start
    bank["seconds"] = seconds
    return bank


def _select(grams: Mapping[int, tuple], fit: np.ndarray, val: np.ndarray, y: torch.Tensor, n_classes: int,
            ridges: Sequence[float]) -> dict:
    """The candidate depth and ridge with the lowest temperature-scaled validation cross-entropy."""
    targets = F.one_hot(y[fit], n_classes).to(torch.float64)  # (n_fit, k)
    best = None
    for depth, (k_train, _) in grams.items():
        k_fit, k_val = k_train[np.ix_(fit, fit)], k_train[np.ix_(val, fit)]
        for rel, lam, weights, _ in ridge_path(k_fit, targets, ridges):
            score, t = selection_score(k_val @ weights, y[val], "classification")
            if math.isfinite(score) and (best is None or score < best["score"]):
                best = {"depth": depth, "relative_ridge": rel, "ridge": lam, "temperature": t, "score": score,
                        "weights": weights}
    return best


def compare_kernels(bank: dict, data: Dataset, *, sizes: Sequence[int], ridges: Sequence[float] = RIDGE_GRID,
                    n_boot: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Select, then test once, every kernel of ``bank`` at each training size; compare them.

    For size n the training images are the first n of ``data.x_train`` (a random subset: the
    loader draws them in a seeded order) and the last ``validation_size(n, 0.2)`` of those are
    held out, as :func:`ntkbook.data.hold_out_validation` does; each candidate depth and each
    ridge of ``ridges`` (relative to the mean eigenvalue) is scored on them, and the selected
    one predicts the test images. Returns

    * a DataFrame, one row per (n, kernel): depth, relative_ridge, temperature, val_score,
      accuracy, cross_entropy, and the paired bootstrap of cntk - fc_ntk test accuracy
      (diff, low, high, p_value, repeated on both rows of a size);
    * the per-example correctness ``{n: {kernel: (n_test,) array}}``.
    """
    owner = "compare_kernels"
    kinds = [k for k in KERNELS if k in bank]
    sizes = sorted(check_ints(sizes, "sizes", owner, low=4))
    if sizes[-1] > len(data.x_train):
        fail("sizes", owner, f"training sizes of at most {len(data.x_train)} (the images of the bank)", sizes)
    y, y_test = data.y_train.cpu(), data.y_test.cpu()
    rows, examples = [], {}
    for n in sizes:
        n_val = validation_size(n, VALIDATION_FRACTION)
        fit, val = np.arange(n - n_val), np.arange(n - n_val, n)
        examples[n] = {}
        for kind in kinds:
            sel = _select(bank[kind], fit, val, y, data.n_classes, ridges)
            k_test = bank[kind][sel["depth"]][1][:, fit]  # the one look at the test images
            out = k_test @ sel["weights"]  # (n_test, k)
            correct = (out.argmax(1) == y_test).to(torch.float64)
            examples[n][kind] = correct.numpy()
            rows.append({"n": n, "kernel": kind, "n_fit": len(fit), "n_val": n_val, "n_test": len(y_test),
                         "depth": sel["depth"],
                         "relative_ridge": sel["relative_ridge"], "temperature": sel["temperature"],
                         "val_score": sel["score"], "accuracy": float(correct.mean()),
                         "cross_entropy": float(F.cross_entropy(out / sel["temperature"], y_test))})
    table = pd.DataFrame(rows)
    if set(kinds) == set(KERNELS):
        for n in sizes:
            pair = paired_bootstrap(examples[n]["cntk"], examples[n]["fc_ntk"], n_boot=n_boot, seed=seed)
            at = table["n"] == n
            table.loc[at, "diff"], table.loc[at, "low"], table.loc[at, "high"] = (pair.mean_difference, pair.ci_low,
                                                                                pair.ci_high)
            table.loc[at, "p_value"] = pair.p_value
    return table, examples


# ----------------------------------------------------------------------------- ECRN lambda_max


def ecrn_lambda_max(x: torch.Tensor, depths: Sequence[int], seeds: Sequence[int], *, width: int = 256,
                    alpha: float = 1 / math.sqrt(8), n_fourier: int = 64, fourier_scale: float | None = None,
                    activation: str = "tanh", sizes: Sequence[int] | None = None, analytic: bool = True
                    ) -> pd.DataFrame:
    """lambda_max of the ECRN's empirical NTK at initialization, over depths, seeds and sizes.

    The ECRN (:class:`ntkbook.models.ECRN`, one output, eval mode) has ``width`` units, the
    same ``alpha`` in every block (fixed, not a depth schedule: sum_l alpha_l^2 = alpha^2 L)
    and no stochastic depth (p_l = 0, so eval mode is the network itself). Its input is the
    first n rows of ``x`` (N, d) for every n in ``sizes`` (default: all of ``x``). The Fourier
    scale defaults to :func:`ntkbook.experiments.benchmarks.unit_phase_scale` of d. With
    ``analytic``, each (depth, n) also gets the infinite-width lambda_max from
    :func:`ntkbook.analytic.ecrn_kernels` (the B-average, the width and n_fourier -> inf limit).
    Returns a DataFrame (depth, n, seed, lambda_max, sum_alpha2, analytic, seconds).
    """
    owner = "ecrn_lambda_max"
    depths = check_ints(depths, "depths", owner)
    seeds = check_seeds(seeds, "seeds", owner)
    alpha = check_float(alpha, "alpha", owner)
    sizes = check_ints(sizes if sizes is not None else [len(x)], "sizes", owner, low=2)
    if max(sizes) > len(x):
        fail("sizes", owner, f"sizes of at most {len(x)} (the rows of x)", sizes)
    sigma = unit_phase_scale(x.shape[1]) if fourier_scale is None else check_float(fourier_scale, "fourier_scale",
                                                                                    owner, low_open=True)
    rows = []
    for depth in depths:
        for n in sizes:
            xn = x[:n]
            limit = math.nan
            if analytic:
                k = ecrn_kernels(xn, depth=depth, alpha=alpha, drop_prob=0.0, activation=activation,
                                 n_fourier=n_fourier, fourier_scale=sigma)[1]
                limit = float(torch.linalg.eigvalsh(k)[-1])
            for s in seeds:
                start = time.perf_counter()
                model = ECRN(x.shape[1], 1, width=width, depth=depth, n_fourier=n_fourier, fourier_scale=sigma,
                             alpha=alpha, drop_prob=0.0, activation=activation, seed=s).to(device=x.device,
                                                                                            dtype=x.dtype)
                lam = float(torch.linalg.eigvalsh(empirical_ntk(model, xn).double())[-1])
                rows.append({"depth": depth, "n": n, "seed": s, "lambda_max": lam, "sum_alpha2": alpha**2 * depth,
                             "analytic": limit, "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows)


def bootstrap_one_sided_p(pair, expect: str) -> float:
    """The one-sided p-value of a :func:`ntkbook.stats.paired_bootstrap` result for the claim
    that the difference is ``expect``: the side of the mean difference decides, as
    :meth:`ntkbook.experiments.benchmarks.Comparison.one_sided_p` does for the bootstrap."""
    from types import SimpleNamespace

    from ntkbook.stats import one_sided_p

    return one_sided_p(SimpleNamespace(t_statistic=pair.mean_difference, p_value=pair.p_value), expect)


# ----------------------------------------------------------------------------- training at scale

SIZE_MODELS = ("ecrn", "mlp", "resnet")  # the ECRN and chapter 13's conventional networks on vectors
VECTOR_NETWORKS = ("ecrn", "mlp_fourier", "mlp", "resnet")  # chapter 13's networks on flattened pixels
POOL_TRAIN = CIFAR_SUBSET_TRAIN_PER_CLASS * len(CIFAR_CLASSES)  # 5,000: the offline pool; above it, the archive
POOL_TEST = CIFAR_SUBSET_TEST_PER_CLASS * len(CIFAR_CLASSES)  # 1,000 test images in the pool
POOL_DATASET = "cifar10"
# The fixed tolerance of the claim "ecrn_accuracy_edge_persists_with_n" (stated in its registry
# text): the slope of the ECRN - MLP validation-accuracy difference against log2 n, in points per
# doubling of n, may be as low as this before the claim fails.
GAP_TOLERANCE = -1.0


def _check_models(models, owner: str, allowed: Sequence[str] = VECTOR_NETWORKS) -> list[str]:
    models = list(models) if isinstance(models, (list, tuple)) else models
    if not isinstance(models, list) or not models or len(set(models)) != len(models) or any(
            m not in allowed for m in models):
        fail("models", owner, f"a non-empty list of distinct networks among {list(allowed)}", models)
    return models


def size_benchmark(n_train: int, *, models: Sequence[str] = SIZE_MODELS, dataset: str = POOL_DATASET,
                   **settings) -> Benchmark:
    """Chapter 13's CIFAR-10 benchmark at ``n_train`` training images, restricted to ``models``.

    :func:`ntkbook.experiments.benchmarks.cifar_benchmark` with ``n_train`` and ``settings``
    (its keywords: n_seeds, n_test, width, depth, n_fourier, ecrn_activation, epochs,
    batch_size, lrs, validation, patience, ntk_every, ntk_probe), less the kernel models,
    ResNet-18 and the networks not in ``models``: flattened standardized pixels, the ECRN
    family in erf with the Fourier scale ``unit_phase_scale(3072)``, ``len(lrs)`` Adam
    learning rates per network chosen on the first seed's validation images (the last 20 %
    of the training images) with early stopping, one fixed split for every seed, and the
    NTK spectrum every ``ntk_every`` epochs on the first ``ntk_probe`` training images. Each
    network keeps the ExperimentConfig chapter 13 gives it, so a run chapter 13 cached with
    the same settings is read, not repeated. ``dataset`` is "cifar10" (the offline pool, up to
    :data:`POOL_TRAIN` images) or :data:`ntkbook.data.cifar_archive.ARCHIVE_DATASET` (the
    official archive, inside :func:`ntkbook.data.cifar_archive.registered`).
    """
    from ntkbook.data.cifar_archive import ARCHIVE_DATASET

    owner = "size_benchmark"
    models = _check_models(models, owner)
    check_option(dataset, "dataset", owner, (POOL_DATASET, ARCHIVE_DATASET))
    if "lrs" in settings:  # ResNet-18 is left out, but cifar_benchmark wants it the same budget
        settings.setdefault("resnet18_lrs", tuple(settings["lrs"]))
    bench = cifar_benchmark(n_train=n_train, **settings)
    return dataclasses.replace(bench, name=f"CIFAR-10, {n_train} training images", dataset=dataset,
                               networks={m: bench.networks[m] for m in models}, kernels={},
                               grids={m: bench.grids[m] for m in models}, per_network={})


def depth_benchmark(depths: Sequence[int], *, n_train: int, alpha: float, **settings) -> Benchmark:
    """The ECRN of :func:`size_benchmark` at every depth of ``depths`` (labels ``ecrn_L{depth}``),
    with the same ``alpha`` in every block (fixed, not the 1/sqrt(L) default) and no stochastic
    depth (p_l = 0), as in :func:`ecrn_lambda_max`; every depth gets the ECRN's candidates
    (its learning rates: the same budget) and the same training and tracking."""
    owner = "depth_benchmark"
    depths = check_ints(depths, "depths", owner)
    if len(set(depths)) != len(depths):
        fail("depths", owner, "distinct depths", depths)
    alpha = check_float(alpha, "alpha", owner)
    bench = size_benchmark(n_train, models=("ecrn",), **settings)
    model, kwargs = bench.networks["ecrn"]
    networks = {f"ecrn_L{d}": (model, {**kwargs, "depth": d, "alpha": alpha, "drop_prob": 0.0}) for d in depths}
    return dataclasses.replace(bench, name=f"{bench.name}, the ECRN at {len(depths)} depths", networks=networks,
                               grids={label: list(bench.grids["ecrn"]) for label in networks})


def training_trajectories(result: BenchmarkResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """lambda_max of the probe NTK against the validation accuracy, epoch by epoch, from a run.

    For every network and seed of ``result`` (the selected candidate's whole run, as
    :mod:`ntkbook.experiments.tuning` keeps it) returns

    * the trajectory, one row per recorded probe epoch t: model, seed, epoch, lambda_max,
      ratio = lambda_max(t) / lambda_max(0), val_accuracy and val_cross_entropy (the
      validation split's metrics after that epoch);
    * the summary, one row per model and seed (every one, NaN where a seed has no record):
      lambda0, lambda_final (at the last recorded probe epoch T, final_epoch), growth =
      lambda_final / lambda0, selected_epoch (the early-stopping choice), val_accuracy at the
      selected epoch, test_accuracy (the one test evaluation) and diverged.

    Cost: pandas reshaping of the tidy rows, no computation.
    """
    f = result.frame
    keys = ["model", "seed", "epoch"]
    probe = f[(f.split == "probe") & (f.metric == "lambda_max")][keys + ["value"]].rename(
        columns={"value": "lambda_max"})
    val = f[(f.split == VALIDATION_SPLIT) & f.metric.isin(["accuracy", "cross_entropy"])]
    val = val.pivot_table(index=keys, columns="metric", values="value", aggfunc="first").reset_index()
    val = val.rename(columns={"accuracy": "val_accuracy", "cross_entropy": "val_cross_entropy"})
    for col in ("val_accuracy", "val_cross_entropy"):
        if col not in val:
            val[col] = math.nan
    traj = probe.merge(val[keys + ["val_accuracy", "val_cross_entropy"]], on=keys, how="left")
    traj = traj.sort_values(keys).reset_index(drop=True)
    first = traj.groupby(["model", "seed"])["lambda_max"].transform("first")
    traj["ratio"] = traj["lambda_max"] / first
    models, seeds = list(result.benchmark.networks), list(result.benchmark.seeds)
    index = pd.MultiIndex.from_product([models, seeds], names=["model", "seed"])
    g = traj.groupby(["model", "seed"])
    summary = pd.DataFrame({"lambda0": g["lambda_max"].first(), "lambda_final": g["lambda_max"].last(),
                            "final_epoch": g["epoch"].last()}).reindex(index)
    summary["growth"] = summary["lambda_final"] / summary["lambda0"]
    fit = f[(f.split == "fit") & (f.metric == "epoch")].set_index(["model", "seed"])["value"]
    summary["selected_epoch"] = fit.reindex(index)
    at = val.set_index(keys)["val_accuracy"]
    summary["val_accuracy"] = [at.get((m, s, int(e)), math.nan) if math.isfinite(e) else math.nan
                               for (m, s), e in summary["selected_epoch"].items()]
    summary["test_accuracy"] = pd.concat({m: result.values(m, "accuracy") for m in models}).reindex(index)
    run = f[f.split == "run"].groupby(["model", "seed"])["value"].max()
    summary["diverged"] = run.reindex(index).fillna(1.0) > 0
    return traj, summary.reset_index()


@dataclass
class SizeSweep:
    """What :func:`training_by_size` measured.

    status: one row per requested size: n, source ("offline pool" or "official archive"),
        ran (bool), reason (why a size did not run: the loader's message, without the data
        directory's path), seconds (the wall time of its runs when they were computed, also
        when they are read from the cache now; 0 for a size that did not run).
    trajectory, summary: :func:`training_trajectories` of every size that ran, with a column n.
    results: n -> the :class:`~ntkbook.experiments.benchmarks.BenchmarkResult` of that size.
    """

    status: pd.DataFrame
    trajectory: pd.DataFrame
    summary: pd.DataFrame
    results: dict = field(default_factory=dict)

    @property
    def ran(self) -> list[int]:
        """The sizes that ran, in increasing order."""
        return [int(n) for n in self.status.loc[self.status.ran, "n"]]

    @property
    def not_run(self) -> pd.DataFrame:
        """The sizes that did not run, with the reason."""
        return self.status.loc[~self.status.ran, ["n", "source", "reason"]].reset_index(drop=True)


def _archive_check(n: int, n_test: int, download: bool) -> str | None:
    """None when the official archive yields ``n`` training and ``n_test`` test images, else
    the loader's error message (no archive and no network, a bad checksum, too few images)."""
    from ntkbook.data.cifar_archive import load_cifar_archive

    from ntkbook.data import data_dir

    try:
        load_cifar_archive(n_train=n, n_test=n_test, download=download)
    except (OSError, DataError) as exc:  # DataNotFoundError, ChecksumError, CorruptFileError are OSErrors
        return f"{type(exc).__name__}: {exc}".replace(f" {data_dir()}", "")  # no machine path in a chapter
    return None


def training_by_size(sizes: Sequence[int], *, models: Sequence[str] = SIZE_MODELS, n_test: int = 1000,
                     download: bool = True, results_dir="results", device=None, threads: int | None = 1,
                     force: bool | None = None, progress: bool = False, **settings) -> SizeSweep:
    """Tune and train ``models`` at every training size of ``sizes``; lambda_max(t) and accuracy.

    Each size n runs :func:`size_benchmark` (chapter 13's protocol and budget; ``settings`` are
    its keywords) through :func:`~ntkbook.experiments.benchmarks.run_benchmark`, cached under
    ``results_dir``: up to :data:`POOL_TRAIN` images from the offline pool, above it from the
    official archive (:func:`ntkbook.data.cifar_archive.load_cifar_archive`, with
    ``download``). A size the archive cannot serve (no file and no network) is not run: its
    row of ``status`` says so with the loader's message, and nothing fails. The test images
    are ``n_test`` for every size (the pool holds 1,000, the archive 10,000).

    Cost: per size, every network trains len(lrs) candidates on the first seed and one on
    each other seed, each for at most ``epochs`` passes over 0.8 n images (early stopping),
    plus an empirical NTK on ``ntk_probe`` images every ``ntk_every`` epochs: about linear in
    n. On one CPU thread, chapter 13's settings took about 20 s at n = 1,000 for the three
    default networks and three seeds (a shared 2-core machine; the chapter prints its own).
    """
    from ntkbook.data.cifar_archive import ARCHIVE_DATASET, registered

    owner = "training_by_size"
    sizes = sorted(set(check_ints(sizes, "sizes", owner, low=10)))
    models = _check_models(models, owner)
    n_test = check_int(n_test, "n_test", owner)
    if sizes[0] <= POOL_TRAIN and n_test > POOL_TEST:
        fail("n_test", owner, f"at most {POOL_TEST} (the test images of the offline pool)", n_test)
    rows, trajs, sums, results = [], [], [], {}
    for n in sizes:
        pooled = n <= POOL_TRAIN
        source = "offline pool" if pooled else "official archive"
        reason = None if pooled else _archive_check(n, n_test, download)
        if reason is not None:
            rows.append({"n": n, "source": source, "ran": False, "reason": reason, "seconds": 0.0})
            continue
        bench = size_benchmark(n, models=models, dataset=POOL_DATASET if pooled else ARCHIVE_DATASET,
                               n_test=n_test, **settings)
        with registered():
            res = run_benchmark(bench, results_dir=results_dir, device=device, force=force, threads=threads,
                                progress=progress)
        seconds = sum(float(m.get("wall_time_s", math.nan)) for m in res.metadata.values())
        rows.append({"n": n, "source": source, "ran": True, "reason": "", "seconds": seconds})
        traj, summary = training_trajectories(res)
        trajs.append(traj.assign(n=n))
        sums.append(summary.assign(n=n))
        results[n] = res
    status = pd.DataFrame(rows, columns=["n", "source", "ran", "reason", "seconds"])
    cols = ["n"]
    trajectory = pd.concat(trajs, ignore_index=True) if trajs else pd.DataFrame(columns=cols)
    summary = pd.concat(sums, ignore_index=True) if sums else pd.DataFrame(columns=cols)
    return SizeSweep(status, trajectory[cols + [c for c in trajectory.columns if c not in cols]],
                     summary[cols + [c for c in summary.columns if c not in cols]], results)


def training_by_depth(depths: Sequence[int], *, n_train: int, alpha: float = 1 / math.sqrt(8),
                      results_dir="results", device=None, threads: int | None = 1, force: bool | None = None,
                      progress: bool = False, **settings) -> tuple[pd.DataFrame, pd.DataFrame, BenchmarkResult]:
    """The ECRN trained at every depth of ``depths`` (:func:`depth_benchmark`) on ``n_train``
    pool images: (trajectory, summary, result) as :func:`training_trajectories`, each table
    with a column depth. Cost: as one size of :func:`training_by_size`, times the depths,
    each block adding about width^2 multiply-adds per image to a forward pass."""
    if check_int(n_train, "n_train", "training_by_depth", low=10) > POOL_TRAIN:
        fail("n_train", "training_by_depth", f"at most {POOL_TRAIN} (the offline pool)", n_train)
    bench = depth_benchmark(depths, n_train=n_train, alpha=alpha, **settings)
    res = run_benchmark(bench, results_dir=results_dir, device=device, force=force, threads=threads,
                        progress=progress)
    traj, summary = training_trajectories(res)
    depth_of = {label: kwargs["depth"] for label, (_, kwargs) in bench.networks.items()}
    return traj.assign(depth=traj.model.map(depth_of)), summary.assign(depth=summary.model.map(depth_of)), res


# ----------------------------------------------------------------------------- fits


def scaling_fits(summary: pd.DataFrame, *, x: str = "n", quantities: Sequence[str] = ("growth", "val_accuracy"),
                 by: str = "model") -> pd.DataFrame:
    """Log-log slopes of each quantity against ``x``, one per seed, for every group of ``by``.

    :func:`ntkbook.stats.slope_interval` of ``quantity`` against ``x`` within each group
    (a model), the seed being the unit (one slope per seed across the values of ``x``):
    the mean slope with its 95 % t-interval across seeds. A seed with a missing or
    non-positive value voids its group's interval. Returns one row per (group, quantity):
    slope, low, high, seeds, dropped.
    """
    rows = []
    for group, g in summary.groupby(by, sort=False):
        for q in quantities:
            fit = slope_interval(g, x=x, y=q, by="seed")
            rows.append({by: group, "quantity": q, "slope": fit["slope"], "low": fit["low"], "high": fit["high"],
                         "seeds": fit["n"], "dropped": fit["dropped"]})
    return pd.DataFrame(rows, columns=[by, "quantity", "slope", "low", "high", "seeds", "dropped"])


def _wide(summary: pd.DataFrame, value: str, a: str, b: str, owner: str) -> pd.DataFrame:
    """``value`` of models a and b side by side, one row per (n, seed)."""
    for m in (a, b):
        if m not in set(summary["model"]):
            fail("summary", owner, f"a summary holding model {m!r}", sorted(set(summary["model"])))
    wide = summary[summary.model.isin([a, b])].set_index(["n", "seed", "model"])[value].unstack("model")
    return wide.reset_index()


def growth_difference(summary: pd.DataFrame, a: str = "ecrn", b: str = "mlp") -> tuple[PairedDifference, pd.DataFrame]:
    """log(growth of a) - log(growth of b), paired over every size and seed.

    growth = lambda_max(T) / lambda_max(0) of each run (:func:`training_trajectories`). The
    difference of the logs is the log of the ratio of the two growths: below 0 when a's
    largest eigenvalue grows less than b's. Returns the
    :func:`ntkbook.stats.paired_difference` over the (n, seed) pairs (a missing or
    non-positive growth voids the interval) and the table of pairs (n, seed, log_a, log_b,
    difference).
    """
    wide = _wide(summary, "growth", a, b, "growth_difference")
    with np.errstate(divide="ignore", invalid="ignore"):
        la, lb = (np.log(wide[m].to_numpy(float)) for m in (a, b))
    la, lb = np.where(np.isfinite(la), la, np.nan), np.where(np.isfinite(lb), lb, np.nan)
    table = pd.DataFrame({"n": wide["n"], "seed": wide["seed"], "log_a": la, "log_b": lb, "difference": la - lb})
    return paired_difference(la, lb), table


def accuracy_gap_trend(summary: pd.DataFrame, a: str = "ecrn", b: str = "mlp", *, metric: str = "val_accuracy"
                       ) -> dict:
    """How the accuracy difference a - b changes as n doubles: its slope against log2 n.

    Per seed, the difference d(n) = 100 (acc_a - acc_b) (percentage points) at every size,
    and the least-squares slope of d against log2 n (points per doubling of n); the mean
    slope with its 95 % t-interval across seeds (:func:`ntkbook.stats.t_interval`; a seed
    with a missing value, or with fewer than two sizes, has no slope and voids the
    interval). Returns {"slope", "low", "high", "n", "slopes" (seed, slope, intercept),
    "differences" (n, seed, difference)}.
    """
    wide = _wide(summary, metric, a, b, "accuracy_gap_trend")
    diffs = pd.DataFrame({"n": wide["n"], "seed": wide["seed"],
                          # rounded: accuracies are counts over the split, so no round-off residue survives
                          "difference": np.round(100 * (wide[a].to_numpy(float) - wide[b].to_numpy(float)), 9)})
    rows = []
    for seed, g in diffs.groupby("seed", sort=True):
        x, y = np.log2(g["n"].to_numpy(float)), g["difference"].to_numpy(float)
        ok = np.isfinite(y).all() and np.unique(x).size >= 2
        slope, intercept = np.polyfit(x, y, 1) if ok else (math.nan, math.nan)
        rows.append({"seed": seed, "slope": float(slope), "intercept": float(intercept)})
    slopes = pd.DataFrame(rows, columns=["seed", "slope", "intercept"])
    if slopes.empty:
        return {"slope": math.nan, "low": math.nan, "high": math.nan, "n": 0, "slopes": slopes, "differences": diffs}
    iv = t_interval(slopes["slope"].to_numpy(float))
    return {"slope": iv.mean, "low": iv.low, "high": iv.high, "n": iv.n, "slopes": slopes, "differences": diffs}
