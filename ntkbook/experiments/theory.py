r"""The computations behind part I of the book: NTK theory results, measured.

Each function here runs one experiment of a chapter of part I and returns tidy numbers
(a pandas DataFrame or a dict); the chapters explain and plot them, and the tests call the
same functions at small size.

* Chapter 1 (the empirical NTK): :func:`compare_ntk_methods` times the computation methods
  of :func:`ntkbook.ntk.empirical_ntk` and measures how far apart their kernels are.
* Chapter 2 (infinite width): :func:`kernel_error_sweep` measures the relative Frobenius
  distance ||Theta_n - Theta_inf||_F / ||Theta_inf||_F between the empirical NTK at width n
  and the analytic limit of :mod:`ntkbook.analytic` (Jacot et al. 2018; Arora et al. 2019,
  "On exact computation with an infinitely wide neural net"); :func:`kernel_change_sweep`
  measures the relative change ||Theta_T - Theta_0||_F / ||Theta_0||_F of the NTK during T
  steps of gradient descent (the lazy regime, Lee et al. 2019). The chapter fits
  log y = a + s log(width) per seed with :func:`ntkbook.stats.slope_interval`, which gives a
  t-interval of s across seeds (a seed whose run diverged voids it).
* Chapter 3 (linearized dynamics): :func:`gd_trajectory` records a network's outputs during
  full-batch gradient descent, :func:`linearized_trajectory` the outputs of its linearization
  f_lin(x; theta) = f(x; theta_0) + J(x) (theta - theta_0) under the same steps, and
  :func:`projection_decay_rates` the decay rate of the training residual along each NTK
  eigenvector (spectral bias, Rahaman et al. 2019).
* Chapter 4 (generalization bound): :class:`TwoLayerReLU` is the network of Arora, Du, Hu, Li,
  Wang (2019, "Fine-grained analysis ..."), :func:`arora_gram` its Gram matrix H^inf and
  :func:`arora_bound` their bound sqrt(2 y^T (H^inf)^-1 y / n) + O(sqrt(log(n/(lambda_0 delta))/n)).

Loss convention (as in :mod:`ntkbook.train`): L(theta) = 1/(2n) sum_i (f(x_i) - y_i)^2, so one
step of gradient descent with learning rate eta moves the training outputs of the linearized
model by -(eta / n) Theta (f - y), and the residual's component along an eigenvector u_i of
Theta (eigenvalue lambda_i) is multiplied by (1 - eta lambda_i / n) per step: it decays like
exp(-eta lambda_i t / n) while eta lambda_i / n is small.

Example::

    >>> import torch
    >>> from ntkbook.models import MLP
    >>> from ntkbook.stats import slope_interval
    >>> x = torch.nn.functional.normalize(torch.randn(16, 4, dtype=torch.float64), dim=1)   # (N, d)
    >>> def make(width, seed):
    ...     return MLP(4, width=width, depth=2, seed=seed).double()
    >>> df = kernel_error_sweep(make, x, widths=[64, 256], seeds=[0, 1])  # doctest: +SKIP
    >>> slope_interval(df, y="rel_error")["slope"]                         # doctest: +SKIP
    -0.5...
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ntkbook._validation import check_float, check_floats, check_int, check_ints, check_seed, check_seeds, fail
from ntkbook.ntk import NTKMethod, empirical_ntk

__all__ = [
    "relative_frobenius",
    "compare_ntk_methods",
    "kernel_error_sweep",
    "kernel_change_sweep",
    "gd_trajectory",
    "linearized_trajectory",
    "linearization_gap_sweep",
    "projection_decay_rates",
    "circle_inputs",
    "TwoLayerReLU",
    "arora_gram",
    "arora_bound",
    "sphere_binary_task",
    "ramp_loss",
    "train_two_layer",
    "bound_vs_error_sweep",
]


# ----------------------------------------------------------------------------- kernels
def relative_frobenius(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b||_F / ||b||_F, computed in float64 (b is the reference)."""
    a = torch.as_tensor(a).to(torch.float64)
    b = torch.as_tensor(b).to(device=a.device, dtype=torch.float64)
    if a.shape != b.shape:
        raise ValueError(f"The 'a' and 'b' parameters of relative_frobenius must have the same shape. "
                         f"Got {tuple(a.shape)} and {tuple(b.shape)} instead.")
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


# ----------------------------------------------------------------------------- chapter 1
def compare_ntk_methods(model: nn.Module, x: torch.Tensor, methods=("jacobian", "ntvp", "structured", "auto"),
                        *, reference: str = "jacobian", repeats: int = 1) -> pd.DataFrame:
    """Compute the NTK of ``model`` on ``x`` with each method; time it and compare the kernels.

    Returns one row per method: ``method``, ``seconds`` (the fastest of ``repeats`` runs),
    ``chosen`` (the method ``auto`` resolved to; the method itself otherwise),
    ``rel_diff`` = ||Theta_m - Theta_ref||_F / ||Theta_ref||_F and
    ``max_rel_diff`` = max_ij |Theta_m - Theta_ref|_ij / max_ij |Theta_ref|_ij against the
    ``reference`` method. The costs are those stated in :class:`ntkbook.ntk.NTKMethod`.
    """
    owner = "compare_ntk_methods"
    allowed = [m.value for m in NTKMethod]
    methods = list(methods)
    if not methods or any(m not in allowed for m in methods):
        fail("methods", owner, f"a non-empty list drawn from {allowed}", methods)
    if reference not in methods:
        fail("reference", owner, f"one of the methods {methods}", reference)
    repeats = check_int(repeats, "repeats", owner)
    kernels, rows = {}, []
    for m in methods:
        best, stats = math.inf, {}
        for _ in range(repeats):
            stats = {}
            start = time.perf_counter()
            theta = empirical_ntk(model, x, method=m, stats=stats)
            best = min(best, time.perf_counter() - start)
        kernels[m] = theta.detach()
        chosen = stats.get("method", m)
        rows.append({"method": m, "seconds": best, "chosen": getattr(chosen, "value", str(chosen))})
    ref = kernels[reference].to(torch.float64)
    scale = float(ref.abs().max())
    for row in rows:
        k = kernels[row["method"]].to(torch.float64)
        row["rel_diff"] = relative_frobenius(k, ref)
        row["max_rel_diff"] = float((k - ref).abs().max()) / scale
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- chapter 2
def kernel_error_sweep(make_model: Callable[[int, int], nn.Module], x: torch.Tensor, widths, seeds, *,
                       limit: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None) -> pd.DataFrame:
    """Relative Frobenius distance between the empirical NTK at initialization and its limit.

    For each width n and seed s, ``make_model(n, s)`` builds a network in NTK parameterization;
    its empirical NTK Theta_n on ``x`` (eval mode) is compared with the infinite-width NTK
    Theta_inf = ``limit(model, x)`` (default :func:`ntkbook.analytic.model_kernels`, which uses
    the model's own fixed Fourier matrix for an ECRN)::

        rel_error = ||Theta_n - Theta_inf||_F / ||Theta_inf||_F

    Theory (Jacot et al. 2018; Arora et al. 2019): the fluctuations of Theta_n are O(n^-1/2),
    so log rel_error falls with slope about -1/2 in log n. Returns a DataFrame
    (width, seed, rel_error). Cost: one empirical NTK per (width, seed).
    """
    owner = "kernel_error_sweep"
    widths = check_ints(widths, "widths", owner)
    seeds = check_seeds(seeds, "seeds", owner)
    if limit is None:
        from ntkbook.analytic import model_kernels

        def limit(model, xx):
            return model_kernels(model, xx)[1]

    rows = []
    for s in seeds:
        for n in widths:
            model = make_model(n, s)
            theta = empirical_ntk(model, x)
            ref = limit(model, x)
            rows.append({"width": n, "seed": s, "rel_error": relative_frobenius(theta, ref)})
    return pd.DataFrame(rows)


def _gd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int, record=None):
    """Full-batch gradient descent on L = 1/(2n) sum ||f(x_i) - y_i||^2 (the book's loss).

    The same steps as ``ntkbook.train.train(model, data, optimizer="gd", loss="mse")`` (a test
    checks that they agree), without its per-epoch metrics, which would dominate the cost of
    these small runs. ``record(t, model)`` is called before the first step (t = 0) and after
    every step. Returns the final training loss, or inf if it became non-finite (the run stops
    there, so ``record`` has seen only finite steps).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    n = x.shape[0]
    y = y.reshape(n, -1).to(x.dtype)
    model.train()
    if record is not None:
        record(0, model)
    loss = math.nan
    for t in range(1, steps + 1):
        out = model(x).reshape(n, -1)  # (n, O)
        objective = 0.5 * (out - y).square().sum() / n
        grads = torch.autograd.grad(objective, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
        if record is not None:
            record(t, model)
    with torch.no_grad():
        loss = float(0.5 * (model(x).reshape(n, -1) - y).square().sum() / n)
    return loss if math.isfinite(loss) else math.inf


def kernel_change_sweep(make_model: Callable[[int, int], nn.Module], x: torch.Tensor, y: torch.Tensor, widths,
                        seeds, *, lr: float, steps: int) -> pd.DataFrame:
    """Relative change of the empirical NTK during training, against width (the lazy regime).

    Each network ``make_model(n, s)`` is trained by ``steps`` steps of full-batch gradient
    descent with learning rate ``lr`` on (x, y) (loss 1/(2n) sum (f - y)^2); then::

        change = ||Theta_T - Theta_0||_F / ||Theta_0||_F     (the NTK on the training inputs)

    In NTK parameterization with a fixed lr, each weight moves by O(n^-1/2) and the change
    falls like n^-1/2 (Jacot et al. 2018; Lee et al. 2019). Returns a DataFrame
    (width, seed, change, train_loss); a run whose loss became non-finite has change = NaN.
    """
    owner = "kernel_change_sweep"
    widths = check_ints(widths, "widths", owner)
    seeds = check_seeds(seeds, "seeds", owner)
    lr = check_float(lr, "lr", owner, 0.0, low_open=True)
    steps = check_int(steps, "steps", owner)
    if y.ndim == 1:
        y = y[:, None]
    rows = []
    for s in seeds:
        for n in widths:
            model = make_model(n, s)
            theta0 = empirical_ntk(model, x)
            loss = _gd(model, x, y, lr=lr, steps=steps)
            change = relative_frobenius(empirical_ntk(model, x), theta0) if math.isfinite(loss) else math.nan
            rows.append({"width": n, "seed": s, "change": change, "train_loss": loss})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- chapter 3
def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(x).reshape(len(x), -1)[:, 0]  # (N,) the first (here the only) output
    model.train(was)
    return out.detach().clone()


def gd_trajectory(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, *,
                  lr: float, steps: int) -> dict:
    """Train ``model`` (one output) by full-batch gradient descent and record its outputs.

    Uses :func:`ntkbook.train.train` (loss 1/(2n) sum (f - y)^2, learning rate ``lr``) and
    records f(x_train) and f(x_test) at every step t = 0 .. steps. Returns
    ``{"f_train": (T+1, n), "f_test": (T+1, m), "final_loss": float}`` (float64 tensors on the
    CPU). A run whose loss becomes non-finite stops early: its arrays are then shorter.
    """
    owner = "gd_trajectory"
    lr = check_float(lr, "lr", owner, 0.0, low_open=True)
    steps = check_int(steps, "steps", owner)
    f_train, f_test = [], []

    def record(t, net):
        f_train.append(_outputs(net, x_train).cpu().to(torch.float64))
        f_test.append(_outputs(net, x_test).cpu().to(torch.float64))

    y = y_train if y_train.ndim == 2 else y_train[:, None]
    loss = _gd(model, x_train, y, lr=lr, steps=steps, record=record)
    return {"f_train": torch.stack(f_train), "f_test": torch.stack(f_test), "final_loss": loss}


def linearized_trajectory(theta_train: torch.Tensor, theta_test_train: torch.Tensor, f0_train: torch.Tensor,
                          f0_test: torch.Tensor, y_train: torch.Tensor, *, lr: float, steps: int) -> dict:
    """Outputs of the linearized network under the same gradient-descent steps.

    The linearization f_lin(x; theta) = f(x; theta_0) + J(x) (theta - theta_0) trained on
    L = 1/(2n) sum (f_lin(x_i) - y_i)^2 with learning rate eta moves its outputs by exactly
    (Lee et al. 2019, discrete time)::

        r_{t+1}      = (I - (eta / n) Theta) r_t,              r_t = f_lin,t(X) - y
        f_lin,t+1(x) = f_lin,t(x) - (eta / n) Theta(x, X) r_t

    so after t steps r_t = (I - (eta/n) Theta)^t r_0, and as t -> inf the test prediction is
    kernel regression with the NTK, f_0(x) + Theta(x, X) Theta^-1 (y - f_0(X)).

    Shapes: theta_train (n, n), theta_test_train (m, n), f0_train (n,), f0_test (m,),
    y_train (n,) or (n, 1). Returns ``{"f_train": (T+1, n), "f_test": (T+1, m)}`` in float64.
    Cost: O(T (n^2 + m n)).
    """
    owner = "linearized_trajectory"
    lr = check_float(lr, "lr", owner, 0.0, low_open=True)
    steps = check_int(steps, "steps", owner)
    K = torch.as_tensor(theta_train).detach().cpu().to(torch.float64)
    Kx = torch.as_tensor(theta_test_train).detach().cpu().to(torch.float64)
    n = K.shape[0]
    if K.shape != (n, n) or Kx.ndim != 2 or Kx.shape[1] != n:
        raise ValueError(f"The 'theta_train' and 'theta_test_train' parameters of {owner} must have shapes (n, n) and "
                         f"(m, n). Got {tuple(K.shape)} and {tuple(Kx.shape)} instead.")
    y = torch.as_tensor(y_train).detach().cpu().to(torch.float64).reshape(-1)
    ftr = torch.as_tensor(f0_train).detach().cpu().to(torch.float64).reshape(-1).clone()
    fte = torch.as_tensor(f0_test).detach().cpu().to(torch.float64).reshape(-1).clone()
    if y.shape[0] != n or ftr.shape[0] != n or fte.shape[0] != Kx.shape[0]:
        raise ValueError(f"The 'y_train', 'f0_train' and 'f0_test' parameters of {owner} must have {n}, {n} and "
                         f"{Kx.shape[0]} entries. Got {y.shape[0]}, {ftr.shape[0]} and {fte.shape[0]} instead.")
    c = lr / n
    out_tr, out_te = [ftr.clone()], [fte.clone()]
    for _ in range(steps):
        r = ftr - y  # (n,)
        ftr = ftr - c * (K @ r)
        fte = fte - c * (Kx @ r)
        out_tr.append(ftr.clone())
        out_te.append(fte.clone())
    return {"f_train": torch.stack(out_tr), "f_test": torch.stack(out_te)}


def linearization_gap_sweep(make_model: Callable[[int, int], nn.Module], x_train: torch.Tensor, y_train: torch.Tensor,
                            x_test: torch.Tensor, widths, seeds, *, lr_factor: float, steps: int,
                            keep: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Train networks of several widths and compare each with its own linearization.

    For each width n and seed s: build ``make_model(n, s)``, take its empirical NTK Theta_0 on
    the training inputs (and test x train), set the learning rate eta = lr_factor * n_train /
    lambda_max(Theta_0) (so the fastest mode of the residual is multiplied by 1 - lr_factor per
    step), train it by
    gradient descent (:func:`gd_trajectory`) and run :func:`linearized_trajectory` from the
    same initialization. The gap is::

        gap = max_t ||f_t(X_test) - f_lin,t(X_test)||_2 / ||f_lin,T(X_test) - f_0(X_test)||_2

    the largest distance between the two, relative to how far the linearized model moved. Theory (Lee et al. 2019):
    gap = O(n^-1/2). Returns (DataFrame(width, seed, gap, lr, final_loss), trajectories) where
    ``trajectories[(n, s)]`` holds the network and linearized outputs ("net", "lin"), Theta_0 on
    the training inputs ("theta") and test x training inputs ("theta_test"), eta ("lr") and the
    targets ("y_train") for the width ``keep`` (default: the largest width).
    """
    owner = "linearization_gap_sweep"
    widths = check_ints(widths, "widths", owner)
    seeds = check_seeds(seeds, "seeds", owner)
    lr_factor = check_float(lr_factor, "lr_factor", owner, 0.0, 2.0, low_open=True)
    steps = check_int(steps, "steps", owner)
    keep = max(widths) if keep is None else keep
    rows, kept = [], {}
    for s in seeds:
        for n in widths:
            model = make_model(n, s)
            theta = empirical_ntk(model, x_train)
            theta_x = empirical_ntk(model, x_test, x_train)
            lam_max = float(torch.linalg.eigvalsh(theta.to(torch.float64))[-1])
            lr = lr_factor * len(x_train) / lam_max
            f0_tr, f0_te = _outputs(model, x_train), _outputs(model, x_test)
            net = gd_trajectory(model, x_train, y_train, x_test, lr=lr, steps=steps)
            lin = linearized_trajectory(theta, theta_x, f0_tr, f0_te, y_train, lr=lr, steps=steps)
            T = net["f_test"].shape[0]
            if T < steps + 1:
                gap = math.nan
            else:
                move = float(torch.linalg.norm(lin["f_test"][-1] - lin["f_test"][0]))
                gap = float(torch.linalg.norm(net["f_test"] - lin["f_test"][:T], dim=1).max()) / move
            rows.append({"width": n, "seed": s, "gap": gap, "lr": lr, "final_loss": net["final_loss"]})
            if n == keep:
                kept[(n, s)] = {"net": net, "lin": lin, "theta": theta.detach().cpu().to(torch.float64),
                                "theta_test": theta_x.detach().cpu().to(torch.float64), "lr": lr,
                                "y_train": y_train.detach().cpu().to(torch.float64).reshape(-1)}
    return pd.DataFrame(rows), kept


def projection_decay_rates(theta: torch.Tensor, residuals: torch.Tensor, *, lr: float, modes: int = 10,
                           floor: float = 1e-3, min_decay: float = 1.0, min_projection: float = 0.02) -> pd.DataFrame:
    """Decay rate of the training residual along each eigenvector of the NTK (spectral bias).

    ``theta`` (n, n) is the NTK on the training inputs at initialization, ``residuals`` (T+1, n)
    the residuals r_t = f_t(X) - y of a network trained with learning rate ``lr`` under the
    loss 1/(2n) sum r_i^2. With Theta = sum_i lambda_i u_i u_i^T, the linearized dynamics give
    u_i^T r_t = (1 - eta lambda_i / n)^t u_i^T r_0, a decay rate per step of::

        predicted_rate_i = -log|1 - eta lambda_i / n|   (~= eta lambda_i / n when that is small)

    The measured rate is minus the least-squares slope of log|u_i^T r_t| against t, fitted over
    the steps where the predicted factor (1 - eta lambda_i / n)^t is still above ``floor`` (so
    the fit stays above round-off and the network's small nonlinear corrections). Only the
    ``modes`` largest eigenvalues are used, and of those only modes that are predicted to decay
    by at least ``min_decay`` e-folds over the run (slower modes have not moved measurably) and
    whose projection at t = 0 is at least ``min_projection`` times the largest one (a mode the
    residual barely touches is lost in the nonlinear corrections of the other modes).

    Returns a DataFrame (mode, eigenvalue, predicted_rate, linear_rate, measured_rate,
    projection0) with one row per usable mode; linear_rate = eta lambda_i / n.
    """
    owner = "projection_decay_rates"
    lr = check_float(lr, "lr", owner, 0.0, low_open=True)
    modes = check_int(modes, "modes", owner)
    K = torch.as_tensor(theta).detach().cpu().to(torch.float64)
    R = torch.as_tensor(residuals).detach().cpu().to(torch.float64)
    n = K.shape[0]
    if K.shape != (n, n) or R.ndim != 2 or R.shape[1] != n or R.shape[0] < 3:
        raise ValueError(f"The 'theta' and 'residuals' parameters of {owner} must have shapes (n, n) and (T+1, n) with "
                         f"T >= 2. Got {tuple(K.shape)} and {tuple(R.shape)} instead.")
    evals, evecs = torch.linalg.eigh(0.5 * (K + K.T))  # ascending
    evals, evecs = evals.flip(0), evecs.flip(1)
    proj = (R @ evecs).abs().numpy()  # (T+1, n): |u_i^T r_t|
    T = R.shape[0] - 1
    t = np.arange(T + 1, dtype=float)
    top0 = proj[0].max()
    rows = []
    for i in range(min(modes, n)):
        lam = float(evals[i])
        linear = lr * lam / n
        factor = abs(1.0 - linear)
        if not 0.0 < factor < 1.0:
            continue
        pred = -math.log(factor)
        if pred * T < min_decay or proj[0, i] < min_projection * top0:
            continue
        horizon = min(T, int(math.floor(-math.log(floor) / pred)))
        if horizon < 2:
            continue
        window = proj[: horizon + 1, i]
        if np.any(window <= 0):
            continue
        slope = np.polyfit(t[: horizon + 1], np.log(window), 1)[0]
        rows.append({"mode": i + 1, "eigenvalue": lam, "predicted_rate": pred, "linear_rate": linear,
                     "measured_rate": -float(slope), "projection0": float(proj[0, i])})
    return pd.DataFrame(rows)


def circle_inputs(u: torch.Tensor) -> torch.Tensor:
    """Map scalars u in [0, 1] to the unit circle, (N, 1) -> (N, 2): (cos 2 pi u, sin 2 pi u).

    On the circle the NTK of a fully connected network depends only on the angle between two
    inputs, so its eigenfunctions are the Fourier modes cos(k 2 pi u), sin(k 2 pi u) with
    eigenvalues falling in k (the setting of Rahaman et al. 2019, and of the 1-D sinusoid task
    of :mod:`ntkbook.data`: sin(2 pi f u) is the Fourier mode k = f).
    """
    u = torch.as_tensor(u)
    if u.ndim != 2 or u.shape[1] != 1 or not u.is_floating_point():
        fail("u", "circle_inputs", "a floating tensor of shape (N, 1)", tuple(u.shape))
    return torch.cat([torch.cos(2 * math.pi * u), torch.sin(2 * math.pi * u)], dim=1)  # (N, 2)


# ----------------------------------------------------------------------------- chapter 4
class TwoLayerReLU(nn.Module):
    """The network of Arora, Du, Hu, Li and Wang (2019), "Fine-grained analysis ..."::

        f(x) = (1 / sqrt(m)) sum_r a_r relu(w_r . x),   w_r ~ N(0, kappa^2 I_d),  a_r ~ unif{-1, +1}

    Only W (m, d) is trained; a is a fixed buffer. Same seed, same weights (CPU generator).
    Shapes: x (N, d) -> (N, 1).
    """

    def __init__(self, in_features: int, width: int, *, kappa: float = 0.1, seed: int = 0):
        super().__init__()
        owner = "TwoLayerReLU"
        in_features = check_int(in_features, "in_features", owner)
        width = check_int(width, "width", owner)
        kappa = check_float(kappa, "kappa", owner, 0.0, low_open=True)
        seed = check_seed(seed, "seed", owner)
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(kappa * torch.randn(width, in_features, generator=g))  # (m, d)
        self.register_buffer("a", torch.randint(0, 2, (width,), generator=g).to(torch.float32) * 2 - 1)  # (m,)
        self.width = width

    def forward(self, x):
        h = torch.relu(x @ self.weight.T)  # (N, m)
        return (h @ self.a.to(h.dtype))[:, None] / math.sqrt(self.width)  # (N, 1)


def arora_gram(x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
    """H^inf of the two-layer relu network of Arora et al. (2019), float64, shape (N1, N2)::

        H_ij = E_{w ~ N(0, I)}[x_i . x_j 1{w . x_i >= 0, w . x_j >= 0}]
             = x_i . x_j (pi - arccos(x_i . x_j / (|x_i| |x_j|))) / (2 pi)

    It is the infinite-width NTK of :class:`TwoLayerReLU` with respect to W alone. The factor
    (pi - theta) / (2 pi) is E[relu'(u) relu'(v)] of the arc-cosine kernel, taken from
    :func:`ntkbook.analytic.gaussian_expectations` (Cho & Saul 2009).
    """
    from ntkbook.analytic import gaussian_expectations

    if not isinstance(x1, torch.Tensor) or x1.ndim != 2:
        fail("x1", "arora_gram", "a 2-D tensor (N1, d)", type(x1).__name__)
    a = x1.to(torch.float64)
    b = a if x2 is None else torch.as_tensor(x2).to(device=a.device, dtype=torch.float64)
    if b.ndim != 2 or b.shape[1] != a.shape[1]:
        fail("x2", "arora_gram", f"a 2-D tensor with d={a.shape[1]} columns", tuple(b.shape))
    c = a @ b.T  # (N1, N2)
    q = a.square().sum(1, keepdim=True)  # (N1, 1)
    r = b.square().sum(1, keepdim=True).T  # (1, N2)
    _, dd = gaussian_expectations("relu", q, r, c)  # (pi - theta) / (2 pi)
    return c * dd


def arora_bound(x: torch.Tensor, y: torch.Tensor, *, delta: float = 0.05, constant: float = 1.0) -> dict:
    """The generalization bound of Arora et al. (2019, Theorem 5.1) on a training set.

    The paper this book studies (arXiv:2512.08264) links the NTK to generalization through its
    Eq. (8), whose exact form is not public; taking it to be this bound is a reconstruction.

    ``x`` (n, d) on the unit sphere, ``y`` (n,) labels in [-1, 1]. Returns a dict with::

        main     = sqrt(2 y^T (H^inf)^-1 y / n)
        extra    = constant * sqrt(log(n / (lambda_0 delta)) / n)    the O(.) term, lambda_0 = lambda_min(H^inf)
        bound    = main + extra
        lambda_0, yHy = y^T (H^inf)^-1 y

    The theorem states the second term only up to a constant; ``constant`` is the one we take
    (1 by default) and the book says so where it uses it. The bound holds, with probability at
    least 1 - delta, for the population loss of any 1-Lipschitz loss with values in [0, 1] and
    l(y, y) = 0, of the network trained long enough with a small enough init and a large enough
    width. H is solved with a Cholesky factorization (O(n^3)).
    """
    owner = "arora_bound"
    delta = check_float(delta, "delta", owner, 0.0, 1.0, low_open=True)
    constant = check_float(constant, "constant", owner, 0.0)
    yv = torch.as_tensor(y).to(torch.float64).reshape(-1)
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] != yv.shape[0]:
        fail("x", owner, f"a 2-D tensor with one row per label ({yv.shape[0]})", tuple(getattr(x, "shape", ())))
    if yv.abs().max() > 1:
        fail("y", owner, "labels in [-1, 1]", float(yv.abs().max()))
    n = yv.shape[0]
    H = arora_gram(x)
    lam0 = float(torch.linalg.eigvalsh(H)[0])
    if not lam0 > 0:
        raise ValueError(f"The 'x' parameter of {owner} gives a singular H^inf (lambda_0 = {lam0:.3g}): two inputs are "
                         f"parallel. Remove duplicates.")
    L = torch.linalg.cholesky(H)
    z = torch.cholesky_solve(yv[:, None].to(H.device), L)[:, 0]
    yHy = float(yv.to(H.device) @ z)
    main = math.sqrt(2 * yHy / n)
    extra = constant * math.sqrt(math.log(n / (lam0 * delta)) / n)
    return {"main": main, "extra": extra, "bound": main + extra, "lambda_0": lam0, "yHy": yHy, "n": n}


def sphere_binary_task(n_train: int, n_test: int, *, dim: int = 10, noise: float = 0.0, seed: int = 0,
                       dtype=torch.float64, device=None):
    """A binary task on the unit sphere with label noise (the setting of Arora et al.'s theorem).

    Inputs are uniform on S^{dim-1}; the clean label is sign(x_1 x_2) (an XOR of two
    coordinates: no linear classifier gets it, but it is smooth enough on most of the sphere for
    a kernel), as a float in {-1, +1}; each label, train and test alike, is flipped with
    probability ``noise`` (so the test error of the Bayes classifier is ``noise``). Returns an
    :class:`ntkbook.data.Dataset` (regression targets of shape (n, 1), labels in [-1, 1]).
    """
    from ntkbook.data import make_dataset

    owner = "sphere_binary_task"
    n_train = check_int(n_train, "n_train", owner)
    n_test = check_int(n_test, "n_test", owner)
    dim = check_int(dim, "dim", owner, low=2)
    noise = check_float(noise, "noise", owner, 0.0, 0.5)
    g = torch.Generator().manual_seed(check_seed(seed, "seed", owner))
    x = torch.randn(n_train + n_test, dim, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)  # (n, d) on the sphere
    y = torch.sign(x[:, 0] * x[:, 1])
    y[y == 0] = 1.0
    flip = torch.rand(n_train + n_test, generator=g, dtype=torch.float64) < noise
    y = torch.where(flip, -y, y)
    source = (f"generated: x uniform on the unit sphere in dimension {dim}, label sign(x_1 x_2) flipped with "
              f"probability {noise:g} (train and test), seed {seed}")
    return make_dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], task="regression", source=source,
                        name="sphere_xor", dtype=dtype, device=device, extras={"noise": noise, "dim": dim})


def ramp_loss(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """min(1, |f - y|) per example: 1-Lipschitz in f, values in [0, 1], zero at f = y. For labels
    y in {-1, +1} a wrong sign means |f - y| >= 1, so it is at least the 0-1 error."""
    return (f.reshape(-1) - y.reshape(-1)).abs().clamp(max=1.0)


def train_two_layer(data, *, width: int, steps: int, lr_factor: float = 1.0, kappa: float = 0.1, seed: int = 0,
                    device=None) -> dict:
    """Train :class:`TwoLayerReLU` (W only) by full-batch gradient descent on ``data``.

    Arora et al.'s objective 1/2 sum (f - y)^2 with step eta is the book's 1/(2n) sum (f - y)^2
    with learning rate n eta; we take eta = lr_factor / lambda_max(H^inf), so the fastest mode of
    the linearized dynamics is multiplied by 1 - lr_factor per step. Returns a dict with the final
    ``train_loss`` and ``test_loss`` (mean :func:`ramp_loss`), ``test_error`` (0-1 error of
    sign f), ``train_error`` and ``diverged``.
    """
    owner = "train_two_layer"
    steps = check_int(steps, "steps", owner)
    lr_factor = check_float(lr_factor, "lr_factor", owner, 0.0, 2.0, low_open=True)
    x, y = data.x_train, data.y_train
    if device is not None:
        x, y = x.to(device), y.to(device)
    model = TwoLayerReLU(x.shape[1], width, kappa=kappa, seed=seed).to(device=x.device, dtype=x.dtype)
    lam_max = float(torch.linalg.eigvalsh(arora_gram(x))[-1])
    n = x.shape[0]
    loss = _gd(model, x, y, lr=lr_factor * n / lam_max, steps=steps)
    xt, yt = data.x_test.to(x.device, x.dtype), data.y_test.to(x.device, x.dtype)
    ftr, fte = _outputs(model, x), _outputs(model, xt)
    return {
        "train_loss": float(ramp_loss(ftr, y).mean()),
        "test_loss": float(ramp_loss(fte, yt).mean()),
        "train_error": float((torch.sign(ftr) != y.reshape(-1)).double().mean()),
        "test_error": float((torch.sign(fte) != yt.reshape(-1)).double().mean()),
        "diverged": not math.isfinite(loss),
    }


def bound_vs_error_sweep(ns, noises, seeds, *, n_test: int, dim: int, width: int, steps: int, lr_factor: float = 1.0,
                         kappa: float = 0.1, delta: float = 0.05, constant: float = 1.0, device=None) -> pd.DataFrame:
    """Arora et al.'s bound against the measured test loss, over training-set sizes and label noise.

    For each n, noise level p and seed: draw :func:`sphere_binary_task`, compute
    :func:`arora_bound` on the training set, train :func:`train_two_layer` and measure its test
    loss on ``n_test`` fresh points. Because the run stops after ``steps`` steps, the bound we
    compare with is ``train_loss + bound`` (the uniform-convergence argument behind the theorem
    bounds the population loss by the training loss plus the complexity terms; the theorem's
    own statement has training loss ~ 0 after enough steps). Returns a DataFrame with columns
    n, noise, seed, main, extra, bound, full_bound, lambda_0, train_loss, test_loss,
    test_error, train_error, diverged, ratio (= full_bound / test_loss).
    """
    owner = "bound_vs_error_sweep"
    ns = check_ints(ns, "ns", owner, low=2)
    seeds = check_seeds(seeds, "seeds", owner)
    noises = check_floats(noises, "noises", owner, 0.0, 0.5)
    rows = []
    for n in ns:
        for p in noises:
            for s in seeds:
                data = sphere_binary_task(n, n_test, dim=dim, noise=p, seed=1000 * s + n)
                b = arora_bound(data.x_train, data.y_train, delta=delta, constant=constant)
                r = train_two_layer(data, width=width, steps=steps, lr_factor=lr_factor, kappa=kappa, seed=s,
                                    device=device)
                full = r["train_loss"] + b["bound"]
                rows.append({"n": n, "noise": p, "seed": s, "main": b["main"], "extra": b["extra"], "bound": b["bound"],
                             "full_bound": full, "lambda_0": b["lambda_0"], **r,
                             "ratio": full / r["test_loss"] if r["test_loss"] > 0 else math.inf})
    return pd.DataFrame(rows)
