"""Specification of ntkbook.ntk: every method equals a brute-force per-sample autograd loop.

The bad-input errors are specified in test_ntk_validation.py.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ntkbook.ntk import (
    DEFAULT_METHOD,
    NTKMethod,
    empirical_ntk,
    expected_ntk,
    ntk_eigenvalues,
    ntk_operator,
    ntk_spectrum,
)

METHODS = ["jacobian", "ntvp", "structured", "auto"]
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


# ----------------------------------------------------------------------------- reference


def brute_force_ntk(model, x1, x2, full=False):
    """Theta[n, m, o, o'] = sum_p df_o(x1_n)/dp df_o'(x2_m)/dp, one sample and one output at a time."""
    params = [p for p in model.parameters() if p.requires_grad]

    def jac(x):
        rows = []
        for n in range(x.shape[0]):
            y = model(x[n : n + 1]).reshape(-1)
            per_out = []
            for o in range(y.shape[0]):
                gs = torch.autograd.grad(y[o], params, retain_graph=True, allow_unused=True)
                per_out.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(gs, params)]))
            rows.append(torch.stack(per_out))
        return torch.stack(rows)  # (N, O, P)

    j1, j2 = jac(x1), jac(x2)
    theta = torch.einsum("nap,mbp->nmab", j1, j2)
    return theta if full else torch.diagonal(theta, dim1=2, dim2=3).sum(-1)


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


# ----------------------------------------------------------------------------- test models


class NTKLinear(nn.Linear):
    """A dense layer in NTK parameterization: s * (W h + b) with s = 1 / sqrt(fan_in)."""

    def forward(self, h):
        return super().forward(h) / math.sqrt(self.in_features)


def mlp(d_in=3, d_out=1):
    return nn.Sequential(nn.Linear(d_in, 12), nn.Tanh(), NTKLinear(12, 10), nn.Tanh(), nn.Linear(10, d_out))


class FourierResNet(nn.Module):
    """Trainable Fourier features, two residual blocks, a scaled readout."""

    def __init__(self, d_in=3, d_out=1, width=8):
        super().__init__()
        self.B = nn.Parameter(torch.randn(d_in, width // 2))  # a free parameter used in a matmul
        self.blocks = nn.ModuleList([NTKLinear(width, width) for _ in range(2)])
        self.out = nn.Linear(width, d_out)

    def forward(self, x):
        z = x @ self.B
        h = torch.cat([torch.sin(z), torch.cos(z)], dim=-1)
        for blk in self.blocks:
            h = h + 0.5 * torch.tanh(blk(h))
        return self.out(h)


class SmallCNN(nn.Module):
    def __init__(self, d_out=1):
        super().__init__()
        self.c1 = nn.Conv2d(2, 3, 3, padding=1)
        self.c2 = nn.Conv2d(3, 4, 2, stride=2, bias=False)
        self.fc = nn.Linear(4 * 3 * 3, d_out)

    def forward(self, x):
        h = torch.tanh(self.c1(x))
        h = torch.tanh(self.c2(h))
        return self.fc(h.flatten(1))


class LayerNormNet(nn.Module):
    def __init__(self, d_in=3, d_out=1):
        super().__init__()
        self.fc1 = nn.Linear(d_in, 10)
        self.ln = nn.LayerNorm(10)
        self.fc2 = nn.Linear(10, d_out)

    def forward(self, x):
        return self.fc2(torch.tanh(self.ln(self.fc1(x))))


class TiedNet(nn.Module):
    """One Linear applied twice, a weight shared by two Linears, and a weight reused transposed."""

    def __init__(self, d_in=3, d_out=1):
        super().__init__()
        self.enc = nn.Linear(d_in, 6)
        self.mid = nn.Linear(6, 6)
        self.mid2 = nn.Linear(6, 6)
        self.mid2.weight = self.mid.weight  # the same parameter object, its own bias
        self.out = nn.Linear(6, d_out)

    def forward(self, x):
        h = torch.tanh(self.enc(x))
        h = torch.tanh(self.mid(h))
        h = torch.tanh(self.mid(h))  # the same module twice
        h = torch.tanh(self.mid2(h))
        back = F.linear(h, self.enc.weight.t())  # enc.weight used a second way, (b, d_in)
        return self.out(h) + back.sum(-1, keepdim=True)


class DeadParamNet(nn.Module):
    """Has a parameter and a whole layer that do not affect the output."""

    def __init__(self, d_in=3, d_out=1):
        super().__init__()
        self.fc1 = nn.Linear(d_in, 8)
        self.fc2 = nn.Linear(8, d_out)
        self.unused = nn.Parameter(torch.randn(5))
        self.unused_layer = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


MODELS = {
    "mlp": (mlp, (3,)),
    "fourier_resnet": (FourierResNet, (3,)),
    "cnn": (SmallCNN, (2, 6, 6)),
    "layernorm": (LayerNormNet, (3,)),
    "tied": (TiedNet, (3,)),
    "dead_param": (DeadParamNet, (3,)),
}


def make(name, dtype=torch.float64, d_out=1, n1=5, n2=4, seed=0):
    torch.manual_seed(seed)
    ctor, shape = MODELS[name]
    model = ctor(d_out=d_out).to(dtype)
    x1 = torch.randn(n1, *shape, dtype=dtype)
    x2 = torch.randn(n2, *shape, dtype=dtype)
    return model, x1, x2


# ----------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("method", METHODS)
def test_every_method_equals_brute_force_on_x1_x2(method, name, dtype):
    model, x1, x2 = make(name, dtype)
    ref = brute_force_ntk(model, x1, x2)
    got = empirical_ntk(model, x1, x2, method=method)
    assert got.shape == (5, 4) and got.dtype == dtype
    assert rel_err(got, ref) < TOL[dtype]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("method", METHODS)
def test_multi_output_full_and_trace_equal_brute_force(method, name):
    model, x1, x2 = make(name, torch.float64, d_out=3)
    ref_full = brute_force_ntk(model, x1, x2, full=True)
    full = empirical_ntk(model, x1, x2, method=method, outputs="full")
    trace = empirical_ntk(model, x1, x2, method=method, outputs="trace")
    assert full.shape == (5, 4, 3, 3)
    assert rel_err(full, ref_full) < 1e-10
    assert rel_err(trace, torch.diagonal(ref_full, dim1=2, dim2=3).sum(-1)) < 1e-10


@pytest.mark.parametrize("method", METHODS)
def test_symmetric_case_is_exactly_symmetric_and_psd(method):
    model, x1, _ = make("fourier_resnet", torch.float32, n1=9)
    theta = empirical_ntk(model, x1, method=method, block_size=4)
    assert torch.equal(theta, theta.T)
    evals = torch.linalg.eigvalsh(theta.double())
    assert evals.min() > -1e-5 * evals.max()
    assert rel_err(theta, brute_force_ntk(model, x1, x1)) < 1e-5


@pytest.mark.parametrize("method", METHODS)
def test_symmetric_full_kernel_is_symmetric_in_samples_and_outputs(method):
    model, x1, _ = make("mlp", torch.float64, d_out=2, n1=7)
    theta = empirical_ntk(model, x1, method=method, outputs="full", block_size=3)
    assert torch.equal(theta, theta.permute(1, 0, 3, 2))
    assert rel_err(theta, brute_force_ntk(model, x1, x1, full=True)) < 1e-10


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("block_size", [1, pytest.param(2, marks=pytest.mark.slow), 3, pytest.param(7, marks=pytest.mark.slow)])
def test_blocked_equals_unblocked_for_any_block_size(method, block_size):
    model, x1, x2 = make("cnn", torch.float64, n1=5, n2=4)
    whole = empirical_ntk(model, x1, x2, method=method)
    for other in (x2, None):
        blocked = empirical_ntk(model, x1, other, method=method, block_size=block_size)
        ref = whole if other is not None else empirical_ntk(model, x1, method=method)
        assert rel_err(blocked, ref) < 1e-12


def test_small_max_memory_forces_blocks_and_gives_the_same_answer():
    model, x1, _ = make("mlp", torch.float64, n1=40)
    stats = {}
    theta = empirical_ntk(model, x1, method="jacobian", max_memory=60_000, stats=stats)
    assert stats["block_size"] < 40
    assert rel_err(theta, empirical_ntk(model, x1, method="jacobian")) < 1e-12


class Reparametrized(nn.Module):
    """A weight computed from two parameters through a sigmoid: no rule for either."""

    def __init__(self, d_in=3, d_out=1):
        super().__init__()
        self.A = nn.Parameter(torch.randn(6, d_in))
        self.s = nn.Parameter(torch.zeros(6))
        self.out = nn.Linear(6, d_out)

    def forward(self, x):
        return self.out(torch.tanh(x @ (self.A * torch.sigmoid(self.s)[:, None]).T))


def test_structured_rule_covers_linear_conv_and_a_free_parameter_in_a_matmul():
    stats = {}
    for name in ("fourier_resnet", "cnn"):
        model, x1, _ = make(name, torch.float64)
        empirical_ntk(model, x1, method="structured", stats=stats)
        assert stats["fallback_params"] == [] and stats["fallback_reasons"] == {}


def test_parameters_without_a_rule_fall_back_with_the_reason_and_the_kernel_stays_exact():
    torch.manual_seed(0)
    model = Reparametrized().double()
    x1, x2 = torch.randn(5, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    stats = {}
    theta = empirical_ntk(model, x1, x2, method="structured", stats=stats)
    assert stats["fallback_params"] == ["A", "s"]
    assert "torch.sigmoid" in stats["fallback_reasons"]["s"]
    assert rel_err(theta, brute_force_ntk(model, x1, x2)) < 1e-10


def test_a_weight_also_used_transposed_keeps_its_rule_with_the_cross_terms():
    model, x1, x2 = make("tied", torch.float64, d_out=2)
    stats = {}
    theta = empirical_ntk(model, x1, x2, method="structured", outputs="full", stats=stats)
    assert stats["fallback_params"] == []
    group = next(r for r in stats["rules"] if "enc.weight" in r["params"])
    assert group["uses"] == ["F.linear", "F.linear"]  # enc(x) and F.linear(h, enc.weight.t())
    assert rel_err(theta, brute_force_ntk(model, x1, x2, full=True)) < 1e-10


def test_auto_picks_structured_for_a_wide_mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    stats = {}
    empirical_ntk(model, torch.randn(64, 4), stats=stats)
    assert stats["method"] == "structured"


def test_output_can_stream_to_another_device():
    model, x1, _ = make("mlp", torch.float32)
    theta = empirical_ntk(model, x1, out_device="cpu")
    assert theta.device.type == "cpu"


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@cuda
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("method", METHODS)
def test_cuda_result_equals_brute_force_and_streams_to_cpu(method, name):
    model, x1, x2 = make(name, torch.float64, d_out=2)
    ref = brute_force_ntk(model, x1, x2, full=True)
    model = model.cuda()
    gpu = empirical_ntk(model, x1.cuda(), x2.cuda(), method=method, outputs="full", out_device="cpu", block_size=3)
    assert gpu.device.type == "cpu" and rel_err(gpu, ref) < 1e-10


@cuda
def test_cuda_operator_and_eigenvalues_equal_the_formed_matrix():
    model, x, _ = make("fourier_resnet", torch.float32, n1=40)
    model, x = model.cuda(), x.cuda()
    theta = empirical_ntk(model, x)
    V = torch.randn(40, 3, device="cuda")
    assert rel_err(ntk_operator(model, x)(V), theta @ V) < 1e-5
    full = torch.linalg.eigvalsh(theta.double())
    assert rel_err(ntk_eigenvalues(model, x, k=3, matrix_free=True).double(), full.flip(0)[:3].cpu()) < 1e-4


@cuda
@pytest.mark.parametrize("method", ["jacobian", "ntvp", "structured"])
def test_cuda_working_memory_stays_under_max_memory(method):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 1)).cuda()
    x = torch.randn(600, 8, device="cuda")
    budget = 8 * 2**20
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    theta = empirical_ntk(model, x, method=method, max_memory=budget)
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - base - theta.numel() * theta.element_size()
    assert extra <= budget, f"{method}: {extra / 2**20:.1f} MiB of working memory for a budget of 8 MiB"


@cuda
def test_cuda_model_with_cpu_input_is_refused():
    model, x1, _ = make("mlp")
    with pytest.raises(ValueError, match="'x1'.*device cpu.*cuda"):
        empirical_ntk(model.cuda(), x1)


# ----------------------------------------------------------------------------- modes


def test_default_is_eval_mode_and_the_model_mode_is_restored():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Tanh(), nn.Linear(8, 1)).double().train()
    x = torch.randn(4, 3, dtype=torch.float64)
    theta = empirical_ntk(model, x)
    assert model.training and model[1].training
    model.eval()
    assert rel_err(theta, brute_force_ntk(model, x, x)) < 1e-10


def test_dropout_in_training_mode_as_is_is_refused_as_random():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 1)).train()
    with pytest.raises(ValueError, match="random"):
        empirical_ntk(model, torch.randn(4, 3), mode="as_is")


def test_batchnorm_in_training_mode_is_refused_with_the_reason():
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Linear(8, 1)).train()
    with pytest.raises(ValueError, match="samples interact"):
        empirical_ntk(model, torch.randn(4, 3), mode="as_is")


def test_batchnorm_in_eval_mode_is_fine():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 1)).double()
    model(torch.randn(16, 3, dtype=torch.float64))  # update running statistics
    x = torch.randn(5, 3, dtype=torch.float64)
    theta = empirical_ntk(model, x)
    model.eval()
    assert rel_err(theta, brute_force_ntk(model, x, x)) < 1e-10


def test_frozen_parameters_are_constants():
    model, x1, x2 = make("mlp", torch.float64)
    model[0].weight.requires_grad_(False)
    assert rel_err(empirical_ntk(model, x1, x2), brute_force_ntk(model, x1, x2)) < 1e-10


# ----------------------------------------------------------------------------- stochastic depth


class DepthNet(nn.Module):
    """Residual blocks that a depth mask switches off; implements the contract of ntkbook.ntk."""

    def __init__(self, depth=4, width=8, drop_prob=0.5):
        super().__init__()
        self.inp = nn.Linear(3, width)
        self.blocks = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
        self.out = nn.Linear(width, 1)
        self.drop_prob = drop_prob
        self.mask = None

    def sample_depth_mask(self, generator):
        return (torch.rand(len(self.blocks), generator=generator) >= self.drop_prob).to(self.out.weight.dtype)

    def set_depth_mask(self, mask):
        self.mask = None if mask is None else mask.to(self.out.weight.device)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        for i, blk in enumerate(self.blocks):
            if self.mask is not None:
                keep = self.mask[i]
            elif self.training:
                keep = float(torch.rand(()) >= self.drop_prob)
            else:
                keep = 1.0 - self.drop_prob
            h = h + keep * torch.tanh(blk(h))
        return self.out(h)


def test_fixed_depth_mask_gives_the_ntk_of_that_subnetwork():
    torch.manual_seed(0)
    model = DepthNet().double()
    x = torch.randn(5, 3, dtype=torch.float64)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    for method in METHODS:
        theta = empirical_ntk(model, x, depth_mask=mask, method=method)
        assert model.mask is None
        model.set_depth_mask(mask)
        ref = brute_force_ntk(model, x, x)
        model.set_depth_mask(None)
        assert rel_err(theta, ref) < 1e-10


def test_expected_ntk_is_reproducible_and_its_standard_error_shrinks():
    torch.manual_seed(0)
    model = DepthNet().double()
    x = torch.randn(4, 3, dtype=torch.float64)
    small = expected_ntk(model, x, n_samples=5, seed=3, method="structured")
    again = expected_ntk(model, x, n_samples=5, seed=3, method="structured")
    large = expected_ntk(model, x, n_samples=40, seed=3, method="structured")
    assert torch.equal(small.mean, again.mean)
    assert small.stderr.shape == (4, 4) and large.n_samples == 40
    assert float(large.stderr.mean()) < 0.6 * float(small.stderr.mean())  # ~ sqrt(5 / 40) = 0.35 in expectation


def test_expected_ntk_mean_is_the_average_of_the_fixed_mask_kernels():
    torch.manual_seed(0)
    model = DepthNet().double()
    x = torch.randn(3, 3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(7)
    masks = [model.sample_depth_mask(gen) for _ in range(5)]
    by_hand = sum(empirical_ntk(model, x, depth_mask=m) for m in masks) / 5
    assert rel_err(expected_ntk(model, x, n_samples=5, seed=7).mean, by_hand) < 1e-12


# ----------------------------------------------------------------------------- matrix-free


@pytest.mark.parametrize("method, cache", [pytest.param("ntvp", None, marks=pytest.mark.slow), ("structured", True), ("structured", False)])
@pytest.mark.parametrize("name", ["fourier_resnet", "cnn", "tied"])
@pytest.mark.parametrize("outputs", ["trace", "full"])
def test_operator_equals_the_formed_matrix_on_a_block_of_vectors(outputs, name, method, cache):
    model, x1, _ = make(name, torch.float64, d_out=2, n1=5)
    theta = empirical_ntk(model, x1, outputs=outputs)
    if outputs == "full":
        theta = theta.permute(0, 2, 1, 3).reshape(10, 10)
    op = ntk_operator(model, x1, method=method, outputs=outputs, block_size=3, cache=cache)
    V = torch.randn(op.shape[0], 3, dtype=torch.float64)
    assert op.shape == theta.shape
    assert rel_err(op(V), theta @ V) < 1e-10
    assert rel_err(op(V[:, 0]), theta @ V[:, 0]) < 1e-10
    assert rel_err(torch.as_tensor(op(V.numpy())), theta @ V) < 1e-10


def test_iterative_eigenvalues_equal_eigvalsh():
    model, x, _ = make("mlp", torch.float64, n1=60)
    full = torch.linalg.eigvalsh(empirical_ntk(model, x))
    top = ntk_eigenvalues(model, x, k=4, solver="lanczos")
    free = ntk_eigenvalues(model, x, k=4, matrix_free=True)
    lob = ntk_eigenvalues(model, x, k=4, solver="lobpcg")
    small = ntk_eigenvalues(model, x, k=3, which="smallest")
    assert rel_err(top, full.flip(0)[:4]) < 1e-8
    assert rel_err(free, full.flip(0)[:4]) < 1e-8
    assert rel_err(lob, full.flip(0)[:4]) < 1e-6
    assert torch.allclose(small, full[:3], atol=1e-10 * float(full[-1]))


def test_ntk_spectrum_of_a_formed_matrix_is_all_eigenvalues_descending():
    model, x, _ = make("mlp", torch.float64, n1=10)
    theta = empirical_ntk(model, x)
    spec = ntk_spectrum(theta)
    assert spec.shape == (10,) and bool((spec[:-1] >= spec[1:]).all())


# ----------------------------------------------------------------------------- documentation


def test_each_method_documents_its_cost():
    for m in NTKMethod:
        assert "Cost" in m.__doc__ or m is NTKMethod.AUTO
    assert DEFAULT_METHOD is NTKMethod.AUTO
