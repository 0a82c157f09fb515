"""Seeded, cached experiment runs and their statistical summaries.

An :class:`ExperimentConfig` names a dataset, a model, the training hyperparameters, the
seeds and the NTK-tracking options. :func:`run_experiment` trains one model per seed and
returns a tidy DataFrame with columns

    model, seed, epoch, split, metric, value

(split is ``train``/``test`` for the training metrics of :mod:`ntkbook.train`, ``probe``
for the NTK-spectrum records of :class:`ntkbook.train.NTKTracker`, and ``run`` for one row
per seed with metric ``diverged`` (1.0 if the run diverged, else 0.0) at the last epoch it
reached; the cause is in the sidecar's ``runs``). For seed s the dataset
split is drawn with s (unless ``data_seed`` fixes it) and the model is initialized with s, so
two configurations with the same seeds and dataset settings are compared on the same splits.

Results are cached in ``results_dir`` as ``<stem>.csv`` plus a JSON sidecar ``<stem>.json``
holding the configuration, its hash, the package version, the git commit, the device, the
wall time and per-seed divergence information. Both files are written to a temporary file
first and moved into place with ``os.replace`` (the sidecar last, so a crash never leaves a
result that looks complete). A rerun with the same configuration hash loads the saved result
instead of training, unless ``force=True``.

:func:`summarize` gives means with t-distribution confidence intervals across seeds and
:func:`paired_comparison` compares two models seed by seed with a paired t-test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ntkbook import __version__

__all__ = ["ExperimentConfig", "config_hash", "run_experiment", "summarize",
           "paired_comparison", "PairedComparison", "RESULT_COLUMNS", "git_commit"]

RESULT_COLUMNS = ["model", "seed", "epoch", "split", "metric", "value"]
# Bump when the saved format or the meaning of a run changes: old caches are then ignored.
SCHEMA_VERSION = 1
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class ExperimentConfig:
    """Everything that determines a run (and hence its cache key).

    dataset, dataset_kwargs: passed to :func:`ntkbook.data.load_dataset` (e.g. n_train,
        frequencies); ``seed`` comes from ``data_seed`` or the run's seed.
    model, model_kwargs: passed to :func:`ntkbook.models.build_model` with the dataset's
        input and output sizes; ``seed`` is the run's seed. ``model="ntk_regression"`` is
        kernel regression with the analytic NTK (:class:`ntkbook.regression.NTKRegressor`,
        model_kwargs go to it): no training, one row per metric at epoch 0, squared loss on
        the targets (one-hot for classes); there the seed only changes the data split.
    label: the value of the ``model`` column (default: the model name), to tell variants of
        the same architecture apart.
    optimizer, lr, epochs, batch_size, loss, optimizer_kwargs: see :func:`ntkbook.train.train`.
    seeds: one run per seed.
    data_seed: fixed split seed for every run (None: the run's seed).
    ntk_every: record the NTK spectrum every k epochs (0: no tracking).
    ntk_probe: number of training points in the NTK probe set.
    ntk_top_k, ntk_method: see :class:`ntkbook.train.NTKTracker`.
    dtype: "float32" or "float64", for both data and model.
    """

    dataset: str
    model: str
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    optimizer: str = "gd"
    lr: float = 0.1
    epochs: int = 10
    batch_size: int | None = None
    loss: str | None = None
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    seeds: Sequence[int] = (0, 1, 2)
    data_seed: int | None = None
    ntk_every: int = 0
    ntk_probe: int = 64
    ntk_top_k: int = 10
    ntk_method: str = "auto"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        from ntkbook.data import DATASETS

        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; known: "
                             f"{', '.join(sorted(DATASETS))}")
        known = _known_models()
        if self.model not in known:
            raise ValueError(f"unknown model {self.model!r}; known: {', '.join(known)}")
        self.seeds = tuple(int(s) for s in self.seeds)
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        if any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be non-negative, got {self.seeds}")
        for name in ("dataset_kwargs", "model_kwargs"):
            if "seed" in getattr(self, name):
                raise ValueError(f"{name} must not set 'seed': seeds come from "
                                 f"ExperimentConfig.seeds (and data_seed)")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")
        if self.ntk_every < 0:
            raise ValueError(f"ntk_every must be >= 0, got {self.ntk_every}")
        try:
            _canonical(self)
        except TypeError as exc:
            raise ValueError(f"ExperimentConfig must be JSON-serializable: {exc}") from None

    @property
    def name(self) -> str:
        return self.label or self.model

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExperimentConfig":
        return cls(**d)


def _known_models() -> list[str]:
    names = ["ntk_regression"] if _has_ntk_regressor() else []
    try:
        from ntkbook.models import MODELS

        names = list(MODELS) + names
    except ImportError:  # models.py not there yet
        names = ["ecrn", "mlp", "resnet", "resnet18"] + names
    return names


def _has_ntk_regressor() -> bool:
    try:
        from ntkbook.regression import NTKRegressor  # noqa: F401
    except ImportError:
        return False
    return True


def _canonical(config: ExperimentConfig) -> str:
    payload = {"schema": SCHEMA_VERSION, "config": config.to_dict()}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(config: ExperimentConfig) -> str:
    """SHA-256 (hex) of the configuration's canonical JSON (sorted keys, schema version)."""
    return hashlib.sha256(_canonical(config).encode()).hexdigest()


def git_commit() -> str:
    """The commit of the checkout that holds this package, or ``"unknown"``."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else "unknown"


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _stem(config: ExperimentConfig, digest: str) -> str:
    raw = f"{config.dataset}_{config.name}_{digest[:12]}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", raw)


def _normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Fixed column dtypes, so fresh and cached results compare equal."""
    df = df.reset_index(drop=True)
    for col in ("model", "split", "metric"):
        df[col] = df[col].astype(str)
    df["seed"] = df["seed"].astype(np.int64)
    df["epoch"] = df["epoch"].astype(np.int64)
    df["value"] = df["value"].astype(np.float64)
    return df


def _load_cached(csv: Path, sidecar: Path, digest: str) -> pd.DataFrame | None:
    if not (csv.exists() and sidecar.exists()):
        return None
    try:
        meta = json.loads(sidecar.read_text())
        if meta.get("config_hash") != digest:
            return None
        # values are read as text and parsed by float(): exact round trip of repr()
        df = pd.read_csv(csv, dtype=str, keep_default_na=False)
        if list(df.columns) != RESULT_COLUMNS:
            return None
        df["value"] = np.array([float(v) for v in df["value"]], dtype=np.float64)
        df = _normalize(df)
    except (OSError, ValueError, TypeError, pd.errors.ParserError):
        return None  # unreadable cache: recompute (and overwrite atomically)
    meta["loaded_from_cache"] = True
    df.attrs["metadata"] = meta
    return df


def _run_ntk_regression(config: ExperimentConfig, data, seed: int) -> tuple[pd.DataFrame, dict]:
    """Kernel regression with the analytic NTK: one 'epoch' (the closed-form solution)."""
    from ntkbook.regression import NTKRegressor
    from ntkbook.train import _metrics

    def as_np(t):
        return t.detach().to("cpu", torch.float64).reshape(len(t), -1).numpy()

    loss = config.loss or "mse"
    if loss != "mse":
        raise ValueError("ntk_regression solves the squared loss; use loss='mse' or None")
    reg = NTKRegressor(**config.model_kwargs)
    if data.task == "classification":  # regress one-hot targets; scores feed the metrics
        targets = torch.nn.functional.one_hot(data.y_train, data.n_classes)
    else:
        targets = data.y_train
    reg.fit(as_np(data.x_train), as_np(targets))
    rows = []
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if len(x) == 0:
            continue
        pred = torch.as_tensor(reg.predict(as_np(x))).to(x.device, x.dtype).reshape(len(x), -1)
        for metric, value in _metrics(pred, y, data, loss).items():
            rows.append({"epoch": 0, "split": split, "metric": metric, "value": value})
    info = {"seed": seed, "diverged": False, "diverged_epoch": None, "cause": None,
            "epochs_run": 0}
    return pd.DataFrame(rows, columns=["epoch", "split", "metric", "value"]), info


def run_experiment(config: ExperimentConfig, *, results_dir: str | os.PathLike = "results",
                   force: bool = False, device=None, progress: bool | None = None
                   ) -> pd.DataFrame:
    """Run (or load) an experiment; see the module docstring.

    Returns the tidy DataFrame (columns :data:`RESULT_COLUMNS`); ``df.attrs["metadata"]``
    holds the sidecar (config, config_hash, ntkbook_version, git_commit, device, wall_time_s,
    runs with per-seed divergence flags, and loaded_from_cache).
    """
    from ntkbook.data import load_dataset
    from ntkbook.train import NTKTracker, train

    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config must be an ExperimentConfig, got {type(config).__name__}")
    digest = config_hash(config)
    out_dir = Path(results_dir)
    stem = _stem(config, digest)
    csv, sidecar = out_dir / f"{stem}.csv", out_dir / f"{stem}.json"
    if not force:
        cached = _load_cached(csv, sidecar, digest)
        if cached is not None:
            return cached

    device = torch.device(device) if device is not None else torch.device("cpu")
    dtype = DTYPES[config.dtype]
    frames, runs = [], []
    start = time.perf_counter()
    for seed in config.seeds:
        t0 = time.perf_counter()
        data_seed = seed if config.data_seed is None else config.data_seed
        data = load_dataset(config.dataset, seed=data_seed, device=device, dtype=dtype,
                            **config.dataset_kwargs)
        if config.model == "ntk_regression":
            frame, info = _run_ntk_regression(config, data, seed)
        else:
            from ntkbook.models import build_model

            model = build_model(config.model, data.in_features, data.out_features, seed=seed,
                                **config.model_kwargs).to(device=device, dtype=dtype)
            callbacks = []
            if config.ntk_every:
                callbacks.append(NTKTracker(config.ntk_probe, every=config.ntk_every,
                                            top_k=config.ntk_top_k, method=config.ntk_method))
            res = train(model, data, optimizer=config.optimizer, lr=config.lr,
                        epochs=config.epochs, batch_size=config.batch_size, loss=config.loss,
                        seed=seed, device=device, callbacks=callbacks, progress=progress,
                        optimizer_kwargs=config.optimizer_kwargs)
            frame = res.frame()
            info = {"seed": seed, "diverged": res.diverged,
                    "diverged_epoch": res.diverged_epoch, "cause": res.cause,
                    "epochs_run": res.epochs_run}
        info["wall_time_s"] = time.perf_counter() - t0
        info["data_source"] = data.source
        # divergence is part of the tidy result, so a chapter can report it
        frame = pd.concat([frame, pd.DataFrame([
            {"epoch": info["epochs_run"], "split": "run", "metric": "diverged",
             "value": float(info["diverged"])}])], ignore_index=True)
        frame.insert(0, "seed", seed)
        frame.insert(0, "model", config.name)
        frames.append(frame)
        runs.append(info)
    wall = time.perf_counter() - start
    df = _normalize(pd.concat(frames, ignore_index=True)[RESULT_COLUMNS])

    meta = {
        "config": config.to_dict(),
        "config_hash": digest,
        "ntkbook_version": __version__,
        "git_commit": git_commit(),
        "device": _device_name(device),
        "torch_version": torch.__version__,
        "wall_time_s": wall,
        "runs": runs,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "result_file": csv.name,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(csv, lambda fh: df.to_csv(fh, index=False))
    _atomic_write(sidecar, lambda fh: json.dump(meta, fh, indent=2, default=str))
    meta["loaded_from_cache"] = False
    df.attrs["metadata"] = meta
    return df


# --------------------------------------------------------------------------- statistics


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """mean, std, lower, upper of a t confidence interval (NaN bounds when n < 2)."""
    from scipy import stats

    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    std = float(np.std(values, ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def _select_epoch(df: pd.DataFrame, epoch, keys: list[str]) -> pd.DataFrame:
    if epoch is None:
        return df
    if epoch == "last":
        last = df.groupby(keys)["epoch"].transform("max")
        return df[df["epoch"] == last]
    return df[df["epoch"] == int(epoch)]


def summarize(df: pd.DataFrame, *, metrics: Sequence[str] | None = None,
              splits: Sequence[str] | None = None, epoch: int | str | None = "last",
              confidence: float = 0.95) -> pd.DataFrame:
    """Mean and t confidence interval across seeds.

    Groups by model, split, metric (and epoch when ``epoch=None``, for learning curves with
    bands). ``epoch="last"`` takes, for each model/split/metric, the last epoch any seed
    reached (a seed that diverged earlier has no value there and is not counted: see ``n``);
    an int picks that epoch. Columns: model, split, metric, epoch, n, mean, std, ci_low,
    ci_high (half-width t_{(1+c)/2, n-1} * std / sqrt(n); NaN when n < 2).
    """
    _check_frame(df)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    d = df
    if metrics is not None:
        d = d[d["metric"].isin(list(metrics))]
    if splits is not None:
        d = d[d["split"].isin(list(splits))]
    d = _select_epoch(d, epoch, ["model", "split", "metric"])
    rows = []
    for (model, split, metric, ep), g in d.groupby(["model", "split", "metric", "epoch"],
                                                  sort=True):
        vals = g["value"].to_numpy(float)
        mean, std, lo, hi = _t_interval(vals, confidence)
        rows.append({"model": model, "split": split, "metric": metric, "epoch": int(ep),
                     "n": len(vals), "mean": mean, "std": std, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=["model", "split", "metric", "epoch", "n", "mean", "std",
                                       "ci_low", "ci_high"])


@dataclass
class PairedComparison:
    """Paired differences (a - b) of one metric on the same seeds and split.

    ``epoch`` is the epoch of model a's values and ``epoch_b`` that of model b's (they differ
    when each model's last epoch is used, e.g. a network against kernel regression).
    """

    model_a: str
    model_b: str
    metric: str
    split: str
    epoch: int
    n: int
    mean_difference: float
    ci_low: float
    ci_high: float
    t_statistic: float
    p_value: float
    confidence: float
    differences: pd.DataFrame
    epoch_b: int | None = None

    def __post_init__(self) -> None:
        if self.epoch_b is None:
            self.epoch_b = self.epoch

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("differences")
        return d

    def __str__(self) -> str:
        ep = (f"epoch {self.epoch}" if self.epoch == self.epoch_b
              else f"epochs {self.epoch} and {self.epoch_b}")
        return (f"{self.metric} ({self.split}, {ep}): {self.model_a} - "
                f"{self.model_b} = {self.mean_difference:.4g} "
                f"[{self.confidence:.0%} CI {self.ci_low:.4g}, {self.ci_high:.4g}], "
                f"paired t = {self.t_statistic:.3g}, p = {self.p_value:.3g}, n = {self.n}")


def paired_comparison(df: pd.DataFrame, model_a: str, model_b: str, metric: str, *,
                      split: str = "test", epoch: int | str = "last",
                      confidence: float = 0.95) -> PairedComparison:
    """Compare two models seed by seed on ``metric`` (differences a - b).

    Only seeds present for both models at the chosen epoch are paired. ``epoch="last"`` uses
    each model's own last epoch (the last any of its seeds reached; a seed that diverged
    earlier is left out), so a network can be compared with one-shot kernel regression
    (epoch 0); an int uses that epoch for both. Returns the mean difference, its t confidence interval and the
    two-sided paired t-test (``scipy.stats.ttest_rel``) statistic and p-value (NaN when
    n < 2 or all differences are equal).
    """
    from scipy import stats

    _check_frame(df)
    d = df[(df["metric"] == metric) & (df["split"] == split)]
    a, b = d[d["model"] == model_a], d[d["model"] == model_b]
    for name, part in ((model_a, a), (model_b, b)):
        if part.empty:
            raise ValueError(f"no rows for model {name!r}, metric {metric!r}, split {split!r}")
    if epoch == "last":
        ep_a, ep_b = int(a["epoch"].max()), int(b["epoch"].max())
    else:
        ep_a = ep_b = int(epoch)
    a = a[a["epoch"] == ep_a].set_index("seed")["value"]
    b = b[b["epoch"] == ep_b].set_index("seed")["value"]
    seeds = sorted(set(a.index) & set(b.index))
    if not seeds:
        raise ValueError(f"{model_a!r} (epoch {ep_a}) and {model_b!r} (epoch {ep_b}) share "
                         f"no seed for {metric!r} ({split})")
    diffs = pd.DataFrame({"seed": seeds, "a": a.loc[seeds].to_numpy(float),
                          "b": b.loc[seeds].to_numpy(float)})
    diffs["difference"] = diffs["a"] - diffs["b"]
    mean, _, lo, hi = _t_interval(diffs["difference"].to_numpy(), confidence)
    if len(seeds) >= 2 and np.ptp(diffs["difference"].to_numpy()) > 0:
        test = stats.ttest_rel(diffs["a"], diffs["b"])
        t_stat, p = float(test.statistic), float(test.pvalue)
    else:
        t_stat, p = math.nan, math.nan
    return PairedComparison(model_a, model_b, metric, split, ep_a, len(seeds), mean, lo, hi,
                            t_stat, p, confidence, diffs, ep_b)


def _check_frame(df: pd.DataFrame) -> None:
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"expected a run_experiment DataFrame; missing columns {missing}")
