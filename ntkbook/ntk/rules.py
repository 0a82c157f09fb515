r"""The structural rules of the fast NTK: one per torch primitive through which a parameter enters.

Each rule sees one call of a torch function (intercepted by :class:`~ntkbook.ntk.capture.Recorder`
during a forward pass) in which a *view* of the parameters theta takes part, computes the call's
output exactly as torch would, and describes the parameter's part in it as a :class:`Use`: an
einsum-like relation between the view V, the call's other operand X and its output z,

    contract:  z = einsum(V, X)          (F.linear, matmul/@/mm/bmm/mv/addmm, einsum, conv1d/2d/3d
                                          on unfolded patches, elementwise scaling V * X)
    add:       z = base + V (broadcast)  (biases, the shift of LayerNorm/GroupNorm/BatchNorm)
    embed:     z = V[X]                  (F.embedding, V[idx], index_select with data indices)

with every axis named by a letter. From the letters alone :mod:`~ntkbook.ntk.capture` derives the
per-sample gradient of the view, dV_n = sum_t L_t (x) R_t over positions t (Novak, Sohl-Dickstein,
Schoenholz 2022, "Fast Finite Width NTK", whose structured rules apply to JAX primitives in the same
way): L carries the output gradient g = df/dz, R the other operand.

A *view* of theta is any tensor whose entries are entries of theta times one constant, plus a
constant: transposes, reshapes, slices, expansions, concatenations, ``c * W``, ``W / c``, ``1 + w``.
It is tracked as ``scale * theta[idx]`` with ``idx`` the flat index into theta of each entry (-1 for
entries of a constant), obtained by applying the same view operation to the index tensor of its
input. A parameter that reaches any function without a rule (``torch.sin(W)``, ``W @ A`` with A
another parameter, a custom ``autograd.Function``) has no rule; the caller then computes its part
by per-sample Jacobians, so a missing rule only costs speed.

The torch functions listed in ``RULES`` are those with a rule; ``VIEWS``, ``SCALES`` and ``SHIFTS``
those that make views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

__all__ = ["View", "Use", "RULES", "VIEWS", "SCALES", "SHIFTS", "func_name", "fresh"]

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(eq=False)
class View:
    """An entrywise image of theta: ``scale * theta.flatten()[idx]`` plus a constant (idx -1: a constant entry)."""

    idx: torch.Tensor  # int64, the shape of the view
    scale: float = 1.0


@dataclass(eq=False)
class Use:
    """One call in which a view V of theta enters the computation: z = op(V, x), axes named by letters.

    ``x`` is the other operand (detached; None for "add", integer indices for "embed"); ``z`` is
    the call's output, still in the autograd graph, whose gradient the backward passes give;
    ``zshape`` is the shape z is read with (a convolution reads its output as (b, G, C_out/G, T));
    ``sizes`` maps each letter to its size in this call.
    """

    op: str
    kind: str  # "contract" | "add" | "embed"
    view: View
    v: str  # letters of the view's axes
    x: torch.Tensor | None
    xl: str  # letters of x's axes
    z: torch.Tensor
    zl: str  # letters of z's axes, read with zshape
    zshape: tuple
    sizes: dict
    padding_idx: int | None = None  # "embed": rows whose gradient torch drops
    x_scale: float = 1.0  # multiplies x: set when z is re-targeted along a chain of constant scalings
    biases: list = field(default_factory=list)  # "add" uses merged into this one (they share z)
    x_version: int = -1  # src._version when recorded: a later in-place change of the operand is detected
    src: torch.Tensor | None = None  # the operand as the model passed it (x may be computed from it)

    def signature(self, sample=None):
        """What must be the same in every forward pass for a plan made on the probe to apply to it
        (``sample``: the letter of the sample axis, whose size changes with the block)."""
        sizes = tuple(sorted((c, n) for c, n in self.sizes.items() if c != sample))
        idx = self.view.idx
        return (self.op, self.kind, self.v, self.xl, self.zl, sizes, tuple(idx.shape), int(idx.sum()),
                self.view.scale, self.x_scale, self.padding_idx,
                tuple((b.op, b.v, tuple(b.view.idx.shape), int(b.view.idx.sum()), b.view.scale) for b in self.biases))


def func_name(func) -> str:
    """A readable name of a torch function, for messages: 'F.linear', 'Tensor.__matmul__', 'Tensor.T'."""
    owner = getattr(func, "__self__", None)
    if type(func).__name__ == "method-wrapper" and owner is not None:  # a property such as Tensor.T
        return f"Tensor.{getattr(owner, '__name__', '?')}"
    name = getattr(func, "__name__", str(func))
    qual = getattr(func, "__qualname__", name)
    if qual.startswith(("TensorBase.", "Tensor.")):
        return "Tensor." + name
    mod = getattr(func, "__module__", "") or ""
    return ("F." if mod.startswith("torch.nn.functional") else "torch.") + name


# ----------------------------------------------------------------------------- letters


def fresh(n, avoid=""):
    """n letters not in ``avoid``."""
    out = [c for c in LETTERS if c not in avoid][:n]
    if len(out) < n:
        raise ValueError("too many axes to name")  # pragma: no cover - 52 axes
    return "".join(out)


def _squeeze_broadcast(t, letters, zsizes):
    """Drop the size-1 axes of ``t`` that broadcast against larger axes of z (their letter is not t's)."""
    keep = [i for i, c in enumerate(letters) if not (t.shape[i] == 1 and zsizes.get(c, 1) > 1)]
    if len(keep) == len(letters):
        return t, letters
    drop = [i for i in range(len(letters)) if i not in keep]
    return t.squeeze(drop) if drop else t, "".join(letters[i] for i in keep)


def _aligned(z_letters, ndim):
    """The letters of an operand of ``ndim`` axes broadcast against z (right-aligned)."""
    return z_letters[len(z_letters) - ndim:] if ndim else ""


def _sizes(*pairs):
    s = {}
    for t, letters in pairs:
        if t is None:
            continue
        for c, n in zip(letters, t.shape):
            s[c] = max(s.get(c, 1), int(n))
    return s


def _contract(rec, op, view_t, x, z, v, xl, zl, scale=1.0):
    """A "contract" use z = einsum(V, x); size-1 broadcast axes of V and x are squeezed out."""
    view = rec.view_of(view_t)
    zs = _sizes((z, zl))
    idx, v = _squeeze_broadcast(view.idx, v, zs)
    xd, xl = _squeeze_broadcast(x.detach(), xl, zs)
    return Use(op, "contract", View(idx, view.scale * scale), v, xd, xl, z, zl, tuple(z.shape),
               _sizes((idx, v), (xd, xl), (z, zl)), x_version=x._version, src=x)


def _add(rec, op, view_t, z, zl, scale=1.0):
    """An "add" use z = base + scale * V with V broadcast against z (right-aligned)."""
    view = rec.view_of(view_t)
    v = _aligned(zl, view_t.ndim)
    idx, v = _squeeze_broadcast(view.idx, v, _sizes((z, zl)))
    return Use(op, "add", View(idx, view.scale * scale), v, None, "", z, zl, tuple(z.shape),
               _sizes((idx, v), (z, zl)))


def _scalar(v):
    """The value of a Python number or of a 0-d constant tensor, else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


def _is_const(rec, t):
    """A tensor that is neither data nor theta nor derived from theta: a constant of the model."""
    return isinstance(t, torch.Tensor) and not rec.is_data(t) and rec.view_of(t) is None and not t.requires_grad


def const_scalar(rec, v):
    s = _scalar(v)
    if s is not None:
        return s
    if _is_const(rec, v) and v.ndim == 0 and v.is_floating_point():
        return float(v)
    return None


# ----------------------------------------------------------------------------- rules: contractions
# Every rule computes the call's output first, then either records the use (``rec.emit``) or
# declines (``rec.decline``: the views in the call get no rule and fall back).


def _args(names, defaults, args, kwargs):
    a = dict(zip(names, defaults))
    a.update(zip(names, args))
    a.update(kwargs)
    return a


def rule_linear(rec, func, args, kwargs):
    """F.linear(x, w, b) = x w^T + b: w contracts with x ('jk' or 'k' for a 1-d w), b is added."""
    a = _args(("input", "weight", "bias"), (None, None, None), args, kwargs)
    x, w, b = a["input"], a["weight"], a["bias"]
    z = func(*args, **kwargs)
    if rec.view_of(x) is not None or not rec.is_data(x) or w.ndim not in (1, 2):
        return rec.decline(z)
    p = fresh(x.ndim - 1, "jk")
    zl = p + ("j" if w.ndim == 2 else "")
    uses = []
    if rec.view_of(w) is not None:
        uses.append(_contract(rec, "F.linear", w, x, z, "jk" if w.ndim == 2 else "k", p + "k", zl))
    if b is not None and rec.view_of(b) is not None:
        uses.append(_add(rec, "F.linear", b, z, zl))
    return rec.emit(z, uses, attach=True)


def _matmul_letters(a, b):
    """Letters (al, bl, zl) of torch.matmul(a, b), batch axes broadcast; None for a 0-d operand."""
    if a.ndim == 0 or b.ndim == 0:
        return None
    if a.ndim == 1 and b.ndim == 1:
        return "k", "k", ""
    ba = a.shape[:-2] if a.ndim >= 2 else ()
    bb = b.shape[:-2] if b.ndim >= 2 else ()
    nb = max(len(ba), len(bb))
    B = fresh(nb, "ijk")
    al = B[nb - len(ba):] + ("ik" if a.ndim >= 2 else "k")
    bl = B[nb - len(bb):] + ("kj" if b.ndim >= 2 else "k")
    return al, bl, B + ("i" if a.ndim >= 2 else "") + ("j" if b.ndim >= 2 else "")


def rule_matmul(rec, func, args, kwargs, swap=False):
    """a @ b (matmul, mm, bmm, mv, dot) with one operand a view and the other data."""
    z = func(*args, **kwargs)
    a, b = (args[1], args[0]) if swap else (args[0], args[1])
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return rec.decline(z)
    va, vb = rec.view_of(a) is not None, rec.view_of(b) is not None
    letters = _matmul_letters(a, b)
    if va == vb or letters is None:
        return rec.decline(z)
    al, bl, zl = letters
    V, X, v, xl = (a, b, al, bl) if va else (b, a, bl, al)
    if not rec.is_data(X):
        return rec.decline(z)
    return rec.emit(z, [_contract(rec, func_name(func), V, X, z, v, xl, zl)])


def rule_rmatmul(rec, func, args, kwargs):
    return rule_matmul(rec, func, args, kwargs, swap=True)


def rule_addmm(rec, func, args, kwargs):
    """addmm(input, m1, m2, beta, alpha) = beta input + alpha m1 @ m2 (for the method, self is input)."""
    z = func(*args, **kwargs)
    inp, m1, m2 = args[0], args[1], args[2]
    beta, alpha = _scalar(kwargs.get("beta", 1)), _scalar(kwargs.get("alpha", 1))
    v1, v2 = rec.view_of(m1) is not None, rec.view_of(m2) is not None
    if beta is None or alpha is None or (v1 and v2):
        return rec.decline(z)
    uses = []
    if v1 or v2:
        V, X, v, xl = (m1, m2, "ik", "kj") if v1 else (m2, m1, "kj", "ik")
        if not rec.is_data(X):
            return rec.decline(z)
        uses.append(_contract(rec, "torch.addmm", V, X, z, v, xl, "ij", alpha))
    elif not (rec.is_data(m1) or rec.is_data(m2)):
        return rec.decline(z)
    if rec.view_of(inp) is not None:
        uses.append(_add(rec, "torch.addmm", inp, z, "ij", beta))
    return rec.emit(z, uses, attach=True)


def _parse_einsum(eq, operands):
    """(terms, out) with the ellipsis written out as letters; None for a diagonal or a malformed equation."""
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        return None
    used = "".join(c for c in eq if c.isalpha())
    n_ell = max([op.ndim - (len(t) - 3) for t, op in zip(terms, operands) if "..." in t] + [0])
    ell = fresh(n_ell, used)
    full = []
    for t, op in zip(terms, operands):
        if "..." in t:
            k = op.ndim - (len(t) - 3)
            t = t.replace("...", ell[n_ell - k:] if k else "")
        if len(t) != op.ndim or len(set(t)) != len(t):
            return None
        full.append(t)
    joined = "".join(full)
    out = rhs.replace("...", ell) if arrow else ell + "".join(sorted(c for c in set(joined) if joined.count(c) == 1 and c not in ell))
    return full, out


def rule_einsum(rec, func, args, kwargs):
    """torch.einsum with one view among its operands; the other operands are contracted first."""
    z = func(*args, **kwargs)
    eq, ops = args[0], list(args[1:])
    if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
        ops = list(ops[0])
    parsed = _parse_einsum(eq, ops) if isinstance(eq, str) else None
    which = [i for i, o in enumerate(ops) if rec.view_of(o) is not None]
    if parsed is None or len(which) != 1 or len(ops) < 2:
        return rec.decline(z)
    terms, out = parsed
    i = which[0]
    others = [(t, o) for j, (t, o) in enumerate(zip(terms, ops)) if j != i]
    if not any(rec.is_data(o) for _, o in others):
        return rec.decline(z)
    if len(others) == 1:
        xl, X = others[0]
    else:
        xl = "".join(dict.fromkeys(c for t, _ in others for c in t if c in terms[i] or c in out))
        X = torch.einsum(",".join(t for t, _ in others) + "->" + xl, *[o for _, o in others])
    return rec.emit(z, [_contract(rec, "torch.einsum", ops[i], X, z, terms[i], xl, out)])


def rule_mul(rec, func, args, kwargs):
    """Elementwise V * x with x data: each axis of V is also one of x and of z (a diagonal of the rule)."""
    z = func(*args, **kwargs)
    a, b = args[0], args[1]
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return rec.decline(z)
    va, vb = rec.view_of(a) is not None, rec.view_of(b) is not None
    V, X = (a, b) if va else (b, a)
    if va == vb or not rec.is_data(X):
        return rec.decline(z)
    zl = fresh(z.ndim)
    return rec.emit(z, [_contract(rec, "Tensor.mul", V, X, z, _aligned(zl, V.ndim), _aligned(zl, X.ndim), zl)])


def rule_div(rec, func, args, kwargs):
    """V / x = V * (1 / x) for data x (x / V is not linear in V: no rule)."""
    z = func(*args, **kwargs)
    a, b = args[0], args[1]
    if (kwargs.get("rounding_mode") is not None or not isinstance(b, torch.Tensor) or rec.view_of(a) is None
            or rec.view_of(b) is not None or not rec.is_data(b)):
        return rec.decline(z)
    zl = fresh(z.ndim)
    return rec.emit(z, [_contract(rec, "Tensor.div", a, 1.0 / b.detach(), z, _aligned(zl, a.ndim), _aligned(zl, b.ndim), zl)])


def _coefficients(func, kwargs):
    """(c0, c1) with z = c0 args[0] + c1 args[1] for add, sub and their reflected forms."""
    alpha = _scalar(kwargs.get("alpha", 1))
    if alpha is None:
        return None
    kind = SHIFTS[func]
    if kind == "r":  # __rsub__(self, other) = other - self; torch.rsub(input, other, alpha) = other - alpha input
        return -alpha, 1.0
    return 1.0, kind * alpha


def rule_add(rec, func, args, kwargs):
    """base + c V with ``base`` data: a bias (its gradient is the output gradient summed over positions)."""
    z = func(*args, **kwargs)
    coef = _coefficients(func, kwargs)
    a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other")
    if coef is None or not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return rec.decline(z)
    va, vb = rec.view_of(a) is not None, rec.view_of(b) is not None
    (V, s_v), (base, s_base) = ((a, coef[0]), (b, coef[1])) if va else ((b, coef[1]), (a, coef[0]))
    if va == vb or not rec.is_data(base):
        return rec.decline(z)
    return rec.emit(z, [_add(rec, func_name(func), V, z, fresh(z.ndim), s_v)], base=(base, s_base))


def _inplace(rule):
    """An in-place variant (x.add_(b), x += b, x.mul_(w)): the rule out of place, the result copied into x."""

    def wrapped(rec, func, args, kwargs):
        target = args[0]
        if rec.view_of(target) is not None:
            return rec.decline(func(*args, **kwargs))
        before = target.clone()  # the out-of-place call may save its input for the backward pass
        if rec.is_data(target):
            rec.mark_data(before)
        target.copy_(rule(rec, _OUT_OF_PLACE[func], (before, *args[1:]), kwargs))
        return target

    return wrapped


# ----------------------------------------------------------------------------- rules: convolutions


def _tuple(v, d):
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v),) * d


def _patches(x, kernel, stride, padding, dilation):
    """The patches a convolution sees, for a batch (b, C, *S): (b, C, K, L), K = prod(kernel), L positions.

    ``padding`` holds an int or a (left, right) pair per spatial axis (zeros).
    """
    d = len(kernel)
    if d == 2 and all(isinstance(p, int) for p in padding):
        u = F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)  # (b, C K, L)
        return u.view(x.shape[0], x.shape[1], math.prod(kernel), -1)
    pads = []
    for p in reversed(padding):  # F.pad takes the last axis first
        pads += list(p) if isinstance(p, tuple) else [p, p]
    h = F.pad(x, pads) if any(pads) else x
    for i in range(d):  # unfold each spatial axis: (b, C, *out, *span)
        h = h.unfold(2 + i, dilation[i] * (kernel[i] - 1) + 1, stride[i])
        if dilation[i] > 1:
            h = h[..., :: dilation[i]]
    b, C = x.shape[:2]
    out = h.shape[2:2 + d]
    h = h.permute(0, 1, *range(2 + d, 2 + 2 * d), *range(2, 2 + d))  # (b, C, *kernel, *out)
    return h.reshape(b, C, math.prod(kernel), math.prod(out))


def _conv_padding(padding, kernel, dilation, d):
    if padding == "valid":
        return (0,) * d
    if padding == "same":  # torch pads the extra entry of an even span on the right
        spans = [dl * (k - 1) for k, dl in zip(kernel, dilation)]
        return tuple(s // 2 if s % 2 == 0 else (s // 2, s - s // 2) for s in spans)
    return _tuple(padding, d)


def _conv_rule(d):
    """conv{d}d(x, w, b, stride, padding, dilation, groups): w (G C_o', C', *k) contracts with the patches
    (b, G, C', K, L) of x; read with z as (b, G, C_o', L), the group axis G is a diagonal of the rule."""
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")

    def rule(rec, func, args, kwargs):
        a = _args(names, (None, None, None, 1, 0, 1, 1), args, kwargs)
        x, w, b = a["input"], a["weight"], a["bias"]
        z = func(*args, **kwargs)
        if rec.view_of(x) is not None or x.ndim != d + 2 or not rec.is_data(x):
            return rec.decline(z)
        G, kernel = int(a["groups"]), tuple(w.shape[2:])
        stride, dilation = _tuple(a["stride"], d), _tuple(a["dilation"], d)
        n, c_out, L = z.shape[0], z.shape[1], math.prod(z.shape[2:])
        zshape = (n, G, c_out // G, L)
        uses = []
        if rec.view_of(w) is not None:
            P = _patches(x.detach(), kernel, stride, _conv_padding(a["padding"], kernel, dilation, d), dilation)
            if P.shape[3] != L:
                return rec.decline(z)
            X = P.reshape(n, G, w.shape[1], P.shape[2], L)  # (b, G, C', K, L)
            view = rec.view_of(w)
            idx = view.idx.reshape(G, c_out // G, w.shape[1], P.shape[2])  # (G, C_o', C', K)
            uses.append(Use(f"F.conv{d}d", "contract", View(idx, view.scale), "hjck", X, "nhckt", z, "nhjt", zshape,
                            _sizes((idx, "hjck"), (X, "nhckt")), x_version=x._version, src=x))
        if b is not None and rec.view_of(b) is not None:
            view = rec.view_of(b)
            uses.append(Use(f"F.conv{d}d", "add", View(view.idx.reshape(G, c_out // G), view.scale), "hj", None, "",
                            z, "nhjt", zshape, {"n": n, "h": G, "j": c_out // G, "t": L}))
        return rec.emit(z, uses, attach=True)

    return rule


# ----------------------------------------------------------------------------- rules: lookups


def _embed_use(rec, op, w, idx, z, padding_idx=None):
    """z = w[idx] with integer data ``idx``: the rows of w are selected (letters 'v' + the row's axes)."""
    if w.ndim < 1 or idx.is_floating_point() or idx.dtype == torch.bool or not rec.is_data(idx):
        return None
    view = rec.view_of(w)
    xl = fresh(idx.ndim, "v")
    rest = fresh(w.ndim - 1, "v" + xl)
    if padding_idx is not None and padding_idx < 0:
        padding_idx += w.shape[0]
    return Use(op, "embed", View(view.idx, view.scale), "v" + rest, idx.detach(), xl, z, xl + rest, tuple(z.shape),
               _sizes((view.idx, "v" + rest), (z, xl + rest)), padding_idx=padding_idx, x_version=idx._version, src=idx)


def rule_embedding(rec, func, args, kwargs):
    names = ("input", "weight", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse")
    a = _args(names, (None, None, None, None, 2.0, False, False), args, kwargs)
    z = func(*args, **kwargs)
    if a["max_norm"] is not None or a["scale_grad_by_freq"] or rec.view_of(a["input"]) is not None:
        return rec.decline(z)  # max_norm renormalizes the weight in place; the frequency scaling couples samples
    use = _embed_use(rec, "F.embedding", a["weight"], a["input"], z, a["padding_idx"])
    return rec.decline(z) if use is None else rec.emit(z, [use])


def rule_index_select(rec, func, args, kwargs):
    w, dim, idx = args[0], args[1], args[2]
    if not rec.is_data(idx):
        return rule_view(rec, func, args, kwargs)
    z = func(*args, **kwargs)
    use = _embed_use(rec, "torch.index_select", w, idx, z) if dim == 0 and rec.view_of(w) is not None else None
    return rec.decline(z) if use is None else rec.emit(z, [use])


def rule_getitem(rec, func, args, kwargs):
    """W[idx] with an integer data tensor is a lookup; any other index of a view makes a view."""
    w, index = args[0], args[1]
    if isinstance(index, torch.Tensor) and rec.is_data(index) and rec.view_of(w) is not None:
        z = func(*args, **kwargs)
        use = _embed_use(rec, "Tensor.__getitem__", w, index, z)
        return rec.decline(z) if use is None else rec.emit(z, [use])
    return rule_view(rec, func, args, kwargs)


# ----------------------------------------------------------------------------- rules: norms


def _affine(rec, op, u, w, b, shape):
    """u * w + b, the affine part of a norm, with w and b (views, constants or None) viewed as ``shape``."""
    z, uses, zl = u, [], fresh(u.ndim)
    if w is not None:
        wv = rec.reshaped(w, shape)
        z = u * wv
        if rec.view_of(wv) is not None:
            uses.append(_contract(rec, op, wv, u, z, _aligned(zl, len(shape)), zl, zl))
    if b is not None:
        bv = rec.reshaped(b, shape)
        z2 = z + bv
        if rec.view_of(bv) is not None:
            uses.append(_add(rec, op, bv, z2, zl))
        z = z2
    return z, uses


def _norm_rule(name, names, defaults, normalize, affine_shape, refuse=lambda a: False):
    """A norm whose output is normalize(x) * w + b: the normalization without w and b, then :func:`_affine`."""

    def rule(rec, func, args, kwargs):
        a = _args(names, defaults, args, kwargs)
        x = a["input"]
        if rec.view_of(x) is not None or not rec.is_data(x) or x.ndim < 2 or refuse(a):
            return rec.decline(func(*args, **kwargs))
        u = normalize(a)
        z, uses = _affine(rec, name, u, a.get("weight"), a.get("bias"), affine_shape(a))
        return rec.emit(z, uses)

    return rule


def _channels(a):
    x = a["input"]
    return (x.shape[1],) + (1,) * (x.ndim - 2)


def _normalized(a):
    return tuple(_tuple(a["normalized_shape"], 1))


rule_layer_norm = _norm_rule(
    "F.layer_norm", ("input", "normalized_shape", "weight", "bias", "eps"), (None, None, None, None, 1e-5),
    lambda a: F.layer_norm(a["input"], _normalized(a), None, None, a["eps"]), _normalized)
rule_rms_norm = _norm_rule(
    "F.rms_norm", ("input", "normalized_shape", "weight", "eps"), (None, None, None, None),
    lambda a: F.rms_norm(a["input"], _normalized(a), None, a["eps"]), _normalized)
rule_group_norm = _norm_rule(
    "F.group_norm", ("input", "num_groups", "weight", "bias", "eps"), (None, None, None, None, 1e-5),
    lambda a: F.group_norm(a["input"], a["num_groups"], None, None, a["eps"]), _channels)
rule_batch_norm = _norm_rule(  # in training mode the batch statistics couple the samples: no rule
    "F.batch_norm", ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
    (None, None, None, None, None, False, 0.1, 1e-5),
    lambda a: F.batch_norm(a["input"], a["running_mean"], a["running_var"], None, None, False, a["momentum"], a["eps"]),
    _channels, refuse=lambda a: bool(a["training"]))
rule_instance_norm = _norm_rule(
    "F.instance_norm", ("input", "running_mean", "running_var", "weight", "bias", "use_input_stats", "momentum", "eps"),
    (None, None, None, None, None, True, 0.1, 1e-5),
    lambda a: F.instance_norm(a["input"], a["running_mean"], a["running_var"], None, None, a["use_input_stats"],
                              a["momentum"], a["eps"]), _channels)


# ----------------------------------------------------------------------------- views


class _NotAView(Exception):
    pass


def rule_view(rec, func, args, kwargs):
    """An operation that only moves entries: applied to the index tensors of its view operands too.

    The moved operand is the first argument, or every tensor of the first argument's list for
    cat and stack (a constant there gets index -1); a data tensor among the other arguments (a
    gather index computed from the input) makes it no view.
    """
    out = func(*args, **kwargs)
    values = list(args[0]) if func in _VALUE_LISTS else [args[0]]
    views = [rec.view_of(t) for t in values if isinstance(t, torch.Tensor) and rec.view_of(t) is not None]
    if not views or len({v.scale for v in views}) != 1:
        return rec.decline(out)

    def as_index(t):
        if not isinstance(t, torch.Tensor):
            return t
        v = rec.view_of(t)
        if v is not None:
            return v.idx
        if rec.is_data(t) or t.requires_grad:
            raise _NotAView
        return torch.full(t.shape, -1, dtype=torch.int64, device=t.device)

    rest = list(args[1:]) + list(kwargs.values())
    if any(isinstance(t, torch.Tensor) and (rec.is_data(t) or rec.view_of(t) is not None) for t in tensor_leaves(rest)
           if func not in _SHAPE_ONLY):
        return rec.decline(out)
    try:
        first = type(args[0])(as_index(t) for t in args[0]) if func in _VALUE_LISTS else as_index(args[0])
    except _NotAView:
        return rec.decline(out)
    idx = func(first, *args[1:], **kwargs)
    return rec.new_views(out, idx, views[0].scale)


def rule_cast(rec, func, args, kwargs):
    """x.to(...), x.float(), x.type_as(y): a view when neither dtype nor device changes."""
    out = func(*args, **kwargs)
    src = args[0]
    v = rec.view_of(src)
    if v is None:  # a view only gives the dtype of a data tensor
        return out
    if not isinstance(out, torch.Tensor) or out.dtype != src.dtype or out.device != src.device:
        return rec.decline(out)
    return out if out is src else rec.new_views(out, v.idx, v.scale)


def rule_scale(rec, func, args, kwargs):
    """view * c, c * view, view / c, -view for a constant scalar c: a view with its scale times c."""
    kind = SCALES[func]
    if kind == "neg":
        V, c = args[0], -1.0
    elif kind == "div":
        if kwargs.get("rounding_mode") is not None or rec.view_of(args[0]) is None:
            return NO_RULE
        V, c = args[0], const_scalar(rec, args[1])
        c = None if c in (None, 0.0) else 1.0 / c
    else:
        V, other = (args[0], args[1]) if rec.view_of(args[0]) is not None else (args[1], args[0])
        c = const_scalar(rec, other)
    if c is None or rec.view_of(V) is None:
        return NO_RULE
    out = func(*args, **kwargs)
    v = rec.view_of(V)
    idx = v.idx if out.shape == v.idx.shape else v.idx.expand(out.shape)
    return rec.new_views(out, idx, v.scale * c)


def rule_shift(rec, func, args, kwargs):
    """view + c, c - view, ... for a constant c: a view with the same entries (the constant has no gradient)."""
    a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other")
    coef = _coefficients(func, kwargs)
    if coef is None:
        return NO_RULE
    V, other, c = (a, b, coef[0]) if rec.view_of(a) is not None else (b, a, coef[1])
    if rec.view_of(other) is not None or not (_scalar(other) is not None or _is_const(rec, other)):
        return NO_RULE
    out = func(*args, **kwargs)
    v = rec.view_of(V)
    idx = v.idx if out.shape == v.idx.shape else torch.broadcast_to(v.idx, out.shape)
    return rec.new_views(out, idx, v.scale * c)


#: A scale or shift rule's answer when the call is no scaling or shift: the use rules are tried next.
NO_RULE = object()


def tensor_leaves(obj):
    """The tensors in ``obj``, a tensor or nested lists, tuples and dicts of them, depth first."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from tensor_leaves(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from tensor_leaves(o)


# ----------------------------------------------------------------------------- the tables

T = torch.Tensor
_VALUE_LISTS = {torch.cat, torch.concat, torch.concatenate, torch.stack, torch.hstack, torch.vstack}
_SHAPE_ONLY = {T.expand_as, T.view_as, T.reshape_as}

#: Functions that only move the entries of their first argument (or of its list, for cat and stack).
VIEWS = [T.t, torch.t, T.T.__get__, T.mT.__get__, T.mH.__get__, T.H.__get__, T.transpose, torch.transpose, T.swapaxes,
         T.swapdims, torch.swapaxes, torch.swapdims, T.permute, torch.permute, T.reshape, torch.reshape, T.view,
         T.view_as, T.reshape_as, T.flatten, torch.flatten, T.unflatten, torch.unflatten, T.squeeze, torch.squeeze,
         T.unsqueeze, torch.unsqueeze, T.expand, T.expand_as, T.broadcast_to, torch.broadcast_to, T.contiguous,
         T.clone, torch.clone, T.narrow, torch.narrow, T.select, torch.select, T.split, torch.split, T.chunk,
         torch.chunk, T.unbind, torch.unbind, T.tensor_split, torch.tensor_split, T.movedim, torch.movedim, T.moveaxis,
         torch.moveaxis, T.repeat, T.tile, torch.tile, T.flip, torch.flip, T.roll, torch.roll, T.repeat_interleave,
         torch.repeat_interleave, T.resolve_conj, T.resolve_neg, T.diagonal, torch.diagonal, T.gather, torch.gather,
         T.take, torch.take, *_VALUE_LISTS]
#: Functions that scale a view by a constant scalar c: view * c, c * view, view / c, -view.
SCALES = {T.mul: "mul", T.__mul__: "mul", T.__rmul__: "mul", torch.mul: "mul", torch.multiply: "mul",
          T.multiply: "mul", T.div: "div", T.__truediv__: "div", torch.div: "div", T.true_divide: "div",
          torch.true_divide: "div", T.divide: "div", torch.divide: "div", T.neg: "neg", T.__neg__: "neg",
          torch.neg: "neg", T.negative: "neg", torch.negative: "neg"}
#: Functions that add or subtract: the coefficient of their second argument (``"r"``: reflected, other - self).
SHIFTS = {T.add: 1, T.__add__: 1, T.__radd__: 1, torch.add: 1, T.sub: -1, T.__sub__: -1, torch.sub: -1,
          torch.subtract: -1, T.subtract: -1, T.__rsub__: "r", torch.rsub: "r"}

_OUT_OF_PLACE = {T.add_: T.add, T.__iadd__: T.add, T.sub_: T.sub, T.__isub__: T.sub, T.mul_: T.mul,
                 T.__imul__: T.mul, T.div_: T.div, T.__itruediv__: T.div}

#: The rule of each torch function in which a view of theta is a factor or a term.
RULES = {
    F.linear: rule_linear,
    T.matmul: rule_matmul, torch.matmul: rule_matmul, T.__matmul__: rule_matmul, T.__rmatmul__: rule_rmatmul,
    T.mm: rule_matmul, torch.mm: rule_matmul, T.bmm: rule_matmul, torch.bmm: rule_matmul, T.mv: rule_matmul,
    torch.mv: rule_matmul, T.dot: rule_matmul, torch.dot: rule_matmul, torch.addmm: rule_addmm, T.addmm: rule_addmm,
    torch.einsum: rule_einsum,
    torch.conv1d: _conv_rule(1), torch.conv2d: _conv_rule(2), torch.conv3d: _conv_rule(3),
    **dict.fromkeys([T.mul, T.__mul__, T.__rmul__, torch.mul, torch.multiply, T.multiply], rule_mul),
    **dict.fromkeys([T.div, T.__truediv__, torch.div, T.true_divide, torch.true_divide, T.divide, torch.divide], rule_div),
    **dict.fromkeys(SHIFTS, rule_add),
    F.embedding: rule_embedding, T.index_select: rule_index_select, torch.index_select: rule_index_select,
    T.__getitem__: rule_getitem,
    F.layer_norm: rule_layer_norm, F.rms_norm: rule_rms_norm, F.group_norm: rule_group_norm,
    F.batch_norm: rule_batch_norm, F.instance_norm: rule_instance_norm,
    T.to: rule_cast, T.float: rule_cast, T.double: rule_cast, T.type_as: rule_cast, T.cpu: rule_cast,
    T.cuda: rule_cast,
}
for _f, _g in _OUT_OF_PLACE.items():
    RULES[_f] = _inplace(RULES[_g])
for _f in VIEWS:
    RULES.setdefault(_f, rule_view)
del _f, _g
#: Tried before RULES for the functions that can scale or shift a view.
SCALE_RULES = dict.fromkeys(SCALES, rule_scale)
SHIFT_RULES = dict.fromkeys(SHIFTS, rule_shift)
