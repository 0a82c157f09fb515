"""Chapter 1 (the empirical NTK): the package's methods agree and are timed."""

import pytest
import torch

from ntkbook.experiments.theory import compare_ntk_methods


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(),
                               torch.nn.Linear(32, 1)).double()


def test_all_ntk_methods_agree_to_round_off_in_float64():
    x = torch.randn(12, 3, dtype=torch.float64)
    df = compare_ntk_methods(_mlp(), x)
    assert set(df["method"]) == {"jacobian", "ntvp", "structured", "auto"}
    assert df["max_rel_diff"].max() <= 1e-10


def test_compare_ntk_methods_reports_positive_times_and_the_auto_choice():
    df = compare_ntk_methods(_mlp(), torch.randn(6, 3, dtype=torch.float64), ["jacobian", "auto"])
    assert (df["seconds"] > 0).all()
    assert df.set_index("method").loc["auto", "chosen"] in {"jacobian", "ntvp", "structured"}


def test_the_reference_method_differs_from_itself_by_exactly_zero():
    x = torch.randn(6, 3, dtype=torch.float64)
    df = compare_ntk_methods(_mlp(), x, ["jacobian"])
    assert df["rel_diff"].iloc[0] == 0.0


def test_compare_ntk_methods_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="'methods' parameter of compare_ntk_methods"):
        compare_ntk_methods(_mlp(), torch.randn(4, 3, dtype=torch.float64), ["jacobian", "magic"])


def test_compare_ntk_methods_requires_the_reference_among_the_methods():
    with pytest.raises(ValueError, match="'reference' parameter"):
        compare_ntk_methods(_mlp(), torch.randn(4, 3, dtype=torch.float64), ["ntvp"], reference="jacobian")


# ----------------------------------------------------------------------------- the two sanity checks can fail
# The chapter's rules, on matrices built to pass or to fail: threshold_rule(measured, at_most=allowance).

def _check_psd(matrix):
    from ntkbook.claims.rules import threshold_rule
    from ntkbook.experiments.theory import psd_defect, psd_tolerance

    return threshold_rule(psd_defect(matrix)["defect"], at_most=psd_tolerance(matrix.shape[0], torch.float64)).verdict


def _check_methods(kernel, reference):
    from ntkbook.claims.rules import threshold_rule
    from ntkbook.experiments.theory import METHOD_TOLERANCE, max_relative_difference

    return threshold_rule(max_relative_difference(kernel, reference), at_most=METHOD_TOLERANCE["float64"]).verdict


def _gram(n=10, p=30, seed=0):
    j = torch.randn(n, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return j @ j.T


def test_psd_check_passes_a_gram_matrix():
    from ntkbook.claims.rules import SUPPORTED

    assert _check_psd(_gram()) == SUPPORTED


def test_psd_check_fails_a_symmetric_matrix_with_a_small_negative_eigenvalue():
    from ntkbook.claims.rules import NOT_SUPPORTED

    g = _gram()
    evals, evecs = torch.linalg.eigh(g)
    u = evecs[:, :1]
    indefinite = g - (evals[0] + 1e-8 * evals[-1]) * (u @ u.T)  # lambda_min -> -1e-8 lambda_max
    assert _check_psd(indefinite) == NOT_SUPPORTED


def test_psd_check_fails_a_matrix_with_an_antisymmetric_part():
    from ntkbook.claims.rules import NOT_SUPPORTED

    g = _gram()
    a = torch.triu(torch.ones_like(g), diagonal=1)
    assert _check_psd(g + 1e-8 * g.norm() * (a - a.T)) == NOT_SUPPORTED


def test_psd_check_is_inconclusive_on_a_non_finite_matrix():
    from ntkbook.claims.rules import INCONCLUSIVE

    g = _gram()
    g[0, 1] = g[1, 0] = float("nan")
    assert _check_psd(g) == INCONCLUSIVE


def test_methods_check_passes_kernels_equal_up_to_round_off():
    from ntkbook.claims.rules import SUPPORTED
    from ntkbook.ntk import empirical_ntk

    x = torch.randn(8, 3, dtype=torch.float64)
    m = _mlp()
    assert _check_methods(empirical_ntk(m, x, method="structured"), empirical_ntk(m, x, method="jacobian")) == SUPPORTED


def test_methods_check_fails_a_kernel_with_one_layer_left_out():
    from ntkbook.claims.rules import NOT_SUPPORTED
    from ntkbook.ntk import empirical_ntk

    x = torch.randn(8, 3, dtype=torch.float64)
    m = _mlp()
    reference = empirical_ntk(m, x, method="jacobian")
    for p in m[0].parameters():  # the first layer's term leaves the sum
        p.requires_grad_(False)
    assert _check_methods(empirical_ntk(m, x, method="structured"), reference) == NOT_SUPPORTED


def test_methods_check_is_inconclusive_on_a_non_finite_kernel():
    from ntkbook.claims.rules import INCONCLUSIVE

    g = _gram()
    bad = g.clone()
    bad[2, 2] = float("inf")
    assert _check_methods(bad, g) == INCONCLUSIVE


def test_psd_defect_reports_the_asymmetry_and_the_negative_eigenvalue():
    from ntkbook.experiments.theory import psd_defect

    d = psd_defect(torch.tensor([[2.0, 0.0], [0.0, -1.0]], dtype=torch.float64))
    assert d["asymmetry"] == 0.0 and d["neg_ratio"] == pytest.approx(0.5) and d["defect"] == pytest.approx(0.5)
