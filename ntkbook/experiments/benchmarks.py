r"""The benchmark experiments of part III: one named configuration per experiment and a runner
that compares the models on the same seeds and splits.

The paper (arXiv:2512.08264) reports that the NTK-ECRN beats MLPs, ResNets and "conventional
NTK models" on synthetic, UCI and CIFAR-10 data; its own hyperparameter tables are not
public, so every :class:`Benchmark` below is a **reconstruction**: the settings are ours, and
:meth:`Benchmark.differences` lists how each one departs from the package defaults.

A benchmark runs every model with :func:`ntkbook.experiments.runs.run_experiment`, cached
under ``results/`` by the configuration and the code that computes it: the networks, and the
kernel baseline ("conventional NTK model"), :class:`ntkbook.experiments.kernel_baseline.KernelBaseline`,
kernel ridge regression with the analytic NTK of a ReLU MLP whose ridge (and softmax
temperature) is chosen by closed-form leave-one-out error (see :mod:`ntkbook.experiments.runs`
for the formulas). For seed s every model sees the split drawn with s, so
:func:`ntkbook.experiments.runs.paired_comparison` pairs runs on the same data.

Example::

    >>> bench = sinusoid_benchmark(n_seeds=2, epochs=20, width=32, n_train=64)
    >>> result = run_benchmark(bench, results_dir="results")          # doctest: +SKIP
    >>> result.summary(["mse", "r2"])                                   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd
import torch

from ntkbook._validation import check_float, check_int, check_option, fail
from ntkbook.experiments.kernel_baseline import KERNEL_MODEL, RIDGE_GRID, KernelBaseline
from ntkbook.experiments.runs import (RESULT_COLUMNS, ExperimentConfig, PairedComparison, paired_comparison,
                                      run_experiment, summarize)

__all__ = ["Benchmark", "KernelBaseline", "BenchmarkResult", "run_benchmark",
           "run_kernel_regression", "torch_threads",
           "sinusoid_benchmark", "gaussian_mixture_benchmark", "uci_benchmark",
           "cifar_benchmark", "unit_phase_scale", "claim_outcome", "bayes_accuracy",
           "UCI_FEATURES", "KERNEL_LABEL", "RIDGE_GRID"]

KERNEL_LABEL = KERNEL_MODEL  # the model column of the kernel baseline


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
    """Fit the kernel baseline on the split of every seed: ``run_experiment`` of
    ``ExperimentConfig.for_kernel(kernel, dataset, dataset_kwargs, seeds)``, on the CPU in float64.

    Rows (epoch 0): ``train``/``test`` metrics (mse, r2 or accuracy, cross_entropy with the
    fitted temperature and cross_entropy_raw with T = 1), ``fit`` rows (ridge,
    relative_ridge, temperature) and a ``run``/``diverged`` row (always 0: a linear solve does
    not diverge). Cached like every run; ``force`` as in run_experiment.
    """
    if not isinstance(kernel, KernelBaseline):
        fail("kernel", "run_kernel_regression", "a KernelBaseline", kernel)
    return run_experiment(ExperimentConfig.for_kernel(kernel, dataset, dataset_kwargs, seeds), results_dir=results_dir,
                          force=force, progress=False)


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

    def kernel_config(self) -> ExperimentConfig | None:
        """The :class:`ExperimentConfig` of the kernel baseline (None without one)."""
        if self.kernel is None:
            return None
        return ExperimentConfig.for_kernel(self.kernel, self.dataset, self.dataset_kwargs, self.seeds)

    def differences(self) -> pd.DataFrame:
        """How each model's settings depart from the package defaults.

        One row per (model, setting) whose value differs from the default of
        :class:`ExperimentConfig` (training) or of the model class's constructor (model),
        columns model, setting, value, default.
        """
        rows = []
        for label, cfg in self.configs().items():
            rows += _training_differences(label, cfg)
            rows += self._data_differences(label, cfg)
            rows += _model_differences(label, cfg)
        if self.kernel is not None:
            rows += _kernel_differences(self.kernel)
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
                      "ntk_every", "ntk_probe", "ntk_top_k", "dtype")


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


def _kernel_differences(kernel: KernelBaseline) -> list[dict[str, str]]:
    """Fields of the kernel baseline that differ from KernelBaseline's defaults."""
    kdef = KernelBaseline()
    return [_row(kernel.label, f.name, getattr(kernel, f.name), getattr(kdef, f.name))
            for f in dataclasses.fields(KernelBaseline) if getattr(kernel, f.name) != getattr(kdef, f.name)]


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
        """Paired difference (a - b) on the seeds both ran, each model at its own last epoch
        (the kernel baseline has one, epoch 0); a seed that diverged makes the interval NaN,
        so the verdict is inconclusive. See :func:`ntkbook.experiments.runs.paired_comparison`."""
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
                  force: bool | None = None, threads: int | None = 1) -> BenchmarkResult:
    """Run (or load from the cache) every model of ``benchmark``; see the module docstring.

    ``threads``: torch intra-op threads while training (see :func:`torch_threads`).
    ``force``: as in :func:`ntkbook.experiments.runs.run_experiment` (None: ``NTKBOOK_FORCE``).
    The networks run on ``device``; the kernel baseline is solved on the CPU in float64.
    """
    if not isinstance(benchmark, Benchmark):
        raise TypeError(f"The 'benchmark' parameter of run_benchmark must be a Benchmark. "
                        f"Got {type(benchmark).__name__} instead.")
    runs = [(cfg, device) for cfg in benchmark.configs().values()]
    if benchmark.kernel is not None:
        runs.append((benchmark.kernel_config(), None))
    frames, meta = [], {}
    with torch_threads(threads):
        for cfg, where in runs:
            df = run_experiment(cfg, results_dir=results_dir, force=force, device=where, progress=False)
            frames.append(df)
            meta[cfg.name] = df.attrs.get("metadata", {})
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
        seeds=tuple(range(check_int(n_seeds, "n_seeds", "sinusoid_benchmark"))),
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
        seeds=tuple(range(check_int(n_seeds, "n_seeds", "gaussian_mixture_benchmark"))),
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
    check_option(dataset, "dataset", "uci_benchmark", UCI_TASKS)
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
        seeds=tuple(range(check_int(n_seeds, "n_seeds", "uci_benchmark"))),
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
        seeds=tuple(range(check_int(n_seeds, "n_seeds", "cifar_benchmark"))),
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
