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
                                            network_grid, previous_recipe, run_benchmark, sinusoid_benchmark,
                                            torch_threads)
from ntkbook.experiments.kernel_baseline import (KernelBaseline, fit_temperature, fourier_matrix,  # noqa: E402
                                                 kernel_matrix, kernel_ridge_loo)
from ntkbook.plots.benchmarks import (plot_model_intervals, plot_ntk_evolution,  # noqa: E402
                                      plot_paired_differences)
from ntkbook.regression import NTKRegressor  # noqa: E402


def _tiny_sinusoid(**kw):
    args = dict(n_seeds=2, n_train=32, n_test=64, width=16, depth=2, n_fourier=16, epochs=10, patience=5)
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
    reg = NTKRegressor(alpha=fit["ridge"], architecture="mlp", depth=3).fit(x, y)
    np.testing.assert_allclose(reg.predict(x), (gram @ fit["weights"]).numpy(), atol=1e-8)


def test_fit_temperature_recovers_the_temperature_that_generated_the_labels():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(20000, 5, generator=gen, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(scores / 0.5, dim=1), 1, generator=gen).squeeze(1)
    assert fit_temperature(scores, labels) == pytest.approx(0.5, rel=0.05)


def test_kernel_baseline_rejects_non_positive_ridges():
    with pytest.raises(ValueError, match="'ridges' parameter of KernelBaseline"):
        KernelBaseline(ridges=(0.0,))


def test_fit_temperature_with_smoothing_stays_finite_on_perfectly_separated_outputs():
    scores = torch.tensor([[5.0, 0.0], [0.0, 5.0]] * 10, dtype=torch.float64)
    labels = torch.tensor([0, 1] * 10)
    assert fit_temperature(scores, labels) < 0.2  # ever more confident: the loss only flattens out
    # smoothed targets (1 - eps/2, eps/2) are met where sigmoid(5 / T) = 1 - eps/2
    assert fit_temperature(scores, labels, smoothing=1 / 21) == pytest.approx(5 / math.log(41), rel=1e-3)


def test_the_ecrn_kernel_uses_the_fourier_matrix_of_the_ecrn_of_the_same_seed():
    from ntkbook.analytic import model_kernels
    from ntkbook.models import ECRN

    kb = KernelBaseline(architecture="ecrn", depth=2, activation="tanh", n_fourier=8, fourier_scale=0.7)
    x = torch.as_tensor(np.random.default_rng(0).uniform(size=(6, 2)))
    ecrn = ECRN(2, 1, width=4, depth=2, n_fourier=8, fourier_scale=0.7, seed=3)
    assert torch.equal(fourier_matrix(kb, 2, seed=3), ecrn.embed.B)
    expected = model_kernels(ecrn, x)[1]
    assert torch.allclose(kernel_matrix(kb, x, B=fourier_matrix(kb, 2, seed=3)), expected, atol=1e-10)


def test_the_mlp_with_fourier_features_sees_the_ecrns_features():
    from ntkbook.models import ECRN, MLP

    mlp = MLP(3, 1, width=8, depth=2, n_fourier=5, fourier_scale=2.0, seed=4)
    ecrn = ECRN(3, 1, width=8, depth=2, n_fourier=5, fourier_scale=2.0, seed=4)
    x = torch.randn(4, 3)
    assert torch.equal(mlp.embed(x), ecrn.embed(x))
    plain = MLP(3, 1, width=8, depth=2, seed=4)  # n_fourier=0: the MLP is unchanged
    assert plain.hidden[0].weight.shape == (8, 3)


# ----------------------------------------------------------------------------- runner


def test_every_model_runs_on_the_same_seeds(tmp_path):
    result = run_benchmark(_tiny_sinusoid(), results_dir=tmp_path)
    test_rows = result.frame[(result.frame.split == "test") & (result.frame.metric == "mse")]
    seeds = test_rows.groupby("model").seed.apply(lambda s: tuple(sorted(set(s))))
    assert set(seeds.index) == {"ecrn", "mlp_fourier", "mlp", "resnet", "ecrn_ntk", "ntk"}
    assert set(seeds) == {(0, 1)}


def test_every_model_of_a_benchmark_has_the_same_budget():
    bench = sinusoid_benchmark()
    assert {len(bench.grids[m]) for m in bench.models} == {bench.budget} == {4}


def test_a_benchmark_with_unequal_budgets_is_refused():
    bench = _tiny_sinusoid()
    grids = {**bench.grids, "mlp": network_grid((1e-3, 1e-2, 1e-1))}
    with pytest.raises(ValueError, match="the same budget"):
        Benchmark(**{**bench.__dict__, "grids": grids})


def test_the_fourier_grid_is_set_by_the_input_scale_not_by_the_target():
    low = sinusoid_benchmark(frequencies=(1.0, 2.0)).grids["ecrn"]
    high = sinusoid_benchmark(frequencies=(1.0, 30.0)).grids["ecrn"]
    assert low == high


def test_the_first_seed_selects_and_the_others_train_only_the_selection(tmp_path):
    result = run_benchmark(_tiny_sinusoid(n_seeds=3), results_dir=tmp_path)
    tuning = result.frame[result.frame.split == "tuning"]
    tried = tuning.groupby(["model", "seed"]).size()
    assert (tried.xs(0, level="seed") == 4).all()
    assert (tried.drop(0, level="seed") == 1).all()
    chosen = result.selection().groupby("model").candidate.nunique()
    assert (chosen == 1).all()


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
    assert "fourier_scale" in set(diff[diff.model == "mlp_fourier"].setting)
    assert "fourier_scale" not in set(diff[diff.model == "mlp"].setting)


def test_gaussian_mixture_reports_accuracy_first():
    assert gaussian_mixture_benchmark().primary[0] == "accuracy"


def test_claim_outcome_rejects_an_unknown_verdict():
    with pytest.raises(ValueError, match="'verdict' parameter of claim_outcome"):
        claim_outcome("maybe")


def test_the_previous_recipe_is_untuned_at_one_learning_rate():
    old = previous_recipe(sinusoid_benchmark(), fourier_scale=5.0, epochs=1000)
    configs = old.configs()
    assert set(configs) == {"ecrn_previous", "mlp_previous"}
    assert all(c.lr == 1e-3 and c.epochs == 1000 and not c.tuned for c in configs.values())
    assert configs["ecrn_previous"].model_kwargs["fourier_scale"] == 5.0


def test_table_has_one_row_per_model_in_benchmark_order(tmp_path):
    result = run_benchmark(_tiny_sinusoid(), results_dir=tmp_path)
    table = result.table()
    assert list(table.index) == ["ecrn", "mlp_fourier", "mlp", "resnet", "ecrn_ntk", "ntk"]
    assert list(table.columns) == ["mse", "r2", "seeds"]
    assert (table["seeds"] == 2).all()


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


# ----------------------------------------------------------------------------- the claims


def _result_with(values_a, values_b, metric="mse", statistic="paired_t"):
    """A BenchmarkResult holding two models' per-seed test values (constructed, no training)."""
    from ntkbook.experiments.benchmarks import BenchmarkResult

    bench = _tiny_sinusoid(n_seeds=len(values_a))
    bench.statistic = statistic
    rows = [(m, s, 0, "test", metric, v) for m, vals in (("ecrn", values_a), ("mlp", values_b))
            for s, v in enumerate(vals)]
    rows += [(m, s, 0, "run", "diverged", 0.0) for m in ("ecrn", "mlp") for s in range(len(values_a))]
    frame = pd.DataFrame(rows, columns=["model", "seed", "epoch", "split", "metric", "value"])
    meta = {m: {"runs": [{"n_fit": 80, "n_val": 20, "n_test": 50}]} for m in ("ecrn", "mlp")}
    return BenchmarkResult(bench, frame, meta)


@pytest.mark.parametrize("statistic", ["paired_t", "corrected"])
@pytest.mark.parametrize("shift, expected", [(-0.5, "supported"), (0.5, "not supported"), (0.0, "inconclusive")])
def test_the_claim_rule_reaches_each_outcome(statistic, shift, expected):
    from ntkbook.claims.rules import sign_rule

    rng = np.random.default_rng(0)
    b = 1.0 + 0.01 * rng.normal(size=6)
    a = b + shift + 0.01 * rng.normal(size=6)
    pair = _result_with(a, b, statistic=statistic).compare("ecrn", "mlp", "mse")
    verdict = sign_rule(pair.mean_difference, pair.ci_low, pair.ci_high, expect="negative", what=pair.how)
    assert verdict.verdict == expected


def test_the_corrected_interval_is_wider_than_the_plain_one():
    rng = np.random.default_rng(1)
    b = rng.normal(size=8)
    a = b - 0.3 + 0.2 * rng.normal(size=8)
    plain = _result_with(a, b).compare("ecrn", "mlp", "mse")
    corrected = _result_with(a, b, statistic="corrected").compare("ecrn", "mlp", "mse")
    assert corrected.mean_difference == pytest.approx(plain.mean_difference)
    assert corrected.ci_high - corrected.ci_low > plain.ci_high - plain.ci_low
    assert (corrected.n_train, corrected.n_test) == (100, 50)


def test_a_diverged_seed_makes_the_comparison_inconclusive():
    from ntkbook.claims.rules import sign_rule

    result = _result_with([0.1, 0.1, 0.1, 0.1], [1.0, 1.1, 0.9, 1.0])
    result.frame.loc[(result.frame.model == "mlp") & (result.frame.split == "run") & (result.frame.seed == 2),
                     "value"] = 1.0
    pair = result.compare("ecrn", "mlp", "mse")
    assert sign_rule(pair.mean_difference, pair.ci_low, pair.ci_high, expect="negative").verdict == "inconclusive"


def test_the_one_sided_p_value_follows_the_claims_direction():
    pair = _result_with([0.1, 0.2, 0.15, 0.12], [1.0, 1.1, 0.9, 1.0]).compare("ecrn", "mlp", "mse")
    assert pair.one_sided_p("negative") == pytest.approx(pair.p_value / 2)
    assert pair.one_sided_p("positive") == pytest.approx(1 - pair.p_value / 2)


def test_accuracy_intervals_stay_inside_zero_and_one():
    result = _result_with([0.99, 1.0, 0.9], [0.5, 0.6, 0.7], metric="accuracy")
    iv = result.interval("ecrn", "accuracy")
    assert 0.0 <= iv.low <= iv.high <= 1.0


@pytest.mark.slow
def test_ecrn_has_lower_sinusoid_test_mse_than_the_mlp_at_small_size(tmp_path):
    bench = sinusoid_benchmark(n_seeds=3, n_train=128, n_test=128, width=32, depth=3,
                               n_fourier=32, epochs=200, patience=50)
    keep = ("ecrn", "mlp")
    bench = Benchmark(**{**bench.__dict__, "networks": {k: bench.networks[k] for k in keep},
                         "kernels": {}, "grids": {k: bench.grids[k] for k in keep}})
    pair = run_benchmark(bench, results_dir=tmp_path).compare("ecrn", "mlp", "mse")
    assert pair.mean_difference < 0


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
    monkeypatch.setattr(runs, "fit_kernel_regression", lambda kb, d, s=0: calls.append(1) or solve(kb, d, s))
    df = nb.run_kernel_regression(KernelBaseline(), "sinusoids", {}, seeds=(0, 1, 2),
                                  results_dir=tmp_path)
    assert len(calls) == 2
    mse = df[(df.split == "test") & (df.metric == "mse")].set_index("seed").value
    assert mse[0] == mse[1] != mse[2]


def test_no_model_beats_the_bayes_accuracy_of_the_mixture_by_more_than_noise(tmp_path):
    from ntkbook.experiments.benchmarks import bayes_accuracy

    bench = gaussian_mixture_benchmark(n_seeds=2, n_train=200, n_test=400, width=16, depth=2,
                                       epochs=30, patience=10)
    keep = ("ecrn", "mlp", "ntk")
    bench = Benchmark(**{**bench.__dict__, "networks": {k: bench.networks[k] for k in keep if k in bench.networks},
                         "kernels": {"ntk": bench.kernels["ntk"]}, "grids": {k: bench.grids[k] for k in keep}})
    result = run_benchmark(bench, results_dir=tmp_path)
    bayes = bayes_accuracy(bench.dataset_kwargs, bench.seeds).mean()
    acc = pd.Series({m: result.interval(m, "accuracy").mean for m in keep})
    assert 0.5 < bayes < 1.0
    assert (acc <= bayes + 0.03).all()
