"""Chapter 5 (the architecture): spectra at initialization of ECRN variants and baselines."""

import numpy as np
import pytest
import torch

from ntkbook.experiments.runs import paired_comparison
from ntkbook.experiments.mechanisms import SPECTRUM_METRICS, init_spectra
from ntkbook.ntk import empirical_ntk
from ntkbook.models import ECRN


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def x():
    g = torch.Generator().manual_seed(0)
    return torch.rand(40, 2, generator=g, dtype=torch.float64)  # (N, d) uniform on [0, 1]^2


SMALL = dict(width=64, depth=3)


def test_init_spectra_returns_descending_eigenvalues_per_seed(x):
    eigs, _ = init_spectra({"ECRN": ("ecrn", SMALL)}, x, seeds=[0, 1])
    assert eigs["ECRN"].shape == (2, 40)
    assert np.all(np.diff(eigs["ECRN"], axis=1) <= 1e-9)


def test_init_spectra_table_has_every_metric_for_every_seed(x):
    _, table = init_spectra({"ECRN": ("ecrn", SMALL), "MLP": ("mlp", SMALL)}, x, seeds=[0, 1])
    counts = table.groupby(["model", "metric"])["seed"].nunique()
    assert set(table["metric"]) == set(SPECTRUM_METRICS)
    assert (counts == 2).all()


def test_init_spectra_eigenvalues_match_the_empirical_ntk(x):
    eigs, _ = init_spectra({"ECRN": ("ecrn", {**SMALL, "drop_prob": 0.0})}, x, seeds=[3])
    model = ECRN(2, **SMALL, drop_prob=0.0, seed=3).double()
    expected = torch.linalg.eigvalsh(empirical_ntk(model, x)).flip(0).numpy()
    np.testing.assert_allclose(eigs["ECRN"][0], expected, rtol=1e-8, atol=1e-8)


def test_init_spectra_averages_over_depth_masks_when_asked(x):
    spec = {"ECRN": ("ecrn", {**SMALL, "drop_prob": 0.5})}
    eval_mode, _ = init_spectra(spec, x, seeds=[0])
    masked, _ = init_spectra(spec, x, seeds=[0], n_masks=4)
    assert not np.allclose(eval_mode["ECRN"], masked["ECRN"])


def test_init_spectra_rejects_a_malformed_spec(x):
    with pytest.raises(ValueError, match="'specs' parameter of init_spectra"):
        init_spectra({"ECRN": "ecrn"}, x, seeds=[0])


def test_init_spectra_rejects_repeated_seeds(x):
    with pytest.raises(ValueError, match="'seeds' parameter of init_spectra"):
        init_spectra({"ECRN": ("ecrn", SMALL)}, x, seeds=[0, 0])


def test_removing_the_fourier_embedding_lowers_the_effective_rank(x):
    specs = {"on": ("ecrn", SMALL), "off": ("ecrn", {**SMALL, "n_fourier": 0})}
    _, table = init_spectra(specs, x, seeds=[0, 1, 2])
    cmp = paired_comparison(table, "on", "off", "effective_rank", split="init")
    assert cmp.ci_low > 0


def test_ecrn_has_a_larger_effective_rank_than_an_mlp_of_the_same_size(x):
    """The chapter's claim ecrn_spectrum_vs_baselines, at small size."""
    specs = {"ECRN": ("ecrn", SMALL), "MLP": ("mlp", {**SMALL, "activation": "tanh"}),
             "ResNet": ("resnet", {**SMALL, "activation": "tanh"})}
    _, table = init_spectra(specs, x, seeds=[0, 1, 2])
    assert paired_comparison(table, "ECRN", "MLP", "effective_rank", split="init").ci_low > 0
    assert paired_comparison(table, "ECRN", "ResNet", "effective_rank", split="init").ci_low > 0
