"""Specification of ntkbook.stats and ntkbook._validation, the one copy of each helper.

The book once had four t-intervals and two log-log slope fits that disagreed about non-finite
values (one dropped a diverged seed silently, so a verdict could only get better by it). The
last tests here check that the chapters' modules use the one copy.
"""

import importlib
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ntkbook import stats
from ntkbook._validation import (
    InvalidParameterError,
    check_float,
    check_floats,
    check_int,
    check_ints,
    check_option,
    check_seeds,
)
from ntkbook.stats import loglog_slope, paired_difference, slope_interval, t_interval

VALUES = [0.8, 1.1, 0.95, 1.3, 1.02]


# ----------------------------------------------------------------------------- t_interval
def test_t_interval_matches_scipy():
    mean, low, high = t_interval(VALUES, 0.9)
    expected = sps.t.interval(0.9, len(VALUES) - 1, loc=np.mean(VALUES), scale=sps.sem(VALUES))
    assert mean == pytest.approx(np.mean(VALUES))
    assert (low, high) == pytest.approx(expected)


def test_t_interval_unpacks_as_mean_low_high_and_carries_n_and_std():
    iv = t_interval(VALUES)
    assert tuple(iv) == (iv.mean, iv.low, iv.high)
    assert iv.n == 5 and iv.n_dropped == 0 and iv.std == pytest.approx(np.std(VALUES, ddof=1))
    assert iv.half_width == pytest.approx((iv.high - iv.low) / 2)


@pytest.mark.parametrize("values", [[1.5], [math.nan, 2.0]])
def test_fewer_than_two_usable_values_give_nan_bounds(values):
    iv = t_interval(values, nonfinite="drop")
    assert math.isnan(iv.low) and math.isnan(iv.high)


def test_a_non_finite_value_voids_the_interval_by_default():
    iv = t_interval([*VALUES, math.nan])
    assert math.isnan(iv.low) and math.isnan(iv.high)


def test_an_infinite_value_voids_the_interval_by_default():
    iv = t_interval([*VALUES, math.inf])
    assert math.isnan(iv.low) and math.isnan(iv.high)


def test_drop_uses_the_finite_values_and_counts_what_it_dropped():
    iv = t_interval([*VALUES, math.nan, -math.inf], nonfinite="drop")
    assert tuple(iv) == pytest.approx(tuple(t_interval(VALUES)))
    assert iv.n == 5 and iv.n_dropped == 2


def test_drop_of_only_non_finite_values_is_a_nan_interval():
    iv = t_interval([math.nan, math.nan], nonfinite="drop")
    assert math.isnan(iv.mean) and iv.n == 0 and iv.n_dropped == 2


def test_raise_refuses_a_non_finite_value():
    with pytest.raises(ValueError, match="non-finite"):
        t_interval([*VALUES, math.nan], nonfinite="raise")


def test_finite_values_give_the_same_interval_under_every_policy():
    intervals = {p: tuple(t_interval(VALUES, nonfinite=p)) for p in stats.NONFINITE_POLICIES}
    assert len(set(intervals.values())) == 1


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="'nonfinite' parameter of t_interval"):
        t_interval(VALUES, nonfinite="ignore")


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, math.nan, True])
def test_a_confidence_outside_zero_one_is_refused(confidence):
    with pytest.raises(ValueError, match="'confidence' parameter of t_interval"):
        t_interval(VALUES, confidence)


def test_an_empty_sequence_is_refused():
    with pytest.raises(ValueError, match="'values' parameter of t_interval"):
        t_interval([])


# ----------------------------------------------------------------------------- paired_difference
def test_paired_difference_matches_scipy_ttest_rel():
    a = np.array([1.0, 1.4, 0.9, 1.7, 1.2, 1.1])
    b = np.array([0.8, 1.0, 1.0, 1.2, 0.9, 1.0])
    out = paired_difference(a, b)
    test = sps.ttest_rel(a, b)
    assert out.t_statistic == pytest.approx(test.statistic)
    assert out.p_value == pytest.approx(test.pvalue)
    assert (out.mean_difference, out.ci_low, out.ci_high) == pytest.approx(tuple(t_interval(a - b)))


def test_a_non_finite_pair_voids_the_paired_comparison_by_default():
    out = paired_difference([1.0, 2.0, math.nan, 1.5], [0.5, 1.0, 1.0, 1.0])
    assert math.isnan(out.ci_low) and math.isnan(out.p_value)


def test_paired_difference_refuses_samples_of_different_lengths():
    with pytest.raises(ValueError, match="'b' parameter of paired_difference"):
        paired_difference([1.0, 2.0], [1.0])


# ----------------------------------------------------------------------------- slope fits
def test_loglog_slope_recovers_a_known_exponent():
    x = np.array([16.0, 64.0, 256.0, 1024.0])
    slope, intercept = loglog_slope(x, 3.0 * x**-0.5)
    assert slope == pytest.approx(-0.5) and intercept == pytest.approx(math.log(3.0))


@pytest.mark.parametrize("y", [[1.0, 0.0, 0.5], [1.0, math.nan, 0.5], [1.0, -1.0, 0.5]])
def test_loglog_slope_refuses_values_a_log_cannot_take(y):
    with pytest.raises(ValueError, match="finite and positive"):
        loglog_slope([1.0, 2.0, 4.0], y)


def _power_law(exponents, widths=(16, 64, 256)):
    return pd.DataFrame([{"width": w, "seed": s, "y": (1 + s) * w**k} for s, k in enumerate(exponents) for w in widths])


def test_slope_interval_fits_one_slope_per_seed_and_recovers_the_exponent():
    out = slope_interval(_power_law([-0.5, -0.5, -0.5]), y="y")
    assert len(out["slopes"]) == 3 and out["n"] == 3
    assert out["slopes"]["slope"].to_numpy() == pytest.approx([-0.5] * 3)
    assert out["slope"] == pytest.approx(-0.5)


def test_slope_interval_is_the_t_interval_of_the_per_seed_slopes():
    out = slope_interval(_power_law([-0.4, -0.5, -0.7]), y="y")
    assert (out["slope"], out["low"], out["high"]) == pytest.approx(tuple(t_interval([-0.4, -0.5, -0.7])))


def test_a_nan_in_one_group_voids_the_slope_interval_by_default():
    df = _power_law([-0.5, -0.5, -0.5])
    df.loc[(df.seed == 1) & (df.width == 64), "y"] = math.nan
    out = slope_interval(df, y="y")
    assert math.isnan(out["low"]) and math.isnan(out["high"]) and out["dropped"] == 1
    assert math.isnan(out["slopes"].set_index("seed").loc[1, "slope"])


def test_drop_fits_the_other_groups_and_counts_the_one_left_out():
    df = _power_law([-0.5, -0.5, -0.5])
    df.loc[(df.seed == 1) & (df.width == 64), "y"] = 0.0
    out = slope_interval(df, y="y", nonfinite="drop")
    assert out["n"] == 2 and out["dropped"] == 1 and out["slope"] == pytest.approx(-0.5)


def test_slope_interval_fits_over_several_grouping_columns():
    df = pd.concat([_power_law([-0.5, -0.5]).assign(arch="a"), _power_law([-1.0, -1.0]).assign(arch="b")])
    out = slope_interval(df, y="y", by=["arch", "seed"])
    assert list(out["slopes"].columns[:2]) == ["arch", "seed"] and out["n"] == 4
    assert out["slope"] == pytest.approx(-0.75)


def test_slope_interval_names_a_missing_column():
    with pytest.raises(ValueError, match="'df' parameter of slope_interval"):
        slope_interval(pd.DataFrame({"width": [1, 2]}), y="change")


# ----------------------------------------------------------------------------- t_interval(bounds=)
def test_bounds_clip_an_interval_that_would_leave_the_range_of_the_quantity():
    accuracies = [0.97, 1.0, 0.99, 1.0]
    free, clipped = t_interval(accuracies), t_interval(accuracies, bounds=(0.0, 1.0))
    assert free.high > 1.0 and clipped.high == 1.0
    assert clipped.low == pytest.approx(free.low) and clipped.mean == pytest.approx(free.mean)
    low_side = t_interval([0.0, 0.02, 0.01], bounds=(0.0, 1.0))
    assert low_side.low == 0.0 and low_side.high < 1.0


def test_bounds_leave_an_interval_inside_the_range_unchanged():
    assert tuple(t_interval(VALUES, bounds=(0.0, 2.0))) == pytest.approx(tuple(t_interval(VALUES)))


def test_bounds_do_not_invent_an_interval_where_there_is_none():
    iv = t_interval([0.5, math.nan], bounds=(0.0, 1.0))
    assert math.isnan(iv.low) and math.isnan(iv.high)


# ----------------------------------------------------------------------------- corrected_resampled_t
SPLIT_DIFFERENCES = np.array([0.5, 1.2, -0.3, 0.8, 0.9, 0.1, 1.5, 0.4, 0.7, 0.2])


def test_corrected_resampled_t_matches_the_nadeau_bengio_formula():
    d, n_train, n_test = SPLIT_DIFFERENCES, 80, 20
    j = d.size
    se = math.sqrt((1 / j + n_test / n_train) * d.var(ddof=1))
    t = d.mean() / se
    half = sps.t.ppf(0.975, j - 1) * se
    out = stats.corrected_resampled_t(d, n_train, n_test)
    assert out.n == j and out.mean_difference == pytest.approx(d.mean())
    assert out.t_statistic == pytest.approx(t)
    assert out.p_value == pytest.approx(2 * sps.t.sf(abs(t), j - 1))
    assert (out.ci_low, out.ci_high) == pytest.approx((d.mean() - half, d.mean() + half))


def test_the_correction_shrinks_the_plain_paired_t_by_the_overlap_factor():
    # n_test / n_train = 1/4 and J = 10: the variance grows by (1/10 + 1/4) / (1/10) = 3.5
    plain = paired_difference(SPLIT_DIFFERENCES, np.zeros_like(SPLIT_DIFFERENCES))
    corrected = stats.corrected_resampled_t(SPLIT_DIFFERENCES, 80, 20)
    assert plain.t_statistic / corrected.t_statistic == pytest.approx(math.sqrt(3.5))
    assert corrected.p_value > plain.p_value
    assert (corrected.ci_high - corrected.ci_low) == pytest.approx(math.sqrt(3.5) * (plain.ci_high - plain.ci_low))


def test_corrected_resampled_t_voids_a_non_finite_split_and_needs_two_splits():
    voided = stats.corrected_resampled_t([0.5, math.nan, 0.3], 80, 20)
    assert math.isnan(voided.ci_low) and math.isnan(voided.p_value)
    single = stats.corrected_resampled_t([0.5], 80, 20)
    assert math.isnan(single.ci_low) and single.mean_difference == 0.5


def test_corrected_resampled_t_refuses_a_training_set_of_no_examples():
    with pytest.raises(ValueError, match="'n_train' parameter of corrected_resampled_t"):
        stats.corrected_resampled_t(SPLIT_DIFFERENCES, 0, 20)


# ----------------------------------------------------------------------------- paired_bootstrap
def _per_example_correct(rng, accuracy, shape):
    return (rng.random(shape) < accuracy).astype(float)


def test_paired_bootstrap_of_a_constant_difference_is_that_difference():
    rng = np.random.default_rng(0)
    b = rng.random((3, 50))
    out = stats.paired_bootstrap(b + 0.1, b, n_boot=200)
    assert (out.mean_difference, out.ci_low, out.ci_high) == pytest.approx((0.1, 0.1, 0.1))
    assert out.p_value == 0.0


def test_paired_bootstrap_counts_the_test_sets_own_sampling_error():
    # seeds that agree exactly: an interval across seeds has width 0, the test set's error does not
    rng = np.random.default_rng(1)
    a1, b1 = _per_example_correct(rng, 0.8, 1000), _per_example_correct(rng, 0.75, 1000)
    a, b = np.tile(a1, (4, 1)), np.tile(b1, (4, 1))
    across_seeds = t_interval((a - b).mean(1))
    out = stats.paired_bootstrap(a, b, n_boot=1000)
    assert across_seeds.high - across_seeds.low == pytest.approx(0.0)
    normal_half = 1.96 * (a1 - b1).std(ddof=1) / math.sqrt(a1.size)
    assert (out.ci_high - out.ci_low) / 2 == pytest.approx(normal_half, rel=0.2)
    assert out.ci_low < out.mean_difference < out.ci_high


def test_paired_bootstrap_p_value_is_small_for_a_clear_gap_and_large_for_none():
    rng = np.random.default_rng(2)
    b = _per_example_correct(rng, 0.6, (3, 500))
    better = np.maximum(b, _per_example_correct(rng, 0.3, (3, 500)))  # a beats b on many examples, never worse
    assert stats.paired_bootstrap(better, b, n_boot=500).p_value < 0.01
    same = stats.paired_bootstrap(b, b[::-1], n_boot=500)
    assert same.p_value > 0.05 and same.ci_low < 0 < same.ci_high


def test_paired_bootstrap_is_reproducible_for_a_seed():
    rng = np.random.default_rng(3)
    a, b = rng.random((3, 40)), rng.random((3, 40))
    first, again = stats.paired_bootstrap(a, b, n_boot=300, seed=7), stats.paired_bootstrap(a, b, n_boot=300, seed=7)
    assert (first.ci_low, first.ci_high, first.p_value) == (again.ci_low, again.ci_high, again.p_value)


def test_paired_bootstrap_refuses_scores_of_different_shapes_and_voids_non_finite_ones():
    with pytest.raises(ValueError, match="'b' parameter of paired_bootstrap"):
        stats.paired_bootstrap(np.zeros((2, 5)), np.zeros((2, 4)))
    a = np.ones((2, 5))
    a[0, 0] = math.nan
    out = stats.paired_bootstrap(a, np.zeros((2, 5)))
    assert math.isnan(out.ci_low) and math.isnan(out.p_value)


# ----------------------------------------------------------------------------- mcnemar
def test_mcnemar_matches_scipy_binomtest_on_the_discordant_examples():
    rng = np.random.default_rng(4)
    a, b = rng.random(300) < 0.8, rng.random(300) < 0.7
    out = stats.mcnemar(a, b)
    n10, n01 = int((a & ~b).sum()), int((~a & b).sum())
    assert (out["n10"], out["n01"]) == (n10, n01)
    assert out["p_value"] == pytest.approx(sps.binomtest(n10, n10 + n01, 0.5).pvalue)
    assert out["difference"] == pytest.approx(a.mean() - b.mean())


def test_mcnemar_of_classifiers_that_never_disagree_is_p_one():
    same = np.array([1, 0, 1, 1, 0])
    assert stats.mcnemar(same, same) == {"n10": 0, "n01": 0, "difference": 0.0, "p_value": 1.0}


def test_mcnemar_refuses_predictions_of_different_lengths():
    with pytest.raises(ValueError, match="'correct_b' parameter of mcnemar"):
        stats.mcnemar([1, 0, 1], [1, 0])


# ----------------------------------------------------------------------------- holm
def test_holm_matches_a_hand_worked_example():
    # sorted: 0.005 * 4 = 0.02; 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_of_one_p_value_is_that_p_value_and_adjusted_values_never_exceed_one():
    assert stats.holm([0.2]) == pytest.approx([0.2])
    assert stats.holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])


def test_holm_leaves_a_missing_p_value_missing_and_out_of_the_count():
    out = stats.holm([0.01, math.nan, 0.04])
    assert math.isnan(out[1]) and (out[0], out[2]) == pytest.approx((0.02, 0.04))
    assert np.isnan(stats.holm([math.nan, math.nan])).all()


def test_holm_refuses_a_number_that_is_not_a_probability():
    with pytest.raises(ValueError, match="'p_values' parameter of holm"):
        stats.holm([0.01, 1.5])


# ----------------------------------------------------------------------------- _validation
def test_bool_is_refused_as_an_int():
    with pytest.raises(InvalidParameterError, match="Got True instead"):
        check_int(True, "width", "ECRN")


def test_a_float_is_refused_as_an_int_instead_of_truncated():
    with pytest.raises(InvalidParameterError, match="Got 2.5 instead"):
        check_int(2.5, "n_train", "load_dataset")


def test_nan_is_refused_as_a_float():
    with pytest.raises(InvalidParameterError, match="must be a finite float"):
        check_float(math.nan, "noise", "load_dataset")


def test_the_message_names_the_parameter_its_owner_the_range_and_the_value():
    with pytest.raises(InvalidParameterError) as info:
        check_int(0, "width", "ECRN")
    assert str(info.value) == "The 'width' parameter of ECRN must be an int in the range [1, inf). Got 0 instead."


def test_an_invalid_parameter_is_caught_as_value_error_and_as_type_error():
    for exc in (ValueError, TypeError):
        with pytest.raises(exc):
            check_int("10", "n_train", "load_dataset")


def test_an_open_end_of_a_float_range_excludes_that_end():
    assert check_float(0.5, "fraction", "stable_lr", 0.0, 1.0, low_open=True, high_open=True) == 0.5
    with pytest.raises(InvalidParameterError, match=r"range \(0, 1\)"):
        check_float(1.0, "fraction", "stable_lr", 0.0, 1.0, low_open=True, high_open=True)


def test_seeds_must_be_distinct_non_negative_ints():
    assert check_seeds((0, 3, 1), "seeds", "f") == [0, 3, 1]
    for bad in ([0, 0], [-1], [0.0], [], "01", [True]):
        with pytest.raises(InvalidParameterError, match="'seeds' parameter of f"):
            check_seeds(bad, "seeds", "f")


def test_sequences_of_ints_and_floats_are_checked_element_by_element():
    assert check_ints([1, 2], "widths", "f") == [1, 2]
    assert check_floats([0.0, 0.5], "drop_probs", "f", 0.0, 1.0, high_open=True) == [0.0, 0.5]
    with pytest.raises(InvalidParameterError, match="'widths' parameter of f"):
        check_ints([1, 0], "widths", "f")
    with pytest.raises(InvalidParameterError, match="'drop_probs' parameter of f"):
        check_floats([0.5, 1.0], "drop_probs", "f", 0.0, 1.0, high_open=True)


def test_an_option_outside_the_choices_is_refused_with_the_choices_listed():
    with pytest.raises(InvalidParameterError, match=r"a str among \['ci', 'full'\]. Got 'huge' instead"):
        check_option("huge", "profile", "ntk_benchmark", ("ci", "full"))


# ----------------------------------------------------------------------------- one copy
CHAPTER_MODULES = ["ntkbook.experiments.theory", "ntkbook.experiments.mechanisms", "ntkbook.experiments.ablations",
                   "ntkbook.experiments.ntk_speed", "ntkbook.plots.ablations", "ntkbook.plots.mechanisms"]


@pytest.mark.parametrize("module", CHAPTER_MODULES)
def test_chapter_modules_use_the_one_t_interval_and_slope_fit(module):
    mod = importlib.import_module(module)
    for name in ("t_interval", "loglog_slope", "slope_interval"):
        assert getattr(mod, name, stats.__dict__[name]) is stats.__dict__[name], f"{module} defines its own {name}"
    assert not hasattr(mod, "loglog_slopes"), f"{module} has a second slope fit"


@pytest.mark.parametrize("module", CHAPTER_MODULES)
def test_chapter_modules_have_no_validation_helpers_of_their_own(module):
    mod = importlib.import_module(module)
    own = [name for name in ("_fail", "_check_int", "_check_values", "_positive_int", "_positive_ints",
                             "_positive_float", "_positive_floats", "_seeds") if hasattr(mod, name)]
    assert not own, f"{module} defines {own}; use ntkbook._validation"


def test_the_chapter_modules_export_no_statistics():
    for module in CHAPTER_MODULES[:4]:
        exported = set(getattr(importlib.import_module(module), "__all__", ()))
        assert not exported & {"t_interval", "loglog_slope", "slope_interval", "loglog_slopes"}, module
