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
