r"""Experiments on the NTK-ECRN's three mechanisms (part II of the book, chapters 5-7).

Each function runs one experiment of a chapter and returns tidy tables; the notebooks only
explain and plot. Three groups:

* **Spectra at initialization** (chapter 5, and the spectrum half of chapter 7):
  :func:`init_spectra` computes, for several named model variants and seeds, the empirical NTK
  on one input batch and its spectral summaries (``lambda_max``, ``trace``, the participation
  ratio ``effective_rank`` (sum lambda)^2 / sum lambda^2, ...). The summary table uses the
  ``model, seed, epoch, split, metric, value`` layout of :mod:`ntkbook.experiments.runs`, so
  :func:`ntkbook.experiments.runs.paired_comparison` compares two variants seed by seed.
  :func:`standardize_inputs` centres and scales the batch first, as a network's inputs are
  in practice (an offset alone gives every kernel one dominant, near-constant mode).
* **Eigenvalue control** (chapter 6): :func:`lambda_max_sweep` trains ECRNs (by default,
  :func:`build_ecrn`; any model builder, e.g. the Transformer of chapter beyond_attention) over
  a grid of residual scales alpha and depths L with :class:`ntkbook.train.NTKTracker` and records
  lambda_max(t), each run with its step set from its own lambda_max(0) (:func:`stable_lr`);
  :func:`growth_exponents` fits the log-log slope of the excess growth against
  alpha, the check of the paper's Eq. (15) in the reconstruction

  .. math::

      G := \max_{t \le T} |\lambda_{\max}(t) - \lambda_{\max}(0)| \;\le\; G_0 + C \sum_{l=1}^{L} \alpha_l^2 ,

  where :math:`G_0` is the growth of the same network with every residual branch switched
  off (alpha = 0). By Weyl's inequality :math:`G \le \max_t \|\Theta_t - \Theta_0\|_2`, so a
  bound on the kernel's deviation bounds the eigenvalue's. The paper's exact Eq. (15) is not
  public: this form is a reconstruction from its text ("the deviation adds a term
  proportional to alpha_l^2").
  With the same C for every alpha, a power law E(alpha) = G - G_0 ~ c alpha^k satisfies it
  down to alpha -> 0 only if k >= 2: the one-sided statement chapter 6 tests.
* **Spectral bias** (chapter 7): :func:`fourier_scale_selection` chooses the embedding's
  scale sigma on a validation split carved from the training data
  (:func:`ntkbook.data.hold_out_validation`, :func:`selected_scale`), never
  on the test set; then
  :func:`fourier_ablation` trains the ECRN with and without its Fourier embedding on the
  sinusoid task and records the error of each frequency component over training
  (:func:`ntkbook.data.frequency_errors`). :func:`stable_lr` sets every model's
  gradient-descent step from its own lambda_max(0), in both chapters.

Example::

    >>> import torch
    >>> from ntkbook.experiments.mechanisms import init_spectra
    >>> x = torch.rand(16, 1, dtype=torch.float64)                     # (N, d)
    >>> specs = {"ECRN": ("ecrn", {"width": 32, "depth": 2}), "MLP": ("mlp", {"width": 32, "depth": 2})}
    >>> eigs, table = init_spectra(specs, x, seeds=[0, 1])
    >>> eigs["ECRN"].shape                                             # (seeds, N), descending
    (2, 16)
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ntkbook._validation import check_float, check_floats, check_int, check_ints, check_seeds, fail
from ntkbook.data import Dataset, frequency_errors, load_dataset
from ntkbook.experiments.runs import RESULT_COLUMNS
from ntkbook.models import build_model
from ntkbook.ntk import empirical_ntk, expected_ntk
from ntkbook.stats import loglog_slope, paired_difference, t_interval
from ntkbook.train import Callback, NTKTracker, TrainResult, TrainState, ntk_spectrum_metrics, train

__all__ = [
    "SPECTRUM_METRICS",
    "standardize_inputs",
    "init_spectra",
    "stable_lr",
    "ModelBuilder",
    "build_ecrn",
    "lambda_max_sweep",
    "growth_table",
    "growth_exponents",
    "add_init_factor",
    "too_large_alphas",
    "diverged_fraction",
    "FrequencyErrorTracker",
    "fourier_scale_selection",
    "selected_scale",
    "fourier_ablation",
    "final_errors",
    "frequency_error_difference",
    "mode_rates",
]

#: The summaries :func:`init_spectra` keeps for each kernel.
SPECTRUM_METRICS = ("lambda_max", "lambda_min", "trace", "effective_rank", "effective_rank_entropy")


# ----------------------------------------------------------------------------- spectra at init


def standardize_inputs(x: torch.Tensor) -> torch.Tensor:
    """Each coordinate of the batch ``x`` (N, d) centred and scaled: (x - mean) / std.

    The mean and the (population) standard deviation are those of the N rows themselves; a
    coordinate with zero spread is only centred. Returns a new (N, d) tensor of the dtype and
    device of ``x``.

    Why the spectra of chapter 5 need it: on inputs with an offset (uniform on [0, 1]^d, all
    in one orthant) every pair of inputs has a large positive inner product, so the NTK of any
    network carries one dominant, nearly constant mode and its effective rank sits near 1,
    whatever the architecture. Centred inputs are what a network is given in practice (every
    tabular task of the book is standardized with training statistics), and they compare the
    architectures instead of the offset.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] < 2 or not torch.is_floating_point(x):
        raise TypeError(f"The 'x' parameter of standardize_inputs must be a floating torch.Tensor of shape (N, d) "
                        f"with N >= 2. Got {type(x).__name__} {tuple(getattr(x, 'shape', ()))} instead.")
    mean = x.mean(0, keepdim=True)  # (1, d)
    std = x.std(0, unbiased=False, keepdim=True)  # (1, d)
    return (x - mean) / torch.where(std > 0, std, torch.ones_like(std))


def _kernel(model: torch.nn.Module, x: torch.Tensor, n_masks: int, seed: int) -> torch.Tensor:
    """The NTK of ``model`` on ``x``: averaged over ``n_masks`` stochastic-depth masks when
    ``n_masks >= 2`` and the model has stochastic depth, else the eval-mode NTK."""
    has_masks = callable(getattr(model, "sample_depth_mask", None))
    drops = getattr(model, "drop_probs", None)
    if n_masks >= 2 and has_masks and drops is not None and any(p > 0 for p in drops):
        return expected_ntk(model, x, n_masks, seed=seed).mean
    return empirical_ntk(model, x)


def init_spectra(
    specs: Mapping[str, tuple[str, Mapping[str, Any]]],
    x: torch.Tensor,
    seeds: Sequence[int],
    *,
    n_masks: int = 0,
    out_features: int = 1,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Empirical NTK spectra at initialization of several model variants over several seeds.

    For each ``name -> (model_name, kwargs)`` in ``specs`` and each seed s, the model
    ``build_model(model_name, d, out_features, seed=s, **kwargs)`` is placed on the device and
    dtype of ``x`` and its NTK Theta = J J^T on ``x`` (shape (N, N), summed over outputs) is
    formed with :func:`ntkbook.ntk.empirical_ntk` in eval mode. With ``n_masks >= 2`` a model
    with stochastic depth gets the Monte Carlo mean over ``n_masks`` depth masks instead,
    E_m[Theta_m] (:func:`ntkbook.ntk.expected_ntk`), the kernel that training sees on average.

    Returns
    -------
    eigenvalues : dict name -> ndarray (S, N)
        All eigenvalues, descending, one row per seed.
    table : DataFrame
        Columns ``model, seed, epoch, split, metric, value`` (epoch 0, split ``"init"``),
        with the metrics of :data:`SPECTRUM_METRICS` (see
        :func:`ntkbook.train.ntk_spectrum_metrics`).

    Cost: S * len(specs) NTKs of an N x N batch (times ``n_masks`` for stochastic depth),
    plus an O(N^3) eigendecomposition each.
    """
    owner = "init_spectra"
    if not isinstance(specs, Mapping) or not specs:
        fail("specs", owner, "a non-empty mapping name -> (model_name, kwargs)", specs)
    for name, spec in specs.items():
        if not (isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str)
                and isinstance(spec[1], Mapping)):
            fail("specs", owner, f"a mapping name -> (model_name, kwargs); entry {name!r} is not", spec)
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] < 2:
        raise TypeError(f"The 'x' parameter of {owner} must be a torch.Tensor of shape (N, d) with N >= 2. "
                        f"Got {type(x).__name__} {tuple(getattr(x, 'shape', ()))} instead.")
    seeds = check_seeds(seeds, "seeds", owner)
    n_masks = check_int(n_masks, "n_masks", owner, low=0)
    eigs: dict[str, np.ndarray] = {}
    rows = []
    for name, (model_name, kwargs) in specs.items():
        per_seed = []
        for seed in seeds:
            model = build_model(model_name, x.shape[1], out_features, seed=seed, **dict(kwargs))
            model = model.to(device=x.device, dtype=x.dtype)
            theta = _kernel(model, x, n_masks, seed)  # (N, N)
            metrics = ntk_spectrum_metrics(theta)
            ev = torch.linalg.eigvalsh(0.5 * (theta + theta.T).double()).flip(0).cpu().numpy()
            per_seed.append(ev)
            for metric in SPECTRUM_METRICS:
                rows.append({"model": name, "seed": seed, "epoch": 0, "split": "init",
                             "metric": metric, "value": float(metrics[metric])})
        eigs[name] = np.stack(per_seed)
    return eigs, pd.DataFrame(rows, columns=RESULT_COLUMNS)


# ----------------------------------------------------------------------------- eigenvalue control


def stable_lr(model: torch.nn.Module, x: torch.Tensor, fraction: float = 0.5) -> tuple[float, float]:
    """A gradient-descent step set from the model's own NTK: ``lr = fraction * 2 n / lambda_max``.

    For L = 1/(2n) sum (f - y)^2 the linearized training outputs move by -(lr/n) Theta (f - y),
    so mode i of the residual is multiplied by (1 - lr lambda_i / n) each step: stable for
    lr < 2 n / lambda_max. ``fraction`` in (0, 1) gives the same relative step to models whose
    kernels have different scales, so a comparison between them is not a comparison of step
    sizes. Returns ``(lr, lambda_max)`` with Theta the eval-mode NTK on all of ``x`` (N, d).
    """
    fraction = check_float(fraction, "fraction", "stable_lr", 0.0, 1.0, low_open=True, high_open=True)
    lam = float(torch.linalg.eigvalsh(empirical_ntk(model, x).double())[-1])
    return fraction * 2 * len(x) / lam, lam


#: A model builder: ``builder(data, seed, **kwargs)`` returns the model for the inputs and
#: outputs of ``data``, initialized from ``seed``, on the data's device and dtype.
ModelBuilder = Callable[..., torch.nn.Module]


def build_ecrn(data: Dataset, seed: int, **kwargs) -> torch.nn.Module:
    """The ECRN (``ntkbook.models.build_model("ecrn", ...)``) for the inputs and outputs of
    ``data``, with ``seed`` and any other keyword arguments, on the data's device and dtype.

    The default :data:`ModelBuilder` of :func:`lambda_max_sweep` and
    :func:`ntkbook.experiments.ablations.width_kernel_change`.
    """
    model = build_model("ecrn", data.in_features, data.out_features, seed=seed, **kwargs)
    return model.to(device=data.x_train.device, dtype=data.x_train.dtype)


def lambda_max_sweep(
    data: Dataset,
    *,
    alphas: Sequence[float],
    depths: Sequence[int],
    seeds: Sequence[int],
    lr: float | None = None,
    lr_fraction: float | None = None,
    epochs: int,
    ntk_every: int = 5,
    probe: int | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    divergence_threshold: float = 1e4,
    device=None,
    builder: ModelBuilder = build_ecrn,
    extra_metrics: Callable[[TrainResult, Dataset], Mapping[str, Any]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train an ECRN (or the model of ``builder``) for every (alpha, depth, seed) and record
    lambda_max(t) of its NTK.

    The model of a run is ``builder(data, seed, depth=depth, alpha=alpha, **model_kwargs)``
    (default :func:`build_ecrn`; any :data:`ModelBuilder` whose model has a residual scale
    ``alpha`` and a ``depth``, such as
    :func:`ntkbook.experiments.beyond_attention.build_transformer`). Every run is full-batch
    gradient descent (:func:`ntkbook.train.train`, ``optimizer="gd"``) for ``epochs`` steps on
    ``data``, with the same residual scale alpha in every block (so sum_l alpha_l^2 = L alpha^2)
    and an :class:`ntkbook.train.NTKTracker` on the first ``probe`` training inputs every
    ``ntk_every`` epochs. For a given seed the weights are the same draw for every alpha (the
    ECRN, like the Transformer, draws its weights before alpha is used), so alphas are
    compared on identical initializations. ``extra_metrics(result, data)``, when given, is
    called after each run (outside its timing) and returns further columns of its runs row
    (e.g. a test accuracy).

    The step is set in one of two ways (give exactly one):

    * ``lr_fraction`` rho in (0, 1): each run's own step from its own kernel,
      ``lr = rho * 2 n / lambda_max(0)`` (:func:`stable_lr`, Theta on all n training points).
      Every run then starts at the same ``stability_ratio = lr * lambda_max(0) / n = 2 rho``,
      so a larger kernel does not also mean a faster run, and a run can only become unstable
      if lambda_max grows during training past ``lambda_max(0) / rho`` (the factor 1 / rho);
    * ``lr``: one fixed step for every run, so that a larger alpha (a larger kernel) also trains
      faster and, above ``lr * lambda_max(0) / n = 2``, is unstable from the first step.

    A run whose training loss becomes non-finite or exceeds ``divergence_threshold`` is
    stopped and marked diverged; its curve holds only the finite epochs before that.

    Gradient descent on L = 1/(2n) sum (f - y)^2 moves the training outputs by
    -(lr/n) Theta (f - y), which is stable only while lr * lambda_max / n < 2 (with Theta on
    all n training points). ``runs`` reports ``stability_ratio = lr * lambda_max(0) / n``
    (with a probe smaller than n, lambda_max(0) is estimated from the probe kernel scaled by
    n / probe: for a kernel dominated by its constant mode that is nearly exact).

    Returns
    -------
    curves : DataFrame
        ``alpha, depth, seed, epoch, lambda_max, train_loss`` (finite epochs only).
    runs : DataFrame
        One row per run: ``alpha, depth, seed, lr, diverged, diverged_epoch, cause, epochs_run,
        lambda_max0, lambda_max_final, rise, growth, peak_ratio, stability_ratio,
        final_train_loss, seconds`` (``growth = max_t |lambda_max(t) - lambda_max(0)|``, the
        drift in either direction; ``rise = max_t lambda_max(t) - lambda_max(0)``; both NaN for
        a diverged run, whose growth is unbounded; ``peak_ratio = max_t lambda_max(t) /
        lambda_max(0)`` over the finite records, for a diverged run a lower bound), then the
        columns of ``extra_metrics``.

    Cost: len(alphas) len(depths) len(seeds) runs, each ``epochs`` steps and about
    ``epochs // ntk_every + 2`` NTKs of probe x probe (plus one n x n NTK per run with
    ``lr_fraction``).
    """
    owner = "lambda_max_sweep"
    if not isinstance(data, Dataset):
        raise TypeError(f"The 'data' parameter of {owner} must be an ntkbook.data.Dataset. Got {type(data).__name__} instead.")
    alphas = check_floats(alphas, "alphas", owner, 0.0)
    depths = check_ints(depths, "depths", owner)
    seeds = check_seeds(seeds, "seeds", owner)
    if (lr is None) == (lr_fraction is None):
        fail("lr", owner, "a float in (0, inf) when 'lr_fraction' is None, else None (give exactly one of "
             "'lr' and 'lr_fraction')", lr)
    if lr is not None:
        lr = check_float(lr, "lr", owner, 0.0, low_open=True)
    else:
        lr_fraction = check_float(lr_fraction, "lr_fraction", owner, 0.0, 1.0, low_open=True, high_open=True)
    epochs = check_int(epochs, "epochs", owner)
    ntk_every = check_int(ntk_every, "ntk_every", owner)
    n = len(data.x_train)
    probe = n if probe is None else min(check_int(probe, "probe", owner, low=2), n)
    if not callable(builder):
        fail("builder", owner, "a callable (data, seed, **kwargs) -> torch.nn.Module", builder)
    if extra_metrics is not None and not callable(extra_metrics):
        fail("extra_metrics", owner, "None or a callable (result, data) -> mapping of columns", extra_metrics)
    kwargs = dict(model_kwargs or {})
    for bad in ("alpha", "depth", "seed"):
        if bad in kwargs:
            fail("model_kwargs", owner, f"a mapping without {bad!r} (the sweep sets it)", model_kwargs)
    curve_rows, run_rows = [], []
    for depth in depths:
        for alpha in alphas:
            for seed in seeds:
                model = builder(data, seed, depth=depth, alpha=alpha, **kwargs)
                step = float(lr) if lr is not None else stable_lr(model, data.x_train, lr_fraction)[0]
                tracker = NTKTracker(probe, every=ntk_every, top_k=1)
                t0 = time.perf_counter()
                res = train(model, data, optimizer="gd", lr=step, epochs=epochs, seed=seed,
                            device=device, callbacks=[tracker], progress=False,
                            divergence_threshold=divergence_threshold)
                seconds = time.perf_counter() - t0
                lam = res.ntk[res.ntk.metric == "lambda_max"].set_index("epoch")["value"]
                loss = res.history[(res.history.split == "train") & (res.history.metric == "loss")]
                loss = loss.set_index("epoch")["value"]
                for epoch, value in lam.items():
                    curve_rows.append({"alpha": alpha, "depth": depth, "seed": seed, "epoch": int(epoch),
                                       "lambda_max": float(value), "train_loss": float(loss.get(epoch, math.nan))})
                lam0 = float(lam.get(0, math.nan))
                drift = float((lam - lam0).abs().max()) if len(lam) else math.nan
                rise = float(lam.max() - lam0) if len(lam) else math.nan
                run_rows.append({
                    "alpha": alpha, "depth": depth, "seed": seed, "lr": step, "diverged": bool(res.diverged),
                    "diverged_epoch": res.diverged_epoch, "cause": res.cause, "epochs_run": res.epochs_run,
                    "lambda_max0": lam0, "lambda_max_final": float(lam.iloc[-1]) if len(lam) else math.nan,
                    "rise": math.nan if res.diverged else rise,
                    "growth": math.nan if res.diverged else drift,
                    "peak_ratio": float(lam.max() / lam0) if len(lam) else math.nan,
                    "stability_ratio": step * lam0 * (n / probe) / n,
                    "final_train_loss": float(loss.iloc[-1]) if len(loss) else math.nan,
                    "seconds": seconds,
                    **(dict(extra_metrics(res, data)) if extra_metrics is not None else {}),
                })
    curves = pd.DataFrame(curve_rows, columns=["alpha", "depth", "seed", "epoch", "lambda_max", "train_loss"])
    return curves, pd.DataFrame(run_rows)


def growth_table(runs: pd.DataFrame, *, baseline_alpha: float = 0.0, alpha_max: float | None = None,
                 max_stability: float = 2.0) -> pd.DataFrame:
    """Add the excess growth over the alpha = ``baseline_alpha`` run of the same depth and seed.

    ``excess = growth(alpha) - growth(baseline_alpha)``: the part of the drift of lambda_max
    that the residual branches add, the quantity the reconstructed Eq. (15) bounds by
    C sum_l alpha_l^2 = C L alpha^2. Also adds ``sum_alpha2 = depth * alpha^2`` and
    ``used_in_fit``: True for the runs :func:`growth_exponents` fits, those with
    0 < alpha <= ``alpha_max`` (all alphas when None) that did not diverge, that gradient
    descent could follow (``stability_ratio < max_stability``; above 2 the kernel is catapulted
    or the run diverges, a different regime) and whose excess is positive (a log needs it).
    """
    needed = {"alpha", "depth", "seed", "growth", "diverged", "stability_ratio"}
    if not isinstance(runs, pd.DataFrame) or not needed <= set(runs.columns):
        raise ValueError(f"The 'runs' parameter of growth_table must be the runs table of lambda_max_sweep "
                         f"(columns {sorted(needed)}). Got {type(runs).__name__} instead.")
    base = runs[np.isclose(runs["alpha"], baseline_alpha)]
    if base.empty:
        raise ValueError(f"The 'baseline_alpha' parameter of growth_table must be one of the swept alphas "
                         f"{sorted(runs['alpha'].unique())}. Got {baseline_alpha!r} instead.")
    base = base.set_index(["depth", "seed"])["growth"].rename("baseline_growth")
    out = runs.join(base, on=["depth", "seed"])
    out["excess"] = out["growth"] - out["baseline_growth"]
    out["sum_alpha2"] = out["depth"] * out["alpha"] ** 2
    in_range = out["alpha"] > baseline_alpha
    if alpha_max is not None:
        in_range &= out["alpha"] <= alpha_max
    out["in_fit_range"] = in_range
    out["used_in_fit"] = (in_range & ~out["diverged"] & (out["stability_ratio"] < max_stability)
                          & (out["excess"] > 0))
    return out


def growth_exponents(table: pd.DataFrame) -> pd.DataFrame:
    """Log-log slope of the excess growth against alpha, one fit per (depth, seed).

    Fits log(excess) = k log(alpha) + c by least squares (:func:`ntkbook.stats.loglog_slope`)
    over the rows of ``table`` (the output of :func:`growth_table`) marked ``used_in_fit``; a
    reconstructed Eq. (15) that is tight predicts k = 2. Returns ``depth, seed, slope,
    intercept, r2, n_points, n_excluded`` (n_excluded counts the rows in the fit range left
    out). A fit needs two points; otherwise its slope is NaN, and the t-interval of the
    slopes (:func:`ntkbook.stats.t_interval`, default policy) is void.
    """
    if not isinstance(table, pd.DataFrame) or "used_in_fit" not in table.columns:
        raise ValueError("The 'table' parameter of growth_exponents must be the output of growth_table "
                         "(it needs the 'used_in_fit' column).")
    rows = []
    for (depth, seed), g in table.groupby(["depth", "seed"], sort=True):
        ok = g[g["used_in_fit"]]
        slope = intercept = r2 = math.nan
        if len(ok) >= 2:
            slope, intercept = loglog_slope(ok["alpha"].to_numpy(float), ok["excess"].to_numpy(float))
            lx, ly = np.log(ok["alpha"].to_numpy(float)), np.log(ok["excess"].to_numpy(float))
            resid = ly - (slope * lx + intercept)
            ss_tot = float(((ly - ly.mean()) ** 2).sum())
            r2 = 1 - float((resid ** 2).sum()) / ss_tot if ss_tot > 0 else math.nan
        rows.append({"depth": int(depth), "seed": int(seed), "slope": float(slope),
                     "intercept": float(intercept), "r2": float(r2), "n_points": len(ok),
                     "n_excluded": int(g["in_fit_range"].sum()) - len(ok)})
    return pd.DataFrame(rows)


def add_init_factor(runs: pd.DataFrame, *, fixed_lr: float | None = None, n: int | None = None) -> pd.DataFrame:
    """Add how large each run's kernel is at initialization against the alpha = 0 run.

    ``init_factor = lambda_max(0) / lambda_max(0 | alpha = 0)`` for the same depth and seed
    (the size that the residual branches add to the kernel before any training). With
    ``fixed_lr`` and ``n`` (the number of training points) it also adds
    ``fixed_step_ratio = fixed_lr * lambda_max(0) / n``: the stability ratio that one fixed
    step would give the run at initialization (unstable from the first step above 2).
    Returns a copy of ``runs`` (the output of :func:`lambda_max_sweep`).
    """
    needed = {"alpha", "depth", "seed", "lambda_max0"}
    if not isinstance(runs, pd.DataFrame) or not needed <= set(runs.columns):
        raise ValueError(f"The 'runs' parameter of add_init_factor must be the runs table of lambda_max_sweep "
                         f"(columns {sorted(needed)}). Got {type(runs).__name__} instead.")
    base = runs[np.isclose(runs["alpha"], 0.0)]
    if base.empty:
        raise ValueError("The 'runs' parameter of add_init_factor must hold the alpha = 0 runs (the baseline of "
                         f"the factor). Got alphas {sorted(runs['alpha'].unique())} instead.")
    out = runs.join(base.set_index(["depth", "seed"])["lambda_max0"].rename("_base"), on=["depth", "seed"])
    out["init_factor"] = out["lambda_max0"] / out.pop("_base")
    if (fixed_lr is None) != (n is None):
        fail("fixed_lr", "add_init_factor", "given together with 'n' (or both None)", fixed_lr)
    if fixed_lr is not None:
        fixed_lr = check_float(fixed_lr, "fixed_lr", "add_init_factor", 0.0, low_open=True)
        out["fixed_step_ratio"] = fixed_lr * out["lambda_max0"] / check_int(n, "n", "add_init_factor")
    return out


def too_large_alphas(runs: pd.DataFrame, factor: float) -> pd.DataFrame:
    """For each depth, the smallest alpha of the grid that is "too large", in two senses.

    ``too_large_at_init``: the median over seeds of ``init_factor`` (:func:`add_init_factor`)
    exceeds ``factor``, i.e. the kernel at initialization is more than ``factor`` times that
    of the network without residual branches. ``too_large_in_training``: the median of
    ``peak_ratio = max_t lambda_max(t) / lambda_max(0)`` exceeds ``factor``, or more than half
    of the seeds diverged (a diverged run's peak ratio is only a lower bound). With
    ``factor = 1 / rho`` for runs at ``lr = rho * 2n / lambda_max(0)``, the second is the alpha
    at which the step that was stable at initialization stops being stable. NaN when no
    alpha of the grid qualifies. Returns ``depth, too_large_at_init, too_large_in_training``.
    """
    factor = check_float(factor, "factor", "too_large_alphas", 1.0, low_open=True)
    needed = {"alpha", "depth", "init_factor", "peak_ratio", "diverged"}
    if not isinstance(runs, pd.DataFrame) or not needed <= set(runs.columns):
        raise ValueError(f"The 'runs' parameter of too_large_alphas must be a runs table with the columns "
                         f"{sorted(needed)} (see add_init_factor). Got {type(runs).__name__} instead.")
    rows = []
    for depth, g in runs.groupby("depth", sort=True):
        med = g.groupby("alpha").agg(init=("init_factor", "median"), peak=("peak_ratio", "median"),
                                     diverged=("diverged", "mean"))
        at_init = med.index[med["init"] > factor]
        in_training = med.index[(med["peak"] > factor) | (med["diverged"] > 0.5)]
        rows.append({"depth": int(depth),
                     "too_large_at_init": float(at_init.min()) if len(at_init) else math.nan,
                     "too_large_in_training": float(in_training.min()) if len(in_training) else math.nan})
    return pd.DataFrame(rows, columns=["depth", "too_large_at_init", "too_large_in_training"])


def diverged_fraction(runs: pd.DataFrame, alpha: float):
    """The fraction of the runs at ``alpha`` (all depths and seeds) that diverged, with its interval.

    Returns the :class:`ntkbook.stats.Interval` of the 0/1 indicators (the 95 % t interval
    clipped to [0, 1], the range a fraction cannot leave) and the indicators themselves.
    """
    if not isinstance(runs, pd.DataFrame) or not {"alpha", "diverged"} <= set(runs.columns):
        raise ValueError("The 'runs' parameter of diverged_fraction must be the runs table of lambda_max_sweep.")
    at = runs[np.isclose(runs["alpha"], float(alpha))]
    if at.empty:
        raise ValueError(f"The 'alpha' parameter of diverged_fraction must be one of the swept alphas "
                         f"{sorted(runs['alpha'].unique())}. Got {alpha!r} instead.")
    indicators = at["diverged"].astype(float).to_numpy()
    return t_interval(indicators, bounds=(0.0, 1.0)), indicators


# ----------------------------------------------------------------------------- spectral bias


class FrequencyErrorTracker(Callback):
    """Record the error of each frequency component of the sinusoid task every ``every`` epochs.

    At each recorded epoch the model (in eval mode) predicts the ``split`` inputs and
    :func:`ntkbook.data.frequency_errors` projects the prediction on each mode
    sin/cos(2 pi f_k x): rows ``epoch, frequency, relative_error, captured`` go to
    ``records``.
    """

    def __init__(self, data: Dataset, every: int = 10, split: str = "test"):
        if "frequencies" not in data.extras:
            raise ValueError("The 'data' parameter of FrequencyErrorTracker must come from "
                             "load_dataset('sinusoids'). Got a dataset without frequency components.")
        self.data, self.split = data, split
        self.every = check_int(every, "every", "FrequencyErrorTracker")
        self.rows: list[dict[str, Any]] = []
        self.records = []  # no tidy NTK rows: train() collects only NTK records from 'records'

    def on_train_begin(self, state: TrainState) -> None:
        self.rows = []

    @torch.no_grad()
    def on_epoch_end(self, state: TrainState) -> None:
        if state.epoch % self.every:
            return
        model = state.model
        was = model.training
        model.eval()
        x = getattr(state.data, f"x_{self.split}")
        pred = model(x)
        model.train(was)
        table = frequency_errors(self.data, pred.detach().cpu(), split=self.split)
        for row in table.to_dict("records"):
            self.rows.append({"epoch": state.epoch, **row})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _diverged_rows(errs: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """One row per frequency at epoch ``epochs`` with a NaN error: the mark of a diverged run."""
    freqs = errs["frequency"].unique() if "frequency" in errs else []
    rows = pd.DataFrame({"epoch": epochs, "frequency": freqs, "relative_error": math.nan, "captured": False})
    return rows[[c for c in errs.columns if c in rows.columns]]


def _train_at_own_step(data: Dataset, kwargs: Mapping[str, Any], seed: int, *, epochs: int, lr_fraction: float,
                       dtype: torch.dtype, device, callbacks=()):
    """Build the ECRN ``kwargs`` with ``seed`` and train it by full-batch gradient descent on
    ``data`` at ``lr = lr_fraction * 2 n / lambda_max(0)`` of its own kernel (:func:`stable_lr`).
    Returns ``(result, lr, lambda_max0, seconds)``."""
    model = build_model("ecrn", data.in_features, data.out_features, seed=seed, **dict(kwargs))
    model = model.to(device=data.x_train.device, dtype=dtype)
    lr, lam0 = stable_lr(model, data.x_train, lr_fraction)
    t0 = time.perf_counter()
    res = train(model, data, optimizer="gd", lr=lr, epochs=epochs, seed=seed, device=device,
                callbacks=list(callbacks), progress=False)
    return res, lr, lam0, time.perf_counter() - t0


def fourier_scale_selection(
    *,
    scales: Sequence[float],
    on: Mapping[str, Any],
    off: Mapping[str, Any] | None,
    seeds: Sequence[int],
    data_kwargs: Mapping[str, Any],
    epochs: int,
    lr_fraction: float = 0.5,
    val_fraction: float = 0.25,
    dtype: torch.dtype = torch.float64,
    device=None,
) -> pd.DataFrame:
    """Validation error of the ECRN at every Fourier scale sigma in ``scales`` (and without the embedding).

    For each seed s the task is ``load_dataset("sinusoids", seed=s, **data_kwargs)``; the
    last ``round(val_fraction * n)`` of its n training points are held out as a validation
    split (:func:`ntkbook.data.hold_out_validation`; the task's training
    inputs are independent draws, so they are a random subset) and its test split is never
    used. On the fit part the ECRN ``on`` (keyword arguments without
    ``fourier_scale``) is trained at every sigma, and the ECRN ``off`` (the baseline, e.g.
    ``n_fourier=0``; None to skip it) once, each by full-batch gradient descent for ``epochs``
    steps at ``lr_fraction`` of its own stability limit (:func:`stable_lr`): the same budget
    and the same relative step for every candidate. The baseline has no scale to choose.

    Returns one row per run: ``variant`` ("Fourier on" or "Fourier off"), ``fourier_scale``
    (NaN for the baseline), ``seed, lr, lambda_max0, diverged, val_mse, seconds``; the
    validation MSE (against the noisy training targets of the validation rows) of a run that
    diverged is NaN, so :func:`selected_scale` can never pick a scale at which a seed diverged.
    Cost: (len(scales) + 1) * len(seeds) training runs on the fit part.
    """
    from ntkbook.data import hold_out_validation  # the book's one validation split

    owner = "fourier_scale_selection"
    scales = check_floats(scales, "scales", owner, 0.0, low_open=True)
    val_fraction = check_float(val_fraction, "val_fraction", owner, 0.0, 1.0, low_open=True, high_open=True)
    for name, kwargs in (("on", on), ("off", off)):
        if kwargs is None and name == "off":
            continue
        if not isinstance(kwargs, Mapping) or "fourier_scale" in kwargs:
            fail(name, owner, "a mapping of ECRN keyword arguments without 'fourier_scale' (the selection sets it)", kwargs)
    seeds = check_seeds(seeds, "seeds", owner)
    epochs = check_int(epochs, "epochs", owner)
    candidates = [("Fourier on", sigma, {**on, "fourier_scale": sigma}) for sigma in scales]
    if off is not None:
        candidates.append(("Fourier off", math.nan, dict(off)))
    rows = []
    for seed in seeds:
        full = load_dataset("sinusoids", seed=seed, dtype=dtype, device=device, **dict(data_kwargs))
        n = len(full.x_train)
        data = hold_out_validation(full, min(max(int(round(val_fraction * n)), 1), n - 2))
        for variant, sigma, kwargs in candidates:
            res, lr, lam0, seconds = _train_at_own_step(data, kwargs, seed, epochs=epochs, lr_fraction=lr_fraction,
                                                        dtype=dtype, device=device)
            val = math.nan if res.diverged else float(res.final("test").get("mse", math.nan))
            rows.append({"variant": variant, "fourier_scale": sigma, "seed": seed, "lr": lr, "lambda_max0": lam0,
                         "diverged": bool(res.diverged), "val_mse": val, "seconds": seconds})
    return pd.DataFrame(rows)


def selected_scale(table: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """The Fourier scale with the lowest mean validation MSE across seeds, and the per-scale summary.

    ``table`` is the output of :func:`fourier_scale_selection`. The summary has one row per
    scale of the "Fourier on" runs: ``fourier_scale, mean, low, high, n, n_diverged`` (the
    95 % t-interval of the validation MSE across seeds, :func:`ntkbook.stats.t_interval` with
    the default "void" policy: a scale at which some seed diverged has no mean and cannot be
    selected) and ``selected``. The rule is fixed before any run: the smallest mean wins;
    ties go to the smaller scale. A ValueError says so when no scale trained on every seed.
    """
    if not isinstance(table, pd.DataFrame) or not {"variant", "fourier_scale", "seed", "val_mse"} <= set(table.columns):
        raise ValueError("The 'table' parameter of selected_scale must be the output of fourier_scale_selection.")
    rows = []
    for sigma, g in table[table["variant"] == "Fourier on"].groupby("fourier_scale", sort=True):
        iv = t_interval(g["val_mse"].to_numpy(float), bounds=(0.0, math.inf))
        rows.append({"fourier_scale": float(sigma), "mean": iv.mean, "low": iv.low, "high": iv.high, "n": iv.n,
                     "n_diverged": int(g["diverged"].sum())})
    summary = pd.DataFrame(rows, columns=["fourier_scale", "mean", "low", "high", "n", "n_diverged"])
    usable = summary[np.isfinite(summary["mean"]) & (summary["n_diverged"] == 0)]
    if usable.empty:
        raise ValueError("selected_scale found no Fourier scale at which every seed trained without diverging: "
                         f"scales {summary['fourier_scale'].tolist()}, diverged runs {summary['n_diverged'].tolist()}.")
    best = float(usable.sort_values(["mean", "fourier_scale"]).iloc[0]["fourier_scale"])
    summary["selected"] = np.isclose(summary["fourier_scale"], best)
    return best, summary


def fourier_ablation(
    *,
    variants: Mapping[str, Mapping[str, Any]],
    seeds: Sequence[int],
    data_kwargs: Mapping[str, Any],
    epochs: int,
    lr_fraction: float = 0.5,
    every: int = 10,
    dtype: torch.dtype = torch.float64,
    device=None,
) -> dict[str, pd.DataFrame]:
    """Train ECRN variants (for example with and without the Fourier embedding) on the sinusoid task.

    For each seed s the data are ``load_dataset("sinusoids", seed=s, **data_kwargs)`` and every
    variant ``name -> ecrn kwargs`` is built with seed s and trained by full-batch gradient
    descent for ``epochs`` steps at ``lr = lr_fraction * 2 n / lambda_max(0)`` of its own
    kernel (:func:`stable_lr`), so every variant takes the same relative step. A
    :class:`FrequencyErrorTracker` records the error of each frequency component on the test
    grid every ``every`` epochs. Any choice among variants (a Fourier scale) is made before,
    on validation data (:func:`fourier_scale_selection`): this is the one look at the test set.

    Returns a dict of DataFrames:

    * ``"errors"``: variant, seed, epoch, frequency, relative_error, captured; a run that
      diverged gets a row at epoch ``epochs`` with a NaN error for each frequency, so a
      summary of the final errors sees the divergence (and a verdict on it is inconclusive)
      instead of the last errors measured before it;
    * ``"runs"``: variant, seed, lr, lambda_max0, diverged, final test mse (NaN for a diverged
      run), seconds;
    * ``"fits"``: variant, seed, x, y_true, y_pred (the final prediction on the test grid).
    """
    owner = "fourier_ablation"
    if not isinstance(variants, Mapping) or not variants:
        fail("variants", owner, "a non-empty mapping name -> ECRN keyword arguments", variants)
    seeds = check_seeds(seeds, "seeds", owner)
    epochs = check_int(epochs, "epochs", owner)
    every = check_int(every, "every", owner)
    err_frames, run_rows, fit_frames = [], [], []
    for seed in seeds:
        data = load_dataset("sinusoids", seed=seed, dtype=dtype, device=device, **dict(data_kwargs))
        for name, kwargs in variants.items():
            tracker = FrequencyErrorTracker(data, every=every)
            res, lr, lam0, seconds = _train_at_own_step(data, kwargs, seed, epochs=epochs, lr_fraction=lr_fraction,
                                                        dtype=dtype, device=device, callbacks=[tracker])
            errs = tracker.frame()
            if res.diverged:  # its last errors are not a result: the final epoch reads NaN
                kept = errs[errs["epoch"] < epochs] if "epoch" in errs else errs
                errs = pd.concat([kept, _diverged_rows(errs, epochs)], ignore_index=True)
            errs.insert(0, "seed", seed)
            errs.insert(0, "variant", name)
            err_frames.append(errs)
            test_mse = math.nan if res.diverged else float(res.final("test").get("mse", math.nan))
            run_rows.append({"variant": name, "seed": seed, "lr": lr, "lambda_max0": lam0,
                             "diverged": bool(res.diverged), "cause": res.cause,
                             "test_mse": test_mse, "seconds": seconds})
            model = res.model
            with torch.no_grad():
                model.eval()
                pred = model(data.x_test).detach().cpu().double().numpy()[:, 0]
            fit_frames.append(pd.DataFrame({
                "variant": name, "seed": seed, "x": data.x_test.cpu().double().numpy()[:, 0],
                "y_true": data.y_test.cpu().double().numpy()[:, 0], "y_pred": pred}))
    return {"errors": pd.concat(err_frames, ignore_index=True), "runs": pd.DataFrame(run_rows),
            "fits": pd.concat(fit_frames, ignore_index=True)}


def final_errors(errors: pd.DataFrame) -> pd.DataFrame:
    """The last recorded relative error of every (variant, seed, frequency): a wide table.

    ``errors`` is the ``"errors"`` table of :func:`fourier_ablation`; the result has one row
    per seed and one column per ``(variant, frequency)``. A diverged run reads NaN (its last
    row is the NaN mark of :func:`fourier_ablation`), and so does a seed a variant lacks.
    """
    needed = {"variant", "seed", "epoch", "frequency", "relative_error"}
    if not isinstance(errors, pd.DataFrame) or not needed <= set(errors.columns):
        raise ValueError(f"The 'errors' parameter of final_errors must be the errors table of fourier_ablation "
                         f"(columns {sorted(needed)}). Got {type(errors).__name__} instead.")
    last = errors[errors["epoch"] == errors.groupby(["variant", "seed"])["epoch"].transform("max")]
    return last.pivot_table(index="seed", columns=["variant", "frequency"], values="relative_error", dropna=False)


def frequency_error_difference(errors: pd.DataFrame, variant_a: str, variant_b: str, frequency: float):
    """Seed-by-seed difference of the final relative error of one frequency component, a - b.

    Built on :func:`final_errors`; returns the :class:`ntkbook.stats.PairedDifference` of
    :func:`ntkbook.stats.paired_difference` (default "void" policy: a diverged seed, whose
    final error is NaN, leaves the interval NaN and any verdict on it inconclusive).
    """
    wide = final_errors(errors)
    cols = []
    for variant in (variant_a, variant_b):
        col = (variant, float(frequency))
        if col not in wide.columns:
            raise ValueError(f"frequency_error_difference found no final errors for variant {variant!r} at "
                             f"frequency {frequency!r}. Got columns {list(wide.columns)}.")
        cols.append(wide[col].to_numpy(float))
    return paired_difference(cols[0], cols[1])


def mode_rates(
    specs: Mapping[str, tuple[str, Mapping[str, Any]]],
    x: torch.Tensor,
    frequencies: Sequence[float],
    seeds: Sequence[int],
) -> pd.DataFrame:
    """How fast gradient descent fits each frequency, read off the NTK at initialization.

    For each variant, seed and frequency f the Rayleigh quotients of Theta (on the 1-D inputs
    ``x``, shape (N, 1)) along v = sin(2 pi f x) and v = cos(2 pi f x) are averaged and divided
    by lambda_max::

        rate(f) = mean_{v in (sin, cos)} (v^T Theta v / v^T v) / lambda_max(Theta)   in [0, 1].

    If v were an eigenvector, gradient descent at ``lr = fraction * 2n / lambda_max``
    (:func:`stable_lr`) would shrink the residual along it by 1 - 2 fraction rate(f) per step,
    so a small rate means a slowly learned mode (spectral bias, Rahaman et al. 2019).
    Returns ``variant, seed, frequency, rate``.
    """
    owner = "mode_rates"
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != 1:
        raise TypeError(f"The 'x' parameter of {owner} must be a torch.Tensor of shape (N, 1). "
                        f"Got {type(x).__name__} {tuple(getattr(x, 'shape', ()))} instead.")
    freqs = check_floats(frequencies, "frequencies", owner, 0.0, low_open=True)
    seeds = check_seeds(seeds, "seeds", owner)
    xs = x[:, 0].double().cpu()
    rows = []
    for name, (model_name, kwargs) in specs.items():
        for seed in seeds:
            model = build_model(model_name, 1, 1, seed=seed, **dict(kwargs)).to(device=x.device, dtype=x.dtype)
            theta = empirical_ntk(model, x).double().cpu()  # (N, N)
            lam = float(torch.linalg.eigvalsh(0.5 * (theta + theta.T))[-1])
            for f in freqs:
                q = []
                for v in (torch.sin(2 * math.pi * f * xs), torch.cos(2 * math.pi * f * xs)):
                    q.append(float(v @ theta @ v) / float(v @ v))
                rows.append({"variant": name, "seed": seed, "frequency": f, "rate": float(np.mean(q)) / lam})
    return pd.DataFrame(rows)
