"""Chapter 8 (stochastic depth): the exact expected NTK over masks against the (1 - p_l)-weighted
formula, judged against round-off, and the tuned with/without comparison of the test error."""

import math

import numpy as np
import pytest
import torch

from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, sign_rule, threshold_rule
from ntkbook.stats import one_sided_p
from ntkbook.experiments.ablations import (
    analytic_formula_gap,
    eval_mode_ntk,
    exact_expected_ntk,
    expected_ntk_check,
    formula_gap,
    kernel_gap,
    mask_draw_trajectories,
    roundoff_tolerance,
    tuned_test_errors,
    weighted_ntk,
)
from ntkbook.data import hold_out_validation, load_dataset
from ntkbook.models import ECRN
from ntkbook.ntk import empirical_ntk, expected_ntk
from ntkbook.stats import paired_difference


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_ecrn(p, depth=3, width=64, seed=0):
    return ECRN(1, width=width, depth=depth, n_fourier=8, fourier_scale=2.0, drop_prob=p, seed=seed).double()


def inputs(n=12, seed=0):
    return torch.rand(n, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def formula_verdict(distances, tolerance):
    """The chapter's rule for Eq. (17): the largest distance from the exact mean against round-off."""
    return threshold_rule(float(np.max(distances)), at_most=tolerance, what="max distance from the exact mean")


def generalization_verdict(with_sd, without_sd):
    """The chapter's rule for the generalization claim: the paired difference, with - without, below 0."""
    d = paired_difference(with_sd, without_sd)
    return sign_rule(d.mean_difference, d.ci_low, d.ci_high, expect="negative"), one_sided_p(d, "negative")


def test_a_formula_equal_to_the_exact_mean_is_supported():
    model, x = small_ecrn(0.3), inputs()
    gap = formula_gap(model, x, lambda m, z: exact_expected_ntk(m, z, method="ntvp"))  # same mean, another method
    assert formula_verdict([gap["distance"]], gap["tolerance"]).verdict == SUPPORTED


def test_a_wrong_formula_the_eval_mode_kernel_is_not_supported():
    model, x = small_ecrn(0.3), inputs()
    gap = formula_gap(model, x, eval_mode_ntk)
    assert formula_verdict([gap["distance"]], gap["tolerance"]).verdict == NOT_SUPPORTED


def test_a_formula_off_by_one_part_in_a_million_is_not_supported():
    model, x = small_ecrn(0.3), inputs()
    gap = formula_gap(model, x, lambda m, z: exact_expected_ntk(m, z) * (1 + 1e-6))
    assert gap["distance"] == pytest.approx(1e-6, rel=1e-3)
    assert formula_verdict([gap["distance"]], gap["tolerance"]).verdict == NOT_SUPPORTED


def test_a_non_finite_distance_makes_the_formula_verdict_inconclusive():
    assert formula_verdict([1e-16, math.nan], 1e-10).verdict == INCONCLUSIVE


def test_the_reconstructed_formula_is_not_exact_at_finite_width():
    table = expected_ntk_check([0.1], [0, 1], n_points=12, width=64, depth=3, n_fourier=8, n_samples=0)
    assert (table["formula_bias"] > 1e3 * table["tolerance"]).all()
    assert formula_verdict(table["formula_bias"], table["tolerance"].max()).verdict == NOT_SUPPORTED


def test_the_round_off_tolerance_is_far_above_the_measured_round_off():
    table = expected_ntk_check([0.2], [0], n_points=12, width=64, depth=3, n_fourier=8, n_samples=0)
    assert (table["roundoff"] < 1e-3 * table["tolerance"]).all()


def test_roundoff_tolerance_is_parameters_plus_masks_times_root_n_times_unit_roundoff():
    assert roundoff_tolerance(1000, 24, 16) == pytest.approx(1024 * 4 * 2.0**-53)
    assert roundoff_tolerance(1000, 24, 16, torch.float32) == pytest.approx(1024 * 4 * 2.0**-24)


def test_in_the_infinite_width_limit_the_formula_is_exact_for_one_block_only():
    x = inputs(8)
    assert analytic_formula_gap(small_ecrn(0.3, depth=1), x) < 1e-12
    assert analytic_formula_gap(small_ecrn(0.3, depth=2), x) > 1e-6


def test_analytic_formula_gap_leaves_the_model_unchanged():
    model = small_ecrn(0.3, depth=2)
    alphas = list(model.alphas)
    analytic_formula_gap(model, inputs(6))
    assert model.alphas == alphas and model.depth_mask is None


def test_expected_ntk_check_without_monte_carlo_has_no_z_columns():
    table = expected_ntk_check([0.1], [0], n_points=6, width=16, depth=2, n_fourier=4, n_samples=0)
    assert "formula_z" not in table.columns and {"formula_bias", "tolerance", "roundoff"} <= set(table.columns)


def test_generalization_rule_reaches_each_outcome():
    without = np.array([0.10, 0.12, 0.09, 0.11])
    lower, _ = generalization_verdict(without - [0.02, 0.03, 0.025, 0.02], without)
    higher, _ = generalization_verdict(without + [0.02, 0.03, 0.025, 0.02], without)
    mixed, _ = generalization_verdict(without + [0.02, -0.03, 0.01, -0.02], without)
    voided, _ = generalization_verdict(np.r_[without[:3] - 0.02, math.nan], without)
    assert (lower.verdict, higher.verdict, mixed.verdict, voided.verdict) == (
        SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, INCONCLUSIVE)


def test_one_sided_p_is_small_only_on_the_claimed_side():
    without = np.array([0.10, 0.12, 0.09, 0.11])
    _, p_lower = generalization_verdict(without - [0.02, 0.03, 0.025, 0.02], without)
    _, p_higher = generalization_verdict(without + [0.02, 0.03, 0.025, 0.02], without)
    assert p_lower < 0.01 and p_higher > 0.99 and p_lower + p_higher == pytest.approx(1.0)


def test_hold_out_validation_keeps_the_last_points_for_validation_and_not_the_test_set():
    data = load_dataset("sinusoids", n_train=10, n_test=16, seed=0, frequencies=[1.0], amplitudes=[1.0])
    fit = hold_out_validation(data, 3)
    assert torch.equal(fit.x_train, data.x_train[:7]) and torch.equal(fit.x_test, data.x_train[7:])
    assert len(fit.x_test) == 3 and "held out for validation" in fit.source


def test_hold_out_validation_refuses_to_leave_fewer_than_two_fitted_points():
    data = load_dataset("sinusoids", n_train=5, n_test=4, seed=0, frequencies=[1.0], amplitudes=[1.0])
    with pytest.raises(ValueError, match="'n_val' parameter of hold_out_validation"):
        hold_out_validation(data, 4)


@pytest.fixture(scope="module")
def tuned(one_torch_thread):
    return tuned_test_errors([0.0, 0.2], [0, 1], lrs=[0.25, 1.0], n_train=12, n_val=4, n_test=32, width=16,
                             depth=2, n_fourier=4, epochs=15)


def test_tuned_test_errors_evaluates_the_test_set_only_for_the_selected_run(tuned):
    assert tuned.groupby(["p", "seed"])["selected"].sum().eq(1).all()
    assert tuned.loc[tuned["selected"], "test_mse"].notna().all()
    assert tuned.loc[~tuned["selected"], "test_mse"].isna().all()


def test_tuned_test_errors_selects_the_lowest_validation_error(tuned):
    best = tuned.loc[tuned.groupby(["p", "seed"])["val_mse"].idxmin()]
    assert best["selected"].all()


def test_every_variant_gets_the_same_learning_rate_grid(tuned):
    grids = tuned.groupby(["p", "seed"])["lr"].apply(lambda s: tuple(sorted(s)))
    assert grids.nunique() == 1


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


def test_expected_ntk_check_measures_the_limit_only_for_the_first_seed_at_limit_at():
    table = expected_ntk_check([0.1, 0.3], [0, 1], n_points=6, width=16, depth=2, n_fourier=4, n_samples=0,
                               limit_at=0.3)
    measured = table[table["limit_bias"].notna()]
    assert measured[["p", "seed"]].values.tolist() == [[0.3, 0]]


def test_expected_ntk_check_refuses_a_limit_at_outside_the_sweep():
    with pytest.raises(ValueError, match="'limit_at' parameter of expected_ntk_check"):
        expected_ntk_check([0.1], [0], n_points=4, width=8, depth=1, n_fourier=2, n_samples=0, limit_at=0.2)
