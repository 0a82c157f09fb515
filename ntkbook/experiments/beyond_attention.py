r"""Experiments on eigenvalue control in attention models (the part "Beyond the paper", chapter beyond_attention).

The paper's open question 2 asks whether the residual scale alpha_l (and stochastic depth)
controls the largest NTK eigenvalue of a Transformer as it does for the ECRN. The model is
:class:`ntkbook.transformer.Transformer`; the task and the experiments are here, the notebook
only explains and plots. Chapter 06's design and helpers are reused wherever they fit: the
step of every run is :func:`ntkbook.experiments.mechanisms.stable_lr` of its own kernel, the
growth fit is :func:`~ntkbook.experiments.mechanisms.growth_table` and
:func:`~ntkbook.experiments.mechanisms.growth_exponents` (the runs table below has the columns
they read), and the final kernel change is chapter 10's
:func:`ntkbook.experiments.ablations.final_kernel_change`.

* :func:`reappearance_task`: does the first token of a sequence occur again later? A task
  whose answer needs tokens to be compared with each other (token mixing).
* :func:`attention_lambda_max_sweep`: lambda_max(t) of the NTK over training for a grid of
  alpha and depth, each run at ``lr_fraction`` of its own stability limit.
* :func:`depth_lambda_max0` and :func:`depth_slope_difference`: lambda_max(0) against the
  depth L for alpha_l = 1 and alpha_l = 1/sqrt(L), and the paired difference of the two
  log-log slopes over seeds.
* :func:`attention_width_kernel_change`: the relative change of the NTK during training
  against the width.
* :func:`kernel_shares`, :func:`kernel_share_table`: how much of the kernel's trace each
  group of parameters carries (the theory prediction for attention at initialization).
* :func:`ntk_times`: the time of one NTK by the structured rule and by torch.func Jacobians.

Example::

    >>> from ntkbook.experiments.beyond_attention import reappearance_task, build_transformer
    >>> data = reappearance_task(16, 8, seq_len=6, vocab=5, seed=0)
    >>> data.x_train.shape                                       # (n, T * V): one-hot tokens
    torch.Size([16, 30])
    >>> build_transformer(data, seed=0, width=16, depth=1)(data.x_train).shape
    torch.Size([16, 1])
"""

from __future__ import annotations

import math
import re
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ntkbook._validation import (check_float, check_floats, check_int, check_ints, check_option, check_seed,
                                 check_seeds, fail)
from ntkbook.data import Dataset, make_dataset
from ntkbook.experiments.ablations import width_kernel_change
from ntkbook.experiments.mechanisms import lambda_max_sweep
from ntkbook.ntk import empirical_ntk
from ntkbook.stats import paired_difference, slope_interval
from ntkbook.transformer import SCORE_SCALES, Transformer

__all__ = [
    "reappearance_task",
    "build_transformer",
    "attention_lambda_max_sweep",
    "sign_accuracy",
    "depth_lambda_max0",
    "depth_slope_difference",
    "attention_width_kernel_change",
    "PARAMETER_GROUPS",
    "parameter_group",
    "kernel_shares",
    "kernel_share_table",
    "ntk_times",
]

# The columns of the runs table of attention_lambda_max_sweep, in order.
_SWEEP_RUN_COLUMNS = ("alpha", "depth", "seed", "lr", "diverged", "diverged_epoch", "cause", "lambda_max0",
                     "lambda_max_final", "growth", "peak_ratio", "stability_ratio", "final_train_loss",
                     "test_accuracy", "seconds")

#: The parameter groups of :func:`kernel_shares`, by the name of the parameter.
PARAMETER_GROUPS = {
    "embedding": r"^embed\.",
    "query/key": r"\.attn\.(query|key)\.",
    "value/output": r"\.attn\.(value|out)\.",
    "MLP": r"\.mlp\.",
    "readout": r"^readout\.",
}


# ----------------------------------------------------------------------------- the task


def reappearance_task(n_train: int, n_test: int, *, seq_len: int = 8, vocab: int = 10, seed: int = 0,
                      dtype: torch.dtype = torch.float64, device=None) -> Dataset:
    """Sequences of ``seq_len`` tokens drawn uniformly from ``vocab`` symbols; the target is +1
    when the first token occurs again later in the sequence and -1 when it does not.

    Tokens are one-hot, flattened to x of shape (n, seq_len * vocab); y has shape (n, 1). A
    sequence is positive with probability 1 - (1 - 1/vocab)^(seq_len - 1) (0.52 for the
    defaults). Why the answer needs token mixing: a model that treats tokens separately and
    then pools them computes f(x) = sum_t g_t(x_t), and no such sum equals the target, whose
    dependence on x_1 changes with the other tokens (its mixed differences in x_1 and x_t are
    not 0). Seed s draws both splits from ``numpy.random.default_rng(s)``.
    ``extras`` holds ``seq_len``, ``vocab`` and the fraction of positive sequences.
    """
    owner = "reappearance_task"
    n_train, n_test = check_int(n_train, "n_train", owner, low=2), check_int(n_test, "n_test", owner)
    seq_len, vocab = check_int(seq_len, "seq_len", owner, low=2), check_int(vocab, "vocab", owner, low=2)
    rng = np.random.default_rng(check_seed(seed, "seed", owner))

    def draw(n):
        tokens = rng.integers(0, vocab, size=(n, seq_len))  # (n, T)
        y = np.where((tokens[:, 1:] == tokens[:, :1]).any(axis=1), 1.0, -1.0)  # (n,)
        return np.eye(vocab)[tokens].reshape(n, seq_len * vocab), y  # (n, T * V)

    (xtr, ytr), (xte, yte) = draw(n_train), draw(n_test)
    return make_dataset(xtr, ytr, xte, yte, task="regression", name="reappearance", device=device, dtype=dtype,
                        source=f"synthetic: does the first of {seq_len} tokens (from {vocab} symbols) reappear? "
                               f"(+1 / -1; {n_train} train, {n_test} test, seed {seed})",
                        feature_names=[f"t{t}={v}" for t in range(seq_len) for v in range(vocab)],
                        extras={"seq_len": seq_len, "vocab": vocab, "positive_fraction": float((ytr > 0).mean())})


def _check_data(data, owner):
    if not isinstance(data, Dataset) or not {"seq_len", "vocab"} <= set(data.extras):
        raise TypeError(f"The 'data' parameter of {owner} must be a Dataset of reappearance_task. "
                        f"Got {type(data).__name__} instead.")


def build_transformer(data: Dataset, seed: int, **kwargs) -> Transformer:
    """The :class:`~ntkbook.transformer.Transformer` for the sequences of ``data`` (a
    :func:`reappearance_task`), with ``seed`` and any other keyword arguments, on the data's
    device and dtype."""
    _check_data(data, "build_transformer")
    model = Transformer(data.extras["seq_len"], data.extras["vocab"], data.out_features, seed=seed, **kwargs)
    return model.to(device=data.x_train.device, dtype=data.x_train.dtype)


@torch.no_grad()
def sign_accuracy(model: torch.nn.Module, data: Dataset) -> float:
    """The fraction of test sequences whose sign the model (in eval mode) gets right."""
    was = model.training
    model.eval()
    pred = model(data.x_test)
    model.train(was)
    return float((torch.sign(pred) == torch.sign(data.y_test)).double().mean())


def _no_sweep_keys(model_kwargs, owner, keys):
    kwargs = dict(model_kwargs or {})
    for bad in keys:
        if bad in kwargs:
            fail("model_kwargs", owner, f"a mapping without {bad!r} (the experiment sets it)", model_kwargs)
    return kwargs


# ----------------------------------------------------------------------------- lambda_max(t)


def attention_lambda_max_sweep(
    data: Dataset,
    *,
    alphas: Sequence[float],
    depths: Sequence[int],
    seeds: Sequence[int],
    lr_fraction: float = 0.5,
    epochs: int,
    ntk_every: int = 5,
    model_kwargs: Mapping[str, Any] | None = None,
    divergence_threshold: float = 1e4,
    device=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train a Transformer for every (alpha, depth, seed) and record lambda_max(t) of its NTK.

    Chapter 06's loop, :func:`ntkbook.experiments.mechanisms.lambda_max_sweep` with
    ``builder=``:func:`build_transformer`: full-batch gradient descent for ``epochs`` steps
    at ``lr = lr_fraction * 2 n / lambda_max(0)`` of the run's own kernel
    (:func:`~ntkbook.experiments.mechanisms.stable_lr`), the same alpha in every branch, the
    NTK on all n training inputs every ``ntk_every`` epochs. For a seed the weights are the
    same draw for every alpha. A run whose loss passes ``divergence_threshold`` or becomes
    non-finite is stopped and marked diverged.

    Returns
    -------
    curves : DataFrame
        ``alpha, depth, seed, epoch, lambda_max, train_loss``.
    runs : DataFrame
        One row per run with the columns of ``lambda_max_sweep``'s runs table that
        :func:`~ntkbook.experiments.mechanisms.growth_table` and ``add_init_factor`` read
        and ``test_accuracy``, in this order: ``alpha, depth, seed, lr, diverged,
        diverged_epoch, cause, lambda_max0, lambda_max_final, growth, peak_ratio,
        stability_ratio, final_train_loss, test_accuracy, seconds``.
        ``growth = max_t |lambda_max(t) - lambda_max(0)|`` (NaN for a diverged run).

    Cost: len(alphas) len(depths) len(seeds) runs, each ``epochs`` steps and
    ``epochs // ntk_every + 2`` NTKs of n x n.
    """
    owner = "attention_lambda_max_sweep"
    _check_data(data, owner)
    alphas = check_floats(alphas, "alphas", owner, 0.0)
    depths = check_ints(depths, "depths", owner)
    seeds = check_seeds(seeds, "seeds", owner)
    lr_fraction = check_float(lr_fraction, "lr_fraction", owner, 0.0, 1.0, low_open=True, high_open=True)
    epochs, ntk_every = check_int(epochs, "epochs", owner), check_int(ntk_every, "ntk_every", owner)
    kwargs = _no_sweep_keys(model_kwargs, owner, ("alpha", "depth", "seed"))
    curves, runs = lambda_max_sweep(data, alphas=alphas, depths=depths, seeds=seeds, lr_fraction=lr_fraction,
                                    epochs=epochs, ntk_every=ntk_every, model_kwargs=kwargs,
                                    divergence_threshold=divergence_threshold, device=device,
                                    builder=build_transformer, extra_metrics=_test_accuracy)
    return curves, runs[list(_SWEEP_RUN_COLUMNS)]


def _test_accuracy(result, data: Dataset) -> dict[str, float]:
    """The runs column the sweep adds: :func:`sign_accuracy` of the trained model (NaN if it diverged)."""
    return {"test_accuracy": math.nan if result.diverged else sign_accuracy(result.model, data)}


# ----------------------------------------------------------------------------- lambda_max(0) against depth


def depth_lambda_max0(data: Dataset, *, depths: Sequence[int], seeds: Sequence[int],
                      schedules: Mapping[str, object], model_kwargs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """lambda_max(0) of the NTK on the training inputs for every branch-scale schedule, depth and seed.

    ``schedules`` maps a label to an ``alpha`` of the Transformer (``1.0``, ``"1/sqrt(L)"``,
    ...). For a seed the weights of the blocks the depths share are the same draw. Returns
    ``schedule, depth, seed, sum_alpha2, lambda_max0`` (sum_alpha2 = sum_l alpha_l^2).
    Cost: one n x n NTK per row.
    """
    owner = "depth_lambda_max0"
    _check_data(data, owner)
    depths, seeds = check_ints(depths, "depths", owner), check_seeds(seeds, "seeds", owner)
    if not isinstance(schedules, Mapping) or not schedules:
        fail("schedules", owner, "a non-empty mapping label -> alpha", schedules)
    kwargs = _no_sweep_keys(model_kwargs, owner, ("alpha", "depth", "seed"))
    rows = []
    for label, alpha in schedules.items():
        for depth in depths:
            for seed in seeds:
                model = build_transformer(data, seed, depth=depth, alpha=alpha, **kwargs)
                lam = float(torch.linalg.eigvalsh(empirical_ntk(model, data.x_train).double())[-1])
                rows.append({"schedule": label, "depth": depth, "seed": seed,
                             "sum_alpha2": float(sum(a * a for a in model.alphas)), "lambda_max0": lam})
    return pd.DataFrame(rows, columns=["schedule", "depth", "seed", "sum_alpha2", "lambda_max0"])


def depth_slope_difference(table: pd.DataFrame, *, scaled: str, constant: str) -> dict:
    """The log-log slopes of lambda_max(0) against the depth, per seed, and their paired difference.

    For each schedule of ``table`` (the output of :func:`depth_lambda_max0`) one least-squares
    slope per seed (:func:`ntkbook.stats.slope_interval`, x = depth); then the seed-by-seed
    difference slope(``scaled``) - slope(``constant``) (:func:`ntkbook.stats.paired_difference`;
    a seed without a slope voids the interval). Returns ``{"slopes": DataFrame schedule, seed,
    slope, intercept, n_points; "fits": {label: slope_interval result}; "difference":
    PairedDifference}``.
    """
    owner = "depth_slope_difference"
    needed = {"schedule", "depth", "seed", "lambda_max0"}
    if not isinstance(table, pd.DataFrame) or not needed <= set(table.columns):
        fail("table", owner, f"the table of depth_lambda_max0 (columns {sorted(needed)})",
             list(getattr(table, "columns", [])) or type(table).__name__)
    fits, frames = {}, []
    for label in (scaled, constant):
        part = table[table["schedule"] == label]
        if part.empty:
            fail("scaled" if label == scaled else "constant", owner,
                 f"one of the schedules {sorted(table['schedule'].unique())}", label)
        fits[label] = slope_interval(part, x="depth", y="lambda_max0", by="seed")
        frames.append(fits[label]["slopes"].assign(schedule=label))
    a = fits[scaled]["slopes"].set_index("seed")["slope"]
    b = fits[constant]["slopes"].set_index("seed")["slope"].reindex(a.index)
    slopes = pd.concat(frames, ignore_index=True)[["schedule", "seed", "slope", "intercept", "n_points"]]
    return {"slopes": slopes, "fits": fits, "difference": paired_difference(a.to_numpy(float), b.to_numpy(float))}


# ----------------------------------------------------------------------------- kernel change against width


def attention_width_kernel_change(data: Dataset, *, widths: Sequence[int], seeds: Sequence[int], depth: int,
                                  alpha: object = "1/sqrt(L)", lr_fraction: float = 0.5, epochs: int,
                                  ntk_every: int = 10, model_kwargs: Mapping[str, Any] | None = None,
                                  device=None) -> pd.DataFrame:
    """The relative NTK change ||Theta_t - Theta_0||_F / ||Theta_0||_F over training, per width.

    Chapter 10's loop, :func:`ntkbook.experiments.ablations.width_kernel_change` with
    ``builder=``:func:`build_transformer` and this ``data`` for every seed: for each width and
    seed, full-batch gradient descent at ``lr_fraction`` of the run's own stability limit
    (:func:`~ntkbook.experiments.mechanisms.stable_lr`; in NTK parameterization the limit
    converges as the width grows, so the steps do too), the NTK on the training inputs every
    ``ntk_every`` epochs. Returns the columns of
    :func:`ntkbook.experiments.ablations.width_kernel_change` (width, seed, epoch,
    kernel_change, train_mse, diverged), which ``final_kernel_change`` reads, and lr.
    """
    owner = "attention_width_kernel_change"
    _check_data(data, owner)
    widths, seeds = check_ints(widths, "widths", owner), check_seeds(seeds, "seeds", owner)
    depth = check_int(depth, "depth", owner)
    lr_fraction = check_float(lr_fraction, "lr_fraction", owner, 0.0, 1.0, low_open=True, high_open=True)
    epochs, ntk_every = check_int(epochs, "epochs", owner), check_int(ntk_every, "ntk_every", owner)
    kwargs = _no_sweep_keys(model_kwargs, owner, ("width", "depth", "alpha", "seed"))
    return width_kernel_change(widths, seeds, data=data, builder=build_transformer, depth=depth,
                               model_kwargs={"alpha": alpha, **kwargs}, lr=None, lr_fraction=lr_fraction,
                               epochs=epochs, ntk_every=ntk_every, device=device)


# ----------------------------------------------------------------------------- the kernel by parameter group


def parameter_group(name: str) -> str:
    """The group of :data:`PARAMETER_GROUPS` a Transformer parameter belongs to (by its name)."""
    for group, pattern in PARAMETER_GROUPS.items():
        if re.search(pattern, name):
            return group
    fail("name", "parameter_group", f"a parameter name matching one of {list(PARAMETER_GROUPS)}", name)


def kernel_shares(model: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    """The share of each parameter group in the trace of the NTK on ``x``: tr(Theta_g) / tr(Theta).

    The NTK is a sum over parameters, Theta = sum_g Theta_g with Theta_g = J_g J_g^T the kernel
    of group g alone, so the shares of the groups present add up to 1. Each Theta_g is computed
    by :func:`ntkbook.ntk.empirical_ntk` with only that group's parameters trainable (restored
    after). Cost: one NTK per group.
    """
    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    groups = {name: parameter_group(name) for name, _ in params}
    traces = {}
    try:
        for group in dict.fromkeys(groups.values()):
            for name, p in params:
                p.requires_grad_(groups[name] == group)
            traces[group] = float(torch.diagonal(empirical_ntk(model, x)).sum())
    finally:
        for _, p in params:
            p.requires_grad_(True)
    total = sum(traces.values())
    return {group: t / total for group, t in traces.items()}


def kernel_share_table(data: Dataset, *, widths: Sequence[int], seeds: Sequence[int],
                       score_scales: Sequence[str] = SCORE_SCALES, n_points: int | None = None,
                       model_kwargs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """:func:`kernel_shares` at initialization for every score scale, width and seed.

    On the first ``n_points`` training inputs (all when None). Returns ``score_scale, width,
    seed, group, share``. Cost: five NTKs per (score scale, width, seed).
    """
    owner = "kernel_share_table"
    _check_data(data, owner)
    widths, seeds = check_ints(widths, "widths", owner), check_seeds(seeds, "seeds", owner)
    scales = [check_option(s, "score_scales", owner, SCORE_SCALES) for s in score_scales]
    x = data.x_train if n_points is None else data.x_train[:check_int(n_points, "n_points", owner, low=2)]
    kwargs = _no_sweep_keys(model_kwargs, owner, ("width", "score_scale", "seed"))
    rows = []
    for scale in scales:
        for width in widths:
            for seed in seeds:
                model = build_transformer(data, seed, width=width, score_scale=scale, **kwargs)
                for group, share in kernel_shares(model, x).items():
                    rows.append({"score_scale": scale, "width": width, "seed": seed, "group": group, "share": share})
    return pd.DataFrame(rows, columns=["score_scale", "width", "seed", "group", "share"])


# ----------------------------------------------------------------------------- timing


def ntk_times(data: Dataset, *, widths: Sequence[int], depth: int, n_points: int,
              methods: Sequence[str] = ("structured", "jacobian", "auto"), repeats: int = 3,
              model_kwargs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Seconds for one NTK of the Transformer on ``n_points`` training inputs, by method and width.

    Each method of :func:`ntkbook.ntk.empirical_ntk` runs once to warm up and then ``repeats``
    times; the best time is kept (the usual protocol: the minimum is the least disturbed by
    other work on the machine). Returns ``width, depth, n_points, n_params, method, resolved``
    (what ``auto`` chose), ``seconds``, ``n_fallback`` (parameters without a structured rule,
    computed by Jacobians) and ``rel_diff`` (max |Theta - Theta_jacobian| / max |Theta_jacobian|).
    """
    owner = "ntk_times"
    _check_data(data, owner)
    widths, depth = check_ints(widths, "widths", owner), check_int(depth, "depth", owner)
    n_points, repeats = check_int(n_points, "n_points", owner, low=2), check_int(repeats, "repeats", owner)
    kwargs = _no_sweep_keys(model_kwargs, owner, ("width", "depth", "seed"))
    x = data.x_train[:n_points]
    rows = []
    for width in widths:
        model = build_transformer(data, 0, width=width, depth=depth, **kwargs)
        reference = empirical_ntk(model, x, method="jacobian")
        for method in methods:
            stats: dict = {}
            theta = empirical_ntk(model, x, method=method, stats=stats)  # warm-up, and what was done
            best = math.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                empirical_ntk(model, x, method=method)
                best = min(best, time.perf_counter() - t0)
            rows.append({"width": width, "depth": depth, "n_points": len(x), "n_params": stats["n_params"],
                         "method": method, "resolved": stats["method"], "seconds": best,
                         "n_fallback": len(stats["fallback_params"]),
                         "rel_diff": float((theta - reference).abs().max() / reference.abs().max())})
    return pd.DataFrame(rows)
