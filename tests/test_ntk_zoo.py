"""Specification of the operation-level structured rule: a zoo of models, each NTK equal to a brute-force loop.

Each model is written the way people write models (custom layers, free parameters, functional calls,
tied weights, attention, norms, convolutions of every kind, einsum, embeddings) and its kernel by
``method="structured"`` must equal :func:`test_ntk.brute_force_ntk` (one sample and one output at a time
with autograd) in float64 to 1e-10 and in float32 to 1e-5, for ``outputs="trace"`` and ``"full"``, with
each group's contraction forced to the Gram products and to the per-sample gradients in turn. Where a
rule exists the parameter must not fall back; where none can (data-dependent control flow, a weight
computed through a norm) it must fall back and ``stats`` must say why.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ntkbook.models import ECRN
from ntkbook.ntk import empirical_ntk, ntk_operator, structured
from test_ntk import brute_force_ntk, rel_err

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


# ----------------------------------------------------------------------------- the zoo


class CustomDense(nn.Module):
    """c * x @ w.T + 0.1 * b: a dense layer with its own parameter names and scales."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.w = nn.Parameter(torch.randn(d_out, d_in))
        self.b = nn.Parameter(torch.randn(d_out))
        self.c = 1 / math.sqrt(d_in)

    def forward(self, x):
        return self.c * x @ self.w.T + 0.1 * self.b


class CustomMLP(nn.Module):
    def __init__(self, d_out=1):
        super().__init__()
        self.l1, self.l2, self.l3 = CustomDense(3, 12), CustomDense(12, 12), CustomDense(12, d_out)

    def forward(self, x):
        return self.l3(torch.tanh(self.l2(torch.tanh(self.l1(x)))))


class ParameterListNet(nn.Module):
    """Weights and biases in ParameterLists, used through F.linear."""

    def __init__(self, d_out=1):
        super().__init__()
        sizes = [3, 10, 10, d_out]
        self.ws = nn.ParameterList(nn.Parameter(torch.randn(b, a) / math.sqrt(a)) for a, b in zip(sizes, sizes[1:]))
        self.bs = nn.ParameterList(nn.Parameter(torch.randn(b)) for b in sizes[1:])

    def forward(self, x):
        for i, (w, b) in enumerate(zip(self.ws, self.bs)):
            x = F.linear(x, w, b)
            x = torch.tanh(x) if i < len(self.ws) - 1 else x
        return x


class TiedAutoencoder(nn.Module):
    """Tied weights: the encoder uses W, the decoder W^T."""

    def __init__(self, d_out=1):
        super().__init__()
        self.W = nn.Parameter(torch.randn(4, 5) / 2)
        self.b = nn.Parameter(torch.randn(4))
        self.out = nn.Linear(5, d_out)

    def forward(self, x):
        h = torch.tanh(F.linear(x, self.W, self.b))
        return self.out(torch.tanh(h @ self.W))


class SharedBlock(nn.Module):
    """One block applied twice, and its weight shared by a second block with its own bias."""

    def __init__(self, d_out=1):
        super().__init__()
        self.inp, self.blk, self.blk2, self.out = nn.Linear(3, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, d_out)
        self.blk2.weight = self.blk.weight

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        for layer in (self.blk, self.blk, self.blk2):
            h = h + torch.tanh(layer(h))
        return self.out(h)


class HandAttention(nn.Module):
    """Hand-written multi-head self-attention on (b, T, d): a packed qkv parameter used through @."""

    def __init__(self, d_out=1, e=8, heads=2):
        super().__init__()
        self.emb, self.proj, self.out = nn.Linear(3, e), nn.Linear(e, e), nn.Linear(e, d_out)
        self.qkv = nn.Parameter(torch.randn(3 * e, e) / math.sqrt(e))
        self.heads = heads

    def forward(self, x):
        h = self.emb(x)
        b, T, E = h.shape
        q, k, v = (h @ self.qkv.T).split(E, dim=-1)
        q, k, v = (t.view(b, T, self.heads, E // self.heads).transpose(1, 2) for t in (q, k, v))  # (b, nh, T, hs)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(E // self.heads), dim=-1)
        return self.out(self.proj((att @ v).transpose(1, 2).reshape(b, T, E)).mean(1))


class MultiheadAttentionNet(nn.Module):
    """nn.MultiheadAttention, batch first or sequence first (its out projection sees (T b, E) rows)."""

    def __init__(self, d_out=1, batch_first=True):
        super().__init__()
        self.emb, self.out = nn.Linear(3, 8), nn.Linear(8, d_out)
        self.mha = nn.MultiheadAttention(8, 2, batch_first=batch_first)
        self.batch_first = batch_first

    def forward(self, x):
        h = self.emb(x) if self.batch_first else self.emb(x).transpose(0, 1)
        a, _ = self.mha(h, h, h, need_weights=False)
        return self.out((h + a).mean(1 if self.batch_first else 0))


class EncoderNet(nn.Module):
    """nn.TransformerEncoderLayer (pre- or post-norm) between a linear embedding and a mean-pooled readout."""

    def __init__(self, d_out=1, norm_first=True, layers=1):
        super().__init__()
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=norm_first)
        self.emb, self.out = nn.Linear(3, 8), nn.Linear(8, d_out)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x):
        return self.out(self.enc(self.emb(x)).mean(1))


class NormNet(nn.Module):
    """GroupNorm, LayerNorm and RMSNorm with affine parameters."""

    def __init__(self, d_out=1):
        super().__init__()
        self.c, self.gn = nn.Conv2d(2, 4, 3, padding=1), nn.GroupNorm(2, 4)
        self.ln, self.fc, self.rms, self.out = nn.LayerNorm(64), nn.Linear(64, 8), nn.RMSNorm(8), nn.Linear(8, d_out)

    def forward(self, x):
        h = torch.tanh(self.gn(self.c(x))).flatten(1)
        return self.out(torch.tanh(self.rms(self.fc(self.ln(h)))))


class ConvZoo(nn.Module):
    """Convolutions with stride, padding, dilation, depthwise and grouped channels, 'same' and reflect padding."""

    def __init__(self, d_out=1):
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Conv2d(2, 4, 3, stride=2, padding=1),
            nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=4),  # depthwise, dilated
            nn.Conv2d(4, 6, 3, groups=2, padding="same"),
            nn.Conv2d(6, 3, 3, padding=1, padding_mode="reflect"),
        ])
        self.fc = nn.Linear(3 * 4 * 4, d_out)

    def forward(self, x):
        for c in self.convs:
            x = torch.tanh(c(x))
        return self.fc(x.flatten(1))


class FunctionalCNN(nn.Module):
    """F.conv2d and F.linear on free parameters."""

    def __init__(self, d_out=1):
        super().__init__()
        self.w1, self.b1 = nn.Parameter(torch.randn(4, 2, 3, 3) / 4), nn.Parameter(torch.zeros(4))
        self.w2 = nn.Parameter(torch.randn(4, 4, 3, 3) / 6)
        self.fc = nn.Parameter(torch.randn(d_out, 16) / 4)

    def forward(self, x):
        h = F.relu(F.conv2d(x, self.w1, self.b1, padding=1))
        return F.linear(torch.tanh(F.conv2d(h, self.w2, stride=2)).flatten(1), self.fc)


class Conv1d3d(nn.Module):
    """Conv1d and Conv3d (stride, padding, dilation) side by side."""

    def __init__(self, d_out=1):
        super().__init__()
        self.c1 = nn.Conv1d(2, 3, 3, stride=2, padding=1)
        self.c3 = nn.Conv3d(1, 2, 2, padding=1, dilation=2)
        self.fc = nn.Linear(3 * 4 + 2 * 8, d_out)

    def forward(self, x):  # (b, 2, 8)
        a = torch.tanh(self.c1(x)).flatten(1)
        c = torch.tanh(self.c3(x[:, :1].reshape(x.shape[0], 1, 2, 2, 2))).flatten(1)
        return self.fc(torch.cat([a, c], 1))


class EinsumNet(nn.Module):
    """einsum layers, including a per-head weight and an ellipsis."""

    def __init__(self, d_out=1):
        super().__init__()
        self.W = nn.Parameter(torch.randn(3, 6))
        self.U = nn.Parameter(torch.randn(2, 6, 6) / 3)
        self.V = nn.Parameter(torch.randn(6, d_out))

    def forward(self, x):
        h = torch.tanh(torch.einsum("bi,ij->bj", x, self.W))
        h2 = torch.tanh(torch.einsum("bj,hjk->bhk", h, self.U)).sum(1)
        return torch.einsum("...j,jo->...o", h2 * h, self.V)


class TiedEmbedding(nn.Module):
    """An embedding (with a padding row) whose table is also the output layer."""

    def __init__(self, d_out=1, vocab=11):
        super().__init__()
        self.E, self.mix = nn.Embedding(vocab, 6, padding_idx=0), nn.Linear(6, 6)
        self.d_out = d_out

    def forward(self, x):  # (b, T) integers
        h = torch.tanh(self.mix(self.E(x)))
        return F.linear(h.mean(1), self.E.weight)[:, : self.d_out]


class InPlace(nn.Module):
    """In-place bias add, in-place scaling by a parameter and an in-place ReLU on a layer's output."""

    def __init__(self, d_out=1):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(3, 6), nn.Linear(6, 6), nn.Linear(6, d_out)
        self.b, self.g = nn.Parameter(torch.randn(6)), nn.Parameter(torch.randn(6))

    def forward(self, x):
        h = self.fc1(x)
        h += self.b
        h = torch.tanh(h) * 1.0
        h.mul_(self.g)
        return self.out(self.fc2(h).relu_() * 0.5)


class DataDependent(nn.Module):
    """A loop over the samples with a branch on each one's hidden values."""

    def __init__(self, d_out=1):
        super().__init__()
        self.fc1, self.a, self.b = nn.Linear(3, 6), nn.Linear(6, d_out), nn.Linear(6, d_out)

    def forward(self, x):
        outs = []
        for xn in x:
            h = torch.tanh(self.fc1(xn))
            outs.append(self.a(h) if h.sum() > 0 else self.b(h))
        return torch.stack(outs)


class WeightNorm(nn.Module):
    """A weight computed from two parameters through a norm: no rule for either, the bias keeps its rule."""

    def __init__(self, d_out=1):
        super().__init__()
        self.v, self.g = nn.Parameter(torch.randn(6, 3)), nn.Parameter(torch.ones(6))
        self.out = nn.Linear(6, d_out)

    def forward(self, x):
        w = self.g[:, None] * self.v / self.v.norm(dim=1, keepdim=True)
        return self.out(torch.tanh(x @ w.T))


def ecrn(d_out=1):
    return ECRN(3, d_out, width=16, depth=3, trainable_fourier=True, seed=0)


#: name -> (constructor(d_out), per-sample input shape or "tokens", marks)
ZOO = {
    "custom_dense": (CustomMLP, (3,)),
    "parameter_list": (ParameterListNet, (3,)),
    "tied_autoencoder": (TiedAutoencoder, (5,)),
    "shared_block": (SharedBlock, (3,)),
    "hand_attention": (HandAttention, (4, 3)),
    "multihead_attention": (MultiheadAttentionNet, (4, 3)),
    "multihead_attention_seq_first": (lambda d_out: MultiheadAttentionNet(d_out, batch_first=False), (4, 3)),
    "transformer_encoder": (EncoderNet, (4, 3)),
    "transformer_encoder_post_norm": (lambda d_out: EncoderNet(d_out, norm_first=False, layers=2), (4, 3)),
    "norms": (NormNet, (2, 4, 4)),
    "conv_zoo": (ConvZoo, (2, 8, 8)),
    "functional_cnn": (FunctionalCNN, (2, 6, 6)),
    "conv1d_conv3d": (Conv1d3d, (2, 8)),
    "einsum": (EinsumNet, (3,)),
    "tied_embedding": (TiedEmbedding, "tokens"),
    "in_place": (InPlace, (3,)),
    "ecrn": (ecrn, (3,)),
}
#: Models where no rule applies to some parameters, with those parameters and a word of the reason.
FALLS_BACK = {
    "data_dependent": (DataDependent, (3,), ["fc1.weight", "fc1.bias", "a.weight", "a.bias", "b.weight", "b.bias"],
                       "data-dependent control flow"),
    "weight_norm": (WeightNorm, (3,), ["v", "g"], "no rule"),
}
HEAVY = {"transformer_encoder_post_norm", "conv_zoo", "ecrn"}
#: Models checked in float32 in the fast suite too (the others in float32 only with the slow tests).
FAST_F32 = {"custom_dense", "parameter_list", "tied_autoencoder", "tied_embedding", "einsum", "in_place"}


def build(ctor, shape, dtype, d_out=1, seed=0):
    torch.manual_seed(seed)
    model = ctor(d_out).to(dtype).eval()
    if shape == "tokens":
        return model, torch.randint(0, 11, (5, 4)), torch.randint(0, 11, (4, 4))
    return model, torch.randn(5, *shape, dtype=dtype), torch.randn(4, *shape, dtype=dtype)


@pytest.fixture
def force():
    """Force every group's contraction ("gram" or "persample"), and restore the cost formulas' choice after."""
    def set_(strategy):
        structured.FORCE_STRATEGY = strategy
    yield set_
    structured.FORCE_STRATEGY = None


def _params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


def _cases():
    for n in ZOO:
        for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
            slow = n in HEAVY or (dtype == torch.float32 and n not in FAST_F32)
            yield pytest.param(n, dtype, id=f"{n}-{tag}", marks=[pytest.mark.slow] if slow else [])


# ----------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("name, dtype", _cases())
def test_every_zoo_model_has_rules_for_all_parameters_and_its_kernel_is_exact(name, dtype, force):
    ctor, shape = ZOO[name]
    model, x1, x2 = build(ctor, shape, dtype, d_out=2)
    refs = {o: brute_force_ntk(model, x1, x2, full=o == "full") for o in ("trace", "full")}
    for strategy in ("gram", "persample"):
        force(strategy)
        for outputs, ref in refs.items():
            stats = {}
            theta = empirical_ntk(model, x1, x2, method="structured", outputs=outputs, stats=stats)
            assert stats["fallback_params"] == [], stats["fallback_reasons"]
            assert rel_err(theta, ref) < TOL[dtype], (strategy, outputs)


@pytest.mark.parametrize("name", _params(ZOO))
def test_every_zoo_model_gives_the_same_symmetric_kernel_by_auto_in_blocks(name):
    ctor, shape = ZOO[name]
    model, x1, _ = build(ctor, shape, torch.float64)
    theta = empirical_ntk(model, x1, block_size=2)
    assert torch.equal(theta, theta.T)
    assert rel_err(theta, brute_force_ntk(model, x1, x1)) < 1e-10


@pytest.mark.parametrize("name", _params(["tied_embedding", "conv_zoo", "multihead_attention", "tied_autoencoder"]))
@pytest.mark.parametrize("outputs", ["trace", "full"])
def test_the_operator_uses_the_same_rules_and_equals_the_formed_kernel(name, outputs):
    ctor, shape = ZOO[name]
    model, x1, _ = build(ctor, shape, torch.float64, d_out=2)
    theta = empirical_ntk(model, x1, outputs=outputs, method="jacobian")
    if outputs == "full":
        theta = theta.permute(0, 2, 1, 3).reshape(10, 10)
    op = ntk_operator(model, x1, method="structured", outputs=outputs, block_size=3)
    V = torch.randn(op.shape[0], 3, dtype=torch.float64)
    assert op.method.value == "structured" and op.plan.fallback == []
    assert rel_err(op(V), theta @ V) < 1e-10


# ----------------------------------------------------------------------------- every use counts


def test_a_tied_weight_is_one_group_with_both_uses_and_its_cross_terms():
    model, x1, x2 = build(TiedAutoencoder, (5,), torch.float64)
    stats = {}
    theta = empirical_ntk(model, x1, x2, method="structured", stats=stats)
    group = next(r for r in stats["rules"] if "W" in r["params"])
    assert group["uses"] == ["F.linear", "Tensor.matmul"] and "b" in group["params"]
    # without the cross terms (the two uses as if they were separate parameters) the kernel is wrong
    assert rel_err(theta, brute_force_ntk(model, x1, x2)) < 1e-10


def test_a_block_applied_twice_concatenates_its_positions_for_the_gram_products(force):
    model, x1, x2 = build(SharedBlock, (3,), torch.float64)
    force("gram")
    stats = {}
    theta = empirical_ntk(model, x1, x2, method="structured", stats=stats)
    group = next(r for r in stats["rules"] if "blk.weight" in r["params"])
    assert group["uses"] == ["F.linear"] * 3 and group["params"] == ["blk.weight", "blk.bias", "blk2.bias"]
    assert rel_err(theta, brute_force_ntk(model, x1, x2)) < 1e-10


def test_an_embedding_tied_to_the_output_layer_is_one_group():
    model, x1, x2 = build(TiedEmbedding, "tokens", torch.float64, d_out=3)
    stats = {}
    theta = empirical_ntk(model, x1, x2, method="structured", outputs="full", stats=stats)
    group = next(r for r in stats["rules"] if "E.weight" in r["params"])
    assert group["uses"] == ["F.embedding", "F.linear"]
    assert rel_err(theta, brute_force_ntk(model, x1, x2, full=True)) < 1e-10


def test_a_bias_after_constant_scalings_joins_its_layer():
    model, x1, _ = build(CustomMLP, (3,), torch.float64)
    stats = {}
    empirical_ntk(model, x1, method="structured", stats=stats)
    assert [r["params"] for r in stats["rules"]] == [["l1.w", "l1.b"], ["l2.w", "l2.b"], ["l3.w", "l3.b"]]


# ----------------------------------------------------------------------------- fallback


@pytest.mark.parametrize("name", list(FALLS_BACK))
def test_parameters_without_a_rule_fall_back_say_why_and_the_kernel_stays_exact(name):
    ctor, shape, names, why = FALLS_BACK[name]
    model, x1, x2 = build(ctor, shape, torch.float64)
    stats = {}
    theta = empirical_ntk(model, x1, x2, method="structured", stats=stats)
    assert stats["fallback_params"] == names
    assert all(why in stats["fallback_reasons"][n] for n in names), stats["fallback_reasons"]
    assert rel_err(theta, brute_force_ntk(model, x1, x2)) < 1e-10


def test_auto_uses_plain_jacobians_when_no_parameter_has_a_rule():
    model, x1, _ = build(DataDependent, (3,), torch.float64)
    stats = {}
    theta = empirical_ntk(model, x1, stats=stats)
    assert stats["method"] == "jacobian"
    assert rel_err(theta, brute_force_ntk(model, x1, x1)) < 1e-10


class Switch(nn.Module):
    """Data-dependent structure the probe cannot see: a second layer used only for large batches."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(3, 6), nn.Linear(6, 6), nn.Linear(6, 1)

    def forward(self, x):
        h = torch.tanh(self.fc1(x))
        if x.shape[0] > 4:  # a shape is no data: the recorder cannot flag this branch
            h = h + 0.0 * self.fc2(h)  # an extra use of fc2 that only blocks larger than the probe make
        return self.out(h)


def test_a_block_whose_uses_differ_from_the_probe_restarts_with_those_parameters_falling_back():
    torch.manual_seed(0)
    model = Switch().double()
    x = torch.randn(12, 3, dtype=torch.float64)
    stats = {}
    theta = empirical_ntk(model, x, method="structured", block_size=6, stats=stats)
    assert stats["restarts"] >= 1
    assert {"fc2.weight", "fc2.bias"} <= set(stats["fallback_params"])
    assert rel_err(theta, brute_force_ntk(model, x, x)) < 1e-10
