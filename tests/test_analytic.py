"""Specifications of ntkbook.analytic: closed forms, quadrature, Fourier kernels, and the
convergence of the empirical NTK of MLP and ECRN to the infinite-width kernels."""

import math

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev, vmap

from ntkbook.analytic import (
    ecrn_kernels,
    expected_fourier_kernel,
    fourier_kernel,
    gaussian_expectations,
    gaussian_mean,
    mlp_kernels,
    model_kernels,
)
from ntkbook._validation import InvalidParameterError
from ntkbook.models import ECRN, MLP, Dense, ResNet

F64 = torch.float64


def covariances(seed=0, n1=4, n2=3):
    """Random variances q (n1, 1), r (1, n2) and covariances c (n1, n2) with |rho| <= 1."""
    g = torch.Generator().manual_seed(seed)
    q = 0.2 + 2 * torch.rand(n1, 1, generator=g, dtype=F64)
    r = 0.2 + 2 * torch.rand(1, n2, generator=g, dtype=F64)
    rho = 2 * torch.rand(n1, n2, generator=g, dtype=F64) - 1
    rho[0, 0] = 1.0
    return q, r, rho * torch.sqrt(q * r)


# ----------------------------------------------------------------------------- closed forms
def test_relu_kernel_matches_cho_saul_arc_cosine_kernel():
    # Cho & Saul 2009: k_n(x, y) = 2 E_w[H(w.x) H(w.y) (w.x)^n (w.y)^n] = |x|^n |y|^n J_n(theta) / pi
    # with J_0 = pi - theta and J_1 = sin theta + (pi - theta) cos theta, for w ~ N(0, I).
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    theta = np.arccos(np.sum(x * y, 1) / (nx * ny))
    k1 = nx * ny * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / np.pi
    k0 = (np.pi - theta) / np.pi
    q, r, c = (torch.tensor(v) for v in (nx**2, ny**2, np.sum(x * y, 1)))
    e, de = gaussian_expectations("relu", q, r, c)
    np.testing.assert_allclose(e.numpy(), k1 / 2, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(de.numpy(), k0 / 2, rtol=1e-6, atol=1e-12)


def test_erf_kernel_matches_williams_closed_form():
    # Williams 1997: E[erf(w.x) erf(w.y)] = (2/pi) arcsin(2 x^T S y / sqrt((1 + 2 x^T S x)(1 + 2 y^T S y)))
    # for w ~ N(0, S); its c-derivative (Price's theorem) gives E[erf' erf'].
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 4))
    S = A @ A.T / 4
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    xs, ys, xy = (np.einsum("ni,ij,nj->n", a, S, b) for a, b in ((x, x), (y, y), (x, y)))
    expected = 2 / np.pi * np.arcsin(2 * xy / np.sqrt((1 + 2 * xs) * (1 + 2 * ys)))
    e, de = gaussian_expectations("erf", *(torch.tensor(v) for v in (xs, ys, xy)))
    np.testing.assert_allclose(e.numpy(), expected, rtol=1e-6, atol=1e-12)
    h = 1e-6
    up = 2 / np.pi * np.arcsin(2 * (xy + h) / np.sqrt((1 + 2 * xs) * (1 + 2 * ys)))
    down = 2 / np.pi * np.arcsin(2 * (xy - h) / np.sqrt((1 + 2 * xs) * (1 + 2 * ys)))
    np.testing.assert_allclose(de.numpy(), (up - down) / (2 * h), rtol=1e-6)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu"])
def test_gaussian_expectations_agree_with_monte_carlo(activation):
    q, r, c = covariances(seed=2, n1=3, n2=3)
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(2, 200_000, generator=g, dtype=F64)
    act, dact = {"relu": (torch.relu, lambda u: (u > 0).double()),
                 "erf": (torch.erf, lambda u: 2 / math.sqrt(math.pi) * torch.exp(-u * u)),
                 "tanh": (torch.tanh, lambda u: 1 / torch.cosh(u) ** 2),
                 "gelu": (torch.nn.functional.gelu, None)}[activation]
    e, de = gaussian_expectations(activation, q, r, c)
    for i in range(3):
        for j in range(3):
            rho = (c[i, j] / torch.sqrt(q[i, 0] * r[0, j])).clamp(-1, 1)
            u = q[i, 0].sqrt() * z1
            v = r[0, j].sqrt() * (rho * z1 + (1 - rho**2).sqrt() * z2)
            samples = act(u) * act(v)
            se = samples.std() / math.sqrt(samples.numel())
            assert abs(e[i, j] - samples.mean()) < 5 * se + 1e-12
            if dact is not None:
                dsamples = dact(u) * dact(v)
                dse = dsamples.std() / math.sqrt(dsamples.numel())
                assert abs(de[i, j] - dsamples.mean()) < 5 * dse + 1e-12


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu"])
def test_derivative_kernel_is_the_covariance_derivative_of_the_kernel(activation):
    # Price's theorem: d/dc E[act(u) act(v)] = E[act'(u) act'(v)].
    q, r, c = covariances(seed=4)
    c = 0.9 * c  # keep |rho| < 1 for the finite difference
    h = 1e-5
    up = gaussian_expectations(activation, q, r, c + h, method="auto", n_quad=128)[0]
    down = gaussian_expectations(activation, q, r, c - h, method="auto", n_quad=128)[0]
    de = gaussian_expectations(activation, q, r, c, n_quad=128)[1]
    torch.testing.assert_close((up - down) / (2 * h), de, rtol=1e-5, atol=1e-6)


def test_quadrature_reproduces_erf_closed_form_to_1e6():
    q, r, c = covariances(seed=5)
    closed = gaussian_expectations("erf", q, r, c, method="closed_form")
    quad = gaussian_expectations("erf", q, r, c, method="quadrature", n_quad=96)
    for a, b in zip(closed, quad):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_quadrature_approaches_relu_closed_form_as_nodes_grow():
    # relu has a kink, so Gauss-Hermite converges only algebraically: error halves as nodes double.
    q, r, c = covariances(seed=6)
    closed = gaussian_expectations("relu", q, r, c)[0]
    errors = [(gaussian_expectations("relu", q, r, c, method="quadrature", n_quad=n)[0]
               - closed).abs().max().item() for n in (32, 64, 128)]
    assert errors[2] < errors[1] < errors[0] < 1e-2
    assert errors[2] < 2e-3


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu"])
def test_gaussian_mean_matches_quadrature(activation):
    q = torch.tensor([0.3, 1.0, 2.5], dtype=F64)
    rtol = 5e-3 if activation == "relu" else 1e-8  # the relu kink slows quadrature to O(1/n)
    torch.testing.assert_close(gaussian_mean(activation, q),
                               gaussian_mean(activation, q, method="quadrature", n_quad=128),
                               rtol=rtol, atol=1e-10)


def test_closed_form_for_tanh_is_refused():
    q, r, c = covariances()
    with pytest.raises(ValueError, match="'method'.*'closed_form' only for activation"):
        gaussian_expectations("tanh", q, r, c, method="closed_form")
    with pytest.raises(ValueError, match="'method' parameter of mlp_kernels.*'closed_form' only"):
        mlp_kernels(torch.randn(3, 2, dtype=F64), depth=1, activation="tanh", method="closed_form")


@pytest.mark.parametrize("which", ["q", "r", "c"])
def test_gaussian_expectations_refuse_non_finite_moments(which):
    q, r, c = covariances()
    moments = {"q": q, "r": r, "c": c}
    moments[which] = moments[which].clone()
    moments[which].view(-1)[0] = float("nan")
    with pytest.raises(InvalidParameterError, match=f"'{which}' parameter of gaussian_expectations must hold only finite"):
        gaussian_expectations("relu", moments["q"], moments["r"], moments["c"])


def test_gaussian_moments_refuse_negative_variances():
    q, r, c = covariances()
    with pytest.raises(InvalidParameterError, match="'q' parameter of gaussian_expectations must hold variances"):
        gaussian_expectations("erf", -q, r, c)
    with pytest.raises(InvalidParameterError, match="'q' parameter of gaussian_mean must hold variances"):
        gaussian_mean("relu", -q)
    with pytest.raises(InvalidParameterError, match="'q' parameter of gaussian_mean must hold only finite"):
        gaussian_mean("relu", torch.tensor([float("inf")], dtype=F64))


# ----------------------------------------------------------------------------- Fourier kernels
def test_fourier_kernel_is_the_normalised_gram_of_the_embedding():
    model = ECRN(3, width=8, depth=1, n_fourier=32, fourier_scale=0.7, seed=0)
    x = torch.randn(6, 3, dtype=F64)
    phi = model.embed.double()(x)  # (N, 2m)
    torch.testing.assert_close(fourier_kernel(x, x, model.embed.B), phi @ phi.T / 64)


def test_fourier_kernel_diagonal_is_one_half():
    x = torch.randn(5, 2, dtype=F64)
    assert torch.allclose(fourier_kernel(x, x, torch.randn(7, 2)).diagonal(),
                          torch.full((5,), 0.5, dtype=F64))


def test_fourier_kernel_averages_to_its_gaussian_expectation():
    g = torch.Generator().manual_seed(0)
    x1, x2 = 0.3 * torch.randn(5, 2, generator=g, dtype=F64), 0.3 * torch.randn(4, 2, generator=g, dtype=F64)
    B = 1.5 * torch.randn(200_000, 2, generator=g, dtype=F64)
    expected = expected_fourier_kernel(x1, x2, fourier_scale=1.5)
    diff = x1[:, None] - x2[None]
    gauss = 0.5 * torch.exp(-2 * math.pi**2 * 1.5**2 * diff.square().sum(-1))
    torch.testing.assert_close(expected, gauss)
    torch.testing.assert_close(fourier_kernel(x1, x2, B), expected, rtol=0, atol=5e-3)


# ----------------------------------------------------------------------------- recursions
def test_mlp_kernels_one_hidden_relu_layer_by_hand():
    x = torch.randn(4, 3, dtype=F64)
    w, b = 1.3, 0.2
    s1 = w**2 * x @ x.T / 3 + b**2
    n = s1.diagonal().sqrt()
    theta = torch.arccos((s1 / torch.outer(n, n)).clamp(-1, 1))
    e = torch.outer(n, n) * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta)) / (2 * math.pi)
    nngp_expected = w**2 * e + b**2
    ntk_expected = nngp_expected + w**2 * (math.pi - theta) / (2 * math.pi) * s1
    nngp, ntk = mlp_kernels(x, depth=1, activation="relu", w_std=w, b_std=b)
    torch.testing.assert_close(nngp, nngp_expected)
    torch.testing.assert_close(ntk, ntk_expected)


def test_kernels_are_symmetric_and_positive_semidefinite():
    x = torch.randn(8, 2, dtype=F64)
    for nngp, ntk in (mlp_kernels(x, depth=3, activation="tanh"),
                      ecrn_kernels(x, depth=3, activation="relu", n_fourier=8)):
        for k in (nngp, ntk):
            torch.testing.assert_close(k, k.T)
            assert torch.linalg.eigvalsh(k).min() > -1e-10


def test_rectangular_blocks_agree_with_the_square_kernel():
    x = torch.randn(7, 3, dtype=F64)
    full = ecrn_kernels(x, depth=2, activation="gelu", fourier_scale=0.5)[1]
    block = ecrn_kernels(x[:3], x[3:], depth=2, activation="gelu", fourier_scale=0.5)[1]
    torch.testing.assert_close(block, full[:3, 3:])


def test_all_blocks_dropped_leaves_projection_and_readout():
    x = torch.randn(5, 2, dtype=F64)
    nngp, ntk = ecrn_kernels(x, depth=3, n_fourier=0, w_std=1.2, b_std=0.3, depth_mask=[0, 0, 0])
    k0 = 1.2**2 * x @ x.T / 2 + 0.3**2
    torch.testing.assert_close(nngp, 1.2**2 * k0 + 0.3**2)
    torch.testing.assert_close(ntk, nngp + 1.2**2 * k0)


def test_stochastic_depth_enters_as_one_minus_p_times_alpha():
    x = torch.randn(5, 2, dtype=F64)
    dropped = ecrn_kernels(x, depth=2, alpha=0.8, drop_prob=[0.25, 0.5], activation="erf")
    scaled = ecrn_kernels(x, depth=2, alpha=[0.6, 0.4], drop_prob=0.0, activation="erf")
    for a, b in zip(dropped, scaled):
        torch.testing.assert_close(a, b)


def test_expected_stochastic_depth_weights_each_block_by_one_minus_p():
    # odd activation: the mask-averaged recursion is the network with branch alpha sqrt(1 - p)
    x = torch.randn(5, 2, dtype=F64)
    expected = ecrn_kernels(x, depth=2, alpha=0.8, drop_prob=[0.36, 0.19], activation="tanh",
                            stochastic_depth="expected")
    scaled = ecrn_kernels(x, depth=2, alpha=[0.8 * 0.8, 0.8 * 0.9], drop_prob=0.0,
                          activation="tanh")
    for a, b in zip(expected, scaled):
        torch.testing.assert_close(a, b)


def test_expected_recursion_is_closer_to_the_mask_average_than_eval_mode():
    # exact E_m[Theta_m] of the infinite-width kernels over all 2^3 masks
    x = torch.randn(6, 2, dtype=F64)
    p = [0.2, 0.4, 0.6]
    opts = dict(depth=3, alpha=1.0, drop_prob=p, activation="relu", n_fourier=0)
    average = torch.zeros(6, 6, dtype=F64)
    for bits in range(8):
        mask = [(bits >> l) & 1 for l in range(3)]
        weight = math.prod(1 - pl if m else pl for m, pl in zip(mask, p))
        average += weight * ecrn_kernels(x, depth_mask=mask, **opts)[1]
    gap = lambda k: ((k - average).norm() / average.norm()).item()  # noqa: E731
    expected = gap(ecrn_kernels(x, stochastic_depth="expected", **opts)[1])
    eval_mode = gap(ecrn_kernels(x, stochastic_depth="eval", **opts)[1])
    assert expected < 0.5 * eval_mode


def test_resnet_kernel_is_the_ecrn_kernel_without_fourier_and_drop():
    x = torch.randn(4, 3, dtype=F64)
    model = ResNet(3, width=8, depth=3, activation="relu")
    expected = ecrn_kernels(x, depth=3, alpha=1.0, drop_prob=0.0, activation="relu", n_fourier=0)
    for a, b in zip(model_kernels(model, x), expected):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("build", [
    lambda s: MLP(2, width=50_000, depth=1, activation="relu", seed=s),
    lambda s: ECRN(2, width=2048, depth=3, n_fourier=8, activation="relu", seed=s),
    lambda s: ECRN(2, width=2048, depth=2, n_fourier=0, activation="gelu", alpha=1.0, seed=s),
], ids=["mlp-relu", "ecrn-relu", "resnet-gelu"])
def test_nngp_is_the_wide_network_feature_gram(build):
    # lim_n w_std^2 h.h'/n + b_std^2 over the readout's input features is the NNGP (w_std = 1,
    # b_std = 0.1); for relu and gelu this checks the mean terms of the residual recursion.
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    grams, analytic = [], []
    for seed in range(4):
        model = build(seed).eval()
        feats = []
        hook = model.readout.register_forward_hook(lambda m, inp, out: feats.append(inp[0]))
        with torch.no_grad():
            model(x)
        hook.remove()
        h = feats[0].double()
        grams.append(h @ h.T / h.shape[1] + 0.1**2)
        analytic.append(model_kernels(model, x)[0])  # each seed has its own B
    grams, analytic = torch.stack(grams), torch.stack(analytic)
    # Sampling noise of the seed-averaged Gram is ~2.5% here; leaving out the mean terms mu, nu
    # of the residual recursion would be off by 36% (ecrn-relu) and 9.5% (resnet-gelu).
    error = (grams - analytic).mean(0).norm() / analytic.mean(0).norm()
    assert error < 0.05


# ----------------------------------------------------------------------------- convergence
def dense_ntk(model, x):
    """Empirical NTK of a network of Dense layers (one output): for y = w_mult W a + b_mult b,
    dF/dW_ij = w_mult delta_i a_j, so Theta = sum_layers w_mult^2 (A A^T) * (D D^T) + b_mult^2 D D^T
    with A the layer inputs (N, fan_in) and D = df/dy (N, fan_out). One backward pass, no
    (N, P) Jacobian; checked against torch.func below."""
    dense = [m for m in model.modules() if isinstance(m, Dense)]
    inputs, outputs = {}, {}

    def hook(module, inp, out):
        inputs[module], outputs[module] = inp[0].detach(), out
        out.retain_grad()

    handles = [m.register_forward_hook(hook) for m in dense]
    try:
        model(x).sum().backward()
    finally:
        for handle in handles:
            handle.remove()
    theta = torch.zeros(x.shape[0], x.shape[0], dtype=F64)
    for m in inputs:  # blocks skipped by a 0 mask are absent
        a, d = inputs[m].double(), outputs[m].grad.double()
        dd = d @ d.T
        theta += m.w_mult**2 * (a @ a.T) * dd + m.b_mult**2 * dd
    model.zero_grad()
    return theta


def jacobian_ntk(model, x):
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, xi):
        return functional_call(model, p, (xi[None],)).sum()

    jac = vmap(jacrev(f), (None, 0))(params, x)
    return sum(j.flatten(1) @ j.flatten(1).T for j in jac.values()).double()


@pytest.mark.parametrize("model", [
    MLP(2, width=32, depth=2, activation="tanh", seed=0),
    ECRN(2, width=32, depth=3, n_fourier=4, activation="relu", drop_prob=0.3, seed=1),
])
def test_dense_ntk_helper_equals_jacobian_contraction(model):
    x = torch.randn(5, 2)
    torch.testing.assert_close(dense_ntk(model.eval(), x), jacobian_ntk(model, x), rtol=1e-4, atol=1e-5)


WIDTHS = [64, 128, 256, 512, 1024, 2048, 4096]


def convergence_slope(build, seeds=(0, 1, 2)):
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    errors = []
    for width in WIDTHS:
        per_seed = []
        for seed in seeds:
            model = build(width, seed).eval()
            analytic = model_kernels(model, x)[1]
            per_seed.append(((dense_ntk(model, x) - analytic).norm() / analytic.norm()).item())
        errors.append(np.mean(per_seed))
    return np.polyfit(np.log(WIDTHS), np.log(errors), 1)[0], errors


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_mlp_empirical_ntk_converges_like_inverse_sqrt_width(activation):
    slope, errors = convergence_slope(
        lambda w, s: MLP(2, width=w, depth=2, activation=activation, seed=s))
    assert -0.75 <= slope <= -0.25, (slope, errors)
    assert errors[-1] < 0.1, errors


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_ecrn_empirical_ntk_converges_like_inverse_sqrt_width(activation):
    slope, errors = convergence_slope(
        lambda w, s: ECRN(2, width=w, depth=2, n_fourier=8, activation=activation,
                          drop_prob="linear:0.3", seed=s))
    assert -0.75 <= slope <= -0.25, (slope, errors)
    assert errors[-1] < 0.1, errors


def test_ecrn_with_depth_mask_matches_its_masked_kernel():
    model = ECRN(2, width=4096, depth=3, n_fourier=8, drop_prob=0.5, seed=0).eval()
    model.set_depth_mask([1, 0, 1])
    x = torch.randn(4, 2)
    analytic = model_kernels(model, x)[1]
    assert (dense_ntk(model, x) - analytic).norm() / analytic.norm() < 0.1


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, argument", [
    (dict(depth=0), "depth"),
    (dict(depth=2, activation="sigmoid"), "activation"),
    (dict(depth=2, w_std=-1.0), "w_std"),
    (dict(depth=2, method="mc"), "method"),
])
def test_mlp_kernels_bad_arguments_raise(kwargs, argument):
    with pytest.raises(ValueError, match=f"'{argument}' parameter of mlp_kernels"):
        mlp_kernels(torch.randn(3, 2), **kwargs)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(depth=2, alpha=[1.0]), "alpha"),
    (dict(depth=2, drop_prob=1.0), "drop_prob"),
    (dict(depth=2, fourier_scale=-0.5), "fourier_scale"),
    (dict(depth=2, depth_mask=[1, 0, 1]), "depth_mask"),
    (dict(depth=2, depth_mask=["a", "b"]), "depth_mask"),
    (dict(depth=2, alpha="-2/sqrt(L)"), "alpha"),
])
def test_ecrn_kernels_bad_arguments_raise(kwargs, argument):
    with pytest.raises(ValueError, match=f"'{argument}' parameter of ecrn_kernels"):
        ecrn_kernels(torch.randn(3, 2), **kwargs)


def test_mismatched_feature_sizes_raise():
    with pytest.raises(ValueError, match="'x2' parameter of mlp_kernels.*d=2"):
        mlp_kernels(torch.randn(3, 2), torch.randn(3, 4), depth=1)
    with pytest.raises(ValueError, match="'B' parameter of fourier_kernel"):
        fourier_kernel(torch.randn(3, 2), None, torch.randn(5, 3))


def _with(value, x):
    x = x.clone()
    x[1, 0] = value
    return x


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("kernel", [
    lambda x1, x2: mlp_kernels(x1, x2, depth=2),
    lambda x1, x2: ecrn_kernels(x1, x2, depth=2),
    lambda x1, x2: ecrn_kernels(x1, x2, depth=2, n_fourier=0),
    lambda x1, x2: expected_fourier_kernel(x1, x2, fourier_scale=1.0),
    lambda x1, x2: fourier_kernel(x1, x2, torch.randn(4, 2)),
    lambda x1, x2: model_kernels(MLP(2, width=8, depth=1), x1, x2),
], ids=["mlp", "ecrn", "ecrn_no_fourier", "expected_fourier", "fourier", "model"])
def test_kernels_refuse_non_finite_inputs_naming_them(kernel, bad):
    x = torch.randn(3, 2, dtype=F64)
    with pytest.raises(InvalidParameterError, match="'x1' parameter of .* must hold only finite values"):
        kernel(_with(bad, x), None)
    with pytest.raises(InvalidParameterError, match="'x2' parameter of .* must hold only finite values"):
        kernel(x, _with(bad, x))


def test_fourier_kernel_refuses_a_non_finite_frequency_matrix():
    B = torch.randn(4, 2, dtype=F64)
    B[0, 0] = float("nan")
    with pytest.raises(InvalidParameterError, match="'B' parameter of fourier_kernel must hold only finite"):
        fourier_kernel(torch.randn(3, 2), None, B)


def test_model_kernels_refuses_standard_parameterization_and_trainable_fourier():
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match="parameterization='ntk'"):
        model_kernels(MLP(2, width=8, depth=1, parameterization="standard"), x)
    with pytest.raises(ValueError, match="trainable_fourier=False"):
        model_kernels(ECRN(2, width=8, depth=1, n_fourier=4, trainable_fourier=True), x)
