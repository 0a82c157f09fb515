"""Chapter 2 (infinite width): the empirical NTK converges to the analytic one like width^-1/2,
and the kernel moves less during training as the width grows."""

import pandas as pd
import pytest
import torch

from ntkbook.models import MLP
from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, interval_rule, one_sided_rule, weakest_verdict
from ntkbook.experiments.theory import (
    CONVERGENCE_RATE_WINDOW,
    _gd,
    compare_exponent,
    kernel_change_sweep,
    kernel_error_sweep,
)
from ntkbook.stats import slope_interval


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sphere(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def _relu(n, s):
    return MLP(3, width=n, depth=2, activation="relu", seed=s).double()


def test_empirical_ntk_error_falls_like_inverse_square_root_of_width():
    # the key claim of chapter 2 at small size: the fitted slope lies in the chapter's window
    x = _sphere(12, 3)
    df = kernel_error_sweep(_relu, x, widths=[64, 256, 1024], seeds=[0, 1, 2])
    out = slope_interval(df, y="rel_error")
    assert CONVERGENCE_RATE_WINDOW[0] <= out["slope"] <= CONVERGENCE_RATE_WINDOW[1]


def test_kernel_error_is_zero_against_its_own_empirical_kernel():
    from ntkbook.ntk import empirical_ntk

    x = _sphere(5, 3)
    df = kernel_error_sweep(_relu, x, [16], [0], limit=lambda m, xx: empirical_ntk(m, xx))
    assert df["rel_error"].iloc[0] == pytest.approx(0.0, abs=1e-14)


def test_kernel_change_during_training_falls_with_width():
    x = _sphere(10, 3)
    y = torch.sin(3 * x[:, :1])
    df = kernel_change_sweep(_relu, x, y, widths=[32, 512], seeds=[0, 1], lr=1.0, steps=10)
    med = df.groupby("width")["change"].median()
    assert med[512] < med[32]


def test_gradient_descent_helper_matches_the_package_training_loop():
    from ntkbook.data import make_dataset
    from ntkbook.train import train

    x = _sphere(8, 3)
    y = torch.cos(2 * x[:, :1])
    a, b = _relu(16, 0), _relu(16, 0)
    loss = _gd(a, x, y, lr=0.5, steps=5)
    data = make_dataset(x, y, x[:0], y[:0], task="regression", dtype=torch.float64)
    result = train(b, data, optimizer="gd", lr=0.5, epochs=5, loss="mse", progress=False)
    assert loss == pytest.approx(result.final("train")["loss"], rel=1e-10)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


def test_kernel_error_sweep_rejects_empty_widths():
    with pytest.raises(ValueError, match="'widths' parameter of kernel_error_sweep"):
        kernel_error_sweep(_relu, _sphere(4, 3), [], [0])


def test_loglog_plot_marks_non_finite_runs_instead_of_dropping_them():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ntkbook.plots.theory import plot_loglog_sweep

    df = pd.DataFrame({"width": [8, 16, 32, 32], "seed": [0, 0, 0, 1], "change": [0.3, 0.2, 0.1, float("nan")]})
    fig, ax = plt.subplots()
    plot_loglog_sweep(df, y="change", ax=ax, label="mlp")
    assert "1 non-finite" in ax.get_lines()[0].get_label()
    plt.close(fig)


# ----------------------------------------------------------------------------- the chapter's rules, driven to each outcome
# Constructed sweeps y = c * width^s * (1 + noise), one row per (width, seed), go through the
# chapter's fit (slope_interval) and its rule.

def _sweep(slope, spread, seeds=6, column="rel_error", nan_seed=None):
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for s in range(seeds):
        tilt = rng.normal(0.0, spread)  # each seed gets its own slope: the spread across seeds
        for w in [64, 128, 256, 512, 1024]:
            value = float("nan") if s == nan_seed and w == 1024 else 0.3 * w ** (slope + tilt)
            rows.append({"width": w, "seed": s, column: value})
    return pd.DataFrame(rows)


def _rate_verdict(df):
    fit = slope_interval(df, y="rel_error")
    return interval_rule(fit["slope"], fit["low"], fit["high"], expected=CONVERGENCE_RATE_WINDOW).verdict


def _lazy_verdict(df):
    fits = [slope_interval(df, y="change"), slope_interval(df, y="change", nonfinite="drop")]
    return weakest_verdict([one_sided_rule(f["slope"], f["low"], f["high"], at_most=0.0) for f in fits]).verdict


def test_rate_rule_supports_the_central_limit_exponent():
    assert _rate_verdict(_sweep(-0.5, 0.02)) == SUPPORTED


def test_rate_rule_rejects_the_exponent_arora_et_al_guarantee():
    assert _rate_verdict(_sweep(-0.25, 0.01)) == NOT_SUPPORTED


def test_rate_rule_rejects_the_exponent_of_a_pure_bias():
    assert _rate_verdict(_sweep(-1.0, 0.02)) == NOT_SUPPORTED


def test_rate_rule_is_inconclusive_when_the_seeds_disagree():
    assert _rate_verdict(_sweep(-0.6, 0.5)) == INCONCLUSIVE


def test_lazy_rule_supports_a_change_that_falls_with_width():
    assert _lazy_verdict(_sweep(-1.0, 0.05, column="change")) == SUPPORTED


def test_lazy_rule_rejects_a_change_that_grows_with_width():
    assert _lazy_verdict(_sweep(0.3, 0.05, column="change")) == NOT_SUPPORTED


def test_lazy_rule_is_inconclusive_for_a_flat_change():
    assert _lazy_verdict(_sweep(0.0, 0.2, column="change")) == INCONCLUSIVE


def test_a_diverged_run_cannot_rescue_a_change_that_grows_with_width():
    # voiding alone would read inconclusive; the chapter takes the weaker of void and drop
    df = _sweep(0.3, 0.05, column="change", nan_seed=2)
    void = slope_interval(df, y="change")
    assert one_sided_rule(void["slope"], void["low"], void["high"], at_most=0.0).verdict == INCONCLUSIVE
    assert _lazy_verdict(df) == NOT_SUPPORTED


def test_a_diverged_run_makes_a_falling_change_inconclusive_not_supported():
    assert _lazy_verdict(_sweep(-1.0, 0.05, column="change", nan_seed=2)) == INCONCLUSIVE


def test_compare_exponent_places_a_prediction_relative_to_an_interval():
    assert compare_exponent(-0.6, -0.4, -0.5) == "inside the interval"
    assert compare_exponent(-0.6, -0.4, -1.0) == "below the interval"
    assert compare_exponent(-0.6, -0.4, -0.25) == "above the interval"
    assert compare_exponent(float("nan"), -0.4, -0.5) == "no interval"
