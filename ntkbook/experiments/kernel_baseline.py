r"""The conventional NTK model of the paper's benchmarks: kernel ridge regression, closed form.

``model="ntk_regression"`` in an :class:`ntkbook.experiments.runs.ExperimentConfig` is kernel ridge regression with the analytic NTK of a ReLU MLP
(:class:`KernelBaseline`), solved in closed form::

    f(X_*) = Theta(X_*, X) (Theta(X, X) + lambda I)^{-1} Y        Y: targets (one-hot for labels)

The ridge lambda is chosen from a grid (relative to the mean eigenvalue of Theta(X, X)) by the
closed-form leave-one-out (LOO) error: with A = (Theta + lambda I)^{-1} the LOO residual of
training point i is (A Y)_i / A_ii (Rifkin & Lippert 2007), so one eigendecomposition
Theta = U diag(s) U^T serves every lambda: O(n^3) once, then O(n^2 k) per grid value
(:func:`kernel_ridge_loo`). For classification the outputs are not log-probabilities; they
are turned into probabilities by softmax(f / T), with T fitted by minimizing the
cross-entropy of the LOO predictions on the training set (temperature scaling, Guo et al.
2017; :func:`fit_temperature`). Accuracy (argmax) does not depend on T.
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

from ntkbook._validation import InvalidParameterError, check_bool, check_float, check_floats, check_int, fail

__all__ = ["KernelBaseline", "kernel_ridge_loo", "fit_temperature", "fit_kernel_regression", "KERNEL_MODEL", "RIDGE_GRID",
           "split_digest"]

KERNEL_MODEL = "ntk_regression"
# Candidate ridges, relative to the mean eigenvalue of the training Gram matrix.
RIDGE_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


# --------------------------------------------------------------------------- kernel baseline


@dataclass
class KernelBaseline:
    """Kernel ridge regression with the analytic NTK of a ReLU MLP (the "conventional NTK model").

    depth: hidden layers of the MLP whose infinite-width NTK is used (match the MLP baseline).
    activation, w_std, b_std: as in :func:`ntkbook.analytic.mlp_kernels`.
    ridges: candidate ridges relative to the mean eigenvalue of Theta(X, X); the one with the
        lowest leave-one-out squared error is used (a single value fixes it).
    temperature: fit a softmax temperature on the LOO training predictions (classification).
    label: the value of the ``model`` column.
    """

    depth: int = 2
    activation: str = "relu"
    w_std: float = 1.0
    b_std: float = 0.1
    ridges: Sequence[float] = RIDGE_GRID
    temperature: bool = True
    label: str = KERNEL_MODEL

    def __post_init__(self) -> None:
        owner = "KernelBaseline"
        self.depth = check_int(self.depth, "depth", owner)
        self.w_std = check_float(self.w_std, "w_std", owner)
        self.b_std = check_float(self.b_std, "b_std", owner)
        self.ridges = tuple(check_floats(self.ridges, "ridges", owner, low=0.0, low_open=True))
        check_bool(self.temperature, "temperature", owner)
        if not isinstance(self.label, str) or not self.label:
            fail("label", owner, "a non-empty str", self.label)

    @staticmethod
    def model_fields() -> list[str]:
        """The fields that go to ``ExperimentConfig.model_kwargs`` (all but the label)."""
        return [f.name for f in dataclasses.fields(KernelBaseline) if f.name != "label"]

    def kernel_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`ntkbook.analytic.mlp_kernels` and of NTKRegressor."""
        return {"depth": self.depth, "activation": self.activation, "w_std": self.w_std, "b_std": self.b_std}


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
    k = 0.5 * (gram + gram.T).to(torch.float64)
    y = targets.to(torch.float64)
    s, u = torch.linalg.eigh(k)  # Theta = U diag(s) U^T
    s = s.clamp_min(0.0)
    scale = float(s.mean()) if float(s.mean()) > 0 else 1.0
    uty = u.T @ y  # (n, k)
    best, table = None, {}
    for rel in ridges:
        lam = rel * scale
        inv = 1.0 / (s + lam)  # (n,)
        ay = u @ (inv[:, None] * uty)  # (n, k) = A Y
        diag_a = (u.square() * inv[None, :]).sum(1)  # (n,) = diag(A)
        loo_res = ay / diag_a[:, None]
        mse = float(loo_res.square().mean())
        table[rel] = mse
        if best is None or mse < best[0]:
            best = (mse, rel, lam, ay, y - loo_res)
    _, rel, lam, weights, loo_pred = best
    return {"weights": weights, "ridge": lam, "relative_ridge": rel,
            "loo_predictions": loo_pred, "loo_mse": table}


def fit_temperature(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 minimizing the cross-entropy of softmax(outputs / T) against ``labels``.

    A 1-D convex problem in log T's neighbourhood; solved by a golden-section search over
    log T in [log 1e-3, log 1e3] (60 iterations, relative precision ~1e-10).
    """
    out = outputs.to(torch.float64)
    lab = labels.to(out.device)

    def ce(log_t: float) -> float:
        return float(F.cross_entropy(out / math.exp(log_t), lab))

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


def _flat64(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1).to(torch.float64)  # (n, d)


def _kernel_targets(data) -> torch.Tensor:
    """(n, k) regression targets: the targets, or one-hot labels for a classification task."""
    if data.task == "classification":
        return F.one_hot(data.y_train, data.n_classes).to(torch.float64)
    return data.y_train.to(torch.float64)


def _kernel_split_metrics(pred: torch.Tensor, data, split: str, temperature: float) -> dict[str, float]:
    """The test or train metrics of kernel predictions ``pred`` (n, k), on the CPU."""
    from ntkbook.train import _metrics

    y = getattr(data, f"y_{split}").cpu()
    if data.task == "classification":
        return {"accuracy": float((pred.argmax(1) == y).to(torch.float64).mean()),
                "cross_entropy": float(F.cross_entropy(pred / temperature, y)),
                "cross_entropy_raw": float(F.cross_entropy(pred, y))}
    metrics = _metrics(pred, y.to(torch.float64), data, "mse")  # the definitions of the networks' rows
    return {"mse": metrics["mse"], "r2": metrics["r2"]}


def fit_kernel_regression(kb: KernelBaseline, data) -> list[dict[str, Any]]:
    """Fit the kernel baseline on one split: rows (split, metric, value).

    Selects the ridge (and the temperature) by LOO on the training set, then fits and predicts
    with :class:`ntkbook.regression.NTKRegressor`. Rows: ``fit`` (ridge, relative_ridge,
    temperature), then ``train`` and ``test`` (mse, r2, or accuracy, cross_entropy with the
    fitted temperature and cross_entropy_raw with T = 1).
    """
    from ntkbook.analytic import mlp_kernels
    from ntkbook.regression import NTKRegressor

    x_train, x_test = _flat64(data.x_train), _flat64(data.x_test)
    targets = _kernel_targets(data)  # (n, k)
    opts = kb.kernel_options()
    _, gram = mlp_kernels(x_train, x_train, **opts)  # (n, n), the kernel NTKRegressor uses
    fit = kernel_ridge_loo(gram, targets, kb.ridges)
    reg = NTKRegressor(kernel="analytic", ridge=fit["ridge"], architecture="mlp", **opts)
    reg.fit(x_train.cpu().numpy(), targets.cpu().numpy())
    inputs = {"train": x_train, "test": x_test} if len(x_test) else {"train": x_train}
    preds = {split: torch.as_tensor(reg.predict(x.cpu().numpy())).reshape(len(x), -1)  # (n, k)
             for split, x in inputs.items()}
    rows = [{"split": "fit", "metric": "ridge", "value": fit["ridge"]},
            {"split": "fit", "metric": "relative_ridge", "value": fit["relative_ridge"]}]
    temperature = 1.0
    if data.task == "classification" and kb.temperature:
        temperature = fit_temperature(fit["loo_predictions"], data.y_train.cpu())
        rows.append({"split": "fit", "metric": "temperature", "value": temperature})
    for split, pred in preds.items():
        metrics = _kernel_split_metrics(pred, data, split, temperature)
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


