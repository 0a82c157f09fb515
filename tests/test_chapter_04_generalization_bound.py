"""Chapter 4 (generalization bound): H^inf of Arora et al. (2019), their bound, the sweep that
compares it with trained two-layer networks, and the verdict rule driven to each outcome."""

import math

import pandas as pd
import pytest
import torch

from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, VACUOUS, bound_rule
from ntkbook.ntk import empirical_ntk
from ntkbook.experiments.theory import (
    TwoLayerReLU,
    arora_bound,
    arora_gram,
    bound_summary,
    bound_vs_error_sweep,
    ramp_loss,
    relative_frobenius,
    sphere_task,
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


def test_the_ntk_of_the_two_layer_net_does_not_depend_on_the_init_scale():
    x = _sphere(6, 3)
    small = empirical_ntk(TwoLayerReLU(3, 256, kappa=1e-7, seed=0).double(), x)
    large = empirical_ntk(TwoLayerReLU(3, 256, kappa=1.0, seed=0).double(), x)
    torch.testing.assert_close(small, large)


def test_arora_bound_main_term_is_larger_for_noisy_labels():
    clean = sphere_task(100, 1, dim=5, noise=0.0, seed=0)
    noisy = sphere_task(100, 1, dim=5, noise=0.4, seed=0)
    assert arora_bound(noisy.x_train, noisy.y_train)["main"] > arora_bound(clean.x_train, clean.y_train)["main"]


def test_arora_bound_falls_with_n_on_the_learnable_labels_and_not_on_the_sign_pattern():
    def main(target, n):
        d = sphere_task(n, 1, dim=5, target=target, seed=0)
        return arora_bound(d.x_train, d.y_train)["main"]

    assert main("poly", 400) < 0.7 * main("poly", 100)
    assert main("xor", 400) > 0.9 * main("xor", 100) and main("xor", 100) > 1.0


def test_arora_bound_extra_term_uses_the_stated_constant():
    data = sphere_task(30, 1, dim=4, seed=0)
    b1 = arora_bound(data.x_train, data.y_train, constant=1.0)
    b2 = arora_bound(data.x_train, data.y_train, constant=2.0)
    assert b2["extra"] == pytest.approx(2 * b1["extra"])
    assert b1["extra"] == pytest.approx(math.sqrt(math.log(30 / (b1["lambda_0"] * 0.05)) / 30))


def test_arora_bound_gives_the_same_with_a_precomputed_gram():
    data = sphere_task(20, 1, dim=4, seed=1)
    a = arora_bound(data.x_train, data.y_train)
    b = arora_bound(data.x_train, data.y_train, gram=arora_gram(data.x_train))
    assert a == b


def test_arora_bound_rejects_labels_outside_minus_one_one():
    with pytest.raises(ValueError, match="'y' parameter of arora_bound"):
        arora_bound(_sphere(3, 2), torch.tensor([0.0, 2.0, -1.0]))


def test_ramp_loss_is_bounded_and_at_least_the_sign_error():
    f = torch.tensor([0.2, -3.0, 1.0, -0.1])
    y = torch.tensor([1.0, 1.0, 1.0, 1.0])
    loss = ramp_loss(f, y)
    assert float(loss.max()) <= 1.0 and float(loss[2]) == 0.0
    assert float(loss.mean()) >= float((torch.sign(f) != y).double().mean())


def test_ramp_loss_charges_a_non_finite_prediction_the_largest_loss():
    loss = ramp_loss(torch.tensor([math.nan, math.inf, 0.5]), torch.tensor([1.0, -1.0, 0.5]))
    assert loss.tolist() == [1.0, 1.0, 0.0]


def test_sphere_task_flips_about_the_requested_fraction_of_labels():
    clean = sphere_task(4000, 1, dim=3, noise=0.0, seed=3)
    noisy = sphere_task(4000, 1, dim=3, noise=0.2, seed=3)
    flipped = float((clean.y_train != noisy.y_train).double().mean())
    assert 0.17 < flipped < 0.23


def test_sphere_task_labels_lie_in_minus_one_one_for_every_target():
    for target in ("poly", "xor"):
        data = sphere_task(500, 500, dim=5, target=target, noise=0.3, seed=0)
        assert float(data.y_train.abs().max()) <= 1.0 and float(data.y_test.abs().max()) <= 1.0


def test_sphere_task_rejects_an_unknown_target():
    with pytest.raises(ValueError, match="'target' parameter of sphere_task"):
        sphere_task(10, 1, target="halfspace")


def test_sweep_takes_the_init_scale_from_the_theorem_condition():
    df = bound_vs_error_sweep([30], [0.0], [0], target="poly", n_test=50, dim=4, width=64, steps=5, delta=0.05)
    assert df["kappa"].iloc[0] == pytest.approx(df["lambda_0"].iloc[0] * 0.05 / 30)


def test_generalization_bound_holds_and_is_informative_on_the_learnable_labels():
    # the key claim of chapter 4 at small size: the bound is below 1 and above the test loss
    df = bound_vs_error_sweep([100, 200], [0.0], [0, 1], target="poly", n_test=300, dim=5, width=256, steps=150,
                              lr_factor=1.5, train_dtype=torch.float32)
    assert not df["diverged"].any()
    row = bound_summary(df).set_index("n").loc[200]
    assert row.informative and row.high <= row.bound
    assert row.kernel_test_loss < row.bound


def _results(bound, losses, target="poly", n=100):
    """A constructed sweep result: one row per seed with the given full bound and test losses."""
    k = len(losses)
    return pd.DataFrame({"target": [target] * k, "noise": [0.0] * k, "n": [n] * k, "seed": list(range(k)),
                         "full_bound": [bound] * k, "test_loss": losses, "kernel_test_loss": losses,
                         "zero_loss": [0.4] * k})


def _verdict(results):
    row = bound_summary(results).iloc[0]
    return bound_rule(row.bound, row.test_loss, row.low, row.high, trivial=1.0).verdict


def test_bound_rule_reads_supported_when_the_test_loss_lies_below_an_informative_bound():
    assert _verdict(_results(0.3, [0.05, 0.06, 0.055])) == SUPPORTED


def test_bound_rule_reads_not_supported_when_the_test_loss_lies_above_the_bound():
    assert _verdict(_results(0.3, [0.50, 0.52, 0.51])) == NOT_SUPPORTED


def test_bound_rule_reads_inconclusive_when_the_interval_straddles_the_bound():
    assert _verdict(_results(0.3, [0.1, 0.5, 0.3])) == INCONCLUSIVE


def test_bound_rule_reads_vacuous_for_a_bound_of_one_or_more_whatever_the_loss():
    assert _verdict(_results(1.0, [0.05, 0.06, 0.055])) == VACUOUS
    assert _verdict(_results(4.0, [0.95, 0.99, 0.97])) == VACUOUS


def test_bound_summary_keeps_the_loss_interval_inside_zero_one():
    row = bound_summary(_results(0.5, [0.0, 0.01, 0.2])).iloc[0]
    assert 0.0 <= row.low <= row.high <= 1.0


def test_bound_summary_has_one_row_per_labelling_and_size():
    df = pd.concat([_results(0.3, [0.1, 0.1]), _results(2.0, [0.4, 0.5], target="xor"),
                    _results(0.2, [0.05, 0.06], n=200)])
    out = bound_summary(df)
    assert list(zip(out.target, out.n)) == [("poly", 100), ("poly", 200), ("xor", 100)]
    assert out.informative.tolist() == [True, True, False]


def test_bound_plot_refuses_to_draw_non_finite_values():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ntkbook.plots.theory import plot_bound_vs_error

    df = pd.DataFrame({"target": ["xor", "xor"], "n": [10, 20], "noise": [0.0, 0.0], "test_loss": [0.5, float("nan")],
                       "full_bound": [2.0, 2.0]})
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="non-finite"):
        plot_bound_vs_error(df, ax=ax)
    plt.close(fig)
