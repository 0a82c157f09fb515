r"""Equal-budget model selection for the benchmarks of part III, in one place.

A comparison of two models says something about the models only if each was given the same
chance: the same data to learn from, the same number of hyperparameter settings tried (the
*budget*), and no look at the test set before the choice is made. Every model of a
:class:`ntkbook.experiments.benchmarks.Benchmark` -- network or kernel -- goes through the same
four steps, driven by :func:`ntkbook.experiments.runs.run_experiment` for an
:class:`~ntkbook.experiments.runs.ExperimentConfig` with a ``grid`` (and so cached like every
run, keyed on the configuration and the code):

1. **A validation split carved from the training data**
   (:func:`ntkbook.data.hold_out_validation`): the last ``validation`` fraction of the
   training rows, a random subset since every loader of the book draws its training rows
   in a seeded random order, is held out; the model is fitted on the rest. The test split
   plays no part.
2. **The same number K of candidates for every model** (``config.grid``): a candidate is a
   dict of overrides of the configuration (a learning rate, an activation, a Fourier scale,
   a kernel depth). Along each candidate one regularization path is searched at no extra
   count: a network's stopping epoch (early stopping, :class:`ValidationCheckpoint`, with
   ``patience``) and a kernel model's ridge (the grid of its
   :class:`~ntkbook.experiments.kernel_baseline.KernelBaseline`). Both shrink the fit towards
   the initialization; in the kernel regime, gradient flow stopped at time t and ridge
   regression with lambda ~ 1 / t give nearly the same predictor (Ali, Kolter & Tibshirani 2019).
3. **The held-out loss as the selection score**: the validation MSE for regression; for
   classification the validation cross-entropy -- of a network's own softmax (the loss it is
   trained on), and of a kernel model's outputs after temperature scaling, T fitted on the
   same validation outputs (:func:`selection_score`), since a kernel model's outputs are not
   log-probabilities.
4. **The test split is touched once**: the selected candidate, at its selected epoch (or
   ridge), predicts the test inputs (:func:`test_rows`). A classifier's probabilities are
   softmax(f / T) with its own T fitted on the validation split -- temperature scaling for
   every model whose cross-entropy is compared (Guo et al. 2017) -- and the T = 1 value is
   kept as ``cross_entropy_raw``.

``tune_on="every_seed"`` repeats the selection on every seed (resampled splits of one small
data set, chapter 12, where one seed's validation rows are another's test rows);
``"first_seed"`` selects the candidate on the first seed and trains only that one on the
others, with early stopping and T still fitted on each seed's own validation split (fresh data
sets per seed, chapter 11, or one fixed test set, chapter 13): a K-fold saving.

Rows of a tuned run, per seed (beside the tidy history of the selected candidate, its
``train`` and ``val`` metrics per epoch and its ``probe`` records):

* ``tuning`` / ``score:c`` at the candidate's best epoch: the validation score of candidate c;
* ``fit``: ``candidate`` (index into the grid), ``epoch`` (the selected stopping epoch, 0 for
  a kernel), ``score``, ``temperature`` (classification), ``ridge`` and ``relative_ridge``
  (kernels), ``candidates_diverged``;
* ``test`` at epoch 0: the one evaluation of the selected model (mse and r2, or accuracy,
  cross_entropy at T and cross_entropy_raw at T = 1);
* ``example`` (with ``per_example``): per test example ``correct`` and ``nll`` (at T), or
  ``sq_error``; the epoch column holds the example's index. A paired bootstrap over examples
  and seeds (:func:`ntkbook.stats.paired_bootstrap`) needs them.

Example::

    >>> cfg = ExperimentConfig("iris", "mlp", model_kwargs={"width": 32}, optimizer="adam",
    ...                        epochs=100, validation=0.2, patience=20, seeds=(0, 1),
    ...                        grid=[{"lr": 1e-3}, {"lr": 1e-2}])
    >>> df = run_experiment(cfg)                                           # doctest: +SKIP
    >>> df[(df.split == "fit") & (df.metric == "candidate")]               # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from ntkbook._validation import check_float, check_int
from ntkbook.experiments.kernel_baseline import (fit_temperature, fourier_matrix, kernel_matrix, kernel_split_metrics,
                                                 kernel_training_rows, ridge_path, split_digest)
from ntkbook.train import Callback, TrainState

__all__ = ["validation_size", "selection_score", "ValidationCheckpoint", "candidate_config", "test_rows",
           "run_tuned_seed", "Selection", "GRID_KEYS", "TUNE_ON", "EARLY_STOP", "VALIDATION_SPLIT"]

VALIDATION_SPLIT = "val"  # the split name of validation metrics in a tuned run's rows
EARLY_STOP = "early stop"  # the stop cause ValidationCheckpoint gives train(): not a divergence
TUNE_ON = ("every_seed", "first_seed")
# What a candidate may override: ExperimentConfig training fields, and model_kwargs (merged).
GRID_KEYS = ("lr", "epochs", "batch_size", "optimizer_kwargs", "model_kwargs")
# Inputs per forward pass when a tuned network is evaluated: a ResNet-18 forward pass over
# 4,000 CIFAR images takes half as long in batches of 256 as in one batch of 4,096 (CPU cache).
EVAL_BATCH = 256


# --------------------------------------------------------------------------- the split


def validation_size(n_train: int, fraction: float) -> int:
    """The number of training rows held out for validation: ``fraction`` of ``n_train``,
    rounded, at least 1 and leaving at least 2 to fit on."""
    check_float(fraction, "fraction", "validation_size", 0.0, 1.0, low_open=True, high_open=True)
    return min(max(1, int(round(fraction * n_train))), max(1, n_train - 2))


# --------------------------------------------------------------------------- scores


def selection_score(outputs: torch.Tensor, targets: torch.Tensor, task: str) -> tuple[float, float]:
    """(score, temperature) of validation ``outputs``: lower is better.

    Regression: the mean squared error (T = 1). Classification: the cross-entropy of
    softmax(outputs / T) with T fitted on these same outputs (:func:`fit_temperature`), so a
    kernel model's unnormalized scores and a network's logits are scored alike. T is fitted
    against labels smoothed by eps = 1/(n + 1) for n validation examples: on a small split
    that a model classifies without an error (Iris has 21 validation rows) the plain fit
    sends T to 0, and one later test mistake to an infinite cross-entropy. A non-finite
    output scores +inf (never selected).
    """
    out = outputs.detach().to("cpu", torch.float64)
    if not torch.isfinite(out).all():
        return math.inf, 1.0
    y = targets.detach().cpu()
    if task == "regression":
        return float((out.reshape(y.shape) - y.to(torch.float64)).square().mean()), 1.0
    t = fit_temperature(out, y, smoothing=1.0 / (len(y) + 1))
    return float(F.cross_entropy(out / t, y)), t


@dataclass
class Selection:
    """The best point found along one candidate (or over all of them)."""

    candidate: int
    epoch: int
    score: float
    temperature: float
    state: Any = None  # a network's parameters and buffers at that epoch (state_dict copy)
    extra: dict = dataclasses.field(default_factory=dict)  # a kernel's ridge and weights


class ValidationCheckpoint(Callback):
    """Early stopping on the validation split (the ``test`` split of the data that
    :func:`train` sees, see :func:`ntkbook.data.hold_out_validation`).

    After every epoch (epoch 0 included) it reads the network's validation loss that
    train() has just computed -- the MSE, or the cross-entropy of its own softmax (the loss
    it is trained on) -- and keeps a copy of the parameters of the best epoch so far
    (``best``). With ``patience`` p > 0 it stops the run once p epochs pass without
    improvement; train() records that stop with the cause :data:`EARLY_STOP`, which is not a
    divergence. The temperature of the selected epoch is fitted afterwards, once.
    """

    def __init__(self, candidate: int, patience: int = 0):
        self.candidate = candidate
        self.patience = check_int(patience, "patience", "ValidationCheckpoint", low=0)
        self.best: Selection | None = None

    def on_epoch_end(self, state: TrainState) -> None:
        key = "test/mse" if state.data.task == "regression" else "test/cross_entropy"
        score = float(state.metrics.get(key, math.inf))
        if math.isfinite(score) and (self.best is None or score < self.best.score):
            self.best = Selection(self.candidate, state.epoch, score, 1.0,
                                  {k: v.detach().clone() for k, v in state.model.state_dict().items()})
        elif self.patience and self.best is not None and state.epoch - self.best.epoch >= self.patience:
            state.stop(f"{EARLY_STOP}: no better validation score for {self.patience} epochs")


# --------------------------------------------------------------------------- candidates


def candidate_config(config, overrides: dict):
    """``config`` with one candidate's ``overrides`` applied (model_kwargs merged), and no
    grid or validation left: the configuration of one plain training run."""
    over = dict(overrides)
    model_kwargs = {**config.model_kwargs, **over.pop("model_kwargs", {})}
    return dataclasses.replace(config, grid=[], validation=0.0, model_kwargs=model_kwargs, **over)


def test_rows(outputs: torch.Tensor, data, temperature: float, per_example: bool) -> list[dict]:
    """The rows of the one test evaluation: ``test`` metrics at epoch 0 and, with
    ``per_example``, the ``example`` rows (epoch = index of the test example)."""
    out = outputs.detach().to("cpu", torch.float64).reshape(len(data.x_test), -1)  # (n, k)
    metrics = kernel_split_metrics(out, data, "test", temperature)
    rows = [{"epoch": 0, "split": "test", "metric": m, "value": v} for m, v in metrics.items()]
    if not per_example:
        return rows
    y = data.y_test.cpu()
    if data.task == "classification":
        per = {"correct": (out.argmax(1) == y).to(torch.float64),
               "nll": F.cross_entropy(out / temperature, y, reduction="none")}
    else:
        per = {"sq_error": (out - y.to(torch.float64)).square().mean(1)}
    for name, values in per.items():
        rows += [{"epoch": i, "split": "example", "metric": name, "value": float(v)}
                 for i, v in enumerate(values.tolist())]
    return rows


def _fit_rows(sel: Selection, task: str, n_diverged: int, scores: dict[int, tuple[int, float]]) -> list[dict]:
    rows = [{"epoch": ep, "split": "tuning", "metric": f"score:{c}", "value": s} for c, (ep, s) in scores.items()]
    fit = {"candidate": sel.candidate, "epoch": sel.epoch, "score": sel.score, "candidates_diverged": n_diverged}
    if task == "classification":
        fit["temperature"] = sel.temperature
    fit.update({k: v for k, v in sel.extra.items() if k in ("ridge", "relative_ridge")})
    return rows + [{"epoch": sel.epoch, "split": "fit", "metric": k, "value": float(v)} for k, v in fit.items()]


# --------------------------------------------------------------------------- networks


def _tune_network(config, fitval, test_data, seed, device, progress, candidates):
    """Train every candidate on the fit part; the rows of the selected one and its record."""
    from ntkbook.experiments.runs import DTYPES
    from ntkbook.models import build_model
    from ntkbook.train import NTKTracker, _predict, train

    best, best_history, best_cfg, scores, n_diverged, last_cause = None, None, None, {}, 0, None
    for c, overrides in candidates:
        cfg = candidate_config(config, overrides)
        model = build_model(cfg.model, fitval.in_features, fitval.out_features, seed=seed,
                            **cfg.model_kwargs).to(device=device, dtype=DTYPES[cfg.dtype])
        ckpt = ValidationCheckpoint(c, config.patience)
        callbacks = [ckpt]
        if cfg.ntk_every:
            callbacks.append(NTKTracker(cfg.ntk_probe, every=cfg.ntk_every, top_k=cfg.ntk_top_k,
                                        method=cfg.ntk_method))
        res = train(model, fitval, optimizer=cfg.optimizer, lr=cfg.lr, epochs=cfg.epochs,
                    batch_size=cfg.batch_size, loss=cfg.loss, seed=seed, device=device,
                    callbacks=callbacks, progress=progress, optimizer_kwargs=cfg.optimizer_kwargs,
                    eval_batch_size=EVAL_BATCH)
        if res.diverged and not str(res.cause).startswith(EARLY_STOP):
            n_diverged, last_cause = n_diverged + 1, res.cause
        if ckpt.best is None:
            continue
        scores[c] = (ckpt.best.epoch, ckpt.best.score)
        if best is None or ckpt.best.score < best.score:
            best, best_cfg = ckpt.best, cfg
            best_history = res.frame().replace({"split": {"test": VALIDATION_SPLIT}})
    if best is None:  # every candidate diverged before a finite validation score
        info = {"diverged": True, "diverged_epoch": 0, "cause": last_cause, "epochs_run": 0,
                "candidate": None, "candidates_diverged": n_diverged}
        nan = torch.full((len(test_data.x_test), test_data.out_features), math.nan)
        return test_rows(nan, test_data, 1.0, config.per_example), info
    model = build_model(best_cfg.model, fitval.in_features, fitval.out_features, seed=seed,
                        **best_cfg.model_kwargs).to(device=device, dtype=DTYPES[best_cfg.dtype])
    model.load_state_dict(best.state)
    model.eval()
    if fitval.task == "classification":  # temperature scaling on the validation split, once
        x_val = fitval.x_test.to(device=device, dtype=DTYPES[best_cfg.dtype])
        best.temperature = selection_score(_predict(model, x_val, EVAL_BATCH), fitval.y_test, fitval.task)[1]
    x_test = test_data.x_test.to(device=device, dtype=DTYPES[best_cfg.dtype])
    outputs = _predict(model, x_test, EVAL_BATCH)  # the one look at the test split
    rows = best_history.to_dict("records") + _fit_rows(best, fitval.task, n_diverged, scores)
    rows += test_rows(outputs, test_data, best.temperature, config.per_example)
    info = {"diverged": False, "diverged_epoch": None, "cause": None, "epochs_run": best.epoch,
            "candidate": best.candidate, "candidates_diverged": n_diverged}
    return rows, info


# --------------------------------------------------------------------------- kernels


def _kernel_targets(data) -> torch.Tensor:
    if data.task == "classification":
        return F.one_hot(data.y_train.cpu(), data.n_classes).to(torch.float64)
    return data.y_train.cpu().to(torch.float64)


def _fit_kernel_candidate(config, fitval, seed, c, overrides, device=None):
    """One candidate kernel on the fit part (or on its ``max_train`` subset), each ridge of
    its grid scored on validation: (its best Selection or None, its KernelBaseline, its
    Fourier matrix or None, the training inputs it was fitted on)."""
    kb = candidate_config(config, overrides).kernel()
    fitval = _kernel_fit_part(kb, fitval)
    targets = _kernel_targets(fitval)  # (n_fit, k)
    x_fit, x_val = fitval.x_train.cpu(), fitval.x_test.cpu()
    B = fourier_matrix(kb, x_fit.reshape(len(x_fit), -1).shape[1], seed)
    gram = kernel_matrix(kb, x_fit, B=B, device=device)  # (n_fit, n_fit)
    cross = kernel_matrix(kb, x_val, x_fit, B=B, device=device)  # (n_val, n_fit)
    best = None
    for rel, lam, weights, _ in ridge_path(gram, targets, kb.ridges):
        score, t = selection_score(cross @ weights, fitval.y_test, fitval.task)
        if not kb.temperature:
            t = 1.0
        if math.isfinite(score) and (best is None or score < best.score):
            best = Selection(c, 0, score, t, extra={"ridge": lam, "relative_ridge": rel, "weights": weights})
    return best, kb, B, x_fit


def _kernel_fit_part(kb, fitval):
    """``fitval`` with its train split cut to the rows :func:`kernel_training_rows` picks."""
    rows = kernel_training_rows(kb, fitval.y_train)
    if rows is None:
        return fitval
    return dataclasses.replace(fitval, x_train=fitval.x_train[rows], y_train=fitval.y_train[rows])


def _tune_kernel(config, fitval, data, seed, candidates, solved, device=None):
    """Select among the candidate kernels on validation, then predict the test split once.

    ``solved`` keeps every candidate's fit and the test predictions under :func:`_kernel_key`,
    so seeds that share their data (and, for a sampled Fourier matrix, their seed) reuse them.
    """
    best, best_key, scores = None, None, {}
    for c, overrides in candidates:
        key = _kernel_key(config, fitval, data, seed, overrides)
        if key not in solved:
            solved[key] = _fit_kernel_candidate(config, fitval, seed, c, overrides, device)
        cand = solved[key][0]
        if cand is None:
            continue
        scores[c] = (0, cand.score)
        if best is None or cand.score < best.score:
            best, best_key = cand, key
    if best is None:
        info = {"diverged": True, "diverged_epoch": 0, "cause": "no finite validation score", "epochs_run": 0,
                "candidate": None, "candidates_diverged": len(candidates)}
        nan = torch.full((len(data.x_test), data.out_features), math.nan)
        return test_rows(nan, data, 1.0, config.per_example), info
    if best_key + ":test" not in solved:  # the one look at the test split
        _, kb, B, x_fit = solved[best_key]
        solved[best_key + ":test"] = kernel_matrix(kb, data.x_test.cpu(), x_fit, B=B, device=device) @ best.extra["weights"]
    rows = _fit_rows(best, fitval.task, 0, scores) + test_rows(solved[best_key + ":test"], data, best.temperature,
                                                               config.per_example)
    info = {"diverged": False, "diverged_epoch": None, "cause": None, "epochs_run": 0,
            "candidate": best.candidate, "candidates_diverged": 0, "n_fit": len(solved[best_key][3])}
    return rows, info


def _kernel_key(config, fitval, data, seed, overrides) -> str:
    """What one candidate kernel's fit depends on: the examples, the partition, the candidate
    and (for a sampled Fourier matrix) the seed -- equal keys give equal fits."""
    sampled = fourier_matrix(candidate_config(config, overrides).kernel(), 1, 0) is not None
    h = hashlib.sha256()
    for part in (split_digest(fitval), split_digest(data), json.dumps(overrides, sort_keys=True, default=str),
                 json.dumps(config.model_kwargs, sort_keys=True, default=str), str(seed if sampled else None)):
        h.update(part.encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- one seed


def run_tuned_seed(config, data, seed: int, device, progress, candidates: list[tuple[int, dict]],
                   solved: dict) -> tuple[pd.DataFrame, dict]:
    """Select among ``candidates`` (pairs (index into config.grid, overrides)) on a
    validation split of ``data``'s training split, then evaluate the selection on its test
    split once. Returns the tidy rows (epoch, split, metric, value) and the seed's record
    (diverged, cause, epochs_run = the selected epoch, candidate, candidates_diverged).

    The partition depends on the data alone: runs that share their data (``config.data_seed``)
    share it. ``solved`` caches the kernel fits across seeds (:func:`_tune_kernel`).
    """
    from ntkbook.data import hold_out_validation
    from ntkbook.experiments.runs import KERNEL_MODEL

    fitval = hold_out_validation(data, validation_size(len(data.x_train), config.validation))
    if config.model == KERNEL_MODEL:
        rows, info = _tune_kernel(config, fitval, data, seed, candidates, solved, device)
    else:
        rows, info = _tune_network(config, fitval, data, seed, device, progress, candidates)
    info["seed"] = seed
    info.setdefault("n_fit", len(fitval.x_train))  # a kernel fitted on a subset says how many it used
    info["n_val"], info["n_test"] = len(fitval.x_test), len(data.x_test)
    frame = pd.DataFrame(rows, columns=["epoch", "split", "metric", "value"])
    return frame, info
