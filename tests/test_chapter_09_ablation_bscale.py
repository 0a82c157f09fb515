"""Chapter 9 (B-scale sweep): small scales underfit, large scales overfit, the NTK's rank grows."""

import math
import os

import pandas as pd
import pytest

from ntkbook.experiments.ablations import bscale_contrasts, bscale_point
from ntkbook.pipeline.sweep import filtered_stderr
from ntkbook.claims.rules import weakest_verdict
from ntkbook.claims.rules import sign_rule

SMALL = dict(n_train=16, n_test=64, width=32, depth=2, n_fourier=16, epochs=150)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sweep(one_torch_thread):
    return pd.concat([bscale_point(s, [0, 1, 2], **SMALL) for s in (0.1, 2.0, 100.0)], ignore_index=True)


def test_the_smallest_scale_underfits(sweep):
    under = bscale_contrasts(sweep)["underfit"]
    assert sign_rule(under["mean"], under["low"], under["high"], expect="positive").verdict == "supported"


def test_the_largest_scale_overfits(sweep):
    over = bscale_contrasts(sweep)["overfit"]
    assert sign_rule(over["mean"], over["low"], over["high"], expect="positive").verdict == "supported"


def test_the_ntk_effective_rank_grows_with_the_scale(sweep):
    ranks = sweep.groupby("fourier_scale")["effective_rank"].mean()
    assert ranks.is_monotonic_increasing and ranks.iloc[-1] > 5 * ranks.iloc[0]


def test_a_failed_scale_makes_its_contrast_not_finite():
    table = pd.DataFrame({"fourier_scale": [0.1, 0.1, 1.0, 1.0, 10.0, 10.0], "seed": [0, 1] * 3,
                          "train_mse": [0.3, 0.3, 0.1, 0.1, math.nan, math.nan],
                          "test_mse": [0.3, 0.3, 0.1, 0.1, math.nan, math.nan]})
    table["gap"] = table["test_mse"] - table["train_mse"]
    assert math.isnan(bscale_contrasts(table)["overfit"]["low"])


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

    fixed = {"n_seeds": 2, "width": 8, "depth": 1, "n_fourier": 4, "epochs": 3, "n_train": 8, "n_test": 16}
    with filtered_stderr():
        table = run_sweep("bscale_point", "fourier_scale", [1.0, 10.0], profile="ci", fixed=fixed,
                          output_dir=tmp_path, force=True)
    assert list(table["status"]) == ["ok", "ok"], table["error"].tolist()
    assert {"train_mse_s0", "test_mse_s1", "effective_rank_s1", "source"} <= set(table.columns)
