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

import math
import time
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ntkbook._validation import check_float, check_int, check_ints, check_option, check_seeds, fail
from ntkbook.analytic import ecrn_kernels
from ntkbook.cntk import cntk_kernels, cntk_kernels_by_depth
from ntkbook.convnet import ConvNet
from ntkbook.data import Dataset, load_dataset
from ntkbook.experiments.benchmarks import unit_phase_scale
from ntkbook.experiments.kernel_baseline import RIDGE_GRID, KernelBaseline, kernel_matrix, ridge_path
from ntkbook.experiments.theory import relative_frobenius
from ntkbook.experiments.tuning import selection_score, validation_size
from ntkbook.models import ECRN
from ntkbook.ntk import empirical_ntk
from ntkbook.stats import paired_bootstrap

__all__ = ["cnn_kernel_errors", "cifar_images", "kernel_bank", "compare_kernels", "ecrn_lambda_max",
           "bootstrap_one_sided_p", "KERNELS", "VALIDATION_FRACTION"]

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
