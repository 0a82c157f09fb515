"""Chapter 7 (Fourier ablation): per-frequency errors, mode rates, stable steps."""

import numpy as np
import pytest
import torch

from ntkbook.data import load_dataset
from ntkbook.experiments.runs import paired_comparison
from ntkbook.experiments.mechanisms import FrequencyErrorTracker, fourier_ablation, init_spectra, mode_rates, stable_lr
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
