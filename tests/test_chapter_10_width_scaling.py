"""Chapter 10 (width scaling): the ECRN's NTK moves less during training as the width grows."""

import math

import numpy as np
import pandas as pd
import pytest

from ntkbook.experiments.ablations import loglog_slopes, t_interval, width_kernel_change


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def changes(one_torch_thread):
    return width_kernel_change([32, 128, 512], [0, 1], n_train=12, depth=2, n_fourier=8, epochs=30, ntk_every=15)


def test_the_kernel_change_of_the_widest_net_is_smallest_for_every_seed(changes):
    final = changes[changes.epoch == 30].pivot_table(index="width", columns="seed", values="kernel_change")
    assert (final.loc[512] < final.loc[32]).all()


def test_the_log_log_slope_of_the_kernel_change_lies_between_minus_three_halves_and_minus_a_quarter(changes):
    slopes = loglog_slopes(changes[changes.epoch == 30])
    mean, _, _ = t_interval(slopes["slope"])
    assert -1.5 < mean < -0.25


def test_the_kernel_change_is_recorded_from_zero_at_initialization(changes):
    assert (changes[changes.epoch == 0]["kernel_change"] == 0.0).all()


def test_loglog_slopes_recovers_a_known_power_law():
    widths = np.array([16, 64, 256, 1024])
    table = pd.DataFrame({"width": np.tile(widths, 2), "seed": np.repeat([0, 1], 4),
                          "kernel_change": np.concatenate([3 * widths**-0.5, 5 * widths**-1.0])})
    slopes = loglog_slopes(table).set_index("seed")["slope"]
    assert slopes.loc[0] == pytest.approx(-0.5) and slopes.loc[1] == pytest.approx(-1.0)


def test_loglog_slopes_leaves_out_non_finite_values_and_counts_them():
    table = pd.DataFrame({"width": [16, 64, 256], "seed": [0, 0, 0], "kernel_change": [0.1, math.nan, 0.025]})
    row = loglog_slopes(table).iloc[0]
    assert row["n_dropped"] == 1 and row["slope"] == pytest.approx(-0.5)


def test_loglog_slopes_names_missing_columns():
    with pytest.raises(ValueError, match="must have columns 'width', 'kernel_change' and 'seed'"):
        loglog_slopes(pd.DataFrame({"width": [1]}))


def test_width_kernel_change_rejects_a_zero_width():
    with pytest.raises(ValueError, match=r"'widths' parameter of width_kernel_change must be an int in the range \[1, inf\)"):
        width_kernel_change([0], [0])
