"""Chapter 5 (the architecture): spectra at initialization of ECRN variants and baselines."""

import numpy as np
import pandas as pd
import pytest
import torch

from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, sign_rule, weakest_verdict
from ntkbook.experiments.runs import RESULT_COLUMNS, paired_comparison
from ntkbook.experiments.mechanisms import SPECTRUM_METRICS, init_spectra, standardize_inputs
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


def test_standardized_inputs_have_zero_mean_and_unit_spread(x):
    z = standardize_inputs(x)
    assert z.shape == x.shape and z.dtype == x.dtype
    torch.testing.assert_close(z.mean(0), torch.zeros(2, dtype=x.dtype), atol=1e-12, rtol=0)
    torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(2, dtype=x.dtype))


def test_standardize_only_centres_a_coordinate_without_spread():
    x = torch.tensor([[1.0, 5.0], [3.0, 5.0]], dtype=torch.float64)
    z = standardize_inputs(x)
    assert torch.equal(z[:, 1], torch.zeros(2, dtype=torch.float64))
    assert torch.equal(z[:, 0], torch.tensor([-1.0, 1.0], dtype=torch.float64))


def test_standardize_rejects_integer_or_one_dimensional_inputs():
    with pytest.raises(TypeError, match="'x' parameter of standardize_inputs"):
        standardize_inputs(torch.arange(6).reshape(3, 2))
    with pytest.raises(TypeError, match="'x' parameter of standardize_inputs"):
        standardize_inputs(torch.rand(5, dtype=torch.float64))


def test_an_input_offset_presses_the_effective_rank_of_a_plain_network_down(x):
    """Why chapter 5 centres its inputs: on [0, 1]^d the kernel has one dominant mode."""
    spec = {"MLP": ("mlp", {**SMALL, "activation": "tanh"})}
    _, raw = init_spectra(spec, x, seeds=[0, 1])
    _, centred = init_spectra(spec, standardize_inputs(x), seeds=[0, 1])
    rank = lambda t: t[t.metric == "effective_rank"]["value"].mean()  # noqa: E731
    assert rank(centred) > 1.5 * rank(raw)


def test_ecrn_has_a_larger_effective_rank_than_an_mlp_and_a_resnet_on_standardized_inputs(x):
    """The chapter's claim ecrn_spectrum_vs_baselines, at small size."""
    specs = {"ECRN": ("ecrn", SMALL), "MLP": ("mlp", {**SMALL, "activation": "tanh"}),
             "ResNet": ("resnet", {**SMALL, "activation": "tanh"})}
    _, table = init_spectra(specs, standardize_inputs(x), seeds=[0, 1, 2])
    assert _chapter_verdict(table).verdict == SUPPORTED


# ----------------------------------------------------------------------------- the chapter's rule


def _chapter_verdict(table):
    """The rule of chapter 5: a sign rule per baseline on the paired difference of effective
    ranks (ECRN minus baseline), and the weaker of the two verdicts."""
    rules = []
    for base in ("MLP", "ResNet"):
        c = paired_comparison(table, "ECRN", base, "effective_rank", split="init")
        rules.append(sign_rule(c.mean_difference, c.ci_low, c.ci_high, expect="positive",
                               what=f"ECRN minus {base}"))
    return weakest_verdict(rules)


def _ranks(per_model):
    """A spectra table (the layout of init_spectra) with the given effective ranks per seed."""
    rows = [{"model": model, "seed": seed, "epoch": 0, "split": "init", "metric": "effective_rank", "value": v}
            for model, values in per_model.items() for seed, v in enumerate(values)]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def test_chapter_rule_is_supported_when_the_ecrn_beats_both_baselines_on_every_seed():
    table = _ranks({"ECRN": [20.0, 22.0, 21.0], "MLP": [3.0, 3.2, 2.9], "ResNet": [3.1, 3.0, 3.3]})
    assert _chapter_verdict(table).verdict == SUPPORTED


def test_chapter_rule_is_not_supported_when_one_baseline_has_the_larger_rank():
    table = _ranks({"ECRN": [20.0, 22.0, 21.0], "MLP": [3.0, 3.2, 2.9], "ResNet": [30.0, 31.0, 29.5]})
    assert _chapter_verdict(table).verdict == NOT_SUPPORTED


def test_chapter_rule_is_inconclusive_when_one_difference_changes_sign_across_seeds():
    table = _ranks({"ECRN": [20.0, 22.0, 21.0], "MLP": [3.0, 3.2, 2.9], "ResNet": [25.0, 18.0, 21.5]})
    assert _chapter_verdict(table).verdict == INCONCLUSIVE
