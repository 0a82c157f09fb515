"""Chapter 13 (CIFAR-10 5k subset): the configuration, its fixed test set and equal budget,
and small runs on the prepared subset (skipped when NTKBOOK_DATA_DIR does not hold it)."""

import math
import os
from pathlib import Path

import dataclasses

import numpy as np
import pytest

from ntkbook.experiments.benchmarks import cifar_benchmark, run_benchmark, unit_phase_scale

HAS_CIFAR = (Path(os.environ.get("NTKBOOK_DATA_DIR", "/nonexistent")) / "cifar10-5k.npz").exists()


def test_resnet18_gets_images_and_the_others_flattened_pixels():
    configs = cifar_benchmark().configs()
    assert configs["resnet18"].dataset_kwargs["flatten"] is False
    for label in ("ecrn", "mlp_fourier", "mlp", "resnet", "ecrn_ntk", "ntk"):
        assert configs[label].dataset_kwargs["flatten"] is True


def test_every_seed_of_every_model_sees_the_same_images():
    configs = cifar_benchmark().configs()
    assert {cfg.data_seed for cfg in configs.values()} == {0}  # one fixed split, one fixed test set
    assert len({cfg.seeds for cfg in configs.values()}) == 1


def test_resnet18_has_learning_rates_of_its_own_and_the_same_budget():
    bench = cifar_benchmark()
    assert [c["lr"] for c in bench.grids["resnet18"]] == [1e-3, 3e-3]
    assert [c["lr"] for c in bench.grids["ecrn"]] == [1e-3, 1e-2]
    assert {len(g) for g in bench.grids.values()} == {bench.budget}


def test_default_fourier_scale_gives_unit_phases_on_3072_pixels():
    scale = cifar_benchmark().networks["ecrn"][1]["fourier_scale"]
    assert scale == pytest.approx(unit_phase_scale(3072), rel=1e-3)
    assert scale == pytest.approx(1 / (2 * math.pi * math.sqrt(3072)), rel=1e-3)


def test_the_ecrn_kernel_on_pixels_averages_over_the_fourier_matrix():
    assert cifar_benchmark().kernels["ecrn_ntk"].sampled_b is False


def test_the_fixed_test_set_is_judged_by_a_bootstrap_over_examples():
    bench = cifar_benchmark()
    assert bench.statistic == "bootstrap" and bench.per_example


def test_full_profile_defaults_are_paper_scale():
    bench = cifar_benchmark()
    assert bench.dataset_kwargs["n_train"] == 5000
    assert len(bench.seeds) >= 3


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CIFAR, reason="NTKBOOK_DATA_DIR holds no cifar10-5k.npz")
def test_small_cifar_run_tracks_the_ntk_of_every_network_and_keeps_per_image_scores(tmp_path):
    bench = cifar_benchmark(n_seeds=2, n_train=60, n_test=40, width=16, depth=2, n_fourier=16,
                            resnet18_width=2, epochs=2, batch_size=30, ntk_every=1, ntk_probe=4, patience=0)
    result = run_benchmark(bench, results_dir=tmp_path)
    table = result.ntk_summary()
    assert list(table.index) == ["ecrn", "mlp_fourier", "mlp", "resnet", "resnet18"]
    assert np.isfinite(table.to_numpy()).all()
    assert result.examples("ecrn", "accuracy").shape == (2, 40)
    iv = result.interval("ntk", "accuracy")
    assert 0.0 <= iv.low <= iv.mean <= iv.high <= 1.0
    pair = result.compare("ecrn", "ntk", "accuracy")
    assert pair.statistic == "bootstrap" and np.isfinite(pair.ci_low)


@pytest.mark.skipif(not HAS_CIFAR, reason="NTKBOOK_DATA_DIR holds no cifar10-5k.npz")
def test_the_cntk_model_fits_on_its_stratified_subset_of_pooled_images_and_predicts_every_test_image(tmp_path):
    bench = cifar_benchmark(n_seeds=1, n_train=50, n_test=20, depth=2, cntk_train=20, cntk_pool=8)
    bench = dataclasses.replace(bench, networks={}, kernels={"cntk": bench.kernels["cntk"]},
                                grids={"cntk": bench.grids["cntk"]}, per_network={})
    result = run_benchmark(bench, results_dir=tmp_path)
    assert result.examples("cntk", "accuracy").shape == (1, 20)
    run = result.metadata["cntk"]["runs"][0]
    assert run["n_fit"] == 20 and run["n_val"] == 10  # 20 of the 40 fit images; 20 % of 50 held out
    assert 0.0 <= result.interval("cntk", "accuracy").mean <= 1.0


def test_cifar_benchmark_gives_the_cntk_the_same_budget_in_depths():
    bench = cifar_benchmark(depth=4)
    assert [c["model_kwargs"] for c in bench.grids["cntk"]] == [{"depth": 1}, {"depth": 4}]
    kb = bench.kernels["cntk"]
    assert (kb.architecture, kb.image_shape, kb.pool, kb.activation) == ("cntk", (3, 32, 32), 2, "relu")
    assert len(bench.grids["cntk"]) == bench.budget


def _bootstrap_result(correct_a, correct_b):
    """A BenchmarkResult of two models' per-image correctness (n_seeds, n_test), constructed."""
    import pandas as pd

    from ntkbook.experiments.benchmarks import BenchmarkResult

    bench = cifar_benchmark(n_seeds=correct_a.shape[0])
    rows = []
    for model, c in (("ecrn", correct_a), ("ntk", correct_b)):
        for s in range(c.shape[0]):
            rows += [(model, s, i, "example", "correct", float(v)) for i, v in enumerate(c[s])]
            rows += [(model, s, 0, "test", "accuracy", float(c[s].mean())), (model, s, 0, "run", "diverged", 0.0)]
    frame = pd.DataFrame(rows, columns=["model", "seed", "epoch", "split", "metric", "value"])
    return BenchmarkResult(bench, frame, {})


@pytest.mark.parametrize("p_a, p_b, expected", [(0.7, 0.4, "supported"), (0.4, 0.7, "not supported"),
                                                (0.5, 0.5, "inconclusive")])
def test_the_bootstrap_claim_rule_reaches_each_outcome(p_a, p_b, expected):
    from ntkbook.claims.rules import sign_rule

    rng = np.random.default_rng(0)
    truth = rng.uniform(size=(1, 400))
    a = np.repeat(truth < p_a, 3, axis=0).astype(float)  # 3 seeds, 400 test images
    b = np.repeat(truth < p_b, 3, axis=0).astype(float)
    if p_a == p_b:
        b = np.repeat(rng.uniform(size=(1, 400)) < p_b, 3, axis=0).astype(float)
    pair = _bootstrap_result(a, b).compare("ecrn", "ntk", "accuracy")
    verdict = sign_rule(pair.mean_difference, pair.ci_low, pair.ci_high, expect="positive", what=pair.how)
    assert verdict.verdict == expected
    assert "paired bootstrap" in pair.how


def test_a_benchmark_comparison_is_a_paired_difference_and_keeps_its_record_keys():
    from ntkbook.stats import PairedDifference

    rng = np.random.default_rng(1)
    a, b = ((rng.uniform(size=(2, 50)) < p).astype(float) for p in (0.6, 0.4))
    pair = _bootstrap_result(a, b).compare("ecrn", "ntk", "accuracy")
    assert isinstance(pair, PairedDifference)
    record = pair.as_dict()
    assert {"model_a", "model_b", "metric", "statistic", "n", "mean_difference", "ci_low", "ci_high",
            "p_two_sided"} <= set(record) and "differences" not in record
    assert record["mean_difference"] == pytest.approx(a.mean() - b.mean())
