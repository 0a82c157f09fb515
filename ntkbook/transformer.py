r"""A small pre-norm Transformer encoder with scaled branches: the attention companion of the ECRN.

The model of the book's chapter "Eigenvalue control in attention models" (the paper's open
question 2). It carries the ECRN's two mechanisms of eigenvalue control (:mod:`ntkbook.models`)
over to attention blocks: every branch is scaled by alpha_l, and whole blocks can be dropped
(stochastic depth, Huang et al. 2016). With T tokens of C features each, width n, H heads of
size d = n / H and L blocks::

    p(t)    = positional features of position t = 0 .. T-1              (none, sinusoidal or Fourier)
    h_0     = Dense([x_t, p(t)])                                         token embedding, (N, T, n)
    h      <- h + m_l alpha_l Attn_l(LN(h))                               l = 0 .. L-1
    h      <- h + m_l alpha_l MLP_l(LN(h))
    f(x)    = Dense(pool_t h_L)                                          mean over tokens, or token 0

    Attn(u) = Dense_o(concat_heads softmax(s(Q K^T)) V),   Q, K, V = Dense_q(u), Dense_k(u), Dense_v(u)
    MLP(u)  = Dense_2(act(Dense_1(u)))

with LN the LayerNorm without affine parameters, s the score scale (1/d or 1/sqrt(d)), and
m_l ~ Bernoulli(1 - p_l) in training (one draw per block per forward call, for the whole batch)
and m_l = 1 - p_l in eval mode: the ECRN's semantics, with the same mask contract
(:meth:`Transformer.sample_depth_mask`, :meth:`Transformer.set_depth_mask`), so
:func:`ntkbook.ntk.expected_ntk` and the exact mask enumeration of chapter 8 apply unchanged.
Every Dense layer is :class:`ntkbook.models.Dense` in NTK parameterization by default.

With alpha = 0 every branch is off and the model is the embedding, the pooling and the
readout: a function of the token mean (``pool="mean"``), which mixes no tokens.

The score scale. In NTK parameterization the entries of Q and K are O(1), so q . k (a sum of d
products) is O(sqrt(d)) at initialization. ``score_scale="1/d"`` (as in the muP and mean-field
analyses of attention, e.g. Yang 2020, "Tensor Programs II") makes the scores O(1/sqrt(d)):
as the width grows attention tends to uniform averaging over the tokens at initialization.
``"1/sqrt(d)"`` (Vaswani et al. 2017) keeps them O(1). The choice of 1/d as the default is
ours (a reconstruction: the paper has no attention model).

Example::

    >>> model = Transformer(seq_len=6, token_features=4, width=32, depth=2, n_heads=2, seed=0)
    >>> x = torch.randn(10, 6 * 4)       # (N, T * C): flattened tokens, or (N, T, C)
    >>> model.eval()(x).shape            # (N, out_features)
    torch.Size([10, 1])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ntkbook._validation import (InvalidParameterError, check_float, check_int, check_option, check_seed,
                                 fail)
from ntkbook.models import (ACTIVATIONS, PARAMETERIZATIONS, Dense, StochasticDepthMask, resolve_alphas,
                            resolve_drop_probs)

__all__ = ["TransformerConfig", "Transformer", "PositionalFeatures", "SelfAttention", "FeedForward",
           "Block", "POSITIONAL", "SCORE_SCALES", "POOLS"]

POSITIONAL = ("none", "sinusoidal", "fourier")
SCORE_SCALES = ("1/d", "1/sqrt(d)")
POOLS = ("mean", "first")


# ----------------------------------------------------------------------------- config
@dataclass
class TransformerConfig:
    seq_len: int  # T tokens per sequence: the attention matrices are T x T
    token_features: int  # C features of one token (a one-hot over a vocabulary, say)
    out_features: int = 1  # outputs of the linear readout
    width: int = 64  # n, the model width: larger -> closer to the kernel limit, more compute
    depth: int = 2  # L blocks (each an attention and an MLP branch)
    n_heads: int = 2  # H heads of size d = width / H; must divide the width
    mlp_ratio: int = 2  # hidden units of the MLP branch per model unit (4 in Vaswani et al.; 2 is cheaper)
    alpha: object = "1/sqrt(L)"  # branch scale alpha_l (float, per-block list or schedule, as the ECRN's):
    # smaller -> tighter control of the NTK eigenvalues, slower feature growth. Reconstruction.
    drop_prob: object = 0.0  # stochastic depth p_l over blocks (as the ECRN's): 0 -> off
    positional: str = "sinusoidal"  # none | sinusoidal | fourier: the position features concatenated
    # to each token; without them attention is blind to order (a permutation-equivariant model)
    n_positional: int = 4  # frequencies of the positional features (2 n_positional features)
    fourier_scale: float = 1.0  # sigma of the random frequencies of "fourier" (positions scaled to [0, 1))
    score_scale: str = "1/d"  # 1/d: near-uniform attention at init, a width limit without query-key
    # learning (reconstruction); 1/sqrt(d): the usual scaling, O(1) scores at init
    pool: str = "mean"  # mean: average the tokens before the readout | first: read token 0
    activation: str = "gelu"  # of the MLP branch: tanh | relu | gelu | erf
    parameterization: str = "ntk"  # of every Dense layer: ntk | standard (see ntkbook.models.Dense)
    w_std: float = 1.0  # sigma_w of every Dense layer
    b_std: float = 0.1  # sigma_b of every Dense layer: 0 -> no bias contribution
    final_norm: bool = False  # True: a LayerNorm before the pooling (as most pre-norm Transformers);
    # it divides the readout's input by |h_L|, which itself flattens the kernel in depth. False
    # reads the residual stream as the ECRN does, so chapter 06's bound applies unchanged.
    seed: int = 0  # the CPU generator seed: same seed -> identical weights, whatever alpha is


# ----------------------------------------------------------------------------- layers
def _layer_norm(h):
    """LayerNorm over the last axis without affine parameters (eps 1e-5): (..., n) -> (..., n)."""
    return F.layer_norm(h, h.shape[-1:])


class PositionalFeatures(nn.Module):
    """Fixed features p(t) of the positions t = 0 .. T-1, shape (T, 2m) (a buffer, or (T, 0)).

    sinusoidal (Vaswani et al. 2017): [sin(t w_k), cos(t w_k)], w_k = 10000^(-k/m), k = 0 .. m-1;
    fourier (Tancik et al. 2020): [sin(2 pi b_k t/T), cos(2 pi b_k t/T)], b_k ~ N(0, fourier_scale^2).
    """

    def __init__(self, seq_len, kind, n_features, fourier_scale, generator):
        super().__init__()
        t = torch.arange(seq_len, dtype=torch.float64)[:, None]  # (T, 1)
        if kind == "sinusoidal":
            proj = t * 10000.0 ** (-torch.arange(n_features, dtype=torch.float64) / n_features)  # (T, m)
        elif kind == "fourier":
            b = fourier_scale * torch.randn(n_features, generator=generator).double()
            proj = 2 * math.pi * (t / seq_len) * b  # (T, m)
        else:
            proj = t[:, :0]  # (T, 0): no features
        self.register_buffer("table", torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1).float())

    def forward(self, x):
        """x (N, T, C) -> [x, p] (N, T, C + 2m)."""
        p = self.table.to(dtype=x.dtype).expand(x.shape[0], -1, -1)  # (N, T, 2m)
        return torch.cat([x, p], dim=-1)


class SelfAttention(nn.Module):
    """Multi-head self-attention written out: (N, T, n) -> (N, T, n).

    Each projection is a Dense layer, so every parameter enters through ``F.linear`` and the
    package's structured NTK has a rule for it; the scores and the softmax hold no parameter.
    """

    def __init__(self, width, n_heads, score_scale, dense):
        super().__init__()
        self.n_heads = n_heads
        d = width // n_heads
        self.scale = 1.0 / d if score_scale == "1/d" else 1.0 / math.sqrt(d)
        self.query, self.key, self.value = (Dense(width, width, **dense) for _ in range(3))
        self.out = Dense(width, width, **dense)
        # The key bias b adds q . b to every score of a row, which the softmax cancels: its
        # gradient is identically 0, so it is frozen (not part of theta, never trained).
        self.key.bias.requires_grad_(False)

    def forward(self, u):
        N, T, n = u.shape
        H, d = self.n_heads, n // self.n_heads
        q = self.query(u).reshape(N, T, H, d).transpose(1, 2)  # (N, H, T, d)
        k = self.key(u).reshape(N, T, H, d).transpose(1, 2)  # (N, H, T, d)
        v = self.value(u).reshape(N, T, H, d).transpose(1, 2)  # (N, H, T, d)
        att = torch.softmax(self.scale * (q @ k.transpose(-2, -1)), dim=-1)  # (N, H, T, T)
        y = (att @ v).transpose(1, 2).reshape(N, T, n)  # (N, T, n)
        return self.out(y)


class FeedForward(nn.Module):
    """The MLP branch Dense_2(act(Dense_1(u))): (N, T, n) -> (N, T, n), hidden width ratio * n."""

    def __init__(self, width, ratio, act, dense):
        super().__init__()
        self.fc1 = Dense(width, ratio * width, **dense)
        self.fc2 = Dense(ratio * width, width, **dense)
        self.act = act

    def forward(self, u):
        return self.fc2(self.act(self.fc1(u)))


class Block(nn.Module):
    """One pre-norm block: h + c Attn(LN(h)), then + c MLP(LN(.)), with c = m_l alpha_l."""

    def __init__(self, width, n_heads, score_scale, ratio, act, dense):
        super().__init__()
        self.attn = SelfAttention(width, n_heads, score_scale, dense)
        self.mlp = FeedForward(width, ratio, act, dense)

    def forward(self, h, c):
        h = h + c * self.attn(_layer_norm(h))
        return h + c * self.mlp(_layer_norm(h))


# ----------------------------------------------------------------------------- the model
class Transformer(StochasticDepthMask, nn.Module):
    """Pre-norm Transformer encoder with branch scales alpha_l and stochastic depth (see the module).

    Parameters
    ----------
    seq_len, token_features : int
        T and C. The input is (N, T, C) or flattened (N, T * C) (the layout of an
        :class:`ntkbook.data.Dataset`).
    out_features, width, depth, n_heads, mlp_ratio, alpha, drop_prob, positional, n_positional, fourier_scale, score_scale, pool, activation, parameterization, w_std, b_std, final_norm, seed
        See :class:`TransformerConfig`, where each field's trade-off is stated.

    Notes
    -----
    ``model.alphas`` and ``model.drop_probs`` list alpha_l and p_l; the stochastic-depth mask
    contract is the ECRN's (:class:`ntkbook.models.StochasticDepthMask`).
    """

    def __init__(self, seq_len, token_features, out_features=1, *, width=64, depth=2, n_heads=2, mlp_ratio=2,
                 alpha="1/sqrt(L)", drop_prob=0.0, positional="sinusoidal", n_positional=4, fourier_scale=1.0,
                 score_scale="1/d", pool="mean", activation="gelu", parameterization="ntk", w_std=1.0,
                 b_std=0.1, final_norm=False, seed=0):
        super().__init__()
        owner = type(self).__name__
        self.config = cfg = TransformerConfig(
            seq_len=check_int(seq_len, "seq_len", owner),
            token_features=check_int(token_features, "token_features", owner),
            out_features=check_int(out_features, "out_features", owner),
            width=check_int(width, "width", owner),
            depth=check_int(depth, "depth", owner, low=0),
            n_heads=check_int(n_heads, "n_heads", owner),
            mlp_ratio=check_int(mlp_ratio, "mlp_ratio", owner),
            alpha=alpha, drop_prob=drop_prob,
            positional=check_option(positional, "positional", owner, POSITIONAL),
            n_positional=check_int(n_positional, "n_positional", owner, low=0),
            fourier_scale=check_float(fourier_scale, "fourier_scale", owner),
            score_scale=check_option(score_scale, "score_scale", owner, SCORE_SCALES),
            pool=check_option(pool, "pool", owner, POOLS),
            activation=check_option(activation, "activation", owner, ACTIVATIONS),
            parameterization=check_option(parameterization, "parameterization", owner, PARAMETERIZATIONS),
            w_std=check_float(w_std, "w_std", owner),
            b_std=check_float(b_std, "b_std", owner),
            final_norm=final_norm if isinstance(final_norm, bool) else fail("final_norm", owner, "a bool", final_norm),
            seed=check_seed(seed, "seed", owner),
        )
        if cfg.width % cfg.n_heads:
            fail("n_heads", owner, f"a divisor of width={cfg.width}", n_heads)
        self.alphas = resolve_alphas(alpha, cfg.depth, owner) if cfg.depth else []  # [alpha_l]
        self.drop_probs = resolve_drop_probs(drop_prob, cfg.depth, owner) if cfg.depth else []  # [p_l]
        self._depth_mask = None

        g = torch.Generator().manual_seed(cfg.seed)
        dense = dict(w_std=cfg.w_std, b_std=cfg.b_std, parameterization=cfg.parameterization, generator=g)
        n_pos = cfg.n_positional if cfg.positional != "none" else 0
        self.positions = PositionalFeatures(cfg.seq_len, cfg.positional, n_pos, cfg.fourier_scale, g)
        self.embed = Dense(cfg.token_features + 2 * n_pos, cfg.width, **dense)
        act = ACTIVATIONS[cfg.activation]
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.n_heads, cfg.score_scale, cfg.mlp_ratio, act, dense)
                                    for _ in range(cfg.depth))
        self.readout = Dense(cfg.width, cfg.out_features, **dense)

    @classmethod
    def from_config(cls, config):
        """Build from a :class:`TransformerConfig`."""
        return cls(**asdict(config))

    @property
    def in_features(self):
        return self.config.seq_len * self.config.token_features

    @property
    def out_features(self):
        return self.config.out_features

    @property
    def depth(self):
        return self.config.depth

    # forward -------------------------------------------------------------------------------
    def _tokens(self, x):
        cfg = self.config
        if x.dim() == 2 and x.shape[1] == cfg.seq_len * cfg.token_features:
            return x.reshape(x.shape[0], cfg.seq_len, cfg.token_features)  # (N, T, C)
        if x.dim() == 3 and tuple(x.shape[1:]) == (cfg.seq_len, cfg.token_features):
            return x
        raise InvalidParameterError(
            f"The 'x' parameter of {type(self).__name__}.forward must have shape (N, seq_len={cfg.seq_len}, "
            f"token_features={cfg.token_features}) or (N, {cfg.seq_len * cfg.token_features}). "
            f"Got shape {tuple(x.shape)} instead.")

    def forward(self, x):
        h = self.embed(self.positions(self._tokens(x)))  # (N, T, n)
        for block, m, a in zip(self.blocks, self._multipliers(), self.alphas):
            if m != 0.0 and a != 0.0:
                h = block(h, m * a)
        if self.config.final_norm:
            h = _layer_norm(h)
        pooled = h.mean(dim=1) if self.config.pool == "mean" else h[:, 0]  # (N, n)
        return self.readout(pooled)  # (N, out_features)
