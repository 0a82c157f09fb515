"""Chapter 10 (width scaling): the ECRN's NTK moves less during training as the width grows,
judged on the sign of the log-log slope; the slope is placed against -1/2 and -1."""

import math

import numpy as np
import pandas as pd
import pytest

from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, one_sided_rule
from ntkbook.stats import one_sided_p
from ntkbook.experiments.ablations import (RATE_REFERENCES, final_kernel_change, rate_against_references,
                                           width_kernel_change)
from ntkbook.stats import paired_difference, slope_interval


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def changes(one_torch_thread):
    return width_kernel_change([32, 128, 512], [0, 1], n_train=12, depth=2, n_fourier=8, epochs=30, ntk_every=15)


def test_the_kernel_change_of_the_widest_net_is_smallest_for_every_seed(changes):
    final = final_kernel_change(changes, 30).pivot_table(index="width", columns="seed", values="kernel_change")
    assert (final.loc[512] < final.loc[32]).all()


def test_the_log_log_slope_of_the_kernel_change_is_negative_for_every_seed(changes):
    fit = slope_interval(final_kernel_change(changes, 30), x="width", y="kernel_change", by="seed")
    assert fit["n"] == 2 and fit["dropped"] == 0
    assert (fit["slopes"]["slope"] < 0).all()


def width_verdict(exponents_by_seed, widths=(16, 64, 256)):
    """The chapter's rule on a constructed table: change = (1 + seed) * width^beta_seed, the
    slope interval across seeds against 0, and the one-sided p-value of the slopes."""
    rows = [(w, s, 10, (1 + s) * w**beta if math.isfinite(beta) else math.nan, False)
            for s, beta in enumerate(exponents_by_seed) for w in widths]
    fit = slope_interval(final_kernel_change(_changes(rows), 10), x="width", y="kernel_change", by="seed")
    test = paired_difference(fit["slopes"]["slope"].to_numpy(float), np.zeros(len(fit["slopes"])))
    return one_sided_rule(fit["slope"], fit["low"], fit["high"], at_most=0.0), one_sided_p(test, "negative"), fit


def test_the_width_rule_supports_a_change_that_falls_with_width_even_faster_than_the_bound():
    verdict, p, _ = width_verdict([-1.0, -0.95, -1.05, -1.1])
    assert verdict.verdict == SUPPORTED and p < 0.01


def test_the_width_rule_rejects_a_change_that_grows_with_width():
    verdict, p, _ = width_verdict([0.4, 0.5, 0.45, 0.6])
    assert verdict.verdict == NOT_SUPPORTED and p > 0.99


def test_the_width_rule_is_inconclusive_when_the_sign_is_not_resolved():
    verdict, _, _ = width_verdict([-0.3, 0.2, -0.1, 0.25])
    assert verdict.verdict == INCONCLUSIVE


def test_the_width_rule_is_inconclusive_when_a_seed_has_no_slope():
    verdict, _, fit = width_verdict([-1.0, -0.95, math.nan, -1.1])
    assert verdict.verdict == INCONCLUSIVE and fit["dropped"] == 1


def test_a_slope_near_minus_one_includes_one_over_n_and_excludes_the_bound():
    assert rate_against_references(-1.1, -0.9) == {"n^(-1/2)": "flatter", "1/n": "inside"}


def test_a_slope_near_minus_one_half_includes_the_bound_and_excludes_one_over_n():
    assert rate_against_references(-0.6, -0.4) == {"n^(-1/2)": "inside", "1/n": "steeper"}


def test_a_void_interval_places_no_reference():
    assert set(rate_against_references(math.nan, math.nan).values()) == {"undetermined"}


def test_the_references_are_the_bound_and_dyer_gur_ari():
    assert RATE_REFERENCES == {"n^(-1/2)": -0.5, "1/n": -1.0}


def test_the_kernel_change_is_recorded_from_zero_at_initialization(changes):
    assert (changes[changes.epoch == 0]["kernel_change"] == 0.0).all()


def _changes(rows):
    return pd.DataFrame(rows, columns=["width", "seed", "epoch", "kernel_change", "diverged"])


def test_final_kernel_change_has_one_row_per_width_and_seed_at_the_last_epoch():
    table = _changes([(16, 0, 0, 0.0, False), (16, 0, 10, 0.2, False), (64, 0, 0, 0.0, False), (64, 0, 10, 0.1, False)])
    final = final_kernel_change(table, 10)
    assert final[["width", "seed", "epoch"]].values.tolist() == [[16, 0, 10], [64, 0, 10]]
    assert final["kernel_change"].tolist() == [0.2, 0.1]


def test_a_run_that_stopped_early_keeps_its_row_as_nan_instead_of_being_left_out():
    table = _changes([(16, 0, 10, 0.2, False), (64, 0, 5, 0.1, True), (256, 0, 10, 0.05, False)])
    final = final_kernel_change(table, 10)
    assert len(final) == 3 and math.isnan(final.set_index("width").loc[64, "kernel_change"])


def test_a_diverged_run_voids_the_interval_of_the_exponent():
    rows = [(w, s, 10, (1 + s) * w**-0.5, False) for s in range(3) for w in (16, 64, 256)]
    rows[4] = (64, 1, 3, 0.5, True)  # seed 1 diverged at width 64: its seed has no slope
    fit = slope_interval(final_kernel_change(_changes(rows), 10), x="width", y="kernel_change", by="seed")
    assert fit["dropped"] == 1 and math.isnan(fit["low"]) and math.isnan(fit["high"])


def test_final_kernel_change_names_a_table_without_the_needed_columns():
    with pytest.raises(ValueError, match="'changes' parameter of final_kernel_change"):
        final_kernel_change(pd.DataFrame({"width": [1]}), 10)


def test_width_kernel_change_rejects_a_zero_width():
    with pytest.raises(ValueError, match=r"'widths' parameter of width_kernel_change must be a non-empty sequence of ints >= 1"):
        width_kernel_change([0], [0])


def test_width_kernel_change_with_one_dataset_a_builder_and_each_runs_own_step():
    import torch

    from ntkbook.data import load_dataset
    from ntkbook.experiments.mechanisms import build_ecrn, stable_lr

    data = load_dataset("sinusoids", n_train=10, n_test=4, seed=0, dtype=torch.float64)
    table = width_kernel_change([8, 32], [0, 1], data=data, builder=build_ecrn, model_kwargs=dict(n_fourier=4),
                                depth=2, lr=None, lr_fraction=0.5, epochs=4, ntk_every=2)
    assert list(table.columns) == ["width", "seed", "epoch", "kernel_change", "train_mse", "diverged", "lr"]
    assert len(table) == 2 * 2 * 3  # epochs 0, 2, 4 of each (width, seed)
    model = build_ecrn(data, 1, width=32, depth=2, n_fourier=4)
    assert table.query("width == 32 and seed == 1")["lr"].eq(stable_lr(model, data.x_train, 0.5)[0]).all()


def test_width_kernel_change_needs_exactly_one_of_lr_and_lr_fraction():
    with pytest.raises(ValueError, match="'lr' parameter of width_kernel_change"):
        width_kernel_change([8], [0], lr_fraction=0.5)
    with pytest.raises(ValueError, match="'lr' parameter of width_kernel_change"):
        width_kernel_change([8], [0], lr=None)


def test_width_kernel_change_refuses_model_kwargs_that_it_sets():
    with pytest.raises(ValueError, match="'model_kwargs' parameter of width_kernel_change"):
        width_kernel_change([8], [0], model_kwargs=dict(drop_prob=0.5))
    with pytest.raises(ValueError, match="'builder' parameter of width_kernel_change"):
        width_kernel_change([8], [0], builder="ecrn")
