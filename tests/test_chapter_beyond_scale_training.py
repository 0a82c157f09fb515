"""Chapter "Beyond the paper: scale", its training sweep: the loader of the official CIFAR-10
archive (on a fake archive made here, and without one), chapter 13's protocol at several
training sizes and depths on tiny networks, the fits, and each outcome of the two claims' rules.

Nothing touches the network: a missing archive is asked for with ``download=False``. The runs on
the offline pool are skipped when NTKBOOK_DATA_DIR does not hold it."""

import hashlib
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbook.claims.registry import CLAIMS
from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, one_sided_rule, sign_rule
from ntkbook.data import DATASETS, DataError, DataNotFoundError, cifar, load_dataset
from ntkbook.data.cifar_archive import ARCHIVE_DATASET, load_cifar_archive, registered
from ntkbook.experiments import beyond_scale
from ntkbook.experiments.benchmarks import cifar_benchmark
from ntkbook.experiments.beyond_scale import (GAP_TOLERANCE, accuracy_gap_trend, depth_benchmark, growth_difference,
                                              scaling_fits, size_benchmark, training_by_depth, training_by_size)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HAS_CIFAR = (Path(os.environ.get("NTKBOOK_DATA_DIR", "/nonexistent")) / cifar.CIFAR_SUBSET_FILE).exists()
TINY = dict(n_seeds=2, epochs=2, patience=1, width=8, n_fourier=8, ntk_every=1, ntk_probe=4)


# ----------------------------------------------------------------------------- the archive


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("NTKBOOK_DATA_DIR", str(d))
    return d


@pytest.fixture
def fake_archive(empty_data_dir, monkeypatch, write_fake_cifar):
    """The archive's training pixels as rows of 3,072 bytes, and their labels."""
    path = empty_data_dir / cifar.CIFAR_ARCHIVE
    members = write_fake_cifar(path)
    train = [members[f"data_batch_{i}"] for i in range(1, 6)]
    raw, labels = np.concatenate([m[b"data"] for m in train]), np.array([y for m in train for y in m[b"labels"]])
    monkeypatch.setattr(cifar, "CIFAR_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    return raw, labels


def test_without_the_archive_and_without_download_the_loader_names_the_file(empty_data_dir):
    with pytest.raises(DataNotFoundError) as err:
        load_cifar_archive(n_train=10, download=False)
    assert cifar.CIFAR_ARCHIVE in str(err.value) and "NTKBOOK_DATA_DIR" in str(err.value)
    assert list(empty_data_dir.iterdir()) == []


def test_the_loader_draws_stratified_standardized_flattened_images_from_the_archive(fake_archive):
    raw, labels = fake_archive
    data = load_cifar_archive(n_train=50, n_test=10, seed=3)
    assert data.x_train.shape == (50, 3072) and data.x_test.shape == (10, 3072)
    assert torch.bincount(data.y_train, minlength=10).tolist() == [5] * 10  # 5 of each class
    assert data.name == ARCHIVE_DATASET and data.n_classes == 10 and "official CIFAR-10" in data.source
    img = load_cifar_archive(n_train=50, n_test=10, seed=3, flatten=False, dtype=torch.float64)
    assert img.x_train.shape == (50, 3, 32, 32)
    assert torch.allclose(img.x_train.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(img.x_train.std(dim=(0, 2, 3), unbiased=False), torch.ones(3, dtype=torch.float64))
    # every drawn image is one row of the archive (channel, row, column order), with its label
    plain = load_cifar_archive(n_train=50, n_test=10, seed=3, standardize=False, dtype=torch.float64)
    pixels = np.rint(255 * plain.x_train.numpy()).astype(np.uint8)
    for row, label in zip(pixels[:5], plain.y_train[:5].tolist()):
        hits = np.flatnonzero((raw == row).all(axis=1))
        assert len(hits) == 1 and labels[hits[0]] == label


def test_the_loader_refuses_more_images_than_the_archive_holds(fake_archive):
    with pytest.raises(DataError, match="n_train=101"):
        load_cifar_archive(n_train=101)


def test_registered_makes_load_dataset_know_the_archive_inside_the_block_only(fake_archive):
    with registered():
        data = load_dataset(ARCHIVE_DATASET, n_train=20, n_test=10, flatten=True)
        assert data.x_train.shape == (20, 3072)
    assert ARCHIVE_DATASET not in DATASETS


# ----------------------------------------------------------------------------- the protocol


def test_each_network_keeps_chapter_13s_configuration_so_its_cached_runs_are_shared():
    mine, chapter13 = size_benchmark(1000).configs(), cifar_benchmark(n_train=1000).configs()
    assert list(mine) == ["ecrn", "mlp", "resnet"]
    for label, cfg in mine.items():
        assert cfg == chapter13[label]


def test_size_benchmark_refuses_a_network_chapter_13_does_not_train_on_vectors():
    with pytest.raises(ValueError, match="'models' parameter of size_benchmark"):
        size_benchmark(1000, models=("ecrn", "resnet18"))


def test_depth_benchmark_fixes_alpha_and_turns_stochastic_depth_off_at_every_depth():
    bench = depth_benchmark([2, 8], n_train=500, alpha=0.25)
    kwargs = {label: model_kwargs for label, (_, model_kwargs) in bench.networks.items()}
    assert {k: (v["depth"], v["alpha"], v["drop_prob"]) for k, v in kwargs.items()} == {
        "ecrn_L2": (2, 0.25, 0.0), "ecrn_L8": (8, 0.25, 0.0)}
    assert bench.grids["ecrn_L2"] == bench.grids["ecrn_L8"] == size_benchmark(500).grids["ecrn"]


def test_a_size_above_the_pool_without_the_archive_is_recorded_as_not_run(empty_data_dir, tmp_path):
    sweep = training_by_size([20000], download=False, results_dir=tmp_path / "results", **TINY)
    assert sweep.ran == [] and sweep.summary.empty
    row = sweep.not_run.iloc[0]
    assert row["n"] == 20000 and row["source"] == "official archive"
    assert row["reason"].startswith("DataNotFoundError") and cifar.CIFAR_ARCHIVE in row["reason"]
    assert str(empty_data_dir) not in row["reason"]  # no machine path in the chapter


def test_a_size_above_the_pool_trains_on_the_archive_through_the_cached_runs(fake_archive, tmp_path, monkeypatch):
    monkeypatch.setattr(beyond_scale, "POOL_TRAIN", 30)  # the fake archive's 100 images stand for 50,000
    sweep = training_by_size([40], n_test=10, results_dir=tmp_path / "results", **TINY)
    assert sweep.ran == [40] and set(sweep.status["source"]) == {"official archive"}
    assert len(sweep.summary) == 3 * 2 and sweep.summary["lambda0"].gt(0).all()
    assert ARCHIVE_DATASET not in DATASETS


@pytest.mark.skipif(not HAS_CIFAR, reason="NTKBOOK_DATA_DIR holds no cifar10-5k.npz")
def test_the_trajectories_pair_lambda_max_with_the_validation_accuracy_of_each_epoch(tmp_path):
    sweep = training_by_size([40, 60], n_test=20, results_dir=tmp_path, **TINY)
    traj, summary = sweep.trajectory, sweep.summary
    assert sweep.ran == [40, 60] and len(summary) == 2 * 3 * 2  # sizes x networks x seeds
    assert traj.loc[traj.epoch == 0, "ratio"].eq(1.0).all()
    assert traj["val_accuracy"].between(0, 1).all() and traj["lambda_max"].gt(0).all()
    assert np.allclose(summary["growth"], summary["lambda_final"] / summary["lambda0"])
    assert summary["selected_epoch"].le(summary["final_epoch"]).all()
    fits = scaling_fits(summary)
    assert len(fits) == 3 * 2 and set(fits["quantity"]) == {"growth", "val_accuracy"}


@pytest.mark.skipif(not HAS_CIFAR, reason="NTKBOOK_DATA_DIR holds no cifar10-5k.npz")
def test_the_depth_sweep_gives_one_row_per_depth_and_seed(tmp_path):
    traj, summary, result = training_by_depth([1, 3], n_train=40, alpha=0.3, n_test=20, results_dir=tmp_path,
                                              **TINY)
    assert sorted(summary["depth"].unique()) == [1, 3] and len(summary) == 4
    assert set(traj["depth"]) == {1, 3} and set(result.benchmark.networks) == {"ecrn_L1", "ecrn_L3"}


# ----------------------------------------------------------------------------- the rules


def test_the_two_claims_are_registered_for_this_chapter_with_the_rules_they_state():
    growth, gap = CLAIMS["ecrn_lambda_max_growth_below_mlp_at_scale"], CLAIMS["ecrn_accuracy_edge_persists_with_n"]
    assert growth.chapter == gap.chapter == "beyond_scale" and growth.kind == gap.kind == "beyond"
    assert "paired over sizes and seeds" in growth.tested_as and "below 0" in growth.tested_as
    assert "-1 point per doubling" in gap.tested_as and GAP_TOLERANCE == -1.0


def _summary(growth=None, accuracy=None, sizes=(500, 1000, 2000, 5000), seeds=(0, 1, 2, 3)):
    """A summary table: growth[model](n, seed) and accuracy[model](n, seed) as functions."""
    rows = []
    for n in sizes:
        for s in seeds:
            for m in ("ecrn", "mlp"):
                rows.append({"n": n, "seed": s, "model": m,
                             "growth": growth[m](n, s) if growth else 1.0,
                             "val_accuracy": accuracy[m](n, s) if accuracy else 0.5})
    return pd.DataFrame(rows)


def _growth_verdict(summary):
    pair, _ = growth_difference(summary)
    return sign_rule(pair.mean_difference, pair.ci_low, pair.ci_high, expect="negative").verdict


@pytest.mark.parametrize("ecrn,mlp,outcome", [
    (lambda n, s: 0.9 + 0.01 * s, lambda n, s: 5.0 + s, SUPPORTED),  # the MLP's eigenvalue grows, the ECRN's not
    (lambda n, s: 8.0 + s, lambda n, s: 1.1 + 0.01 * s, NOT_SUPPORTED),
    (lambda n, s: 1.0 + 0.5 * (-1) ** s, lambda n, s: 1.0 + 0.5 * (-1) ** (s + 1), INCONCLUSIVE),
    (lambda n, s: math.nan if n == 5000 and s == 0 else 0.9, lambda n, s: 5.0, INCONCLUSIVE),  # a run without one
])
def test_the_growth_rule_reaches_each_outcome(ecrn, mlp, outcome):
    assert _growth_verdict(_summary(growth={"ecrn": ecrn, "mlp": mlp})) == outcome


def test_the_growth_difference_is_the_log_of_the_ratio_of_growths():
    pair, table = growth_difference(_summary(growth={"ecrn": lambda n, s: 1.0, "mlp": lambda n, s: math.e}))
    assert pair.mean_difference == pytest.approx(-1.0) and len(table) == 16


def _gap_verdict(summary):
    gap = accuracy_gap_trend(summary)
    return one_sided_rule(gap["slope"], gap["low"], gap["high"], at_least=GAP_TOLERANCE).verdict, gap


@pytest.mark.parametrize("drift,outcome", [
    (lambda n, s: 0.05, SUPPORTED),  # a constant 5-point edge
    (lambda n, s: 0.2 - 0.05 * math.log2(n / 500) + 0.001 * s, NOT_SUPPORTED),  # loses 5 points per doubling
    (lambda n, s: 0.05 + 0.1 * (-1) ** s * math.log2(n / 500), INCONCLUSIVE),  # seeds disagree
    (lambda n, s: math.nan if s == 1 else 0.05, INCONCLUSIVE),  # a seed without a value
])
def test_the_gap_rule_reaches_each_outcome(drift, outcome):
    acc = {"ecrn": lambda n, s: 0.3 + drift(n, s), "mlp": lambda n, s: 0.3}
    assert _gap_verdict(_summary(accuracy=acc))[0] == outcome


def test_the_gap_slope_is_in_points_per_doubling_of_n():
    acc = {"ecrn": lambda n, s: 0.3 + 0.02 * math.log2(n / 500), "mlp": lambda n, s: 0.3}
    _, gap = _gap_verdict(_summary(accuracy=acc))
    assert gap["slope"] == pytest.approx(2.0) and gap["n"] == 4
