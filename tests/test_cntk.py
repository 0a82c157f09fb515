"""Specification of ntkbook.cntk: the infinite-width kernels of ReLU CNNs (3x3 SAME convolutions).

The independent computations: the empirical NTK of wide random CNNs (nn.Conv2d, padding 1,
NTK parameterization: ntkbook.convnet.ConvNet) with the package's own engine, and the Monte
Carlo covariance of their outputs; on 1 x 1 images, the MLP kernels of ntkbook.analytic.
"""

import math

import numpy as np
import pytest
import torch

from ntkbook._validation import InvalidParameterError
from ntkbook.analytic import gaussian_expectations, mlp_kernels
from ntkbook.cntk import _relu_moments, block_memory, cntk_kernels, cntk_kernels_by_depth
from ntkbook.convnet import ConvNet
from ntkbook.ntk import empirical_ntk
from ntkbook.stats import loglog_slope


def _images(n=6, c=3, h=5, w=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, h, w, generator=g, dtype=dtype)


def _relative(a, b):
    return float((a - b).norm() / b.norm())


def _mean_empirical(x, channels, readout, depth=2, n_nets=3, seed=0):
    kernels = [empirical_ntk(ConvNet(x.shape[1], 1, channels=channels, depth=depth, readout=readout,
                                     image_size=tuple(x.shape[2:]), seed=seed + s).double(), x)
               for s in range(n_nets)]
    return torch.stack(kernels).mean(0)


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_mean_empirical_ntk_of_wide_cnns_approaches_the_cntk_at_the_central_limit_rate(readout):
    x = _images(5, 3, 4, 4)
    ntk = cntk_kernels(x, depth=2, readout=readout)[1]
    channels = [16, 64, 256]
    errors = [np.mean([_relative(_mean_empirical(x, n, readout, seed=10 * r), ntk) for r in range(3)])
              for n in channels]
    slope, _ = loglog_slope(channels, errors)
    assert errors[-1] < errors[0] / 2, errors
    assert -0.85 < slope < -0.3, (slope, errors)


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_nngp_matches_the_monte_carlo_covariance_of_random_cnn_outputs(readout):
    x = _images(4, 2, 4, 4, seed=1)
    nngp = cntk_kernels(x, depth=2, readout=readout)[0]
    outs = torch.stack([ConvNet(2, 1, channels=64, depth=2, readout=readout, image_size=(4, 4), seed=s).double()(x)[:, 0]
                        for s in range(400)]).detach()  # (S, N)
    mc = outs.T @ outs / len(outs)
    # 400 draws: the standard error of a covariance is ~ sqrt(2 / 400) = 7 % of its scale
    assert _relative(mc, nngp) < 0.2


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_kernels_are_symmetric_and_positive_semidefinite(readout):
    x = _images(8, 3, 5, 5, seed=2)
    for k in cntk_kernels(x, depth=3, readout=readout):
        assert torch.equal(k, k.T)
        assert float(torch.linalg.eigvalsh(k)[0]) > -1e-10 * float(k.diagonal().max())


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_one_pixel_images_reduce_to_the_mlp_kernels_with_a_ninth_of_the_weight_variance(readout):
    # a 3x3 SAME filter on a 1 x 1 image uses its centre tap of a fan-in of 9 C: w_std / 3 in the hidden layers
    x = _images(6, 4, 1, 1, seed=3)
    w, b = 1.3, 0.2
    cnn = cntk_kernels(x, depth=3, readout=readout, w_std=w, b_std=b)
    mlp = mlp_kernels(x.flatten(1), depth=3, w_std=w / 3, b_std=b)
    for k_cnn, k_mlp in zip(cnn, mlp):
        torch.testing.assert_close(k_cnn, 9 * k_mlp - 8 * b**2, rtol=1e-8, atol=1e-12)  # arccos near rho = 1


def test_flatten_and_gap_readouts_differ_on_images_larger_than_one_pixel():
    x = _images(4, 3, 4, 4, seed=4)
    assert _relative(cntk_kernels(x, depth=2, readout="gap")[1], cntk_kernels(x, depth=2)[1]) > 1e-3


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_float32_agrees_with_float64_to_single_precision(readout):
    x = _images(5, 3, 4, 4, seed=5)
    k64 = cntk_kernels(x, depth=3, readout=readout)[1]
    k32 = cntk_kernels(x.float(), depth=3, readout=readout)[1]
    assert k32.dtype == torch.float32
    assert _relative(k32.double(), k64) < 1e-4  # measured 2e-5 at depth 3: arccos is ill-conditioned near rho = 1


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_blocked_computation_equals_one_block(readout):
    x = _images(7, 3, 4, 4, seed=6)
    whole = cntk_kernels(x, depth=2, readout=readout, block_size=100)
    blocked = cntk_kernels(x, depth=2, readout=readout, block_size=2)
    tiny_memory = cntk_kernels(x, depth=2, readout=readout, max_memory=1)
    for a, b, c in zip(whole, blocked, tiny_memory):
        torch.testing.assert_close(b, a, rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(c, a, rtol=1e-13, atol=1e-13)


def test_cross_kernel_equals_the_block_of_the_joint_kernel():
    x = _images(7, 3, 4, 4, seed=7)
    joint = cntk_kernels(x, depth=2)[1]
    torch.testing.assert_close(cntk_kernels(x[:3], x[3:], depth=2, block_size=2)[1], joint[:3, 3:],
                               rtol=1e-13, atol=1e-13)


def test_kernels_of_several_depths_in_one_pass_equal_separate_calls():
    x = _images(4, 3, 4, 4, seed=8)
    by_depth = cntk_kernels_by_depth(x, depths=[1, 3])
    for d in (1, 3):
        torch.testing.assert_close(by_depth[d][1], cntk_kernels(x, depth=d)[1], rtol=0, atol=0)


def test_fused_relu_moments_equal_the_analytic_closed_form():
    g = torch.Generator().manual_seed(9)
    q = torch.rand(5, 1, generator=g, dtype=torch.float64) + 0.1
    r = torch.rand(1, 7, generator=g, dtype=torch.float64) + 0.1
    c = (2 * torch.rand(5, 7, generator=g, dtype=torch.float64) - 1) * torch.sqrt(q * r)
    for mine, ref in zip(_relu_moments(q, r, c), gaussian_expectations("relu", q, r, c)):
        torch.testing.assert_close(mine, ref, rtol=1e-12, atol=1e-14)


def test_block_memory_of_gap_is_pixels_times_that_of_flatten():
    assert block_memory(3, 4, 64, "gap", 8) == 64 * block_memory(3, 4, 64, "flatten", 8)


def test_result_follows_the_device_and_dtype_of_x1():
    x = _images(3, 2, 3, 3, dtype=torch.float32)
    nngp, ntk = cntk_kernels(x, x.double(), depth=1)
    assert nngp.dtype == ntk.dtype == torch.float32 and ntk.device == x.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_kernels_equal_cpu_kernels():
    x = _images(5, 3, 4, 4)
    torch.testing.assert_close(cntk_kernels(x.cuda(), depth=2, readout="gap")[1].cpu(),
                               cntk_kernels(x, depth=2, readout="gap")[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kwargs,match", [
    ({"depth": 0}, "'depth' parameter of cntk_kernels must be an int in the range \\[1, inf\\)"),
    ({"depth": 2, "readout": "max"}, "'readout' parameter of cntk_kernels"),
    ({"depth": 2, "w_std": -1.0}, "'w_std' parameter of cntk_kernels"),
    ({"depth": 2, "block_size": 0}, "'block_size' parameter of cntk_kernels"),
])
def test_bad_arguments_are_refused_with_a_message_naming_them(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        cntk_kernels(_images(2, 1, 2, 2), **kwargs)


def test_non_image_inputs_are_refused():
    with pytest.raises(InvalidParameterError, match="'x1' parameter of cntk_kernels must be a 4-D"):
        cntk_kernels(torch.randn(4, 3, dtype=torch.float64), depth=1)
    with pytest.raises(InvalidParameterError, match="'x2' parameter of cntk_kernels"):
        cntk_kernels(_images(2, 1, 3, 3), _images(2, 1, 4, 4), depth=1)


def test_non_finite_images_are_refused():
    x = _images(2, 1, 2, 2)
    x[0, 0, 0, 0] = math.nan
    with pytest.raises(InvalidParameterError, match="only finite values"):
        cntk_kernels(x, depth=1)


def test_the_cntk_is_importable_from_the_analytic_kernels_module():
    import ntkbook.analytic as analytic
    import ntkbook.cntk as cntk

    assert analytic.cntk_kernels is cntk.cntk_kernels
    assert analytic.cntk_kernels_by_depth is cntk.cntk_kernels_by_depth
