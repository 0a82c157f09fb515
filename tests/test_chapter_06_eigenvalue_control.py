"""Chapter 6 (eigenvalue control): lambda_max(t) over alpha and depth, growth fits, divergence."""

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbook.data import load_dataset
from ntkbook.experiments.mechanisms import growth_exponents, growth_table, lambda_max_sweep


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return load_dataset("sinusoids", n_train=24, n_test=8, seed=0, dtype=torch.float32)


@pytest.fixture(scope="module")
def sweep(data):
    return lambda_max_sweep(data, alphas=[0.0, 0.25, 0.5, 1.0, 6.0], depths=[2], seeds=[0, 1], lr=0.5,
                            epochs=30, ntk_every=5, model_kwargs=dict(width=48))


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


def test_a_large_alpha_diverges_and_is_marked_not_hidden(sweep):
    """The chapter's claim large_alpha_diverges, at small size."""
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
