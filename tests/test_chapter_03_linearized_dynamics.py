"""Chapter 3 (linearized dynamics and spectral bias): a wide network follows its linearization,
and the residual decays along each NTK eigenvector at the rate eta lambda_i / n."""

import math

import numpy as np
import pytest
import torch

from ntkbook.models import MLP
import pandas as pd

from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, interval_rule, one_sided_rule, weakest_verdict
from ntkbook.experiments.theory import (
    RATE_EXPONENT_WINDOW,
    RATE_RATIO_WINDOW,
    circle_inputs,
    linearization_gap_sweep,
    linearized_trajectory,
    projection_decay_rates,
    rate_fit_per_seed,
)
from ntkbook.stats import slope_interval, t_interval


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _task(n=16, m=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 1, generator=g, dtype=torch.float64)
    ut = torch.linspace(0, 1, m, dtype=torch.float64)[:, None]
    y = torch.sin(2 * math.pi * u) + 0.5 * torch.sin(6 * math.pi * u)
    return circle_inputs(u), y, circle_inputs(ut)


def _make(width, seed):
    return MLP(2, width=width, depth=1, activation="relu", seed=seed).double()


def _spd(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    return a @ a.T / n + 0.1 * torch.eye(n, dtype=torch.float64)


def test_circle_inputs_lie_on_the_unit_circle():
    x = circle_inputs(torch.rand(7, 1, dtype=torch.float64))
    torch.testing.assert_close(x.norm(dim=1), torch.ones(7, dtype=torch.float64))


def test_linearized_trajectory_matches_the_closed_form_of_ntkbook_regression():
    from ntkbook.regression import linearized_predictions

    K, Kx = _spd(6), torch.randn(4, 6, dtype=torch.float64)
    y, f0, g0 = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    ours = linearized_trajectory(K, Kx, f0, g0, y, lr=0.7, steps=9)
    tr, te = linearized_predictions(K, Kx, y, f0, g0, lr=0.7, times=np.arange(10), discrete=True)
    torch.testing.assert_close(ours["f_train"], tr)
    torch.testing.assert_close(ours["f_test"], te)


def test_projection_decay_rates_recovers_the_rates_of_exact_linear_dynamics():
    K, n, lr = _spd(8), 8, 2.0
    traj = linearized_trajectory(K, K, torch.zeros(n), torch.zeros(n), torch.ones(n), lr=lr, steps=200)
    rates = projection_decay_rates(K, traj["f_train"] - 1.0, lr=lr, modes=8)
    assert len(rates) >= 2
    np.testing.assert_allclose(rates["measured_rate"], rates["predicted_rate"], rtol=1e-6)


def test_projection_decay_rates_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="'theta' and 'residuals' parameters of projection_decay_rates"):
        projection_decay_rates(_spd(4), torch.zeros(10, 5), lr=1.0)


def test_wide_network_gap_to_its_linearization_falls_with_width():
    x, y, xt = _task()
    gaps, _ = linearization_gap_sweep(_make, x, y, xt, widths=[64, 2048], seeds=[0, 1], lr_factor=0.5, steps=40)
    med = gaps.groupby("width")["gap"].median()
    assert med[2048] < med[64]


def test_spectral_bias_rates_scale_like_the_ntk_eigenvalues():
    # the key claim of chapter 3 at small size: exponent and ratio of measured to predicted rates near 1
    x, y, xt = _task(n=24)
    _, kept = linearization_gap_sweep(_make, x, y, xt, widths=[2048], seeds=[0], lr_factor=0.5, steps=150)
    run = kept[(2048, 0)]
    rates = projection_decay_rates(run["theta"], run["net"]["f_train"] - run["y_train"], lr=run["lr"], modes=10)
    assert len(rates) >= 3
    fit = rate_fit_per_seed(rates.assign(seed=0), [0]).iloc[0]
    assert RATE_EXPONENT_WINDOW[0] <= fit.exponent <= RATE_EXPONENT_WINDOW[1]
    assert 0.7 <= fit.ratio <= 1.2


def test_projection_decay_rates_keeps_a_selected_mode_that_grew_with_a_negative_rate():
    lam = torch.tensor([4.0, 2.0, 1.0, 0.5], dtype=torch.float64)  # Theta = diag(lam): eigenvectors e_i
    n, lr, steps = 4, 0.4, 100
    t = torch.arange(steps + 1, dtype=torch.float64)[:, None]  # (T+1, 1)
    residuals = (1 - lr * lam / n) ** t  # (T+1, n): exact linear decay of every mode ...
    residuals[:, 0] = 1.001 ** t[:, 0]  # ... except the top one, which grows
    rates = projection_decay_rates(torch.diag(lam), residuals, lr=lr, modes=4)
    top = rates[rates["mode"] == 1]
    assert len(top) == 1 and float(top["measured_rate"].iloc[0]) < 0
    np.testing.assert_allclose(rates["measured_rate"].iloc[1:], rates["predicted_rate"].iloc[1:], rtol=1e-9)


# ----------------------------------------------------------------------------- the chapter's rules, driven to each outcome

def _gap_sweep(slope, spread, nan_seed=None, seeds=6):
    rng = np.random.default_rng(0)
    rows = []
    for s in range(seeds):
        tilt = rng.normal(0.0, spread)
        for w in [128, 256, 512, 1024]:
            gap = float("nan") if s == nan_seed and w == 1024 else 2.0 * w ** (slope + tilt)
            rows.append({"width": w, "seed": s, "gap": gap})
    return pd.DataFrame(rows)


def _gap_verdict(df):
    fits = [slope_interval(df, y="gap"), slope_interval(df, y="gap", nonfinite="drop")]
    return weakest_verdict([one_sided_rule(f["slope"], f["low"], f["high"], at_most=0.0) for f in fits]).verdict


def test_gap_rule_supports_a_gap_that_shrinks_with_width():
    assert _gap_verdict(_gap_sweep(-0.5, 0.05)) == SUPPORTED


def test_gap_rule_rejects_a_gap_that_grows_with_width():
    assert _gap_verdict(_gap_sweep(0.4, 0.05)) == NOT_SUPPORTED


def test_gap_rule_is_inconclusive_for_a_flat_gap():
    assert _gap_verdict(_gap_sweep(0.0, 0.3)) == INCONCLUSIVE


def test_a_diverged_run_cannot_rescue_a_growing_gap():
    assert _gap_verdict(_gap_sweep(0.4, 0.05, nan_seed=1)) == NOT_SUPPORTED


def _rates(seeds):
    """Constructed rows of projection_decay_rates: seeds maps seed -> (exponent, ratio, modes)."""
    rows = []
    for s, (exponent, ratio, modes) in seeds.items():
        for i, pred in enumerate(np.geomspace(0.01, 0.5, modes)):
            measured = ratio * pred ** exponent / np.exp(np.mean(np.log(np.geomspace(0.01, 0.5, modes)) * (exponent - 1)))
            rows.append({"seed": s, "mode": i + 1, "predicted_rate": pred, "measured_rate": measured})
    return pd.DataFrame(rows)


def _rate_verdict(rates, seeds):
    per_seed = rate_fit_per_seed(rates, seeds)
    checks = []
    for column, window in [("exponent", RATE_EXPONENT_WINDOW), ("ratio", RATE_RATIO_WINDOW)]:
        for policy in ("void", "drop"):
            iv = t_interval(per_seed[column], nonfinite=policy)
            checks.append(interval_rule(iv.mean, iv.low, iv.high, expected=window))
    return weakest_verdict(checks).verdict


def _jitter(base, spread, n=5):
    return {s: (base[0] + spread * (s - 2) / 2, base[1] + spread * (2 - s) / 2, base[2]) for s in range(n)}


def test_rate_fit_per_seed_recovers_the_constructed_exponent():
    per_seed = rate_fit_per_seed(_rates({0: (1.0, 1.0, 5), 1: (0.5, 1.0, 5)}), [0, 1])
    np.testing.assert_allclose(per_seed["exponent"], [1.0, 0.5], rtol=1e-9)


def test_rate_rule_supports_rates_equal_to_the_prediction():
    assert _rate_verdict(_rates(_jitter((1.0, 1.0, 6), 0.02)), range(5)) == SUPPORTED


def test_rate_rule_rejects_rates_that_scale_with_the_wrong_exponent():
    assert _rate_verdict(_rates(_jitter((0.5, 1.0, 6), 0.02)), range(5)) == NOT_SUPPORTED


def test_rate_rule_rejects_rates_off_by_a_constant_factor():
    assert _rate_verdict(_rates(_jitter((1.0, 0.5, 6), 0.02)), range(5)) == NOT_SUPPORTED


def test_rate_rule_is_inconclusive_when_seeds_straddle_the_window():
    assert _rate_verdict(_rates(_jitter((1.2, 1.0, 6), 0.2)), range(5)) == INCONCLUSIVE


def test_a_seed_with_too_few_modes_is_void_never_silently_left_out():
    seeds = _jitter((1.0, 1.0, 6), 0.02)
    seeds[4] = (1.0, 1.0, 1)  # one selected mode: no exponent
    per_seed = rate_fit_per_seed(_rates(seeds), range(5))
    assert np.isnan(per_seed.set_index("seed").loc[4, "exponent"])
    assert _rate_verdict(_rates(seeds), range(5)) == INCONCLUSIVE


def test_a_seed_that_was_run_but_selected_no_mode_still_counts():
    rates = _rates({s: v for s, v in _jitter((1.0, 1.0, 6), 0.02).items() if s != 3})
    per_seed = rate_fit_per_seed(rates, range(5))
    assert len(per_seed) == 5 and per_seed.set_index("seed").loc[3, "n_modes"] == 0
    assert _rate_verdict(rates, range(5)) == INCONCLUSIVE


def test_a_mode_that_did_not_decay_voids_its_seed_and_cannot_rescue_a_failing_law():
    seeds = _jitter((0.5, 1.0, 6), 0.02)  # every usable seed contradicts the law
    rates = _rates(seeds)
    rates.loc[(rates.seed == 0) & (rates["mode"] == 1), "measured_rate"] = -0.01  # a mode that grew
    assert "did not decay" in rate_fit_per_seed(rates, range(5)).set_index("seed").loc[0, "reason"]
    assert _rate_verdict(rates, range(5)) == NOT_SUPPORTED
