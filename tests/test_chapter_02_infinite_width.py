"""Chapter 2 (infinite width): the empirical NTK converges to the analytic one like width^-1/2,
and the kernel moves less during training as the width grows."""

import pandas as pd
import pytest
import torch

from ntkbook.models import MLP
from ntkbook.experiments.theory import _gd, kernel_change_sweep, kernel_error_sweep
from ntkbook.stats import slope_interval


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sphere(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def _relu(n, s):
    return MLP(3, width=n, depth=2, activation="relu", seed=s).double()


def test_empirical_ntk_error_falls_like_inverse_square_root_of_width():
    # the key claim of chapter 2 at small size: the fitted slope lies in [-0.7, -0.3]
    x = _sphere(12, 3)
    df = kernel_error_sweep(_relu, x, widths=[64, 256, 1024], seeds=[0, 1, 2])
    out = slope_interval(df, y="rel_error")
    assert -0.7 <= out["slope"] <= -0.3


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
