"""Chapter "Beyond the paper: scale": the CNTK as a width limit, the CNTK against the fully
connected NTK on CIFAR-10, and the ECRN's lambda_max(0) against depth; the experiment functions
on tiny configurations, and each claim's rule reaching each of its outcomes."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbook.claims.registry import CLAIMS
from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, interval_rule, one_sided_rule, sign_rule
from ntkbook.data import Dataset
from ntkbook.experiments.beyond_scale import (bootstrap_one_sided_p, cnn_kernel_errors, compare_kernels,
                                              ecrn_lambda_max, kernel_bank)
from ntkbook.stats import one_sided_p, paired_bootstrap, paired_difference, slope_interval

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _images(n, c=3, side=4, seed=0):
    return torch.randn(n, c, side, side, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.fixture(scope="module")
def toy_images():
    """Two classes of 4 x 4 images that differ by a local pattern (a bright 2 x 2 corner)."""
    g = torch.Generator().manual_seed(0)
    x = 0.5 * torch.randn(120, 3, 4, 4, generator=g, dtype=torch.float64)
    y = torch.arange(120) % 2
    x[y == 1, :, :2, :2] += 1.5
    return Dataset(x[:80], y[:80], x[80:], y[80:], "classification", 2, [], "toy images", "toy")


# ----------------------------------------------------------------------------- experiments


def test_cnn_kernel_errors_fall_with_the_channels_for_every_seed(one_torch_thread):
    errors = cnn_kernel_errors(_images(4), [8, 128], [0, 1], depth=2)
    table = errors.pivot_table(index="channels", columns="seed", values="rel_error")
    assert (table.loc[128] < table.loc[8]).all()


def test_cnn_kernel_errors_have_one_row_per_channels_and_seed(one_torch_thread):
    errors = cnn_kernel_errors(_images(3), [4, 8], [0, 1, 2], n_nets=2)
    assert len(errors) == 6 and set(errors.columns) >= {"channels", "seed", "rel_error"}


def test_kernel_bank_refuses_unequal_budgets(toy_images):
    with pytest.raises(ValueError, match="same number of candidate depths"):
        kernel_bank(toy_images, {"cntk": [1, 2], "fc_ntk": [1]})


def test_kernel_bank_holds_train_and_test_blocks_of_every_candidate(toy_images):
    bank = kernel_bank(toy_images, {"cntk": [1, 2], "fc_ntk": [1, 2]})
    k_train, k_test = bank["cntk"][2]
    assert k_train.shape == (80, 80) and k_test.shape == (40, 80) and k_train.dtype == torch.float64


def test_compare_kernels_selects_on_validation_and_learns_a_local_pattern(toy_images):
    bank = kernel_bank(toy_images, {"cntk": [1, 2], "fc_ntk": [1, 2]})
    table, examples = compare_kernels(bank, toy_images, sizes=[40, 80])
    assert list(table["n"]) == [40, 40, 80, 80]
    assert set(table.loc[table.n == 80, "n_val"]) == {16}  # 20 % of the training images
    assert (table["accuracy"] > 0.8).all()  # chance is 0.5
    assert examples[80]["cntk"].shape == (40,)


def test_compare_kernels_bootstrap_interval_contains_its_mean(toy_images):
    bank = kernel_bank(toy_images, {"cntk": [1], "fc_ntk": [1]})
    table, _ = compare_kernels(bank, toy_images, sizes=[80], n_boot=200)
    row = table.iloc[0]
    assert row["low"] <= row["diff"] <= row["high"]


def test_compare_kernels_refuses_sizes_beyond_the_bank(toy_images):
    bank = kernel_bank(toy_images, {"cntk": [1], "fc_ntk": [1]})
    with pytest.raises(ValueError, match="'sizes' parameter of compare_kernels"):
        compare_kernels(bank, toy_images, sizes=[100])


def test_ecrn_lambda_max_has_a_row_per_depth_size_and_seed_with_its_infinite_width_value(one_torch_thread):
    x = torch.randn(12, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    table = ecrn_lambda_max(x, [2, 4], [0, 1], width=32, n_fourier=8, sizes=[6, 12])
    assert len(table) == 8
    assert (table["lambda_max"] > 0).all() and np.isfinite(table["analytic"]).all()
    assert list(table.groupby("depth")["sum_alpha2"].first()) == pytest.approx([2 / 8, 4 / 8], rel=1e-3)


def test_ecrn_lambda_max_approaches_its_infinite_width_value_as_the_width_grows(one_torch_thread):
    x = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    gaps = []
    for width in (16, 512):
        t = ecrn_lambda_max(x, [2], [0, 1, 2], width=width, n_fourier=256)
        gaps.append(float((t["lambda_max"] / t["analytic"] - 1).abs().mean()))
    assert gaps[1] < gaps[0]


# ----------------------------------------------------------------------------- rules


def test_the_claims_are_registered_for_this_chapter_with_the_rules_they_state():
    for cid in ("cntk_matches_wide_cnns", "cntk_beats_fc_ntk", "ecrn_lambda_max_depth_growth"):
        assert CLAIMS[cid].chapter == "beyond_scale"
    assert "[-0.75, -0.25]" in CLAIMS["cntk_matches_wide_cnns"].tested_as
    assert "at most 1" in CLAIMS["ecrn_lambda_max_depth_growth"].tested_as


def _slope_verdict(x_name, exponents, rule, xs):
    """A claim's slope rule on a constructed table y = (1 + seed) x^beta_seed."""
    rows = [{x_name: x, "seed": s, "y": (1 + s) * x**b if math.isfinite(b) else math.nan}
            for s, b in enumerate(exponents) for x in xs]
    fit = slope_interval(pd.DataFrame(rows), x=x_name, y="y", by="seed")
    return rule(fit["slope"], fit["low"], fit["high"]), fit


def _convergence_rule(slope, low, high):
    return interval_rule(slope, low, high, expected=(-0.75, -0.25))


@pytest.mark.parametrize("exponents,outcome", [
    ([-0.5, -0.45, -0.55, -0.5], SUPPORTED),  # the central-limit rate
    ([-1.0, -1.05, -0.95, -1.0], NOT_SUPPORTED),  # a pure 1/n bias
    ([-0.1, -0.05, -0.12, -0.08], NOT_SUPPORTED),  # no convergence to speak of
    ([-0.3, -0.8, -0.5, -0.2], INCONCLUSIVE),  # too noisy to place
    ([-0.5, -0.45, math.nan, -0.5], INCONCLUSIVE),  # a seed without a slope
])
def test_the_convergence_rule_reaches_each_outcome(exponents, outcome):
    verdict, _ = _slope_verdict("channels", exponents, _convergence_rule, (16, 64, 256))
    assert verdict.verdict == outcome


def _depth_rule(slope, low, high):
    return one_sided_rule(slope, low, high, at_most=1.0)


@pytest.mark.parametrize("exponents,outcome", [
    ([0.5, 0.55, 0.6, 0.5], SUPPORTED),  # slower than the sum of alpha^2
    ([1.4, 1.3, 1.5, 1.45], NOT_SUPPORTED),  # the blocks compound
    ([0.8, 1.2, 0.9, 1.15], INCONCLUSIVE),  # the interval contains 1
    ([0.5, math.nan, 0.6, 0.5], INCONCLUSIVE),  # a seed without a slope
])
def test_the_depth_rule_reaches_each_outcome(exponents, outcome):
    verdict, _ = _slope_verdict("depth", exponents, _depth_rule, (2, 4, 8, 16, 32))
    assert verdict.verdict == outcome


def test_the_depth_p_value_is_small_when_every_slope_is_well_below_one():
    _, fit = _slope_verdict("depth", [0.5, 0.55, 0.6, 0.5], _depth_rule, (2, 4, 8, 16, 32))
    slopes = fit["slopes"]["slope"].to_numpy(float)
    assert one_sided_p(paired_difference(slopes, np.ones(len(slopes))), "negative") < 0.01


def _accuracy_verdict(acc_cntk, acc_fc, n=1000):
    """Per-image correctness: the CNTK right on the first acc_cntk n images, the FC NTK on a
    window of acc_fc n images shifted by 100 (so the two disagree on some 200 images)."""
    a = (np.arange(n) < round(acc_cntk * n)).astype(float)
    b = np.roll((np.arange(n) < round(acc_fc * n)).astype(float), 100)
    pair = paired_bootstrap(a, b, n_boot=500)
    return sign_rule(pair.mean_difference, pair.ci_low, pair.ci_high, expect="positive"), pair


@pytest.mark.parametrize("acc_cntk,acc_fc,outcome", [
    (0.55, 0.40, SUPPORTED),
    (0.35, 0.50, NOT_SUPPORTED),
    (0.45, 0.45, INCONCLUSIVE),
])
def test_the_cifar_rule_reaches_each_outcome(acc_cntk, acc_fc, outcome):
    assert _accuracy_verdict(acc_cntk, acc_fc)[0].verdict == outcome


def test_the_cifar_rule_is_inconclusive_on_a_non_finite_difference():
    assert sign_rule(math.nan, math.nan, math.nan, expect="positive").verdict == INCONCLUSIVE


def test_the_bootstrap_one_sided_p_is_small_on_the_claimed_side_and_large_on_the_other():
    _, better = _accuracy_verdict(0.55, 0.40)
    _, worse = _accuracy_verdict(0.35, 0.50)
    assert bootstrap_one_sided_p(better, "positive") < 0.01 < 0.99 < bootstrap_one_sided_p(worse, "positive")
