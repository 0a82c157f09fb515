"""Specifications of ntkbook.transformer: the pre-norm Transformer with scaled branches."""

import pytest
import torch

from ntkbook._validation import InvalidParameterError
from ntkbook.ntk import empirical_ntk
from ntkbook.transformer import Transformer, _layer_norm

pytestmark = pytest.mark.usefixtures("one_torch_thread")

T, C = 5, 3


def small(**kw):
    args = dict(width=8, depth=2, n_heads=2, seed=0)
    args.update(kw)
    return Transformer(T, C, **args)


def tokens(n=4, seed=0, dtype=torch.float32):
    return torch.randn(n, T, C, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_flattened_and_token_inputs_give_the_same_outputs_of_shape_n_by_out_features():
    model, x = small(out_features=2).eval(), tokens()
    out = model(x)
    assert out.shape == (4, 2)
    assert torch.equal(out, model(x.reshape(4, T * C)))


def test_an_input_of_the_wrong_shape_is_refused_with_the_expected_shape_in_the_message():
    with pytest.raises(InvalidParameterError, match=r"seq_len=5, token_features=3"):
        small()(torch.randn(4, T, C + 1))


def test_a_head_count_that_does_not_divide_the_width_is_refused():
    with pytest.raises(InvalidParameterError, match="n_heads"):
        small(width=9, n_heads=2)


def test_same_seed_gives_the_same_weights_whatever_alpha():
    a, b = small(alpha=0.0).state_dict(), small(alpha=2.0).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_alpha_zero_reduces_to_embedding_pooling_and_readout():
    model, x = small(alpha=0.0).eval(), tokens()
    expected = model.readout(model.embed(model.positions(x)).mean(dim=1))
    assert torch.allclose(model(x), expected, atol=0, rtol=0)


def test_alpha_zero_model_is_permutation_invariant_without_positional_features():
    model, x = small(alpha=0.0, positional="none").eval(), tokens()
    assert torch.allclose(model(x), model(x.flip(1)), atol=1e-6)


def test_nonzero_alpha_mixes_tokens():
    model, x = small(alpha=1.0, positional="none", pool="first").eval(), tokens()
    y = x.clone()
    y[:, -1] += 1.0  # change the last token only: the readout of token 0 must see it
    assert not torch.allclose(model(x), model(y))


def test_stochastic_depth_is_off_in_eval_mode():
    model, x = small(drop_prob=0.5).eval(), tokens()
    assert torch.equal(model(x), model(x))


def test_eval_mode_scales_each_block_by_its_keep_probability():
    x = tokens()
    dropped = small(drop_prob=0.5, alpha=1.0).eval()
    scaled = small(drop_prob=0.0, alpha=0.5).eval()  # alpha_l (1 - p_l) = 0.5
    assert torch.allclose(dropped(x), scaled(x), atol=1e-6)


def test_training_mode_draws_masks_that_change_the_output():
    model, x = small(depth=4, drop_prob=0.5).train(), tokens()
    torch.manual_seed(0)
    outs = {tuple(model(x).detach().flatten().tolist()) for _ in range(20)}
    assert len(outs) > 1


def test_a_fixed_depth_mask_drops_exactly_its_blocks():
    x = tokens()
    model = small(depth=2, alpha=1.0)
    model.set_depth_mask([1.0, 0.0])
    one_block = small(depth=1, alpha=1.0)
    one_block.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("blocks.1.")})
    assert torch.allclose(model.train()(x), one_block.eval()(x), atol=1e-6)


def test_a_mask_of_the_wrong_length_is_refused():
    with pytest.raises(InvalidParameterError, match="mask"):
        small(depth=2).set_depth_mask([1.0])


def test_layer_norm_has_zero_mean_and_unit_variance_per_token():
    z = _layer_norm(torch.randn(3, 4, 16, dtype=torch.float64))
    assert torch.allclose(z.mean(-1), torch.zeros(3, 4, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(z.var(-1, unbiased=False), torch.ones(3, 4, dtype=torch.float64), atol=1e-4)


def test_the_key_bias_does_not_change_the_output_and_is_frozen():
    model, x = small(alpha=1.0).double().eval(), tokens(dtype=torch.float64)
    before = model(x)
    with torch.no_grad():
        for block in model.blocks:
            block.attn.key.bias.add_(3.0)
    assert torch.allclose(model(x), before, atol=1e-12)
    assert not any(b.attn.key.bias.requires_grad for b in model.blocks)


def brute_force_ntk(model, x):
    """Theta[i, j] = sum_p df(x_i)/dp df(x_j)/dp, one autograd call per sample."""
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(len(x)):
        grads = torch.autograd.grad(model(x[i:i + 1]).sum(), params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    J = torch.stack(rows)  # (N, P)
    return J @ J.T


@pytest.mark.parametrize("method", ["structured", "jacobian", "auto"])
@pytest.mark.parametrize("score_scale", ["1/d", "1/sqrt(d)"])
def test_the_package_ntk_equals_a_brute_force_autograd_loop(method, score_scale):
    model = small(alpha=0.7, score_scale=score_scale, positional="fourier").double().eval()
    x = tokens(6, dtype=torch.float64)
    stats = {}
    theta = empirical_ntk(model, x, method=method, stats=stats)
    assert torch.allclose(theta, brute_force_ntk(model, x), rtol=1e-9, atol=1e-10)


def test_the_structured_rule_covers_every_parameter_of_the_model():
    model = small(alpha=1.0).double()
    stats = {}
    empirical_ntk(model, tokens(6, dtype=torch.float64), method="structured", stats=stats)
    assert stats["fallback_params"] == []


def test_the_transformer_sits_beside_the_ecrn_and_shares_its_mask_contract():
    import ntkbook.models as models
    import ntkbook.transformer as transformer

    assert models.Transformer is transformer.Transformer
    assert models.TransformerConfig is transformer.TransformerConfig
    assert issubclass(models.Transformer, models.StochasticDepthMask)
    assert issubclass(models.ECRN, models.StochasticDepthMask)
    with pytest.raises(AttributeError, match="no attribute 'Transformr'"):
        models.Transformr  # noqa: B018
