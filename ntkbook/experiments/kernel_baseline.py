r"""The kernel models of the paper's benchmarks: kernel ridge regression with an analytic NTK.

``model="ntk_regression"`` in an :class:`ntkbook.experiments.runs.ExperimentConfig` is kernel
ridge regression with the infinite-width NTK of an architecture (:class:`KernelBaseline`)::

    f(X_*) = Theta(X_*, X) (Theta(X, X) + lambda I)^{-1} Y        Y: targets (one-hot for labels)

Three kernels (:func:`kernel_matrix`):

* ``architecture="mlp"``: the NTK of a ReLU (or tanh, erf, gelu) MLP on the raw inputs,
  :func:`ntkbook.analytic.mlp_kernels` -- the paper's "conventional NTK model";
* ``architecture="ecrn"``: the NTK of the ECRN itself, :func:`ntkbook.analytic.ecrn_kernels`,
  with its Fourier features: with ``sampled_b=True`` the very matrix B that the ECRN of the
  same seed draws (:func:`fourier_matrix`), else the B-average (the n_fourier -> inf limit,
  a Gaussian input kernel), which large inputs need (the sampled-B kernel costs
  O(N1 N2 d n_fourier)). Comparing the trained ECRN with it isolates finite-width training;
* ``architecture="cntk"``: the NTK of a ReLU convolutional network on the images (flat
  inputs are reshaped to ``image_shape`` and average-pooled by ``pool``),
  :func:`ntkbook.cntk.cntk_kernels` -- the conventional NTK for images (Arora et al. 2019).
  It costs O(N1 N2 P depth) for P pixels with the flatten readout (about 55 us per pair of
  16 x 16 images at depth 4 on one CPU thread), so ``max_train`` can fit it on a stratified
  subset of the training images, and it is computed on the run's device.

Two ways to choose the ridge lambda from a grid (relative to the mean eigenvalue of
Theta(X, X)); both use one eigendecomposition Theta = U diag(s) U^T for every grid value
(:func:`ridge_path`), O(n^3) once and O(n^2 k) per value:

* without a validation split, the closed-form leave-one-out (LOO) error: with
  A = (Theta + lambda I)^{-1} the LOO residual of training point i is (A Y)_i / A_ii (Rifkin &
  Lippert 2007; :func:`kernel_ridge_loo`, :func:`fit_kernel_regression`);
* with one, the validation error (:mod:`ntkbook.experiments.tuning`, which tunes every model
  of a benchmark the same way).

For classification the outputs are not log-probabilities; they are turned into
probabilities by softmax(f / T), with T fitted by minimizing the cross-entropy of held-out
predictions (LOO or validation; temperature scaling, Guo et al. 2017; :func:`fit_temperature`).
Accuracy (argmax) does not depend on T.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ntkbook._validation import (InvalidParameterError, check_bool, check_float, check_floats, check_int, check_option,
                                 fail)

__all__ = ["KernelBaseline", "kernel_matrix", "fourier_matrix", "ridge_path", "kernel_ridge_loo", "fit_temperature",
           "fit_kernel_regression", "kernel_split_metrics", "kernel_training_rows", "KERNEL_MODEL", "RIDGE_GRID",
           "ARCHITECTURES", "READOUTS", "split_digest"]

KERNEL_MODEL = "ntk_regression"
# Candidate ridges, relative to the mean eigenvalue of the training Gram matrix.
RIDGE_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
ARCHITECTURES = ("mlp", "ecrn", "cntk")
READOUTS = ("flatten", "gap")  # of the cntk: flatten the last layer, or global average pooling


# --------------------------------------------------------------------------- kernel baseline


@dataclass
class KernelBaseline:
    """Kernel ridge regression with the analytic NTK of an MLP, of the ECRN or of a CNN.

    architecture: "mlp" (:func:`ntkbook.analytic.mlp_kernels` on the raw inputs, the
        "conventional NTK model"), "ecrn" (:func:`ntkbook.analytic.ecrn_kernels`, the
        ECRN's own NTK with its Fourier features) or "cntk" (:func:`ntkbook.cntk.cntk_kernels`,
        a ReLU CNN of 3 x 3 convolutions on the images).
    depth: hidden layers (mlp), residual blocks (ecrn) or convolutional layers (cntk) of the
        network whose NTK is used.
    activation, w_std, b_std: as in the kernel functions ("tanh" is the ECRN's activation).
    n_fourier, fourier_scale, alpha, drop_prob: the ECRN's embedding and blocks (ecrn only),
        as in :class:`ntkbook.models.ECRN`; the kernel is that of the eval-mode network.
    sampled_b: ecrn only: True uses the B that the ECRN of the run's seed draws (the same
        features as the trained ECRN), False the B-average (n_fourier -> inf).
    ridges: candidate ridges relative to the mean eigenvalue of Theta(X, X); the one with the
        lowest held-out squared error (LOO, or validation) is used (a single value fixes it).
    temperature: fit a softmax temperature on held-out predictions (classification).
    image_shape, pool, readout: cntk only: the (C, H, W) shape of an input (flat inputs are
        reshaped to it), the average pooling applied first (1: none; it must divide H and W)
        and the readout ("flatten" or "gap", global average pooling, O(P^2): for a GPU).
    max_train: fit on this many training points, a stratified subset drawn with seed 0 from
        the training (or fit) split (0: all of them); for kernels too costly on all of them.
    label: the value of the ``model`` column.
    """

    depth: int = 2
    activation: str = "relu"
    w_std: float = 1.0
    b_std: float = 0.1
    ridges: Sequence[float] = RIDGE_GRID
    temperature: bool = True
    architecture: str = "mlp"
    n_fourier: int = 64
    fourier_scale: float = 1.0
    alpha: Any = "1/sqrt(L)"
    drop_prob: Any = "linear:0.1"
    sampled_b: bool = True
    image_shape: Any = None
    pool: int = 1
    readout: str = "flatten"
    max_train: int = 0
    label: str = KERNEL_MODEL

    def __post_init__(self) -> None:
        from ntkbook.models import ACTIVATIONS, resolve_alphas, resolve_drop_probs

        owner = "KernelBaseline"
        self.depth = check_int(self.depth, "depth", owner)
        check_option(self.activation, "activation", owner, ACTIVATIONS)
        self.w_std = check_float(self.w_std, "w_std", owner)
        self.b_std = check_float(self.b_std, "b_std", owner)
        self.ridges = tuple(check_floats(self.ridges, "ridges", owner, low=0.0, low_open=True))
        check_bool(self.temperature, "temperature", owner)
        check_option(self.architecture, "architecture", owner, ARCHITECTURES)
        self.n_fourier = check_int(self.n_fourier, "n_fourier", owner, low=0)
        self.fourier_scale = check_float(self.fourier_scale, "fourier_scale", owner)
        resolve_alphas(self.alpha, self.depth, owner)
        resolve_drop_probs(self.drop_prob, self.depth, owner)
        check_bool(self.sampled_b, "sampled_b", owner)
        self.pool = check_int(self.pool, "pool", owner)
        check_option(self.readout, "readout", owner, READOUTS)
        self.max_train = check_int(self.max_train, "max_train", owner, low=0)
        if self.architecture == "cntk":
            if self.activation != "relu":
                fail("activation", owner, "'relu' for architecture='cntk' (the CNTK is that of a ReLU CNN)",
                     self.activation)
            shape = self.image_shape
            if (not isinstance(shape, (tuple, list)) or len(shape) != 3
                    or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape)):
                fail("image_shape", owner, "(C, H, W), three positive ints, for architecture='cntk'", shape)
            self.image_shape = tuple(shape)
            if shape[1] % self.pool or shape[2] % self.pool:
                fail("pool", owner, f"an int dividing the image height and width {tuple(shape[1:])}", self.pool)
        elif self.image_shape is not None:
            fail("image_shape", owner, "None unless architecture='cntk'", self.image_shape)
        if not isinstance(self.label, str) or not self.label:
            fail("label", owner, "a non-empty str", self.label)

    @staticmethod
    def model_fields() -> list[str]:
        """The fields that go to ``ExperimentConfig.model_kwargs`` (all but the label)."""
        return [f.name for f in dataclasses.fields(KernelBaseline) if f.name != "label"]

    def kernel_options(self) -> dict[str, Any]:
        """Keyword arguments of the kernel function of :attr:`architecture` (all but B)."""
        if self.architecture == "cntk":
            return {"depth": self.depth, "readout": self.readout, "w_std": self.w_std, "b_std": self.b_std}
        common = {"depth": self.depth, "activation": self.activation, "w_std": self.w_std, "b_std": self.b_std}
        if self.architecture == "mlp":
            return common
        return {**common, "n_fourier": self.n_fourier, "fourier_scale": self.fourier_scale,
                "alpha": self.alpha, "drop_prob": self.drop_prob}


def fourier_matrix(kb: KernelBaseline, in_features: int, seed: int) -> torch.Tensor | None:
    """The Fourier matrix B (n_fourier, d) that :class:`ntkbook.models.ECRN` draws with
    ``seed`` (B is the first draw of its seeded generator), or None where the kernel has no
    sampled B (mlp, n_fourier = 0, or ``sampled_b=False``)."""
    if kb.architecture != "ecrn" or kb.n_fourier == 0 or not kb.sampled_b:
        return None
    g = torch.Generator().manual_seed(int(seed))
    return kb.fourier_scale * torch.randn(kb.n_fourier, int(in_features), generator=g)  # as FourierFeatures


def kernel_matrix(kb: KernelBaseline, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                  B: torch.Tensor | None = None, device=None) -> torch.Tensor:
    """The NTK Theta(x1, x2) of ``kb``, float64 (N1, N2); inputs (N, ...) are flattened.
    ``B``: the sampled Fourier matrix of an ecrn kernel (:func:`fourier_matrix`), None for the
    B-average. A cntk kernel reshapes the inputs to ``kb.image_shape``, pools them, computes
    on ``device`` (default: where ``x1`` is) and returns the kernel on the CPU."""
    from ntkbook.analytic import ecrn_kernels, mlp_kernels

    if kb.architecture == "cntk":
        return _cntk_matrix(kb, x1, x2, device)
    a = _flat64(x1)
    b = None if x2 is None else _flat64(x2)
    if kb.architecture == "mlp":
        return mlp_kernels(a, b, **kb.kernel_options())[1]
    return ecrn_kernels(a, b, B=B, **kb.kernel_options())[1]


def ridge_path(gram: torch.Tensor, targets: torch.Tensor, ridges: Sequence[float]):
    """Yield ``(relative_ridge, ridge, A Y, diag(A))`` for each candidate, A = (Theta + lambda I)^{-1}.

    ``gram`` (n, n) symmetric PSD, ``targets`` (n, k); the ridges are relative to the mean
    eigenvalue tr(Theta) / n. One eigendecomposition Theta = U diag(s) U^T serves every
    candidate: O(n^3) once, then O(n^2 k) per ridge. A Y (n, k) are the dual weights.
    """
    k = 0.5 * (gram + gram.T).to(torch.float64)
    y = targets.to(torch.float64)
    s, u = torch.linalg.eigh(k)  # Theta = U diag(s) U^T
    s = s.clamp_min(0.0)
    scale = float(s.mean()) if float(s.mean()) > 0 else 1.0
    uty = u.T @ y  # (n, k)
    for rel in ridges:
        lam = rel * scale
        inv = 1.0 / (s + lam)  # (n,)
        ay = u @ (inv[:, None] * uty)  # (n, k) = A Y
        diag_a = (u.square() * inv[None, :]).sum(1)  # (n,) = diag(A)
        yield rel, lam, ay, diag_a


def kernel_ridge_loo(gram: torch.Tensor, targets: torch.Tensor, ridges: Sequence[float]
                     ) -> dict[str, Any]:
    """Choose the ridge by closed-form leave-one-out error and return the fitted weights.

    Parameters
    ----------
    gram : (n, n) symmetric PSD kernel matrix Theta(X, X).
    targets : (n, k) targets Y.
    ridges : candidate ridges, relative to the mean eigenvalue tr(Theta) / n.

    Returns a dict with ``weights`` (n, k) = (Theta + lambda I)^{-1} Y, ``ridge`` (the absolute
    lambda), ``relative_ridge``, ``loo_predictions`` (n, k) = Y - (A Y) / diag(A) and
    ``loo_mse`` per candidate. Cost: one eigendecomposition, O(n^3), then O(n^2 k) per ridge.
    """
    owner = "kernel_ridge_loo"
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1]:
        raise InvalidParameterError(f"The 'gram' parameter of {owner} must be a square matrix. "
                                    f"Got a tensor of shape {tuple(gram.shape)} instead.")
    if targets.ndim != 2 or targets.shape[0] != gram.shape[0]:
        raise InvalidParameterError(f"The 'targets' parameter of {owner} must have shape ({gram.shape[0]}, k). "
                                    f"Got a tensor of shape {tuple(targets.shape)} instead.")
    ridges = check_floats(ridges, "ridges", owner, low=0.0, low_open=True)
    y = targets.to(torch.float64)
    best, table = None, {}
    for rel, lam, ay, diag_a in ridge_path(gram, y, ridges):
        loo_res = ay / diag_a[:, None]
        mse = float(loo_res.square().mean())
        table[rel] = mse
        if best is None or mse < best[0]:
            best = (mse, rel, lam, ay, y - loo_res)
    _, rel, lam, weights, loo_pred = best
    return {"weights": weights, "ridge": lam, "relative_ridge": rel,
            "loo_predictions": loo_pred, "loo_mse": table}


def fit_temperature(outputs: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.0) -> float:
    """The T > 0 minimizing the cross-entropy of softmax(outputs / T) against ``labels``.

    ``smoothing`` eps in [0, 1) fits against the smoothed targets (1 - eps) onehot + eps / K
    instead: on held-out outputs that are all classified correctly, the plain fit drives T
    to its lower end (ever more confident, the likelihood keeps rising), and eps = 1/(n + 1)
    -- one uniform pseudo-label per n real ones -- keeps T finite while barely moving it
    otherwise. A 1-D convex problem in log T's neighbourhood; solved by a golden-section
    search over log T in [log 1e-3, log 1e3] (60 iterations, relative precision ~1e-10).
    """
    out = outputs.to(torch.float64)
    lab = labels.to(out.device)
    eps = check_float(smoothing, "smoothing", "fit_temperature", 0.0, 1.0, high_open=True)

    def ce(log_t: float) -> float:
        return float(F.cross_entropy(out / math.exp(log_t), lab, label_smoothing=eps))

    lo, hi = math.log(1e-3), math.log(1e3)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = ce(a), ce(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = ce(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = ce(b)
    return math.exp(0.5 * (lo + hi))


def _cntk_matrix(kb: KernelBaseline, x1, x2, device) -> torch.Tensor:
    from ntkbook.cntk import cntk_kernels

    def images(x):
        c, h, w = kb.image_shape
        if x[0].numel() != c * h * w:
            fail("image_shape", "kernel_matrix", f"a shape with as many values as an input ({x[0].numel()})",
                 kb.image_shape)
        x = x.reshape(len(x), c, h, w).to(device=device if device is not None else x1.device, dtype=torch.float64)
        return F.avg_pool2d(x, kb.pool) if kb.pool > 1 else x

    b = None if x2 is None else images(x2)
    return cntk_kernels(images(x1), b, **kb.kernel_options())[1].cpu()  # (N1, N2)


def kernel_training_rows(kb: KernelBaseline, labels: torch.Tensor) -> np.ndarray | None:
    """The rows of a training split (labels ``labels``) that ``kb`` fits on: None for all of
    them, else ``kb.max_train`` rows drawn stratified (by label, for a classification split)
    with seed 0, in increasing order -- the same rows for every seed of a fixed split."""
    from ntkbook.data.splits import _stratified_indices

    n = len(labels)
    if kb.max_train == 0 or kb.max_train >= n:
        return None
    y = labels.detach().cpu().numpy()
    strata = y if y.ndim == 1 and not np.issubdtype(y.dtype, np.floating) else np.zeros(n, int)
    return np.sort(_stratified_indices(strata, kb.max_train, np.random.default_rng(0)))


def _flat64(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1).to(torch.float64)  # (n, d)


def _kernel_targets(data) -> torch.Tensor:
    """(n, k) regression targets: the targets, or one-hot labels for a classification task."""
    if data.task == "classification":
        return F.one_hot(data.y_train, data.n_classes).to(torch.float64)
    return data.y_train.to(torch.float64)


def kernel_split_metrics(pred: torch.Tensor, data, split: str, temperature: float) -> dict[str, float]:
    """The metrics of kernel predictions ``pred`` (n, k) on ``split`` of ``data``, on the CPU:
    mse and r2 (the definitions of the networks' rows), or accuracy, cross_entropy at
    ``temperature`` and cross_entropy_raw at T = 1."""
    from ntkbook.train import _metrics

    y = getattr(data, f"y_{split}").cpu()
    if data.task == "classification":
        return {"accuracy": float((pred.argmax(1) == y).to(torch.float64).mean()),
                "cross_entropy": float(F.cross_entropy(pred / temperature, y)),
                "cross_entropy_raw": float(F.cross_entropy(pred, y))}
    metrics = _metrics(pred, y.to(torch.float64), data, "mse")  # the definitions of the networks' rows
    return {"mse": metrics["mse"], "r2": metrics["r2"]}


def fit_kernel_regression(kb: KernelBaseline, data, seed: int = 0) -> list[dict[str, Any]]:
    """Fit the kernel baseline on one split, the ridge chosen by LOO: rows (split, metric, value).

    Selects the ridge (and the temperature) by LOO on the training set, then predicts
    Theta(X_*, X) (Theta + lambda I)^{-1} Y. ``seed`` picks the sampled Fourier matrix of an
    ecrn kernel (:func:`fourier_matrix`). Rows: ``fit`` (ridge, relative_ridge, temperature),
    then ``train`` and ``test`` (mse, r2, or accuracy, cross_entropy with the fitted
    temperature and cross_entropy_raw with T = 1).
    """
    rows = kernel_training_rows(kb, data.y_train)
    if rows is not None:  # fit (and report the train split) on the subset
        data = dataclasses.replace(data, x_train=data.x_train[rows], y_train=data.y_train[rows])
    targets = _kernel_targets(data)  # (n, k)
    B = fourier_matrix(kb, _flat64(data.x_train).shape[1], seed)
    gram = kernel_matrix(kb, data.x_train, B=B)  # (n, n)
    fit = kernel_ridge_loo(gram, targets, kb.ridges)
    preds = {"train": gram @ fit["weights"]}  # (n, k)
    if len(data.x_test):
        preds["test"] = kernel_matrix(kb, data.x_test, data.x_train, B=B) @ fit["weights"]
    rows = [{"split": "fit", "metric": "ridge", "value": fit["ridge"]},
            {"split": "fit", "metric": "relative_ridge", "value": fit["relative_ridge"]}]
    temperature = 1.0
    if data.task == "classification" and kb.temperature:
        temperature = fit_temperature(fit["loo_predictions"], data.y_train.cpu())
        rows.append({"split": "fit", "metric": "temperature", "value": temperature})
    for split, pred in preds.items():
        metrics = kernel_split_metrics(pred, data, split, temperature)
        rows += [{"split": split, "metric": m, "value": v} for m, v in metrics.items()]
    return rows


def split_digest(data) -> str:
    """SHA-256 of a split's examples, independent of their order and rounded to 6 decimals:
    kernel ridge regression and its mean metrics do not depend on the order of the rows, so
    equal digests mean the same result up to round-off (e.g. every seed of the full CIFAR
    subset draws all images, shuffled, and standardizes them with statistics that differ in
    the last bits)."""
    h = hashlib.sha256()
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        xs = np.round(x.detach().cpu().reshape(len(x), -1).to(torch.float64).numpy(), 6) + 0.0
        ys = y.detach().cpu().reshape(len(y), -1).contiguous().numpy()
        rows = sorted(a.tobytes() + b.tobytes() for a, b in zip(xs, ys))
        h.update(str((xs.shape, ys.shape)).encode())
        for r in rows:
            h.update(r)
    return h.hexdigest()


