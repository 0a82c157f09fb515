"""Chapter 8 (stochastic depth): the expected NTK over masks and the (1 - p_l)-weighted formula."""

import math

import pytest
import torch

from ntkbook.experiments.ablations import (
    eval_mode_ntk,
    exact_expected_ntk,
    expected_ntk_check,
    kernel_gap,
    mask_draw_trajectories,
    weighted_ntk,
)
from ntkbook.data import load_dataset
from ntkbook.models import ECRN
from ntkbook.ntk import empirical_ntk, expected_ntk


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_ecrn(p, depth=3, width=64, seed=0):
    return ECRN(1, width=width, depth=depth, n_fourier=8, fourier_scale=2.0, drop_prob=p, seed=seed).double()


def inputs(n=12, seed=0):
    return torch.rand(n, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_weighted_formula_is_within_twice_the_monte_carlo_error_at_p_one_tenth():
    table = expected_ntk_check([0.1], [0, 1, 2], n_points=12, width=64, depth=3, n_fourier=8, n_samples=32)
    assert table["formula_z"].mean() < 2.0


def test_eval_mode_kernel_is_farther_from_the_exact_mean_than_the_weighted_formula():
    table = expected_ntk_check([0.3], [0, 1], n_points=12, width=64, depth=3, n_fourier=8, n_samples=8)
    assert (table["eval_bias"] > 2 * table["formula_bias"]).all()


def test_exact_mean_over_masks_is_within_the_monte_carlo_error():
    model, x = small_ecrn(0.3), inputs()
    mc = expected_ntk(model, x, 64, seed=3)
    assert kernel_gap(mc, exact_expected_ntk(model, x))["z"] < 2.5


def test_without_drops_all_three_kernels_are_the_plain_ntk():
    model, x = small_ecrn(0.0), inputs()
    plain = empirical_ntk(model, x)
    torch.testing.assert_close(weighted_ntk(model, x), plain)
    torch.testing.assert_close(eval_mode_ntk(model, x), plain)
    torch.testing.assert_close(exact_expected_ntk(model, x), plain.double())


def test_weighted_ntk_leaves_the_model_unchanged():
    model, x = small_ecrn(0.4), inputs()
    alphas = list(model.alphas)
    weighted_ntk(model, x)
    assert model.alphas == alphas and model.depth_mask is None


def test_kernel_gap_is_zero_against_the_estimate_itself():
    model, x = small_ecrn(0.2), inputs()
    mc = expected_ntk(model, x, 4, seed=0)
    gap = kernel_gap(mc, mc.mean)
    assert gap["z"] == 0.0 and gap["relative_gap"] == 0.0


def test_mask_draws_spread_the_kernel_evolution_only_with_stochastic_depth():
    data = load_dataset("sinusoids", n_train=12, n_test=16, seed=0, frequencies=[1.0], amplitudes=[1.0])
    table = mask_draw_trajectories(data, drop_probs=[0.0, 0.3], mask_seeds=[0, 1, 2], width=32, depth=3,
                                   n_fourier=8, epochs=10, ntk_every=5, n_probe=12)
    final = table[table.epoch == 10].groupby("p")["kernel_change"].std()
    assert final.loc[0.0] == 0.0 and final.loc[0.3] > 0.0


def test_exact_expected_ntk_refuses_a_deep_model():
    with pytest.raises(ValueError, match="'model' parameter of exact_expected_ntk must have depth <= 12"):
        exact_expected_ntk(small_ecrn(0.1, depth=13, width=8), inputs(4))


def test_weighted_ntk_refuses_a_model_without_stochastic_depth():
    with pytest.raises(TypeError, match="'model' parameter of weighted_ntk must be a stochastic-depth model"):
        weighted_ntk(torch.nn.Linear(1, 1), inputs(4))


def test_expected_ntk_check_rejects_a_drop_probability_of_one():
    with pytest.raises(ValueError, match=r"'drop_probs' parameter of expected_ntk_check must be a non-empty sequence of finite floats in the range \[0, 1\)"):
        expected_ntk_check([1.0], [0])


def test_kernel_gap_is_infinite_when_the_estimate_has_no_error():
    model, x = small_ecrn(0.0), inputs()
    mc = expected_ntk(model, x, 2, seed=0)  # p = 0: every mask is the same, stderr 0
    assert math.isinf(kernel_gap(mc, mc.mean + 1.0)["z"])
