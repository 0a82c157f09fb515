"""Chapter 6 (eigenvalue control): lambda_max(t) over alpha and depth, growth fits, divergence."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, one_sided_rule
from ntkbook.data import load_dataset
from ntkbook.experiments.mechanisms import (add_init_factor, diverged_fraction, growth_exponents, growth_table,
                                            lambda_max_sweep, too_large_alphas)
from ntkbook.stats import t_interval


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return load_dataset("sinusoids", n_train=24, n_test=8, seed=0, dtype=torch.float32)


@pytest.fixture(scope="module")
def sweep(data):
    """One fixed step for every run: a large alpha starts above the stability limit."""
    return lambda_max_sweep(data, alphas=[0.0, 0.25, 0.5, 1.0, 6.0], depths=[2], seeds=[0, 1], lr=0.5,
                            epochs=30, ntk_every=5, model_kwargs=dict(width=48))


@pytest.fixture(scope="module")
def own_step(data):
    """Each run's step from its own lambda_max(0), as chapter 6 trains."""
    return lambda_max_sweep(data.to(dtype=torch.float64), alphas=[0.0, 0.5, 6.0], depths=[2], seeds=[0, 1],
                            lr_fraction=0.5, epochs=20, ntk_every=5, model_kwargs=dict(width=48))


def test_sweep_has_one_run_per_alpha_depth_and_seed(sweep):
    _, runs = sweep
    assert len(runs) == 5 * 1 * 2
    assert not runs.duplicated(["alpha", "depth", "seed"]).any()


def test_sweep_curves_hold_only_finite_values(sweep):
    curves, _ = sweep
    assert np.isfinite(curves["lambda_max"]).all()


def test_sweep_is_deterministic_for_a_given_seed(data):
    _, a = lambda_max_sweep(data, alphas=[0.0], depths=[2], seeds=[0], lr=0.1, epochs=1, model_kwargs=dict(width=16))
    _, b = lambda_max_sweep(data, alphas=[0.0], depths=[2], seeds=[0], lr=0.1, epochs=1, model_kwargs=dict(width=16))
    assert a["lambda_max0"].iloc[0] == b["lambda_max0"].iloc[0]


def test_lambda_max_at_initialization_grows_with_alpha(sweep):
    _, runs = sweep
    lam = runs.groupby("alpha")["lambda_max0"].mean()
    assert np.all(np.diff(lam.to_numpy()) > 0)


def test_a_fixed_step_too_large_for_the_kernel_diverges_and_is_marked_not_hidden(sweep):
    curves, runs = sweep
    big = runs[runs["alpha"] == 6.0]
    assert big["diverged"].all()
    assert big["growth"].isna().all()
    assert (big["stability_ratio"] > 2).all()
    last = curves[curves["alpha"] == 6.0].groupby("seed")["epoch"].max()
    assert (last < 30).all()


def test_small_alphas_train_without_diverging(sweep):
    _, runs = sweep
    assert not runs[runs["alpha"] <= 1.0]["diverged"].any()


def test_growth_table_subtracts_the_baseline_of_the_same_depth_and_seed(sweep):
    _, runs = sweep
    table = growth_table(runs, alpha_max=1.0)
    base = table[table["alpha"] == 0.0]
    assert (base["excess"] == 0).all()
    row = table[(table["alpha"] == 0.5) & (table["seed"] == 1)].iloc[0]
    g0 = runs[(runs["alpha"] == 0.0) & (runs["seed"] == 1)]["growth"].iloc[0]
    assert row["excess"] == pytest.approx(row["growth"] - g0)


def test_growth_table_never_fits_a_diverged_or_unstable_run(sweep):
    _, runs = sweep
    table = growth_table(runs)
    used = table[table["used_in_fit"]]
    assert not used["diverged"].any()
    assert (used["stability_ratio"] < 2).all()


def test_growth_exponents_recover_a_planted_power_law():
    rows = [{"alpha": a, "depth": 2, "seed": 0, "growth": 0.1 + 3 * a ** 2, "diverged": False,
             "stability_ratio": 0.5} for a in (0.0, 0.1, 0.2, 0.4, 0.8)]
    fits = growth_exponents(growth_table(pd.DataFrame(rows)))
    assert fits["slope"].iloc[0] == pytest.approx(2.0, abs=1e-9)
    assert fits["r2"].iloc[0] == pytest.approx(1.0)


def test_growth_table_rejects_a_baseline_that_was_not_swept(sweep):
    _, runs = sweep
    with pytest.raises(ValueError, match="'baseline_alpha' parameter of growth_table"):
        growth_table(runs, baseline_alpha=0.3)


def test_sweep_rejects_a_negative_alpha(data):
    with pytest.raises(ValueError, match="'alphas' parameter of lambda_max_sweep"):
        lambda_max_sweep(data, alphas=[-1.0], depths=[2], seeds=[0], lr=0.1, epochs=1)


def test_sweep_rejects_model_kwargs_that_set_alpha(data):
    with pytest.raises(ValueError, match="'model_kwargs' parameter of lambda_max_sweep"):
        lambda_max_sweep(data, alphas=[0.1], depths=[2], seeds=[0], lr=0.1, epochs=1, model_kwargs={"alpha": 1.0})


def test_sweep_rejects_a_zero_learning_rate(data):
    with pytest.raises(ValueError, match="'lr' parameter of lambda_max_sweep"):
        lambda_max_sweep(data, alphas=[0.1], depths=[2], seeds=[0], lr=0.0, epochs=1)


def test_curve_plot_marks_each_diverged_run_with_a_cross(sweep):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ntkbook.plots.mechanisms import plot_lambda_max_curves

    curves, runs = sweep
    fig, ax = plt.subplots()
    plot_lambda_max_curves(curves, runs, depth=2, ax=ax)
    crosses = [line for line in ax.get_lines() if line.get_marker() == "x"]
    plt.close(fig)
    assert len(crosses) == int(runs["diverged"].sum())


# ----------------------------------------------------------------------------- each run's own step


def test_own_step_starts_every_run_at_the_same_stability_ratio(own_step):
    _, runs = own_step
    np.testing.assert_allclose(runs["stability_ratio"], 1.0, rtol=1e-6)  # 2 * rho with rho = 0.5
    assert runs.groupby("alpha")["lr"].mean().is_monotonic_decreasing  # a larger kernel gets a smaller step


def test_own_step_keeps_a_large_alpha_from_diverging_at_the_first_step(own_step):
    _, runs = own_step
    assert not runs[runs["alpha"] == 6.0]["diverged"].any()


def test_peak_ratio_is_the_largest_lambda_max_over_its_initial_value(own_step):
    curves, runs = own_step
    row = runs[(runs["alpha"] == 0.5) & (runs["seed"] == 1)].iloc[0]
    c = curves[(curves["alpha"] == 0.5) & (curves["seed"] == 1)]
    assert row["peak_ratio"] == pytest.approx(c["lambda_max"].max() / c.loc[c.epoch == 0, "lambda_max"].iloc[0])
    assert (runs["peak_ratio"] >= 1.0).all()


def test_sweep_needs_exactly_one_of_lr_and_lr_fraction(data):
    with pytest.raises(ValueError, match="'lr' parameter of lambda_max_sweep"):
        lambda_max_sweep(data, alphas=[0.1], depths=[2], seeds=[0], epochs=1)
    with pytest.raises(ValueError, match="'lr' parameter of lambda_max_sweep"):
        lambda_max_sweep(data, alphas=[0.1], depths=[2], seeds=[0], lr=0.1, lr_fraction=0.5, epochs=1)


def test_sweep_rejects_a_fraction_at_the_stability_limit(data):
    with pytest.raises(ValueError, match="'lr_fraction' parameter of lambda_max_sweep"):
        lambda_max_sweep(data, alphas=[0.1], depths=[2], seeds=[0], lr_fraction=1.0, epochs=1)


# ----------------------------------------------------------------------------- the model builder


def test_the_default_builder_is_build_ecrn(data):
    from ntkbook.experiments.mechanisms import build_ecrn

    args = dict(alphas=[0.0, 0.5], depths=[2], seeds=[0], lr=0.1, epochs=2, ntk_every=1, model_kwargs=dict(width=16))
    default, explicit = lambda_max_sweep(data, **args), lambda_max_sweep(data, builder=build_ecrn, **args)
    pd.testing.assert_frame_equal(default[0], explicit[0])
    pd.testing.assert_frame_equal(default[1].drop(columns="seconds"), explicit[1].drop(columns="seconds"))


def test_extra_metrics_add_columns_to_the_runs_table(data):
    _, runs = lambda_max_sweep(data, alphas=[0.0], depths=[2], seeds=[0, 1], lr=0.1, epochs=1,
                               model_kwargs=dict(width=16), extra_metrics=lambda res, d: {"epochs_seen": res.epochs_run})
    assert list(runs.columns)[-1] == "epochs_seen" and (runs["epochs_seen"] == runs["epochs_run"]).all()


def test_sweep_rejects_a_builder_that_is_not_callable(data):
    with pytest.raises(ValueError, match="'builder' parameter of lambda_max_sweep"):
        lambda_max_sweep(data, alphas=[0.1], depths=[2], seeds=[0], lr=0.1, epochs=1, builder="ecrn")


# ----------------------------------------------------------------------------- "too large" in numbers


def _runs(rows):
    base = {"diverged": False, "stability_ratio": 1.0}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_init_factor_divides_by_the_alpha_zero_kernel_of_the_same_depth_and_seed():
    runs = _runs([{"alpha": 0.0, "depth": 2, "seed": 0, "lambda_max0": 10.0},
                  {"alpha": 1.0, "depth": 2, "seed": 0, "lambda_max0": 35.0},
                  {"alpha": 0.0, "depth": 2, "seed": 1, "lambda_max0": 20.0},
                  {"alpha": 1.0, "depth": 2, "seed": 1, "lambda_max0": 30.0}])
    out = add_init_factor(runs, fixed_lr=0.5, n=10)
    assert out["init_factor"].tolist() == [1.0, 3.5, 1.0, 1.5]
    assert out["fixed_step_ratio"].tolist() == [0.5, 1.75, 1.0, 1.5]


def test_init_factor_needs_the_alpha_zero_baseline():
    with pytest.raises(ValueError, match="alpha = 0 runs"):
        add_init_factor(_runs([{"alpha": 1.0, "depth": 2, "seed": 0, "lambda_max0": 1.0}]))


def test_too_large_alphas_finds_the_smallest_alpha_past_the_factor_in_each_sense():
    rows = []
    for seed in (0, 1, 2):
        for alpha, init, peak in ((0.0, 1.0, 1.0), (1.0, 1.5, 1.1), (2.0, 3.0, 1.2), (4.0, 9.0, 2.5)):
            rows.append({"alpha": alpha, "depth": 4, "seed": seed, "init_factor": init, "peak_ratio": peak})
    table = too_large_alphas(_runs(rows), 2.0)
    assert table.iloc[0].to_dict() == {"depth": 4, "too_large_at_init": 2.0, "too_large_in_training": 4.0}


def test_too_large_alphas_is_nan_when_no_alpha_of_the_grid_qualifies():
    rows = [{"alpha": a, "depth": 2, "seed": 0, "init_factor": 1.0, "peak_ratio": 1.0} for a in (0.0, 1.0)]
    table = too_large_alphas(_runs(rows), 2.0)
    assert math.isnan(table["too_large_at_init"].iloc[0]) and math.isnan(table["too_large_in_training"].iloc[0])


def test_a_majority_of_diverged_seeds_makes_an_alpha_too_large_in_training():
    rows = [{"alpha": 3.0, "depth": 2, "seed": s, "init_factor": 1.0, "peak_ratio": 1.0, "diverged": s < 2}
            for s in range(3)]
    assert too_large_alphas(_runs(rows), 2.0)["too_large_in_training"].iloc[0] == 3.0


# ----------------------------------------------------------------------------- the chapter's two rules


def _exponent_verdict(runs):
    """Chapter 6's rule for alpha_bounds_lambda_max: one-sided, the exponent k is at least 2."""
    fits = growth_exponents(growth_table(runs, alpha_max=1.0))
    slope, low, high = t_interval(fits["slope"])
    return one_sided_rule(slope, low, high, at_least=2.0, what="k")


def _planted(exponents, g0=0.01, c=3.0):
    """Runs whose excess growth is c alpha^k, one exponent k per seed."""
    rows = []
    for seed, k in enumerate(exponents):
        for a in (0.0, 0.125, 0.25, 0.5, 1.0):
            rows.append({"alpha": a, "depth": 2, "seed": seed, "growth": g0 + (c * a ** k if a > 0 else 0.0)})
    return _runs(rows)


def test_exponent_rule_is_supported_when_the_growth_is_of_higher_order_than_alpha_squared():
    assert _exponent_verdict(_planted([3.0, 3.1, 2.9])).verdict == SUPPORTED


def test_exponent_rule_is_not_supported_when_the_growth_is_of_lower_order_than_alpha_squared():
    assert _exponent_verdict(_planted([1.0, 1.1, 0.9])).verdict == NOT_SUPPORTED


def test_exponent_rule_is_inconclusive_when_the_exponents_straddle_two():
    assert _exponent_verdict(_planted([1.5, 2.5, 2.0])).verdict == INCONCLUSIVE


def test_exponent_rule_is_inconclusive_when_a_fit_has_too_few_points():
    runs = _planted([3.0, 3.0, 3.0])
    runs.loc[(runs.seed == 0) & (runs.alpha > 0.125), "diverged"] = True  # one point left for seed 0
    assert _exponent_verdict(runs).verdict == INCONCLUSIVE


def _divergence_verdict(flags):
    """Chapter 6's rule for large_alpha_diverges: the fraction diverged at the largest alpha is at least 1/2."""
    runs = _runs([{"alpha": 4.0, "depth": 2 + i % 2, "seed": i, "diverged": d} for i, d in enumerate(flags)])
    iv, _ = diverged_fraction(runs, 4.0)
    return one_sided_rule(iv.mean, iv.low, iv.high, at_least=0.5, what="fraction")


def test_divergence_rule_is_supported_when_every_run_diverged():
    assert _divergence_verdict([True] * 6).verdict == SUPPORTED


def test_divergence_rule_is_not_supported_when_no_run_diverged():
    assert _divergence_verdict([False] * 6).verdict == NOT_SUPPORTED


def test_divergence_rule_is_inconclusive_when_about_half_diverged():
    assert _divergence_verdict([True, False, True, False, True, False]).verdict == INCONCLUSIVE


def test_diverged_fraction_keeps_its_interval_inside_zero_one():
    runs = _runs([{"alpha": 4.0, "depth": 2, "seed": i, "diverged": i == 0} for i in range(4)])
    iv, flags = diverged_fraction(runs, 4.0)
    assert iv.mean == 0.25 and iv.low == 0.0 and iv.high <= 1.0
    assert flags.tolist() == [1.0, 0.0, 0.0, 0.0]
