"""Chapter 11 (synthetic benchmarks): the benchmark runner, the kernel baseline and the
chapter's key claim at small size."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ntkbook.analytic import mlp_kernels  # noqa: E402
from ntkbook.experiments.benchmarks import (Benchmark, claim_outcome, gaussian_mixture_benchmark,  # noqa: E402
                                            run_benchmark, sinusoid_benchmark, torch_threads)
from ntkbook.experiments.kernel_baseline import KernelBaseline, fit_temperature, kernel_ridge_loo  # noqa: E402
from ntkbook.plots.benchmarks import (plot_model_intervals, plot_ntk_evolution,  # noqa: E402
                                      plot_paired_differences)
from ntkbook.regression import NTKRegressor  # noqa: E402


def _tiny_sinusoid(**kw):
    args = dict(n_seeds=2, n_train=32, n_test=64, width=16, depth=2, n_fourier=16, epochs=10)
    args.update(kw)
    return sinusoid_benchmark(**args)


# ----------------------------------------------------------------------------- kernel baseline


def test_kernel_ridge_loo_predictions_equal_refitting_without_each_point():
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.normal(size=(12, 3)))
    y = torch.as_tensor(rng.normal(size=(12, 2)))
    _, gram = mlp_kernels(x, depth=2)
    fit = kernel_ridge_loo(gram, y, ridges=(1e-2,))
    lam = fit["ridge"]
    for i in range(12):
        keep = [j for j in range(12) if j != i]
        k = gram[keep][:, keep] + lam * torch.eye(11, dtype=gram.dtype)
        pred_i = gram[i, keep] @ torch.linalg.solve(k, y[keep])
        assert torch.allclose(fit["loo_predictions"][i], pred_i, atol=1e-8)


def test_kernel_ridge_loo_picks_the_ridge_with_the_lowest_loo_error():
    rng = np.random.default_rng(1)
    x = torch.as_tensor(rng.uniform(size=(40, 1)))
    y = torch.sin(6 * x) + 0.3 * torch.as_tensor(rng.normal(size=(40, 1)))
    _, gram = mlp_kernels(x, depth=2)
    fit = kernel_ridge_loo(gram, y, ridges=(1e-6, 1e-3, 1e-1, 1.0))
    assert fit["loo_mse"][fit["relative_ridge"]] == min(fit["loo_mse"].values())


def test_hand_written_kernel_ridge_matches_ntkregressor():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 4))
    y = rng.normal(size=(20, 3))
    _, gram = mlp_kernels(torch.as_tensor(x), depth=3)
    fit = kernel_ridge_loo(gram, torch.as_tensor(y), ridges=(1e-3,))
    reg = NTKRegressor(ridge=fit["ridge"], architecture="mlp", depth=3).fit(x, y)
    np.testing.assert_allclose(reg.predict(x), (gram @ fit["weights"]).numpy(), atol=1e-8)


def test_fit_temperature_recovers_the_temperature_that_generated_the_labels():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(20000, 5, generator=gen, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(scores / 0.5, dim=1), 1, generator=gen).squeeze(1)
    assert fit_temperature(scores, labels) == pytest.approx(0.5, rel=0.05)


def test_kernel_baseline_rejects_non_positive_ridges():
    with pytest.raises(ValueError, match="'ridges' parameter of KernelBaseline"):
        KernelBaseline(ridges=(0.0,))


# ----------------------------------------------------------------------------- runner


def test_every_model_runs_on_the_same_seeds(tmp_path):
    result = run_benchmark(_tiny_sinusoid(), results_dir=tmp_path)
    test_rows = result.frame[(result.frame.split == "test") & (result.frame.metric == "mse")]
    seeds = test_rows.groupby("model").seed.apply(lambda s: tuple(sorted(set(s))))
    assert set(seeds.index) == {"ecrn", "mlp", "resnet", "ntk_regression"}
    assert set(seeds) == {(0, 1)}


def test_paired_comparison_uses_each_models_last_epoch(tmp_path):
    result = run_benchmark(_tiny_sinusoid(), results_dir=tmp_path)
    pair = result.paired("ecrn", "ntk_regression", "mse")
    assert (pair.n, pair.epoch, pair.epoch_b) == (2, 10, 0)


def test_a_rerun_loads_every_model_from_the_cache(tmp_path):
    bench = _tiny_sinusoid()
    first = run_benchmark(bench, results_dir=tmp_path)
    again = run_benchmark(bench, results_dir=tmp_path)
    assert all(m.get("loaded_from_cache") for m in again.metadata.values())
    pd.testing.assert_frame_equal(first.frame.reset_index(drop=True),
                                  again.frame.reset_index(drop=True), check_dtype=False)


def test_run_benchmark_rejects_a_config_that_is_not_a_benchmark():
    with pytest.raises(TypeError, match="must be a Benchmark"):
        run_benchmark({"dataset": "sinusoids"})


def test_torch_threads_restores_the_thread_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_differences_list_only_settings_that_differ_from_the_defaults():
    diff = sinusoid_benchmark().differences()
    networks = diff[diff.model != "(data)"]
    assert (networks.value != networks.default).all()
    assert "fourier_scale" in set(diff[diff.model == "ecrn"].setting)
    assert "fourier_scale" not in set(diff[diff.model == "mlp"].setting)


def test_gaussian_mixture_reports_accuracy_first():
    assert gaussian_mixture_benchmark().primary[0] == "accuracy"


def test_claim_outcome_rejects_an_unknown_verdict():
    with pytest.raises(ValueError, match="'verdict' parameter of claim_outcome"):
        claim_outcome("maybe")


# ----------------------------------------------------------------------------- plots


def test_model_intervals_annotate_models_with_missing_seeds():
    summary = pd.DataFrame({"model": ["a", "b"], "metric": "mse", "n": [3, 2],
                            "mean": [1.0, 2.0], "ci_low": [0.5, 1.0], "ci_high": [1.5, 3.0]})
    fig, ax = plt.subplots()
    plot_model_intervals(summary, "mse", ax=ax, n_expected=3)
    assert any("2 of 3 seeds" in t.get_text() for t in ax.texts)
    plt.close(fig)


def test_ntk_evolution_plot_refuses_non_finite_values():
    evo = pd.DataFrame({"model": "a", "seed": 0, "epoch": [0, 1], "value": [1.0, math.inf]})
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="non-finite"):
        plot_ntk_evolution(evo, ax=ax)
    plt.close(fig)


def test_paired_differences_plot_needs_a_comparison():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="at least one PairedComparison"):
        plot_paired_differences([], ax=ax)
    plt.close(fig)


# ----------------------------------------------------------------------------- the claim


def test_ecrn_has_lower_sinusoid_test_mse_than_the_mlp_on_every_seed(tmp_path):
    bench = sinusoid_benchmark(n_seeds=3, n_train=128, n_test=128, width=32, depth=3,
                               n_fourier=32, epochs=200)
    bench = Benchmark(**{**bench.__dict__, "networks": {k: bench.networks[k]
                                                         for k in ("ecrn", "mlp")},
                         "kernel": None})
    result = run_benchmark(bench, results_dir=tmp_path)
    pair = result.paired("ecrn", "mlp", "mse")
    assert (pair.differences["difference"] < 0).all()
    assert pair.ci_high < 0


def test_table_has_one_row_per_model_in_benchmark_order(tmp_path):
    result = run_benchmark(_tiny_sinusoid(), results_dir=tmp_path)
    table = result.table()
    assert list(table.index) == ["ecrn", "mlp", "resnet", "ntk_regression"]
    assert list(table.columns) == ["mse", "r2", "seeds"]
    assert (table["seeds"] == 2).all()


def test_the_kernel_model_is_solved_once_for_splits_that_hold_the_same_examples(
        monkeypatch, tmp_path):
    import ntkbook.experiments.benchmarks as nb
    import ntkbook.experiments.runs as runs
    from ntkbook.data import make_dataset

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 1))
    order = rng.permutation(20)  # seed 1: the same training rows, shuffled
    splits = {0: make_dataset(x[:20], y[:20], x[20:], y[20:], task="regression"),
              1: make_dataset(x[order], y[order], x[20:], y[20:], task="regression"),
              2: make_dataset(x[10:], y[10:], x[:10], y[:10], task="regression")}
    monkeypatch.setattr("ntkbook.data.load_dataset", lambda name, seed, **kw: splits[seed])
    calls = []
    solve = runs.fit_kernel_regression
    monkeypatch.setattr(runs, "fit_kernel_regression", lambda kb, d: calls.append(1) or solve(kb, d))
    df = nb.run_kernel_regression(KernelBaseline(), "sinusoids", {}, seeds=(0, 1, 2),
                                  results_dir=tmp_path)
    assert len(calls) == 2
    mse = df[(df.split == "test") & (df.metric == "mse")].set_index("seed").value
    assert mse[0] == mse[1] != mse[2]


def test_the_kernel_baseline_of_a_benchmark_is_the_run_of_its_config(tmp_path):
    import ntkbook.experiments.benchmarks as nb

    bench = _tiny_sinusoid()
    bench.networks = {}
    result = run_benchmark(bench, results_dir=tmp_path)
    direct = nb.run_kernel_regression(bench.kernel, bench.dataset, bench.dataset_kwargs, bench.seeds,
                                      results_dir=tmp_path)
    assert direct.attrs["metadata"]["loaded_from_cache"]  # the same cache entry
    pd.testing.assert_frame_equal(result.frame.reset_index(drop=True), direct, check_exact=True)
    assert bench.kernel_config().model == "ntk_regression"


def test_no_model_beats_the_bayes_accuracy_of_the_mixture_by_more_than_noise(tmp_path):
    from ntkbook.experiments.benchmarks import bayes_accuracy

    bench = gaussian_mixture_benchmark(n_seeds=2, n_train=200, n_test=400, width=32, depth=2,
                                       epochs=60)
    bench.kernel = None
    result = run_benchmark(bench, results_dir=tmp_path)
    bayes = bayes_accuracy(bench.dataset_kwargs, bench.seeds).mean()
    acc = result.summary(["accuracy"]).set_index("model")["mean"]
    assert 0.5 < bayes < 1.0
    assert (acc <= bayes + 0.03).all()
