"""Chapter 7 (Fourier ablation): per-frequency errors, mode rates, stable steps."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, sign_rule
from ntkbook.data import load_dataset
from ntkbook.experiments.runs import paired_comparison
from ntkbook.experiments.mechanisms import (FrequencyErrorTracker, final_errors, fourier_ablation,
                                            fourier_scale_selection, frequency_error_difference, init_spectra,
                                            mode_rates, selected_scale, stable_lr)
from ntkbook.models import ECRN
from ntkbook.ntk import empirical_ntk


pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = dict(n_train=64, n_test=128, frequencies=(1.0, 8.0), amplitudes=(1.0, 0.5), noise=0.0)
ON = dict(width=64, depth=2, n_fourier=32, fourier_scale=8.0)
OFF = dict(width=64, depth=2, n_fourier=0)


def test_stable_lr_is_the_requested_fraction_of_the_stability_limit():
    x = torch.rand(20, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model = ECRN(1, width=32, depth=2, seed=0).double()
    lr, lam = stable_lr(model, x, 0.25)
    assert lam == pytest.approx(float(torch.linalg.eigvalsh(empirical_ntk(model, x))[-1]))
    assert lr * lam / len(x) == pytest.approx(0.5)


def test_stable_lr_rejects_a_fraction_of_one():
    x = torch.rand(4, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="'fraction' parameter of stable_lr"):
        stable_lr(ECRN(1, width=8, depth=1).double(), x, 1.0)


def test_frequency_tracker_rejects_a_dataset_without_modes():
    data = load_dataset("gaussian_mixture", n_train=10, n_test=10)
    with pytest.raises(ValueError, match="'data' parameter of FrequencyErrorTracker"):
        FrequencyErrorTracker(data)


def test_mode_rates_lie_between_zero_and_one():
    x = load_dataset("sinusoids", dtype=torch.float64, **DATA).x_train
    rates = mode_rates({"on": ("ecrn", ON)}, x, [1.0, 8.0], seeds=[0])
    assert ((rates["rate"] > 0) & (rates["rate"] <= 1 + 1e-12)).all()


def test_without_embedding_the_high_frequency_mode_is_slow():
    x = load_dataset("sinusoids", dtype=torch.float64, **DATA).x_train
    rates = mode_rates({"off": ("ecrn", OFF)}, x, [1.0, 8.0], seeds=[0, 1])
    by_f = rates.groupby("frequency")["rate"].mean()
    assert by_f[8.0] < by_f[1.0]


def test_embedding_raises_the_rate_of_the_high_frequency_mode():
    x = load_dataset("sinusoids", dtype=torch.float64, **DATA).x_train
    rates = mode_rates({"on": ("ecrn", ON), "off": ("ecrn", OFF)}, x, [8.0], seeds=[0, 1])
    r = rates.groupby("variant")["rate"].mean()
    assert r["on"] > 5 * r["off"]


def test_embedding_raises_the_effective_rank_of_the_ntk():
    """The chapter's claim fourier_enriches_spectrum, at small size."""
    x = load_dataset("sinusoids", dtype=torch.float64, **DATA).x_train
    _, table = init_spectra({"on": ("ecrn", ON), "off": ("ecrn", OFF)}, x, seeds=[0, 1, 2])
    assert paired_comparison(table, "on", "off", "effective_rank", split="init").ci_low > 0


@pytest.fixture(scope="module")
def ablation():
    return fourier_ablation(variants={"on": ON, "off": OFF}, seeds=[0, 1, 2], data_kwargs=DATA,
                            epochs=150, every=50)


def test_ablation_records_every_mode_at_every_measured_epoch(ablation):
    errors = ablation["errors"]
    counts = errors.groupby(["variant", "seed", "epoch"])["frequency"].nunique()
    assert (counts == 2).all()
    assert sorted(errors["epoch"].unique()) == [0, 50, 100, 150]


def test_ablation_runs_do_not_diverge_at_half_the_stability_limit(ablation):
    assert not ablation["runs"]["diverged"].any()


def test_fourier_features_lower_the_high_frequency_error_on_every_seed(ablation):
    """The chapter's claim fourier_reduces_spectral_bias, at small size."""
    errors = ablation["errors"]
    final = errors[(errors["epoch"] == 150) & (errors["frequency"] == 8.0)]
    wide = final.pivot(index="seed", columns="variant", values="relative_error")
    diff = (wide["on"] - wide["off"]).to_numpy()
    assert np.all(diff < 0)
    assert wide["off"].mean() > 0.5


def test_frequency_error_plot_refuses_non_finite_errors(ablation):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ntkbook.plots.mechanisms import plot_frequency_errors

    errors = ablation["errors"].copy()
    errors.loc[errors.index[0], "relative_error"] = float("nan")
    fig, ax = plt.subplots()
    try:
        with pytest.raises(ValueError, match="non-finite"):
            plot_frequency_errors(errors, ax=ax)
    finally:
        plt.close(fig)


def test_a_diverged_run_ends_with_nan_errors_so_its_verdict_input_is_void():
    import math

    import pandas as pd

    from ntkbook.experiments.mechanisms import _diverged_rows
    from ntkbook.stats import t_interval

    errs = pd.DataFrame({"epoch": [0, 10, 0, 10], "frequency": [1.0, 1.0, 10.0, 10.0],
                         "relative_error": [1.0, 0.5, 1.0, 0.9], "captured": [False, True, False, False]})
    rows = _diverged_rows(errs, 600)
    assert list(rows.columns) == list(errs.columns)
    assert sorted(rows["frequency"]) == [1.0, 10.0] and (rows["epoch"] == 600).all()
    assert rows["relative_error"].isna().all()
    assert math.isnan(t_interval([0.1, float(rows["relative_error"].iloc[0])]).low)


# ----------------------------------------------------------------------------- choosing sigma on validation data


def _selection(n_test):
    return fourier_scale_selection(scales=[2.0, 8.0], on=dict(width=32, depth=2, n_fourier=16),
                                   off=dict(width=32, depth=2, n_fourier=0), seeds=[0, 1],
                                   data_kwargs={**DATA, "n_test": n_test}, epochs=20)


def test_scale_selection_has_one_row_per_candidate_and_seed():
    table = _selection(16)
    assert len(table) == (2 + 1) * 2
    assert table.loc[table.variant == "Fourier off", "fourier_scale"].isna().all()
    assert np.isfinite(table["val_mse"]).all()


def test_scale_selection_rejects_a_validation_fraction_of_one():
    with pytest.raises(ValueError, match="'val_fraction' parameter of fourier_scale_selection"):
        fourier_scale_selection(scales=[1.0], on={}, off=None, seeds=[0], data_kwargs=DATA, epochs=1, val_fraction=1.0)


def test_scale_selection_never_sees_the_test_split():
    a, b = _selection(16), _selection(200)  # same training data, different test grids
    np.testing.assert_array_equal(a["val_mse"].to_numpy(), b["val_mse"].to_numpy())


def test_scale_selection_rejects_a_fixed_scale_in_the_model_arguments():
    with pytest.raises(ValueError, match="'on' parameter of fourier_scale_selection"):
        fourier_scale_selection(scales=[1.0], on=dict(fourier_scale=3.0), off=None, seeds=[0], data_kwargs=DATA,
                                epochs=1)


def _candidates(per_scale):
    rows = [{"variant": "Fourier on", "fourier_scale": s, "seed": i, "val_mse": v, "diverged": not math.isfinite(v)}
            for s, values in per_scale.items() for i, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_selected_scale_is_the_lowest_mean_validation_error():
    best, summary = selected_scale(_candidates({1.0: [0.3, 0.4], 4.0: [0.01, 0.03], 16.0: [0.2, 0.1]}))
    assert best == 4.0
    assert summary.loc[summary.selected, "fourier_scale"].tolist() == [4.0]


def test_selected_scale_never_picks_a_scale_at_which_a_seed_diverged():
    best, _ = selected_scale(_candidates({1.0: [0.3, 0.4], 4.0: [0.001, math.nan]}))
    assert best == 1.0


def test_selected_scale_breaks_a_tie_towards_the_smaller_scale():
    best, _ = selected_scale(_candidates({2.0: [0.1, 0.2], 8.0: [0.2, 0.1]}))
    assert best == 2.0


def test_selected_scale_refuses_when_every_scale_diverged():
    with pytest.raises(ValueError, match="no Fourier scale"):
        selected_scale(_candidates({1.0: [math.nan, 0.1]}))


# ----------------------------------------------------------------------------- the chapter's rule


def _errors(high_on, high_off, epochs=100):
    """An errors table (the layout of fourier_ablation) with the given final f = 10 errors per seed."""
    rows = []
    for variant, values in (("on", high_on), ("off", high_off)):
        for seed, v in enumerate(values):
            for f, final in ((1.0, 0.1), (10.0, v)):
                rows.append({"variant": variant, "seed": seed, "epoch": 0, "frequency": f, "relative_error": 1.0})
                rows.append({"variant": variant, "seed": seed, "epoch": epochs, "frequency": f,
                             "relative_error": final})
    return pd.DataFrame(rows)


def _bias_verdict(errors):
    """Chapter 7's rule for fourier_reduces_spectral_bias: the paired difference (on - off) of
    the final error of the high-frequency component lies below 0."""
    d = frequency_error_difference(errors, "on", "off", 10.0)
    return sign_rule(d.mean_difference, d.ci_low, d.ci_high, expect="negative", what="on - off")


def test_bias_rule_is_supported_when_the_embedding_lowers_the_high_frequency_error_on_every_seed():
    assert _bias_verdict(_errors([0.05, 0.1, 0.08], [0.9, 0.95, 0.92])).verdict == SUPPORTED


def test_bias_rule_is_not_supported_when_the_embedding_raises_the_high_frequency_error():
    assert _bias_verdict(_errors([0.9, 0.95, 0.92], [0.05, 0.1, 0.08])).verdict == NOT_SUPPORTED


def test_bias_rule_is_inconclusive_when_the_difference_changes_sign_across_seeds():
    assert _bias_verdict(_errors([0.2, 0.9, 0.5], [0.8, 0.3, 0.55])).verdict == INCONCLUSIVE


def test_bias_rule_is_inconclusive_when_a_run_diverged():
    assert _bias_verdict(_errors([0.05, math.nan, 0.08], [0.9, 0.95, 0.92])).verdict == INCONCLUSIVE


def test_final_errors_takes_each_runs_last_epoch():
    wide = final_errors(_errors([0.05, 0.1], [0.9, 0.95]))
    assert wide[("on", 10.0)].tolist() == [0.05, 0.1] and wide[("off", 1.0)].tolist() == [0.1, 0.1]
