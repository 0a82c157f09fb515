r"""The computations behind the ablation chapters of part II (stochastic depth, B-scale, width).

Stochastic depth and the expected NTK (chapter 8)
-------------------------------------------------
With a fixed depth mask m (m_l ~ Bernoulli(1 - p_l), independent) the ECRN is a deterministic
network with NTK Theta_m. Three kernels are compared:

* the Monte Carlo mean E_m[Theta_m] of :func:`ntkbook.ntk.expected_ntk` (with its standard
  error), and, for small depth, the exact mean over all 2^L masks, :func:`exact_expected_ntk`;
* the **(1 - p_l)-weighted formula**, our reconstruction of the paper's Eq. (17) (its exact
  form is not public), :func:`weighted_ntk`. In the kernel recursion of the ECRN (see
  :func:`ntkbook.analytic.ecrn_kernels`) block l enters through m_l^2 alpha_l^2::

      Theta_{l+1} = Theta_l + m_l^2 alpha_l^2 E[act'(u) act'(v)] (Sigma_l + w_std^2 Theta_l)
      K_{l+1}     = K_l     + m_l^2 alpha_l^2 E[act(u) act(v)]            (odd act)

  Replacing m_l^2 by its expectation E[m_l^2] = 1 - p_l gives the recursion of a
  deterministic network whose branch l is scaled by alpha_l sqrt(1 - p_l): the expected
  NTK is then the NTK of that network, each block's increment weighted by (1 - p_l). The
  step is exact for every term that is linear in each m_l and whose coefficients do not
  depend on the other masks; the only neglected effect is that the Gaussian expectations of
  block l depend on the masks of the blocks before it;
* the **eval-mode kernel** (the NTK of ``model.eval()``, branch scaled by 1 - p_l), which
  weights each increment by (1 - p_l)^2: what one gets by default, and not the expectation.

:func:`kernel_gap` measures the distance of a reference from the Monte Carlo mean in units
of the Monte Carlo error: z = ||mean - ref||_F / ||stderr||_F. If the reference were the
exact expectation, E||mean - ref||_F^2 = ||stderr||_F^2 (up to the estimate of the error), so
z is about 1; a systematic bias b adds to it, z^2 ~ 1 + ||b||_F^2 / ||stderr||_F^2.

B-scale and width (chapters 9 and 10)
-------------------------------------
:func:`bscale_point` trains the ECRN at one Fourier scale sigma over several seeds and
returns train and test error and the effective rank of the NTK at initialization;
:func:`width_kernel_change` trains ECRNs of several widths and returns the relative change
||Theta_t - Theta_0||_F / ||Theta_0||_F over training, and :func:`final_kernel_change` its
value at the end, one row per (width, seed). The chapter fits the log-log slope against the
width seed by seed with :func:`ntkbook.stats.slope_interval`, whose one drop rule is that of
every interval of the book: a seed with a diverged or unfinished run has no slope, and by
default it voids the interval (inconclusive, never silently better).

Example::

    >>> import torch
    >>> from ntkbook.models import ECRN
    >>> model = ECRN(1, width=64, depth=3, n_fourier=8, drop_prob=0.2).double()
    >>> x = torch.rand(16, 1, dtype=torch.float64)      # (N, d)
    >>> weighted_ntk(model, x).shape                     # (N, N)
    torch.Size([16, 16])
"""

from __future__ import annotations

import contextlib
import itertools
import math

import pandas as pd
import torch

from ntkbook._validation import check_float, check_floats, check_int, check_ints, check_seeds, fail
from ntkbook.ntk import ExpectedNTK, empirical_ntk, expected_ntk
from ntkbook.stats import t_interval

__all__ = [
    "weighted_ntk",
    "eval_mode_ntk",
    "exact_expected_ntk",
    "kernel_gap",
    "expected_ntk_check",
    "mask_draw_trajectories",
    "bscale_point",
    "effective_rank",
    "width_kernel_change",
    "final_kernel_change",
    "bscale_contrasts",
    "MAX_ENUMERATED_DEPTH",
]

MAX_ENUMERATED_DEPTH = 12  # 2^12 = 4096 NTKs: beyond this, enumerating masks is too slow


# ----------------------------------------------------------------------------- validation
def _check_stochastic_depth_model(model, owner):
    needed = ("sample_depth_mask", "set_depth_mask")
    if not all(callable(getattr(model, name, None)) for name in needed) or not hasattr(model, "drop_probs"):
        raise TypeError(
            f"The 'model' parameter of {owner} must be a stochastic-depth model such as "
            f"ntkbook.models.ECRN (with drop_probs, sample_depth_mask and set_depth_mask). "
            f"Got {type(model).__name__} instead."
        )


# ----------------------------------------------------------------------------- stochastic depth
@contextlib.contextmanager
def _scaled_branches(model, factors):
    """Temporarily multiply the residual scales alpha_l of ``model`` by ``factors``."""
    saved = list(model.alphas)
    try:
        model.alphas = [a * f for a, f in zip(saved, factors)]
        yield model
    finally:
        model.alphas = saved


def weighted_ntk(model, x1, x2=None, **kwargs) -> torch.Tensor:
    """The (1 - p_l)-weighted NTK: our reconstruction of the paper's Eq. (17).

    The NTK of the deterministic network with every block kept and its branch scaled by
    alpha_l sqrt(1 - p_l), so that each block's increment of the kernel recursion carries the
    weight E[m_l^2] = 1 - p_l (see the module docstring for the derivation and what it
    neglects). Same weights as ``model``; other keyword arguments go to
    :func:`ntkbook.ntk.empirical_ntk`.

    Cost: one empirical NTK. Returns shape (N1, N2) (or (N1, N2, O, O) with outputs="full").
    """
    _check_stochastic_depth_model(model, "weighted_ntk")
    factors = [math.sqrt(1.0 - p) for p in model.drop_probs]
    keep_all = torch.ones(len(factors))
    with _scaled_branches(model, factors):
        return empirical_ntk(model, x1, x2, depth_mask=keep_all, **kwargs)


def eval_mode_ntk(model, x1, x2=None, **kwargs) -> torch.Tensor:
    """The NTK of ``model.eval()``: branch l scaled by alpha_l (1 - p_l), so each block's
    increment carries the weight (1 - p_l)^2. Cost: one empirical NTK."""
    _check_stochastic_depth_model(model, "eval_mode_ntk")
    return empirical_ntk(model, x1, x2, mode="eval", **kwargs)


def exact_expected_ntk(model, x1, x2=None, **kwargs) -> torch.Tensor:
    """E_m[Theta_m] exactly: the sum over all 2^L masks of P(m) Theta_m, in float64.

    P(m) = prod_l (1 - p_l)^{m_l} p_l^{1 - m_l}. Masks of probability 0 are skipped.
    Cost: up to 2^L empirical NTKs, so L <= MAX_ENUMERATED_DEPTH.
    """
    owner = "exact_expected_ntk"
    _check_stochastic_depth_model(model, owner)
    drops = list(model.drop_probs)
    if len(drops) > MAX_ENUMERATED_DEPTH:
        raise ValueError(
            f"The 'model' parameter of {owner} must have depth <= {MAX_ENUMERATED_DEPTH} "
            f"(2^depth masks are enumerated). Got depth {len(drops)} instead."
        )
    total = None
    for mask in itertools.product((0.0, 1.0), repeat=len(drops)):
        prob = math.prod((1.0 - p) if m else p for m, p in zip(mask, drops))
        if prob == 0.0:
            continue
        theta = empirical_ntk(model, x1, x2, depth_mask=torch.tensor(mask), **kwargs).to(torch.float64)
        total = prob * theta if total is None else total + prob * theta
    return total


def kernel_gap(estimate: ExpectedNTK, reference: torch.Tensor) -> dict[str, float]:
    """How far ``reference`` is from a Monte Carlo mean, in units of its standard error.

    Returns ``z`` = ||mean - ref||_F / ||stderr||_F (about 1 when ``reference`` is the exact
    expectation), ``relative_gap`` = ||mean - ref||_F / ||ref||_F and ``relative_stderr`` =
    ||stderr||_F / ||ref||_F.
    """
    if not isinstance(estimate, ExpectedNTK):
        raise TypeError(f"The 'estimate' parameter of kernel_gap must be an ntkbook.ntk.ExpectedNTK. Got {type(estimate).__name__} instead.")
    mean = estimate.mean.to(torch.float64)
    ref = torch.as_tensor(reference).to(device=mean.device, dtype=torch.float64)
    if ref.shape != mean.shape:
        raise ValueError(f"The 'reference' parameter of kernel_gap must have the shape of the estimate, {tuple(mean.shape)}. Got {tuple(ref.shape)} instead.")
    gap = float((mean - ref).norm())
    se = float(estimate.stderr.to(torch.float64).norm())
    ref_norm = float(ref.norm())
    return {
        "z": gap / se if se > 0 else math.inf,
        "relative_gap": gap / ref_norm,
        "relative_stderr": se / ref_norm,
    }


def expected_ntk_check(drop_probs, seeds, *, n_points=32, width=128, depth=4, n_fourier=16,
                       fourier_scale=2.0, n_samples=64, exact=True, dtype=torch.float64,
                       device="cpu") -> pd.DataFrame:
    """Monte Carlo E_m[Theta_m] against the weighted formula and the eval-mode kernel.

    For every drop probability p (the same for every block) and every initialization seed,
    builds an ECRN (1-d inputs uniform on [0, 1], drawn with the seed), estimates the
    expected NTK with ``n_samples`` masks (:func:`ntkbook.ntk.expected_ntk`) and measures
    :func:`kernel_gap` to :func:`weighted_ntk` (``formula_*`` columns), to
    :func:`eval_mode_ntk` (``eval_*``) and, when ``exact``, to :func:`exact_expected_ntk`
    (``exact_*``, the calibration of the Monte Carlo error), plus the relative distance of the
    formula and of the eval-mode kernel from the exact mean (``formula_bias``, ``eval_bias``).

    Cost per (p, seed): n_samples + 2 (+ 2^depth when ``exact``) empirical NTKs of N = n_points.
    Returns one row per (p, seed).
    """
    from ntkbook.models import ECRN

    owner = "expected_ntk_check"
    drop_probs = check_floats(drop_probs, "drop_probs", owner, 0.0, 1.0, high_open=True)
    seeds = check_seeds(seeds, "seeds", owner)
    n_samples = check_int(n_samples, "n_samples", owner, low=2)
    rows = []
    for p in drop_probs:
        for seed in seeds:
            gen = torch.Generator().manual_seed(10_000 + seed)
            x = torch.rand(n_points, 1, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
            model = ECRN(1, width=width, depth=depth, n_fourier=n_fourier, fourier_scale=fourier_scale,
                         drop_prob=p, seed=seed).to(device=device, dtype=dtype)
            mc = expected_ntk(model, x, n_samples, seed=seed)
            row = {"p": p, "seed": seed}
            formula, evalk = weighted_ntk(model, x), eval_mode_ntk(model, x)
            row.update({f"formula_{k}": v for k, v in kernel_gap(mc, formula).items()})
            row.update({f"eval_{k}": v for k, v in kernel_gap(mc, evalk).items() if k != "relative_stderr"})
            if exact:
                ex = exact_expected_ntk(model, x)
                row.update({f"exact_{k}": v for k, v in kernel_gap(mc, ex).items() if k != "relative_stderr"})
                row["formula_bias"] = float((formula.double() - ex).norm() / ex.norm())
                row["eval_bias"] = float((evalk.double() - ex).norm() / ex.norm())
            rows.append(row)
    return pd.DataFrame(rows)


def mask_draw_trajectories(data, *, drop_probs, mask_seeds, init_seed=0, width=128, depth=4,
                           n_fourier=16, fourier_scale=2.0, lr=0.5, epochs=100, ntk_every=10,
                           n_probe=32, device="cpu") -> pd.DataFrame:
    """The NTK's evolution during training, one run per mask draw, at a fixed initialization.

    For each p and each mask seed, trains the ECRN initialized with ``init_seed`` by
    full-batch gradient descent (:func:`ntkbook.train.train` with ``seed`` = the mask seed,
    which fixes the sequence of random masks) and records, every ``ntk_every`` epochs, the
    relative change ||Theta_t - Theta_0||_F / ||Theta_0||_F of the eval-mode NTK on the first
    ``n_probe`` training inputs. With p = 0 every mask seed gives the same run, so any spread
    across mask seeds is the variance that stochastic depth adds.

    Returns tidy rows: p, mask_seed, epoch, kernel_change, train_mse, test_mse.
    """
    from ntkbook.models import ECRN
    from ntkbook.train import NTKTracker, train

    owner = "mask_draw_trajectories"
    drop_probs = check_floats(drop_probs, "drop_probs", owner, 0.0, 1.0, high_open=True)
    mask_seeds = check_seeds(mask_seeds, "mask_seeds", owner)
    rows = []
    for p in drop_probs:
        for s in mask_seeds:
            model = ECRN(data.in_features, data.out_features, width=width, depth=depth, n_fourier=n_fourier,
                         fourier_scale=fourier_scale, drop_prob=p, seed=init_seed)
            model = model.to(dtype=data.x_train.dtype)
            tracker = NTKTracker(n_probe, every=ntk_every, top_k=1)
            res = train(model, data, optimizer="gd", lr=lr, epochs=epochs, seed=s, device=device,
                        callbacks=[tracker], progress=False)
            hist = res.history.pivot_table(index="epoch", columns=["split", "metric"], values="value")
            ntk = res.ntk[res.ntk.metric == "kernel_change"].set_index("epoch")["value"]
            for epoch, change in ntk.items():
                rows.append({"p": p, "mask_seed": s, "epoch": int(epoch), "kernel_change": float(change),
                             "train_mse": float(hist.loc[epoch, ("train", "mse")]),
                             "test_mse": float(hist.loc[epoch, ("test", "mse")]),
                             "diverged": bool(res.diverged)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- B-scale
def effective_rank(kernel: torch.Tensor) -> float:
    """Participation ratio (sum lambda)^2 / sum lambda^2 of the eigenvalues (clipped at 0) of a
    symmetric kernel: 1 for a rank-one kernel, N for a multiple of the identity."""
    from ntkbook.train import ntk_spectrum_metrics

    return float(ntk_spectrum_metrics(kernel, top_k=1)["effective_rank"])


def bscale_point(fourier_scale, seeds, *, n_train=32, n_test=256, frequencies=(1.0, 5.0),
                 amplitudes=(1.0, 0.5), noise=0.1, width=128, depth=4, n_fourier=32, lr=0.5,
                 epochs=200, dtype=torch.float32, device="cpu") -> pd.DataFrame:
    """Train the ECRN with Fourier scale sigma = ``fourier_scale`` on 1-d sinusoid regression.

    One row per seed (the seed draws the training inputs, the noise, B and the weights):
    train_mse, test_mse (plain MSE against the clean target on a grid of ``n_test`` points),
    gap = test_mse - train_mse, effective_rank of the NTK at initialization on the training
    inputs (:func:`effective_rank`) and diverged. Stochastic depth is off (drop_prob = 0) so
    only sigma varies. Cost per seed: ``epochs`` full-batch steps plus one NTK of n_train.
    """
    from ntkbook.data import load_dataset
    from ntkbook.models import ECRN
    from ntkbook.train import train

    owner = "bscale_point"
    sigma = check_float(fourier_scale, "fourier_scale", owner, 0.0)
    seeds = check_seeds(seeds, "seeds", owner)
    rows = []
    for seed in seeds:
        data = load_dataset("sinusoids", n_train=n_train, n_test=n_test, seed=seed, dtype=dtype,
                            frequencies=list(frequencies), amplitudes=list(amplitudes), noise=noise)
        model = ECRN(1, 1, width=width, depth=depth, n_fourier=n_fourier, fourier_scale=sigma,
                     drop_prob=0.0, seed=seed).to(dtype=dtype)
        rank = effective_rank(empirical_ntk(model, data.x_train.to(dtype)))
        res = train(model, data, optimizer="gd", lr=lr, epochs=epochs, seed=seed, device=device, progress=False)
        tr, te = res.final("train").get("mse", math.nan), res.final("test").get("mse", math.nan)
        if res.diverged:
            tr = te = math.nan
        rows.append({"fourier_scale": sigma, "seed": seed, "train_mse": tr, "test_mse": te,
                     "gap": te - tr, "effective_rank": rank, "diverged": bool(res.diverged),
                     "source": data.source})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- width
def width_kernel_change(widths, seeds, *, n_train=32, n_test=64, depth=4, n_fourier=16,
                        fourier_scale=2.0, drop_prob=0.0, lr=0.5, epochs=100, ntk_every=10,
                        dtype=torch.float32, device="cpu") -> pd.DataFrame:
    """The relative NTK change ||Theta_t - Theta_0||_F / ||Theta_0||_F over training, per width.

    For each width and seed, trains an ECRN (NTK parameterization, so the learning rate needs
    no rescaling with the width) on 1-d sinusoid regression by full-batch gradient descent
    and records the change of the eval-mode NTK on the training inputs every ``ntk_every``
    epochs. Returns tidy rows: width, seed, epoch, kernel_change, train_mse, diverged.
    """
    from ntkbook.data import load_dataset
    from ntkbook.models import ECRN
    from ntkbook.train import NTKTracker, train

    owner = "width_kernel_change"
    widths = check_ints(widths, "widths", owner)
    seeds = check_seeds(seeds, "seeds", owner)
    rows = []
    for seed in seeds:
        data = load_dataset("sinusoids", n_train=n_train, n_test=n_test, seed=seed, dtype=dtype,
                            frequencies=[1.0, 3.0], amplitudes=[1.0, 0.5])
        for width in widths:
            model = ECRN(1, 1, width=width, depth=depth, n_fourier=n_fourier, fourier_scale=fourier_scale,
                         drop_prob=drop_prob, seed=seed).to(dtype=dtype)
            tracker = NTKTracker(n_train, every=ntk_every, top_k=1)
            res = train(model, data, optimizer="gd", lr=lr, epochs=epochs, seed=seed, device=device,
                        callbacks=[tracker], progress=False)
            train_mse = res.history[(res.history.split == "train") & (res.history.metric == "mse")].set_index("epoch")["value"]
            ntk = res.ntk[res.ntk.metric == "kernel_change"].set_index("epoch")["value"]
            for epoch, change in ntk.items():
                rows.append({"width": width, "seed": seed, "epoch": int(epoch), "kernel_change": float(change),
                             "train_mse": float(train_mse.get(epoch, math.nan)), "diverged": bool(res.diverged)})
    return pd.DataFrame(rows)


def final_kernel_change(changes: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """The relative NTK change at the end of training, one row per (width, seed) of ``changes``.

    ``changes`` is the table of :func:`width_kernel_change`. A run that diverged, or whose
    last record is before epoch ``epochs``, keeps its row with ``kernel_change`` NaN: the
    per-seed fit of :func:`ntkbook.stats.slope_interval` then gives that seed no slope, and
    the interval of the exponent is void. A diverged run is shown, never left out quietly.
    Returns columns width, seed, epoch (the last recorded), kernel_change, diverged.
    """
    owner = "final_kernel_change"
    needed = ["width", "seed", "epoch", "kernel_change", "diverged"]
    if not isinstance(changes, pd.DataFrame) or not set(needed) <= set(changes.columns):
        fail("changes", owner, f"the table of width_kernel_change (columns {needed})",
             list(getattr(changes, "columns", [])) or type(changes).__name__)
    epochs = check_int(epochs, "epochs", owner, low=0)
    last = changes.sort_values(["width", "seed", "epoch"]).groupby(["width", "seed"], sort=True).tail(1)
    out = last[needed].reset_index(drop=True)
    unfinished = out["diverged"].astype(bool) | (out["epoch"] != epochs)
    out["kernel_change"] = out["kernel_change"].astype(float).mask(unfinished)
    return out


# ----------------------------------------------------------------------------- B-scale verdict
def bscale_contrasts(table: pd.DataFrame) -> dict[str, object]:
    """The two paired contrasts behind the underfit/overfit claim of chapter 9.

    ``table`` holds one row per (fourier_scale, seed) with train_mse, test_mse and gap
    (failed or diverged runs as NaN). With sigma_train* the scale of lowest mean train error
    and sigma_test* the scale of lowest mean test error (means over seeds):

    * underfit: train_mse(smallest sigma) - train_mse(sigma_train*), seed by seed;
    * overfit: gap(largest sigma) - gap(sigma_test*), seed by seed (gap = test - train).

    Both should be positive. Returns the per-seed differences, their means and 95 % t
    intervals, and the scales used. A seed with a non-finite value makes the interval NaN
    (so the verdict is inconclusive, never silently better).
    """
    needed = {"fourier_scale", "seed", "train_mse", "test_mse", "gap"}
    if not needed <= set(table.columns):
        raise ValueError(f"The 'table' parameter of bscale_contrasts must have columns {sorted(needed)}. Got {list(table.columns)}.")
    scales = sorted(table["fourier_scale"].unique())
    if len(scales) < 2:
        raise ValueError(f"The 'table' parameter of bscale_contrasts must hold at least two scales. Got {scales}.")
    means = table.groupby("fourier_scale")[["train_mse", "test_mse"]].mean()
    train_best = float(means["train_mse"].idxmin()) if means["train_mse"].notna().any() else scales[0]
    test_best = float(means["test_mse"].idxmin()) if means["test_mse"].notna().any() else scales[0]
    wide = table.pivot_table(index="seed", columns="fourier_scale", values=["train_mse", "gap"], dropna=False)
    under = (wide["train_mse"][scales[0]] - wide["train_mse"][train_best]).to_numpy(float)
    over = (wide["gap"][scales[-1]] - wide["gap"][test_best]).to_numpy(float)
    out = {"smallest": float(scales[0]), "largest": float(scales[-1]), "train_best": train_best, "test_best": test_best}
    for name, diff in (("underfit", under), ("overfit", over)):
        mean, low, high = t_interval(diff)
        out[name] = {"differences": diff.tolist(), "mean": mean, "low": low, "high": high}
    return out
