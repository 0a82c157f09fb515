"""Chapter beyond_attention: eigenvalue control in a Transformer. The experiments on tiny
configurations, and each claim's rule driven to each of its outcomes on constructed inputs."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, one_sided_rule, sign_rule
from ntkbook.experiments.ablations import final_kernel_change
from ntkbook.experiments.beyond_attention import (attention_lambda_max_sweep, attention_width_kernel_change,
                                                  build_transformer, depth_lambda_max0, depth_slope_difference,
                                                  kernel_share_table, kernel_shares, ntk_times, parameter_group,
                                                  reappearance_task)
from ntkbook.experiments.mechanisms import growth_exponents, growth_table
from ntkbook.stats import slope_interval, t_interval

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return reappearance_task(12, 8, seq_len=4, vocab=3, seed=0)


# ----------------------------------------------------------------------------- the task
def test_the_target_is_plus_one_exactly_when_the_first_token_reappears():
    d = reappearance_task(50, 1, seq_len=5, vocab=4, seed=3)
    tok = d.x_train.reshape(50, 5, 4).argmax(-1)
    again = (tok[:, 1:] == tok[:, :1]).any(1)
    assert torch.equal(d.y_train[:, 0] > 0, again)


def test_the_task_is_a_function_of_the_seed():
    a, b = reappearance_task(8, 4, seed=1), reappearance_task(8, 4, seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)


def test_the_target_is_not_a_sum_over_tokens():
    """Mixed difference in (x_1, x_2): f(a,a) - f(a,b) - f(b,a) + f(b,b) vanishes for any sum of per-token terms."""
    def target(t1, t2, rest=(2, 2)):  # the first token reappears?
        return 1.0 if t1 in (t2, *rest) else -1.0
    assert target(0, 0) - target(0, 1) - target(1, 0) + target(1, 1) != 0


# ----------------------------------------------------------------------------- experiments
def test_the_sweep_gives_the_columns_the_growth_fit_reads(data):
    curves, runs = attention_lambda_max_sweep(data, alphas=[0.0, 0.5, 1.0], depths=[1], seeds=[0], epochs=4,
                                              ntk_every=2, model_kwargs=dict(width=8))
    assert len(runs) == 3 and set(curves["epoch"]) == {0, 2, 4}
    fits = growth_exponents(growth_table(runs, alpha_max=1.0))
    assert list(fits["depth"]) == [1]


def test_every_run_of_the_sweep_starts_at_the_same_stability_ratio(data):
    _, runs = attention_lambda_max_sweep(data, alphas=[0.0, 1.0], depths=[1], seeds=[0], lr_fraction=0.25,
                                         epochs=1, ntk_every=1, model_kwargs=dict(width=8))
    assert np.allclose(runs["stability_ratio"], 0.5)


def test_the_sweep_refuses_model_kwargs_that_it_sets(data):
    with pytest.raises(ValueError, match="model_kwargs"):
        attention_lambda_max_sweep(data, alphas=[0.0], depths=[1], seeds=[0], epochs=1, model_kwargs=dict(alpha=1.0))


def test_lambda_max0_grows_with_depth_at_alpha_one_and_not_at_one_over_sqrt_depth(data):
    table = depth_lambda_max0(data, depths=[1, 4, 16], seeds=[0, 1], schedules={"1": 1.0, "1/sqrt(L)": "1/sqrt(L)"},
                              model_kwargs=dict(width=8))
    fit = depth_slope_difference(table, scaled="1/sqrt(L)", constant="1")
    assert fit["difference"].ci_high < 0
    assert table.loc[table.schedule == "1/sqrt(L)", "sum_alpha2"].round(12).eq(1.0).all()


def test_the_width_sweep_gives_one_final_change_per_width_and_seed(data):
    changes = attention_width_kernel_change(data, widths=[8, 16], seeds=[0], depth=1, epochs=4, ntk_every=2)
    final = final_kernel_change(changes, 4)
    assert list(final["width"]) == [8, 16] and final["kernel_change"].gt(0).all()


def test_the_attention_experiments_are_the_ecrn_loops_with_the_transformer_builder(data):
    from ntkbook.experiments.ablations import width_kernel_change
    from ntkbook.experiments.mechanisms import lambda_max_sweep

    curves, runs = attention_lambda_max_sweep(data, alphas=[0.0, 1.0], depths=[1], seeds=[0], epochs=2,
                                              ntk_every=1, model_kwargs=dict(width=8))
    generic = lambda_max_sweep(data, alphas=[0.0, 1.0], depths=[1], seeds=[0], lr_fraction=0.5, epochs=2,
                               ntk_every=1, model_kwargs=dict(width=8), builder=build_transformer)
    pd.testing.assert_frame_equal(curves, generic[0])
    shared = [c for c in runs.columns if c in generic[1].columns and c != "seconds"]
    pd.testing.assert_frame_equal(runs[shared], generic[1][shared])
    assert "test_accuracy" in runs and "epochs_run" not in runs
    changes = attention_width_kernel_change(data, widths=[8], seeds=[0], depth=1, epochs=2, ntk_every=1)
    pd.testing.assert_frame_equal(changes, width_kernel_change(
        [8], [0], data=data, builder=build_transformer, depth=1, model_kwargs=dict(alpha="1/sqrt(L)"), lr=None,
        lr_fraction=0.5, epochs=2, ntk_every=1, device=None))


def test_the_kernel_shares_add_up_to_one_and_cover_every_group(data):
    model = build_transformer(data, 0, width=8, depth=1, alpha=1.0)
    shares = kernel_shares(model, data.x_train[:6])
    assert set(shares) == {"embedding", "query/key", "value/output", "MLP", "readout"}
    assert math.isclose(sum(shares.values()), 1.0, rel_tol=1e-9)
    assert all(p.requires_grad for n, p in model.named_parameters() if not n.endswith("key.bias"))


def test_the_query_share_is_the_trace_of_the_kernel_of_the_query_weights_alone(data):
    from ntkbook.ntk import empirical_ntk
    model = build_transformer(data, 0, width=8, depth=1, alpha=1.0)
    x = data.x_train[:6]
    shares = kernel_shares(model, x)
    total = float(torch.diagonal(empirical_ntk(model, x)).sum())
    attn = model.blocks[0].attn
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("blocks.0.attn.query."))
    qk = float(torch.diagonal(empirical_ntk(model, x)).sum())  # the key weights' part is added below
    for name, p in model.named_parameters():
        p.requires_grad_(name == "blocks.0.attn.key.weight")
    qk += float(torch.diagonal(empirical_ntk(model, x)).sum())
    assert attn.key.bias.requires_grad is False
    assert math.isclose(shares["query/key"], qk / total, rel_tol=1e-8)


def test_every_transformer_parameter_has_a_group(data):
    model = build_transformer(data, 0, width=8, depth=2)
    assert {parameter_group(n) for n, _ in model.named_parameters()} == {
        "embedding", "query/key", "value/output", "MLP", "readout"}


def test_the_query_key_share_falls_with_width_under_one_over_d_scores(data):
    table = kernel_share_table(data, widths=[8, 64], seeds=[0], score_scales=["1/d"], n_points=6,
                               model_kwargs=dict(depth=1, alpha=1.0))
    qk = table[table.group == "query/key"].set_index("width")["share"]
    assert qk[64] < qk[8]


def test_the_ntk_times_agree_between_methods_without_fallback(data):
    times = ntk_times(data, widths=[8], depth=1, n_points=6, repeats=1)
    assert set(times["method"]) == {"structured", "jacobian", "auto"}
    assert times["n_fallback"].eq(0).all() and times["rel_diff"].lt(1e-10).all()


# ----------------------------------------------------------------------------- the rules reach every outcome
def alpha_verdict(exponents):
    """The growth-fit rule on constructed runs: excess = alpha^k_seed over a flat baseline G_0 = 1."""
    rows = []
    for seed, k in enumerate(exponents):
        for a in (0.0, 0.25, 0.5, 1.0):
            rows.append({"alpha": a, "depth": 2, "seed": seed, "growth": 1.0 + (a ** k if a else 0.0),
                         "diverged": False, "stability_ratio": 1.0})
    fits = growth_exponents(growth_table(pd.DataFrame(rows), alpha_max=1.0))
    k, lo, hi = t_interval(fits["slope"])
    return one_sided_rule(k, lo, hi, at_least=2.0).verdict


def test_the_alpha_rule_holds_for_an_excess_growth_faster_than_alpha_squared():
    assert alpha_verdict([2.6, 2.8, 3.0]) == SUPPORTED


def test_the_alpha_rule_does_not_hold_for_an_excess_growth_slower_than_alpha_squared():
    assert alpha_verdict([1.0, 1.2, 1.1]) == NOT_SUPPORTED


def test_the_alpha_rule_is_inconclusive_around_alpha_squared():
    assert alpha_verdict([1.5, 2.5, 2.0]) == INCONCLUSIVE


def depth_verdict(slopes_one, slopes_scaled):
    """The depth rule on constructed kernels: lambda_max(0) = L^slope per seed and schedule."""
    rows = [{"schedule": label, "depth": L, "seed": s, "lambda_max0": float(L) ** b}
            for label, slopes in (("1", slopes_one), ("1/sqrt(L)", slopes_scaled))
            for s, b in enumerate(slopes) for L in (1, 2, 4, 8)]
    diff = depth_slope_difference(pd.DataFrame(rows), scaled="1/sqrt(L)", constant="1")["difference"]
    return sign_rule(diff.mean_difference, diff.ci_low, diff.ci_high, expect="negative").verdict


def test_the_depth_rule_holds_when_the_scaled_slope_is_flatter():
    assert depth_verdict([0.9, 1.0, 0.95], [0.05, 0.1, 0.0]) == SUPPORTED


def test_the_depth_rule_does_not_hold_when_the_scaled_slope_is_steeper():
    assert depth_verdict([0.1, 0.0, 0.05], [0.9, 1.0, 0.95]) == NOT_SUPPORTED


def test_the_depth_rule_is_inconclusive_when_the_slopes_do_not_differ_consistently():
    assert depth_verdict([0.5, 0.5, 0.5], [0.2, 0.8, 0.5]) == INCONCLUSIVE


def width_verdict(exponents):
    """The width rule on a constructed table: final change = width^beta_seed."""
    rows = [{"width": w, "seed": s, "epoch": 10, "kernel_change": w ** b, "diverged": False}
            for s, b in enumerate(exponents) for w in (16, 64, 256)]
    fit = slope_interval(final_kernel_change(pd.DataFrame(rows), 10), x="width", y="kernel_change", by="seed")
    return one_sided_rule(fit["slope"], fit["low"], fit["high"], at_most=0.0).verdict


def test_the_width_rule_holds_for_a_change_that_falls_with_width():
    assert width_verdict([-0.9, -1.0, -1.1]) == SUPPORTED


def test_the_width_rule_does_not_hold_for_a_change_that_grows_with_width():
    assert width_verdict([0.4, 0.5, 0.6]) == NOT_SUPPORTED


def test_the_width_rule_is_inconclusive_when_the_sign_is_not_resolved():
    assert width_verdict([-0.3, 0.2, 0.05]) == INCONCLUSIVE


def test_a_diverged_run_voids_the_width_rule():
    rows = [{"width": w, "seed": s, "epoch": 10, "kernel_change": w ** -1.0, "diverged": s == 0 and w == 64}
            for s in range(3) for w in (16, 64, 256)]
    fit = slope_interval(final_kernel_change(pd.DataFrame(rows), 10), x="width", y="kernel_change", by="seed")
    assert one_sided_rule(fit["slope"], fit["low"], fit["high"], at_most=0.0).verdict == INCONCLUSIVE
