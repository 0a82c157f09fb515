r"""The computations behind the ablation chapters of part II (stochastic depth, B-scale, width).

Stochastic depth and the expected NTK (chapter 8)
-------------------------------------------------
With a fixed depth mask m (m_l ~ Bernoulli(1 - p_l), independent) the ECRN is a deterministic
network with NTK Theta_m. Three kernels are compared:

* the exact mean E_m[Theta_m] over all 2^L masks, :func:`exact_expected_ntk`, and its Monte
  Carlo estimate :func:`ntkbook.ntk.expected_ntk` (with its standard error);
* the **(1 - p_l)-weighted formula**, our reconstruction of the paper's Eq. (17) (its exact
  form is not public), :func:`weighted_ntk`. In the kernel recursion of the ECRN (see
  :func:`ntkbook.analytic.ecrn_kernels`) block l enters through m_l^2 alpha_l^2::

      Theta_{l+1} = Theta_l + m_l^2 alpha_l^2 E[act'(u) act'(v)] (Sigma_l + w_std^2 Theta_l)
      K_{l+1}     = K_l     + m_l^2 alpha_l^2 E[act(u) act(v)]            (odd act)

  Replacing m_l^2 by its expectation E[m_l^2] = 1 - p_l gives the recursion of a
  deterministic network whose branch l is scaled by alpha_l sqrt(1 - p_l): the expected
  NTK is then the NTK of that network, each block's increment weighted by (1 - p_l). The
  step is exact for every term that is linear in each m_l and whose coefficients do not
  depend on the other masks; it neglects that the Gaussian expectations of block l depend
  on the masks of the blocks before it (an effect that survives the infinite-width limit
  for L >= 2, :func:`analytic_formula_gap`) and, at finite width, the cross terms between a
  branch and the path it is added to;
* the **eval-mode kernel** (the NTK of ``model.eval()``, branch scaled by 1 - p_l), which
  weights each increment by (1 - p_l)^2: what one gets by default, and not the expectation.

The claim "the expected NTK follows the formula" is an identity, and the exact mean is
available, so it is judged on :func:`formula_gap`: the relative distance
||formula - E_m[Theta_m]||_F / ||E_m[Theta_m]||_F against :func:`roundoff_tolerance`, the
worst-case floating-point error of the two computations. A formula that is right lies
within it; one that is wrong by more than round-off does not, whatever the sample size.
:func:`kernel_gap` measures a reference against the Monte Carlo mean in units of its error
(z about 1 for the exact mean); it shows how little a Monte Carlo check can resolve.

Stochastic depth and the test error (chapter 8)
-----------------------------------------------
:func:`tuned_test_errors` trains the ECRN with and without stochastic depth under the same
budget: for each variant and seed, every learning rate of a grid is trained for the same
number of epochs, and the learning rate and the stopping epoch with the lowest MSE on a
validation split carved from the training points are kept (:func:`hold_out_validation`).
The test set is evaluated once, with the selected parameters.

B-scale and width (chapters 9 and 10)
-------------------------------------
:func:`bscale_point` trains the ECRN at one Fourier scale sigma over several seeds and
returns train, validation and test error, the test error per frequency component
(:func:`ntkbook.data.frequency_errors`) and the effective rank of the NTK at
initialization; :func:`bscale_contrasts` chooses sigma on the validation error, seed by
seed, and touches the test error only at the chosen and the largest scale.
:func:`width_kernel_change` trains ECRNs (or the models of any builder, such as chapter
beyond_attention's Transformer) of several widths and returns the relative change
||Theta_t - Theta_0||_F / ||Theta_0||_F over training, and :func:`final_kernel_change` its
value at the end, one row per (width, seed). The chapter fits the log-log slope against the
width seed by seed with :func:`ntkbook.stats.slope_interval`, whose one drop rule is that of
every interval of the book: a seed with a diverged or unfinished run has no slope, and by
default it voids the interval (inconclusive, never silently better);
:func:`rate_against_references` places the interval of the slope against the rates of
theory (-1/2 and -1).

Example::

    >>> import torch
    >>> from ntkbook.models import ECRN
    >>> model = ECRN(1, width=64, depth=3, n_fourier=8, drop_prob=0.2).double()
    >>> x = torch.rand(16, 1, dtype=torch.float64)      # (N, d)
    >>> weighted_ntk(model, x).shape                     # (N, N)
    torch.Size([16, 16])
    >>> gap = formula_gap(model, x)                      # 2^3 mask NTKs
    >>> gap["distance"] > gap["tolerance"]               # the formula is not exact at width 64
    True
"""

from __future__ import annotations

import contextlib
import itertools
import math

import numpy as np
import pandas as pd
import torch

from ntkbook._validation import check_float, check_floats, check_int, check_ints, check_seeds, fail
from ntkbook.ntk import ExpectedNTK, empirical_ntk, expected_ntk
from ntkbook.data import hold_out_validation
from ntkbook.stats import one_sided_p, paired_difference

__all__ = [
    "weighted_ntk",
    "eval_mode_ntk",
    "exact_expected_ntk",
    "roundoff_tolerance",
    "measured_roundoff",
    "formula_gap",
    "analytic_formula_gap",
    "kernel_gap",
    "expected_ntk_check",
    "mask_draw_trajectories",
    "tuned_test_errors",
    "bscale_point",
    "effective_rank",
    "width_kernel_change",
    "final_kernel_change",
    "bscale_contrasts",
    "rate_against_references",
    "MAX_ENUMERATED_DEPTH",
    "RATE_REFERENCES",
]

MAX_ENUMERATED_DEPTH = 12  # 2^12 = 4096 NTKs: beyond this, enumerating masks is too slow
# The two rates of theory for the kernel's change with width n (chapter 10): the upper bound
# of Jacot et al. 2018 and Lee et al. 2019, and the 1/n that the perturbative analysis of
# Dyer & Gur-Ari 2020 predicts for the NTK's change under gradient descent.
RATE_REFERENCES = {"n^(-1/2)": -0.5, "1/n": -1.0}


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
    for mask, prob in _masks(drops):
        theta = empirical_ntk(model, x1, x2, depth_mask=torch.tensor(mask), **kwargs).to(torch.float64)
        total = prob * theta if total is None else total + prob * theta
    return total


def _masks(drop_probs):
    """Every 0/1 mask of nonzero probability with its probability prod_l (1-p_l)^m_l p_l^(1-m_l)."""
    for mask in itertools.product((0.0, 1.0), repeat=len(drop_probs)):
        prob = math.prod((1.0 - p) if m else p for m, p in zip(mask, drop_probs))
        if prob > 0.0:
            yield mask, prob


@contextlib.contextmanager
def _fixed_mask(model, mask):
    """Temporarily fix the depth mask of ``model`` (restoring the previous one)."""
    saved = model.depth_mask
    try:
        model.set_depth_mask(mask)
        yield model
    finally:
        model.set_depth_mask(saved)


def roundoff_tolerance(n_params: int, n_terms: int, n_points: int, dtype=torch.float64) -> float:
    """The largest relative Frobenius distance that round-off alone can put between two
    computations of an N x N NTK that agree in exact arithmetic: (n_params + n_terms) sqrt(N) u.

    Each entry Theta_ij = sum_a J_ia J_ja is a sum of P = ``n_params`` products; its computed
    value is off by at most gamma_P sum_a |J_ia J_ja|, with gamma_k ~ k u and u the unit
    round-off of ``dtype`` (Higham 2002, section 3.1). By Cauchy-Schwarz the matrix of those
    sums has Frobenius norm at most tr(Theta) <= sqrt(N) ||Theta||_F. A weighted sum of
    ``n_terms`` such kernels (the 2^L masks) adds n_terms u. The Jacobian's own error (a
    chain of L dense layers, O(L width) u per entry) is far below P u and is covered. The
    bound is a worst case: measured round-off (two NTK methods, ``formula_gap``'s
    ``roundoff``) is typically orders of magnitude smaller, so a formula that is right never
    fails it, and a distance above it is not round-off.
    """
    owner = "roundoff_tolerance"
    n_params = check_int(n_params, "n_params", owner)
    n_terms = check_int(n_terms, "n_terms", owner)
    n_points = check_int(n_points, "n_points", owner)
    if dtype not in (torch.float32, torch.float64):
        fail("dtype", owner, "torch.float32 or torch.float64", dtype)
    unit = torch.finfo(dtype).eps / 2  # unit round-off u
    return float((n_params + n_terms) * math.sqrt(n_points) * unit)


def measured_roundoff(model, x) -> float:
    """||Theta_structured - Theta_ntvp||_F / ||Theta||_F: the round-off actually seen between
    two computations of the model's NTK (every block kept) that agree in exact arithmetic
    (:class:`ntkbook.ntk.NTKMethod`). It depends on the weights and the inputs, not on the
    drop probabilities. Cost: one structured NTK and one NTK-vector-product NTK."""
    _check_stochastic_depth_model(model, "measured_roundoff")
    keep_all = torch.ones(len(model.drop_probs))
    plain = empirical_ntk(model, x, depth_mask=keep_all, method="structured").to(torch.float64)
    other = empirical_ntk(model, x, depth_mask=keep_all, method="ntvp").to(torch.float64)
    return float((plain - other).norm() / plain.norm())


def formula_gap(model, x, formula=None, *, exact=None, roundoff=None) -> dict[str, float]:
    """How far a formula for E_m[Theta_m] is from the exact expectation, against round-off.

    ``formula`` maps (model, x) to an (N, N) kernel (default :func:`weighted_ntk`, our
    reconstruction of Eq. (17)); ``exact`` is E_m[Theta_m] if already computed (else
    :func:`exact_expected_ntk`), and ``roundoff`` the :func:`measured_roundoff` of the model
    if already measured. Returns

    * ``distance``: ||formula - exact||_F / ||exact||_F, in float64;
    * ``tolerance``: :func:`roundoff_tolerance` for this model, N and the 2^L masks;
    * ``roundoff``: the measured round-off, for comparison with the tolerance.

    Cost: 2^L structured NTKs for the mean (none when ``exact`` is given), the formula's
    own cost, and :func:`measured_roundoff` (none when ``roundoff`` is given).
    """
    owner = "formula_gap"
    _check_stochastic_depth_model(model, owner)
    formula = weighted_ntk if formula is None else formula
    if not callable(formula):
        fail("formula", owner, "a callable (model, x) -> kernel, or None", formula)
    ex = exact_expected_ntk(model, x) if exact is None else torch.as_tensor(exact).to(torch.float64)
    ref = torch.as_tensor(formula(model, x)).to(device=ex.device, dtype=torch.float64)
    if ref.shape != ex.shape:
        fail("formula", owner, f"a callable returning a kernel of shape {tuple(ex.shape)}", tuple(ref.shape))
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_masks = sum(1 for _ in _masks(model.drop_probs))
    dtype = next(model.parameters()).dtype
    return {
        "distance": float((ref - ex).norm() / ex.norm()),
        "tolerance": roundoff_tolerance(n_params, n_masks, x.shape[0], dtype),
        "roundoff": measured_roundoff(model, x) if roundoff is None else float(roundoff),
    }


def analytic_formula_gap(model, x, **kwargs) -> float:
    """The formula's relative distance from the exact expectation in the infinite-width limit.

    Both sides are the width -> inf NTK of the model's architecture with its B
    (:func:`ntkbook.analytic.model_kernels`): the limit of :func:`weighted_ntk` (every block
    kept, branch l scaled by alpha_l sqrt(1 - p_l)) against sum_m P(m) Theta_m^inf over all
    2^L masks. For L = 1 the two agree (up to round-off); for L >= 2 the Gaussian expectations
    of block l depend on the earlier masks, which the formula neglects. Other keyword
    arguments (``method``, ``n_quad``) go to model_kernels. Cost: 2^L + 1 analytic kernels.
    """
    from ntkbook.analytic import model_kernels

    owner = "analytic_formula_gap"
    _check_stochastic_depth_model(model, owner)
    drops = list(model.drop_probs)
    if len(drops) > MAX_ENUMERATED_DEPTH:
        fail("model", owner, f"a model of depth <= {MAX_ENUMERATED_DEPTH} (2^depth masks are enumerated)",
             f"depth {len(drops)}")
    exact = None
    for mask, prob in _masks(drops):
        with _fixed_mask(model, mask):
            theta = model_kernels(model, x, **kwargs)[1]
        exact = prob * theta if exact is None else exact + prob * theta
    with _scaled_branches(model, [math.sqrt(1.0 - p) for p in drops]), _fixed_mask(model, [1.0] * len(drops)):
        formula = model_kernels(model, x, **kwargs)[1]
    return float((formula - exact).norm() / exact.norm())


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
                       fourier_scale=2.0, n_samples=64, limit_at=None, dtype=torch.float64,
                       device="cpu") -> pd.DataFrame:
    """The weighted formula and the eval-mode kernel against the exact E_m[Theta_m].

    For every drop probability p (the same for every block) and every initialization seed,
    builds an ECRN (1-d inputs uniform on [0, 1], drawn with the seed) and computes the exact
    expected NTK over all 2^depth masks (:func:`exact_expected_ntk`). Columns:

    * ``formula_bias``, ``eval_bias``: relative distance of :func:`weighted_ntk` and of
      :func:`eval_mode_ntk` from the exact mean (:func:`formula_gap`);
    * ``tolerance``, ``roundoff``: the round-off allowance and the measured round-off;
    * ``formula_z``, ``eval_z``, ``exact_z`` (and ``*_relative_gap``,
      ``formula_relative_stderr``): :func:`kernel_gap` of each kernel to a Monte Carlo mean of
      ``n_samples`` masks (:func:`ntkbook.ntk.expected_ntk`), which shows what a sampled
      check can resolve; ``n_samples=0`` skips it;
    * ``limit_bias``: for p = ``limit_at`` and the first seed only (NaN elsewhere), the
      formula's distance in the infinite-width limit, :func:`analytic_formula_gap`
      (2^depth + 1 analytic kernels); ``limit_at=None`` skips it.

    Cost per (p, seed): 2^depth + 2 structured NTKs of N = n_points and ``n_samples`` more
    for the Monte Carlo part; per seed, one :func:`measured_roundoff`. Returns one row per
    (p, seed).
    """
    from ntkbook.models import ECRN

    owner = "expected_ntk_check"
    drop_probs = check_floats(drop_probs, "drop_probs", owner, 0.0, 1.0, high_open=True)
    seeds = check_seeds(seeds, "seeds", owner)
    n_samples = check_int(n_samples, "n_samples", owner, low=0)
    if n_samples == 1:
        fail("n_samples", owner, "0 (no Monte Carlo part) or an int >= 2", n_samples)
    depth = check_int(depth, "depth", owner, high=MAX_ENUMERATED_DEPTH)
    if limit_at is not None and not any(math.isclose(limit_at, p) for p in drop_probs):
        fail("limit_at", owner, f"None or one of drop_probs {drop_probs}", limit_at)
    rows, roundoff = [], {}  # the weights of seed s do not depend on p: one round-off per seed
    for p in drop_probs:
        for seed in seeds:
            gen = torch.Generator().manual_seed(10_000 + seed)
            x = torch.rand(n_points, 1, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
            model = ECRN(1, width=width, depth=depth, n_fourier=n_fourier, fourier_scale=fourier_scale,
                         drop_prob=p, seed=seed).to(device=device, dtype=dtype)
            ex = exact_expected_ntk(model, x)
            formula, evalk = weighted_ntk(model, x), eval_mode_ntk(model, x)
            if seed not in roundoff:
                roundoff[seed] = measured_roundoff(model, x)
            gap = formula_gap(model, x, lambda m, z, k=formula: k, exact=ex, roundoff=roundoff[seed])
            row = {"p": p, "seed": seed, "formula_bias": gap["distance"],
                   "eval_bias": float((evalk.double() - ex).norm() / ex.norm()),
                   "tolerance": gap["tolerance"], "roundoff": gap["roundoff"]}
            if n_samples:
                mc = expected_ntk(model, x, n_samples, seed=seed)
                row.update({f"formula_{k}": v for k, v in kernel_gap(mc, formula).items()})
                row.update({f"eval_{k}": v for k, v in kernel_gap(mc, evalk).items() if k != "relative_stderr"})
                row.update({f"exact_{k}": v for k, v in kernel_gap(mc, ex).items() if k != "relative_stderr"})
            if limit_at is not None:
                first = math.isclose(p, limit_at) and seed == seeds[0]
                row["limit_bias"] = analytic_formula_gap(model, x) if first else math.nan
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


# ----------------------------------------------------------------------------- tuned comparison
class _BestOnValidation:
    """A :func:`ntkbook.train.train` callback that keeps a copy of the parameters at the epoch
    of lowest MSE on the training Dataset's test split (the validation points); epoch 0,
    the untrained model, is a candidate too."""

    def __init__(self):
        self.records = []
        self.val_mse, self.epoch, self.state = math.inf, None, None

    def on_epoch_end(self, state):
        value = state.metrics.get("test/mse", math.nan)
        if value < self.val_mse:  # False for NaN
            self.val_mse, self.epoch = value, state.epoch
            self.state = {k: t.detach().clone() for k, t in state.model.state_dict().items()}


def _mse(model, x, y) -> float:
    """Plain mean squared error of ``model.eval()`` on (x, y), as :mod:`ntkbook.train` reports it."""
    model.eval()
    with torch.no_grad():
        out = model(x.to(next(model.parameters()).dtype))
    return float((out - y.to(out.dtype)).square().mean())


def tuned_test_errors(drop_probs, seeds, *, lrs=(1.0, 2.0, 4.0), n_train=64, n_val=16, n_test=256,
                      frequencies=(1.0, 3.0), amplitudes=(1.0, 0.5), noise=0.1, width=128, depth=6,
                      n_fourier=32, fourier_scale=2.0, epochs=400, dtype=torch.float32,
                      device="cpu") -> pd.DataFrame:
    """Test MSE of the ECRN at each drop probability, tuned on validation data with one budget.

    For each seed, draws the sinusoid task with ``n_train + n_val`` training points and holds
    the last ``n_val`` out (:func:`hold_out_validation`). For each drop probability p and each
    learning rate of ``lrs``, trains the ECRN (initialized with the seed) by full-batch
    gradient descent for ``epochs`` epochs and keeps the parameters of its epoch of lowest
    validation MSE. Per (p, seed) the (learning rate, epoch) with the lowest validation MSE
    is selected (the smallest such learning rate on a tie) and only that model is evaluated
    on the test set, once. Every p gets the same grid and the same number of epochs.

    A run that diverges stops; its checkpoint before the divergence stays a candidate (early
    stopping would have kept it). If no run of a (p, seed) has a finite validation MSE, its
    test MSE is NaN, which voids the interval of any comparison that needs it.

    Returns one row per (p, seed, lr): p, seed, lr, epoch (the best validation epoch),
    val_mse, train_mse (at that epoch, on the fitted points), diverged, selected, and
    test_mse (NaN except on the selected row). Cost: len(lrs) * len(drop_probs) *
    len(seeds) training runs of ``epochs`` steps.
    """
    from ntkbook.data import load_dataset
    from ntkbook.models import ECRN
    from ntkbook.train import train

    owner = "tuned_test_errors"
    drop_probs = check_floats(drop_probs, "drop_probs", owner, 0.0, 1.0, high_open=True)
    seeds = check_seeds(seeds, "seeds", owner)
    lrs = check_floats(lrs, "lrs", owner, 0.0, low_open=True)
    n_train = check_int(n_train, "n_train", owner, low=2)
    n_val = check_int(n_val, "n_val", owner)
    epochs = check_int(epochs, "epochs", owner)
    rows = []
    for seed in seeds:
        data = load_dataset("sinusoids", n_train=n_train + n_val, n_test=n_test, seed=seed, dtype=dtype,
                            frequencies=list(frequencies), amplitudes=list(amplitudes), noise=noise)
        fit = hold_out_validation(data, n_val)
        for p in drop_probs:
            runs = []
            for lr in lrs:
                model = ECRN(1, 1, width=width, depth=depth, n_fourier=n_fourier, fourier_scale=fourier_scale,
                             drop_prob=p, seed=seed).to(dtype=dtype)
                best = _BestOnValidation()
                res = train(model, fit, optimizer="gd", lr=lr, epochs=epochs, seed=seed, device=device,
                            callbacks=[best], progress=False)
                train_mse = math.nan
                if best.state is not None:
                    model.load_state_dict(best.state)
                    train_mse = _mse(model, fit.x_train.to(device), fit.y_train.to(device))
                runs.append((model, best))
                rows.append({"p": p, "seed": seed, "lr": lr, "epoch": best.epoch if best.epoch is not None else -1,
                             "val_mse": best.val_mse if best.state is not None else math.nan,
                             "train_mse": train_mse, "diverged": bool(res.diverged), "selected": False,
                             "test_mse": math.nan})
            own = rows[-len(lrs):]
            finite = [i for i, r in enumerate(own) if math.isfinite(r["val_mse"])]
            if finite:
                i = min(finite, key=lambda j: (own[j]["val_mse"], own[j]["lr"]))
                own[i]["selected"] = True
                own[i]["test_mse"] = _mse(runs[i][0], data.x_test.to(device), data.y_test.to(device))  # the one test evaluation
            else:
                own[0]["selected"] = True  # nothing to select: the (p, seed) keeps a NaN row
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- B-scale
def effective_rank(kernel: torch.Tensor) -> float:
    """Participation ratio (sum lambda)^2 / sum lambda^2 of the eigenvalues (clipped at 0) of a
    symmetric kernel: 1 for a rank-one kernel, N for a multiple of the identity."""
    from ntkbook.train import ntk_spectrum_metrics

    return float(ntk_spectrum_metrics(kernel, top_k=1)["effective_rank"])


def bscale_point(fourier_scale, seeds, *, n_train=48, n_val=16, n_test=256, frequencies=(1.0, 5.0),
                 amplitudes=(1.0, 0.5), noise=0.1, width=128, depth=4, n_fourier=32, lr=0.5,
                 epochs=200, dtype=torch.float32, device="cpu") -> pd.DataFrame:
    """Train the ECRN with Fourier scale sigma = ``fourier_scale`` on 1-d sinusoid regression.

    Each seed draws ``n_train`` training points (and the noise, B and the weights); the last
    ``n_val`` of them are held out for validation (:func:`hold_out_validation`) and the
    network is fitted to the others by full-batch gradient descent for ``epochs`` steps, the
    same recipe at every scale. Stochastic depth is off (drop_prob = 0) so only sigma varies.

    One row per seed: train_mse (on the fitted points), val_mse (on the held-out points),
    test_mse (plain MSE against the clean target on a grid of ``n_test`` points), gap =
    test_mse - train_mse, one ``freq_error_k`` per frequency k (the relative error of the
    prediction's component at frequency k on the test grid, :func:`ntkbook.data.frequency_errors`),
    the effective rank of the NTK at initialization on the fitted inputs
    (:func:`effective_rank`), diverged and source. A diverged run has NaN errors. Nothing
    here is chosen on the test errors; :func:`bscale_contrasts` chooses sigma on val_mse.
    Cost per seed: ``epochs`` full-batch steps plus one NTK of n_train - n_val points.
    """
    from ntkbook.data import frequency_errors, load_dataset
    from ntkbook.models import ECRN
    from ntkbook.train import train

    owner = "bscale_point"
    sigma = check_float(fourier_scale, "fourier_scale", owner, 0.0)
    seeds = check_seeds(seeds, "seeds", owner)
    n_train = check_int(n_train, "n_train", owner, low=4)
    n_val = check_int(n_val, "n_val", owner, low=1, high=n_train - 2)
    rows = []
    for seed in seeds:
        data = load_dataset("sinusoids", n_train=n_train, n_test=n_test, seed=seed, dtype=dtype,
                            frequencies=list(frequencies), amplitudes=list(amplitudes), noise=noise)
        fit = hold_out_validation(data, n_val)
        model = ECRN(1, 1, width=width, depth=depth, n_fourier=n_fourier, fourier_scale=sigma,
                     drop_prob=0.0, seed=seed).to(dtype=dtype)
        rank = effective_rank(empirical_ntk(model, fit.x_train.to(dtype)))
        res = train(model, fit, optimizer="gd", lr=lr, epochs=epochs, seed=seed, device=device, progress=False)
        row = {"fourier_scale": sigma, "seed": seed}
        n_freq = len(data.extras["frequencies"])
        if res.diverged:
            row.update({"train_mse": math.nan, "val_mse": math.nan, "test_mse": math.nan})
            row.update({f"freq_error_{k}": math.nan for k in range(n_freq)})
        else:
            model.eval()
            with torch.no_grad():
                pred = model(data.x_test.to(device=device, dtype=dtype))
            row.update({"train_mse": res.final("train")["mse"], "val_mse": res.final("test")["mse"],
                        "test_mse": float((pred.cpu() - data.y_test.to(pred.dtype)).square().mean())})
            per_freq = frequency_errors(data, pred, "test")["relative_error"].tolist()
            row.update({f"freq_error_{k}": v for k, v in enumerate(per_freq)})
        row.update({"gap": row["test_mse"] - row["train_mse"], "effective_rank": rank,
                    "diverged": bool(res.diverged), "source": fit.source})
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- width
def width_kernel_change(widths, seeds, *, n_train=32, n_test=64, depth=4, n_fourier=16,
                        fourier_scale=2.0, drop_prob=0.0, lr=0.5, epochs=100, ntk_every=10,
                        dtype=torch.float32, device="cpu", data=None, builder=None, model_kwargs=None,
                        lr_fraction=None) -> pd.DataFrame:
    """The relative NTK change ||Theta_t - Theta_0||_F / ||Theta_0||_F over training, per width.

    For each seed and width, trains a model by full-batch gradient descent and records the
    change of its eval-mode NTK on the training inputs every ``ntk_every`` epochs. By default
    the model is an ECRN (NTK parameterization, so the learning rate needs no rescaling with
    the width) on 1-d sinusoid regression:

    * ``data``: one :class:`~ntkbook.data.Dataset` for every seed; None (default) draws the
      sinusoid task of each seed with ``n_train``, ``n_test`` and ``dtype`` (unused otherwise);
    * ``builder``: a model builder ``builder(data, seed, width=width, depth=depth,
      **model_kwargs)`` (see :data:`ntkbook.experiments.mechanisms.ModelBuilder`, e.g.
      :func:`ntkbook.experiments.beyond_attention.build_transformer`); None (default) is
      :func:`ntkbook.experiments.mechanisms.build_ecrn` with ``n_fourier``, ``fourier_scale``
      and ``drop_prob`` (unused otherwise) and ``model_kwargs``;
    * the step: ``lr``, one fixed step for every run, or ``lr_fraction`` rho in (0, 1) (then
      ``lr=None``), each run's own step ``rho * 2 n / lambda_max(0)`` of its kernel
      (:func:`ntkbook.experiments.mechanisms.stable_lr`).

    Returns tidy rows: width, seed, epoch, kernel_change, train_mse, diverged, and with
    ``lr_fraction`` also lr (each run's step). Cost: len(widths) len(seeds) runs of
    ``epochs`` steps, each with about ``epochs // ntk_every + 2`` NTKs of n x n.
    """
    from ntkbook.data import Dataset, load_dataset
    from ntkbook.experiments.mechanisms import build_ecrn, stable_lr
    from ntkbook.train import NTKTracker, train

    owner = "width_kernel_change"
    widths = check_ints(widths, "widths", owner)
    seeds = check_seeds(seeds, "seeds", owner)
    depth = check_int(depth, "depth", owner)
    epochs, ntk_every = check_int(epochs, "epochs", owner, low=0), check_int(ntk_every, "ntk_every", owner)
    if (lr is None) == (lr_fraction is None):
        fail("lr", owner, "a float >= 0 when 'lr_fraction' is None, else None (give exactly one of "
             "'lr' and 'lr_fraction')", lr)
    if lr is not None:
        check_float(lr, "lr", owner)
    else:
        lr_fraction = check_float(lr_fraction, "lr_fraction", owner, 0.0, 1.0, low_open=True, high_open=True)
    if data is not None and not isinstance(data, Dataset):
        fail("data", owner, "None or an ntkbook.data.Dataset", type(data).__name__)
    if builder is not None and not callable(builder):
        fail("builder", owner, "None or a callable (data, seed, **kwargs) -> torch.nn.Module", builder)
    kwargs = dict(model_kwargs or {})
    ecrn_keys = ("n_fourier", "fourier_scale", "drop_prob") if builder is None else ()
    for bad in ("width", "depth", "seed", *ecrn_keys):
        if bad in kwargs:
            fail("model_kwargs", owner, f"a mapping without {bad!r} (the experiment sets it)", model_kwargs)
    if builder is None:
        builder = build_ecrn
        kwargs.update(n_fourier=n_fourier, fourier_scale=fourier_scale, drop_prob=drop_prob)
    columns = ["width", "seed", "epoch", "kernel_change", "train_mse", "diverged"] + (["lr"] if lr is None else [])
    rows = []
    for seed in seeds:
        run_data = data if data is not None else load_dataset(
            "sinusoids", n_train=n_train, n_test=n_test, seed=seed, dtype=dtype, frequencies=[1.0, 3.0],
            amplitudes=[1.0, 0.5])
        for width in widths:
            model = builder(run_data, seed, width=width, depth=depth, **kwargs)
            step = lr if lr is not None else stable_lr(model, run_data.x_train, lr_fraction)[0]
            tracker = NTKTracker(len(run_data.x_train), every=ntk_every, top_k=1)
            res = train(model, run_data, optimizer="gd", lr=step, epochs=epochs, seed=seed, device=device,
                        callbacks=[tracker], progress=False)
            history = res.history
            train_mse = history[(history.split == "train") & (history.metric == "mse")].set_index("epoch")["value"]
            ntk = res.ntk[res.ntk.metric == "kernel_change"].set_index("epoch")["value"]
            for epoch, change in ntk.items():
                row = {"width": width, "seed": seed, "epoch": int(epoch), "kernel_change": float(change),
                       "train_mse": float(train_mse.get(epoch, math.nan)), "diverged": bool(res.diverged)}
                rows.append(row if lr is not None else {**row, "lr": step})
    return pd.DataFrame(rows, columns=columns)


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

    ``table`` holds one row per (fourier_scale, seed) with train_mse, val_mse, test_mse and
    gap (failed or diverged runs as NaN). For each seed s, sigma*_s is the scale of lowest
    validation MSE of that seed (chosen on validation data only; the smallest such scale on a
    tie). Then, seed by seed:

    * underfit: train_mse(smallest sigma) - train_mse(sigma*_s);
    * overfit: gap(largest sigma) - gap(sigma*_s), gap = test - train: the test error enters
      only at the chosen and the largest scale.

    Both should be positive. Returns the chosen scales, the per-seed differences, their
    means, 95 % t intervals, paired t statistics and one-sided p-values (for "above 0"),
    and the scales used. A seed whose validation errors are all NaN has no sigma*, and a
    NaN difference makes its interval NaN (the verdict is inconclusive, never silently
    better).
    """
    needed = {"fourier_scale", "seed", "train_mse", "val_mse", "test_mse", "gap"}
    if not isinstance(table, pd.DataFrame) or not needed <= set(table.columns):
        fail("table", "bscale_contrasts", f"a DataFrame with columns {sorted(needed)}",
             list(getattr(table, "columns", [])) or type(table).__name__)
    scales = sorted(table["fourier_scale"].unique())
    if len(scales) < 2:
        fail("table", "bscale_contrasts", "a table of at least two scales", scales)
    smallest, largest = float(scales[0]), float(scales[-1])
    wide = table.pivot_table(index="seed", columns="fourier_scale", values=["train_mse", "val_mse", "gap"],
                             dropna=False)
    chosen, under, over = {}, [], []
    for seed, row in wide.iterrows():
        val = row["val_mse"].reindex(scales).to_numpy(float)
        if np.isfinite(val).any():
            best = float(scales[int(np.nanargmin(val))])
            chosen[int(seed)] = best
            under.append(row["train_mse"][smallest] - row["train_mse"][best])
            over.append(row["gap"][largest] - row["gap"][best])
        else:
            chosen[int(seed)] = math.nan
            under.append(math.nan)
            over.append(math.nan)
    finite = [v for v in chosen.values() if math.isfinite(v)]
    out = {"smallest": smallest, "largest": largest, "chosen": chosen,
           "chosen_mode": float(pd.Series(finite).mode().min()) if finite else math.nan}
    for name, diff in (("underfit", np.asarray(under, float)), ("overfit", np.asarray(over, float))):
        test = paired_difference(diff, np.zeros_like(diff))
        out[name] = {"differences": diff.tolist(), "mean": test.mean_difference, "low": test.ci_low,
                     "high": test.ci_high, "t": test.t_statistic, "p_value": one_sided_p(test, "positive")}
    return out


def rate_against_references(low: float, high: float, references=None) -> dict[str, str]:
    """Where each reference exponent lies relative to the interval [low, high] of a slope.

    Returns, per name of ``references`` (default :data:`RATE_REFERENCES`), "inside" (the
    interval includes it), "steeper" (it is below the interval: the measured change falls
    more slowly) or "flatter" (above the interval: the measured change falls faster), or
    "undetermined" when the interval is not finite. Information only: no verdict rests on it.
    """
    references = RATE_REFERENCES if references is None else dict(references)
    out = {}
    for name, value in references.items():
        if not (math.isfinite(low) and math.isfinite(high)):
            out[name] = "undetermined"
        elif value < low:
            out[name] = "steeper"
        elif value > high:
            out[name] = "flatter"
        else:
            out[name] = "inside"
    return out
