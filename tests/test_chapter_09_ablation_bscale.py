"""Chapter 9 (B-scale sweep): against the scale chosen on validation data, small scales underfit
and large scales overfit; the NTK's rank grows; the error of each frequency is measured."""

import math
import os

import pandas as pd
import pytest

from ntkbook.experiments.ablations import bscale_contrasts, bscale_point
from ntkbook.pipeline.sweep import filtered_stderr
from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, sign_rule, weakest_verdict

SMALL = dict(n_train=20, n_val=4, n_test=64, width=32, depth=2, n_fourier=16, epochs=150)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sweep(one_torch_thread):
    return pd.concat([bscale_point(s, [0, 1, 2], **SMALL) for s in (0.1, 2.0, 100.0)], ignore_index=True)


def test_no_seed_fits_its_training_points_better_at_the_smallest_scale_than_at_its_chosen_one(sweep):
    under = bscale_contrasts(sweep)["underfit"]
    assert min(under["differences"]) >= 0 and under["mean"] > 0


def test_the_largest_scale_overfits(sweep):
    over = bscale_contrasts(sweep)["overfit"]
    assert sign_rule(over["mean"], over["low"], over["high"], expect="positive").verdict == "supported"


def test_the_ntk_effective_rank_grows_with_the_scale(sweep):
    ranks = sweep.groupby("fourier_scale")["effective_rank"].mean()
    assert ranks.is_monotonic_increasing and ranks.iloc[-1] > 5 * ranks.iloc[0]


def bscale_verdict(table):
    """The chapter's rule: both halves in the claim's direction, the weaker verdict, the larger p-value."""
    c = bscale_contrasts(table)
    halves = [sign_rule(c[h]["mean"], c[h]["low"], c[h]["high"], expect="positive") for h in ("underfit", "overfit")]
    return weakest_verdict(halves), max(c["underfit"]["p_value"], c["overfit"]["p_value"])


def constructed(train, val, test, seeds=4):
    """A sweep table over the scales 0.1, 1, 10 with per-scale train, validation and test MSE
    (the same for every seed, plus a small seed-dependent jitter so intervals exist)."""
    rows = []
    for seed in range(seeds):
        jitter = 0.01 * (seed - (seeds - 1) / 2)
        for i, (sigma, tr, va, te) in enumerate(zip((0.1, 1.0, 10.0), train, val, test)):
            rows.append({"fourier_scale": sigma, "seed": seed, "train_mse": tr + (i + 1) * jitter,
                         "val_mse": va + jitter, "test_mse": te + (3 - i) * jitter})
    table = pd.DataFrame(rows)
    table["gap"] = table["test_mse"] - table["train_mse"]
    return table


def test_the_bscale_rule_is_supported_by_the_underfit_overfit_pattern():
    verdict, p = bscale_verdict(constructed(train=[0.3, 0.05, 0.01], val=[0.3, 0.08, 0.6], test=[0.3, 0.07, 0.8]))
    assert verdict.verdict == SUPPORTED and p < 0.05


def test_the_bscale_rule_is_not_supported_when_the_largest_scale_overfits_least():
    verdict, _ = bscale_verdict(constructed(train=[0.3, 0.05, 0.2], val=[0.3, 0.08, 0.25], test=[0.3, 0.4, 0.2]))
    assert verdict.verdict == NOT_SUPPORTED


def test_the_bscale_rule_is_inconclusive_when_a_scale_failed():
    table = constructed(train=[0.3, 0.05, 0.01], val=[0.3, 0.08, 0.6], test=[0.3, 0.07, 0.8])
    table.loc[(table.fourier_scale == 10.0) & (table.seed == 0), ["train_mse", "test_mse", "gap"]] = math.nan
    verdict, _ = bscale_verdict(table)
    assert verdict.verdict == INCONCLUSIVE


def test_the_scale_is_chosen_on_validation_error_not_on_test_error():
    # validation prefers sigma = 1, the test error prefers sigma = 0.1
    c = bscale_contrasts(constructed(train=[0.2, 0.05, 0.01], val=[0.3, 0.08, 0.6], test=[0.05, 0.3, 0.8]))
    assert set(c["chosen"].values()) == {1.0}


def test_each_seed_chooses_its_own_scale():
    table = constructed(train=[0.3, 0.05, 0.01], val=[0.3, 0.08, 0.6], test=[0.3, 0.07, 0.8])
    table.loc[(table.seed == 2) & (table.fourier_scale == 10.0), "val_mse"] = 0.01
    assert bscale_contrasts(table)["chosen"] == {0: 1.0, 1: 1.0, 2: 10.0, 3: 1.0}


def test_a_failed_scale_makes_its_contrast_not_finite():
    table = pd.DataFrame({"fourier_scale": [0.1, 0.1, 1.0, 1.0, 10.0, 10.0], "seed": [0, 1] * 3,
                          "train_mse": [0.3, 0.3, 0.1, 0.1, math.nan, math.nan],
                          "val_mse": [0.3, 0.3, 0.1, 0.1, math.nan, math.nan],
                          "test_mse": [0.3, 0.3, 0.1, 0.1, math.nan, math.nan]})
    table["gap"] = table["test_mse"] - table["train_mse"]
    assert math.isnan(bscale_contrasts(table)["overfit"]["low"])


def test_bscale_contrasts_names_a_table_without_validation_errors():
    table = pd.DataFrame({"fourier_scale": [0.1, 1.0], "seed": [0, 0], "train_mse": [0.1, 0.2],
                          "test_mse": [0.1, 0.2], "gap": [0.0, 0.0]})
    with pytest.raises(ValueError, match="'table' parameter of bscale_contrasts"):
        bscale_contrasts(table)


def test_bscale_point_reports_the_error_of_every_frequency_component(sweep):
    assert {"freq_error_0", "freq_error_1", "val_mse"} <= set(sweep.columns)
    assert (sweep[["freq_error_0", "freq_error_1"]] > 0).all().all()


def test_the_low_frequency_is_learned_better_than_the_high_one_at_a_small_scale(sweep):
    small = sweep[sweep.fourier_scale == 0.1]
    assert (small["freq_error_0"] < small["freq_error_1"]).all()


def test_weakest_verdict_puts_not_supported_before_inconclusive_before_supported():
    ok = sign_rule(1.0, 0.5, 1.5, expect="positive")
    unsure = sign_rule(1.0, -0.5, 2.5, expect="positive")
    wrong = sign_rule(-1.0, -1.5, -0.5, expect="positive")
    assert weakest_verdict([ok, unsure]) is unsure
    assert weakest_verdict([ok, unsure, wrong]) is wrong


def test_weakest_of_two_supported_verdicts_is_the_one_closer_to_zero():
    far = sign_rule(1.0, 0.9, 1.1, expect="positive")
    near = sign_rule(1.0, 0.1, 1.9, expect="positive")
    assert weakest_verdict([far, near]) is near


def test_filtered_stderr_drops_only_the_kernel_transport_warning(capfd):
    with filtered_stderr():
        os.write(2, b"[IPKernelApp] WARNING | Kernel is running over TCP without encryption.\nreal problem\n")
    err = capfd.readouterr().err
    assert "real problem" in err and "TCP" not in err


def test_bscale_point_rejects_a_negative_scale():
    with pytest.raises(ValueError, match=r"'fourier_scale' parameter of bscale_point must be a finite float in the range \[0, inf\)"):
        bscale_point(-1.0, [0])


@pytest.mark.slow
def test_the_run_notebook_glues_every_seed_through_run_sweep(tmp_path):
    from ntkbook.pipeline.sweep import run_sweep

    fixed = {"n_seeds": 2, "width": 8, "depth": 1, "n_fourier": 4, "epochs": 3, "n_train": 8, "n_val": 2, "n_test": 16}
    with filtered_stderr():
        table = run_sweep("bscale_point", "fourier_scale", [1.0, 10.0], profile="ci", fixed=fixed,
                          output_dir=tmp_path, force=True)
    assert list(table["status"]) == ["ok", "ok"], table["error"].tolist()
    assert {"train_mse_s0", "val_mse_s0", "test_mse_s1", "freq_error_1_s1", "effective_rank_s1", "source",
            "n_fit", "frequency_0"} <= set(table.columns)
