r"""Where each trainable parameter enters the computation, seen during one forward pass.

:class:`Recorder` is a ``torch.overrides.TorchFunctionMode``: while it is active every torch
function the model calls (``F.linear``, ``Tensor.__matmul__``, ``Tensor.T``, ``torch.einsum``,
``F.conv2d``, ...) passes through :meth:`Recorder.__torch_function__`, which

* tracks the *views* of theta (each parameter, and whatever transposes, reshapes, slices or
  scales it: :class:`~ntkbook.ntk.rules.View`),
* marks the *data*: the input and every tensor computed from it,
* hands each call in which a view takes part to its rule in :data:`~ntkbook.ntk.rules.RULES`,
  which computes the output and records a :class:`~ntkbook.ntk.rules.Use` (the other operand and
  the output, whose gradient the backward passes then give), and
* records what it cannot follow: a view passed to a function without a rule (that parameter
  falls back to Jacobians), and Python control flow on data (``bool``, ``.item()`` of a tensor
  computed from the input: then every parameter falls back, since a plan made on a few probe
  samples may not hold for the others).

Why interception and not tracing: the recorder runs on every block of samples, so what it
learns is always about the forward pass that produced the block's outputs; a traced graph
(``torch.fx``, ``make_fx``) is specialised to the probe's control flow and would have to be
checked against each block anyway. The cost is one Python call per torch function of the forward
pass, a few microseconds each, and a copy of each recorded output (the model gets the copy, so that
an in-place operation, ``nn.ReLU(inplace=True)`` say, cannot change the tensor whose gradient is
needed). Python-level composites of torch (``F.multi_head_attention_forward``) that receive a view
are run with the recorder still active inside them, so that their own torch calls are seen.

Shapes: a block has b samples, O outputs per sample. The sample axis of each recorded output is
found by :func:`sample_layout` from two probe passes with different b (in an attention block it
is not the first axis: ``nn.MultiheadAttention`` works on (T, b, E) and on (T b, E) rows).
"""

from __future__ import annotations

import bisect
import math
import types
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode

from ntkbook.ntk import rules
from ntkbook.ntk.rules import Use, View, func_name, tensor_leaves

__all__ = ["Recorder", "record", "sample_layout", "Roles", "roles", "factors", "output_gradients"]

T = torch.Tensor
#: Functions that only read metadata: passed through at once.
_PASS = {T.size, T.dim, T.numel, T.stride, T.is_contiguous, T.is_floating_point, T.__len__, T.element_size,
         T.data_ptr, T.is_complex, T.get_device, T.shape.__get__, T.dtype.__get__, T.device.__get__,
         T.ndim.__get__, T.requires_grad.__get__, T.is_leaf.__get__, T.grad_fn.__get__, T.layout.__get__,
         T.is_nested.__get__, T.is_cuda.__get__, T.is_sparse.__get__, T.is_quantized.__get__,
         T.is_meta.__get__, T.__hash__, T.__repr__, T.__format__, T.is_inference}
#: Functions whose output carries no gradient: a view passed to them is used as a constant.
_DETACH = {T.detach, torch.detach, T.data.__get__, T.detach_}
#: Functions that turn a tensor into Python values (or a data-dependent shape): on data, control flow may follow.
_CONTROL = {T.__bool__, T.item, T.tolist, T.__int__, T.__float__, T.__index__, T.__complex__, T.numpy, T.nonzero,
            torch.nonzero, T.argwhere, torch.argwhere, T.masked_select, torch.masked_select, torch.unique, T.unique,
            torch.unique_consecutive, T.unique_consecutive, torch.equal, T.equal, torch.allclose, T.allclose}
_TORCH_FUNCTION_CHECKS = ("has_torch_function", "has_torch_function_unary", "has_torch_function_variadic")
_INLINED: dict = {}


def _no(*args, **kwargs):
    return False


def _inlined(func):
    """A copy of a Python-level torch composite that skips its own ``__torch_function__`` dispatch, or None.

    Run while the recorder is active, the copy's torch calls are intercepted one by one. The copy
    shares everything with the original except the three ``has_torch_function*`` names it looks up.
    """
    if func in _INLINED:
        return _INLINED[func]
    copy = None
    if (isinstance(func, types.FunctionType) and (func.__module__ or "").startswith("torch")
            and any(n in func.__code__.co_names for n in _TORCH_FUNCTION_CHECKS)):
        g = dict(func.__globals__)
        g.update(dict.fromkeys(_TORCH_FUNCTION_CHECKS, _no))
        copy = types.FunctionType(func.__code__, g, func.__name__, func.__defaults__, func.__closure__)
        copy.__kwdefaults__ = func.__kwdefaults__
    _INLINED[func] = copy
    return copy


@dataclass(eq=False)
class _Alias:
    """A tensor equal to ``scale`` times the output of ``use`` (through constant scalings), and where it came from."""

    use: Use
    scale: float
    parent: int | None  # id of the tensor it was scaled from; None for the copy the model got


class Recorder(TorchFunctionMode):
    """Records, during one forward pass, each use of theta and what cannot be followed.

    ``params``: (name, parameter) pairs, in the order of theta. After the pass (see :func:`record`):
    ``uses`` (:class:`~ntkbook.ntk.rules.Use`, in call order), ``no_rule`` (parameter name -> why it
    has no rule in this pass), ``control_flow`` (what was done with data in Python), ``activations``
    (numbers of all data tensors computed).
    """

    def __init__(self, params, x):
        super().__init__()
        self.names = [n for n, _ in params]
        self.offsets = []
        self.views: dict[int, tuple] = {}  # id -> (tensor, View), the tensor kept alive so that ids stay unique
        off = 0
        for _, p in params:
            idx = torch.arange(off, off + p.numel(), device=p.device).view(p.shape)
            self.views[id(p)] = (p, View(idx, 1.0))
            self.offsets.append(off)
            off += p.numel()
        self.offsets.append(off)
        self.data: dict[int, torch.Tensor] = {id(x): x}
        self.uses: list[Use] = []
        self.no_rule: dict[str, str] = {}
        self.control_flow: list[str] = []
        self.activations = 0
        self._aliases: dict[int, tuple] = {}  # id -> (tensor, _Alias)
        self._counts: dict[int, int] = {}  # id -> how many calls took this alias as an argument
        self._bases: list[tuple] = []  # (add use, base tensor, its coefficient)
        self._call = None
        self._names: dict = {}

    # what rules ask ---------------------------------------------------------
    def view_of(self, t):
        e = self.views.get(id(t)) if isinstance(t, torch.Tensor) else None
        return e[1] if e is not None and e[0] is t else None

    def is_data(self, t):
        return isinstance(t, torch.Tensor) and self.data.get(id(t)) is t

    def mark_data(self, out):
        for t in tensor_leaves(out):
            if self.data.get(id(t)) is not t:
                self.data[id(t)] = t
                self.activations += t.numel()

    def new_views(self, out, idx, scale):
        """Register the view(s) ``out`` (a tensor or a tuple of them, matching ``idx``) and return ``out``."""
        if isinstance(out, torch.Tensor):
            self.views[id(out)] = (out, View(idx, scale))
        else:
            for o, i in zip(out, idx):
                self.new_views(o, i, scale)
        return out

    def reshaped(self, t, shape):
        """``t.reshape(shape)``, a view again if ``t`` is one."""
        out = t.reshape(shape)
        v = self.view_of(t)
        if v is not None and out is not t:
            self.new_views(out, v.idx.reshape(shape), v.scale)
        return out

    def names_of(self, idx):
        """The names of the parameters whose entries ``idx`` holds (-1 entries are constants)."""
        key = (id(idx), idx.data_ptr(), tuple(idx.shape))
        hit = self._names.get(key)
        if hit is not None and hit[0] is idx:
            return hit[1]
        flat = idx.reshape(-1)
        hi = int(flat.max()) if flat.numel() else -1
        lo = int(flat.min()) if flat.numel() else -1
        if lo < 0:
            flat = flat[flat >= 0]
            lo = int(flat.min()) if flat.numel() else -1
        if hi < 0:
            names = []
        else:
            first = bisect.bisect_right(self.offsets, lo) - 1
            last = bisect.bisect_right(self.offsets, hi) - 1
            if first == last:  # the usual case: entries of one parameter
                names = [self.names[first]]
            else:
                bounds = torch.tensor(self.offsets[1:], device=flat.device)
                which = torch.bincount(torch.bucketize(flat, bounds, right=True), minlength=len(self.names))
                names = [self.names[i] for i in which.nonzero().reshape(-1).tolist()]
        self._names[key] = (idx, names)
        return names

    def refuse(self, views, why):
        for v in views:
            for n in self.names_of(v.idx):
                self.no_rule.setdefault(n, why)

    def decline(self, out):
        """The answer of a rule that does not apply: its view arguments get no rule."""
        func, views = self._call
        self.refuse(views, f"used by {func_name(func)} in a way no rule covers")
        return out

    def emit(self, z, uses, attach=False, base=None):
        """Record ``uses`` of the call with output ``z``; return the copy of z that the model gets.

        ``attach``: the "add" uses are biases of the call's "contract" use (they share z). ``base``:
        (tensor, coefficient) of an "add" use, z = coefficient base + V, whose base may be a
        scaled output of an earlier use (then the bias may join that use, see :meth:`finish`).
        """
        if not uses:
            return z
        contract = next((u for u in uses if u.kind == "contract"), None)
        for u in uses:
            if attach and contract is not None and u.kind == "add":
                contract.biases.append(u)
            else:
                self.uses.append(u)
        handle = z.clone()  # the model's copy: in-place operations on it leave z intact
        if contract is not None:
            self._aliases[id(handle)] = (handle, _Alias(contract, 1.0, None))
            self._counts[id(handle)] = 0
        if base is not None and len(uses) == 1:
            self._bases.append((uses[0], base[0], base[1]))
        return handle

    # interception -----------------------------------------------------------
    def __torch_function__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _PASS:
            return func(*args, **kwargs)
        leaves = list(tensor_leaves((args, kwargs)))
        views = [self.views[id(t)][1] for t in leaves if self.view_of(t) is not None]
        data = any(self.is_data(t) for t in leaves)
        for t in leaves:
            if id(t) in self._counts and self._aliases[id(t)][0] is t:
                self._counts[id(t)] += 1
        if data and (func in _CONTROL or (func is T.__getitem__ and _bool_index(self, args))):
            self.control_flow.append(func_name(func))
        if not views or func in _DETACH:
            out = func(*args, **kwargs)
            if data:
                self.mark_data(out)
                self._scaled_alias(func, args, out)
            return out
        out = self._apply(func, args, kwargs, views)
        if data:
            self.mark_data(out)
        return out

    def _apply(self, func, args, kwargs, views):
        self._call = (func, views)
        for table in (rules.SCALE_RULES, rules.SHIFT_RULES):
            rule = table.get(func)
            if rule is not None:
                out = rule(self, func, args, kwargs)
                if out is not rules.NO_RULE:
                    return out
        rule = rules.RULES.get(func)
        if rule is not None:
            return rule(self, func, args, kwargs)
        copy = _inlined(func)
        if copy is not None:
            with self:
                return copy(*args, **kwargs)
        self.refuse(views, f"passed to {func_name(func)}, which has no rule")
        return func(*args, **kwargs)

    def _scaled_alias(self, func, args, out):
        """out = c * (an alias of a use's output) for a constant scalar c: out is an alias too."""
        kind = rules.SCALES.get(func)
        if kind is None or not isinstance(out, torch.Tensor):
            return
        t = args[0]
        if kind == "mul" and not (isinstance(t, torch.Tensor) and id(t) in self._aliases):
            t = args[1] if len(args) > 1 else None
        e = self._aliases.get(id(t)) if isinstance(t, torch.Tensor) else None
        if e is None or e[0] is not t:
            return
        if kind == "neg":
            c = -1.0
        else:
            other = args[1] if t is args[0] else args[0]
            c = rules.const_scalar(self, other) if len(args) > 1 else None
            if kind == "div":
                c = None if c in (None, 0.0) else 1.0 / c
        if c is not None:
            self._aliases[id(out)] = (out, _Alias(e[1].use, e[1].scale * c, id(t)))
            self._counts[id(out)] = 0

    # after the pass ---------------------------------------------------------
    def finish(self):
        """Re-target uses along chains of constant scalings, check the recorded operands, drop what is not needed.

        A use U whose output z_U reaches a bias add z = c_k ... c_1 z_U + V only through constant
        scalings, each intermediate taken by exactly one call, has df/dz_U = (c_1 ... c_k) df/dz;
        U then reads its gradient at z, with x scaled by c_1 ... c_k, and the bias joins U.
        """
        for use, base, coef in self._bases:
            e = self._aliases.get(id(base))
            if e is None or e[0] is not base:
                continue
            alias, chain = e[1], [id(base)]
            while alias.parent is not None:
                chain.append(alias.parent)
                alias = self._aliases[alias.parent][1]
            U = e[1].use
            if any(self._counts.get(i, 0) != 1 for i in chain) or tuple(use.z.shape) != tuple(U.z.shape) or not any(u is U for u in self.uses):
                continue
            s = e[1].scale * coef
            U.z, U.x_scale = use.z, U.x_scale * s
            for b in U.biases:
                b.z, b.view.scale = use.z, b.view.scale * s
            U.biases.append(use)
            self.uses = [u for u in self.uses if u is not use]
        for u in self.uses:
            for part in [u] + u.biases:
                self._check(part)
        self._aliases, self._counts, self._bases, self.data, self._call = {}, {}, [], {}, None

    def _check(self, u):
        if u.src is not None and u.src._version != u.x_version:
            self.refuse([u.view], f"its operand in {u.op} was changed in place after the call")
        if not u.z.requires_grad or u.z.grad_fn is None:
            self.refuse([u.view], f"used by {u.op} where autograd records nothing (torch.no_grad, or inside a "
                                  f"custom autograd.Function)")


def _bool_index(rec, args):
    idx = args[1] if len(args) > 1 else None
    leaves = idx if isinstance(idx, tuple) else (idx,)
    return any(isinstance(t, torch.Tensor) and t.dtype == torch.bool and rec.is_data(t) for t in leaves)


def record(model, params, xb):
    """One forward pass of the block ``xb`` under a :class:`Recorder`: (outputs (b, O), recorder)."""
    rec = Recorder(params, xb)
    with torch.enable_grad(), rec:
        y = model(xb)
    rec.finish()
    return y.reshape(xb.shape[0], -1), rec


# ----------------------------------------------------------------------------- the sample axis


def _divisors(k):
    return [d for d in range(1, k + 1) if k % d == 0]


def sample_layout(za, zb, b1, b2):
    """Where the samples are in a recorded output: (axis, pre, post), or None when it cannot be told.

    ``za`` and ``zb`` are the output of the same call in two passes, on the first b1 and the first
    b2 > b1 samples of one batch. The sample axis is the one whose size is pre * b * post in both
    (sample index in the middle: pre = T for the (T b, E) rows of an attention block), and on which
    the first b1 samples of the second pass equal the first pass. Exactly one candidate must fit.
    """
    if za.ndim != zb.ndim:
        return None
    fits = []
    for a in range(za.ndim):
        na, nb = za.shape[a], zb.shape[a]
        if za.shape[:a] != zb.shape[:a] or za.shape[a + 1:] != zb.shape[a + 1:] or na % b1 or nb % b2:
            continue
        k = na // b1
        if nb // b2 != k:
            continue
        for pre in _divisors(k):
            post = k // pre
            A = za.reshape(*za.shape[:a], pre, b1, post, *za.shape[a + 1:])
            B = zb.reshape(*zb.shape[:a], pre, b2, post, *zb.shape[a + 1:]).narrow(a + 1, 0, b1)
            if _close(A, B):
                fits.append((a, pre, post))
    return fits[0] if len(fits) == 1 else None


def _close(A, B):
    if not A.is_floating_point():
        return torch.equal(A, B)
    tol = 1e-3 if A.dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-8
    scale = float(A.abs().max()) if A.numel() else 0.0
    return bool(scale > 0) and bool((A - B).abs().max() <= tol * scale)


# ----------------------------------------------------------------------------- factors of a use

SAMPLE, OUTPUT, PRE, POST = "#", "@", "<", ">"


@dataclass(frozen=True)
class Roles:
    """The letters of a use sorted by their part in its per-sample gradient dV_n = sum_t L_t (x) R_t.

    ``diag``: axes of V shared by x and z (conv groups, elementwise scaling): dV is computed for each
    of their values separately; ``g_side``: axes of V on z only (read from the output gradient, in
    L); ``x_side``: axes of V on x only (in R); ``pos``: positions t, on x and z but not V, in z's
    order; ``split``: (letter, pre, post) of the sample axis.
    """

    kind: str
    diag: str
    g_side: str
    x_side: str
    pos: str
    split: tuple


def roles(use: Use, layout):
    """The :class:`Roles` of ``use`` given its sample layout (axis of zshape, pre, post), or None."""
    if layout is None:
        return None
    axis, pre, post = layout
    s = use.zl[axis]
    if s in use.v or (use.kind != "add" and s not in use.xl):
        return None
    zl = use.zl.replace(s, PRE + SAMPLE + POST)
    xl = use.xl.replace(s, PRE + SAMPLE + POST)
    V, X, Z = set(use.v), set(xl), set(zl)
    if use.kind == "add":
        return Roles("add", "", use.v, "", "".join(c for c in zl if c not in V and c != SAMPLE), (s, pre, post))
    if use.kind == "embed":
        return Roles("embed", "", use.v[1:], use.v[0], "".join(c for c in zl if c in X and c != SAMPLE), (s, pre, post))
    if any(c not in X and c not in Z for c in use.v):
        return None  # an axis of V summed on its own: no rule
    diag = "".join(c for c in use.v if c in X and c in Z)
    x_side = "".join(c for c in use.v if c in X and c not in Z)
    g_side = "".join(c for c in use.v if c in Z and c not in X)
    pos = "".join(c for c in zl if c in X and c not in V and c != SAMPLE)
    return Roles("contract", diag, g_side, x_side, pos, (s, pre, post))


def _arrange(t, letters, sizes, split, groups):
    """``t`` (axes named by ``letters``) with the sample axis split, the letters of no group summed out,
    the rest permuted into ``groups`` and each group flattened to one axis."""
    if split is not None and split[0] in letters:
        s, pre, post = split
        i = letters.index(s)
        t = t.reshape(*t.shape[:i], pre, t.shape[i] // (pre * post), post, *t.shape[i + 1:])
        letters = letters[:i] + PRE + SAMPLE + POST + letters[i + 1:]
    want = "".join(groups)
    extra = [i for i, c in enumerate(letters) if c not in want]
    if extra:
        t = t.sum(extra)
        letters = "".join(c for c in letters if c in want)
    t = t.permute([letters.index(c) for c in want])
    shape, i = [], 0
    for g in groups:
        shape.append(math.prod(t.shape[i:i + len(g)]))
        i += len(g)
    return t.reshape(shape)


def g_factor(use: Use, r: Roles, g):
    """L of a use from its output gradient g (O, *zshape): (O, b, Hd, T, A)."""
    return _arrange(g.reshape(g.shape[0], *use.zshape), OUTPUT + use.zl, use.sizes, r.split,
                    [OUTPUT, SAMPLE, r.diag, r.pos, r.g_side])


def x_factor(use: Use, r: Roles, b):
    """R of a use: (b, Hd, T, B) for "contract" and "add" (ones), integer rows (b, T) for "embed"."""
    if r.kind == "add":
        T_ = math.prod(use.sizes[c] for c in r.pos if c not in (PRE, POST)) * r.split[1] * r.split[2]
        return torch.full((b, 1, T_, 1), use.view.scale * use.x_scale, dtype=use.z.dtype, device=use.z.device)
    if r.kind == "embed":
        return _arrange(use.x, use.xl, use.sizes, r.split, [SAMPLE, r.pos])  # (b, T) row indices
    X = _arrange(use.x, use.xl, use.sizes, r.split, [SAMPLE, r.diag, r.pos, r.x_side])
    s = use.view.scale * use.x_scale
    return X * s if s != 1.0 else X


def index_map(use: Use, r: Roles):
    """C (Hd, A, B): the flat index into theta of each entry of dV in the order of (diag, g_side, x_side)."""
    return _arrange(use.view.idx, use.v, use.sizes, None, [r.diag, r.g_side, r.x_side])


def factors(use: Use, r: Roles, g, b):
    """(L, R) of a use in one block, with the padding rows of an embedding masked and its scale on L."""
    L = g_factor(use, r, g)
    R = x_factor(use, r, b)
    if r.kind == "embed":
        if use.padding_idx is not None:
            L = L * (R != use.padding_idx).to(L.dtype).view(1, b, 1, -1, 1)
        s = use.view.scale * use.x_scale
        if s != 1.0:
            L = L * s
    return L, R


# ----------------------------------------------------------------------------- output gradients


def output_gradients(y, zs, O):
    """df/dz for each recorded output z: (O, *z.shape), from O backward passes of the block's outputs (b, O)."""
    if not zs:
        return []
    per_o = [torch.autograd.grad(y[:, o].sum(), zs, retain_graph=True, allow_unused=True) for o in range(O)]
    return [torch.stack([torch.zeros_like(z) if per_o[o][i] is None else per_o[o][i] for o in range(O)]).detach()
            for i, z in enumerate(zs)]


@dataclass(eq=False)
class Pass:
    """A forward pass under the recorder: outputs, uses, and what had no rule or was data-dependent."""

    y: torch.Tensor
    uses: list
    no_rule: dict
    control_flow: list
    activations: int
    gradients: dict = field(default_factory=dict)  # id(z) -> (O, *z.shape)
