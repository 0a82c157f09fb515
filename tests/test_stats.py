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
