r"""The structured rule: the NTK of dense and convolutional layers from layerwise Gram products.

Following Novak, Sohl-Dickstein, Schoenholz (2022, "Fast Finite Width NTK"): for a dense layer
z = s_w W h + s_b b applied to each sample, dz/dW = s_w g h^T with g = df/dz, so the layer's
part of the kernel is

    Theta_l = (G_l G_l^T) * (s_w^2 H_l H_l^T + s_b^2)          (elementwise product)

where H_l (N, d_in) are the layer's inputs and G_l (N, O, d_out) the gradients of the O outputs
with respect to its outputs, both captured with hooks during one forward and O backward passes
of a whole block. With h' = [s_w h, s_b] (width d_in' = d_in + 1) the per-sample gradient of the
weight and bias together is Z_n = sum_t g_t (x) h'_t. A convolution is the same with its
unfolded patches, T positions per sample.

Contract: which layers have a rule
----------------------------------
``nn.Linear`` and ``nn.Conv2d`` (groups 1, zero padding) and their subclasses, and any leaf
module with a 2-d ``weight`` parameter (and optionally a ``bias``) whose output is
``s_w * (h @ W^T) + s_b * b`` for constants s_w and s_b, such as ``ntkbook.models.Dense`` in NTK
parameterization (s_w = sigma_w / sqrt(fan_in), s_b = sigma_b). :func:`probe` reads the scales
off by comparing the rule with autograd on the first few samples (up to 4, one random output
weighting). A parameter for which the rule fails that check (a weight also used transposed or
elsewhere, a reparametrized weight, a layer that is not affine in its weight), and every
parameter of any other kind of layer (LayerNorm, a free ``nn.Parameter``, a trainable Fourier
matrix), is handled by per-sample Jacobians for those parameters alone, so the result stays
exact; ``Plan.fallback`` lists them. The check cannot see a layer whose use of its weight
changes with the input (data-dependent control flow); such a model should use
``method="jacobian"``.

This module holds the rule's machinery (the probe, the capture, the features of a block and
their contraction); :mod:`ntkbook.ntk.empirical` and :mod:`ntkbook.ntk.operator` use it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

#: An elementwise pass over a b x b tile is memory-bound: on a CPU it costs about as much time
#: as this many multiply-adds per entry of a matrix product.
PASS_COST = 64
#: Samples of the probe: the rules are verified against autograd on this many.
PROBE_SAMPLES = 4


# ----------------------------------------------------------------------------- layer geometry


@dataclass(frozen=True)
class Geometry:
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


def rule_geometry(m):
    """The geometry of a module the rule may cover, or None (see the contract in the module docstring).

    The rule is only a candidate: :func:`probe` verifies it against autograd and drops it for a
    parameter where it fails.
    """
    w = getattr(m, "weight", None)
    if not isinstance(w, torch.Tensor):
        return None
    if isinstance(m, nn.Conv2d):
        if m.groups != 1 or m.padding_mode != "zeros" or (isinstance(m.padding, str) and m.padding != "valid"):
            return None
        pad = (0, 0) if isinstance(m.padding, str) else _pair2(m.padding)
        return Geometry("conv", m.in_channels * math.prod(m.kernel_size), m.out_channels, tuple(m.kernel_size),
                        _pair2(m.stride), pad, _pair2(m.dilation))
    if isinstance(m, nn.Linear):
        return Geometry("dense", m.in_features, m.out_features)
    if not isinstance(w, nn.Parameter) or any(True for _ in m.children()):
        return None
    if w.ndim == 2:
        return Geometry("dense", w.shape[1], w.shape[0])
    if w.ndim == 4 and getattr(m, "groups", 1) == 1 and getattr(m, "padding_mode", "zeros") == "zeros":
        pad = getattr(m, "padding", 0)
        if isinstance(pad, str):
            return None
        try:
            return Geometry("conv", w.shape[1] * w.shape[2] * w.shape[3], w.shape[0], tuple(w.shape[2:]),
                            _pair2(getattr(m, "stride", 1)), _pair2(pad), _pair2(getattr(m, "dilation", 1)))
        except (TypeError, ValueError):
            return None
    return None


# ----------------------------------------------------------------------------- capture


@dataclass
class Call:
    """One call of a rule module in one forward pass."""

    module: nn.Module
    h: torch.Tensor  # (b, T, d_in) inputs (unfolded patches for a convolution)
    z: torch.Tensor | None  # the module output (part of the autograd graph) until the backward passes
    T: int
    g: torch.Tensor | None = None  # (O, b, T, d_out) after the backward passes


def _positions(h, out, gm, b):
    """The call's inputs as (b, T, d_in) rows, or None when the call does not fit its geometry."""
    if gm.d_in == 0:
        return None
    if gm.kind == "dense":
        if h.shape[-1] != gm.d_in or out.shape[-1] != gm.d_out or h.shape[:-1] != out.shape[:-1]:
            return None
        return h.reshape(b, -1, gm.d_in)  # (b, T, d_in)
    if h.ndim != 4 or out.ndim != 4 or out.shape[1] != gm.d_out:
        return None
    u = F.unfold(h, gm.kernel, dilation=gm.dilation, padding=gm.padding, stride=gm.stride)  # (b, C k k, T)
    if u.shape[1] != gm.d_in or u.shape[2] != out.shape[2] * out.shape[3]:
        return None
    return u.transpose(1, 2)  # (b, T, C k k)


def _output_gradients(y, calls, geo, O, b):
    """O backward passes of the block's outputs y (b, O) to the captured module outputs: fills ``Call.g``."""
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


def capture(model, xb, modules, O):
    """Forward the block with hooks on the rule modules, then O backward passes to the module outputs.

    Returns the outputs (b, O), one :class:`Call` per module call (inputs H and output gradients G)
    and the ids of modules whose calls do not fit their rule (their parameters need the fallback).
    """
    b = xb.shape[0]
    calls: list[Call] = []
    bad: set[int] = set()
    geo = {id(m): rule_geometry(m) for m in modules}

    def hook(m, inp, out):
        h = inp[0] if isinstance(inp, tuple) and inp else inp
        if (not isinstance(out, torch.Tensor) or not isinstance(h, torch.Tensor) or not h.is_floating_point()
                or h.shape[:1] != (b,) or out.shape[:1] != (b,) or not out.requires_grad):
            bad.add(id(m))
            return None
        hh = _positions(h.detach(), out, geo[id(m)], b)
        if hh is None:
            bad.add(id(m))
            return None
        calls.append(Call(m, hh, out, hh.shape[1]))
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
    _output_gradients(y, calls, geo, O, b)
    return y.detach(), calls, bad


def _by_module(calls):
    by_module: dict[int, list] = {}
    for c in calls:
        by_module.setdefault(id(c.module), []).append(c)
    return by_module


# ----------------------------------------------------------------------------- the plan


@dataclass
class Group:
    """All uses of one weight (and its bias) through rule modules, with the scales the probe verified."""

    weight: str | None
    bias: str | None
    modules: list
    w_scale2: float = 1.0  # s_w^2
    b_scale2: float = 1.0  # s_b^2
    T: int = 1  # positions per sample, summed over the calls
    d_in: int = 0
    d_out: int = 0
    strategy: str = "gram"  # "gram": Gram products over positions; "persample": per-sample gradients Z

    @property
    def d_in_prime(self):
        """Width of h' = [s_w h, s_b] (1 for a bias alone)."""
        return (self.d_in if self.weight is not None else 0) + (self.bias is not None)

    def pair_madds(self, O, full, strategy=None):
        """Multiply-adds per (row, column) pair of samples for this group's part of the kernel.

        Gram: T^2 (d_in' + O d_out) plus a few memory-bound elementwise passes; per-sample:
        O d_out d_in' ("trace") or O^2 d_out d_in' ("full") with Z_n of size d_out d_in'.
        """
        strategy = strategy or self.strategy
        if strategy == "gram":
            return self.T * self.T * (self.d_in_prime + O * self.d_out + 3 * PASS_COST * (O * O if full else 1))
        return (O * O if full else O) * self.d_out * self.d_in_prime

    def per_sample_numbers(self, O):
        """Numbers held per sample of a block: H' and G, and Z for the per-sample strategy."""
        hg = self.T * (self.d_in_prime + O * self.d_out)
        return hg + (O * self.d_out * self.d_in_prime if self.strategy == "persample" else 0)


@dataclass
class Plan:
    """What the probe found: which parameters have a verified rule, and the per-sample sizes."""

    O: int
    P: int
    groups: list = field(default_factory=list)
    fallback: list = field(default_factory=list)  # parameter names without a rule
    P_fallback: int = 0
    activations: int = 0  # numbers per sample of all module outputs
    rule_modules: list = field(default_factory=list)


def _choose_strategy(g: Group, O, full):
    """Gram products over positions, or per-sample weight gradients, whichever is cheaper per pair.

    The per-sample gradients win for a readout with one output, for bias-only groups and for small
    convolutions.
    """
    per_sample = g.pair_madds(O, full, "persample") + PASS_COST
    return "gram" if g.pair_madds(O, full, "gram") < per_sample else "persample"


# ----------------------------------------------------------------------------- probe


def _count_activations(model, xs):
    """Numbers per sample of all leaf-module outputs in one forward pass (at least 1)."""
    b = xs.shape[0]
    act = [0]

    def count(m, inp, out):
        if isinstance(out, torch.Tensor) and len(list(m.children())) == 0:
            act[0] += out.numel() // max(b, 1)

    hs = [m.register_forward_hook(count) for m in model.modules()]
    try:
        with torch.no_grad():
            model(xs)
    finally:
        for h in hs:
            h.remove()
    return max(act[0], 1)


def _candidate_groups(model, params):
    """The rule modules that use one weight (or one bias) parameter, grouped by parameter.

    A weight and a bias used by exactly the same modules form one group (their Gram products share
    G G^T). Returns the groups and the rule modules.
    """
    name_of = {id(p): n for n, p in params}
    w_mods: dict[str, list] = {}
    b_mods: dict[str, list] = {}
    rule_modules = []
    for m in model.modules():
        if rule_geometry(m) is None:
            continue
        w = name_of.get(id(m.weight)) if isinstance(m.weight, nn.Parameter) else None
        bb = name_of.get(id(m.bias)) if isinstance(getattr(m, "bias", None), nn.Parameter) else None
        if w is not None:
            w_mods.setdefault(w, []).append(m)
        if bb is not None:
            b_mods.setdefault(bb, []).append(m)
        if w is not None or bb is not None:
            rule_modules.append(m)
    groups = []
    paired_biases = set()
    for w, mods in w_mods.items():
        partner = next((bb for bb, bm in b_mods.items() if [id(m) for m in bm] == [id(m) for m in mods]), None)
        if partner is not None:
            paired_biases.add(partner)
        groups.append(Group(weight=w, bias=partner, modules=mods))
    groups += [Group(weight=None, bias=bb, modules=bm) for bb, bm in b_mods.items() if bb not in paired_biases]
    return groups, rule_modules


def _reference_gradient(model, xs, params, O):
    """A random output weighting v (b, O) and autograd's gradient of <v, f(xs)> for each parameter."""
    b = xs.shape[0]
    ps = [p for _, p in params]
    with torch.enable_grad():
        y = model(xs).reshape(b, O)
        gen = torch.Generator(device="cpu").manual_seed(1234)
        v = torch.randn(b, O, generator=gen, dtype=torch.float64).to(device=xs.device, dtype=y.dtype)
        grads = torch.autograd.grad((y * v).sum(), ps, allow_unused=True)
    return v, {n: (torch.zeros_like(p) if a is None else a) for (n, p), a in zip(params, grads)}


def _rule_gradient(calls, v, is_weight, like):
    """The rule's gradient of <v, f>: the sum over calls, samples and positions of v_no g_(n,t,o) h_(n,t)^T."""
    if not calls:
        return torch.zeros_like(like)
    G = torch.cat([c.g for c in calls], dim=2)  # (O, b, T, d_out)
    Gv = torch.einsum("no,ontd->ntd", v, G).reshape(-1, G.shape[-1])  # (b T, d_out)
    if not is_weight:
        return Gv.sum(0)
    H = torch.cat([c.h for c in calls], dim=1).reshape(-1, calls[0].h.shape[-1])  # (b T, d_in)
    return (Gv.T @ H).reshape(-1)


def _fitted_scale(auto, rule):
    """s such that auto = s * rule to 1e-3 relative, or None when no such scale exists."""
    rr = float(rule @ rule)
    scale = float(auto @ rule) / rr if rr > 0 else 1.0
    err = float((auto - scale * rule).norm())
    tol = 1e-3 * max(float(auto.norm()), float(rule.norm()) * abs(scale))
    return scale if err <= tol + 1e-30 else None


def _verify(g: Group, by_module, bad, v, reference):
    """Check the group's rule against autograd: sets its sizes and scales, drops the parameters
    whose rule fails, and says whether anything of the group is left."""
    if any(id(m) in bad for m in g.modules):
        return False
    calls = [c for m in g.modules for c in by_module.get(id(m), [])]
    geos = [rule_geometry(m) for m in g.modules]
    g.d_in, g.d_out = geos[0].d_in, geos[0].d_out
    if any((q.kind, q.d_in, q.d_out) != (geos[0].kind, g.d_in, g.d_out) for q in geos):
        return False
    g.T = sum(c.T for c in calls) if calls else 1
    for pname, is_weight in ((g.weight, True), (g.bias, False)):
        if pname is None:
            continue
        auto = reference[pname].reshape(-1)
        scale = _fitted_scale(auto, _rule_gradient(calls, v, is_weight, auto))
        if scale is None:
            if is_weight:
                g.weight = None
            else:
                g.bias = None
        elif is_weight:
            g.w_scale2 = scale * scale
        else:
            g.b_scale2 = scale * scale
    return g.weight is not None or g.bias is not None


def probe(model, fn, params, x, full, use_rules=True):
    """Run the first few samples through the model: the activation count and the verified rules.

    ``fn`` is the model as a :class:`~ntkbook.ntk._functional.ModelFunction` (its O and P are the
    plan's). With ``use_rules=False`` every parameter is a fallback parameter.
    """
    xs = x[:PROBE_SAMPLES]
    O = fn.O
    plan = Plan(O=O, P=fn.P, activations=_count_activations(model, xs))
    if not use_rules:
        plan.fallback, plan.P_fallback = list(fn.names), fn.P
        return plan
    candidates, rule_modules = _candidate_groups(model, params)
    calls, bad = capture(model, xs, rule_modules, O)[1:] if rule_modules else ([], set())
    by_module = _by_module(calls)
    v, reference = _reference_gradient(model, xs, params, O)
    for g in candidates:
        if _verify(g, by_module, bad, v, reference):
            g.strategy = _choose_strategy(g, O, full)
            plan.groups.append(g)
            plan.rule_modules.extend(m for m in g.modules if all(m is not r for r in plan.rule_modules))
    covered = {n for g in plan.groups for n in (g.weight, g.bias) if n is not None}
    plan.fallback = [n for n in fn.names if n not in covered]
    sizes = {n: p.numel() for n, p in params}
    plan.P_fallback = sum(sizes[n] for n in plan.fallback)
    return plan


# ----------------------------------------------------------------------------- features of a block


def factors(model, plan: Plan, xb):
    """Per group, G (O, b, T, d_out) and H' (b, T, d_in') with h' = [s_w h, s_b], so that the per-sample
    Jacobian of the group's parameters is sum_t g_t (x) h'_t."""
    O = plan.O
    b = xb.shape[0]
    _, calls, bad = capture(model, xb, plan.rule_modules, O)
    if bad:
        raise RuntimeError("a rule module changed behaviour between the probe and this block; this is a bug")
    by_module = _by_module(calls)
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
    return out


def features(model, plan: Plan, fn, xb):
    """What a block contributes to the Gram products: per group either {"Z"} (b, O, d_out d_in'), the
    per-sample gradients, or {"H", "G", "T"} with rows (n, t); the fallback Jacobian (b, O, P_f) or None;
    and the block size b."""
    b = xb.shape[0]
    feats = []
    for g, (G, H) in zip(plan.groups, factors(model, plan, xb)):
        if g.strategy == "persample":
            # Z_n = sum_t g_t (x) h'_t: the per-sample gradient of the weight and bias together
            feats.append({"Z": torch.einsum("onti,ntj->noij", G, H).reshape(b, G.shape[0], -1)})  # (b, O, d_out d_in')
        else:
            T = H.shape[1]
            feats.append({"H": H.reshape(b * T, -1), "G": G.permute(1, 2, 0, 3).reshape(b * T, -1), "T": T})  # rows (n, t)
    fb = fn.jacobian(xb, plan.fallback) if plan.fallback else None
    return feats, fb, b


# ----------------------------------------------------------------------------- contraction


class _Timer:
    """perf_counter, after the device's queued work when ``on`` (for honest GPU timings)."""

    def __init__(self, device, on):
        self.on = on
        self.device = device

    def __call__(self):
        if self.on and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


def _add_outer(acc2, A, B, full):
    """acc2 += A B^T over the matching outputs, for A (bI, O, K) and B (bJ, O, K); returns the FLOPs.

    ``acc2`` is (bI, bJ) for "trace" and (bI O, bJ O) for "full".
    """
    bI, O, K = A.shape
    bJ = B.shape[0]
    if full:
        acc2.addmm_(A.reshape(bI * O, K), B.reshape(bJ * O, K).T)
    else:
        acc2.addmm_(A.reshape(bI, O * K), B.reshape(bJ, O * K).T)
    return 2 * bI * bJ * (O * O if full else O) * K


def _add_gram(acc, g: Group, a, c, O, full, scratch):
    """acc += this group's (G G^T) * (H' H'^T) summed over positions; returns the FLOPs.

    h' = [s_w h, s_b], so H' H'^T = s_w^2 H H^T + s_b^2 carries the weight and the bias term.
    ``acc`` is (bI, bJ) for "trace" and (bI, O, bJ, O) for "full"; ``scratch`` holds reusable tiles.
    """
    T = a["T"]
    bI, bJ = a["H"].shape[0] // T, c["H"].shape[0] // T

    def tile(key, shape):
        t = scratch.get((key, shape))
        if t is None:
            t = scratch[(key, shape)] = torch.empty(shape, dtype=acc.dtype, device=acc.device)
        return t

    HH = torch.mm(a["H"], c["H"].T, out=tile("H", (bI * T, bJ * T)))  # (bI T, bJ T)
    flops = 2 * bI * bJ * T * T * a["H"].shape[1]
    if full:
        Ga = a["G"].reshape(bI * T * O, g.d_out)
        Gc = c["G"].reshape(bJ * T * O, g.d_out)
        GG = torch.mm(Ga, Gc.T, out=tile("G", (bI * T * O, bJ * T * O)))  # (bI T O, bJ T O)
        flops += 2 * bI * bJ * T * T * O * O * g.d_out
        K = GG.view(bI, T, O, bJ, T, O) * HH.view(bI, T, 1, bJ, T, 1)
        acc.add_(K.sum(dim=(1, 4)))
        return flops
    GG = torch.mm(a["G"], c["G"].T, out=tile("G", (bI * T, bJ * T)))  # sum_o G_o G_o^T, (bI T, bJ T)
    flops += 2 * bI * bJ * T * T * O * g.d_out
    if T == 1:
        acc.addcmul_(GG, HH)
    else:
        acc.add_(GG.mul_(HH).view(bI, T, bJ, T).sum(dim=(1, 3)))
    return flops


def gram_pair(plan: Plan, full, fi, fj, stats=None):
    """Theta between two blocks from their :func:`features`: (bI, bJ) or (bI, bJ, O, O).

    The sum over groups of the Gram products (or of Z_n Z_m^T for per-sample groups), plus
    J_f(X_I) J_f(X_J)^T for the fallback parameters. ``stats``, if given, accumulates the FLOPs and
    seconds of the Gram products ("gram_flops", "gram_seconds").
    """
    (feats_i, fb_i, bI), (feats_j, fb_j, bJ) = fi, fj
    O = plan.O
    ref = fb_i if fb_i is not None else next(v for v in feats_i[0].values() if isinstance(v, torch.Tensor))
    timer = _Timer(ref.device, stats is not None)
    t0 = timer()
    acc = torch.zeros((bI, O, bJ, O) if full else (bI, bJ), dtype=ref.dtype, device=ref.device)  # permuted at the end
    acc2 = acc.view(bI * O, bJ * O) if full else acc
    scratch: dict[tuple, torch.Tensor] = {}
    flops = 0
    for g, a, c in zip(plan.groups, feats_i, feats_j):
        flops += _add_outer(acc2, a["Z"], c["Z"], full) if "Z" in a else _add_gram(acc, g, a, c, O, full, scratch)
    t1 = timer()
    if stats is not None:
        stats["gram_flops"] = stats.get("gram_flops", 0) + flops
        stats["gram_seconds"] = stats.get("gram_seconds", 0.0) + (t1 - t0)
    if fb_i is not None:
        _add_outer(acc2, fb_i, fb_j, full)
    return acc.permute(0, 2, 1, 3) if full else acc
