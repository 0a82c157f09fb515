"""Specification of ntkbook.ntk's bad-input errors: each names the argument, what is allowed and what came.

Every error is an ``InvalidParameterError`` (both a ValueError and a TypeError) in the package's
one wording: "The 'x' parameter of F must be ... Got ... instead."
"""

import re

import pytest
import torch
from torch import nn

from ntkbook._validation import InvalidParameterError
from ntkbook.ntk import empirical_ntk, expected_ntk, ntk_eigenvalues, ntk_operator, ntk_spectrum


def mlp(d_in=3, d_out=1, dtype=torch.float64):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d_in, 8), nn.Tanh(), nn.Linear(8, d_out)).to(dtype)


def batch(n=5, d=3, dtype=torch.float64):
    return torch.randn(n, d, dtype=dtype)


class Head(nn.Module):
    """A dense layer followed by a fixed function of its output."""

    def __init__(self, fn, d_in=3, width=4):
        super().__init__()
        self.fc, self.fn = nn.Linear(d_in, width).double(), fn

    def forward(self, x):
        return self.fn(self.fc(x))


# ----------------------------------------------------------------------------- the inputs


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool], ids=["int", "bool"])
def test_integer_or_bool_batch_for_a_float_model_names_x1_and_asks_for_floats(dtype):
    with pytest.raises(InvalidParameterError, match=rf"'x1' parameter of empirical_ntk must be a floating-point tensor.*{dtype}"):
        empirical_ntk(mlp(), torch.ones(4, 3, dtype=dtype))


def test_integer_batch_reaches_a_model_that_takes_one():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Tanh(), nn.Linear(8, 1)).double()
    x = torch.randint(0, 10, (5, 2))
    theta = empirical_ntk(model, x, method="jacobian")
    assert torch.allclose(empirical_ntk(model, x), theta, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 5), (4,), (4, 3, 1)], ids=["features", "1-d", "3-d"])
def test_batch_the_model_cannot_take_names_x1_and_its_shape(shape):
    shown = re.escape(str(shape))
    with pytest.raises(InvalidParameterError, match=rf"'x1' parameter of empirical_ntk.*Got a tensor of shape {shown}"):
        empirical_ntk(mlp(), torch.randn(*shape, dtype=torch.float64))


def test_1d_batch_read_as_one_sample_names_x1_and_its_shape():
    with pytest.raises(InvalidParameterError, match=r"'x1'.*samples along its first dimension.*shape \(4,\)"):
        empirical_ntk(mlp(d_in=2), torch.randn(4, dtype=torch.float64))


def test_operator_and_eigenvalues_name_x_for_a_batch_the_model_cannot_take():
    for f in (ntk_operator, ntk_eigenvalues):
        with pytest.raises(InvalidParameterError, match=rf"'x' parameter of {f.__name__}.*shape \(4, 5\)"):
            f(mlp(), torch.randn(4, 5, dtype=torch.float64))


def test_mismatched_feature_shapes_name_x2():
    with pytest.raises(InvalidParameterError, match="'x2'.*same per-sample shape"):
        empirical_ntk(mlp(), batch(), batch(4, 5))


def test_x2_of_another_dtype_than_x1_names_x2():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(8, 1)).double()
    with pytest.raises(InvalidParameterError, match="'x2'.*dtype"):
        empirical_ntk(model, torch.randint(0, 10, (5, 2)), torch.zeros(3, 2, dtype=torch.float64))


def test_empty_batch_is_refused():
    with pytest.raises(InvalidParameterError, match="'x1'.*empty"):
        empirical_ntk(mlp(), batch()[:0])
    with pytest.raises(InvalidParameterError, match="'x2'.*empty"):
        empirical_ntk(mlp(), batch(), batch()[:0])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_are_refused(bad):
    x = batch()
    x[2, 1] = bad
    with pytest.raises(InvalidParameterError, match="'x1' parameter of empirical_ntk must hold only finite values"):
        empirical_ntk(mlp(), x)


def test_model_on_another_device_than_x_is_refused():
    with pytest.raises(InvalidParameterError, match="'x1'.*device meta.*cpu"):
        empirical_ntk(mlp(), torch.empty(5, 3, dtype=torch.float64, device="meta"))


def test_dtype_mismatch_is_refused():
    with pytest.raises(InvalidParameterError, match="'x1'.*dtype"):
        empirical_ntk(mlp(), batch().float())


def test_non_tensor_input_and_non_module_model_are_type_errors():
    with pytest.raises(TypeError, match="'x1'.*torch.Tensor.*Got a list"):
        empirical_ntk(mlp(), batch().tolist())
    with pytest.raises(TypeError, match="'model'.*nn.Module.*Got a function"):
        empirical_ntk(lambda x: x, batch())


# ----------------------------------------------------------------------------- the model


def test_non_finite_parameters_are_refused_with_their_name():
    model = mlp()
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    with pytest.raises(InvalidParameterError, match="'model'.*non-finite.*2.weight"):
        empirical_ntk(model, batch())


def test_output_that_overflows_is_reported_as_not_finite():
    model = nn.Sequential(nn.Linear(3, 8), nn.Linear(8, 1))
    with torch.no_grad():
        model[0].weight.mul_(1e38)
    with pytest.raises(InvalidParameterError, match="'model'.*must give finite outputs"):
        empirical_ntk(model, 1e3 * torch.randn(4, 3))


@pytest.mark.parametrize("method", ["auto", "jacobian"])
def test_zero_width_layer_is_refused_with_the_parameter_name(method):
    model = nn.Sequential(nn.Linear(3, 0), nn.Tanh(), nn.Linear(0, 1))
    with pytest.raises(InvalidParameterError, match=r"'model'.*empty trainable parameter.*'0.weight' of shape \(0, 3\)"):
        empirical_ntk(model, torch.randn(4, 3), method=method)


def test_model_with_no_outputs_is_refused():
    with pytest.raises(InvalidParameterError, match=r"'model'.*at least one floating-point output.*shape \(2, 0\)"):
        empirical_ntk(Head(lambda h: h[:, :0]), batch())


def test_model_with_integer_outputs_is_refused():
    with pytest.raises(InvalidParameterError, match="'model'.*floating-point output.*torch.int64"):
        empirical_ntk(Head(lambda h: h.argmax(-1, keepdim=True)), batch())


def test_depth_mask_on_a_model_without_the_contract_is_a_type_error():
    with pytest.raises(TypeError, match="'depth_mask'.*set_depth_mask"):
        empirical_ntk(mlp(), batch(), depth_mask=torch.ones(2))


def test_expected_ntk_needs_the_mask_contract():
    with pytest.raises(TypeError, match="sample_depth_mask"):
        expected_ntk(mlp(), batch(), n_samples=4, seed=0)


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 1).double()

    def sample_depth_mask(self, generator):
        return torch.ones(1)

    def set_depth_mask(self, mask):
        pass

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize("kw, match", [
    ({"n_samples": 1}, r"'n_samples' parameter of expected_ntk must be an int in the range \[2, inf\)"),
    ({"n_samples": 2.0}, "'n_samples'"),
    ({"seed": -1}, "'seed' parameter of expected_ntk"),
    ({"seed": "a"}, "'seed' parameter of expected_ntk"),
    ({"depth_mask": torch.ones(1)}, "'depth_mask'.*draws its own masks"),
])
def test_expected_ntk_arguments_are_checked_by_name(kw, match):
    args = {"n_samples": 3, "seed": 0, **kw}
    with pytest.raises(InvalidParameterError, match=match):
        expected_ntk(Masked(), batch(), **args)


# ----------------------------------------------------------------------------- the options


@pytest.mark.parametrize("kw, match", [
    ({"method": "magic"}, r"'method' parameter of empirical_ntk must be a str among "
                          r"\['auto', 'jacobian', 'ntvp', 'structured'\]. Got 'magic'"),
    ({"outputs": "diag"}, r"'outputs'.*\['full', 'trace'\]. Got 'diag'"),
    ({"mode": "train"}, "'mode'"),
    ({"block_size": 0}, r"'block_size'.*None or an int in the range \[1, inf\). Got 0"),
    ({"block_size": 2.5}, "'block_size'.*Got 2.5"),
    ({"block_size": True}, "'block_size'.*Got True"),
    ({"max_memory": -1}, r"'max_memory'.*\[1, inf\). Got -1"),
    ({"out_device": "nowhere"}, "'out_device'.*Got 'nowhere'"),
])
def test_unknown_options_are_refused_by_name(kw, match):
    with pytest.raises(InvalidParameterError, match=match):
        empirical_ntk(mlp(), batch(), **kw)


@pytest.mark.parametrize("device", ["cuda:7", f"cuda:{torch.cuda.device_count()}"])
def test_a_device_this_machine_lacks_is_refused_by_name(device):
    match = rf"'out_device' parameter of empirical_ntk must be None or a device this machine has.*Got '{device}'"
    with pytest.raises(InvalidParameterError, match=match):
        empirical_ntk(mlp(), batch(), out_device=device)


def test_block_size_beyond_max_memory_is_refused():
    with pytest.raises(InvalidParameterError, match="'block_size'.*must fit in max_memory"):
        empirical_ntk(mlp(), batch(40), method="jacobian", block_size=40, max_memory=20_000)


@pytest.mark.parametrize("method", ["jacobian", "ntvp", "structured"])
def test_max_memory_too_small_for_one_block_is_refused(method):
    with pytest.raises(InvalidParameterError, match="'max_memory'.*too small for even one block"):
        empirical_ntk(mlp(), batch(), method=method, max_memory=100)


def test_operator_has_no_jacobian_method():
    match = r"'method' parameter of ntk_operator.*\['auto', 'ntvp', 'structured'\]. Got 'jacobian'"
    with pytest.raises(InvalidParameterError, match=match):
        ntk_operator(mlp(), batch(), method="jacobian")


def test_operator_refuses_a_vector_of_the_wrong_length_by_name():
    op = ntk_operator(mlp(), batch())
    with pytest.raises(InvalidParameterError, match=r"'V'.*shape \(5,\) or \(5, k\). Got shape \(4,\)"):
        op(torch.ones(4, dtype=torch.float64))


def test_eigenvalue_options_are_checked():
    model, x = mlp(), batch()
    with pytest.raises(InvalidParameterError, match="'which'"):
        ntk_eigenvalues(model, x, k=2, which="middle")
    with pytest.raises(InvalidParameterError, match="'k'"):
        ntk_eigenvalues(model, x, k=0)
    with pytest.raises(InvalidParameterError, match=r"'k' parameter of ntk_eigenvalues.*\[1, 5\]. Got 6"):
        ntk_eigenvalues(model, x, k=6)
    with pytest.raises(InvalidParameterError, match="'solver'.*matrix_free"):
        ntk_eigenvalues(model, x, k=2, solver="eigvalsh", matrix_free=True)


def test_ntk_spectrum_names_theta_when_it_is_no_matrix():
    with pytest.raises(InvalidParameterError, match="'theta'.*square matrix.*Got shape \\(2, 3\\)"):
        ntk_spectrum(torch.ones(2, 3))
    with pytest.raises(InvalidParameterError, match="'theta'.*Got a list"):
        ntk_spectrum([[1.0, 0.0], [0.0, 1.0]])
