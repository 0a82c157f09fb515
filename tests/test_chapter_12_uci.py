"""Chapter 12 (UCI): the three benchmark configurations, their equal tuning, the corrected
resampled t-test and a small run at the ci profile's size."""

import math
import os
from pathlib import Path

import numpy as np
import pytest

from ntkbook.experiments.benchmarks import UCI_FEATURES, run_benchmark, uci_benchmark, unit_phase_scale
from ntkbook.stats import corrected_resampled_t

HAS_BOSTON = (Path(os.environ.get("NTKBOOK_DATA_DIR", "/nonexistent")) / "boston_housing.csv").exists()


def test_boston_drops_the_b_column_by_default():
    assert uci_benchmark("boston").dataset_kwargs == {"drop_b": True}


def test_boston_fourier_scales_count_twelve_inputs_without_b():
    scales = sorted({c["model_kwargs"]["fourier_scale"] for c in uci_benchmark("boston").grids["ecrn"]})
    assert scales == pytest.approx([unit_phase_scale(12), 10 * unit_phase_scale(12)], rel=1e-3)


def test_boston_fourier_scale_counts_thirteen_inputs_with_b():
    ecrn_kwargs = uci_benchmark("boston", drop_b=False).networks["ecrn"][1]
    assert ecrn_kwargs["fourier_scale"] == pytest.approx(unit_phase_scale(13), rel=1e-3)


def test_unit_phase_scale_gives_phases_of_unit_standard_deviation():
    # 2 pi <B_k, x> with B_kj ~ N(0, s^2) and d unit-variance inputs has variance (2 pi s)^2 d
    d = UCI_FEATURES["wine"]
    assert (2 * math.pi * unit_phase_scale(d)) ** 2 * d == pytest.approx(1.0)


def test_classifiers_report_accuracy_and_boston_reports_mse():
    assert [uci_benchmark(n).primary[0] for n in ("boston", "iris", "wine")] == [
        "mse", "accuracy", "accuracy"]


def test_an_unknown_uci_dataset_is_rejected():
    with pytest.raises(ValueError, match="'dataset' parameter of uci_benchmark"):
        uci_benchmark("mnist")


def test_the_splits_of_one_table_are_judged_by_the_corrected_test_and_tuned_on_every_split():
    bench = uci_benchmark("iris")
    assert bench.statistic == "corrected" and bench.tune_on == "every_seed"
    assert bench.budget == 4 and set(bench.grids) == set(bench.models)


def test_the_mlp_with_fourier_features_shares_the_ecrns_features_and_activation():
    bench = uci_benchmark("wine")
    ecrn, mlpf = bench.networks["ecrn"][1], bench.networks["mlp_fourier"][1]
    assert (ecrn["n_fourier"], ecrn["fourier_scale"]) == (mlpf["n_fourier"], mlpf["fourier_scale"])
    assert mlpf["activation"] == "tanh"
    assert bench.grids["ecrn"] == bench.grids["mlp_fourier"]


@pytest.mark.skipif(not HAS_BOSTON, reason="NTKBOOK_DATA_DIR holds no boston_housing.csv")
def test_boston_models_see_twelve_inputs_and_the_source_says_b_was_dropped(tmp_path):
    bench = uci_benchmark("boston", n_seeds=1, width=8, depth=1, n_fourier=8, epochs=1)
    result = run_benchmark(bench, results_dir=tmp_path)
    sources = {r["data_source"] for r in result.metadata["ecrn"]["runs"]}
    assert all("column b dropped" in s for s in sources)
    assert result.benchmark.configs()["mlp"].dataset_kwargs["drop_b"] is True


def test_the_corrected_comparison_uses_the_sizes_of_the_training_and_test_splits(tmp_path):
    bench = uci_benchmark("iris", n_seeds=3, width=16, epochs=20, patience=5)
    bench.kernels = {}
    bench.networks = {k: bench.networks[k] for k in ("ecrn", "mlp")}
    bench.grids = {k: bench.grids[k] for k in ("ecrn", "mlp")}
    result = run_benchmark(bench, results_dir=tmp_path)
    pair = result.compare("ecrn", "mlp", "accuracy")
    assert (pair.n_train, pair.n_test) == (105, 45)  # Iris: 150 rows, 30 % test; fit + validation = 105
    d = pair.differences["difference"].to_numpy()
    ref = corrected_resampled_t(d, 105, 45)
    assert (pair.ci_low, pair.ci_high) == pytest.approx((ref.ci_low, ref.ci_high), nan_ok=True)
    assert np.isfinite(pair.mean_difference)
