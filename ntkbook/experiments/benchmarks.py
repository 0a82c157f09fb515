r"""The benchmark experiments of part III: one named configuration per experiment, a runner
that tunes and compares every model on the same seeds and splits, and the statistics of the
comparisons.

The paper (arXiv:2512.08264) reports that the NTK-ECRN beats MLPs, ResNet-18 and "conventional
NTK models" on synthetic, UCI and CIFAR-10 data; its own hyperparameter tables are not
public, so every :class:`Benchmark` below is a **reconstruction**: the settings are ours, and
:meth:`Benchmark.differences` lists how each one departs from the package defaults.

Attribution. A benchmark holds, beside the ECRN, the baselines that say *where* a
difference comes from (:data:`COMPARISONS` names the mechanism each pair isolates):

* ``mlp_fourier``: an MLP with the ECRN's own Fourier features (the same sigma, count and, for
  a seed, the same B) and its tanh: ECRN - mlp_fourier isolates the scaled residual tower
  with stochastic depth;
* ``ecrn_ntk``: kernel regression with the ECRN's analytic NTK
  (:func:`ntkbook.analytic.ecrn_kernels`) on the same features: ECRN - ecrn_ntk isolates
  finite-width training;
* ``ntk``: kernel regression with the infinite-width NTK of an MLP on the raw inputs, the
  paper's "conventional NTK model";
* ``mlp`` and ``resnet`` (and ``resnet18`` on images): the conventional networks.

Equal tuning. Every model gets the same number of candidates (:attr:`Benchmark.budget`),
chosen on a validation split carved from the training data, and the test split is used
once, after the choice (:mod:`ntkbook.experiments.tuning`). Every run goes through
:func:`ntkbook.experiments.runs.run_experiment`, cached under ``results/`` by the
configuration and the code that computes it.

Statistics (:attr:`Benchmark.statistic`), one per kind of experiment:

* ``"paired_t"``: every seed draws a new data set (the synthetic tasks), so the per-seed
  differences are independent: the paired t-interval (:func:`ntkbook.stats.paired_difference`);
* ``"corrected"``: repeated random splits of one data set (UCI): the training sets of two
  splits overlap, so the differences are correlated and the plain t-test is too confident;
  :func:`ntkbook.stats.corrected_resampled_t` (Nadeau & Bengio 2003) with the sizes of the
  training and test splits;
* ``"bootstrap"``: one fixed test set (CIFAR-10): seeds vary only the training, so an interval
  across seeds leaves out the sampling error of the test set itself;
  :func:`ntkbook.stats.paired_bootstrap` resamples test examples and seeds.

Example::

    >>> bench = uci_benchmark("iris", n_seeds=2, epochs=20, width=32)
    >>> result = run_benchmark(bench, results_dir="results")            # doctest: +SKIP
    >>> result.compare("ecrn", "mlp", "accuracy")                         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import itertools
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ntkbook._progress import progress_bar
from ntkbook._validation import check_bool, check_float, check_int, check_option, fail
from ntkbook.experiments.kernel_baseline import KERNEL_MODEL, RIDGE_GRID, KernelBaseline
from ntkbook.experiments.runs import RESULT_COLUMNS, ExperimentConfig, run_experiment, summarize
from ntkbook.experiments.tuning import TUNE_ON
from ntkbook.stats import (Interval, PairedDifference, corrected_resampled_t, one_sided_p, paired_bootstrap,
                           paired_difference, t_interval)

__all__ = ["Benchmark", "KernelBaseline", "BenchmarkResult", "Comparison", "run_benchmark",
           "run_kernel_regression", "torch_threads", "network_grid", "kernel_grid",
           "sinusoid_benchmark", "gaussian_mixture_benchmark", "uci_benchmark",
           "cifar_benchmark", "unit_phase_scale", "claim_outcome", "bayes_accuracy",
           "previous_recipe", "COMPARISONS", "STATISTICS", "METRIC_BOUNDS",
           "UCI_FEATURES", "RIDGE_GRID", "LEARNING_RATES", "SIGMA_FACTORS"]

STATISTICS = ("paired_t", "corrected", "bootstrap")
# Where each metric can lie: intervals are cut there (an accuracy interval never leaves [0, 1]).
METRIC_BOUNDS = {"accuracy": (0.0, 1.0), "r2": (-math.inf, 1.0), "mse": (0.0, math.inf),
                 "cross_entropy": (0.0, math.inf), "cross_entropy_raw": (0.0, math.inf)}
# The per-example score behind a metric, for the paired bootstrap over test examples.
EXAMPLE_SCORE = {"accuracy": "correct", "cross_entropy": "nll", "mse": "sq_error"}

# The mechanism a paired difference (a - b) isolates, in words: the chapters' tables read it.
COMPARISONS = {
    ("ecrn", "mlp"): "everything the ECRN adds to an MLP: Fourier features, the scaled residual tower, "
                     "stochastic depth, tanh (the paper's claim)",
    ("ecrn", "resnet"): "Fourier features, the residual scale alpha_l and stochastic depth, against an "
                        "unscaled residual tower (the paper's claim against ResNets)",
    ("ecrn", "resnet18"): "the ECRN on pixel vectors against a convolutional ResNet-18 on images "
                          "(the paper's claim)",
    ("ecrn", "ntk"): "the trained ECRN against the conventional NTK model, the MLP's infinite-width "
                     "kernel on raw inputs (the paper's claim)",
    ("ecrn", "cntk"): "the trained ECRN on pixel vectors against the infinite-width kernel of a ReLU "
                      "CNN on (pooled) images, the conventional NTK for images",
    ("ecrn", "mlp_fourier"): "the scaled residual tower with stochastic depth: the same Fourier features "
                             "and activation in both",
    ("ecrn", "ecrn_ntk"): "finite-width training: the same architecture and features at infinite width",
    ("mlp_fourier", "mlp"): "Fourier features in front of an MLP",
    ("ecrn_ntk", "ntk"): "the ECRN's kernel against the MLP's: Fourier features and residual blocks at "
                         "infinite width",
}

LEARNING_RATES = (1e-3, 1e-2)  # Adam, NTK parameterization: a decade around the usual 1e-3
# sigma = factor * unit_phase_scale(d, input_std): the same rule on every task, not the target's
SIGMA_FACTORS = (1.0, 10.0)


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
    n = check_int(n, "threads", "torch_threads")
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# --------------------------------------------------------------------------- kernel baseline


def run_kernel_regression(kernel: KernelBaseline, dataset: str, dataset_kwargs: dict, seeds,
                          *, results_dir="results", force: bool | None = None) -> pd.DataFrame:
    """Fit a kernel model on the split of every seed, its ridge chosen by leave-one-out error
    (no validation split): ``run_experiment`` of ``ExperimentConfig.for_kernel(...)``, on the
    CPU in float64. Rows (epoch 0): ``train``/``test`` metrics, ``fit`` rows (ridge,
    relative_ridge, temperature) and a ``run``/``diverged`` row. ``force`` as in run_experiment.
    """
    if not isinstance(kernel, KernelBaseline):
        fail("kernel", "run_kernel_regression", "a KernelBaseline", kernel)
    return run_experiment(ExperimentConfig.for_kernel(kernel, dataset, dataset_kwargs, seeds), results_dir=results_dir,
                          force=force, progress=False)


# --------------------------------------------------------------------------- grids


def network_grid(lrs: Sequence[float] = LEARNING_RATES, **axes: Sequence[Any]) -> list[dict]:
    """Candidates of a network: every learning rate in ``lrs`` times every combination of the
    model settings in ``axes`` (e.g. ``fourier_scale=(0.5, 5.0)``, ``activation=("relu",
    "tanh")``); len(lrs) * prod(len(axis)) candidates."""
    names = list(axes)
    return [{"lr": float(lr), **({"model_kwargs": dict(zip(names, combo))} if names else {})}
            for lr in lrs for combo in itertools.product(*(axes[n] for n in names))]


def kernel_grid(**axes: Sequence[Any]) -> list[dict]:
    """Candidates of a kernel model: every combination of the KernelBaseline settings in
    ``axes`` (e.g. ``fourier_scale=(...)``, ``depth=(1, 4)``); the ridge is searched along each."""
    names = list(axes)
    return [{"model_kwargs": dict(zip(names, combo))} for combo in itertools.product(*(axes[n] for n in names))]


def _geometric(low: float, high: float, k: int) -> tuple[float, ...]:
    """k values from low to high, evenly spaced on a log scale (4 significant digits)."""
    if k == 1:
        return (float(low),)
    return tuple(float(f"{low * (high / low) ** (i / (k - 1)):.4g}") for i in range(k))


# --------------------------------------------------------------------------- benchmarks


@dataclass
class Benchmark:
    """One experiment of part III: a dataset, the models compared on it, the training they
    share, how each is tuned, and the statistic of the comparisons.

    name: a short title for tables and captions.
    dataset, dataset_kwargs: passed to :func:`ntkbook.data.load_dataset`.
    networks: label -> (model name for :func:`ntkbook.models.build_model`, model_kwargs).
    training: ExperimentConfig fields shared by every network (optimizer, lr, epochs,
        batch_size, loss, optimizer_kwargs, ntk_every, ntk_probe, ntk_top_k, dtype).
    seeds: one run (and one split) per seed, the same for every model.
    kernels: label -> :class:`KernelBaseline`, the kernel models.
    primary: the metrics the chapter reports, first the one its claims use.
    per_network: label -> overrides for that network only: ExperimentConfig fields, and a
        "dataset_kwargs" dict merged into the shared one (e.g. image-shaped inputs for
        ResNet-18; the split of a seed is the same).
    grids: label -> candidates (see :func:`network_grid`, :func:`kernel_grid`). Either empty
        (no tuning) or one grid for every model, all of the same length: the budget.
    validation, tune_on, patience, per_example: the selection of
        :mod:`ntkbook.experiments.tuning` (ExperimentConfig fields of the same names).
    data_seed: a fixed split for every seed (one fixed test set), or None.
    statistic: one of :data:`STATISTICS` (see the module docstring).
    """

    name: str
    dataset: str
    dataset_kwargs: dict[str, Any]
    networks: dict[str, tuple[str, dict[str, Any]]]
    training: dict[str, Any]
    seeds: tuple[int, ...]
    kernels: dict[str, KernelBaseline] = field(default_factory=dict)
    primary: tuple[str, ...] = ("mse", "r2")
    per_network: dict[str, dict[str, Any]] = field(default_factory=dict)
    grids: dict[str, list[dict]] = field(default_factory=dict)
    validation: float = 0.0
    tune_on: str = "every_seed"
    patience: int = 0
    per_example: bool = False
    data_seed: int | None = None
    statistic: str = "paired_t"

    def __post_init__(self) -> None:
        owner = "Benchmark"
        check_option(self.statistic, "statistic", owner, STATISTICS)
        check_option(self.tune_on, "tune_on", owner, TUNE_ON)
        for label, kb in self.kernels.items():
            if not isinstance(kb, KernelBaseline):
                fail("kernels", owner, "a dict of label -> KernelBaseline", {label: kb})
        if self.grids:
            missing = [m for m in self.models if m not in self.grids]
            sizes = {m: len(self.grids[m]) for m in self.models if m in self.grids}
            if missing or len(set(sizes.values())) != 1:
                fail("grids", owner, "one grid per model, all of the same length (the same budget for every "
                     f"model); missing {missing}, sizes {sizes}", sorted(self.grids))

    @property
    def models(self) -> list[str]:
        """Labels of every model, networks first, the kernel models last."""
        return list(self.networks) + list(self.kernels)

    @property
    def budget(self) -> int:
        """The number of candidates each model is selected from (1 without tuning)."""
        return len(next(iter(self.grids.values()))) if self.grids else 1

    def _tuning(self, label: str) -> dict[str, Any]:
        return {"grid": list(self.grids.get(label, [])), "validation": self.validation, "tune_on": self.tune_on,
                "patience": self.patience, "per_example": self.per_example, "data_seed": self.data_seed}

    def configs(self) -> dict[str, ExperimentConfig]:
        """One :class:`ExperimentConfig` per model (label -> config), networks and kernels."""
        out = {}
        for label, (model, kwargs) in self.networks.items():
            extra = dict(self.per_network.get(label, {}))
            data_kwargs = {**self.dataset_kwargs, **extra.pop("dataset_kwargs", {})}
            training = {**self.training, **extra}
            out[label] = ExperimentConfig(dataset=self.dataset, model=model,
                                          dataset_kwargs=data_kwargs,
                                          model_kwargs=dict(kwargs), label=label,
                                          seeds=self.seeds, **training, **self._tuning(label))
        for label, kb in self.kernels.items():
            base = ExperimentConfig.for_kernel(dataclasses.replace(kb, label=label), self.dataset,
                                               self.dataset_kwargs, self.seeds)
            out[label] = dataclasses.replace(base, **self._tuning(label))
        return out

    def grid_table(self) -> pd.DataFrame:
        """The candidates of every model: one row per model, one column per candidate, each
        cell the settings it overrides ("lr=0.01, fourier_scale=5.5")."""
        def words(c: dict) -> str:
            items = {k: v for k, v in c.items() if k != "model_kwargs"} | c.get("model_kwargs", {})
            return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in items.items())

        rows = {m: {f"candidate {i}": words(c) for i, c in enumerate(self.grids.get(m, []))} for m in self.models}
        return pd.DataFrame.from_dict(rows, orient="index")

    def differences(self) -> pd.DataFrame:
        """How each model's settings depart from the package defaults (before tuning).

        One row per (model, setting) whose value differs from the default of
        :class:`ExperimentConfig` (training) or of the model class's constructor or of
        :class:`KernelBaseline` (model), columns model, setting, value, default.
        """
        rows = []
        configs = self.configs()
        for label in self.networks:
            cfg = configs[label]
            rows += _training_differences(label, cfg)
            rows += self._data_differences(label, cfg)
            rows += _model_differences(label, cfg)
        for label, kb in self.kernels.items():
            rows += _kernel_differences(label, kb)
        rows += [{"model": "(data)", "setting": key, "value": repr(value), "default": "loader default"}
                 for key, value in self.dataset_kwargs.items()]
        return pd.DataFrame(rows, columns=["model", "setting", "value", "default"])

    def _data_differences(self, label: str, cfg: ExperimentConfig) -> list[dict[str, str]]:
        """A network's own data settings (e.g. image-shaped inputs), against the shared ones."""
        return [_row(label, key, value, self.dataset_kwargs.get(key, "loader default"))
                for key, value in cfg.dataset_kwargs.items()
                if key not in self.dataset_kwargs or self.dataset_kwargs[key] != value]

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


_TRAINING_SETTINGS = ("optimizer", "lr", "epochs", "batch_size", "loss", "optimizer_kwargs",
                      "ntk_every", "ntk_probe", "ntk_top_k", "dtype", "validation", "patience")


def _row(model: str, setting: str, value, default) -> dict[str, str]:
    return {"model": model, "setting": setting, "value": repr(value), "default": repr(default)}


def _config_defaults() -> dict[str, Any]:
    return {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(ExperimentConfig)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


def _training_differences(label: str, cfg: ExperimentConfig) -> list[dict[str, str]]:
    """Training settings of ``cfg`` that differ from ExperimentConfig's defaults."""
    base = _config_defaults()
    return [_row(label, key, getattr(cfg, key), base.get(key)) for key in _TRAINING_SETTINGS
            if not (key == "ntk_probe" and not cfg.ntk_every) and getattr(cfg, key) != base.get(key)]


def _model_differences(label: str, cfg: ExperimentConfig) -> list[dict[str, str]]:
    """Model settings of ``cfg`` that differ from the defaults of the model class's constructor."""
    from ntkbook.models import MODELS, ResNet18

    cls = ResNet18 if cfg.model == "resnet18" else MODELS[cfg.model]
    params = inspect.signature(cls.__init__).parameters
    rows = []
    for key, value in cfg.model_kwargs.items():
        default = params[key].default if key in params else None
        if value != default:
            rows.append(_row(label, key, value, default))
    return rows


def _kernel_differences(label: str, kernel: KernelBaseline) -> list[dict[str, str]]:
    """Fields of a kernel model that differ from KernelBaseline's defaults (ECRN fields only
    for the ECRN's kernel)."""
    kdef = KernelBaseline()
    ecrn_only = ("n_fourier", "fourier_scale", "alpha", "drop_prob", "sampled_b")
    return [_row(label, f.name, getattr(kernel, f.name), getattr(kdef, f.name))
            for f in dataclasses.fields(KernelBaseline)
            if f.name != "label" and getattr(kernel, f.name) != getattr(kdef, f.name)
            and not (kernel.architecture == "mlp" and f.name in ecrn_only)]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Comparison(PairedDifference):
    """A paired comparison of two models on one metric (differences a - b), by the statistic
    of its benchmark: the mean difference, its interval and the two-sided p-value.

    The numbers are those of :class:`ntkbook.stats.PairedDifference`; ``differences`` holds
    the per-seed values of a, b and a - b (for the bootstrap: the per-seed means over the
    test examples).
    """

    differences: pd.DataFrame
    model_a: str
    model_b: str
    metric: str
    statistic: str
    n_train: int | None = None
    n_test: int | None = None

    @property
    def how(self) -> str:
        """The statistic in words, for a verdict's "what was measured" ("paired t over 5 seeds")."""
        return {"paired_t": f"paired t over {self.n} seeds", "corrected": f"corrected resampled t over {self.n} splits",
                "bootstrap": f"paired bootstrap over test examples and {self.n} seeds"}[self.statistic]

    def one_sided_p(self, expect: str) -> float:
        """The one-sided p-value of the claim that a - b is ``expect`` ("negative" or
        "positive"), by :func:`ntkbook.stats.one_sided_p` (for the bootstrap, whose test has
        no t statistic, the side of the mean difference decides). NaN without a test."""
        side = self.t_statistic if math.isfinite(self.t_statistic) else self.mean_difference  # bootstrap: no t
        return one_sided_p(SimpleNamespace(t_statistic=side, p_value=self.p_value), expect)

    def as_dict(self) -> dict[str, Any]:
        """The numbers of the comparison (no per-seed table); the two-sided p-value under
        ``p_two_sided``, so it is not taken for the one-sided p-value of a claim."""
        d = {"model_a": self.model_a, "model_b": self.model_b, "metric": self.metric, "statistic": self.statistic,
             **self.numbers(), "n_train": self.n_train, "n_test": self.n_test}
        d["p_two_sided"] = d.pop("p_value")
        return d

    def __str__(self) -> str:
        return (f"{self.metric}: {self.model_a} - {self.model_b} = {self.mean_difference:.4g} "
                f"[{self.confidence:.0%} CI {self.ci_low:.4g}, {self.ci_high:.4g}], "
                f"p = {self.p_value:.3g} ({self.statistic}), n = {self.n}")


@dataclass
class BenchmarkResult:
    """Everything a chapter needs from a benchmark run.

    frame: the tidy rows of every model (columns of :data:`ntkbook.experiments.runs.RESULT_COLUMNS`).
    metadata: label -> the sidecar of its cached run (wall time, divergence, data source,
        per seed the sizes of the fit, validation and test splits).
    """

    benchmark: Benchmark
    frame: pd.DataFrame
    metadata: dict[str, dict[str, Any]]

    # ------------------------------------------------------------------ values

    def values(self, model: str, metric: str, split: str = "test") -> pd.Series:
        """seed -> the model's value of ``metric`` (its one test evaluation, or for an untuned
        run its last epoch), NaN for a seed that diverged or has no value."""
        d = self.frame[(self.frame.model == model) & (self.frame.split == split) & (self.frame.metric == metric)]
        if d.empty:
            raise ValueError(f"no rows for model {model!r}, metric {metric!r}, split {split!r}")
        d = d[d.epoch == d.groupby("seed").epoch.transform("max")]
        values = d.groupby("seed").value.first().reindex(list(self.benchmark.seeds)).astype(float)
        run = self.frame[(self.frame.model == model) & (self.frame.split == "run")]
        bad = set(run.loc[run.value > 0, "seed"])
        values[values.index.isin(bad)] = math.nan
        return values

    def examples(self, model: str, metric: str) -> np.ndarray:
        """(n_seeds, n_test) per-example scores behind ``metric`` (correct, nll or sq_error)
        of a run with ``per_example``; a diverged seed's row is NaN."""
        score = EXAMPLE_SCORE.get(metric)
        d = self.frame[(self.frame.model == model) & (self.frame.split == "example") & (self.frame.metric == score)]
        if d.empty:
            raise ValueError(f"no per-example rows ({score!r}) for model {model!r}: run the benchmark with "
                             "per_example=True")
        wide = d.pivot_table(index="seed", columns="epoch", values="value", aggfunc="first")
        return wide.reindex(list(self.benchmark.seeds)).to_numpy(float)  # (S, E)

    def sizes(self, model: str) -> tuple[int, int]:
        """(n_train, n_test) of ``model``'s runs: the training split (fit + validation) and the
        test split, as the corrected resampled t-test needs them."""
        runs = self.metadata.get(model, {}).get("runs", [])
        for r in runs:
            if r.get("n_test"):
                return int(r["n_fit"]) + int(r["n_val"]), int(r["n_test"])
        raise ValueError(f"the runs of {model!r} record no split sizes (an untuned run?)")

    # ------------------------------------------------------------------ statistics

    def interval(self, model: str, metric: str, confidence: float = 0.95) -> Interval:
        """The model's mean ``metric`` with the interval of the benchmark's statistic, cut to
        the metric's range (:data:`METRIC_BOUNDS`)."""
        low_b, high_b = METRIC_BOUNDS.get(metric, (-math.inf, math.inf))
        stat = self.benchmark.statistic
        if stat == "bootstrap":
            a = self.examples(model, metric)
            r = paired_bootstrap(a, np.zeros_like(a), confidence)
            return Interval(r.mean_difference, max(r.ci_low, low_b), min(r.ci_high, high_b), r.n)
        v = self.values(model, metric).to_numpy(float)
        if stat == "paired_t":
            return t_interval(v, confidence, bounds=(low_b, high_b))
        n_train, n_test = self.sizes(model)
        r = corrected_resampled_t(v, n_train, n_test, confidence)
        return Interval(r.mean_difference, max(r.ci_low, low_b), min(r.ci_high, high_b), r.n)

    def compare(self, model_a: str, model_b: str, metric: str, confidence: float = 0.95) -> Comparison:
        """The paired difference a - b of ``metric`` by the benchmark's statistic (module
        docstring). A seed that diverged in either model makes the interval NaN (the
        comparison is then inconclusive, never better)."""
        stat = self.benchmark.statistic
        va, vb = self.values(model_a, metric), self.values(model_b, metric)
        diffs = pd.DataFrame({"seed": va.index, "a": va.to_numpy(float), "b": vb.to_numpy(float)})
        diffs["difference"] = diffs["a"] - diffs["b"]
        n_train = n_test = None
        if stat == "bootstrap":
            r = paired_bootstrap(self.examples(model_a, metric), self.examples(model_b, metric), confidence)
        elif stat == "corrected":
            n_train, n_test = self.sizes(model_a)
            r = corrected_resampled_t(diffs["difference"].to_numpy(), n_train, n_test, confidence)
        else:
            r = paired_difference(diffs["a"].to_numpy(), diffs["b"].to_numpy(), confidence)
        return Comparison(**r.numbers(), differences=diffs, model_a=model_a, model_b=model_b, metric=metric,
                          statistic=stat, n_train=n_train, n_test=n_test)

    def summary(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per (model, metric): n, mean, ci_low, ci_high by :meth:`interval` (the
        columns :func:`ntkbook.plots.benchmarks.plot_model_intervals` reads)."""
        rows = []
        for metric in metrics or self.benchmark.primary:
            for model in self.benchmark.models:
                iv = self.interval(model, metric)
                rows.append({"model": model, "metric": metric, "n": iv.n, "mean": iv.mean,
                             "ci_low": iv.low, "ci_high": iv.high})
        return pd.DataFrame(rows, columns=["model", "metric", "n", "mean", "ci_low", "ci_high"])

    def table(self, metrics: Sequence[str] | None = None, digits: int = 3) -> pd.DataFrame:
        """:meth:`summary` for reading: one row per model, one column per metric, each cell
        "mean [ci_low, ci_high]" (``digits`` significant digits), and the seeds counted."""
        s = self.summary(metrics)
        fmt = f"{{:.{digits}g}}"
        s["cell"] = [f"{fmt.format(m)} [{fmt.format(lo)}, {fmt.format(hi)}]"
                     for m, lo, hi in zip(s["mean"], s["ci_low"], s["ci_high"])]
        wide = s.pivot(index="model", columns="metric", values="cell")
        wide = wide[[m for m in (metrics or self.benchmark.primary) if m in wide.columns]]
        wide["seeds"] = s.groupby("model")["n"].min()
        wide = wide.loc[[m for m in self.benchmark.models if m in wide.index]]
        wide.columns.name = None
        return wide

    def comparisons(self, model_a: str, others: Sequence[str], metric: str) -> pd.DataFrame:
        """:meth:`compare` of ``model_a`` with each of ``others``, one row each, with the
        mechanism the pair isolates (:data:`COMPARISONS`)."""
        rows = []
        for b in others:
            c = self.compare(model_a, b, metric)
            rows.append({"comparison": f"{model_a} - {b}", "isolates": COMPARISONS.get((model_a, b), ""),
                         "difference": c.mean_difference, "ci_low": c.ci_low, "ci_high": c.ci_high,
                         "p_value": c.p_value, "n": c.n})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ selection and runs

    def selection(self) -> pd.DataFrame:
        """What the validation split chose, per model and seed: the candidate (index and its
        settings), the stopping epoch, the validation score and the temperature (NaN where
        the model has none)."""
        fit = self.frame[self.frame.split == "fit"]
        if fit.empty:
            return pd.DataFrame(columns=["model", "seed", "candidate", "settings", "epoch", "score", "temperature"])
        wide = fit.pivot_table(index=["model", "seed"], columns="metric", values="value", aggfunc="first")
        wide = wide.reset_index()
        grids = self.benchmark.grids
        table = self.benchmark.grid_table() if grids else None

        def settings(row) -> str:
            if table is None or not math.isfinite(row["candidate"]):
                return ""
            return str(table.loc[row["model"], f"candidate {int(row['candidate'])}"])

        wide["settings"] = wide.apply(settings, axis=1)
        for col in ("temperature", "epoch", "score"):
            if col not in wide:
                wide[col] = math.nan
        order = {m: i for i, m in enumerate(self.benchmark.models)}
        wide = wide.sort_values(["model", "seed"], key=lambda c: c.map(order) if c.name == "model" else c)
        return wide[["model", "seed", "candidate", "settings", "epoch", "score", "temperature"]].reset_index(drop=True)

    def chosen(self) -> pd.DataFrame:
        """Per model, how often each candidate was chosen (a row per model, settings -> count)."""
        s = self.selection()
        return s.groupby(["model", "settings"], sort=False).size().rename("seeds").reset_index()

    def diverged(self) -> pd.DataFrame:
        """One row per model: seeds run, seeds that diverged (no candidate finished), candidate
        runs that diverged, and the causes."""
        rows = []
        for label, meta in self.metadata.items():
            runs = meta.get("runs", [])
            bad = [r for r in runs if r.get("diverged")]
            rows.append({"model": label, "seeds": len(runs), "diverged": len(bad),
                         "candidates_diverged": int(sum(r.get("candidates_diverged") or 0 for r in runs)),
                         "causes": "; ".join(f"seed {r['seed']}: {r.get('cause')}" for r in bad)})
        return pd.DataFrame(rows, columns=["model", "seeds", "diverged", "candidates_diverged", "causes"])

    def wall_times(self) -> pd.Series:
        """Seconds each model took when it was computed (not when loaded from the cache)."""
        return pd.Series({k: float(v.get("wall_time_s", math.nan)) for k, v in self.metadata.items()})

    def devices(self) -> pd.Series:
        """The device each model was computed on (from its cached run's sidecar)."""
        return pd.Series({k: str(v.get("device", "?")) for k, v in self.metadata.items()})

    def ntk_evolution(self, metric: str = "lambda_max") -> pd.DataFrame:
        """The NTKTracker records of ``metric`` (model, seed, epoch, value) of every network
        (of the selected candidate, over its whole run)."""
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

    def with_statistic(self, statistic: str) -> "BenchmarkResult":
        """The same runs judged by another statistic (e.g. ``"paired_t"`` on resampled splits,
        to show what the correction changes); nothing is rerun."""
        check_option(statistic, "statistic", "BenchmarkResult.with_statistic", STATISTICS)
        return BenchmarkResult(dataclasses.replace(self.benchmark, statistic=statistic), self.frame, self.metadata)

    def untuned_summary(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """:func:`ntkbook.experiments.runs.summarize` of the test rows (t-intervals across seeds,
        non-finite values dropped): a description, not a verdict."""
        return summarize(self.frame, metrics=list(metrics or self.benchmark.primary), splits=["test"])


def run_benchmark(benchmark: Benchmark, *, results_dir="results", device=None,
                  force: bool | None = None, threads: int | None = 1,
                  progress: bool = True) -> BenchmarkResult:
    """Run (or load from the cache) every model of ``benchmark``; see the module docstring.

    ``threads``: torch intra-op threads while training (see :func:`torch_threads`).
    ``force``: as in :func:`ntkbook.experiments.runs.run_experiment` (None: ``NTKBOOK_FORCE``).
    The networks run on ``device``; the kernel models are solved on the CPU in float64.
    ``progress``: one bar over the benchmark's models (see :mod:`ntkbook._progress`). The
    training runs inside a model (seeds times tuning candidates, often hundreds of short
    runs) show none of their own: a bar that opens and closes for each would bury this one.
    """
    if not isinstance(benchmark, Benchmark):
        raise TypeError(f"The 'benchmark' parameter of run_benchmark must be a Benchmark. "
                        f"Got {type(benchmark).__name__} instead.")
    check_bool(progress, "progress", "run_benchmark")
    frames, meta = [], {}
    configs = benchmark.configs()
    with torch_threads(threads), progress_bar(total=len(configs), show=progress, desc="benchmark",
                                              unit="model") as bar:
        for label, cfg in configs.items():
            bar.set_postfix_str(label)
            where = None if cfg.model == KERNEL_MODEL else device
            df = run_experiment(cfg, results_dir=results_dir, force=force, device=where, progress=False)
            frames.append(df)
            meta[label] = df.attrs.get("metadata", {})
            bar.update()
    frame = pd.concat(frames, ignore_index=True)[RESULT_COLUMNS]
    return BenchmarkResult(benchmark, frame, meta)


# --------------------------------------------------------------------------- the book's configs


def unit_phase_scale(dim: int, input_std: float = 1.0) -> float:
    """The Fourier scale sigma that gives the phases 2 pi <B_k, x> a standard deviation of
    about one: sigma = 1 / (2 pi sqrt(dim) input_std), for inputs whose coordinates have
    standard deviation ``input_std`` (1 after standardization). A rule of ours, not the paper's.
    """
    dim = check_int(dim, "dim", "unit_phase_scale")
    input_std = check_float(input_std, "input_std", "unit_phase_scale", low_open=True)
    return 1.0 / (2 * math.pi * math.sqrt(dim) * input_std)


def _sigmas(dim: int, input_std: float, factors: Sequence[float]) -> tuple[float, ...]:
    unit = unit_phase_scale(dim, input_std)
    return tuple(float(f"{f * unit:.4g}") for f in factors)


def _models(width: int, depth: int, n_fourier: int, sigma: float, activation: str = "tanh") -> dict:
    """The networks of every task: the ECRN (tanh, its reconstruction's default), the MLP
    with the ECRN's Fourier features and activation, and the conventional MLP and ResNet."""
    fourier = {"n_fourier": n_fourier, "fourier_scale": sigma}
    act = {} if activation == "tanh" else {"activation": activation}
    return {
        "ecrn": ("ecrn", {"width": width, "depth": depth, **act, **fourier}),
        "mlp_fourier": ("mlp", {"width": width, "depth": depth, "activation": activation, **fourier}),
        "mlp": ("mlp", {"width": width, "depth": depth}),
        "resnet": ("resnet", {"width": width, "depth": depth}),
    }


def _kernels(depth: int, n_fourier: int, sigma: float, sampled_b: bool = True, activation: str = "tanh") -> dict:
    return {
        "ecrn_ntk": KernelBaseline(architecture="ecrn", depth=depth, activation=activation, n_fourier=n_fourier,
                                   fourier_scale=sigma, sampled_b=sampled_b),
        "ntk": KernelBaseline(depth=depth),
    }


def _grids(depth: int, sigmas: Sequence[float], lrs: Sequence[float], kernel_sigmas: Sequence[float],
           activations: Sequence[str] = ("relu", "tanh"), ntk_axes: dict | None = None) -> dict:
    """The candidates of every model, of equal number: the Fourier networks lr x sigma, the
    other networks lr x activation, the ECRN's kernel sigma, the MLP's kernel activation x
    depth (erf: the closed-form stand-in for tanh, Williams 1997). An empty ``activations``
    leaves the plain networks at their default (relu) and varies only lr."""
    ntk_axes = ntk_axes or {"activation": ("relu", "erf"), "depth": (1, depth)}
    plain = {"activation": tuple(activations)} if activations else {}
    return {
        "ecrn": network_grid(lrs, fourier_scale=sigmas),
        "mlp_fourier": network_grid(lrs, fourier_scale=sigmas),
        "mlp": network_grid(lrs, **plain),
        "resnet": network_grid(lrs, **plain),
        "ecrn_ntk": kernel_grid(fourier_scale=kernel_sigmas),
        "ntk": kernel_grid(**ntk_axes),
    }


def sinusoid_benchmark(*, n_seeds: int = 5, n_train: int = 256, n_test: int = 512,
                       frequencies=(1.0, 10.0), amplitudes=(1.0, 0.5), noise: float = 0.05,
                       width: int = 128, depth: int = 4, n_fourier: int = 64, epochs: int = 1000,
                       lrs: Sequence[float] = LEARNING_RATES, sigma_factors: Sequence[float] = SIGMA_FACTORS,
                       validation: float = 0.2, patience: int = 200) -> Benchmark:
    """Sinusoid regression (chapter 11): y = sin(2 pi x) + 0.5 sin(20 pi x) + noise on [0, 1].

    Six models, full-batch Adam on the MSE for the networks. The Fourier scale is a
    hyperparameter: sigma_factors times the unit-phase scale of x ~ U[0, 1] (standard deviation
    1/sqrt(12)), the rule used on every task, chosen on validation like the learning rate.
    Every seed draws a new training set (the test set is the clean function on a grid), so the
    comparisons are paired t-intervals, and the candidate is selected on the first seed.
    Reconstruction.
    """
    sigmas = _sigmas(1, 1 / math.sqrt(12), sigma_factors)
    k = len(lrs) * len(sigmas)
    data = {"n_train": n_train, "n_test": n_test, "frequencies": list(frequencies),
            "amplitudes": list(amplitudes), "noise": noise}
    return Benchmark(
        name="sinusoid regression", dataset="sinusoids", dataset_kwargs=data,
        networks=_models(width, depth, n_fourier, sigmas[0]),
        training={"optimizer": "adam", "lr": float(lrs[0]), "epochs": epochs},
        seeds=tuple(range(check_int(n_seeds, "n_seeds", "sinusoid_benchmark"))),
        kernels=_kernels(depth, n_fourier, sigmas[0]), primary=("mse", "r2"),
        grids=_grids(depth, sigmas, lrs, _geometric(sigmas[0], sigmas[-1], k)),
        validation=validation, tune_on="first_seed", patience=patience, statistic="paired_t")


def gaussian_mixture_benchmark(*, n_seeds: int = 5, n_train: int = 500, n_test: int = 1000,
                               n_classes: int = 5, dim: int = 2, separation: float = 3.0,
                               width: int = 128, depth: int = 4, n_fourier: int = 64, epochs: int = 300,
                               lrs: Sequence[float] = LEARNING_RATES,
                               sigma_factors: Sequence[float] = SIGMA_FACTORS, validation: float = 0.2,
                               patience: int = 60) -> Benchmark:
    """The 5-class Gaussian mixture in 2-D (chapter 11): full-batch Adam on the cross-entropy.

    The inputs are not standardized: each coordinate has a standard deviation of about
    sqrt(1 + separation^2 / dim), the input scale of the Fourier rule. Every seed draws new
    centres and new data: paired t-intervals, selection on the first seed. Reconstruction.
    """
    sigmas = _sigmas(dim, math.sqrt(1 + separation**2 / dim), sigma_factors)
    k = len(lrs) * len(sigmas)
    data = {"n_train": n_train, "n_test": n_test, "n_classes": n_classes, "dim": dim,
            "separation": separation}
    return Benchmark(
        name="Gaussian mixture", dataset="gaussian_mixture", dataset_kwargs=data,
        networks=_models(width, depth, n_fourier, sigmas[0]),
        training={"optimizer": "adam", "lr": float(lrs[0]), "epochs": epochs},
        seeds=tuple(range(check_int(n_seeds, "n_seeds", "gaussian_mixture_benchmark"))),
        kernels=_kernels(depth, n_fourier, sigmas[0]), primary=("accuracy", "cross_entropy"),
        grids=_grids(depth, sigmas, lrs, _geometric(sigmas[0], sigmas[-1], k)),
        validation=validation, tune_on="first_seed", patience=patience, statistic="paired_t")


UCI_TASKS = {"boston": ("mse", "r2"), "iris": ("accuracy", "cross_entropy"),
             "wine": ("accuracy", "cross_entropy")}


UCI_FEATURES = {"boston": 13, "iris": 4, "wine": 13}  # input columns (Boston: 12 without b)


def uci_benchmark(dataset: str, *, n_seeds: int = 10, width: int = 64, depth: int = 4,
                  n_fourier: int = 64, epochs: int = 300, lrs: Sequence[float] = LEARNING_RATES,
                  sigma_factors: Sequence[float] = SIGMA_FACTORS, validation: float = 0.2,
                  patience: int = 30, drop_b: bool = True) -> Benchmark:
    """Boston Housing, Iris or Wine (chapter 12) over repeated seeded splits.

    Inputs are standardized with training statistics (Boston's target too); full-batch Adam,
    MSE for Boston and cross-entropy for the classifiers. ``drop_b`` (Boston only, default
    True) leaves out the column that encodes the proportion of Black residents. The Fourier
    scale is tuned over sigma_factors times ``unit_phase_scale(d)`` for the d standardized
    inputs. The splits of one table overlap: the corrected resampled t-test, and the
    selection repeated on every split. Reconstruction.
    """
    check_option(dataset, "dataset", "uci_benchmark", UCI_TASKS)
    dim = UCI_FEATURES[dataset] - (1 if dataset == "boston" and drop_b else 0)
    sigmas = _sigmas(dim, 1.0, sigma_factors)
    k = len(lrs) * len(sigmas)
    data = {"drop_b": bool(drop_b)} if dataset == "boston" else {}
    return Benchmark(
        name={"boston": "Boston Housing", "iris": "Iris", "wine": "Wine"}[dataset],
        dataset=dataset, dataset_kwargs=data,
        networks=_models(width, depth, n_fourier, sigmas[0]),
        training={"optimizer": "adam", "lr": float(lrs[0]), "epochs": epochs},
        seeds=tuple(range(check_int(n_seeds, "n_seeds", "uci_benchmark"))),
        kernels=_kernels(depth, n_fourier, sigmas[0]), primary=UCI_TASKS[dataset],
        grids=_grids(depth, sigmas, lrs, _geometric(sigmas[0], sigmas[-1], k)),
        validation=validation, tune_on="every_seed", patience=patience, statistic="corrected")


def cifar_benchmark(*, n_seeds: int = 3, n_train: int = 5000, n_test: int = 1000,
                    width: int = 256, depth: int = 4, n_fourier: int = 256, ecrn_activation: str = "erf",
                    resnet18_width: int = 8, epochs: int = 10, batch_size: int = 128,
                    lrs: Sequence[float] = LEARNING_RATES, resnet18_lrs: Sequence[float] = (1e-3, 3e-3),
                    validation: float = 0.2, patience: int = 3, ntk_every: int = 2,
                    ntk_probe: int = 16, cntk_train: int = 0, cntk_pool: int = 2) -> Benchmark:
    """The CIFAR-10 5k subset (chapter 13): the ECRN and the vector baselines on flattened
    pixels, ResNet-18 on images, minibatch Adam on the cross-entropy, the NTK spectrum
    tracked on a probe set; kernel regression with the MLP's, the ECRN's and the CNN's NTK.

    One fixed split for every seed (``data_seed=0``: the same training images, the same
    validation images and the same test images), so the seeds vary the initialization and
    the minibatch order, and the statistic is the paired bootstrap over test examples and
    seeds. The pixels are standardized per channel; the Fourier scale of the networks is
    ``unit_phase_scale(3072)`` (not tuned: their budget, len(lrs) candidates per model, goes
    to the learning rate). ResNet-18 is the CIFAR variant of ntkbook.models at
    ``resnet18_width`` base channels (64 is the standard width; the default 8 fits a 2-core
    CPU), in standard parameterization with batch normalization, so it gets learning rates of
    its own (``resnet18_lrs``, as many). The kernel models spend their budget on the Fourier
    scale (the ECRN's kernel: 1/sqrt(10) and 1 unit scale) and the depth (the MLP's: 1 to
    ``depth``). No model sees augmented images.

    ``ecrn_activation`` (default "erf") is the activation of the ECRN, of the MLP with its
    features and of the ECRN's kernel: erf's Gaussian expectations have a closed form, while
    tanh's need quadrature, about 14 times the cost on 4,000 x 4,000 kernel entries; erf(x)
    and tanh(1.2 x) differ by less than 0.02. The ECRN's kernel uses the B-average of its
    Fourier features (a sampled B costs O(n^2 d n_fourier) on 3,072 inputs). The CNTK
    (``cntk``: :func:`ntkbook.cntk.cntk_kernels`, flatten readout) sees the images
    average-pooled by ``cntk_pool`` (2: 16 x 16) and fits on ``cntk_train`` of the fit
    images (0: all), drawn stratified, since it costs about 55 us per pair of 16 x 16 images
    at depth 4 on one CPU thread; its budget goes to the depth (1 to ``depth`` conv layers).
    Reconstruction.
    """
    sigma = _sigmas(3 * 32 * 32, 1.0, (1.0,))[0]
    k = len(lrs)
    if len(resnet18_lrs) != k:
        fail("resnet18_lrs", "cifar_benchmark", f"as many learning rates as lrs ({k}: the same budget)",
             resnet18_lrs)
    flat = {"n_train": n_train, "n_test": n_test, "flatten": True}
    networks = {**_models(width, depth, n_fourier, sigma, ecrn_activation),
                "resnet18": ("resnet18", {"width": resnet18_width})}
    grids = _grids(depth, (sigma,), lrs, _geometric(sigma / math.sqrt(10), sigma, k), activations=(),
                   ntk_axes={"depth": _geometric_ints(depth, k)})
    grids["resnet18"] = network_grid(resnet18_lrs)
    grids["cntk"] = kernel_grid(depth=_geometric_ints(depth, k))
    kernels = {**_kernels(depth, n_fourier, sigma, sampled_b=False, activation=ecrn_activation),
               "cntk": KernelBaseline(architecture="cntk", depth=depth, image_shape=(3, 32, 32), pool=cntk_pool,
                                      max_train=cntk_train)}
    return Benchmark(
        name="CIFAR-10 5k", dataset="cifar10", dataset_kwargs=flat, networks=networks,
        training={"optimizer": "adam", "lr": float(lrs[0]), "epochs": epochs, "batch_size": batch_size,
                  "ntk_every": ntk_every, "ntk_probe": ntk_probe},
        seeds=tuple(range(check_int(n_seeds, "n_seeds", "cifar_benchmark"))),
        kernels=kernels, primary=("accuracy", "cross_entropy"),
        per_network={"resnet18": {"dataset_kwargs": {"flatten": False}, "lr": float(resnet18_lrs[0])}},
        grids=grids, validation=validation, tune_on="first_seed", patience=patience, per_example=True,
        data_seed=0, statistic="bootstrap")


def _geometric_ints(high: int, k: int) -> tuple[int, ...]:
    """k depths from 1 to ``high``, evenly spaced on a log scale (1 and ``high`` for k = 2)."""
    return tuple(int(round(v)) for v in _geometric(1.0, float(high), k)) if k > 1 else (int(high),)


def previous_recipe(benchmark: Benchmark, *, lr: float = 1e-3, epochs: int | None = None,
                    fourier_scale: float | None = None, models: Sequence[str] = ("ecrn", "mlp")) -> Benchmark:
    """The untuned setup of the book's previous version, for a chapter's "what changed": the
    networks ``models`` of ``benchmark`` (labels suffixed ``_previous``) with one fixed Adam
    learning rate ``lr`` for all, trained for ``epochs`` steps on the whole training split (no
    validation, no early stopping), the baselines at their defaults (relu), the ECRN at
    ``fourier_scale`` (default: the smallest of its grid, the unit-phase rule), and the
    paired t-test across seeds. Same seeds, data and widths as ``benchmark``."""
    networks = {}
    for label in models:
        model, kwargs = benchmark.networks[label]
        kwargs = dict(kwargs)
        if fourier_scale is not None and "fourier_scale" in kwargs:
            kwargs["fourier_scale"] = float(fourier_scale)
        networks[f"{label}_previous"] = (model, kwargs)
    training = {**benchmark.training, "lr": float(lr)}
    if epochs is not None:
        training["epochs"] = check_int(epochs, "epochs", "previous_recipe")
    return dataclasses.replace(benchmark, name=f"{benchmark.name} (previous recipe)", networks=networks,
                               training=training, kernels={}, grids={}, validation=0.0, patience=0,
                               per_example=False, statistic="paired_t",
                               per_network={f"{k}_previous": v for k, v in benchmark.per_network.items() if k in models})


def claim_outcome(verdict: str) -> str:
    """What a verdict of a paired sign rule means for the paper's claim, in words (for prose)."""
    outcomes = {
        "supported": "the claim holds in our runs",
        "not supported": ("the claim does not hold in our runs: the interval lies entirely on "
                          "the other side of zero"),
        "inconclusive": ("our runs neither confirm nor refute the claim: the interval "
                         "contains zero"),
    }
    check_option(verdict, "verdict", "claim_outcome", outcomes)
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
