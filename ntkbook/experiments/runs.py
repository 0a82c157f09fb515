r"""Seeded, cached experiment runs and their statistical summaries.

An :class:`ExperimentConfig` names a dataset, a model, the training hyperparameters, the
seeds and the NTK-tracking options. :func:`run_experiment` runs one model per seed and
returns a tidy DataFrame with columns

    model, seed, epoch, split, metric, value

(split is ``train``/``test`` for the training metrics of :mod:`ntkbook.train`, ``probe``
for the NTK-spectrum records of :class:`ntkbook.train.NTKTracker`, ``fit`` for what a
closed-form model chose, and ``run`` for one row per seed with metric ``diverged`` (1.0 if
the run diverged, else 0.0) at the last epoch it reached; the cause is in the sidecar's
``runs``). For seed s the dataset split is drawn with s (unless ``data_seed`` fixes it) and
the model is initialized with s, so two configurations with the same seeds and dataset
settings are compared on the same splits.

Two kinds of model run here: the networks of :mod:`ntkbook.models`, trained by
:func:`ntkbook.train.train`, and ``model="ntk_regression"``, kernel regression with an
analytic NTK (the paper's "conventional NTK model", or the ECRN's own kernel), solved in
closed form by :mod:`ntkbook.experiments.kernel_baseline`.

A configuration with a ``grid`` of candidates is *tuned*: on every seed (or on the first,
``tune_on="first_seed"``) each candidate is fitted on the training split less a validation
part, the best one on validation is selected, and only that one is evaluated on the test
split, once (:mod:`ntkbook.experiments.tuning`, which also lists the rows such a run adds:
``val``, ``tuning``, ``fit``, ``test`` at epoch 0, and per-example ``example`` rows).

The cache. A result is stored in ``results_dir`` as ``<stem>.csv`` plus a JSON sidecar
``<stem>.json`` (the stem names the dataset, the model and the configuration hash). The
sidecar holds the configuration, its hash, the fingerprint of the code that computed the
result (:func:`ntkbook._fingerprint.code_fingerprint`), the SHA-256 and the row count of the
CSV, the package version, the git commit, the device, the wall time and per-seed divergence
information. A rerun loads the saved result only when the configuration hash and the code
fingerprint both match and the CSV still has the bytes the sidecar describes:

* a result computed by other code (an edit to the package, other numeric libraries) is
  recomputed, silently: it is stale, not broken;
* a CSV that was truncated or edited, a sidecar that is not valid JSON, or one file of the
  pair without the other is recomputed with a :class:`CacheWarning` that names the file;
* a cache file that is a symbolic link is refused with :class:`ntkbook._io.SymlinkError`
  before anything runs (the package never reads or writes through a link).

``force=True`` recomputes; ``force=None`` (the default) recomputes when the environment sets
``NTKBOOK_FORCE=1``, which ``ntkbook run --force`` and ``ntkbook book --force`` do. Both
files are written atomically (:mod:`ntkbook._io`), the CSV first and the sidecar last. A
write that is interrupted leaves the previous pair whole, or neither file (when the CSV was
already replaced): a half-written cache is never left, and never loaded.

:func:`summarize` gives means with t-distribution confidence intervals across seeds and
:func:`paired_comparison` compares two models seed by seed with a paired t-test.

Example::

    >>> cfg = ExperimentConfig("sinusoids", "ecrn", dataset_kwargs={"n_train": 32},
    ...                        model_kwargs={"width": 16}, epochs=5, seeds=(0, 1))
    >>> df = run_experiment(cfg, results_dir="results")               # doctest: +SKIP
    >>> summarize(df, metrics=["mse"], splits=["test"])                # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import re
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ntkbook import __version__, _fingerprint
from ntkbook._io import check_writable_target, read_json, write_bytes, write_json
from ntkbook._validation import (InvalidParameterError, check_bool, check_float, check_int,
                                 check_option, check_seed, check_seeds, fail)
from ntkbook.experiments.kernel_baseline import (KERNEL_MODEL, RIDGE_GRID, KernelBaseline, fit_kernel_regression,
                                                 fit_temperature, kernel_ridge_loo, split_digest)
from ntkbook.stats import PairedDifference, paired_difference, t_interval

__all__ = ["ExperimentConfig", "config_hash", "run_experiment", "resolve_force", "CacheWarning",
           "summarize", "paired_comparison", "PairedComparison", "RESULT_COLUMNS", "git_commit",
           "KernelBaseline", "kernel_ridge_loo", "fit_temperature", "fit_kernel_regression",
           "KERNEL_MODEL", "RIDGE_GRID"]

RESULT_COLUMNS = ["model", "seed", "epoch", "split", "metric", "value"]
# Part of the configuration hash (and so of every file name); bump only when the meaning of a
# configuration field changes. Changes of the code are covered by the code fingerprint.
SCHEMA_VERSION = 1
# The layout of the cached files; a sidecar of another format is not loaded.
CACHE_FORMAT = 2
DTYPES = {"float32": torch.float32, "float64": torch.float64}


class CacheWarning(UserWarning):
    """A cached result could not be verified (truncated, edited, half written) and is recomputed."""


@dataclass
class ExperimentConfig:
    """Everything that determines a run (and hence, with the code, its cache key).

    dataset, dataset_kwargs: passed to :func:`ntkbook.data.load_dataset` (e.g. n_train,
        frequencies); ``seed`` comes from ``data_seed`` or the run's seed.
    model, model_kwargs: passed to :func:`ntkbook.models.build_model` with the dataset's
        input and output sizes; ``seed`` is the run's seed. ``model="ntk_regression"`` is the
        kernel baseline (model_kwargs are the fields of :class:`KernelBaseline` but its label):
        no training, one row per metric at epoch 0; there the seed only changes the data split
        and the training fields are not used.
    label: the value of the ``model`` column (default: the model name), to tell variants of
        the same architecture apart.
    optimizer, lr, epochs, batch_size, loss, optimizer_kwargs: see :func:`ntkbook.train.train`.
    seeds: one run per seed.
    data_seed: fixed split seed for every run (None: the run's seed).
    ntk_every: record the NTK spectrum every k epochs (0: no tracking).
    ntk_probe: number of training points in the NTK probe set.
    ntk_top_k, ntk_method: see :class:`ntkbook.train.NTKTracker`.
    dtype: "float32" or "float64", for both data and model.
    grid: candidates for model selection, each a dict of overrides (keys among
        :data:`ntkbook.experiments.tuning.GRID_KEYS`; ``model_kwargs`` is merged); [] (the
        default) trains the configuration as it is. Every model of a benchmark gets a grid
        of the same length: the same budget.
    validation: the fraction of the training split held out for selection (0 with no grid).
    tune_on: "every_seed" (select on every seed) or "first_seed" (select on the first seed,
        train only the selected candidate on the others).
    patience: early stopping of a tuned network after this many epochs without a better
        validation score (0: train every epoch, still keeping the best one).
    per_example: keep the per-example test scores of a tuned run (``example`` rows).
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
    grid: list[dict[str, Any]] = field(default_factory=list)
    validation: float = 0.0
    tune_on: str = "every_seed"
    patience: int = 0
    per_example: bool = False

    def __post_init__(self) -> None:
        from ntkbook.data import DATASETS

        owner = "ExperimentConfig"
        check_option(self.dataset, "dataset", owner, DATASETS)
        check_option(self.model, "model", owner, _known_models())
        self.seeds = tuple(check_seeds(self.seeds, "seeds", owner))
        if self.data_seed is not None:
            self.data_seed = check_seed(self.data_seed, "data_seed", owner)
        if self.label is not None and (not isinstance(self.label, str) or not self.label):
            fail("label", owner, "None or a non-empty str", self.label)
        for name in ("dataset_kwargs", "model_kwargs", "optimizer_kwargs"):
            value = getattr(self, name)
            if not isinstance(value, dict):
                fail(name, owner, "a dict", value)
            if name != "optimizer_kwargs" and "seed" in value:
                fail(name, owner, "a dict without 'seed' (seeds come from ExperimentConfig.seeds and "
                     "data_seed)", value)
        check_option(self.dtype, "dtype", owner, DTYPES)
        check_int(self.ntk_every, "ntk_every", owner, low=0)
        check_int(self.ntk_probe, "ntk_probe", owner)
        check_int(self.ntk_top_k, "ntk_top_k", owner)
        self._check_tuning(owner)
        if self.model == KERNEL_MODEL:
            self.kernel()  # checks model_kwargs
            if self.loss not in (None, "mse"):
                fail("loss", owner, "None or 'mse' for model='ntk_regression' (kernel regression solves "
                     "the squared loss)", self.loss)
        try:
            _canonical(self)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"The fields of ExperimentConfig must be JSON-serializable (they "
                                        f"make its cache key): {exc}.") from None

    def _check_tuning(self, owner: str) -> None:
        from ntkbook.experiments.tuning import GRID_KEYS, TUNE_ON

        if not isinstance(self.grid, (list, tuple)) or not all(isinstance(c, dict) for c in self.grid):
            fail("grid", owner, "a list of dicts (one per candidate)", self.grid)
        self.grid = [dict(c) for c in self.grid]
        for c in self.grid:
            if set(c) - set(GRID_KEYS) or not isinstance(c.get("model_kwargs", {}), dict):
                fail("grid", owner, f"a list of dicts with keys among {list(GRID_KEYS)} ('model_kwargs' a dict)", self.grid)
        self.validation = check_float(self.validation, "validation", owner, 0.0, 1.0, high_open=True)
        if self.grid and self.validation == 0.0:
            fail("validation", owner, "a fraction in (0, 1) when a grid is given (the candidates are compared on it)",
                 self.validation)
        check_option(self.tune_on, "tune_on", owner, TUNE_ON)
        check_int(self.patience, "patience", owner, low=0)
        check_bool(self.per_example, "per_example", owner)
        from ntkbook.experiments.tuning import candidate_config

        for c in self.grid:  # each candidate must be a valid configuration itself
            candidate_config(self, c)

    @property
    def tuned(self) -> bool:
        """Whether runs select among candidates on a validation split."""
        return bool(self.grid) or self.validation > 0

    def candidates(self) -> list[tuple[int, dict[str, Any]]]:
        """(index, overrides) of every candidate; a validation split without a grid has one
        candidate, the configuration itself."""
        return list(enumerate(self.grid)) if self.grid else [(0, {})]

    @property
    def name(self) -> str:
        return self.label or self.model

    def kernel(self) -> "KernelBaseline":
        """The :class:`KernelBaseline` of a ``model="ntk_regression"`` configuration."""
        if self.model != KERNEL_MODEL:
            raise ValueError(f"ExperimentConfig.kernel() needs model={KERNEL_MODEL!r}; this one has "
                             f"model={self.model!r}.")
        unknown = sorted(set(self.model_kwargs) - set(KernelBaseline.model_fields()))
        if unknown:
            fail("model_kwargs", "ExperimentConfig", f"a dict with keys among {KernelBaseline.model_fields()} "
                 "for model='ntk_regression'", self.model_kwargs)
        return KernelBaseline(**self.model_kwargs, label=self.name)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExperimentConfig":
        return cls(**d)


    @classmethod
    def for_kernel(cls, kernel: KernelBaseline, dataset: str, dataset_kwargs: dict[str, Any], seeds) -> "ExperimentConfig":
        """The configuration that runs the kernel baseline ``kernel`` on ``dataset`` (in float64)."""
        kwargs = {name: getattr(kernel, name) for name in kernel.model_fields()}
        kwargs["ridges"] = list(kernel.ridges)
        return cls(dataset=dataset, model=KERNEL_MODEL, dataset_kwargs=dict(dataset_kwargs),
                   model_kwargs=kwargs, label=kernel.label, seeds=tuple(seeds), dtype="float64")

def _known_models() -> list[str]:
    from ntkbook.models import MODELS

    return [*MODELS, KERNEL_MODEL]


def _canonical(config: ExperimentConfig) -> str:
    payload = {"schema": SCHEMA_VERSION, "config": config.to_dict()}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(config: ExperimentConfig) -> str:
    """SHA-256 (hex) of the configuration's canonical JSON (sorted keys, schema version)."""
    return hashlib.sha256(_canonical(config).encode()).hexdigest()


def resolve_force(force: bool | None, owner: str = "run_experiment") -> bool:
    """Whether a cache must recompute: ``force`` itself, or for None ``NTKBOOK_FORCE == "1"``.

    The pipeline sets ``NTKBOOK_FORCE=1`` in a chapter's kernel for ``ntkbook run --force``
    and ``ntkbook book --force`` (and removes it otherwise), so ``--force`` reaches every cache.
    """
    if force is None:
        return os.environ.get("NTKBOOK_FORCE") == "1"
    return check_bool(force, "force", owner)


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


# --------------------------------------------------------------------------- the cache


def _stem(config: ExperimentConfig, digest: str) -> str:
    raw = f"{config.dataset}_{config.name}_{digest[:12]}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", raw)


def _cache_paths(config: ExperimentConfig, digest: str, results_dir) -> tuple[Path, Path]:
    """(csv, sidecar) of a configuration; refuses links and unwritable places before any work."""
    out_dir = Path(results_dir)
    stem = _stem(config, digest)
    return (check_writable_target(out_dir / f"{stem}.csv"),
            check_writable_target(out_dir / f"{stem}.json"))


def _normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Fixed column dtypes, so fresh and cached results compare equal."""
    df = df.reset_index(drop=True)
    for col in ("model", "split", "metric"):
        df[col] = df[col].astype(str)
    df["seed"] = df["seed"].astype(np.int64)
    df["epoch"] = df["epoch"].astype(np.int64)
    df["value"] = df["value"].astype(np.float64)
    return df


def _csv_bytes(df: pd.DataFrame) -> bytes:
    # floats as repr() (exact round trip); a NaN as "nan" so it reads back as one
    return df.to_csv(index=False, na_rep="nan", lineterminator="\n").encode("utf-8")


def _parse_csv(data: bytes) -> pd.DataFrame:
    df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    if list(df.columns) != RESULT_COLUMNS:
        raise ValueError(f"columns {list(df.columns)} instead of {RESULT_COLUMNS}")
    df["value"] = np.array([float(v) for v in df["value"]], dtype=np.float64)
    return _normalize(df)


def _distrust(path: Path, why: str) -> None:
    warnings.warn(f"Not using the cached result {path}: {why}. Recomputing it.", CacheWarning, stacklevel=4)


def _read_sidecar(csv: Path, sidecar: Path) -> dict | None:
    """The sidecar of a cached result, or None (with a warning when the pair is broken)."""
    if not csv.exists() and not sidecar.exists():
        return None
    if not sidecar.exists():
        _distrust(csv, f"its sidecar {sidecar.name} is missing (an interrupted write?)")
        return None
    if not csv.exists():
        _distrust(sidecar, f"the result file {csv.name} it describes is missing")
        return None
    try:
        meta = read_json(sidecar)
    except (OSError, ValueError) as exc:
        _distrust(sidecar, f"the sidecar cannot be read ({exc})")
        return None
    if not isinstance(meta, dict):
        _distrust(sidecar, "the sidecar is not a JSON object")
        return None
    return meta


def _load_cached(csv: Path, sidecar: Path, digest: str, fingerprint: str) -> pd.DataFrame | None:
    """The cached result if it was computed by this configuration and this code and its CSV
    is intact; None otherwise (see the module docstring for what warns)."""
    meta = _read_sidecar(csv, sidecar)
    if meta is None:
        return None
    if (meta.get("cache_format"), meta.get("config_hash"), meta.get("code_fingerprint")) != (
            CACHE_FORMAT, digest, fingerprint):
        return None  # another configuration, other code or an older format: stale, recompute
    try:
        data = csv.read_bytes()
    except OSError as exc:
        _distrust(csv, f"it cannot be read ({exc})")
        return None
    if hashlib.sha256(data).hexdigest() != meta.get("result_sha256"):
        _distrust(csv, f"its SHA-256 differs from the one in {sidecar.name} (the file was truncated or "
                       "edited)")
        return None
    try:
        df = _parse_csv(data)
    except (ValueError, TypeError, pd.errors.ParserError) as exc:
        _distrust(csv, f"it cannot be parsed ({exc})")
        return None
    if len(df) != meta.get("result_rows"):
        _distrust(csv, f"it holds {len(df)} rows where {sidecar.name} records {meta.get('result_rows')}")
        return None
    df.attrs["metadata"] = {**meta, "loaded_from_cache": True}
    return df


def _save_cached(csv: Path, sidecar: Path, df: pd.DataFrame, meta: dict) -> dict:
    """Write the CSV, then the sidecar that verifies it; returns the sidecar's content.

    If the CSV write fails or is interrupted, nothing changed (an older pair stays whole). If
    the sidecar write fails after the CSV was replaced, both files are removed: a CSV that its
    sidecar does not describe is half a cache.
    """
    data = _csv_bytes(df)
    meta = {**meta, "result_file": csv.name, "result_sha256": hashlib.sha256(data).hexdigest(),
            "result_rows": len(df)}
    write_bytes(csv, data)
    try:
        write_json(sidecar, meta, indent=2, default=str)
    except BaseException:
        for path in (sidecar, csv):
            if not path.is_symlink():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        raise
    return meta


# --------------------------------------------------------------------------- running


def _run_network(config: ExperimentConfig, data, seed: int, device: torch.device,
                 progress: bool | None) -> tuple[pd.DataFrame, dict]:
    """Train the network of ``config`` on one split: its history and its run record."""
    from ntkbook.models import build_model
    from ntkbook.train import NTKTracker, train

    model = build_model(config.model, data.in_features, data.out_features, seed=seed,
                        **config.model_kwargs).to(device=device, dtype=DTYPES[config.dtype])
    callbacks = []
    if config.ntk_every:
        callbacks.append(NTKTracker(config.ntk_probe, every=config.ntk_every,
                                    top_k=config.ntk_top_k, method=config.ntk_method))
    res = train(model, data, optimizer=config.optimizer, lr=config.lr,
                epochs=config.epochs, batch_size=config.batch_size, loss=config.loss,
                seed=seed, device=device, callbacks=callbacks, progress=progress,
                optimizer_kwargs=config.optimizer_kwargs)
    info = {"seed": seed, "diverged": res.diverged, "diverged_epoch": res.diverged_epoch,
            "cause": res.cause, "epochs_run": res.epochs_run}
    return res.frame(), info


def _run_kernel(config: ExperimentConfig, data, seed: int, solved: dict[str, list]
                ) -> tuple[pd.DataFrame, dict]:
    """Solve the kernel baseline on one split (epoch 0); ``solved`` maps a data digest to its
    rows, so a split seen before (the same examples in another order) is not solved again
    (unless the kernel samples its Fourier matrix with the seed)."""
    from ntkbook.experiments.kernel_baseline import fourier_matrix

    kb = config.kernel()
    key = split_digest(data) + (f":{seed}" if fourier_matrix(kb, 1, seed) is not None else "")
    if key not in solved:
        solved[key] = fit_kernel_regression(kb, data, seed)
    frame = pd.DataFrame([{"epoch": 0, **r} for r in solved[key]], columns=["epoch", "split", "metric", "value"])
    info = {"seed": seed, "diverged": False, "diverged_epoch": None, "cause": None, "epochs_run": 0}
    return frame, info


def _run_seeds(config: ExperimentConfig, device: torch.device, progress: bool | None
               ) -> tuple[pd.DataFrame, list[dict]]:
    """One run per seed: the tidy frame (columns RESULT_COLUMNS) and the per-seed records."""
    from ntkbook.data import load_dataset
    from ntkbook.experiments.tuning import run_tuned_seed

    frames, runs, solved = [], [], {}
    candidates = config.candidates()
    for seed in config.seeds:
        t0 = time.perf_counter()
        data_seed = seed if config.data_seed is None else config.data_seed
        data = load_dataset(config.dataset, seed=data_seed, device=device, dtype=DTYPES[config.dtype],
                            **config.dataset_kwargs)
        if config.tuned:
            frame, info = run_tuned_seed(config, data, seed, device, progress, candidates, solved)
            if config.tune_on == "first_seed" and info.get("candidate") is not None:
                candidates = [c for c in candidates if c[0] == info["candidate"]]  # the others train it only
        elif config.model == KERNEL_MODEL:
            frame, info = _run_kernel(config, data, seed, solved)
        else:
            frame, info = _run_network(config, data, seed, device, progress)
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
    return _normalize(pd.concat(frames, ignore_index=True)[RESULT_COLUMNS]), runs


def run_experiment(config: ExperimentConfig, *, results_dir: str | os.PathLike = "results",
                   force: bool | None = None, device=None, progress: bool | None = None
                   ) -> pd.DataFrame:
    """Run (or load from the cache) an experiment; see the module docstring.

    force: True recomputes, False loads a valid cached result, None (default) recomputes
        when ``NTKBOOK_FORCE=1`` is set (``ntkbook run --force``).

    Returns the tidy DataFrame (columns :data:`RESULT_COLUMNS`); ``df.attrs["metadata"]``
    holds the sidecar (config, config_hash, code_fingerprint, result_sha256, result_rows,
    ntkbook_version, git_commit, device, wall_time_s, runs with per-seed divergence flags) and
    loaded_from_cache.
    """
    if not isinstance(config, ExperimentConfig):
        fail("config", "run_experiment", "an ExperimentConfig", config)
    force = resolve_force(force)
    digest = config_hash(config)
    fingerprint = _fingerprint.code_fingerprint()
    csv, sidecar = _cache_paths(config, digest, results_dir)
    if not force:
        cached = _load_cached(csv, sidecar, digest, fingerprint)
        if cached is not None:
            return cached

    device = torch.device(device) if device is not None else torch.device("cpu")
    start = time.perf_counter()
    df, runs = _run_seeds(config, device, progress)
    meta = {
        "cache_format": CACHE_FORMAT,
        "config": config.to_dict(),
        "config_hash": digest,
        "code_fingerprint": fingerprint,
        "ntkbook_version": __version__,
        "git_commit": git_commit(),
        "device": _device_name(device),
        "torch_version": torch.__version__,
        "wall_time_s": time.perf_counter() - start,
        "runs": runs,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    meta = _save_cached(csv, sidecar, df, meta)
    df.attrs["metadata"] = {**meta, "loaded_from_cache": False}
    return df


# --------------------------------------------------------------------------- statistics


def _select_epoch(df: pd.DataFrame, epoch, keys: list[str]) -> pd.DataFrame:
    if epoch is None:
        return df
    if epoch == "last":
        last = df.groupby(keys)["epoch"].transform("max")
        return df[df["epoch"] == last]
    return df[df["epoch"] == epoch]


def _check_epoch(epoch, owner: str, allow_none: bool):
    if epoch is None and allow_none or epoch == "last":
        return epoch
    if isinstance(epoch, str) or epoch is None:
        fail("epoch", owner, "'last', None or an int >= 0" if allow_none else "'last' or an int >= 0", epoch)
    return check_int(epoch, "epoch", owner, low=0)


def summarize(df: pd.DataFrame, *, metrics: Sequence[str] | None = None,
              splits: Sequence[str] | None = None, epoch: int | str | None = "last",
              confidence: float = 0.95) -> pd.DataFrame:
    """Mean and t confidence interval across seeds.

    Groups by model, split, metric (and epoch when ``epoch=None``, for learning curves with
    bands). ``epoch="last"`` takes, for each model/split/metric, the last epoch any seed
    reached (a seed that diverged earlier has no value there and is not counted: see ``n``);
    an int picks that epoch. Columns: model, split, metric, epoch, n, n_dropped, mean, std,
    ci_low, ci_high (half-width t_{(1+c)/2, n-1} * std / sqrt(n); NaN when n < 2).

    A summary describes, it does not decide: a non-finite value is left out
    (:func:`ntkbook.stats.t_interval` with ``nonfinite="drop"``), ``n`` counts the values used
    and ``n_dropped`` those left out. Verdicts use :func:`paired_comparison`, which does not
    drop them.
    """
    owner = "summarize"
    _check_frame(df, owner)
    check_float(confidence, "confidence", owner, 0.0, 1.0, low_open=True, high_open=True)
    epoch = _check_epoch(epoch, owner, allow_none=True)
    d = df
    if metrics is not None:
        d = d[d["metric"].isin(list(metrics))]
    if splits is not None:
        d = d[d["split"].isin(list(splits))]
    d = _select_epoch(d, epoch, ["model", "split", "metric"])
    rows = []
    for (model, split, metric, ep), g in d.groupby(["model", "split", "metric", "epoch"],
                                                  sort=True):
        iv = t_interval(g["value"].to_numpy(float), confidence, nonfinite="drop")
        rows.append({"model": model, "split": split, "metric": metric, "epoch": int(ep),
                     "n": iv.n, "n_dropped": iv.n_dropped, "mean": iv.mean, "std": iv.std,
                     "ci_low": iv.low, "ci_high": iv.high})
    return pd.DataFrame(rows, columns=["model", "split", "metric", "epoch", "n", "n_dropped", "mean", "std",
                                       "ci_low", "ci_high"])


@dataclass(frozen=True)
class PairedComparison(PairedDifference):
    """Paired differences (a - b) of one metric on the same seeds and split.

    The numbers are those of :class:`ntkbook.stats.PairedDifference` (n, mean_difference,
    ci_low, ci_high, t_statistic, p_value, confidence), ``differences`` the per-seed table
    (seed, a, b, difference). ``epoch`` is the epoch of model a's values and ``epoch_b`` that
    of model b's (they differ when each model's last epoch is used, e.g. a network against
    kernel regression).
    """

    differences: pd.DataFrame
    model_a: str
    model_b: str
    metric: str
    split: str
    epoch: int
    epoch_b: int | None = None

    def __post_init__(self) -> None:
        if self.epoch_b is None:
            object.__setattr__(self, "epoch_b", self.epoch)  # frozen, like PairedDifference

    def as_dict(self) -> dict[str, Any]:
        """The labels and numbers of the comparison (no per-seed table)."""
        return {"model_a": self.model_a, "model_b": self.model_b, "metric": self.metric, "split": self.split,
                "epoch": self.epoch, **self.numbers(), "epoch_b": self.epoch_b}

    def __str__(self) -> str:
        ep = (f"epoch {self.epoch}" if self.epoch == self.epoch_b
              else f"epochs {self.epoch} and {self.epoch_b}")
        return (f"{self.metric} ({self.split}, {ep}): {self.model_a} - "
                f"{self.model_b} = {self.mean_difference:.4g} "
                f"[{self.confidence:.0%} CI {self.ci_low:.4g}, {self.ci_high:.4g}], "
                f"paired t = {self.t_statistic:.3g}, p = {self.p_value:.3g}, n = {self.n}")


def _seed_values(df: pd.DataFrame, part: pd.DataFrame, model: str, epoch: int, last: bool) -> pd.Series:
    """Value at ``epoch`` of every seed ``model`` ran (seed -> value), NaN where it has none.

    A seed ran if it has a row of this metric or a ``run`` row. A seed without a value at the
    epoch (it stopped earlier) is NaN, and so is a seed that diverged when the model's last
    epoch is compared: leaving it out would compare only the runs that survived.
    """
    run = df[(df["model"] == model) & (df["split"] == "run") & (df["metric"] == "diverged")]
    seeds = sorted(set(part["seed"]) | set(run["seed"]))
    at = part[part["epoch"] == epoch].groupby("seed")["value"].first()
    values = at.reindex(seeds).astype(float)
    if last:
        diverged = set(run.loc[run["value"] > 0, "seed"])
        values[values.index.isin(diverged)] = math.nan
    return values


def paired_comparison(df: pd.DataFrame, model_a: str, model_b: str, metric: str, *,
                      split: str = "test", epoch: int | str = "last",
                      confidence: float = 0.95) -> PairedComparison:
    """Compare two models seed by seed on ``metric`` (differences a - b).

    The seeds both models ran are paired. ``epoch="last"`` uses each model's own last epoch
    (the last any of its seeds reached), so a network can be compared with one-shot kernel
    regression (epoch 0); an int uses that epoch for both. Returns the mean difference, its t
    confidence interval and the two-sided paired t-test (``scipy.stats.ttest_rel``) statistic
    and p-value (NaN when n < 2 or all differences are equal), from
    :func:`ntkbook.stats.paired_difference`.

    A diverged seed makes the comparison inconclusive, never silently better: a seed that ran
    but has no value at the epoch, or that diverged (at the last epoch), enters as NaN, and
    the interval of the differences is then NaN (the ``nonfinite="void"`` policy), which
    every verdict rule reads as "inconclusive".
    """
    owner = "paired_comparison"
    _check_frame(df, owner)
    check_float(confidence, "confidence", owner, 0.0, 1.0, low_open=True, high_open=True)
    epoch = _check_epoch(epoch, owner, allow_none=False)
    d = df[(df["metric"] == metric) & (df["split"] == split)]
    a, b = d[d["model"] == model_a], d[d["model"] == model_b]
    for name, part in ((model_a, a), (model_b, b)):
        if part.empty:
            raise ValueError(f"no rows for model {name!r}, metric {metric!r}, split {split!r}")
    last = epoch == "last"
    ep_a, ep_b = (int(a["epoch"].max()), int(b["epoch"].max())) if last else (epoch, epoch)
    for name, part, ep in ((model_a, a, ep_a), (model_b, b, ep_b)):
        if not (part["epoch"] == ep).any():
            raise ValueError(f"no rows for model {name!r}, metric {metric!r}, split {split!r} at epoch {ep}")
    va = _seed_values(df, a, model_a, ep_a, last)
    vb = _seed_values(df, b, model_b, ep_b, last)
    seeds = sorted(set(va.index) & set(vb.index))
    if not seeds:
        raise ValueError(f"{model_a!r} (epoch {ep_a}) and {model_b!r} (epoch {ep_b}) share "
                         f"no seed for {metric!r} ({split})")
    diffs = pd.DataFrame({"seed": seeds, "a": va.loc[seeds].to_numpy(float),
                          "b": vb.loc[seeds].to_numpy(float)})
    diffs["difference"] = diffs["a"] - diffs["b"]
    res = paired_difference(diffs["a"].to_numpy(), diffs["b"].to_numpy(), confidence)  # nonfinite="void"
    return PairedComparison(**res.numbers(), differences=diffs, model_a=model_a, model_b=model_b, metric=metric,
                            split=split, epoch=ep_a, epoch_b=ep_b)


def _check_frame(df: pd.DataFrame, owner: str) -> None:
    if not isinstance(df, pd.DataFrame):
        fail("df", owner, "a DataFrame of run_experiment", type(df).__name__)
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"expected a run_experiment DataFrame; missing columns {missing}")
