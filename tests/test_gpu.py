"""The GPU path: the same code, on the device of the model and the data.

Skipped where no CUDA device exists (CI has none); run on a GPU machine with
`pytest -m gpu`. Each test compares the CUDA result with the CPU one computed by the
same function.
"""

import pytest
import torch

from ntkbook.models import ECRN, MLP
from ntkbook.ntk import empirical_ntk, ntk_eigenvalues

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU tests skipped: no CUDA device on this machine"),
]
CUDA = torch.device("cuda")


def _inputs(n=48, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("method", ["jacobian", "ntvp", "structured", "auto"])
def test_empirical_ntk_on_cuda_matches_cpu(method):
    x = _inputs()
    model = ECRN(4, 2, width=64, depth=3, seed=0).double()
    cpu = empirical_ntk(model, x, method=method, outputs="full")
    gpu = empirical_ntk(model.to(CUDA), x.to(CUDA), method=method, outputs="full")
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-9, atol=1e-12)


def test_blocked_ntk_streams_to_cpu_from_cuda():
    x = _inputs(n=100)
    model = MLP(4, 1, width=128, depth=3, seed=1).double().to(CUDA)
    whole = empirical_ntk(model, x.to(CUDA))
    streamed = empirical_ntk(model, x.to(CUDA), block_size=16, out_device="cpu")
    assert streamed.device.type == "cpu"
    torch.testing.assert_close(streamed, whole.cpu(), rtol=1e-10, atol=1e-12)


def test_top_eigenvalues_on_cuda_match_cpu():
    x = _inputs(n=80)
    model = ECRN(4, 1, width=64, depth=2, seed=2).double()
    cpu = ntk_eigenvalues(model, x, k=5)
    gpu = ntk_eigenvalues(model.to(CUDA), x.to(CUDA), k=5)
    torch.testing.assert_close(torch.as_tensor(gpu).cpu(), torch.as_tensor(cpu), rtol=1e-6, atol=1e-9)


def test_model_and_inputs_on_different_devices_is_a_clear_error():
    model = MLP(4, 1, width=16, depth=1, seed=0).to(CUDA)
    with pytest.raises((ValueError, TypeError), match="device"):
        empirical_ntk(model, _inputs().float())


def test_training_follows_the_device_of_model_and_data():
    from ntkbook.data import load_dataset
    from ntkbook.train import NTKTracker, train

    data = load_dataset("sinusoids", n_train=64, n_test=64, seed=0, device=CUDA)
    model = ECRN(1, 1, width=64, depth=2, seed=0).to(CUDA)
    result = train(model, data, optimizer="gd", lr=0.1, epochs=5, seed=0, device=CUDA, callbacks=[NTKTracker(16, every=1)])
    assert not result.diverged
    assert next(result.model.parameters()).device.type == "cuda"
    assert result.history["value"].notna().all() and len(result.ntk) > 0


def test_analytic_kernels_on_cuda_match_cpu():
    from ntkbook.analytic import mlp_kernels

    x = _inputs(n=32)
    cpu = mlp_kernels(x, depth=3, activation="relu")
    gpu = mlp_kernels(x.to(CUDA), depth=3, activation="relu")
    # The relu kernels go through theta = arccos(rho); at rho -> 1 (the diagonal) a round-off
    # change of eps in rho moves theta by sqrt(2 eps) ~ 2e-8, so CPU and GPU, which sum in a
    # different order, agree to that level and no better (measured on an H100: 1.3e-8).
    for a, b in zip(gpu, cpu):
        assert a.device.type == "cuda"
        torch.testing.assert_close(a.cpu(), b, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", ["transformer_encoder", "conv_zoo", "tied_embedding", "custom_dense"])
def test_operation_level_rules_on_cuda_match_cpu(name):
    from test_ntk_zoo import ZOO, build

    ctor, shape = ZOO[name]
    model, x1, x2 = build(ctor, shape, torch.float64, d_out=2)
    cpu = empirical_ntk(model, x1, x2, method="structured", outputs="full")
    stats = {}
    gpu = empirical_ntk(model.to(CUDA), x1.to(CUDA), x2.to(CUDA), method="structured", outputs="full", stats=stats)
    assert stats["fallback_params"] == []
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-9, atol=1e-12)


def test_architecture_benchmark_runs_on_cuda():
    from ntkbook.experiments.ntk_speed import ntk_benchmark

    df = ntk_benchmark("ci", sizes=(8,), models=("mlp",), methods=("jacobian",), large=False, device="cuda",
                       architectures=("mlp_custom", "cnn"))
    arch = df[df["task"] == "arch"]
    assert len(arch) == 6 and (arch["seconds"] > 0).all()
