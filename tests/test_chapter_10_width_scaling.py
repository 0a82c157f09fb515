"""Chapter 10 (width scaling): the ECRN's NTK moves less during training as the width grows."""

import math

import pandas as pd
import pytest

from ntkbook.experiments.ablations import final_kernel_change, width_kernel_change
from ntkbook.stats import slope_interval


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def changes(one_torch_thread):
    return width_kernel_change([32, 128, 512], [0, 1], n_train=12, depth=2, n_fourier=8, epochs=30, ntk_every=15)


def test_the_kernel_change_of_the_widest_net_is_smallest_for_every_seed(changes):
    final = final_kernel_change(changes, 30).pivot_table(index="width", columns="seed", values="kernel_change")
    assert (final.loc[512] < final.loc[32]).all()


def test_the_log_log_slope_of_the_kernel_change_lies_between_minus_three_halves_and_minus_a_quarter(changes):
    fit = slope_interval(final_kernel_change(changes, 30), x="width", y="kernel_change", by="seed")
    assert fit["n"] == 2 and fit["dropped"] == 0
    assert -1.5 < fit["slope"] < -0.25


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
