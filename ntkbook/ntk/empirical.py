r"""The empirical NTK Theta(X1, X2) = J(X1) J(X2)^T, exact and by blocks, with one of several methods.

For a network f(x; theta) with O outputs and P trainable parameters (Jacot, Gabriel, Hongler 2018),

    Theta(x, x')[o, o'] = sum_p  d f_o(x) / d theta_p  *  d f_o'(x') / d theta_p ,

where J(X) is the (N O, P) Jacobian of the outputs with respect to the parameters.
``outputs="full"`` returns the (N1, N2, O, O) array; ``outputs="trace"`` returns
sum_o Theta[:, :, o, o], shape (N1, N2), which for a scalar model is simply the NTK.

Example::

    >>> import torch
    >>> from ntkbook.ntk import empirical_ntk
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 2))
    >>> x = torch.randn(10, 3)                                   # (N, D)
    >>> empirical_ntk(net, x).shape                              # (N, N), summed over the 2 outputs
    torch.Size([10, 10])
    >>> empirical_ntk(net, x, x[:4], outputs="full").shape       # (N1, N2, O, O)
    torch.Size([10, 4, 2, 2])

Each :class:`NTKMethod` member names an implementation that carries its own behaviour: its cost
model (FLOPs and bytes, from the layer sizes a probe pass sees), the features it computes for a
block of samples and how it contracts two blocks into a block of Theta. :func:`empirical_ntk`
resolves the method once (``"auto"`` by the cost model) and runs one blocked loop for all of them.
"""

from __future__ import annotations

import enum
import inspect
import time
from typing import Any

import torch
from torch import nn
from torch.func import jacrev, jvp, vmap

from ntkbook._progress import progress_bar
from ntkbook._validation import InvalidParameterError, check_bool, check_option, check_optional_int
from ntkbook.ntk import structured
from ntkbook.ntk._checks import (
    MODES,
    OUTPUTS,
    check_model,
    check_out_device,
    check_outputs,
    check_x,
    memory_budget,
    prepared,
)
from ntkbook.ntk._functional import ModelFunction, block_slices
from ntkbook.ntk.structured import Plan

__all__ = ["NTKMethod", "DEFAULT_METHOD", "empirical_ntk"]


class NTKMethod(str, enum.Enum):
    """How the empirical NTK is computed. All methods give the same kernel up to round-off.

    Notation: N = N1 + N2 samples, O outputs, P trainable parameters, F the cost of one
    forward pass for one sample (about 2P FLOPs for a dense network), A the number of
    activations of one sample, and, for the structured rule, d_in and d_out the widths
    of each dense layer (T positions per sample for a convolution).

    Each member's docstring states its formula, cost, memory, when it wins and its risks;
    ``member.implementation`` is the class that carries them out.
    """

    JACOBIAN = "jacobian"
    NTVP = "ntvp"
    STRUCTURED = "structured"
    AUTO = "auto"

    @property
    def implementation(self) -> type[_Method]:
        """The class that computes the NTK this way (its cost model, features and contraction)."""
        return _IMPLEMENTATIONS[self.value]


#: The default: ``auto`` because the structured rule is exact for every model (parameters
#: without a rule fall back to Jacobians) and is the fastest for dense, convolutional and
#: attention networks, written with any modules or functions, by up to two orders of
#: magnitude, while the cost formulas still switch to plain Jacobians for tiny models and
#: wherever no rule applies.
DEFAULT_METHOD = NTKMethod.AUTO


def check_method(method, owner, allowed=None) -> NTKMethod:
    """The :class:`NTKMethod` named by ``method`` (a member or its string), among ``allowed`` values."""
    allowed = [m.value for m in NTKMethod] if allowed is None else list(allowed)
    check_option(method.value if isinstance(method, NTKMethod) else method, "method", owner, allowed)
    return NTKMethod(method)


# ----------------------------------------------------------------------------- the methods


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _sizes(plan: Plan, N1, N2, full, symmetric):
    """Shared terms of the cost formulas: F per sample, sample pairs, O or O^2, and samples forwarded."""
    F_ = 2 * plan.P + plan.activations  # forward FLOPs per sample
    pairs = N1 * N2 / (2 if symmetric else 1)
    oo = plan.O * plan.O if full else plan.O
    Nf = N1 if symmetric else N1 + N2
    return F_, pairs, oo, Nf


class _Method:
    """One way to compute Theta block by block.

    Class attributes: ``value`` (the :class:`NTKMethod` string), ``uses_rules`` (the probe looks
    for structured rules), ``row_is_column`` (in the symmetric case a row block's features also
    serve as the same block's column features). Class methods give the cost model, estimated
    from the :class:`~ntkbook.ntk.structured.Plan` of a probe pass. An instance computes the
    features of a row or column block and the kernel between two blocks.
    """

    value = ""
    uses_rules = False
    row_is_column = True

    def __init__(self, fn: ModelFunction, plan: Plan, model: nn.Module, full: bool, stats: dict | None):
        self.fn, self.plan, self.model, self.full, self.stats = fn, plan, model, full, stats

    # cost model -----------------------------------------------------------
    @classmethod
    def resolve(cls, plan, N1, N2, full, symmetric) -> type[_Method]:
        """The method that will do the work (itself, except for ``auto``)."""
        return cls

    @classmethod
    def flops(cls, plan, N1, N2, full, symmetric) -> float:
        """Estimated FLOPs of the whole kernel (the formula of the docstring)."""
        raise NotImplementedError

    @classmethod
    def feature_bytes(cls, plan, itemsize):
        """Bytes per sample of a block: its features and the working memory to compute them."""
        return 2 * plan.O * plan.P * itemsize, 2 * plan.O * plan.activations * itemsize

    @classmethod
    def pair_bytes(cls, plan, full, itemsize):
        """Working bytes per (row, column) pair of a block."""
        return 3 * (plan.O * plan.O if full else 1) * itemsize

    @classmethod
    def block_bytes(cls, plan, full, itemsize, bI, bJ):
        """Working bytes for one (bI, bJ) block of Theta."""
        feat, work = cls.feature_bytes(plan, itemsize)
        return (bI + bJ) * feat + max(bI, bJ) * work + bI * bJ * cls.pair_bytes(plan, full, itemsize)

    # computation ------------------------------------------------------------
    def rows(self, xb):
        """Features of a row block of samples."""
        raise NotImplementedError

    def columns(self, xb):
        """Features of a column block of samples."""
        return self.rows(xb)

    def pair(self, fi, fj):
        """Theta between a row and a column block: (bI, bJ), or (bI, bJ, O, O) for "full"."""
        raise NotImplementedError


class _Jacobian(_Method):
    """Per-sample Jacobians with torch.func (``vmap(jacrev)``), contracted.

    Formula: Theta[I, J] = J(X_I) J(X_J)^T with J(X_I) the (b*O, P) Jacobian of a block.
    Cost: O backward passes per sample (about 3 O F FLOPs per sample) plus the contraction,
    2 N1 N2 O P FLOPs for "trace" and 2 N1 N2 O^2 P for "full".
    Memory: two Jacobian blocks, 2 b O P numbers (plus a copy while they are assembled).
    Wins: small P (a few thousand parameters), or layers the structured rule does not know.
    Risks: memory of b O P grows with the model; the contraction is P-dimensional, so it is
    the slowest choice for wide dense networks (in float32 it is summed in chunks, in float64
    between them, to keep its accuracy). A model that ``torch.func.vmap`` cannot run (Python
    control flow on the data) gets one ``jacrev`` per sample.
    """

    value = "jacobian"

    @classmethod
    def flops(cls, plan, N1, N2, full, symmetric):
        F_, pairs, oo, Nf = _sizes(plan, N1, N2, full, symmetric)
        return Nf * 3 * plan.O * F_ + 2 * pairs * oo * plan.P

    def rows(self, xb):
        t0 = time.perf_counter()
        jac = self.fn.jacobian(xb)  # (b, O, P)
        if self.stats is not None:
            _sync(xb.device)
            self.stats["jacobian_seconds"] = self.stats.get("jacobian_seconds", 0.0) + time.perf_counter() - t0
        return jac

    def pair(self, A, B):
        t0 = time.perf_counter()
        bI, O, K = A.shape  # A (bI, O, P), B (bJ, O, P)
        bJ = B.shape[0]
        if self.full:
            out = structured.long_product(A.reshape(bI * O, K), B.reshape(bJ * O, K)).reshape(bI, O, bJ, O).permute(0, 2, 1, 3)
        else:
            out = structured.long_product(A.reshape(bI, O * K), B.reshape(bJ, O * K))  # summed over matching outputs
        if self.stats is not None:
            _sync(A.device)
            self.stats["persample_seconds"] = self.stats.get("persample_seconds", 0.0) + time.perf_counter() - t0
        return out


class _NTVP(_Method):
    """NTK-vector products: a vector-Jacobian product then a Jacobian-vector product.

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

    value = "ntvp"
    row_is_column = False  # rows are inputs, columns are gradients

    @classmethod
    def flops(cls, plan, N1, N2, full, symmetric):
        F_, pairs, _, _ = _sizes(plan, N1, N2, full, symmetric)
        return N2 * 3 * plan.O * F_ + 3 * pairs * plan.O * F_

    @classmethod
    def pair_bytes(cls, plan, full, itemsize):
        O = plan.O
        return (3 * O * plan.activations + 2 * (O * O if full else 1) * O) * itemsize

    def rows(self, xb):
        return xb

    def columns(self, xb):
        b, O = xb.shape[0], self.plan.O
        jac = vmap(jacrev(self.fn.single), in_dims=(None, 0))(self.fn.params, xb)  # name -> (b, O, *shape)
        return {n: t.reshape(b * O, *t.shape[2:]) for n, t in jac.items()}  # one tangent per (m, o')

    def pair(self, xI, tangents):
        O = self.plan.O
        bI = xI.shape[0]
        bJ = next(iter(tangents.values())).shape[0] // O

        def push(t):
            return jvp(lambda p: self.fn.batch(p, xI), (self.fn.params,), (t,))[1]  # (bI, O)

        out = vmap(push)(tangents)  # (bJ O, bI, O): [m o', n o] = J_{n o} . J_{m o'}
        out = out.reshape(bJ, O, bI, O).permute(2, 0, 3, 1)  # (bI, bJ, O, O')
        return out if self.full else torch.diagonal(out, dim1=2, dim2=3).sum(-1)


class _Structured(_Method):
    """Layerwise Gram products at the level of torch operations (Novak, Sohl-Dickstein, Schoenholz 2022).

    Formula: wherever a view V of the parameters enters the computation, z = op(V, x) (F.linear,
    matmul, einsum, conv1d/2d/3d, a bias add, an elementwise scale, an embedding lookup), the
    per-sample gradient is dV_n = sum_t L_t (x) R_t over positions t, with L from g = df/dz and R
    from x; for a dense layer z = W h + b, Theta = sum_l (G_l G_l^T) * (H_l H_l^T + 1) (elementwise
    product) with H_l (N T, d_in) the inputs and G_l (N T, O d_out) the output gradients, both
    recorded during one forward and O backward passes of each block. Uses that share entries of
    theta (tied weights, a block applied twice) are one group, so their cross terms are in the
    kernel. Each group gets the Gram products or, where those cost more (many positions T, a
    per-head or per-channel weight), per-sample gradients Z_n formed from the same L and R and
    contracted as Z Z^T; parameters without a rule (see :mod:`ntkbook.ntk.structured`) get
    per-sample Jacobians for those parameters alone.
    Cost: (1 + O) passes per sample for the capture, then per pair of samples T^2 (d_in + O d_out)
    multiply-adds for a Gram group ("trace"; T^2 (d_in + O^2 d_out) for "full") or O K for a group
    of K parameters with per-sample gradients, plus the Jacobian cost for the fallback parameters.
    Memory: the recorded L and R of a block (b sum T (d_in + O d_out) numbers) or its Z (b O K), and
    a few (b T) x (b T) tiles.
    Wins: dense, convolutional and attention networks written with any modules or functions, by a
    factor of about P / sum_l T^2 (d_in + d_out).
    Risks: needs per-sample independence (checked); each rule is verified against autograd on a few
    samples before it is used and every block must repeat the probe's uses, so a failed rule only
    costs speed. Python control flow on data makes every parameter fall back.
    """

    value = "structured"
    uses_rules = True

    @classmethod
    def flops(cls, plan, N1, N2, full, symmetric):
        F_, pairs, oo, Nf = _sizes(plan, N1, N2, full, symmetric)
        O = plan.O
        total = Nf * (1 + O) * 3 * F_ if plan.groups else 0  # the capture
        for g in plan.groups:
            total += pairs * 2 * g.pair_madds(O, full) + Nf * 2 * g.formation_madds(O)
        if plan.fallback:
            total += Nf * 3 * O * F_ + 2 * pairs * oo * plan.P_fallback
        return total

    @classmethod
    def feature_bytes(cls, plan, itemsize):
        O, A = plan.O, plan.activations
        held = sum(g.per_sample_numbers(O) for g in plan.groups) + O * plan.P_fallback
        work = (4 + 2 * O) * A + plan.factor_numbers + (2 * O * plan.P_fallback if plan.fallback else 0)
        return held * itemsize, work * itemsize

    @classmethod
    def pair_bytes(cls, plan, full, itemsize):
        t2 = max([g.T * g.T for g in plan.groups if g.strategy == "gram"] + [1])
        oo = plan.O * plan.O if full else 1
        return (3 * t2 * oo + 3 * oo) * itemsize

    def rows(self, xb):
        return structured.features(self.model, self.plan, self.fn, xb, self.stats)

    def pair(self, fi, fj):
        return structured.gram_pair(self.plan, self.full, fi, fj, self.stats)


class _Auto(_Method):
    """Pick the method with the smallest estimated FLOP count from the formulas above.

    The estimate uses the layer shapes seen in a probe forward pass on a few samples. Because
    every method is exact, a poor pick can only cost time, never correctness.
    """

    value = "auto"
    uses_rules = True
    candidates = (_Structured, _Jacobian)  # in this order on a tie

    @classmethod
    def resolve(cls, plan, N1, N2, full, symmetric):
        if not plan.groups:  # no rule anywhere: the structured method would be the Jacobian contraction
            return _Jacobian
        return min(cls.candidates, key=lambda m: m.flops(plan, N1, N2, full, symmetric))


_IMPLEMENTATIONS = {m.value: m for m in (_Jacobian, _NTVP, _Structured, _Auto)}
for _member in NTKMethod:
    _member.__doc__ = inspect.cleandoc(_member.implementation.__doc__)
del _member


# ----------------------------------------------------------------------------- blocks


def _choose_block(impl, plan, full, itemsize, N1, N2, budget, block_size, owner):
    """``block_size`` if it fits in ``budget`` bytes, else the largest block that does."""
    need1 = impl.block_bytes(plan, full, itemsize, 1, 1)
    if need1 > budget:
        raise InvalidParameterError(
            f"The 'max_memory' parameter of {owner} is too small for even one block: method {impl.value!r} needs about "
            f"{need1:,} bytes for a block of one sample. Got max_memory={budget:,}.")
    if block_size is not None:
        need = impl.block_bytes(plan, full, itemsize, min(block_size, N1), min(block_size, N2))
        if need > budget:
            raise InvalidParameterError(
                f"The 'block_size' parameter of {owner} must fit in max_memory={budget:,} bytes. Got {block_size}, "
                f"which needs about {need:,} bytes, instead.")
        return block_size
    lo, hi = 1, max(N1, N2)
    while lo < hi:  # binary search for the largest block that fits
        mid = (lo + hi + 1) // 2
        if impl.block_bytes(plan, full, itemsize, min(mid, N1), min(mid, N2)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


#: With ``progress=True``, the bar over row blocks appears only after this many seconds, so a kernel
#: that is quick to compute prints nothing.
PROGRESS_DELAY_S = 2.0

#: How many times empirical_ntk starts again when a block uses the parameters differently from the probe
#: (each time those parameters fall back); after that every parameter falls back.
MAX_RESTARTS = 2
#: In the symmetric case a kernel that fits in one block is still cut into this many blocks, so that only
#: the blocks on and above the diagonal are computed (about 5/8 of the contraction for 4 blocks) ...
SYMMETRIC_SPLIT = 4
#: ... when a block keeps at least this many samples (smaller blocks would cost more in overheads).
SYMMETRIC_MIN_BLOCK = 64


def _symmetric_block(impl, plan, full, itemsize, N, b, budget, block_size, symmetric):
    """For Theta(X, X) in one block: a smaller block, so that the symmetry saves the blocks below the diagonal.

    Only when the features of all blocks fit in ``budget`` (each is then computed once).
    """
    if not symmetric or block_size is not None or b < N:
        return b
    small = -(-N // SYMMETRIC_SPLIT)
    if small < SYMMETRIC_MIN_BLOCK:
        return b
    need = N * impl.feature_bytes(plan, itemsize)[0] + impl.block_bytes(plan, full, itemsize, small, small)
    return small if need <= budget else b


def _transposed(blk, full):
    """Theta[J, I] from Theta[I, J]: (bJ, bI) or (bJ, bI, O', O)."""
    return blk.transpose(0, 1).transpose(2, 3) if full else blk.T


def _fill(out, engine: _Method, x1, x2, b, symmetric, keep_columns, bar=None):
    """Compute ``out`` block by block; in the symmetric case only the blocks on and above the diagonal.

    ``keep_columns``: keep every column block's features after first use (they fit in memory).
    ``bar``: a progress bar advanced once per row block (never inside the block loops).
    """
    full = engine.full
    reuse = symmetric and engine.row_is_column
    cache: dict[int, Any] = {}
    for i, I in enumerate(block_slices(x1.shape[0], b)):
        fi = cache.pop(i) if reuse and i in cache else engine.rows(x1[I])  # computed as a column before
        for j, J in enumerate(block_slices(x2.shape[0], b)):
            if symmetric and j < i:
                continue
            if reuse and j == i:
                fj = fi
            elif j in cache:
                fj = cache[j]
            else:
                fj = engine.columns(x2[J])
                if keep_columns:
                    cache[j] = fj
            blk = engine.pair(fi, fj)
            if symmetric and i == j:
                blk = 0.5 * (blk + _transposed(blk, full))  # exactly symmetric
            blk = blk.to(out.device)
            out[I, J] = blk
            if symmetric and j != i:
                out[J, I] = _transposed(blk, full)
            del blk
        del fi
        if bar is not None:
            bar.update()


def _start_stats(stats, impl, b, plan: Plan, restarts):
    if stats is None:
        return
    stats.clear()
    rules = impl.uses_rules
    stats.update(method=impl.value, block_size=b, n_outputs=plan.O, n_params=plan.P,
                 fallback_params=list(plan.fallback) if rules else [],
                 fallback_reasons=dict(plan.reasons) if rules else {},
                 rules=plan.describe() if rules else [], unused_params=list(plan.unused) if rules else [],
                 restarts=restarts, gram_flops=0, gram_seconds=0.0, probe_seconds=0.0, capture_seconds=0.0,
                 jacobian_seconds=0.0, persample_seconds=0.0)


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
    progress: bool = False,
) -> torch.Tensor:
    """The empirical NTK Theta(x1, x2) = J(x1) J(x2)^T of ``model`` (exact, blocked).

    Parameters
    ----------
    model : nn.Module
        Maps a batch (N, ...) to outputs (N, ...) with O numbers per sample; samples must not
        interact. Its parameters with ``requires_grad=True`` are theta.
    x1 : Tensor, shape (N1, ...)
        Inputs on the model's device, in the model's dtype (float32 or float64). An integer or
        bool batch is passed unchanged to a model that takes one (such as an ``nn.Embedding``);
        a model that cannot take it is refused with an error that names ``x1``.
    x2 : Tensor, shape (N2, ...), optional
        Second inputs with the same per-sample shape and dtype. ``None`` means x1, and then only
        the blocks on and above the diagonal are computed and the result is exactly symmetric.
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
        A fixed stochastic-depth mask (see the contract in :mod:`ntkbook.ntk`).
    stats : dict, optional
        If given, filled with what was done: ``method``, ``block_size``, ``fallback_params`` (the
        parameters without a structured rule) and ``fallback_reasons`` (why, for each), ``rules``
        (one dict per group of parameter uses: params, uses, positions, strategy),
        ``unused_params``, ``restarts`` (how often a block's uses differed from the probe's), the
        FLOPs of the Gram products and where the time went: ``probe_seconds``,
        ``capture_seconds`` (recording the factors), ``jacobian_seconds`` (per-sample Jacobians),
        ``gram_seconds`` (Gram products) and ``persample_seconds`` (contracting per-sample gradients).
    progress : bool, default False
        Show a bar over the row blocks (``tqdm.auto``, see :mod:`ntkbook._progress`) when there
        is more than one, drawn only once the kernel has taken :data:`PROGRESS_DELAY_S` seconds.
        Off by default: the kernel is often computed inside other loops (an :class:`NTKTracker`
        every few epochs, a sweep over widths), whose own bars are the ones to watch.

    Returns
    -------
    Tensor of shape (N1, N2) or (N1, N2, O, O), in the dtype of the model.
    """
    owner = "empirical_ntk"
    method = check_method(method, owner)
    check_option(outputs, "outputs", owner, OUTPUTS)
    check_option(mode, "mode", owner, MODES)
    params = check_model(model, owner)
    check_x("x1", x1, params, owner)
    if x2 is not None:
        check_x("x2", x2, params, owner, like=x1)
    block_size = check_optional_int(block_size, "block_size", owner)
    progress = check_bool(progress, "progress", owner)
    out_device = check_out_device(out_device, owner)
    device, dtype = params[0][1].device, params[0][1].dtype
    budget = memory_budget(max_memory, device, owner)
    full, symmetric = outputs == "full", x2 is None
    X2 = x1 if symmetric else x2
    N1, N2 = x1.shape[0], X2.shape[0]

    itemsize = params[0][1].element_size()
    with prepared(model, mode, depth_mask, owner):
        fn = ModelFunction(model, params, check_outputs(model, x1, "x1", owner, params))
        out = None
        excluded: set = set()
        for attempt in range(MAX_RESTARTS + 1):
            t0 = time.perf_counter()
            plan = structured.probe(model, fn, params, x1, full, x2=x2, exclude=excluded, n_pairs=(N1, N2, symmetric),
                                    use_rules=method.implementation.uses_rules and attempt < MAX_RESTARTS)
            t_probe = time.perf_counter() - t0
            impl = method.implementation.resolve(plan, N1, N2, full, symmetric)
            b = _choose_block(impl, plan, full, itemsize, N1, N2, budget, block_size, owner)
            b = _symmetric_block(impl, plan, full, itemsize, N1, b, budget, block_size, symmetric)
            if out is None:
                out = torch.empty((N1, N2, plan.O, plan.O) if full else (N1, N2), dtype=dtype, device=out_device or device)
            _start_stats(stats, impl, b, plan, attempt)
            if stats is not None:
                stats["probe_seconds"] = t_probe
            all_columns = N2 * impl.feature_bytes(plan, itemsize)[0] + impl.block_bytes(plan, full, itemsize, b, b)
            keep_columns = N2 > b and all_columns <= budget  # keep every column block's features when they fit
            n_rows = -(-N1 // b)
            with progress_bar(total=n_rows, show=progress and n_rows > 1, desc=f"empirical_ntk ({impl.value})",
                              unit="row block", leave=False, delay=PROGRESS_DELAY_S) as bar:
                try:
                    _fill(out, impl(fn, plan, model, full, stats), x1, X2, b, symmetric, keep_columns, bar)
                    break
                except structured.PlanChanged as err:  # a block used parameters differently: those fall back
                    excluded |= err.params
    return out
