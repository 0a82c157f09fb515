"""Chapter 13 (CIFAR-10 5k subset): the configuration, and a small run of every model with
NTK tracking on the prepared subset (skipped when NTKBOOK_DATA_DIR does not hold it)."""

import math
import os
from pathlib import Path

import numpy as np
import pytest

from ntkbook.experiments.benchmarks import cifar_benchmark, run_benchmark, unit_phase_scale

HAS_CIFAR = (Path(os.environ.get("NTKBOOK_DATA_DIR", "/nonexistent")) / "cifar10-5k.npz").exists()


def test_resnet18_gets_images_and_the_others_flattened_pixels():
    configs = cifar_benchmark().configs()
    assert configs["resnet18"].dataset_kwargs["flatten"] is False
    assert configs["ecrn"].dataset_kwargs["flatten"] is True
    assert configs["mlp"].dataset_kwargs["flatten"] is True


def test_every_network_sees_the_same_images_per_seed():
    configs = cifar_benchmark().configs()
    shared = {k: v for k, v in configs["ecrn"].dataset_kwargs.items() if k != "flatten"}
    for cfg in configs.values():
        assert {k: v for k, v in cfg.dataset_kwargs.items() if k != "flatten"} == shared
        assert cfg.seeds == configs["ecrn"].seeds


def test_resnet18_trains_at_its_own_learning_rate():
    configs = cifar_benchmark(lr=0.01, resnet18_lr=0.001).configs()
    assert (configs["ecrn"].lr, configs["mlp"].lr, configs["resnet18"].lr) == (0.01, 0.01, 0.001)


def test_default_fourier_scale_gives_unit_phases_on_3072_pixels():
    scale = cifar_benchmark().networks["ecrn"][1]["fourier_scale"]
    assert scale == pytest.approx(unit_phase_scale(3072), rel=1e-3)
    assert scale == pytest.approx(1 / (2 * math.pi * math.sqrt(3072)), rel=1e-3)


def test_full_profile_defaults_are_paper_scale():
    bench = cifar_benchmark()
    assert bench.dataset_kwargs["n_train"] == 5000
    assert len(bench.seeds) >= 5


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CIFAR, reason="NTKBOOK_DATA_DIR holds no cifar10-5k.npz")
def test_small_cifar_run_tracks_the_ntk_of_every_network(tmp_path):
    bench = cifar_benchmark(n_seeds=1, n_train=60, n_test=40, width=32, depth=2, n_fourier=32,
                            resnet18_width=4, epochs=2, batch_size=30, ntk_every=1,
                            ntk_probe=4)
    result = run_benchmark(bench, results_dir=tmp_path)
    table = result.ntk_summary()
    assert list(table.index) == ["ecrn", "mlp", "resnet18"]
    assert np.isfinite(table.to_numpy()).all()
    epochs = result.ntk_evolution().groupby("model").epoch.apply(lambda e: sorted(set(e)))
    assert all(e == [0, 1, 2] for e in epochs)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CIFAR, reason="NTKBOOK_DATA_DIR holds no cifar10-5k.npz")
def test_kernel_regression_beats_chance_and_its_temperature_lowers_the_cross_entropy(tmp_path):
    bench = cifar_benchmark(n_seeds=1, n_train=300, n_test=100)
    bench.networks = {}
    result = run_benchmark(bench, results_dir=tmp_path)
    s = result.summary(["accuracy", "cross_entropy", "cross_entropy_raw"]).set_index("metric")
    assert s.loc["accuracy", "mean"] > 0.15  # chance is 0.10
    assert s.loc["cross_entropy", "mean"] < s.loc["cross_entropy_raw", "mean"]
