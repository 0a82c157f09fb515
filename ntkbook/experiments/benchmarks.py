r"""The benchmark experiments of part III: one named configuration per experiment, a runner
that compares the models on the same seeds and splits, and the NTK kernel-regression baseline.

The paper (arXiv:2512.08264) reports that the NTK-ECRN beats MLPs, ResNets and "conventional
NTK models" on synthetic, UCI and CIFAR-10 data; its own hyperparameter tables are not
public, so every :class:`Benchmark` below is a **reconstruction**: the settings are ours, and
:meth:`Benchmark.differences` lists how each one departs from the package defaults.

A benchmark trains every network with :func:`ntkbook.experiments.runs.run_experiment` (cached by
configuration hash under ``results/``) and fits the kernel baseline with
:func:`run_kernel_regression` (cached the same way). For seed s every model sees the split
drawn with s, so :func:`ntkbook.experiments.runs.paired_comparison` pairs runs on the same data.

The kernel baseline ("conventional NTK model") is :class:`ntkbook.regression.NTKRegressor`:
kernel ridge regression with the analytic infinite-width NTK of a ReLU MLP
(:func:`ntkbook.analytic.mlp_kernels`)::

    f(X_*) = Theta(X_*, X) (Theta(X, X) + lambda I)^{-1} Y        Y: targets (one-hot for labels)

The ridge lambda is chosen from a grid (relative to the mean eigenvalue of Theta(X, X)) by the
closed-form leave-one-out (LOO) error. With A = (Theta + lambda I)^{-1} the LOO residual of
training point i is (A Y)_i / A_ii (Rifkin & Lippert 2007), so one eigendecomposition
Theta = U diag(s) U^T serves every lambda: O(n^3) once, then O(n^2 k) per grid value.
For classification the outputs are not log-probabilities; they are turned into
probabilities by a softmax with a temperature T, softmax(f / T), with T fitted by minimizing
the cross-entropy of the LOO predictions on the training set (temperature scaling, Guo et al.
2017). Accuracy (argmax) does not depend on T.

Example::

    >>> bench = sinusoid_benchmark(n_seeds=2, epochs=20, width=32, n_train=64)
    >>> result = run_benchmark(bench, results_dir="results")          # doctest: +SKIP
    >>> result.summary(["mse", "r2"])                                   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ntkbook import __version__
from ntkbook.experiments.runs import (RESULT_COLUMNS, ExperimentConfig, PairedComparison, paired_comparison,
                          run_experiment, summarize)

__all__ = ["Benchmark", "KernelBaseline", "BenchmarkResult", "run_benchmark",
           "run_kernel_regression", "kernel_ridge_loo", "fit_temperature", "torch_threads",
           "sinusoid_benchmark", "gaussian_mixture_benchmark", "uci_benchmark",
           "cifar_benchmark", "unit_phase_scale", "claim_outcome", "bayes_accuracy",
           "UCI_FEATURES", "KERNEL_LABEL",
           "RIDGE_GRID"]

KERNEL_LABEL = "ntk_regression"
# Candidate ridges, relative to the mean eigenvalue of the training Gram matrix.
RIDGE_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SCHEMA_VERSION = 2


def _fail(name: str, owner: str, allowed: str, value: Any) -> None:
    raise ValueError(f"The '{name}' parameter of {owner} must be {allowed}. Got {value!r} instead.")


def _check_int(value, name, owner, low=1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        _fail(name, owner, f"an int in the range [{low}, inf)", value)
    return int(value)


# --------------------------------------------------------------------------- threads


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``torch.set_num_threads(n)`` (None or 0: leave it as it is).

    The benchmark models are small; on a shared 2-core machine two intra-op threads spend
    more time waiting for each other than computing (we measured a 20x slowdown of a width-128
    MLP under load), so the book runs them with one thread.
    """
    if n is None or n == 0:
        yield
        return
    n = _check_int(n, "threads", "torch_threads")
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


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
    label: str = KERNEL_LABEL

    def __post_init__(self) -> None:
        owner = "KernelBaseline"
        self.depth = _check_int(self.depth, "depth", owner)
        self.ridges = tuple(float(r) for r in self.ridges)
        if not self.ridges or any(not math.isfinite(r) or r <= 0 for r in self.ridges):
            _fail("ridges", owner, "a non-empty sequence of finite floats > 0", self.ridges)


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
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1]:
        raise ValueError(f"The 'gram' argument of kernel_ridge_loo must be a square matrix. "
                         f"Got shape {tuple(gram.shape)} instead.")
    if targets.ndim != 2 or targets.shape[0] != gram.shape[0]:
        raise ValueError(f"The 'targets' argument of kernel_ridge_loo must have shape "
                         f"({gram.shape[0]}, k). Got {tuple(targets.shape)} instead.")
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


def _regression_metrics(pred: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    # the definitions of ntkbook.train: mse averaged over examples and outputs, r2 around the
    # split's own target mean, averaged over outputs
    err = pred - y
    ss_res = err.square().sum(0)
    ss_tot = (y - y.mean(0)).square().sum(0)
    r2 = torch.where(ss_tot > 0, 1 - ss_res / ss_tot.clamp_min(1e-300), torch.zeros_like(ss_tot))
    return {"mse": float(err.square().mean()), "r2": float(r2.mean())}


def _kernel_one_seed(kb: KernelBaseline, data) -> list[dict[str, Any]]:
    """Select the ridge (and temperature) by LOO, then fit and predict with NTKRegressor."""
    from ntkbook.analytic import mlp_kernels
    from ntkbook.regression import NTKRegressor

    x_tr = data.x_train.reshape(len(data.x_train), -1).to(torch.float64)
    x_te = data.x_test.reshape(len(data.x_test), -1).to(torch.float64)
    opts = dict(depth=kb.depth, activation=kb.activation, w_std=kb.w_std, b_std=kb.b_std)
    _, gram = mlp_kernels(x_tr, x_tr, **opts)  # (n, n), the kernel NTKRegressor uses
    if data.task == "classification":
        targets = F.one_hot(data.y_train, data.n_classes).to(torch.float64)
    else:
        targets = data.y_train.to(torch.float64)
    fit = kernel_ridge_loo(gram, targets, kb.ridges)
    reg = NTKRegressor(kernel="analytic", ridge=fit["ridge"], architecture="mlp", **opts)
    reg.fit(x_tr.cpu().numpy(), targets.cpu().numpy())
    rows = [{"split": "fit", "metric": "ridge", "value": fit["ridge"]},
            {"split": "fit", "metric": "relative_ridge", "value": fit["relative_ridge"]}]
    preds = {"train": x_tr, "test": x_te} if len(x_te) else {"train": x_tr}
    preds = {k: torch.as_tensor(reg.predict(v.cpu().numpy())).reshape(len(v), -1)
             for k, v in preds.items()}
    temperature = 1.0
    if data.task == "classification" and kb.temperature:
        temperature = fit_temperature(fit["loo_predictions"], data.y_train.cpu())
        rows.append({"split": "fit", "metric": "temperature", "value": temperature})
    for split, pred in preds.items():
        y = getattr(data, f"y_{split}").cpu()
        if data.task == "classification":
            metrics = {"accuracy": float((pred.argmax(1) == y).to(torch.float64).mean()),
                       "cross_entropy": float(F.cross_entropy(pred / temperature, y)),
                       "cross_entropy_raw": float(F.cross_entropy(pred, y))}
        else:
            metrics = _regression_metrics(pred, y.to(torch.float64))
        rows += [{"split": split, "metric": m, "value": v} for m, v in metrics.items()]
    return rows


def _data_digest(data) -> str:
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


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run_kernel_regression(kernel: KernelBaseline, dataset: str, dataset_kwargs: dict, seeds,
                          *, results_dir="results", force: bool = False) -> pd.DataFrame:
    """Fit the kernel baseline on the split of every seed; a tidy frame like run_experiment's.

    Rows (epoch 0): ``train``/``test`` metrics (mse, r2 or accuracy, cross_entropy with the
    fitted temperature and cross_entropy_raw with T = 1), ``fit`` rows (ridge,
    relative_ridge, temperature) and a ``run``/``diverged`` row (always 0: a linear solve does
    not diverge). Cached under ``results_dir`` by the SHA-256 of the settings.
    """
    from ntkbook.data import load_dataset

    seeds = tuple(int(s) for s in seeds)
    payload = {"schema": SCHEMA_VERSION, "kernel": dataclasses.asdict(kernel),
               "dataset": dataset, "dataset_kwargs": dataset_kwargs, "seeds": list(seeds)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=list)
    digest = hashlib.sha256(text.encode()).hexdigest()
    out = Path(results_dir)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{dataset}_{kernel.label}_{digest[:12]}")
    csv, sidecar = out / f"{stem}.csv", out / f"{stem}.json"
    if not force and csv.exists() and sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text())
            if meta.get("hash") == digest:
                df = pd.read_csv(csv, dtype={"model": str, "split": str, "metric": str})
                df.attrs["metadata"] = {**meta, "loaded_from_cache": True}
                return df
        except (OSError, ValueError):
            pass
    rows, sources, start = [], [], time.perf_counter()
    done: dict[str, list[dict[str, Any]]] = {}  # data digest -> rows: a split seen before is
    # not solved again (e.g. every seed of the full CIFAR subset draws all 5,000 images)
    for seed in seeds:
        data = load_dataset(dataset, seed=seed, dtype=torch.float64, **dataset_kwargs)
        sources.append(data.source)
        key = _data_digest(data)
        if key not in done:
            done[key] = _kernel_one_seed(kernel, data)
        for r in done[key] + [{"split": "run", "metric": "diverged", "value": 0.0}]:
            rows.append({"model": kernel.label, "seed": seed, "epoch": 0, **r})
    df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    meta = {"hash": digest, "settings": payload, "ntkbook_version": __version__, "device": "cpu",
            "wall_time_s": time.perf_counter() - start, "data_sources": sources,
            "runs": [{"seed": s, "diverged": False} for s in seeds]}
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(csv, df.to_csv(index=False))
    _atomic_write(sidecar, json.dumps(meta, indent=2, default=str))
    df.attrs["metadata"] = {**meta, "loaded_from_cache": False}
    return df


# --------------------------------------------------------------------------- benchmarks


@dataclass
class Benchmark:
    """One experiment of part III: a dataset, the networks compared on it, the training they
    share, and the kernel baseline.

    name: a short title for tables and captions.
    dataset, dataset_kwargs: passed to :func:`ntkbook.data.load_dataset`.
    networks: label -> (model name for :func:`ntkbook.models.build_model`, model_kwargs).
    training: ExperimentConfig fields shared by every network (optimizer, lr, epochs,
        batch_size, loss, optimizer_kwargs, ntk_every, ntk_probe, ntk_top_k, dtype).
    seeds: one run (and one split) per seed, the same for every model.
    kernel: the kernel baseline, or None to leave it out.
    primary: the metrics the chapter reports, first the one its claims use.
    per_network: label -> overrides for that network only: ExperimentConfig fields, and a
        "dataset_kwargs" dict merged into the shared one (e.g. image-shaped inputs for
        ResNet-18; the split of a seed is the same).
    """

    name: str
    dataset: str
    dataset_kwargs: dict[str, Any]
    networks: dict[str, tuple[str, dict[str, Any]]]
    training: dict[str, Any]
    seeds: tuple[int, ...]
    kernel: KernelBaseline | None = None
    primary: tuple[str, ...] = ("mse", "r2")
    per_network: dict[str, dict[str, Any]] = field(default_factory=dict)

    def configs(self) -> dict[str, ExperimentConfig]:
        """One :class:`ExperimentConfig` per network (label -> config)."""
        out = {}
        for label, (model, kwargs) in self.networks.items():
            extra = dict(self.per_network.get(label, {}))
            data_kwargs = {**self.dataset_kwargs, **extra.pop("dataset_kwargs", {})}
            training = {**self.training, **extra}
            out[label] = ExperimentConfig(dataset=self.dataset, model=model,
                                          dataset_kwargs=data_kwargs,
                                          model_kwargs=dict(kwargs), label=label,
                                          seeds=self.seeds, **training)
        return out

    @property
    def models(self) -> list[str]:
        """Labels of every model, networks first, the kernel baseline last."""
        return list(self.networks) + ([self.kernel.label] if self.kernel else [])

    def differences(self) -> pd.DataFrame:
        """How each model's settings depart from the package defaults.

        One row per (model, setting) whose value differs from the default of
        :class:`ExperimentConfig` (training) or of the model class's constructor (model),
        columns model, setting, value, default.
        """
        from ntkbook.models import MODELS, ResNet18

        rows = []
        base = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                for f in dataclasses.fields(ExperimentConfig)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
        for label, cfg in self.configs().items():
            for key in ("optimizer", "lr", "epochs", "batch_size", "loss", "optimizer_kwargs",
                        "ntk_every", "ntk_probe", "ntk_top_k", "dtype"):
                value, default = getattr(cfg, key), base.get(key)
                if key == "ntk_probe" and not cfg.ntk_every:
                    continue
                if value != default:
                    rows.append({"model": label, "setting": key, "value": repr(value),
                                 "default": repr(default)})
            for key, value in cfg.dataset_kwargs.items():  # per-network data settings
                if key not in self.dataset_kwargs or self.dataset_kwargs[key] != value:
                    rows.append({"model": label, "setting": key, "value": repr(value),
                                 "default": repr(self.dataset_kwargs.get(key, "loader default"))})
            cls = ResNet18 if cfg.model == "resnet18" else MODELS[cfg.model]
            params = inspect.signature(cls.__init__).parameters
            for key, value in cfg.model_kwargs.items():
                default = params[key].default if key in params else None
                if value != default:
                    rows.append({"model": label, "setting": key, "value": repr(value),
                                 "default": repr(default)})
        if self.kernel is not None:
            kdef = KernelBaseline()
            for f in dataclasses.fields(KernelBaseline):
                value, default = getattr(self.kernel, f.name), getattr(kdef, f.name)
                if value != default:
                    rows.append({"model": self.kernel.label, "setting": f.name,
                                 "value": repr(value), "default": repr(default)})
        for key, value in self.dataset_kwargs.items():
            rows.append({"model": "(data)", "setting": key, "value": repr(value),
                         "default": "loader default"})
        return pd.DataFrame(rows, columns=["model", "setting", "value", "default"])

    def settings_table(self) -> pd.DataFrame:
        """:meth:`differences` as one row per setting and one column per model, each cell
        "value (default d)"; blank: that model uses its default (or has no such setting)."""
        d = self.differences()
        d["cell"] = [v if m == "(data)" else f"{v} (default {dflt})"
                     for m, v, dflt in zip(d.model, d.value, d.default)]
        wide = d.pivot_table(index="setting", columns="model", values="cell", aggfunc="first",
                             sort=False)
        cols = [m for m in self.models + ["(data)"] if m in wide.columns]
        wide = wide[cols].fillna("")
        wide.columns.name = None
        return wide


@dataclass
class BenchmarkResult:
    """Everything a chapter needs from a benchmark run.

    frame: the tidy rows of every model (columns of :data:`ntkbook.experiments.runs.RESULT_COLUMNS`).
    metadata: label -> the sidecar of its cached run (wall time, divergence, data source).
    """

    benchmark: Benchmark
    frame: pd.DataFrame
    metadata: dict[str, dict[str, Any]]

    def summary(self, metrics: Sequence[str] | None = None, split: str = "test") -> pd.DataFrame:
        """Mean and 95 % t-interval across seeds at each model's last epoch."""
        metrics = list(metrics or self.benchmark.primary)
        df = summarize(self.frame, metrics=metrics, splits=[split])
        order = {m: i for i, m in enumerate(self.benchmark.models)}
        return df.sort_values(["metric", "model"], key=lambda c: c.map(order) if c.name == "model"
                              else c).reset_index(drop=True)

    def table(self, metrics: Sequence[str] | None = None, split: str = "test",
              digits: int = 3) -> pd.DataFrame:
        """:meth:`summary` for reading: one row per model, one column per metric, each cell
        "mean [ci_low, ci_high]" (``digits`` significant digits), and the seeds counted."""
        s = self.summary(metrics, split)
        fmt = f"{{:.{digits}g}}"
        s["cell"] = [f"{fmt.format(m)} [{fmt.format(lo)}, {fmt.format(hi)}]"
                     for m, lo, hi in zip(s["mean"], s["ci_low"], s["ci_high"])]
        wide = s.pivot(index="model", columns="metric", values="cell")
        wide = wide[[m for m in (metrics or self.benchmark.primary) if m in wide.columns]]
        wide["seeds"] = s.groupby("model")["n"].min()
        order = [m for m in self.benchmark.models if m in wide.index]
        wide = wide.loc[order]
        wide.columns.name = None
        return wide

    def paired(self, model_a: str, model_b: str, metric: str, split: str = "test"
               ) -> PairedComparison:
        """Paired difference (a - b) on the seeds both finished, each model at its own last
        epoch (the kernel baseline has one, epoch 0); see
        :func:`ntkbook.experiments.runs.paired_comparison`."""
        return paired_comparison(self.frame, model_a, model_b, metric, split=split,
                                 epoch="last")

    def diverged(self) -> pd.DataFrame:
        """One row per model: seeds run, seeds that diverged, and the causes."""
        rows = []
        for label, meta in self.metadata.items():
            runs = meta.get("runs", [])
            bad = [r for r in runs if r.get("diverged")]
            rows.append({"model": label, "seeds": len(runs), "diverged": len(bad),
                         "causes": "; ".join(f"seed {r['seed']}: {r.get('cause')}" for r in bad)})
        return pd.DataFrame(rows, columns=["model", "seeds", "diverged", "causes"])

    def wall_times(self) -> pd.Series:
        """Seconds each model took when it was computed (not when loaded from the cache)."""
        return pd.Series({k: float(v.get("wall_time_s", math.nan)) for k, v in self.metadata.items()})

    def ntk_evolution(self, metric: str = "lambda_max") -> pd.DataFrame:
        """The NTKTracker records of ``metric`` (model, seed, epoch, value) of every network."""
        d = self.frame[(self.frame.split == "probe") & (self.frame.metric == metric)]
        return d[["model", "seed", "epoch", "value"]].reset_index(drop=True)

    def ntk_summary(self) -> pd.DataFrame:
        """Per network, medians over seeds of lambda_max(T) / lambda_max(0) and of the
        relative kernel change ||Theta_T - Theta_0||_F / ||Theta_0||_F, T = the last
        recorded epoch of each seed."""
        rows = {}
        for metric in ("lambda_max", "kernel_change"):
            d = self.ntk_evolution(metric).sort_values(["model", "seed", "epoch"])
            first = d.groupby(["model", "seed"]).value.first()
            last = d.groupby(["model", "seed"]).value.last()
            value = last / first if metric == "lambda_max" else last
            rows[metric] = value.groupby("model").median()
        out = pd.DataFrame({"lambda_max_ratio": rows["lambda_max"],
                            "kernel_change": rows["kernel_change"]})
        order = [m for m in self.benchmark.models if m in out.index]
        return out.loc[order]


def run_benchmark(benchmark: Benchmark, *, results_dir="results", device=None,
                  force: bool = False, threads: int | None = 1) -> BenchmarkResult:
    """Run (or load from the cache) every model of ``benchmark``; see the module docstring.

    ``threads``: torch intra-op threads while training (see :func:`torch_threads`).
    """
    if not isinstance(benchmark, Benchmark):
        raise TypeError(f"The 'benchmark' parameter of run_benchmark must be a Benchmark. "
                        f"Got {type(benchmark).__name__} instead.")
    frames, meta = [], {}
    with torch_threads(threads):
        for label, cfg in benchmark.configs().items():
            df = run_experiment(cfg, results_dir=results_dir, force=force, device=device,
                                progress=False)
            frames.append(df)
            meta[label] = df.attrs.get("metadata", {})
        if benchmark.kernel is not None:
            df = run_kernel_regression(benchmark.kernel, benchmark.dataset,
                                       benchmark.dataset_kwargs, benchmark.seeds,
                                       results_dir=results_dir, force=force)
            frames.append(df)
            meta[benchmark.kernel.label] = df.attrs.get("metadata", {})
    frame = pd.concat(frames, ignore_index=True)[RESULT_COLUMNS]
    return BenchmarkResult(benchmark, frame, meta)


# --------------------------------------------------------------------------- the book's configs


def _seeds(n_seeds: int, owner: str) -> tuple[int, ...]:
    return tuple(range(_check_int(n_seeds, "n_seeds", owner)))


def unit_phase_scale(dim: int, input_std: float = 1.0) -> float:
    """The Fourier scale sigma that gives the phases 2 pi <B_k, x> a standard deviation of
    about one: sigma = 1 / (2 pi sqrt(dim) input_std), for inputs whose coordinates have
    standard deviation ``input_std`` (1 after standardization). A rule of ours, not the paper's.
    """
    dim = _check_int(dim, "dim", "unit_phase_scale")
    return 1.0 / (2 * math.pi * math.sqrt(dim) * float(input_std))


def _three_networks(width: int, depth: int, ecrn_extra: dict[str, Any]) -> dict:
    # ECRN against an MLP and a plain ResNet of the same width and depth (ReLU baselines,
    # the tanh ECRN of ntkbook.models: reconstruction)
    return {
        "ecrn": ("ecrn", {"width": width, "depth": depth, **ecrn_extra}),
        "mlp": ("mlp", {"width": width, "depth": depth}),
        "resnet": ("resnet", {"width": width, "depth": depth}),
    }


def sinusoid_benchmark(*, n_seeds: int = 5, n_train: int = 256, n_test: int = 512,
                       frequencies=(1.0, 10.0), amplitudes=(1.0, 0.5), noise: float = 0.05,
                       width: int = 128, depth: int = 4, n_fourier: int = 64,
                       fourier_scale: float = 5.0, epochs: int = 1000, lr: float = 1e-3
                       ) -> Benchmark:
    """Sinusoid regression (chapter 11): y = sin(2 pi x) + 0.5 sin(20 pi x) + noise on [0, 1].

    Networks: full-batch Adam on the MSE, same width, depth, epochs and learning rate for all.
    The ECRN's Fourier scale 5 puts its random frequencies in the band of the target's
    (frequencies up to ~10 cycles per unit); reconstruction.
    """
    data = {"n_train": n_train, "n_test": n_test, "frequencies": list(frequencies),
            "amplitudes": list(amplitudes), "noise": noise}
    return Benchmark(
        name="sinusoid regression", dataset="sinusoids", dataset_kwargs=data,
        networks=_three_networks(width, depth, {"n_fourier": n_fourier,
                                                "fourier_scale": fourier_scale}),
        training={"optimizer": "adam", "lr": lr, "epochs": epochs},
        seeds=_seeds(n_seeds, "sinusoid_benchmark"),
        kernel=KernelBaseline(depth=depth), primary=("mse", "r2"))


def gaussian_mixture_benchmark(*, n_seeds: int = 5, n_train: int = 500, n_test: int = 1000,
                               n_classes: int = 5, dim: int = 2, separation: float = 3.0,
                               width: int = 128, depth: int = 4, n_fourier: int = 64,
                               fourier_scale: float | None = None, epochs: int = 300,
                               lr: float = 1e-3) -> Benchmark:
    """The 5-class Gaussian mixture in 2-D (chapter 11): full-batch Adam on the cross-entropy.

    The inputs are not standardized: each coordinate has a standard deviation of about
    sqrt(1 + separation^2 / dim), so the ECRN's default Fourier scale is
    ``unit_phase_scale(dim, that)``; reconstruction.
    """
    if fourier_scale is None:
        fourier_scale = round(unit_phase_scale(dim, math.sqrt(1 + separation**2 / dim)), 4)
    data = {"n_train": n_train, "n_test": n_test, "n_classes": n_classes, "dim": dim,
            "separation": separation}
    return Benchmark(
        name="Gaussian mixture", dataset="gaussian_mixture", dataset_kwargs=data,
        networks=_three_networks(width, depth, {"n_fourier": n_fourier,
                                                "fourier_scale": fourier_scale}),
        training={"optimizer": "adam", "lr": lr, "epochs": epochs},
        seeds=_seeds(n_seeds, "gaussian_mixture_benchmark"),
        kernel=KernelBaseline(depth=depth), primary=("accuracy", "cross_entropy"))


UCI_TASKS = {"boston": ("mse", "r2"), "iris": ("accuracy", "cross_entropy"),
             "wine": ("accuracy", "cross_entropy")}


UCI_FEATURES = {"boston": 13, "iris": 4, "wine": 13}  # input columns (Boston: 12 without b)


def uci_benchmark(dataset: str, *, n_seeds: int = 10, width: int = 128, depth: int = 4,
                  n_fourier: int = 64, fourier_scale: float | None = None, epochs: int = 300,
                  lr: float = 1e-3, drop_b: bool = True) -> Benchmark:
    """Boston Housing, Iris or Wine (chapter 12) over repeated seeded splits.

    Inputs are standardized with training statistics (Boston's target too); full-batch Adam,
    MSE for Boston and cross-entropy for the classifiers. ``drop_b`` (Boston only, default
    True) leaves out the column that encodes the proportion of Black residents. The ECRN's
    default Fourier scale is ``unit_phase_scale(d)`` for the d standardized inputs;
    reconstruction.
    """
    if dataset not in UCI_TASKS:
        _fail("dataset", "uci_benchmark", f"one of {sorted(UCI_TASKS)}", dataset)
    if fourier_scale is None:
        dim = UCI_FEATURES[dataset] - (1 if dataset == "boston" and drop_b else 0)
        fourier_scale = round(unit_phase_scale(dim), 4)
    data = {"drop_b": bool(drop_b)} if dataset == "boston" else {}
    return Benchmark(
        name={"boston": "Boston Housing", "iris": "Iris", "wine": "Wine"}[dataset],
        dataset=dataset, dataset_kwargs=data,
        networks=_three_networks(width, depth, {"n_fourier": n_fourier,
                                                "fourier_scale": fourier_scale}),
        training={"optimizer": "adam", "lr": lr, "epochs": epochs},
        seeds=_seeds(n_seeds, "uci_benchmark"),
        kernel=KernelBaseline(depth=depth), primary=UCI_TASKS[dataset])


def cifar_benchmark(*, n_seeds: int = 5, n_train: int = 5000, n_test: int = 1000,
                    width: int = 512, depth: int = 4, n_fourier: int = 512,
                    fourier_scale: float | None = None, resnet18_width: int = 8, epochs: int = 10,
                    batch_size: int = 128, lr: float = 1e-2, resnet18_lr: float = 1e-3,
                    ntk_every: int = 2, ntk_probe: int = 16) -> Benchmark:
    """The CIFAR-10 5k subset (chapter 13): ECRN and MLP on flattened pixels, ResNet-18 on
    images, minibatch Adam on the cross-entropy, NTK spectrum tracked on a probe set.

    The pixels are standardized per channel, so the ECRN's default Fourier scale is
    ``unit_phase_scale(3072)`` (phases 2 pi <B_k, x> of standard deviation about one).
    ResNet-18 is the CIFAR variant of ntkbook.models at ``resnet18_width`` base channels
    (8, an eighth of the usual 64, so that the full profile fits a 2-core CPU), fed
    image-shaped inputs. Learning rates: Adam at ``lr`` (1e-2) for the ECRN and the MLP, whose NTK
    parameterization scales each layer's effective step by 1/sqrt(fan_in) (3072 inputs), and
    at ``resnet18_lr`` (1e-3, the usual value) for ResNet-18 (standard parameterization with
    batch normalization). Reconstruction.
    """
    if fourier_scale is None:
        fourier_scale = round(unit_phase_scale(3 * 32 * 32), 5)
    flat = {"n_train": n_train, "n_test": n_test, "flatten": True}
    networks = {
        "ecrn": ("ecrn", {"width": width, "depth": depth, "n_fourier": n_fourier,
                          "fourier_scale": fourier_scale}),
        "mlp": ("mlp", {"width": width, "depth": depth}),
        "resnet18": ("resnet18", {"width": resnet18_width}),
    }
    return Benchmark(
        name="CIFAR-10 5k", dataset="cifar10", dataset_kwargs=flat, networks=networks,
        training={"optimizer": "adam", "lr": lr, "epochs": epochs, "batch_size": batch_size,
                  "ntk_every": ntk_every, "ntk_probe": ntk_probe},
        seeds=_seeds(n_seeds, "cifar_benchmark"),
        kernel=KernelBaseline(depth=depth), primary=("accuracy", "cross_entropy"),
        per_network={"resnet18": {"dataset_kwargs": {"flatten": False}, "lr": resnet18_lr}})


def claim_outcome(verdict: str) -> str:
    """What a verdict of a paired sign rule means for the paper's claim, in words (for prose)."""
    outcomes = {
        "supported": "the claim holds in our runs",
        "not supported": ("the claim does not hold in our runs: the interval lies entirely on "
                          "the other side of zero"),
        "inconclusive": ("our runs neither confirm nor refute the claim: the interval "
                         "contains zero"),
    }
    if verdict not in outcomes:
        _fail("verdict", "claim_outcome", f"one of {sorted(outcomes)}", verdict)
    return outcomes[verdict]


def bayes_accuracy(dataset_kwargs: dict[str, Any], seeds) -> pd.Series:
    """Test accuracy of the Bayes classifier of the Gaussian mixture, one value per seed.

    With equal priors and the same isotropic spread for every class, the Bayes rule assigns x
    to the class with the nearest true mean (``extras["means"]`` of the generated data): the
    ceiling no model can beat on average.
    """
    from ntkbook.data import load_dataset

    out = {}
    for seed in seeds:
        data = load_dataset("gaussian_mixture", seed=int(seed), dtype=torch.float64,
                            **dataset_kwargs)
        mu = torch.as_tensor(data.extras["means"], dtype=torch.float64)  # (C, d)
        pred = torch.cdist(data.x_test, mu).argmin(1)  # nearest true centre
        out[int(seed)] = float((pred == data.y_test).to(torch.float64).mean())
    return pd.Series(out, name="bayes_accuracy")
