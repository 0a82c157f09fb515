"""Chapter 4 (generalization bound): H^inf of Arora et al. (2019), their bound, and the check
that the bound lies above the measured test loss of trained two-layer networks."""

import math

import pytest
import torch

from ntkbook.ntk import empirical_ntk
from ntkbook.experiments.theory import (
    TwoLayerReLU,
    arora_bound,
    arora_gram,
    bound_vs_error_sweep,
    ramp_loss,
    relative_frobenius,
    sphere_binary_task,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sphere(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def test_arora_gram_has_one_half_on_the_diagonal_of_unit_inputs():
    H = arora_gram(_sphere(6, 4))
    torch.testing.assert_close(torch.diagonal(H), torch.full((6,), 0.5, dtype=torch.float64))


def test_arora_gram_matches_a_monte_carlo_average_over_weights():
    x = _sphere(4, 3)
    w = torch.randn(200_000, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    act = (x @ w.T >= 0).double()  # (N, M)
    mc = (x @ x.T) * (act @ act.T) / w.shape[0]
    torch.testing.assert_close(arora_gram(x), mc, atol=5e-3, rtol=0)


def test_the_empirical_ntk_of_a_wide_two_layer_net_approaches_arora_gram():
    x = _sphere(8, 3)
    narrow = relative_frobenius(empirical_ntk(TwoLayerReLU(3, 64, seed=0).double(), x), arora_gram(x))
    wide = relative_frobenius(empirical_ntk(TwoLayerReLU(3, 8192, seed=0).double(), x), arora_gram(x))
    assert wide < 0.05 and wide < narrow


def test_arora_bound_main_term_is_larger_for_noisy_labels():
    clean = sphere_binary_task(100, 1, dim=5, noise=0.0, seed=0)
    noisy = sphere_binary_task(100, 1, dim=5, noise=0.4, seed=0)
    assert arora_bound(noisy.x_train, noisy.y_train)["main"] > arora_bound(clean.x_train, clean.y_train)["main"]


def test_arora_bound_extra_term_uses_the_stated_constant():
    data = sphere_binary_task(30, 1, dim=4, seed=0)
    b1 = arora_bound(data.x_train, data.y_train, constant=1.0)
    b2 = arora_bound(data.x_train, data.y_train, constant=2.0)
    assert b2["extra"] == pytest.approx(2 * b1["extra"])
    assert b1["extra"] == pytest.approx(math.sqrt(math.log(30 / (b1["lambda_0"] * 0.05)) / 30))


def test_arora_bound_rejects_labels_outside_minus_one_one():
    with pytest.raises(ValueError, match="'y' parameter of arora_bound"):
        arora_bound(_sphere(3, 2), torch.tensor([0.0, 2.0, -1.0]))


def test_ramp_loss_is_bounded_and_at_least_the_sign_error():
    f = torch.tensor([0.2, -3.0, 1.0, -0.1])
    y = torch.tensor([1.0, 1.0, 1.0, 1.0])
    loss = ramp_loss(f, y)
    assert float(loss.max()) <= 1.0 and float(loss[2]) == 0.0
    assert float(loss.mean()) >= float((torch.sign(f) != y).double().mean())


def test_sphere_binary_task_flips_about_the_requested_fraction_of_labels():
    clean = sphere_binary_task(4000, 1, dim=3, noise=0.0, seed=3)
    noisy = sphere_binary_task(4000, 1, dim=3, noise=0.2, seed=3)
    flipped = float((clean.y_train != noisy.y_train).double().mean())
    assert 0.17 < flipped < 0.23


def test_generalization_bound_lies_above_the_measured_test_loss():
    # the key claim of chapter 4 at small size: bound / measured >= 1 in every run
    df = bound_vs_error_sweep([40, 80], [0.0, 0.25], [0], n_test=400, dim=5, width=512, steps=100, lr_factor=1.5)
    assert not df["diverged"].any()
    assert df["ratio"].min() >= 1.0


def test_bound_plot_refuses_to_draw_non_finite_values():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from ntkbook.plots.theory import plot_bound_vs_error

    df = pd.DataFrame({"n": [10, 20], "noise": [0.0, 0.0], "test_loss": [0.5, float("nan")], "full_bound": [2.0, 2.0]})
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="non-finite"):
        plot_bound_vs_error(df, ax=ax)
    plt.close(fig)
