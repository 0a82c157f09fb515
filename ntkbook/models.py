"""The NTK-ECRN of arXiv:2512.08264 and the baselines it is compared with.

Every fully connected layer is a :class:`Dense` in one of two parameterizations
(the conventions of neural-tangents' ``stax.Dense(W_std, b_std, parameterization=...)``):

- ``"ntk"`` (Jacot et al. 2018): W_ij ~ N(0, 1), b_i ~ N(0, 1) and
  ``y = (w_std / sqrt(fan_in)) * W x + b_std * b``. The empirical NTK converges to a
  deterministic limit as the width grows; :mod:`ntkbook.analytic` computes it.
- ``"standard"``: W_ij ~ N(0, w_std^2 / fan_in), b_i ~ N(0, b_std^2) and ``y = W x + b``.
  Same function distribution at initialization, different gradients (hence NTK).

The NTK-ECRN (paper Sec. III; its Eq. (13) is not public, so the block below is a
reconstruction from the paper's text)::

    phi(x)  = [sin(2 pi B x), cos(2 pi B x)]          B (n_fourier, d), B_kj ~ N(0, fourier_scale^2)
    h_0     = Dense(phi(x))                           input projection to `width`
    h_{l+1} = h_l + m_l * alpha_l * act(Dense_l(h_l)) l = 0 .. depth-1
    f(x)    = Dense(h_L)                              linear readout

with m_l ~ Bernoulli(1 - p_l) in training (one draw per block per forward call, shared by
the whole batch as in Huang et al. 2016) and m_l replaced by its expectation 1 - p_l in eval
mode. Example::

    >>> model = ECRN(3, 1, width=64, depth=4, n_fourier=16, seed=0)
    >>> x = torch.randn(10, 3)     # (N, d)
    >>> model.eval()(x).shape      # (N, out_features)
    torch.Size([10, 1])
"""

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ntkbook._validation import (InvalidParameterError, check_bool, check_float, check_floats, check_int,
                                 check_option, check_seed, fail)

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": F.gelu,  # exact: x * Phi(x)
    "erf": torch.erf,
}
PARAMETERIZATIONS = ("ntk", "standard")


# ----------------------------------------------------------------------------- schedules
_SCHEDULE = re.compile(r"^\s*([0-9.eE+-]*)\s*/\s*(sqrt\(L\)|L)\s*$")


def _is_per_block(value):
    """A list, tuple, or tensor or array with at least one dimension (not a scalar)."""
    return isinstance(value, Sequence) or getattr(value, "ndim", 0) > 0


def _per_block(value, name, depth, owner, low, high, high_open):
    """A sequence (list, tuple, tensor or array) of ``depth`` floats in the range, as a list."""
    values = value.tolist() if hasattr(value, "tolist") else list(value)  # tensor/array -> list
    if not isinstance(values, list) or len(values) != depth:
        fail(name, owner, f"a sequence of length depth={depth}", value)
    return check_floats(values, name, owner, low, high, high_open=high_open)


def resolve_alphas(alpha, depth, owner="ECRN"):
    """Per-block residual scales alpha_l, l = 0 .. depth-1, as a list of floats.

    ``alpha`` is a float >= 0 (the same for every block), a sequence of ``depth`` floats, or
    a named schedule: ``"c/sqrt(L)"`` gives alpha_l = c / sqrt(depth) (the variance of the
    sum of L branches stays O(1)), ``"c/L"`` gives c / depth (the sum itself stays O(1));
    ``c`` >= 0 may be omitted (``"1/sqrt(L)"`` and ``"/sqrt(L)"`` are the same).
    """
    allowed = "a float >= 0, a sequence of `depth` floats, or a schedule 'c/sqrt(L)' or 'c/L' with c >= 0"
    if isinstance(alpha, str):
        match = _SCHEDULE.match(alpha)
        try:
            c = float(match.group(1)) if match.group(1) else 1.0
        except (AttributeError, ValueError):  # no match, or a malformed number
            c = math.nan
        if not (math.isfinite(c) and c >= 0):
            fail("alpha", owner, allowed, alpha)
        scale = math.sqrt(depth) if match.group(2) == "sqrt(L)" else depth
        return [c / scale] * depth
    if _is_per_block(alpha):
        return _per_block(alpha, "alpha", depth, owner, 0.0, math.inf, False)
    return [check_float(alpha, "alpha", owner)] * depth


def resolve_drop_probs(drop_prob, depth, owner="ECRN"):
    """Per-block stochastic-depth drop probabilities p_l, l = 0 .. depth-1, as a list.

    ``drop_prob`` is a float in [0, 1) (every block), a sequence of ``depth`` floats in [0, 1),
    or ``"linear:<p_max>"``: p_l = (l + 1) / depth * p_max, the linear decay of the survival
    probability of Huang et al. 2016 (the last block is dropped with probability p_max).
    """
    allowed = "a float in [0, 1), a sequence of `depth` such floats, or 'linear:<p_max>'"
    if isinstance(drop_prob, str):
        kind, _, value = drop_prob.partition(":")
        try:
            p_max = float(value)
        except ValueError:
            p_max = None
        if kind.strip() != "linear" or p_max is None or not 0.0 <= p_max < 1.0:
            fail("drop_prob", owner, allowed, drop_prob)
        return [(l + 1) / depth * p_max for l in range(depth)]
    if _is_per_block(drop_prob):
        return _per_block(drop_prob, "drop_prob", depth, owner, 0.0, 1.0, True)
    return [check_float(drop_prob, "drop_prob", owner, 0.0, 1.0, high_open=True)] * depth


def _check_features(x, in_features, owner):
    if x.shape[-1] != in_features:
        raise InvalidParameterError(
            f"The 'x' parameter of {owner}.forward must have in_features={in_features} features "
            f"in its last dimension. Got shape {tuple(x.shape)} instead."
        )


# ----------------------------------------------------------------------------- layers
class Dense(nn.Module):
    """A fully connected layer in NTK or standard parameterization.

    ntk:      y = (w_std / sqrt(fan_in)) x W^T + b_std b,   W_ij, b_i ~ N(0, 1)
    standard: y = x W^T + b,   W_ij ~ N(0, w_std^2 / fan_in), b_i ~ N(0, b_std^2)

    Shapes: x (..., fan_in) -> y (..., fan_out). Weights are drawn from ``generator`` on CPU.
    """

    def __init__(self, fan_in, fan_out, *, w_std, b_std, parameterization, generator):
        super().__init__()
        weight = torch.randn(fan_out, fan_in, generator=generator)
        bias = torch.randn(fan_out, generator=generator)
        if parameterization == "ntk":
            self.w_mult, self.b_mult = w_std / math.sqrt(fan_in), b_std
        else:
            weight *= w_std / math.sqrt(fan_in)
            bias *= b_std
            self.w_mult, self.b_mult = 1.0, 1.0
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)

    def forward(self, x):
        return self.w_mult * F.linear(x, self.weight) + self.b_mult * self.bias

    def extra_repr(self):
        fan_out, fan_in = self.weight.shape
        return f"{fan_in} -> {fan_out}, w_mult={self.w_mult:.4g}, b_mult={self.b_mult:.4g}"


class FourierFeatures(nn.Module):
    """phi(x) = [sin(2 pi B x), cos(2 pi B x)], shape (..., d) -> (..., 2 n_fourier).

    B has shape (n_fourier, d) with entries N(0, fourier_scale^2) (Tancik et al. 2020). It is
    a buffer (fixed) by default and an nn.Parameter when ``trainable``.
    """

    def __init__(self, in_features, n_fourier, fourier_scale, *, trainable, generator):
        super().__init__()
        B = fourier_scale * torch.randn(n_fourier, in_features, generator=generator)
        if trainable:
            self.B = nn.Parameter(B)
        else:
            self.register_buffer("B", B)

    def forward(self, x):
        proj = 2 * math.pi * x @ self.B.T  # (..., n_fourier)
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)  # (..., 2 n_fourier)


# ----------------------------------------------------------------------------- NTK-ECRN
@dataclass
class ECRNConfig:
    in_features: int  # d, the raw input dimension
    out_features: int = 1  # outputs of the linear readout
    width: int = 256  # n: larger -> closer to the infinite-width kernel, more compute
    depth: int = 8  # L residual blocks: more depth -> richer kernel, slower, more drop variance
    n_fourier: int = 64  # m frequencies (phi has 2m features); 0 -> no embedding (the Fourier
    # ablation). Larger m -> the input kernel is closer to its Gaussian expectation. Reconstruction.
    fourier_scale: float = 1.0  # sigma of B: higher -> higher frequencies, less spectral bias
    # but a more local (less smooth) kernel; assumes inputs of roughly unit scale. Reconstruction.
    alpha: object = "1/sqrt(L)"  # residual scale alpha_l (float, per-block list, or schedule):
    # smaller -> tighter control of the NTK eigenvalues (paper Eq. (15)), slower feature growth.
    # The 1/sqrt(L) default keeps the kernel O(1) in depth. Reconstruction.
    drop_prob: object = "linear:0.1"  # stochastic depth p_l: higher -> more regularization,
    # more variance between masks; 0 -> off (the ablation). Linear in depth as in Huang et al.
    # 2016; p_max = 0.1 suits the shallow nets of the paper. Reconstruction.
    activation: str = "tanh"  # tanh | relu | gelu | erf; bounded derivatives (tanh, gelu, erf)
    # suit the paper's bound. tanh is a reconstruction.
    parameterization: str = "ntk"  # ntk: has a width limit (analytic kernel); standard: usual init
    trainable_fourier: bool = False  # True makes B a parameter (no analytic kernel then)
    w_std: float = 1.0  # sigma_w of every Dense layer: scales the kernel and its depth growth
    b_std: float = 0.1  # sigma_b of every Dense layer: 0 -> no bias contribution. Reconstruction.
    seed: int = 0  # the CPU generator seed: same seed -> identical weights


class StochasticDepthMask:
    """The stochastic-depth mask contract of residual blocks, shared by :class:`ECRN` and
    :class:`ntkbook.transformer.Transformer` (used by :mod:`ntkbook.ntk`).

    Block l's branch is multiplied by m_l: m_l ~ Bernoulli(1 - p_l), one draw per forward
    call from the global torch RNG in training mode, its mean 1 - p_l in eval mode, or the
    mask fixed by :meth:`set_depth_mask` in both until ``set_depth_mask(None)``. A module
    using it sets ``self.drop_probs`` (the list of p_l) and ``self._depth_mask = None`` in its
    constructor, has a ``depth`` property, and reads :meth:`_multipliers` in its forward pass.
    """

    @property
    def depth_mask(self):
        """The fixed block multipliers set by :meth:`set_depth_mask` (a list), or None."""
        return self._depth_mask

    def sample_depth_mask(self, generator=None):
        """Draw m_l ~ Bernoulli(1 - p_l): a float tensor of 0/1 values, shape (depth,), on CPU."""
        keep = 1.0 - torch.tensor(self.drop_probs, dtype=torch.float64)
        return torch.bernoulli(keep, generator=generator).float()

    def set_depth_mask(self, mask):
        """Fix the block multipliers m_l for all later forward passes; None restores the default
        (Bernoulli draws in training, 1 - p_l in eval)."""
        if mask is None:
            self._depth_mask = None
            return
        try:
            values = [float(v) for v in torch.as_tensor(mask).reshape(-1).tolist()]
        except (TypeError, ValueError, RuntimeError):  # not numbers
            values = []
        if len(values) != self.depth or any(v not in (0.0, 1.0) for v in values):
            fail("mask", f"{type(self).__name__}.set_depth_mask", f"depth={self.depth} values in {{0, 1}}", mask)
        self._depth_mask = values

    def _multipliers(self):
        if self._depth_mask is not None:
            return self._depth_mask
        if self.training:
            return self.sample_depth_mask().tolist()
        return [1.0 - p for p in self.drop_probs]


class ECRN(StochasticDepthMask, nn.Module):
    """NTK-Eigenvalue-Controlled Residual Network (arXiv:2512.08264, Sec. III; reconstruction).

    Equations implemented (d = in_features, n = width, L = depth, m = n_fourier)::

        phi(x)  = [sin(2 pi B x), cos(2 pi B x)],  B_kj ~ N(0, fourier_scale^2)   (or x if m = 0)
        h_0     = (w_std / sqrt(2m)) W_in phi(x) + b_std b_in                       (NTK param.)
        g_l     = (w_std / sqrt(n)) W_l h_l + b_std b_l
        h_{l+1} = h_l + m_l alpha_l act(g_l),   m_l ~ Bernoulli(1 - p_l) (train) | 1 - p_l (eval)
        f(x)    = (w_std / sqrt(n)) W_out h_L + b_std b_out

    The exact form of the paper's Eq. (13) is not public; the block above follows its text
    ("residual connections with layerwise scaling, and stochastic depth") and is a
    reconstruction. Its infinite-width NNGP and NTK are :func:`ntkbook.analytic.ecrn_kernels`.

    Parameters
    ----------
    in_features, out_features : int
        Input dimension d and number of outputs.
    width, depth, n_fourier, fourier_scale, alpha, drop_prob, activation, parameterization, trainable_fourier, w_std, b_std, seed
        See :class:`ECRNConfig`, where each field's trade-off is stated.

    Notes
    -----
    Stochastic-depth mask contract (:class:`StochasticDepthMask`, used by :mod:`ntkbook.ntk`):
    :meth:`sample_depth_mask` draws m ~ Bernoulli(1 - p), :meth:`set_depth_mask` fixes m for
    every later forward pass (train and eval) until ``set_depth_mask(None)``. Without a fixed
    mask, training mode draws one mask per forward call from the global torch RNG (seed it
    with ``torch.manual_seed``); ``model.drop_probs`` and ``model.alphas`` list p_l and alpha_l.
    """

    def __init__(self, in_features, out_features=1, *, width=256, depth=8, n_fourier=64,
                 fourier_scale=1.0, alpha="1/sqrt(L)", drop_prob="linear:0.1",
                 activation="tanh", parameterization="ntk", trainable_fourier=False,
                 w_std=1.0, b_std=0.1, seed=0):
        super().__init__()
        owner = type(self).__name__
        self.config = ECRNConfig(
            in_features=check_int(in_features, "in_features", owner),
            out_features=check_int(out_features, "out_features", owner),
            width=check_int(width, "width", owner),
            depth=check_int(depth, "depth", owner),
            n_fourier=check_int(n_fourier, "n_fourier", owner, low=0),
            fourier_scale=check_float(fourier_scale, "fourier_scale", owner),
            alpha=alpha,
            drop_prob=drop_prob,
            activation=check_option(activation, "activation", owner, ACTIVATIONS),
            parameterization=check_option(parameterization, "parameterization", owner,
                                          PARAMETERIZATIONS),
            trainable_fourier=check_bool(trainable_fourier, "trainable_fourier", owner),
            w_std=check_float(w_std, "w_std", owner),
            b_std=check_float(b_std, "b_std", owner),
            seed=check_seed(seed, "seed", owner),
        )
        cfg = self.config
        self.alphas = resolve_alphas(alpha, cfg.depth, owner)  # [alpha_l], l = 0 .. L-1
        self.drop_probs = resolve_drop_probs(drop_prob, cfg.depth, owner)  # [p_l]
        self.act = ACTIVATIONS[cfg.activation]
        self._depth_mask = None

        g = torch.Generator().manual_seed(cfg.seed)
        dense = dict(w_std=cfg.w_std, b_std=cfg.b_std, parameterization=cfg.parameterization,
                     generator=g)
        if cfg.n_fourier > 0:
            self.embed = FourierFeatures(cfg.in_features, cfg.n_fourier, cfg.fourier_scale,
                                         trainable=cfg.trainable_fourier, generator=g)
            embed_dim = 2 * cfg.n_fourier
        else:
            self.embed = nn.Identity()
            embed_dim = cfg.in_features
        self.proj = Dense(embed_dim, cfg.width, **dense)
        self.blocks = nn.ModuleList(Dense(cfg.width, cfg.width, **dense) for _ in range(cfg.depth))
        self.readout = Dense(cfg.width, cfg.out_features, **dense)

    @classmethod
    def from_config(cls, config):
        """Build from an :class:`ECRNConfig`."""
        return cls(**asdict(config))

    @property
    def in_features(self):
        return self.config.in_features

    @property
    def out_features(self):
        return self.config.out_features

    @property
    def depth(self):
        return self.config.depth

    def forward(self, x):
        _check_features(x, self.in_features, type(self).__name__)
        h = self.proj(self.embed(x))  # (..., width)
        for block, m, a in zip(self.blocks, self._multipliers(), self.alphas):
            if m != 0.0:
                h = h + (m * a) * self.act(block(h))
        return self.readout(h)  # (..., out_features)


class ResNet(ECRN):
    """The plain residual baseline: an ECRN with alpha = 1, no Fourier embedding and no
    stochastic depth, h_{l+1} = h_l + act(Dense_l(h_l))."""

    def __init__(self, in_features, out_features=1, *, width=256, depth=8, activation="relu",
                 parameterization="ntk", w_std=1.0, b_std=0.1, seed=0):
        super().__init__(in_features, out_features, width=width, depth=depth, n_fourier=0,
                         alpha=1.0, drop_prob=0.0, activation=activation,
                         parameterization=parameterization, w_std=w_std, b_std=b_std, seed=seed)


# ----------------------------------------------------------------------------- MLP
class MLP(nn.Module):
    """Fully connected network with ``depth`` hidden layers of ``width`` units::

        z_1 = Dense(x),  z_{l+1} = Dense(act(z_l)) (l = 1 .. depth-1),  f = Dense(act(z_depth))

    In NTK parameterization its infinite-width kernels are :func:`ntkbook.analytic.mlp_kernels`
    (neural-tangents: ``stax.serial(*[Dense(width, w_std, b_std), act] * depth,
    Dense(out, w_std, b_std))``). Same seed -> identical weights on CPU.

    ``n_fourier > 0`` puts the ECRN's fixed Fourier embedding phi(x) = [sin(2 pi B x),
    cos(2 pi B x)] in front (z_1 = Dense(phi(x))): B is drawn first from the seeded generator,
    exactly as in :class:`ECRN`, so an MLP and an ECRN with the same seed, ``n_fourier`` and
    ``fourier_scale`` see the same features (the ablation that isolates the ECRN's residual
    tower). The default 0 leaves the MLP, and its weights for a given seed, unchanged.
    """

    def __init__(self, in_features, out_features=1, *, width=256, depth=2, activation="relu",
                 parameterization="ntk", w_std=1.0, b_std=0.1, n_fourier=0, fourier_scale=1.0,
                 seed=0):
        super().__init__()
        owner = type(self).__name__
        self.in_features = check_int(in_features, "in_features", owner)
        self.out_features = check_int(out_features, "out_features", owner)
        self.width = check_int(width, "width", owner)
        self.depth = check_int(depth, "depth", owner)
        self.activation = check_option(activation, "activation", owner, ACTIVATIONS)
        self.parameterization = check_option(parameterization, "parameterization", owner,
                                             PARAMETERIZATIONS)
        self.w_std = check_float(w_std, "w_std", owner)
        self.b_std = check_float(b_std, "b_std", owner)
        self.seed = check_seed(seed, "seed", owner)
        self.n_fourier = check_int(n_fourier, "n_fourier", owner, low=0)
        self.fourier_scale = check_float(fourier_scale, "fourier_scale", owner)
        self.act = ACTIVATIONS[activation]
        g = torch.Generator().manual_seed(self.seed)
        dense = dict(w_std=self.w_std, b_std=self.b_std, parameterization=parameterization,
                     generator=g)
        self.embed = nn.Identity()
        if self.n_fourier > 0:  # drawn first, as in ECRN: the same B for the same seed
            self.embed = FourierFeatures(self.in_features, self.n_fourier, self.fourier_scale,
                                         trainable=False, generator=g)
        sizes = [2 * self.n_fourier or self.in_features] + [self.width] * self.depth
        self.hidden = nn.ModuleList(Dense(a, b, **dense) for a, b in zip(sizes[:-1], sizes[1:]))
        self.readout = Dense(self.width, self.out_features, **dense)

    def forward(self, x):
        _check_features(x, self.in_features, type(self).__name__)
        x = self.embed(x)  # (..., 2 n_fourier), or x itself
        for layer in self.hidden:
            x = self.act(layer(x))  # (..., width)
        return self.readout(x)  # (..., out_features)


# ----------------------------------------------------------------------------- ResNet-18
def _kaiming_conv(c_in, c_out, k, generator):
    std = math.sqrt(2.0 / (c_out * k * k))  # fan_out mode, relu gain (He et al. 2015)
    return nn.Parameter(std * torch.randn(c_out, c_in, k, k, generator=generator))


class Conv2d(nn.Module):
    """Bias-free k x k convolution with He-normal (fan_out) weights drawn from ``generator``."""

    def __init__(self, c_in, c_out, k, stride, generator):
        super().__init__()
        self.weight = _kaiming_conv(c_in, c_out, k, generator)
        self.stride, self.padding = stride, k // 2

    def forward(self, x):
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding)


class BasicBlock(nn.Module):
    """out = relu(BN(conv3x3(relu(BN(conv3x3(x))))) + shortcut(x)) (He et al. 2016)."""

    def __init__(self, c_in, c_out, stride, generator):
        super().__init__()
        self.conv1 = Conv2d(c_in, c_out, 3, stride, generator)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = Conv2d(c_out, c_out, 3, 1, generator)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(Conv2d(c_in, c_out, 1, stride, generator),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for 32x32 images, CIFAR variant: 3x3 stride-1 stem, no max-pool, four stages
    of two BasicBlocks with width, 2 width, 4 width, 8 width channels (strides 1, 2, 2, 2),
    global average pooling and a linear classifier. ~11.2M parameters at width=64.

    Input (N, in_channels, H, W) or flattened (N, in_channels * 32 * 32) -> logits (N, num_classes).
    """

    def __init__(self, num_classes=10, in_channels=3, width=64, seed=0):
        super().__init__()
        owner = type(self).__name__
        self.num_classes = check_int(num_classes, "num_classes", owner)
        self.in_channels = check_int(in_channels, "in_channels", owner)
        self.width = check_int(width, "width", owner)
        self.seed = check_seed(seed, "seed", owner)
        g = torch.Generator().manual_seed(self.seed)
        w = self.width
        self.stem = Conv2d(self.in_channels, w, 3, 1, g)
        self.bn = nn.BatchNorm2d(w)
        stages, c_in = [], w
        for c_out, stride in [(w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)]:
            stages += [BasicBlock(c_in, c_out, stride, g), BasicBlock(c_out, c_out, 1, g)]
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        bound = 1.0 / math.sqrt(c_in)
        self.fc = nn.Linear(c_in, self.num_classes)
        with torch.no_grad():
            self.fc.weight.copy_((2 * torch.rand(self.fc.weight.shape, generator=g) - 1) * bound)
            self.fc.bias.copy_((2 * torch.rand(self.fc.bias.shape, generator=g) - 1) * bound)

    def forward(self, x):
        if x.dim() == 2:  # (N, C*32*32) -> (N, C, 32, 32)
            _check_features(x, self.in_channels * 32 * 32, type(self).__name__)
            x = x.reshape(x.shape[0], self.in_channels, 32, 32)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise InvalidParameterError(
                "The 'x' parameter of ResNet18.forward must have shape "
                f"(N, in_channels={self.in_channels}, H, W) or (N, {self.in_channels * 32 * 32}). "
                f"Got shape {tuple(x.shape)} instead."
            )
        x = F.relu(self.bn(self.stem(x)))  # (N, w, H, W)
        x = self.stages(x)  # (N, 8w, H/8, W/8)
        x = x.mean(dim=(2, 3))  # (N, 8w)
        return self.fc(x)  # (N, num_classes)


# ----------------------------------------------------------------------------- factory
MODELS = {"ecrn": ECRN, "mlp": MLP, "resnet": ResNet, "resnet18": ResNet18}


def build_model(name, in_features, out_features=1, **kwargs):
    """Build a model by name: "ecrn", "mlp", "resnet" or "resnet18".

    For "resnet18", ``in_features`` is the number of input channels (or a (C, H, W) tuple)
    and ``out_features`` the number of classes. Other keyword arguments go to the class.
    """
    check_option(name, "name", "build_model", MODELS)
    if name == "resnet18":
        channels = in_features[0] if isinstance(in_features, (tuple, list)) else in_features
        return ResNet18(num_classes=out_features, in_channels=channels, **kwargs)
    return MODELS[name](in_features, out_features, **kwargs)


def __getattr__(name):
    """``ntkbook.models.Transformer`` and ``TransformerConfig``: the attention companion of the
    ECRN, beside it here, defined in :mod:`ntkbook.transformer` (one concept per module) and
    imported on first use, since that module builds on this one."""
    if name in ("Transformer", "TransformerConfig"):
        from ntkbook.transformer import Transformer, TransformerConfig

        return {"Transformer": Transformer, "TransformerConfig": TransformerConfig}[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
