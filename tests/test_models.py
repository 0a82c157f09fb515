"""Specifications of ntkbook.models: the NTK-ECRN, its baselines and their bad-input errors."""

import math

import numpy as np
import pytest
import torch

from ntkbook._validation import InvalidParameterError
from ntkbook.models import ECRN, MLP, ECRNConfig, ResNet, ResNet18, build_model, resolve_alphas


def small_ecrn(**kw):
    args = dict(width=16, depth=4, n_fourier=8, seed=0)
    args.update(kw)
    return ECRN(3, 2, **args)


def test_ecrn_maps_batch_to_out_features():
    assert small_ecrn().eval()(torch.randn(7, 3)).shape == (7, 2)


def test_same_seed_gives_identical_weights():
    a, b = small_ecrn(seed=5).state_dict(), small_ecrn(seed=5).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_different_seeds_give_different_weights():
    assert not torch.equal(small_ecrn(seed=1).proj.weight, small_ecrn(seed=2).proj.weight)


def test_seeding_does_not_touch_the_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    small_ecrn(seed=3)
    assert torch.equal(torch.rand(3), expected)


def test_fourier_matrix_is_a_buffer_by_default_and_a_parameter_when_trainable():
    fixed, trainable = small_ecrn(), small_ecrn(trainable_fourier=True)
    assert "embed.B" in dict(fixed.named_buffers())
    assert "embed.B" not in dict(fixed.named_parameters())
    assert "embed.B" in dict(trainable.named_parameters())


def test_fourier_matrix_has_the_requested_scale():
    model = ECRN(4, width=8, depth=1, n_fourier=4000, fourier_scale=2.5, seed=0)
    assert model.embed.B.shape == (4000, 4)
    assert model.embed.B.std().item() == pytest.approx(2.5, rel=0.03)


def test_fourier_embedding_is_sin_and_cos_of_2_pi_B_x():
    model = small_ecrn()
    x = torch.randn(5, 3)
    proj = 2 * math.pi * x @ model.embed.B.T
    assert torch.allclose(model.embed(x), torch.cat([proj.sin(), proj.cos()], -1))


def test_n_fourier_zero_feeds_the_input_to_the_projection():
    model = small_ecrn(n_fourier=0)
    assert isinstance(model.embed, torch.nn.Identity)
    assert model.proj.weight.shape == (16, 3)


def test_named_alpha_schedules():
    assert small_ecrn(alpha="1/sqrt(L)").alphas == pytest.approx([0.5] * 4)
    assert small_ecrn(alpha="1/L").alphas == pytest.approx([0.25] * 4)
    assert small_ecrn(alpha="2/sqrt(L)").alphas == pytest.approx([1.0] * 4)
    assert small_ecrn(alpha=[0.1, 0.2, 0.3, 0.4]).alphas == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_linear_drop_schedule_increases_to_p_max():
    assert small_ecrn(drop_prob="linear:0.4").drop_probs == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert small_ecrn(drop_prob=0.2).drop_probs == pytest.approx([0.2] * 4)


def test_eval_forward_uses_the_expected_multiplier():
    model = small_ecrn(drop_prob=[0.5, 0.0, 0.25, 0.0], alpha=0.7).eval()
    x = torch.randn(4, 3)
    h = model.proj(model.embed(x))
    for block, p in zip(model.blocks, model.drop_probs):
        h = h + (1 - p) * 0.7 * torch.tanh(block(h))
    assert torch.allclose(model(x), model.readout(h), atol=1e-6)


def test_set_depth_mask_overrides_eval_and_none_restores_it():
    model = small_ecrn(drop_prob=0.3).eval()
    x = torch.randn(4, 3)
    default = model(x)
    model.set_depth_mask(torch.tensor([1.0, 0.0, 1.0, 0.0]))
    masked = model(x)
    h = model.proj(model.embed(x))
    for l in (0, 2):
        h = h + model.alphas[l] * torch.tanh(model.blocks[l](h))
    assert torch.allclose(masked, model.readout(h), atol=1e-6)
    model.set_depth_mask(None)
    assert torch.allclose(model(x), default)


def test_set_depth_mask_is_used_in_training_mode():
    model = small_ecrn(drop_prob=0.5).train()
    model.set_depth_mask(torch.ones(4))
    x = torch.randn(4, 3)
    outs = [model(x) for _ in range(3)]
    assert all(torch.equal(outs[0], o) for o in outs)


def test_sampled_depth_mask_is_bernoulli_one_minus_p():
    model = small_ecrn(drop_prob=[0.0, 0.2, 0.5, 0.9])
    g = torch.Generator().manual_seed(0)
    masks = torch.stack([model.sample_depth_mask(g) for _ in range(4000)])
    assert masks.shape == (4000, 4)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    assert masks.mean(0).tolist() == pytest.approx([1.0, 0.8, 0.5, 0.1], abs=0.03)


def test_sample_depth_mask_is_reproducible_with_a_generator():
    model = small_ecrn(drop_prob=0.5)
    a = model.sample_depth_mask(torch.Generator().manual_seed(7))
    b = model.sample_depth_mask(torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_training_forward_drops_blocks_at_random():
    model = small_ecrn(drop_prob=0.5).train()
    x = torch.randn(4, 3)
    torch.manual_seed(0)
    outs = torch.stack([model(x) for _ in range(20)])
    assert (outs - outs[0]).abs().amax() > 1e-4


def test_ntk_parameterization_scales_by_w_std_over_sqrt_fan_in():
    model = MLP(5, 1, width=7, depth=1, w_std=2.0, b_std=0.3, seed=0)
    layer = model.hidden[0]
    x = torch.randn(3, 5)
    expected = 2.0 / math.sqrt(5) * x @ layer.weight.T + 0.3 * layer.bias
    assert torch.allclose(layer(x), expected, atol=1e-6)
    assert layer.weight.std().item() == pytest.approx(1.0, abs=0.5)


def test_standard_and_ntk_parameterizations_compute_the_same_function_at_init():
    x = torch.randn(6, 3)
    ntk = small_ecrn(parameterization="ntk").eval()(x)
    std = small_ecrn(parameterization="standard").eval()(x)
    assert torch.allclose(ntk, std, atol=1e-5)


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu", "erf"])
def test_every_activation_builds_and_runs(activation):
    out = small_ecrn(activation=activation).eval()(torch.randn(3, 3))
    assert torch.isfinite(out).all()


def test_mlp_has_depth_hidden_layers():
    model = MLP(3, 2, width=8, depth=3)
    assert len(model.hidden) == 3
    assert model(torch.randn(4, 3)).shape == (4, 2)


def test_resnet_is_a_plain_residual_network():
    model = ResNet(3, 1, width=8, depth=5)
    assert model.alphas == [1.0] * 5
    assert model.drop_probs == [0.0] * 5
    assert isinstance(model.embed, torch.nn.Identity)


def test_resnet18_cifar_variant_shapes_and_size():
    model = ResNet18(num_classes=10, width=8, seed=0).eval()
    assert model.stem.weight.shape == (8, 3, 3, 3)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert model(torch.randn(2, 3 * 32 * 32)).shape == (2, 10)
    full = sum(p.numel() for p in ResNet18().parameters())
    assert 11.0e6 < full < 11.3e6


def test_resnet18_same_seed_same_weights():
    a, b = ResNet18(width=4, seed=3), ResNet18(width=4, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_build_model_maps_names_to_classes():
    assert type(build_model("ecrn", 3, 1, width=8, depth=2, n_fourier=4)) is ECRN
    assert type(build_model("mlp", 3, 1, width=8, depth=2)) is MLP
    assert type(build_model("resnet", 3, 1, width=8, depth=2)) is ResNet
    assert type(build_model("resnet18", 3, 10, width=4)) is ResNet18


def test_config_roundtrip():
    cfg = ECRNConfig(in_features=3, width=8, depth=2, n_fourier=4, seed=9)
    model = ECRN.from_config(cfg)
    assert model.config == cfg
    assert torch.equal(model.proj.weight, ECRN(3, width=8, depth=2, n_fourier=4, seed=9).proj.weight)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(depth=0), "depth"),
        (dict(width=0), "width"),
        (dict(width=-3), "width"),
        (dict(drop_prob=1.0), "drop_prob"),
        (dict(drop_prob=-0.1), "drop_prob"),
        (dict(drop_prob=[0.1, 0.2]), "drop_prob"),
        (dict(drop_prob="linear:1.5"), "drop_prob"),
        (dict(fourier_scale=-1.0), "fourier_scale"),
        (dict(alpha=[1.0, 1.0]), "alpha"),
        (dict(alpha="1/sqrt(depth)"), "alpha"),
        (dict(activation="sigmoid"), "activation"),
        (dict(parameterization="mup"), "parameterization"),
        (dict(n_fourier=-1), "n_fourier"),
    ],
)
def test_bad_ecrn_arguments_raise_value_error_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=f"'{argument}' parameter of ECRN must be"):
        small_ecrn(**kwargs)


def test_bad_mlp_arguments_raise_value_error_naming_them():
    with pytest.raises(ValueError, match="'depth' parameter of MLP.*Got 0"):
        MLP(3, width=8, depth=0)
    with pytest.raises(ValueError, match="'activation' parameter of MLP.*'relu'"):
        MLP(3, width=8, depth=1, activation="swish")


def test_wrong_feature_size_raises_value_error():
    with pytest.raises(ValueError, match="in_features=3.*Got shape \\(2, 4\\)"):
        small_ecrn()(torch.randn(2, 4))
    with pytest.raises(ValueError, match="in_features=3"):
        MLP(3, width=8, depth=1)(torch.randn(2, 5))


def test_bad_depth_mask_raises_value_error():
    with pytest.raises(ValueError, match="'mask' parameter of ECRN.set_depth_mask must be depth=4"):
        small_ecrn().set_depth_mask(torch.ones(3))
    with pytest.raises(ValueError, match="'mask' parameter"):
        small_ecrn().set_depth_mask(["a", "b", "c", "d"])


@pytest.mark.parametrize("schedule", ["-2/sqrt(L)", "-1/L", "-0.5/sqrt(L)", "1e999/L", "1e2e3/L"])
def test_negative_or_non_finite_alpha_schedule_is_refused(schedule):
    with pytest.raises(InvalidParameterError, match=r"'alpha' parameter of ECRN must be .*c >= 0"):
        small_ecrn(alpha=schedule)


@pytest.mark.parametrize("alpha", [[0.1, -0.2, 0.3, 0.4], [0.1, float("nan"), 0.3, 0.4],
                                   ["0.1", "0.2", "0.3", "0.4"], [True, 1.0, 1.0, 1.0]])
def test_per_block_alphas_must_be_finite_floats_at_least_zero(alpha):
    with pytest.raises(InvalidParameterError, match="'alpha' parameter of ECRN"):
        small_ecrn(alpha=alpha)


def test_per_block_schedules_accept_tensors_and_arrays():
    assert resolve_alphas(torch.tensor([0.5, 1.0]), 2) == [0.5, 1.0]
    assert resolve_alphas(np.array([0.5, 1.0]), 2) == [0.5, 1.0]
    assert small_ecrn(drop_prob=torch.tensor([0.0, 0.5, 0.25, 0.0])).drop_probs == [0.0, 0.5, 0.25, 0.0]
    assert resolve_alphas(np.float64(0.5), 2) == [0.5, 0.5]  # a numpy scalar is one value for every block


@pytest.mark.parametrize("kwargs, argument", [
    (dict(seed=-1), "seed"), (dict(seed="a"), "seed"), (dict(seed=1.5), "seed"),
    (dict(width=True), "width"), (dict(depth=2.0), "depth"), (dict(w_std=float("nan")), "w_std"),
    (dict(trainable_fourier="yes"), "trainable_fourier"),
])
def test_bad_types_raise_the_package_error_naming_the_argument(kwargs, argument):
    with pytest.raises(InvalidParameterError, match=f"The '{argument}' parameter of ECRN must be"):
        small_ecrn(**kwargs)


def test_unknown_model_name_raises_value_error_listing_names():
    with pytest.raises(ValueError, match="'name' parameter of build_model.*'ecrn'.*Got 'vit'"):
        build_model("vit", 3, 1)
