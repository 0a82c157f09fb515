"""Chapter 12 (UCI): the three benchmark configurations and the chapter's key claim (Iris)
at the ci profile's size."""

import math
import os
from pathlib import Path

import pytest

from ntkbook.experiments.benchmarks import UCI_FEATURES, run_benchmark, uci_benchmark, unit_phase_scale

HAS_BOSTON = (Path(os.environ.get("NTKBOOK_DATA_DIR", "/nonexistent")) / "boston_housing.csv").exists()


def test_boston_drops_the_b_column_by_default():
    assert uci_benchmark("boston").dataset_kwargs == {"drop_b": True}


def test_boston_fourier_scale_counts_twelve_inputs_without_b():
    ecrn_kwargs = uci_benchmark("boston").networks["ecrn"][1]
    assert ecrn_kwargs["fourier_scale"] == pytest.approx(unit_phase_scale(12), abs=1e-4)


def test_boston_fourier_scale_counts_thirteen_inputs_with_b():
    ecrn_kwargs = uci_benchmark("boston", drop_b=False).networks["ecrn"][1]
    assert ecrn_kwargs["fourier_scale"] == pytest.approx(unit_phase_scale(13), abs=1e-4)


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


@pytest.mark.skipif(not HAS_BOSTON, reason="NTKBOOK_DATA_DIR holds no boston_housing.csv")
def test_boston_models_see_twelve_inputs_and_the_source_says_b_was_dropped(tmp_path):
    bench = uci_benchmark("boston", n_seeds=1, width=8, depth=1, n_fourier=8, epochs=1)
    result = run_benchmark(bench, results_dir=tmp_path)
    sources = {r["data_source"] for r in result.metadata["ecrn"]["runs"]}
    assert all("column b dropped" in s for s in sources)
    assert result.benchmark.configs()["mlp"].dataset_kwargs["drop_b"] is True


def test_ecrn_is_more_accurate_than_the_mlp_on_iris_at_ci_size(tmp_path):
    # the ci profile of chapter 12: 3 splits, width 64, 150 full-batch Adam steps
    bench = uci_benchmark("iris", n_seeds=3, width=64, epochs=150)
    bench.kernel = None
    bench.networks = {k: bench.networks[k] for k in ("ecrn", "mlp")}
    pair = run_benchmark(bench, results_dir=tmp_path).paired("ecrn", "mlp", "accuracy")
    assert pair.n == 3
    assert pair.mean_difference > 0
