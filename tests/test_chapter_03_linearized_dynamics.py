"""Chapter 3 (linearized dynamics and spectral bias): a wide network follows its linearization,
and the residual decays along each NTK eigenvector at the rate eta lambda_i / n."""

import math

import numpy as np
import pytest
import torch

from ntkbook.models import MLP
from ntkbook.experiments.theory import (
    circle_inputs,
    linearization_gap_sweep,
    linearized_trajectory,
    projection_decay_rates,
)
from ntkbook.stats import loglog_slope


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
    # the key claim of chapter 3 at small size: slope of log measured vs log predicted rate in [0.8, 1.2]
    x, y, xt = _task(n=24)
    _, kept = linearization_gap_sweep(_make, x, y, xt, widths=[2048], seeds=[0], lr_factor=0.5, steps=150)
    run = kept[(2048, 0)]
    rates = projection_decay_rates(run["theta"], run["net"]["f_train"] - run["y_train"], lr=run["lr"], modes=10)
    assert len(rates) >= 3
    slope, _ = loglog_slope(rates["predicted_rate"], rates["measured_rate"].clip(lower=1e-12))
    assert 0.8 <= slope <= 1.2
