r"""The empirical neural tangent kernel: exact, blocked, matrix-free, on CPU and GPU.

For a network f(x; theta) with O outputs and P trainable parameters, the empirical
NTK (Jacot, Gabriel, Hongler 2018) is

    Theta(x, x')[o, o'] = sum_p  d f_o(x) / d theta_p  *  d f_o'(x') / d theta_p ,

that is J(X1) J(X2)^T, where J(X) is the (N*O, P) Jacobian of the outputs with
respect to the parameters. ``outputs="full"`` returns the (N1, N2, O, O) array;
``outputs="trace"`` returns sum_o Theta[:, :, o, o], shape (N1, N2), which for a
scalar model is simply the NTK.

Example::

    >>> import torch
    >>> from ntkbook.ntk import empirical_ntk, ntk_eigenvalues
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 2))
    >>> x = torch.randn(10, 3)                                   # (N, D)
    >>> empirical_ntk(net, x).shape                              # (N, N), summed over the 2 outputs
    torch.Size([10, 10])
    >>> empirical_ntk(net, x, x[:4], outputs="full").shape       # (N1, N2, O, O)
    torch.Size([10, 4, 2, 2])
    >>> ntk_eigenvalues(net, x, k=3).shape                       # the three largest eigenvalues
    torch.Size([3])

What is differentiated
----------------------
* theta is every parameter with ``requires_grad=True``; frozen parameters and
  buffers are constants. A parameter shared by several modules counts once.
* By default (``mode="eval"``) the NTK is the one of the model **in eval mode**:
  the model is switched to ``eval()`` for the computation and switched back after,
  so dropout is off and BatchNorm uses its running statistics. ``mode="as_is"``
  uses the model in whatever mode it is; a BatchNorm layer in training mode then
  raises (its output for one sample depends on the other samples of the batch, so
  the per-sample Jacobian, and with it the NTK, is not defined), and so does a model
  whose output is random in that mode.

Contract for stochastic depth (models implement it, this module uses it)
------------------------------------------------------------------------
A model with stochastic depth (for example ``ntkbook.models.ECRN``) may define two
methods; nothing else is assumed about the model:

* ``model.sample_depth_mask(generator) -> torch.Tensor``: draw one depth mask
  (for example a 0/1 vector with one entry per residual block) using only the
  given ``torch.Generator`` (a CPU generator), so that equal seeds give equal masks.
* ``model.set_depth_mask(mask)``: from now on every forward pass uses this fixed
  mask, in train and in eval mode alike, for every sample of the batch (the same
  network for all samples), and is deterministic. ``model.set_depth_mask(None)``
  restores the model's own behaviour (random masks in training, its deterministic
  eval rule in eval mode). The model moves the mask to its own device.

``empirical_ntk(model, x, depth_mask=m)`` is the NTK of the network with mask ``m``
(it calls ``set_depth_mask(m)`` and, at the end, ``set_depth_mask(None)``), and
``expected_ntk(model, x, n_samples, seed)`` is the Monte Carlo mean over masks drawn
by ``sample_depth_mask`` together with its standard error.

Contract for the fast structured rule
-------------------------------------
``method="structured"`` uses layerwise Gram products for dense and convolutional
layers: ``nn.Linear`` and ``nn.Conv2d`` (groups 1, zero padding) and their
subclasses, and any leaf module with a 2-d ``weight`` parameter (and optionally a
``bias``) whose output is ``s_w * (h @ W^T) + s_b * b`` for constants s_w and s_b,
such as ``ntkbook.models.Dense`` in NTK parameterization (s_w = sigma_w / sqrt(fan_in),
s_b = sigma_b). The scales are read off by comparing the rule with autograd on the
first few samples (up to 4, one random output weighting); a parameter for which the
rule fails that check (a weight also used transposed or elsewhere, a reparametrized
weight, a layer that is not affine in its weight), and every parameter of any other
kind of layer (LayerNorm, a free ``nn.Parameter``, a trainable Fourier matrix), is
handled by per-sample Jacobians for those parameters alone, so the result stays
exact. ``stats["fallback_params"]`` lists them. The check cannot see a layer whose
use of its weight changes with the input (data-dependent control flow); such a
model should use ``method="jacobian"``.

Memory
------
``max_memory`` (bytes) bounds the working memory of the computation, that is what
it allocates beyond the model, its inputs and the returned kernel, as estimated from
the cost model of each method (an estimate, not an allocator limit). The default is
a quarter of the available memory, at most 2 GiB, on a CPU and half the free memory
on a GPU.
"""

from __future__ import annotations

import contextlib
import enum
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

__all__ = [
    "NTKMethod",
    "DEFAULT_METHOD",
    "empirical_ntk",
    "NTKOperator",
    "ntk_operator",
    "ntk_eigenvalues",
    "ntk_spectrum",
    "expected_ntk",
    "ExpectedNTK",
]


class NTKMethod(str, enum.Enum):
    """How the empirical NTK is computed. All methods give the same kernel up to round-off.

    Notation: N = N1 + N2 samples, O outputs, P trainable parameters, F the cost of one
    forward pass for one sample (about 2P FLOPs for a dense network), A the number of
    activations of one sample, and, for the structured rule, d_in and d_out the widths
    of each dense layer (T positions per sample for a convolution).
    """

    JACOBIAN = "jacobian"
    NTVP = "ntvp"
    STRUCTURED = "structured"
    AUTO = "auto"


NTKMethod.JACOBIAN.__doc__ = """Per-sample Jacobians with torch.func (``vmap(jacrev)``), contracted.

Formula: Theta[I, J] = J(X_I) J(X_J)^T with J(X_I) the (b*O, P) Jacobian of a block.
Cost: O backward passes per sample (about 3 O F FLOPs per sample) plus the contraction,
2 N1 N2 O P FLOPs for "trace" and 2 N1 N2 O^2 P for "full".
Memory: two Jacobian blocks, 2 b O P numbers (plus a copy while they are assembled).
Wins: small P (a few thousand parameters), or layers the structured rule does not know.
Risks: memory of b O P grows with the model; the contraction is P-dimensional, so it is
the slowest choice for wide dense networks. Needs a model that ``torch.func.vmap`` can run.
"""
NTKMethod.NTVP.__doc__ = """NTK-vector products: a vector-Jacobian product then a Jacobian-vector product.

Formula: Theta[:, (m, o')] = J(X) (J(x_m)^T e_o') for each column: the column's gradient
(a vjp) is pushed forward through the row block with a jvp (forward-mode AD).
Cost: per column about 3F for the vjp and, per row sample, about 3F for the jvp, so
about 3 N1 N2 O F FLOPs in total: of the order of the Jacobian contraction, never better.
Memory: one column gradient (O P numbers) per column of a block plus the forward-mode
activations of the row block, which for a block of one is the memory of one backward
pass. This is the method behind the matrix-free ``ntk_operator``.
Wins: when even one per-sample Jacobian block does not fit; as a cross-check.
Risks: slow; needs forward-mode AD support for every operation in the model.
"""
NTKMethod.STRUCTURED.__doc__ = """Layerwise Gram products (Novak, Sohl-Dickstein, Schoenholz 2022, "Fast Finite Width NTK").

Formula: for a dense layer z = W h + b applied to each sample, dz/dW = g h^T with g = df/dz,
so Theta = sum_l (G_l G_l^T) * (H_l H_l^T + 1) (elementwise product; the +1 is the bias)
where H_l (N, d_in) are the layer inputs and G_l (N, O, d_out) the output gradients, both
captured with hooks during one forward and O backward passes of the whole batch. A
convolution is the same with its unfolded patches (T positions per sample): either the
(N T, N T) Gram products summed over positions or per-sample weight gradients, whichever
is cheaper. Other parameters (LayerNorm, free parameters, a trainable Fourier matrix,
a weight used in two ways) get per-sample Jacobians for those parameters alone.
Cost: (1 + O) passes per sample for the capture, then 2 N1 N2 sum_l (d_in + O d_out) FLOPs
for "trace" (matrix products that run near the machine's matmul rate), plus the Jacobian
cost for parameters without a rule.
Memory: the captured H and G of a block, b sum_l (d_in + O d_out) numbers, and a few b x b
tiles.
Wins: dense and convolutional networks, by a factor of about P / sum_l (d_in + d_out).
Risks: needs per-sample independence (checked); each rule is verified against autograd
on a few samples before it is used, so a failed rule only costs speed.
"""
NTKMethod.AUTO.__doc__ = """Pick the method with the smallest estimated FLOP count from the formulas above.

The estimate uses the layer shapes seen in a probe forward pass on a few samples. Because
every method is exact, a poor pick can only cost time, never correctness.
"""

#: The default: ``auto`` because the structured rule is exact for every model (unknown
#: layers fall back to Jacobians) and is the fastest for the dense and convolutional
#: networks of this book by two to three orders of magnitude, while the cost formulas
#: still switch to plain Jacobians for tiny models where hooks cost more than they save.
DEFAULT_METHOD = NTKMethod.AUTO

_OUTPUTS = ("trace", "full")
_MODES = ("eval", "as_is")
_DEFAULT_MAX_BYTES = 2 * 1024**3


# ----------------------------------------------------------------------------- validation


def _check_method(method):
    try:
        return NTKMethod(method.value if isinstance(method, NTKMethod) else method)
    except (ValueError, AttributeError, TypeError):
        allowed = ", ".join(repr(m.value) for m in NTKMethod)
        raise ValueError(f"The 'method' parameter of empirical_ntk must be one of {allowed}. Got {method!r} instead.") from None


def _check_choice(name, value, allowed, owner="empirical_ntk"):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be one of {', '.join(map(repr, allowed))}. Got {value!r} instead."
        )
    return value


def _trainable(model):
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _check_model(model, owner):
    if not isinstance(model, nn.Module):
        raise TypeError(f"The 'model' parameter of {owner} must be a torch.nn.Module. Got {type(model).__name__} instead.")
    params = _trainable(model)
    if not params:
        raise ValueError(f"The 'model' parameter of {owner} has no trainable parameters (requires_grad=True): its NTK is zero.")
    dev = params[0][1].device
    for n, p in params:
        if p.device != dev:
            raise ValueError(f"The 'model' parameter of {owner} has parameters on several devices ({dev} and {p.device} for {n!r}).")
        if p.is_floating_point() and not torch.isfinite(p).all():
            raise ValueError(f"The 'model' parameter of {owner} has non-finite values (nan or inf) in parameter {n!r}.")
    return params


def _check_x(name, x, params, owner, like=None):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"The '{name}' parameter of {owner} must be a torch.Tensor of shape (N, ...). Got {type(x).__name__} instead.")
    if x.ndim == 0:
        raise ValueError(f"The '{name}' parameter of {owner} must have a leading batch dimension, shape (N, ...). Got a 0-d tensor.")
    if x.shape[0] == 0:
        raise ValueError(f"The '{name}' parameter of {owner} is an empty batch (shape {tuple(x.shape)}); need at least one sample.")
    p0 = params[0][1]
    if x.device != p0.device:
        raise ValueError(
            f"The '{name}' parameter of {owner} is on device {x.device} but the model's parameters are on {p0.device}; "
            f"move them to the same device (model.to(x.device))."
        )
    if x.is_floating_point():
        if p0.is_floating_point() and x.dtype != p0.dtype:
            raise ValueError(f"The '{name}' parameter of {owner} has dtype {x.dtype} but the model's parameters have dtype {p0.dtype}.")
        if not torch.isfinite(x).all():
            raise ValueError(f"The '{name}' parameter of {owner} has non-finite values (nan or inf).")
    if like is not None and x.shape[1:] != like.shape[1:]:
        raise ValueError(
            f"The '{name}' parameter of {owner} must have the same per-sample shape as x1, {tuple(like.shape[1:])}. "
            f"Got {tuple(x.shape[1:])} instead."
        )


def _check_positive_int(name, value, owner, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"The '{name}' parameter of {owner} must be a positive integer{' or None' if allow_none else ''}. Got {value!r} instead.")
    return int(value)


def _budget(max_memory, device, owner):
    if max_memory is not None:
        if isinstance(max_memory, bool) or not isinstance(max_memory, (int, float, np.integer, np.floating)) or not max_memory > 0:
            raise ValueError(f"The 'max_memory' parameter of {owner} must be a positive number of bytes or None. Got {max_memory!r} instead.")
        return int(max_memory)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 2)
    try:
        import psutil

        avail = psutil.virtual_memory().available
    except Exception:  # pragma: no cover - psutil is a dependency of the environment
        avail = 8 * _DEFAULT_MAX_BYTES
    return int(min(_DEFAULT_MAX_BYTES, avail // 4))


def _check_independence(model, x, owner):
    """Samples must not interact: BatchNorm in training mode is refused with the reason, and a
    cheap check compares f(x[:1]) with the first row of f(x[:2]) and two runs for randomness."""
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training:
            raise ValueError(
                f"The 'model' parameter of {owner} has BatchNorm layer {name or type(m).__name__!r} in training mode: its output for "
                f"one sample depends on the statistics of the whole batch, so samples interact and a per-sample NTK is not "
                f"defined. Use mode='eval' (the default) or call model.eval()."
            )
    with torch.no_grad():
        xs = x[:2]
        a = model(xs)
        b = model(xs)
        if not torch.equal(a, b) and not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
            raise ValueError(
                f"The 'model' parameter of {owner} gives different outputs for the same input in its current mode (dropout or "
                f"stochastic depth in training mode?), so its NTK is random. Use mode='eval' (the default) or fix a depth_mask."
            )
        if xs.shape[0] == 2:
            a1 = model(xs[:1])
            ref = a.reshape(2, -1)[:1]
            scale = ref.abs().max().clamp_min(1e-30)
            if not ((a1.reshape(1, -1) - ref).abs().max() <= 1e-4 * scale + 1e-6):
                raise ValueError(
                    f"The 'model' parameter of {owner} gives a different output for a sample alone than inside a batch: "
                    f"samples interact, so a per-sample NTK is not defined."
                )


@contextlib.contextmanager
def _prepared(model, mode, depth_mask, owner):
    """Put the model in the requested mode (and depth mask) and restore it afterwards."""
    if depth_mask is not None and not callable(getattr(model, "set_depth_mask", None)):
        raise TypeError(
            f"The 'depth_mask' parameter of {owner} needs a model with a set_depth_mask(mask) method "
            f"(see the stochastic-depth contract in ntkbook.ntk). {type(model).__name__} has none."
        )
    states = [(m, m.training) for m in model.modules()]
    try:
        if mode == "eval":
            model.eval()
        if depth_mask is not None:
            model.set_depth_mask(depth_mask)
        yield
    finally:
        if depth_mask is not None:
            model.set_depth_mask(None)
        for m, t in states:
            m.training = t


# ----------------------------------------------------------------------------- the model as a function


class _Fn:
    """The model as functions of (parameters, input) for torch.func."""

    def __init__(self, model, params, n_out):
        self.model = model
        self.names = [n for n, _ in params]
        self.params = {n: p.detach() for n, p in params}
        self.O = n_out
        self.P = sum(p.numel() for _, p in params)

    def single(self, p, xn):  # one sample (...) -> (O,)
        return functional_call(self.model, p, (xn.unsqueeze(0),)).reshape(-1)

    def batch(self, p, xb):  # (b, ...) -> (b, O)
        return functional_call(self.model, p, (xb,)).reshape(xb.shape[0], -1)

    def jacobian(self, xb, names=None):
        """Per-sample Jacobian of the block for the given parameters: (b, O, P_names)."""
        names = self.names if names is None else names
        sub = {n: self.params[n] for n in names}
        rest = {n: v for n, v in self.params.items() if n not in sub}

        def f(ps, xn):
            return self.single({**rest, **ps}, xn)

        jac = vmap(jacrev(f), in_dims=(None, 0))(sub, xb)  # name -> (b, O, *shape)
        b = xb.shape[0]
        return torch.cat([jac[n].reshape(b, self.O, -1) for n in names], dim=2)


def _contract(A, B, full):
    """A (bI, O, K), B (bJ, O, K) -> (bI, bJ) summed over matching outputs, or (bI, bJ, O, O)."""
    bI, O, K = A.shape
    bJ = B.shape[0]
    if full:
        return (A.reshape(bI * O, K) @ B.reshape(bJ * O, K).T).reshape(bI, O, bJ, O).permute(0, 2, 1, 3)
    return A.reshape(bI, O * K) @ B.reshape(bJ, O * K).T


# ----------------------------------------------------------------------------- probe


@dataclass
class _Call:
    """One call of a rule module in one forward pass."""

    module: nn.Module
    h: torch.Tensor  # (b, T, d_in) inputs (unfolded patches for a convolution)
    z: torch.Tensor  # the module output (part of the autograd graph)
    T: int
    g: torch.Tensor | None = None  # (O, b, T, d_out) after the backward passes


@dataclass(frozen=True)
class _Geometry:
    """How a rule module maps a sample: dense (d_in -> d_out over T positions) or a 2-d convolution."""

    kind: str  # "dense" or "conv"
    d_in: int  # input features per position (C k_h k_w for a convolution)
    d_out: int
    kernel: tuple = ()
    stride: tuple = ()
    padding: tuple = ()
    dilation: tuple = ()


def _pair2(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _rule_geometry(m):
    """The geometry of a module the structured rule may cover, or None.

    Covered: ``nn.Linear`` and ``nn.Conv2d`` (groups 1, zero padding) and their subclasses, and any
    leaf module with a 2-d ``weight`` parameter (a dense layer such as ``ntkbook.models.Dense``) or a
    4-d one with conv attributes. The rule is only a candidate: it is verified against autograd
    (see ``_probe``) and dropped for a parameter where it fails.
    """
    w = getattr(m, "weight", None)
    if not isinstance(w, torch.Tensor):
        return None
    if isinstance(m, nn.Conv2d):
        if m.groups != 1 or m.padding_mode != "zeros" or (isinstance(m.padding, str) and m.padding != "valid"):
            return None
        pad = (0, 0) if isinstance(m.padding, str) else _pair2(m.padding)
        return _Geometry("conv", m.in_channels * math.prod(m.kernel_size), m.out_channels, tuple(m.kernel_size),
                         _pair2(m.stride), pad, _pair2(m.dilation))
    if isinstance(m, nn.Linear):
        return _Geometry("dense", m.in_features, m.out_features)
    if not isinstance(w, nn.Parameter) or any(True for _ in m.children()):
        return None
    if w.ndim == 2:
        return _Geometry("dense", w.shape[1], w.shape[0])
    if w.ndim == 4 and getattr(m, "groups", 1) == 1 and getattr(m, "padding_mode", "zeros") == "zeros":
        pad = getattr(m, "padding", 0)
        if isinstance(pad, str):
            return None
        try:
            return _Geometry("conv", w.shape[1] * w.shape[2] * w.shape[3], w.shape[0], tuple(w.shape[2:]),
                             _pair2(getattr(m, "stride", 1)), _pair2(pad), _pair2(getattr(m, "dilation", 1)))
        except (TypeError, ValueError):
            return None
    return None


def _capture(model, xb, modules, O):
    """Forward the block with hooks on the rule modules, then O backward passes to the module outputs.

    Returns the outputs, one ``_Call`` per module call (inputs H and output gradients G) and the ids
    of modules whose calls do not fit their rule (then their parameters need the fallback)."""
    b = xb.shape[0]
    calls: list[_Call] = []
    bad: set[int] = set()
    geo = {id(m): _rule_geometry(m) for m in modules}

    def hook(m, inp, out):
        h = inp[0] if isinstance(inp, tuple) and inp else inp
        gm = geo[id(m)]
        if (not isinstance(out, torch.Tensor) or not isinstance(h, torch.Tensor) or h.shape[:1] != (b,)
                or out.shape[:1] != (b,) or not out.requires_grad):
            bad.add(id(m))
            return None
        h = h.detach()
        if gm.kind == "dense":
            if h.shape[-1] != gm.d_in or out.shape[-1] != gm.d_out or h.shape[:-1] != out.shape[:-1]:
                bad.add(id(m))
                return None
            hh = h.reshape(b, -1, gm.d_in)  # (b, T, d_in)
        else:
            if h.ndim != 4 or out.ndim != 4 or out.shape[1] != gm.d_out:
                bad.add(id(m))
                return None
            u = F.unfold(h, gm.kernel, dilation=gm.dilation, padding=gm.padding, stride=gm.stride)  # (b, C k k, T)
            if u.shape[1] != gm.d_in or u.shape[2] != out.shape[2] * out.shape[3]:
                bad.add(id(m))
                return None
            hh = u.transpose(1, 2)  # (b, T, C k k)
        calls.append(_Call(m, hh, out, hh.shape[1]))
        return out.clone()  # protect the captured output from in-place ops that follow

    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.enable_grad():
            y = model(xb).reshape(b, -1)
    finally:
        for hd in handles:
            hd.remove()
    if y.shape[1] != O:
        raise RuntimeError(f"model output changed size: expected {O} outputs per sample, got {y.shape[1]}")
    zs = [c.z for c in calls]
    per_o = []
    for o in range(O):
        if zs and y.requires_grad:
            per_o.append(torch.autograd.grad(y[:, o].sum(), zs, retain_graph=o < O - 1, allow_unused=True))
        else:
            per_o.append([None] * len(zs))
    for i, c in enumerate(calls):
        g = torch.stack([torch.zeros_like(c.z) if per_o[o][i] is None else per_o[o][i] for o in range(O)])  # (O, b, ...)
        gm = geo[id(c.module)]
        if gm.kind == "dense":
            g = g.reshape(O, b, c.T, gm.d_out)
        else:
            g = g.reshape(O, b, gm.d_out, c.T).transpose(2, 3)
        c.g = g.detach()
        c.z = None
    return y.detach(), calls, bad


@dataclass
class _Group:
    """All uses of one weight (and its bias) through rule modules."""

    weight: str | None
    bias: str | None
    modules: list
    w_scale2: float = 1.0
    b_scale2: float = 1.0
    T: int = 1
    d_in: int = 0
    d_out: int = 0
    strategy: str = "gram"


@dataclass
class _Plan:
    """What the probe found: which parameters have a verified rule and the per-sample sizes."""

    O: int
    P: int
    groups: list = field(default_factory=list)
    fallback: list = field(default_factory=list)  # parameter names without a rule
    P_fallback: int = 0
    activations: int = 0  # numbers per sample of all module outputs
    rule_modules: list = field(default_factory=list)


def _probe(model, fn: _Fn, params, x, full, use_rules=True):
    """Run a few samples through the model: output size, activation count, and verified rules."""
    xs = x[: min(4, x.shape[0])]
    b = xs.shape[0]
    name_of = {id(p): n for n, p in params}
    act = [0]

    def count(m, inp, out):
        if isinstance(out, torch.Tensor) and len(list(m.children())) == 0:
            act[0] += out.numel() // max(b, 1)

    hs = [m.register_forward_hook(count) for m in model.modules()]
    try:
        with torch.no_grad():
            y = model(xs)
    finally:
        for h in hs:
            h.remove()
    O = y.numel() // b
    plan = _Plan(O=O, P=fn.P, activations=max(act[0], 1))
    fn.O = O
    if not use_rules:
        plan.fallback = list(fn.names)
        plan.P_fallback = fn.P
        return plan

    # candidate groups: the rule modules that use one weight (or one bias) parameter; a weight and
    # a bias used by exactly the same modules form one group (their Gram products share G G^T)
    w_mods: dict[str, list] = {}
    b_mods: dict[str, list] = {}
    rule_modules = []
    for m in model.modules():
        if _rule_geometry(m) is None:
            continue
        w = name_of.get(id(m.weight)) if isinstance(m.weight, nn.Parameter) else None
        bb = name_of.get(id(m.bias)) if isinstance(getattr(m, "bias", None), nn.Parameter) else None
        if w is not None:
            w_mods.setdefault(w, []).append(m)
        if bb is not None:
            b_mods.setdefault(bb, []).append(m)
        if w is not None or bb is not None:
            rule_modules.append(m)
    cand = []
    paired_biases = set()
    for w, mods in w_mods.items():
        partner = next((bb for bb, bm in b_mods.items() if [id(m) for m in bm] == [id(m) for m in mods]), None)
        if partner is not None:
            paired_biases.add(partner)
        cand.append(_Group(weight=w, bias=partner, modules=mods))
    cand += [_Group(weight=None, bias=bb, modules=bm) for bb, bm in b_mods.items() if bb not in paired_biases]

    if rule_modules:
        _, calls, bad = _capture(model, xs, rule_modules, O)
    else:
        calls, bad = [], set()
    by_module: dict[int, list] = {}
    for c in calls:
        by_module.setdefault(id(c.module), []).append(c)

    # autograd reference: gradient of <v, f(xs)> for a random v
    gen = torch.Generator(device="cpu").manual_seed(1234)
    v = torch.randn(b, O, generator=gen, dtype=torch.float64).to(device=xs.device, dtype=y.dtype if y.is_floating_point() else torch.float32)
    ps = [p for _, p in params]
    with torch.enable_grad():
        yy = model(xs).reshape(b, O)
        auto = torch.autograd.grad((yy * v).sum(), ps, allow_unused=True)
    auto = {n: (torch.zeros_like(p) if a is None else a) for (n, p), a in zip(params, auto)}

    ok_names: set[str] = set()
    for g in cand:
        mods = g.modules
        if any(id(m) in bad for m in mods):
            continue
        gcalls = [c for m in mods for c in by_module.get(id(m), [])]
        geos = [_rule_geometry(m) for m in mods]
        g.d_in, g.d_out = geos[0].d_in, geos[0].d_out
        if any((q.kind, q.d_in, q.d_out) != (geos[0].kind, g.d_in, g.d_out) for q in geos):
            continue
        g.T = sum(c.T for c in gcalls) if gcalls else 1
        for pname, is_w in ((g.weight, True), (g.bias, False)):
            if pname is None:
                continue
            a = auto[pname].reshape(-1)
            if gcalls:
                # the rule's gradient of <v, f>: sum over calls, samples, positions of v_no g_(n,t,o) h_(n,t)^T
                G = torch.cat([c.g for c in gcalls], dim=2)  # (O, b, T, d_out)
                Gv = torch.einsum("no,ontd->ntd", v, G).reshape(-1, G.shape[-1])  # (b T, d_out)
                if is_w:
                    H = torch.cat([c.h for c in gcalls], dim=1).reshape(-1, gcalls[0].h.shape[-1])  # (b T, d_in)
                    r = (Gv.T @ H).reshape(-1)
                else:
                    r = Gv.sum(0)
            else:
                r = torch.zeros_like(a)
            rr = float(r @ r)
            scale = float(a @ r) / rr if rr > 0 else 1.0
            err = float((a - scale * r).norm())
            tol = 1e-3 * max(float(a.norm()), float(r.norm()) * abs(scale))
            if err <= tol + 1e-30:
                if is_w:
                    g.w_scale2 = scale * scale
                else:
                    g.b_scale2 = scale * scale
                ok_names.add(pname)
        if g.weight not in ok_names:
            g.weight = None
        if g.bias not in ok_names:
            g.bias = None
        if g.weight is None and g.bias is None:
            continue
        plan.groups.append(g)
        plan.rule_modules.extend(m for m in mods if all(m is not r for r in plan.rule_modules))
    plan.fallback = [n for n in fn.names if n not in ok_names]
    sizes = dict((n, p.numel()) for n, p in params)
    plan.P_fallback = sum(sizes[n] for n in plan.fallback)
    for g in plan.groups:
        g.strategy = _choose_strategy(g, O, full)
    return plan


# An elementwise pass over a b x b tile is memory-bound: on a CPU it costs about as much time as
# this many multiply-adds per entry of a matrix product.
_PASS_COST = 64


def _choose_strategy(g: _Group, O, full):
    """Gram products over positions, or per-sample weight gradients, whichever is cheaper per pair.

    With h' = [s_w h, s_b] (d_in' = d_in + 1 with a bias) the per-sample gradient of a layer is
    Z_n = sum_t g_t (x) h'_t. Gram: T^2 (d_in' + O d_out) multiply-adds per pair plus a few
    memory-bound elementwise passes; per-sample: O K per pair ("trace") with K = d_out d_in'.
    The second wins for a readout with one output, for bias-only groups and for small convolutions.
    """
    d_in = (g.d_in if g.weight is not None else 0) + (g.bias is not None)
    oo = O * O if full else O
    gram = g.T * g.T * (d_in + O * g.d_out + 3 * _PASS_COST * (O * O if full else 1))
    per_sample = oo * g.d_out * d_in + _PASS_COST
    return "gram" if gram < per_sample else "persample"


def _group_d_in(g):
    """Width of h' = [s_w h, s_b] for a group (1 for a bias alone)."""
    return (g.d_in if g.weight is not None else 0) + (g.bias is not None)


# ----------------------------------------------------------------------------- cost model


def _flops(method: NTKMethod, plan: _Plan, N1, N2, full, symmetric):
    """Estimated FLOPs of each method (the formulas of the NTKMethod docstrings)."""
    O, P, A = plan.O, plan.P, plan.activations
    F_ = 2 * P + A  # forward FLOPs per sample
    pairs = N1 * N2 / (2 if symmetric else 1)
    oo = O * O if full else O
    Nf = N1 if symmetric else N1 + N2
    if method == NTKMethod.JACOBIAN:
        return Nf * 3 * O * F_ + 2 * pairs * oo * P
    if method == NTKMethod.NTVP:
        return N2 * 3 * O * F_ + 3 * pairs * O * F_
    if method == NTKMethod.STRUCTURED:
        c = Nf * (1 + O) * 3 * F_
        per_pair = 0
        for g in plan.groups:
            d_in = _group_d_in(g)
            if g.strategy == "gram":
                per_pair += g.T * g.T * (d_in + O * g.d_out + 3 * _PASS_COST * (O * O if full else 1))
            else:
                per_pair += oo * g.d_out * d_in
                c += Nf * O * g.T * g.d_out * d_in * 2
        per_pair *= 2
        if plan.fallback:
            c += Nf * 3 * O * F_ + 2 * pairs * oo * plan.P_fallback
        return c + pairs * per_pair
    raise AssertionError(method)


def _feature_bytes(method, plan: _Plan, itemsize):
    """Numbers held per sample of a block (its 'features') and working numbers per sample."""
    O, P, A = plan.O, plan.P, plan.activations
    if method == NTKMethod.JACOBIAN:
        return 2 * O * P * itemsize, 2 * O * A * itemsize
    if method == NTKMethod.NTVP:
        return 2 * O * P * itemsize, 2 * O * A * itemsize
    cap = 0
    for g in plan.groups:
        d_in = _group_d_in(g)
        if g.strategy == "gram":
            cap += g.T * (d_in + O * g.d_out)
        else:
            cap += O * g.d_out * d_in + g.T * (d_in + O * g.d_out)
    cap += 2 * O * plan.P_fallback
    work = 4 * A + (2 * O * A if plan.fallback else 0)
    return cap * itemsize, work * itemsize


def _pair_bytes(method, plan: _Plan, full, itemsize):
    """Working numbers per (row, column) pair of a block."""
    O = plan.O
    oo = O * O if full else 1
    if method == NTKMethod.NTVP:
        return (3 * O * plan.activations + 2 * oo * O) * itemsize
    if method == NTKMethod.STRUCTURED:
        t2 = max([g.T * g.T for g in plan.groups if g.strategy == "gram"] + [1])
        return (3 * t2 * (O * O if full else 1) + 3 * oo) * itemsize
    return 3 * oo * itemsize


def _block_cost(method, plan, full, itemsize, bI, bJ):
    feat, work = _feature_bytes(method, plan, itemsize)
    pair = _pair_bytes(method, plan, full, itemsize)
    return (bI + bJ) * feat + max(bI, bJ) * work + bI * bJ * pair


def _choose_block(method, plan, full, itemsize, N1, N2, budget, block_size, owner):
    need1 = _block_cost(method, plan, full, itemsize, 1, 1)
    if need1 > budget:
        raise ValueError(
            f"The 'max_memory' parameter of {owner} is too small for even one block: method {method.value!r} needs about "
            f"{need1:,} bytes for a block of one sample. Got max_memory={budget:,}."
        )
    if block_size is not None:
        b = block_size
        if _block_cost(method, plan, full, itemsize, min(b, N1), min(b, N2)) > budget:
            raise ValueError(
                f"The 'block_size' parameter of {owner} ({b}) needs about "
                f"{_block_cost(method, plan, full, itemsize, min(b, N1), min(b, N2)):,} bytes, more than max_memory={budget:,}."
            )
        return b
    lo, hi = 1, max(N1, N2)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _block_cost(method, plan, full, itemsize, min(mid, N1), min(mid, N2)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ----------------------------------------------------------------------------- block kernels


def _structured_factors(model, plan: _Plan, fn: _Fn, xb):
    """Per group, G (O, b, T, d_out) and H' (b, T, d_in') with h' = [s_w h, s_b], so that the per-sample
    Jacobian of the group's parameters is sum_t g_t (x) h'_t; plus the fallback Jacobian (b, O, P_f)."""
    O = plan.O
    b = xb.shape[0]
    _, calls, bad = _capture(model, xb, plan.rule_modules, O)
    if bad:
        raise RuntimeError("a rule module changed behaviour between the probe and this block; this is a bug")
    by_module: dict[int, list] = {}
    for c in calls:
        by_module.setdefault(id(c.module), []).append(c)
    out = []
    for g in plan.groups:
        gcalls = [c for m in g.modules for c in by_module.get(id(m), [])]
        if gcalls:
            H = torch.cat([c.h for c in gcalls], dim=1) if len(gcalls) > 1 else gcalls[0].h  # (b, T, d_in)
            G = torch.cat([c.g for c in gcalls], dim=2) if len(gcalls) > 1 else gcalls[0].g  # (O, b, T, d_out)
        else:
            H = xb.new_zeros(b, 1, g.d_in)
            G = xb.new_zeros(O, b, 1, g.d_out)
        parts = []
        if g.weight is not None:
            parts.append(H * math.sqrt(g.w_scale2) if g.w_scale2 != 1.0 else H)
        if g.bias is not None:
            parts.append(H.new_full((b, H.shape[1], 1), math.sqrt(g.b_scale2)))
        out.append((G, torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]))
    fb = fn.jacobian(xb, plan.fallback) if plan.fallback else None
    return out, fb


class _Timer:
    def __init__(self, device, on):
        self.on = on
        self.device = device

    def __call__(self):
        if self.on and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


class _Engine:
    """Features of a block of samples and the kernel between two blocks, for one method."""

    def __init__(self, method, fn: _Fn, plan: _Plan, model, full, stats):
        self.method, self.fn, self.plan, self.model, self.full = method, fn, plan, model, full
        self.stats = stats

    # features ------------------------------------------------------------
    def features(self, xb):
        if self.method == NTKMethod.JACOBIAN:
            return self.fn.jacobian(xb)  # (b, O, P)
        if self.method == NTKMethod.NTVP:
            return xb
        return self._structured_features(xb)

    def column(self, xb):
        if self.method == NTKMethod.NTVP:
            b, O = xb.shape[0], self.plan.O
            jac = vmap(jacrev(self.fn.single), in_dims=(None, 0))(self.fn.params, xb)  # name -> (b, O, *shape)
            return {n: t.reshape(b * O, *t.shape[2:]) for n, t in jac.items()}
        return self.features(xb)

    def _structured_features(self, xb):
        factors, fb = _structured_factors(self.model, self.plan, self.fn, xb)
        b = xb.shape[0]
        feats = []
        for g, (G, H) in zip(self.plan.groups, factors):
            if g.strategy == "persample":
                # Z_n = sum_t g_t (x) h'_t: the per-sample gradient of the weight and bias together
                feats.append({"Z": torch.einsum("onti,ntj->noij", G, H).reshape(b, G.shape[0], -1)})  # (b, O, d_out d_in')
            else:
                T = H.shape[1]
                feats.append({"H": H.reshape(b * T, -1), "G": G.permute(1, 2, 0, 3).reshape(b * T, -1), "T": T})  # rows (n, t)
        return feats, fb, b

    # kernel between blocks -----------------------------------------------
    def pair(self, fi, fj):
        if self.method == NTKMethod.JACOBIAN:
            return _contract(fi, fj, self.full)
        if self.method == NTKMethod.NTVP:
            return self._ntvp_pair(fi, fj)
        return self._structured_pair(fi, fj)

    def _ntvp_pair(self, xI, tang):
        O = self.plan.O
        bI = xI.shape[0]
        bJ = next(iter(tang.values())).shape[0] // O

        def push(t):
            return jvp(lambda p: self.fn.batch(p, xI), (self.fn.params,), (t,))[1]  # (bI, O)

        out = vmap(push)(tang)  # (bJ*O, bI, O): [m o', n o] = J_{n o} . J_{m o'}
        out = out.reshape(bJ, O, bI, O).permute(2, 0, 3, 1)  # (bI, bJ, O, O')
        if self.full:
            return out
        return torch.diagonal(out, dim1=2, dim2=3).sum(-1)

    def _structured_pair(self, fi, fj):
        (feats_i, fb_i, bI), (feats_j, fb_j, bJ) = fi, fj
        O, full = self.plan.O, self.full
        ref = fb_i if fb_i is not None else next(v for v in feats_i[0].values() if isinstance(v, torch.Tensor))
        timer = _Timer(ref.device, self.stats is not None)
        oo = O * O if full else O
        t0 = timer()
        flops = 0
        # accumulator: (bI, bJ) for trace; (bI, O, bJ, O) for full (permuted at the end)
        acc = torch.zeros((bI, O, bJ, O) if full else (bI, bJ), dtype=ref.dtype, device=ref.device)
        acc2 = acc.view(bI * O, bJ * O) if full else acc
        bufs: dict[tuple, torch.Tensor] = {}

        def buf(key, shape):
            t = bufs.get((key, shape))
            if t is None:
                t = bufs[(key, shape)] = torch.empty(shape, dtype=ref.dtype, device=ref.device)
            return t

        def add_outer(A, B):  # A (bI, O, K), B (bJ, O, K): acc += A B^T over the matching outputs
            K = A.shape[2]
            if full:
                acc2.addmm_(A.reshape(bI * O, K), B.reshape(bJ * O, K).T)
            else:
                acc2.addmm_(A.reshape(bI, O * K), B.reshape(bJ, O * K).T)
            return 2 * bI * bJ * oo * K

        for g, a, c in zip(self.plan.groups, feats_i, feats_j):
            if "Z" in a:
                flops += add_outer(a["Z"], c["Z"])
                continue
            T = a["T"]
            # h' = [s_w h, s_b], so H' H'^T = s_w^2 H H^T + s_b^2 carries the weight and the bias term
            HH = torch.mm(a["H"], c["H"].T, out=buf("H", (bI * T, bJ * T)))  # (bI T, bJ T)
            flops += 2 * bI * bJ * T * T * a["H"].shape[1]
            if full:
                Ga = a["G"].reshape(bI * T * O, g.d_out)
                Gc = c["G"].reshape(bJ * T * O, g.d_out)
                GG = torch.mm(Ga, Gc.T, out=buf("G", (bI * T * O, bJ * T * O)))
                flops += 2 * bI * bJ * T * T * O * O * g.d_out
                K = GG.view(bI, T, O, bJ, T, O) * HH.view(bI, T, 1, bJ, T, 1)
                acc.add_(K.sum(dim=(1, 4)))
            else:
                GG = torch.mm(a["G"], c["G"].T, out=buf("G", (bI * T, bJ * T)))  # sum_o G_o G_o^T
                flops += 2 * bI * bJ * T * T * O * g.d_out
                if T == 1:
                    acc.addcmul_(GG, HH)
                else:
                    acc.add_(GG.mul_(HH).view(bI, T, bJ, T).sum(dim=(1, 3)))
        t1 = timer()
        if self.stats is not None:
            self.stats["gram_flops"] = self.stats.get("gram_flops", 0) + flops
            self.stats["gram_seconds"] = self.stats.get("gram_seconds", 0.0) + (t1 - t0)
        if fb_i is not None:
            add_outer(fb_i, fb_j)
        return acc.permute(0, 2, 1, 3) if full else acc


def _block_slices(N, b):
    return [slice(i, min(i + b, N)) for i in range(0, N, b)]


# ----------------------------------------------------------------------------- public API


def empirical_ntk(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    method: str | NTKMethod = DEFAULT_METHOD,
    outputs: str = "trace",
    block_size: int | None = None,
    max_memory: int | None = None,
    out_device: str | torch.device | None = None,
    mode: str = "eval",
    depth_mask: torch.Tensor | None = None,
    stats: dict | None = None,
) -> torch.Tensor:
    """The empirical NTK Theta(x1, x2) = J(x1) J(x2)^T of ``model`` (exact, blocked).

    Parameters
    ----------
    model : nn.Module
        Maps a batch (N, ...) to outputs (N, ...) with O numbers per sample; samples must not
        interact. Its parameters with ``requires_grad=True`` are theta.
    x1 : Tensor, shape (N1, ...)
        Inputs on the model's device, in the model's dtype (float32 or float64).
    x2 : Tensor, shape (N2, ...), optional
        Second inputs with the same per-sample shape. ``None`` means x1, and then only the
        blocks on and above the diagonal are computed and the result is exactly symmetric.
    method : {"auto", "structured", "jacobian", "ntvp"} or NTKMethod
        See :class:`NTKMethod` for the formula and the cost of each. Default ``"auto"``.
    outputs : {"trace", "full"}
        ``"trace"``: shape (N1, N2), summed over the O outputs. ``"full"``: (N1, N2, O, O).
    block_size : int, optional
        Samples per block (any N is allowed; the last block is smaller). Default: the largest
        block whose working memory fits in ``max_memory``.
    max_memory : int, optional
        Bytes of working memory allowed beyond the model, the inputs and the result. Default:
        a quarter of the free memory of the device, at most 2 GiB.
    out_device : str or torch.device, optional
        Where the result lives; default the model's device. With a GPU model and
        ``out_device="cpu"`` each block is copied to host memory as soon as it is computed.
    mode : {"eval", "as_is"}
        ``"eval"`` (default): the NTK of the model in eval mode (restored afterwards).
        ``"as_is"``: the model's current mode; must be deterministic and per-sample.
    depth_mask : Tensor, optional
        A fixed stochastic-depth mask (see the contract in the module docstring).
    stats : dict, optional
        If given, filled with what was done: method, block_size, parameters without a
        structured rule, and for the structured method the FLOPs and seconds of the Gram products.

    Returns
    -------
    Tensor of shape (N1, N2) or (N1, N2, O, O), in the dtype of the model.
    """
    owner = "empirical_ntk"
    method = _check_method(method)
    _check_choice("outputs", outputs, _OUTPUTS)
    _check_choice("mode", mode, _MODES)
    params = _check_model(model, owner)
    _check_x("x1", x1, params, owner)
    if x2 is not None:
        _check_x("x2", x2, params, owner, like=x1)
    block_size = _check_positive_int("block_size", block_size, owner)
    device = params[0][1].device
    budget = _budget(max_memory, device, owner)
    if out_device is not None:
        try:
            out_device = torch.device(out_device)
        except (RuntimeError, TypeError):
            raise ValueError(f"The 'out_device' parameter of {owner} must be a torch device or its name. Got {out_device!r} instead.") from None
    full = outputs == "full"
    symmetric = x2 is None
    X2 = x1 if symmetric else x2

    with _prepared(model, mode, depth_mask, owner):
        _check_independence(model, x1, owner)
        fn = _Fn(model, params, 1)
        plan = _probe(model, fn, params, x1, full, use_rules=method in (NTKMethod.STRUCTURED, NTKMethod.AUTO))
        N1, N2 = x1.shape[0], X2.shape[0]
        if method == NTKMethod.AUTO:
            costs = {m: _flops(m, plan, N1, N2, full, symmetric) for m in (NTKMethod.STRUCTURED, NTKMethod.JACOBIAN)}
            method = min(costs, key=costs.get)
            if method == NTKMethod.JACOBIAN:
                plan.groups, plan.rule_modules = [], []
                plan.fallback, plan.P_fallback = list(fn.names), fn.P
        itemsize = x1.element_size() if x1.is_floating_point() else params[0][1].element_size()
        b = _choose_block(method, plan, full, itemsize, N1, N2, budget, block_size, owner)
        O = plan.O
        dtype = params[0][1].dtype
        shape = (N1, N2, O, O) if full else (N1, N2)
        out = torch.empty(shape, dtype=dtype, device=out_device or device)
        if stats is not None:
            stats.clear()
            stats.update(method=method.value, block_size=b, n_outputs=O, n_params=fn.P,
                         fallback_params=list(plan.fallback) if method == NTKMethod.STRUCTURED else [],
                         gram_flops=0, gram_seconds=0.0)
        eng = _Engine(method, fn, plan, model, full, stats)
        rows, cols = _block_slices(N1, b), _block_slices(N2, b)
        feat_b, _ = _feature_bytes(method, plan, itemsize)
        cache_all = N2 * feat_b + _block_cost(method, plan, full, itemsize, b, b) <= budget and len(cols) > 1
        cache: dict[int, Any] = {}
        for i, I in enumerate(rows):
            if symmetric and method != NTKMethod.NTVP and i in cache:
                fi = cache.pop(i)  # this row's features were computed as a column before
            else:
                fi = eng.features(x1[I])
            for j, J in enumerate(cols):
                if symmetric and j < i:
                    continue
                if symmetric and j == i and method != NTKMethod.NTVP:
                    fj = fi
                elif j in cache:
                    fj = cache[j]
                else:
                    fj = eng.column(X2[J])
                    if cache_all:
                        cache[j] = fj
                blk = eng.pair(fi, fj)
                if symmetric and i == j:
                    blk = 0.5 * (blk + (blk.transpose(0, 1).transpose(2, 3) if full else blk.T))
                blk = blk.to(out.device)
                out[I, J] = blk
                if symmetric and j != i:
                    out[J, I] = blk.transpose(0, 1).transpose(2, 3) if full else blk.T
                del blk
            del fi
    return out


# ----------------------------------------------------------------------------- matrix-free


class NTKOperator:
    """Theta as a linear operator V -> Theta V, never formed.

    ``Theta v = J (J^T v)``: a vector-Jacobian product gives u = J^T v (a vector in parameter
    space), a Jacobian-vector product gives J u, both done in chunks of samples.

    * ``method="ntvp"``: the two products with torch.func (``vjp`` then ``jvp``) for any model.
      Cost about 6 N F FLOPs per vector (per vector and output for "trace"); memory one backward
      and one forward-mode pass over a chunk plus k parameter-sized vectors.
    * ``method="structured"``: for each dense or convolutional layer the per-sample Jacobian is
      sum_t g_t (x) h'_t, so J^T v = sum_n v_n G_n^T H'_n (a d_out x d_in' matrix) and
      (J M)_n = sum_t g_t^T M h'_t: two matrix products per layer and vector, 4 N P FLOPs per
      vector, after the H and G of each chunk are captured (one forward and O backward passes).
      With ``cache=True`` (default when they fit in ``max_memory``) they are captured once.
      Parameters without a rule use the torch.func products for those parameters alone.
    * ``method="auto"``: structured when any layer has a rule.

    With ``outputs="trace"`` the operator is (N, N), sum_o J_o J_o^T; with ``outputs="full"`` it is
    (N O, N O) with row index n * O + o. Call it (or ``matmat``) on a tensor or NumPy array of
    shape (n,) or (n, k); ``as_linear_operator()`` gives a ``scipy.sparse.linalg.LinearOperator``.
    """

    def __init__(self, model, x, *, method="auto", outputs="trace", block_size=None, max_memory=None, mode="eval",
                 depth_mask=None, cache=None):
        owner = "ntk_operator"
        method = _check_method(method)
        if method == NTKMethod.JACOBIAN:
            raise ValueError(f"The 'method' parameter of {owner} must be 'auto', 'structured' or 'ntvp'. Got 'jacobian' instead.")
        _check_choice("outputs", outputs, _OUTPUTS, owner)
        _check_choice("mode", mode, _MODES, owner)
        params = _check_model(model, owner)
        _check_x("x", x, params, owner)
        self.block_size = _check_positive_int("block_size", block_size, owner)
        self.model, self.x, self.outputs, self.mode, self.depth_mask = model, x, outputs, mode, depth_mask
        self.device = params[0][1].device
        self.budget = _budget(max_memory, self.device, owner)
        with _prepared(model, mode, depth_mask, owner):
            _check_independence(model, x, owner)
            self.fn = _Fn(model, params, 1)
            self.plan = _probe(model, self.fn, params, x, outputs == "full", use_rules=method != NTKMethod.NTVP)
        if method == NTKMethod.AUTO:
            method = NTKMethod.STRUCTURED if self.plan.groups else NTKMethod.NTVP
        if method == NTKMethod.NTVP:
            self.plan.groups, self.plan.rule_modules = [], []
            self.plan.fallback, self.plan.P_fallback = list(self.fn.names), self.fn.P
        self.method = method
        self.O = self.plan.O
        self.N = x.shape[0]
        n = self.N * (self.O if outputs == "full" else 1)
        self.shape = (n, n)
        self.dtype = params[0][1].dtype
        self.itemsize = params[0][1].element_size()
        self.n_products = 0
        if self.plan.P * self.itemsize * 3 > self.budget:
            raise ValueError(
                f"The 'max_memory' parameter of {owner} is too small for even one block: a parameter-sized vector needs "
                f"{self.plan.P * self.itemsize * 3:,} bytes. Got max_memory={self.budget:,}."
            )
        self._cache = None
        per_sample = sum(g.T * (_group_d_in(g) + self.O * g.d_out) for g in self.plan.groups)
        fits = self.N * per_sample * self.itemsize <= self.budget // 2 and not self.plan.fallback
        if cache is None:
            cache = fits and method == NTKMethod.STRUCTURED
        if cache and method == NTKMethod.STRUCTURED:
            b = self._chunk(1)
            with _prepared(model, mode, depth_mask, owner):
                self._cache = [(s, _structured_factors(model, self.plan, self.fn, x[s])) for s in _block_slices(self.N, b)]

    def _chunk(self, k):
        if self.block_size is not None:
            return self.block_size
        kk = k * (self.O if self.outputs == "trace" else 1)
        P = self.plan.P_fallback if self.method == NTKMethod.STRUCTURED else self.plan.P
        free = self.budget // 2 - 3 * kk * P * self.itemsize
        per = 4 * (kk if P else 1) * (self.plan.activations + self.O) * self.itemsize
        if self.method == NTKMethod.STRUCTURED:
            per += (4 + kk) * sum(g.T * (_group_d_in(g) + self.O * g.d_out) for g in self.plan.groups) * self.itemsize
        return int(max(1, min(self.N, free // max(per, 1))))

    def _chunks(self, k):
        if self._cache is not None:
            yield from self._cache
            return
        for s in _block_slices(self.N, self._chunk(k)):
            if self.method == NTKMethod.STRUCTURED:
                yield s, _structured_factors(self.model, self.plan, self.fn, self.x[s])
            else:
                yield s, ([], None)

    def matmat(self, V):
        """Theta V for V of shape (n,) or (n, k); returns the same kind (tensor or ndarray) and shape."""
        is_np = isinstance(V, np.ndarray)
        Vt = torch.as_tensor(V)
        vec = Vt.ndim == 1
        if Vt.shape[0] != self.shape[0] or Vt.ndim > 2:
            raise ValueError(f"The operator has shape {self.shape}; got a vector block of shape {tuple(Vt.shape)}.")
        Vt = Vt.reshape(self.shape[0], -1).to(device=self.device, dtype=self.dtype)
        k = Vt.shape[1]
        O, N = self.O, self.N
        trace = self.outputs == "trace"
        Vr = Vt.reshape(N, k) if trace else Vt.reshape(N, O, k)
        with _prepared(self.model, self.mode, self.depth_mask, "ntk_operator"):
            Y = self._structured_matmat(Vr, k) if self.method == NTKMethod.STRUCTURED else None
            if self.plan.fallback:
                Yf = self._ntvp_matmat(Vr, k, self.plan.fallback)
                Y = Yf if Y is None else Y + Yf
        Y = Y.reshape(self.shape[0], k)
        self.n_products += k
        if vec:
            Y = Y[:, 0]
        if is_np:
            return Y.detach().cpu().numpy().astype(V.dtype if V.dtype.kind == "f" else np.float64, copy=False)
        return Y

    def _structured_matmat(self, V, k):
        """Sum over layers of J_l (J_l^T V), where J_l^T v = sum_o G_o^T diag(v_o) H' (a d_out x d_in' matrix)
        and (J_l M)_(n, o) = sum_t g_(n,t,o)^T M h'_(n,t): two matrix products per layer, output and vector."""
        trace = self.outputs == "trace"
        O = self.O
        chunks = self._cache

        def weights(Vs, o, T):  # per-row weights (b T, k) for rows (n, t)
            w = Vs if trace else Vs[:, o]
            return w if T == 1 else w.repeat_interleave(T, dim=0)

        M = None  # per group and output (trace) or per group (full): (d_out, k d_in')
        for s, (factors, _) in (chunks or self._chunks(k)):
            Vs = V[s]
            part = []
            for G, H in factors:  # G (O, b, T, d_out), H (b, T, d_in')
                b, T, d_in = H.shape
                d_out = G.shape[3]
                Hr = H.reshape(b * T, d_in)
                Mk = None
                for o in range(O):
                    Go = G[o].reshape(b * T, d_out)
                    A = (weights(Vs, o, T).unsqueeze(2) * Hr.unsqueeze(1)).reshape(b * T, k * d_in)  # rows v_rk h'_r
                    Mo = Go.T @ A  # (d_out, k d_in'): M_k = sum_r g_r v_rk h'_r^T side by side
                    if trace:
                        part.append(Mo)
                    else:
                        Mk = Mo if Mk is None else Mk.add_(Mo)
                if not trace:
                    part.append(Mk)
            M = part if M is None else [m.add_(p) for m, p in zip(M, part)]
        Y = torch.zeros(V.shape, dtype=V.dtype, device=V.device)
        for s, (factors, _) in (chunks or self._chunks(k)):
            Ms = iter(M)
            for G, H in factors:
                b, T, d_in = H.shape
                d_out = G.shape[3]
                Hr = H.reshape(b * T, 1, d_in)
                Mk = None if trace else next(Ms)
                for o in range(O):
                    Mo = next(Ms) if trace else Mk
                    GM = (G[o].reshape(b * T, d_out) @ Mo).view(b * T, k, d_in)  # g_r^T M_k
                    r = torch.matmul(GM, Hr.transpose(1, 2)).view(b, T, k).sum(1)  # (b, k): sum_t g^T M_k h'
                    if trace:
                        Y[s] += r
                    else:
                        Y[s, o] += r
        return Y

    def _ntvp_matmat(self, V, k, names):
        """J_f (J_f^T V) for the parameters ``names`` with torch.func vjp and jvp."""
        fn, O, N = self.fn, self.O, self.N
        trace = self.outputs == "trace"
        sub = {n: fn.params[n] for n in names}
        rest = {n: v for n, v in fn.params.items() if n not in sub}
        if trace:
            # cotangent (i, o): v_i on output o only
            eye = torch.eye(O, dtype=self.dtype, device=self.device)
            cot_all = torch.einsum("nk,op->konp", V, eye).reshape(k * O, N, O)
        else:
            cot_all = V.permute(2, 0, 1)  # (k, N, O)
        b = self._chunk(k)
        U = None
        for s in _block_slices(N, b):
            xb = self.x[s]
            _, pull = vjp(lambda p: fn.batch({**rest, **p}, xb), sub)
            u = vmap(pull)(cot_all[:, s])[0]  # name -> (kk, *shape)
            U = u if U is None else {n: U[n] + u[n] for n in U}
        outs = []
        for s in _block_slices(N, b):
            xb = self.x[s]

            def push(t, xb=xb):
                return jvp(lambda p: fn.batch({**rest, **p}, xb), (sub,), (t,))[1]

            outs.append(vmap(push)(U))  # (kk, b, O)
        Y = torch.cat(outs, dim=1)  # (kk, N, O)
        if trace:
            return torch.diagonal(Y.reshape(k, O, N, O), dim1=1, dim2=3).sum(-1).T  # (N, k)
        return Y.permute(1, 2, 0)  # (N, O, k)

    __call__ = matmat

    def matvec(self, v):
        return self.matmat(v)

    def as_linear_operator(self):
        """A scipy LinearOperator (float64 NumPy in and out) for eigsh / lobpcg."""
        from scipy.sparse.linalg import LinearOperator

        def mv(v):
            return np.asarray(self.matmat(np.asarray(v, dtype=np.float64)), dtype=np.float64)

        return LinearOperator(self.shape, matvec=mv, matmat=mv, rmatvec=mv, dtype=np.float64)

    def to_dense(self):
        """Theta formed column block by column block (for checks on small N)."""
        eye = torch.eye(self.shape[0], dtype=self.dtype, device=self.device)
        return self.matmat(eye)


def ntk_operator(model, x, *, method="auto", outputs="trace", block_size=None, max_memory=None, mode="eval",
                 depth_mask=None, cache=None) -> NTKOperator:
    """The NTK of ``model`` on ``x`` as a matrix-free operator v -> Theta v (see :class:`NTKOperator`)."""
    return NTKOperator(model, x, method=method, outputs=outputs, block_size=block_size, max_memory=max_memory,
                       mode=mode, depth_mask=depth_mask, cache=cache)


_SOLVERS = ("auto", "eigvalsh", "lanczos", "lobpcg")
_WHICH = ("largest", "smallest")


def _select(evals, k, which):
    evals = torch.as_tensor(evals)
    s = torch.sort(evals, descending=(which == "largest")).values
    return s[:k]


def ntk_spectrum(theta, k=None, *, which="largest", solver="auto", tol=None, seed=0):
    """Eigenvalues of a formed NTK matrix (or of an NTKOperator / LinearOperator).

    ``k=None`` gives all eigenvalues (``eigvalsh``). Otherwise the k largest or smallest:
    ``"eigvalsh"`` computes everything (O(n^3)); ``"lanczos"`` is ARPACK's implicitly restarted
    Lanczos (``scipy.sparse.linalg.eigsh``), O(n^2) per iteration on a formed matrix, the
    fastest for a few extreme eigenvalues; ``"lobpcg"`` is ``scipy.sparse.linalg.lobpcg``.
    ``"auto"``: eigvalsh up to n = 2048 or when k > n / 4, else Lanczos. Returns a 1-D tensor,
    descending for "largest" and ascending for "smallest".
    """
    owner = "ntk_spectrum"
    _check_choice("which", which, _WHICH, owner)
    _check_choice("solver", solver, _SOLVERS, owner)
    is_op = isinstance(theta, NTKOperator) or not isinstance(theta, (torch.Tensor, np.ndarray))
    if not is_op:
        t = torch.as_tensor(theta)
        if t.ndim != 2 or t.shape[0] != t.shape[1]:
            raise ValueError(f"The 'theta' parameter of {owner} must be a square matrix. Got shape {tuple(t.shape)} instead.")
        n = t.shape[0]
    else:
        n = theta.shape[0]
    if k is None:
        k = n
        if solver not in ("auto", "eigvalsh"):
            raise ValueError(f"The 'k' parameter of {owner} may be None (all eigenvalues) only with solver 'eigvalsh' or 'auto'.")
    k = _check_positive_int("k", k, owner, allow_none=False)
    if k > n:
        raise ValueError(f"The 'k' parameter of {owner} must be at most the matrix size {n}. Got {k} instead.")
    if solver == "auto":
        solver = "eigvalsh" if (not is_op and (n <= 2048 or 4 * k > n)) else "lanczos"
    if solver == "eigvalsh":
        if is_op:
            t = theta.to_dense() if isinstance(theta, NTKOperator) else torch.as_tensor(theta @ np.eye(n))
        return _select(torch.linalg.eigvalsh(t), k, which)
    if k >= n - 1 and solver == "lanczos":
        raise ValueError(f"The 'k' parameter of {owner} must be below n - 1 = {n - 1} for Lanczos; use solver='eigvalsh'.")
    from scipy.sparse.linalg import LinearOperator, eigsh, lobpcg

    if is_op:
        op = theta.as_linear_operator() if isinstance(theta, NTKOperator) else theta
        dt = torch.float64
        single = isinstance(theta, NTKOperator) and theta.dtype == torch.float32
        out_dtype = theta.dtype if isinstance(theta, NTKOperator) else torch.float64
    else:
        a = t.detach().cpu().numpy()
        single = a.dtype == np.float32
        op = a
        out_dtype = t.dtype
    if tol is None:
        tol = 1e-6 if single else 1e-12
    rng = np.random.default_rng(seed)
    if solver == "lanczos":
        v0 = rng.standard_normal(n)
        vals = eigsh(op, k=k, which="LA" if which == "largest" else "SA", tol=tol, v0=v0.astype(op.dtype), return_eigenvectors=False)
    else:
        X = rng.standard_normal((n, k))
        A = op if is_op else LinearOperator(op.shape, matvec=lambda v: op @ v, matmat=lambda v: op @ v, dtype=op.dtype)
        vals, _ = lobpcg(A, X.astype(A.dtype), largest=(which == "largest"), tol=tol, maxiter=500)
    return _select(torch.as_tensor(np.asarray(vals, dtype=np.float64)), k, which).to(out_dtype)


def ntk_eigenvalues(
    model,
    x,
    k=10,
    *,
    which="largest",
    method=DEFAULT_METHOD,
    solver="auto",
    matrix_free=None,
    outputs="trace",
    block_size=None,
    max_memory=None,
    mode="eval",
    depth_mask=None,
    tol=None,
    seed=0,
):
    """The k largest (or smallest) eigenvalues of the NTK of ``model`` on ``x``.

    ``matrix_free=None`` forms Theta with :func:`empirical_ntk` (``method``) when it fits in
    ``max_memory`` and otherwise works on :func:`ntk_operator`, where only Lanczos (eigsh) and
    LOBPCG apply. See :func:`ntk_spectrum` for the solvers. The smallest eigenvalues of an NTK
    are usually clustered near zero, which makes iterative solvers slow on them: prefer a formed
    Theta and ``eigvalsh`` for ``which="smallest"``.
    """
    owner = "ntk_eigenvalues"
    _check_choice("which", which, _WHICH, owner)
    _check_choice("solver", solver, _SOLVERS, owner)
    _check_choice("outputs", outputs, _OUTPUTS, owner)
    params = _check_model(model, owner)
    _check_x("x", x, params, owner)
    k = _check_positive_int("k", k, owner, allow_none=False)
    device = params[0][1].device
    budget = _budget(max_memory, device, owner)
    with _prepared(model, mode, depth_mask, owner), torch.no_grad():
        O = model(x[:1]).numel()
    n = x.shape[0] * (O if outputs == "full" else 1)
    itemsize = params[0][1].element_size()
    if matrix_free is None:
        matrix_free = 2 * n * n * itemsize > budget
    if matrix_free:
        if solver == "eigvalsh":
            raise ValueError(f"The 'solver' parameter of {owner} cannot be 'eigvalsh' with matrix_free=True.")
        op = ntk_operator(model, x, method=method if method != "jacobian" else "auto", outputs=outputs,
                          block_size=block_size, max_memory=max_memory, mode=mode, depth_mask=depth_mask)
        return ntk_spectrum(op, k, which=which, solver="lanczos" if solver == "auto" else solver, tol=tol, seed=seed)
    theta = empirical_ntk(model, x, method=method, outputs=outputs, block_size=block_size, max_memory=max_memory, mode=mode, depth_mask=depth_mask)
    if outputs == "full":
        N = x.shape[0]
        theta = theta.permute(0, 2, 1, 3).reshape(N * O, N * O)
    return ntk_spectrum(theta, k, which=which, solver=solver, tol=tol, seed=seed)


# ----------------------------------------------------------------------------- stochastic depth


class ExpectedNTK(NamedTuple):
    """Monte Carlo estimate of E_mask[Theta_mask] over stochastic-depth masks."""

    mean: torch.Tensor  # (N1, N2) or (N1, N2, O, O)
    stderr: torch.Tensor  # elementwise standard error of the mean, std / sqrt(n_samples)
    n_samples: int


def expected_ntk(model, x1, n_samples, seed=0, *, x2=None, **kwargs) -> ExpectedNTK:
    """The NTK averaged over stochastic-depth masks, E_m[Theta_m(x1, x2)], with its standard error.

    Draws ``n_samples`` masks with ``model.sample_depth_mask(generator)`` from a CPU generator
    seeded with ``seed`` (same seed, same masks), computes the NTK for each fixed mask with
    :func:`empirical_ntk` (other keyword arguments are passed on) and returns the mean and the
    elementwise standard error std / sqrt(n_samples) (unbiased std). The error shrinks like
    1 / sqrt(n_samples).
    """
    owner = "expected_ntk"
    if not (callable(getattr(model, "sample_depth_mask", None)) and callable(getattr(model, "set_depth_mask", None))):
        raise TypeError(
            f"The 'model' parameter of {owner} must implement sample_depth_mask(generator) and set_depth_mask(mask) "
            f"(the stochastic-depth contract in ntkbook.ntk). {type(model).__name__} does not."
        )
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ValueError(f"The 'n_samples' parameter of {owner} must be an integer >= 2 (for a standard error). Got {n_samples!r} instead.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"The 'seed' parameter of {owner} must be an integer. Got {seed!r} instead.")
    if "depth_mask" in kwargs:
        raise TypeError(f"{owner} draws its own masks; do not pass 'depth_mask'.")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    mean = m2 = None
    for i in range(1, n_samples + 1):
        mask = model.sample_depth_mask(gen)
        th = empirical_ntk(model, x1, x2, depth_mask=mask, **kwargs).to(torch.float64)
        if mean is None:
            mean, m2 = th.clone(), torch.zeros_like(th)
        else:  # Welford
            d = th - mean
            mean += d / i
            m2 += d * (th - mean)
    var = m2 / (n_samples - 1)
    out_dtype = _trainable(model)[0][1].dtype
    return ExpectedNTK(mean.to(out_dtype), (var / n_samples).sqrt().to(out_dtype), int(n_samples))
