r"""The structured rule: the NTK from layerwise Gram products, at the level of torch operations.

Following Novak, Sohl-Dickstein, Schoenholz (2022, "Fast Finite Width NTK"): wherever a view V of
the parameters enters the computation, z = op(V, x), the per-sample gradient of V is a sum over
positions t of outer products, dV_n = sum_t L_{n,t} (x) R_{n,t}, with L read from the output
gradient g = df/dz and R from the other operand x (:mod:`ntkbook.ntk.rules` has one rule per
torch primitive). For a dense layer z = W h + b, L = g, R = [h, 1], and its part of the kernel is

    Theta_l = (G_l G_l^T) * (H_l H_l^T + 1)          (elementwise product, summed over positions)

where H_l (N T, d_in) are the inputs and G_l (N T, O d_out) the output gradients, both recorded
during one forward and O backward passes of a whole block (:mod:`ntkbook.ntk.capture`).

Every use counts. A parameter used several times (tied weights, a block applied twice, an
embedding tied to the output layer) has the sum of its uses as per-sample gradient, so the kernel
has the cross terms between them. Uses whose gradients land on the same entries the same way
(the same index map C, below) are concatenated along positions and their Gram products carry the
cross terms; uses that land on the same entries in different ways (W and W^T) are summed as
per-sample gradients Z_n (the Jacobian contraction, but with Z formed from the recorded factors
rather than by extra backward passes). Which of the two a *group* of uses gets is a cost decision:
T^2 (B + O A) multiply-adds per pair of samples for the Gram products against O A B for the
per-sample gradients (T positions, A and B the widths of L and R).

Contract: what has a rule, and how a rule is checked
----------------------------------------------------
A parameter has a rule when every one of its uses is a call listed in
:data:`ntkbook.ntk.rules.RULES` on a view of it, with a recorded sample axis. :func:`probe` runs
the model on two batches of probe samples (3 and 4 by default, the second extending the first)
to find where the samples are in every recorded output, and then checks each parameter's rule
against autograd: the rule's gradient of <v, f(x)> for a random weighting v of samples and
outputs must equal autograd's. That check covers the sample attribution, the scales and the
bookkeeping of each use; a parameter that fails it, and one with a use the rules do not cover, is
handled by per-sample Jacobians for those parameters alone (``Plan.fallback``, with the reason
in ``Plan.reasons``). Every later block is recorded again and must make the same uses (the same
calls, views and shapes, the sample count aside); if not (data-dependent control flow the probe
could not see), :class:`PlanChanged` is raised and the caller starts again with the parameters
concerned falling back. Python control flow on data (``if h.sum() > 0``, ``.item()``) makes every
parameter fall back at once, with that reason: the kernel is never silently wrong.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from ntkbook.ntk import capture
from ntkbook.ntk.capture import Roles

#: An elementwise pass over a b x b tile is memory-bound: on a CPU it costs about as much time
#: as this many multiply-adds per entry of a matrix product.
PASS_COST = 64
#: Samples of the probe: the rules are verified against autograd on this many.
PROBE_SAMPLES = 4
#: Force every group that allows it to this contraction ("gram" or "persample") instead of the cheaper
#: one; None (the default) lets the cost formulas choose. For tests of both code paths.
FORCE_STRATEGY = None
#: Relative tolerance of the check of a rule's gradient against autograd, by dtype.
VERIFY_TOL = {torch.float64: 1e-8, torch.float32: 1e-4}


class PlanChanged(RuntimeError):
    """A block used the parameters differently from the probe; ``params`` are the ones concerned."""

    def __init__(self, params, why):
        super().__init__(why)
        self.params, self.why = set(params), why


# ----------------------------------------------------------------------------- the plan


@dataclass(eq=False)
class Member:
    """One recorded use as a group reads it in every block.

    ``use``: its position in the pass; ``part``: None for the use itself (with the biases ``merged``
    into it as extra columns of R), k for its k-th attached bias taken on its own. ``C`` (Hd, A, B):
    the flat index into theta of each entry of its per-sample gradient.
    """

    use: int
    part: int | None
    roles: Roles
    merged: tuple
    C: torch.Tensor
    T: int
    op: str
    names: tuple = ()  # the parameters whose entries C holds
    pos: torch.Tensor | None = None  # set with the group: where C's entries go among the group's entries

    @property
    def dims(self):
        return tuple(self.C.shape)


@dataclass(eq=False)
class Group:
    """Members whose per-sample gradients share entries of theta, with the contraction chosen for them."""

    members: list
    params: list
    gram_ok: bool  # one index map for all members, no diagonal axes, no repeated or constant entries
    index_kind: bool  # R holds embedding rows (its Gram product is an equality of indices)
    n_entries: int  # how many entries of theta the group covers
    canonical: bool = False  # every member has the same C, without repeated or constant entries: Z in C's order
    strategy: str = "gram"  # "gram": Gram products over positions; "persample": per-sample gradients Z
    _K: torch.Tensor | None = None

    @property
    def K(self):
        """The sorted flat indices of theta the group covers."""
        if self._K is None:
            K = torch.cat([m.C.reshape(-1) for m in self.members]).unique()
            self._K = K[K >= 0]
        return self._K

    @property
    def T(self):
        return sum(m.T for m in self.members)

    @property
    def A(self):
        return self.members[0].C.shape[1]

    @property
    def B(self):
        return self.members[0].C.shape[2]

    def pair_madds(self, O, full, strategy=None):
        """Multiply-adds per (row, column) pair of samples for this group's part of the kernel.

        Gram: T^2 (B + O A) for "trace" (T^2 (B + O^2 A) for "full") plus a few memory-bound
        elementwise passes; per-sample: O K ("trace") or O^2 K ("full").
        """
        strategy = strategy or self.strategy
        oo = O * O if full else 1
        if strategy == "gram":
            b = PASS_COST if self.index_kind else self.B
            return self.T * self.T * (b + (O * O if full else O) * self.A + 3 * PASS_COST * oo)
        return (O * O if full else O) * self.n_entries

    def formation_madds(self, O, strategy=None):
        """Multiply-adds per sample to form the features (the per-sample gradients Z_n)."""
        if (strategy or self.strategy) == "gram":
            return 0
        return sum(O * m.T * math.prod(m.dims) for m in self.members)

    def per_sample_numbers(self, O, strategy=None):
        """Numbers held per sample of a block: L and R, or Z."""
        if (strategy or self.strategy) == "gram":
            return self.T * ((1 if self.index_kind else self.B) + O * self.A)
        return O * self.n_entries


@dataclass
class Plan:
    """What the probe found: the groups with a verified rule, the fallback parameters and the sizes.

    ``params``: (name, parameter) of theta; ``layouts``: per recorded use, the sample axis;
    ``uses_by_parameter``: what every block must repeat; ``reasons``: why each fallback parameter has no
    rule; ``unused``: parameters that do not reach the outputs (they contribute nothing).
    """

    O: int
    P: int
    params: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    fallback: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)
    unused: list = field(default_factory=list)
    P_fallback: int = 0
    activations: int = 0
    forward_flops: float = 0.0
    factor_numbers: int = 0
    layouts: list = field(default_factory=list)
    bias_layouts: list = field(default_factory=list)
    uses_by_parameter: dict = field(default_factory=dict)
    n_uses: int = 0

    def choose(self, N1, N2, full, symmetric):
        """Set each group's contraction to the cheaper one for this kernel by the cost formulas."""
        pairs = N1 * N2 / (2 if symmetric else 1)
        Nf = N1 if symmetric else N1 + N2
        for g in self.groups:
            cost = {s: pairs * g.pair_madds(self.O, full, s) + Nf * g.formation_madds(self.O, s)
                    for s in (("gram", "persample") if g.gram_ok else ("persample",))}
            g.strategy = FORCE_STRATEGY if FORCE_STRATEGY in cost else min(cost, key=cost.get)

    def describe(self):
        """One dict per group: its parameters, uses, positions per sample and contraction (for ``stats``)."""
        return [dict(params=list(g.params), uses=[m.op for m in g.members], positions=g.T, strategy=g.strategy)
                for g in self.groups]


def _all_fallback(plan, names, sizes, why):
    plan.groups = []
    plan.fallback = list(names)
    plan.reasons = dict.fromkeys(names, why)
    plan.P_fallback = sum(sizes[n] for n in names)
    return plan


def _with_reasons(plan, reasons):
    plan.reasons.update({n: r for n, r in reasons.items() if n in plan.reasons})
    return plan


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


def _same_calls(A, B):
    """Do two passes make the same sequence of uses (ignoring sizes)?"""
    if len(A.uses) != len(B.uses):
        return False
    return all((a.op, a.kind, a.v, a.xl, a.zl, len(a.biases)) == (b.op, b.kind, b.v, b.xl, b.zl, len(b.biases))
               for a, b in zip(A.uses, B.uses))


def _layout(ua, ub, b1, b2):
    za = ua.z.detach().reshape(ua.zshape)
    zb = ub.z.detach().reshape(ub.zshape)
    return capture.sample_layout(za, zb, b1, b2)


def _positions(use, r: Roles):
    from ntkbook.ntk.capture import POST, PRE

    return math.prod(use.sizes[c] for c in r.pos if c not in (PRE, POST)) * r.split[1] * r.split[2]


def _bias_fits(U, rU, bias, rB, g):
    """Can the bias join U's R as a column? Only if both read the gradient at the same entries of z in the
    same order (checked by reading an index tensor over z's entries as if it were the gradient)."""
    if rB is None or rU.kind != "contract" or tuple(bias.zshape) != tuple(U.zshape) or bias.z is not U.z:
        return False
    ids = torch.arange(g.shape[1:].numel(), dtype=torch.float64).reshape(1, *g.shape[1:])
    try:
        a = capture.g_factor(U, rU, ids)
        c = capture.g_factor(bias, rB, ids)
    except RuntimeError:
        return False
    return a.shape[2] == 1 and a.shape[2:] == c.shape[2:] and torch.equal(a, c)


def _members(uses, rls, brls, grads, bad, rec):
    """The members (uses with their merged biases, and biases on their own) whose parameters are all good."""
    out = []
    for i, u in enumerate(uses):
        r = rls[i]
        ok_u = r is not None and not (set(rec.names_of(u.view.idx)) & bad)
        merged, loose = [], []
        for k, (bsp, rb) in enumerate(zip(u.biases, brls[i])):
            if rb is None or set(rec.names_of(bsp.view.idx)) & bad:
                continue
            (merged if ok_u and _bias_fits(u, r, bsp, rb, grads[id(u.z)]) else loose).append(k)
        if ok_u:
            C = capture.index_map(u, r)
            if merged:
                Hd, A = C.shape[:2]
                C = torch.cat([C] + [capture.index_map(u.biases[k], brls[i][k]).reshape(Hd, A, 1) for k in merged], dim=2)
            names = tuple(rec.names_of(u.view.idx)) + tuple(n for k in merged for n in rec.names_of(u.biases[k].view.idx))
            out.append(Member(i, None, r, tuple(merged), C, _positions(u, r), u.op, names))
        for k in loose:
            rb, bsp = brls[i][k], u.biases[k]
            out.append(Member(i, k, rb, (), capture.index_map(bsp, rb), _positions(bsp, rb), bsp.op,
                              tuple(rec.names_of(bsp.view.idx))))
    return out


def _groups(members, uses, rec):
    """Members grouped by overlapping entries of theta (union-find), each group with its contraction options."""
    parent = list(range(len(members)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_name: dict[str, list] = {}  # members can only share entries if they share a parameter
    for i, m in enumerate(members):
        for n in m.names:
            by_name.setdefault(n, []).append(i)
    for n, ids in by_name.items():
        if len(ids) < 2:
            continue
        lo, hi = min(int(members[i].C.min().clamp_min(0)) for i in ids), max(int(members[i].C.max()) for i in ids)
        owner = torch.full((hi - lo + 1,), -1, dtype=torch.int64, device=members[ids[0]].C.device)
        for i in ids:
            e = members[i].C.reshape(-1)
            e = e[e >= lo] - lo
            before = torch.bincount(owner[e] + 1, minlength=len(members) + 1)[1:]  # members that touched these entries
            for j in before.nonzero().reshape(-1).tolist():
                if find(j) != find(i):
                    parent[find(i)] = find(j)
            owner[e] = i
    by_root: dict[int, list] = {}
    for i, m in enumerate(members):
        by_root.setdefault(find(i), []).append(m)
    groups = []
    for ms in by_root.values():
        C0 = ms[0].C
        kinds = {m.roles.kind == "embed" for m in ms}
        one_map = all(m.C.shape == C0.shape and torch.equal(m.C, C0) for m in ms) and len(kinds) == 1
        flat = C0.reshape(-1)
        lo = int(flat.min())
        unique = lo >= 0 and int(torch.bincount(flat - lo).max()) <= 1  # no repeated or constant entry
        gram_ok = one_map and C0.shape[0] == 1 and unique  # and no diagonal axis
        g = Group(ms, [], gram_ok, kinds == {True}, flat.numel() if one_map and unique else 0, one_map and unique)
        if not g.n_entries:
            g.n_entries = g.K.numel()
        g.params = sorted({n for m in ms for n in m.names}, key=rec.names.index)
        groups.append(g)
    return groups


def _member_factors(m: Member, uses, grads, b):
    """(L, R) of a member in one block: L (O, b, Hd, T, A); R (b, Hd, T, B) or embedding rows (b, T)."""
    u = uses[m.use] if m.part is None else uses[m.use].biases[m.part]
    L, R = capture.factors(u, m.roles, grads[id(u.z)], b)
    if m.merged:
        U = uses[m.use]
        cols = [R]
        for k in m.merged:
            bsp = U.biases[k]
            cols.append(torch.full((*R.shape[:3], 1), bsp.view.scale, dtype=R.dtype, device=R.device))
        R = torch.cat(cols, dim=3)
    return L, R


def _member_gradient(L, R, embed, v):
    """sum_{n, t, o} v_{n o} L_{o n h t a} R_{n h t b}: the member's gradient of <v, f>, shape (Hd, A, B)."""
    Lv = torch.einsum("no,onhta->nhta", v, L)  # (b, Hd, T, A)
    b, _, T_, A = Lv.shape
    if embed:
        V = int(R.max()) + 1 if R.numel() else 1
        M = torch.zeros(V, A, dtype=L.dtype, device=L.device)
        M.index_add_(0, R.reshape(-1), Lv.reshape(b * T_, A))
        return M.T.unsqueeze(0)  # (1, A, V)
    return torch.einsum("nhta,nhtb->hab", Lv, R)


def _scatter(total, C, M):
    """total[C] += M for the entries of C that are theta's (C >= 0)."""
    C, M = C.reshape(-1), M.reshape(-1)
    if int(C.min()) < 0:
        keep = C >= 0
        C, M = C[keep], M[keep]
    total.index_add_(0, C, M)


def _embed_pad(M, C):
    """An embedding's (1, A, V') gradient padded to the table's V rows."""
    V = C.shape[2]
    if M.shape[2] < V:
        M = torch.cat([M, M.new_zeros(*M.shape[:2], V - M.shape[2])], dim=2)
    return M


def probe(model, fn, params, x, full, use_rules=True, x2=None, exclude=(), n_pairs=None):
    """Run the probe samples through the model: the sample axes, the verified rules and the fallback.

    ``fn`` is the model as a :class:`~ntkbook.ntk._functional.ModelFunction` (its O and P are the
    plan's); ``params`` the (name, parameter) pairs of theta. With ``use_rules=False`` every
    parameter is a fallback parameter; ``exclude`` are parameters that must fall back.
    ``n_pairs`` = (N1, N2, symmetric) lets the plan choose each group's contraction.
    """
    pool = x[:PROBE_SAMPLES] if x2 is None else torch.cat([x[:PROBE_SAMPLES], x2[:PROBE_SAMPLES]])
    xs = pool[:PROBE_SAMPLES]
    O, names = fn.O, list(fn.names)
    sizes = {n: p.numel() for n, p in params}
    plan = Plan(O=O, P=fn.P, params=list(params), activations=_count_activations(model, xs))
    plan.forward_flops = 2 * plan.P + plan.activations
    if not use_rules:
        return _all_fallback(plan, names, sizes, "the method uses no rules")
    if xs.shape[0] < 2:
        return _all_fallback(plan, names, sizes, "one sample: there is nothing to gain")
    b2 = xs.shape[0]
    b1 = b2 - 1
    yb, B = capture.record(model, params, xs[:b2])
    if not B.control_flow and not [u for u in B.uses if not set(B.names_of(u.view.idx)) <= set(B.no_rule)]:
        return _all_fallback(plan, names, sizes, "no use of it has a rule") if not B.no_rule else \
            _with_reasons(_all_fallback(plan, names, sizes, "no use of it has a rule"), B.no_rule)
    _, A = capture.record(model, params, xs[:b1])
    if A.control_flow or B.control_flow:
        what = sorted(set(A.control_flow + B.control_flow))
        return _all_fallback(plan, names, sizes, f"data-dependent control flow: {', '.join(what)} on a tensor "
                                                 f"computed from the input")
    if not _same_calls(A, B):
        return _all_fallback(plan, names, sizes, "the parameters are used differently for different batches "
                                                 "(data-dependent control flow)")
    plan.activations = max(plan.activations, B.activations // b2)
    reasons = dict(A.no_rule)
    reasons.update(B.no_rule)
    for n in exclude:
        reasons.setdefault(n, "its uses changed between blocks (data-dependent control flow)")
    rls, brls = [], []
    for ua, ub in zip(A.uses, B.uses):
        parts = []
        for pa, pb in [(ua, ub)] + list(zip(ua.biases, ub.biases)):
            r = capture.roles(pb, _layout(pa, pb, b1, b2))
            if r is None:
                for n in B.names_of(pb.view.idx):
                    reasons.setdefault(n, f"no sample axis found in the output of {pb.op}")
            elif pa is ua and ua.signature(r.split[0]) != ub.signature(r.split[0]):
                for n in B.names_of(pb.view.idx):
                    reasons.setdefault(n, f"its use by {pb.op} changes with the batch size")
                r = None
            parts.append(r)
        rls.append(parts[0])
        brls.append(parts[1:])
    # the reference gradient of <v, f> and the output gradients of every recorded call
    gen = torch.Generator(device="cpu").manual_seed(1234)
    v = torch.randn(b2, O, generator=gen, dtype=torch.float64).to(device=xs.device, dtype=yb.dtype)
    ps = [p for _, p in params]
    ref = torch.autograd.grad((yb * v).sum(), ps, retain_graph=True, allow_unused=True)
    ref = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(ps, ref)])
    zs = list({id(u.z): u.z for u in B.uses}.values())
    grads = dict(zip([id(z) for z in zs], capture.output_gradients(yb, zs, O)))
    bad = set(reasons)
    tol = VERIFY_TOL.get(yb.dtype, 1e-4)
    offsets = dict(zip(names, B.offsets))
    for _ in range(len(names) + 1):  # drop the parameters whose rule fails, until all the rest pass
        members = _members(B.uses, rls, brls, grads, bad, B)
        groups = _groups(members, B.uses, B)
        rule = torch.zeros_like(ref)
        for g in groups:
            for m in g.members:
                L, R = _member_factors(m, B.uses, grads, b2)
                M = _member_gradient(L, R, g.index_kind or m.roles.kind == "embed", v)
                if m.roles.kind == "embed":
                    M = _embed_pad(M, m.C)
                _scatter(rule, m.C, M)
        failed = set()
        for g in groups:
            for n in g.params:
                s = slice(offsets[n], offsets[n] + sizes[n])
                err = float((rule[s] - ref[s]).norm())
                if err > tol * max(float(ref[s].norm()), float(rule[s].norm())) + 1e-30:
                    failed.add(n)
                    reasons.setdefault(n, f"its rule does not match autograd on the probe (relative error "
                                          f"{err / max(float(ref[s].norm()), 1e-30):.1e})")
        if not failed:
            break
        bad |= failed
    covered = {n for g in groups for n in g.params}
    for n in names:
        if n in covered or n in bad:
            continue
        s = slice(offsets[n], offsets[n] + sizes[n])
        if float(ref[s].abs().max()) == 0.0 and n not in reasons:
            plan.unused.append(n)  # no use and no gradient: it does not reach the outputs
        else:
            reasons.setdefault(n, "it reaches the outputs by a path no rule sees")
    plan.groups = groups
    plan.fallback = [n for n in names if n not in covered and n not in plan.unused]
    plan.reasons = {n: reasons[n] for n in plan.fallback}
    plan.P_fallback = sum(sizes[n] for n in plan.fallback)
    plan.n_uses = len(B.uses)
    plan.layouts, plan.bias_layouts = rls, brls
    plan.uses_by_parameter = _uses_by_parameter(B, rls)
    plan.forward_flops = max(2 * plan.P, sum(2 * m.T * math.prod(m.dims) for g in groups for m in g.members)) \
        + plan.activations
    # numbers per sample of what a block records: L (O Hd T A) and R (Hd T B) of every member, twice over
    # (the output gradients and operands they are read from)
    plan.factor_numbers = sum(2 * m.T * m.C.shape[0] * (O * m.C.shape[1] + m.C.shape[2]) for g in groups for m in g.members)
    if n_pairs is not None:
        plan.choose(*n_pairs[:2], full, n_pairs[2])
    return plan


# ----------------------------------------------------------------------------- a block


def _uses_by_parameter(rec, layouts):
    """Parameter name -> the signatures of the uses of its entries, in call order."""
    out: dict[str, list] = {}
    for i, (u, r) in enumerate(zip(rec.uses, layouts)):
        sig = (i, u.signature(r.split[0] if r is not None else None))
        for part in [u] + u.biases:
            for n in rec.names_of(part.view.idx):
                out.setdefault(n, []).append(sig)
    return out


def record_block(model, plan: Plan, xb):
    """The recorded uses of a block and their output gradients, checked against the plan.

    Returns (uses, grads) where grads maps id(z) to (O, *z.shape). Raises :class:`PlanChanged` when
    the block's uses differ from the probe's.
    """
    y, rec = capture.record(model, plan.params, xb)
    if y.shape[1] != plan.O:
        raise RuntimeError(f"model output changed size: expected {plan.O} outputs per sample, got {y.shape[1]}")
    planned = {n for g in plan.groups for n in g.params} | set(plan.unused)
    if rec.control_flow:
        raise PlanChanged(planned, f"data-dependent control flow in a block: {', '.join(rec.control_flow)}")
    layouts = plan.layouts if len(rec.uses) == plan.n_uses else [None] * len(rec.uses)
    seen = _uses_by_parameter(rec, layouts)
    changed = {n for n, sigs in seen.items() if sigs != plan.uses_by_parameter.get(n)}
    changed |= {n for n in plan.uses_by_parameter if n not in seen}
    changed |= set(rec.no_rule)
    if changed & planned:
        raise PlanChanged(changed & planned, "a block used parameters differently from the probe")
    parts = [rec.uses[m.use] if m.part is None else rec.uses[m.use].biases[m.part] for g in plan.groups for m in g.members]
    needed = {id(u.z): u.z for u in parts}
    zs = list(needed.values())
    grads = dict(zip(needed.keys(), capture.output_gradients(y, zs, plan.O)))
    return rec.uses, grads


def block_factors(model, plan: Plan, xb):
    """Per group, the (member, L, R) of a block (see :func:`_member_factors`)."""
    uses, grads = record_block(model, plan, xb)
    b = xb.shape[0]
    return [[(m, *_member_factors(m, uses, grads, b)) for m in g.members] for g in plan.groups]


def _member_persample(m: Member, L, R, b, O):
    """Z_m (b, O, Hd A B): a member's per-sample gradients in the order of its index map C."""
    if m.roles.kind == "embed":
        Hd, A, V = m.C.shape
        Zm = L.new_zeros(b, O, A, V)
        idx = R.view(b, 1, 1, -1).expand(b, O, A, R.shape[1])
        Zm.scatter_add_(3, idx, L[:, :, 0].permute(1, 0, 3, 2))  # L (O, b, 1, T, A) -> (b, O, A, T)
        return Zm.reshape(b, O, -1)
    Hd, T_, A = L.shape[2:]
    B = R.shape[3]
    Lh = L.permute(1, 2, 0, 4, 3).reshape(b * Hd, O * A, T_)  # (b Hd, O A, T)
    Zm = torch.bmm(Lh, R.reshape(b * Hd, T_, B)).view(b, Hd, O, A, B)  # sum_t L_t (x) R_t
    return Zm.permute(0, 2, 1, 3, 4).reshape(b, O, -1)


def _persample(g: Group, parts, b, O, out):
    """Write the group's per-sample gradients Z (b, O, K) into ``out`` (a slice of the block's Z)."""
    if g.canonical:  # the members share C: their Z add up in C's order
        for i, (m, L, R) in enumerate(parts):
            Zm = _member_persample(m, L, R, b, O)
            out.copy_(Zm) if i == 0 else out.add_(Zm)
        return
    if parts[0][0].pos is None:  # where each entry of a member's per-sample gradient goes among the group's
        lookup = torch.full((int(g.K.max()) + 2,), g.K.numel(), dtype=torch.int64, device=g.K.device)
        lookup[g.K] = torch.arange(g.K.numel(), device=g.K.device)
        for m, _, _ in parts:
            m.pos = lookup[m.C.reshape(-1)]  # index -1 reads the last entry: the dropped column
    Zt = out.new_zeros(g.K.numel() + 1, b * O)  # rows: entries of theta; the last row takes the constants
    for m, L, R in parts:
        Zt.index_add_(0, m.pos, _member_persample(m, L, R, b, O).reshape(b * O, -1).T)
    out.copy_(Zt[:-1].T.reshape(b, O, -1))


def features(model, plan: Plan, fn, xb, stats=None):
    """What a block contributes to the kernel: per gram group {"H" or "I", "G", "T"} with rows (n, t); the
    per-sample gradients of all other groups and of the fallback parameters side by side (b, O, K + P_f)
    or None; and the block size b. ``stats``, if given, accumulates the seconds of the recording
    ("capture_seconds") and of the fallback Jacobians ("jacobian_seconds")."""
    b, O = xb.shape[0], plan.O
    feats = []
    timer = _Timer(xb.device, stats is not None)
    t0 = timer()
    widths = [g.n_entries for g in plan.groups if g.strategy == "persample"] + [plan.P_fallback]
    dtype = plan.params[0][1].dtype
    Z = torch.empty(b, O, sum(widths), dtype=dtype, device=xb.device) if sum(widths) else None
    off = 0
    if plan.groups:
        for g, parts in zip(plan.groups, block_factors(model, plan, xb)):
            if g.strategy == "persample":
                _persample(g, parts, b, O, Z[:, :, off:off + g.n_entries])
                off += g.n_entries
                feats.append(None)
                continue
            L = torch.cat([L[:, :, 0] for _, L, _ in parts], dim=2) if len(parts) > 1 else parts[0][1][:, :, 0]
            T_ = L.shape[2]
            f = {"G": L.permute(1, 2, 0, 3).reshape(b * T_, -1), "T": T_}  # rows (n, t), columns (o, a)
            if g.index_kind:
                f["I"] = torch.cat([R for _, _, R in parts], dim=1).reshape(b * T_)
            else:
                f["H"] = torch.cat([R[:, 0] for _, _, R in parts], dim=1).reshape(b * T_, -1)
            feats.append(f)
    t1 = timer()
    if plan.fallback:
        Z[:, :, off:] = fn.jacobian(xb, plan.fallback)
    if stats is not None:
        t2 = timer()
        stats["capture_seconds"] = stats.get("capture_seconds", 0.0) + (t1 - t0)
        stats["jacobian_seconds"] = stats.get("jacobian_seconds", 0.0) + (t2 - t1)
    return feats, Z, b


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


#: A float32 product summed over more than this many terms is summed in chunks of this many, the
#: chunks added in float64: one GEMM over the 1.6 million parameters of a small Transformer loses
#: 3e-4 of relative accuracy in float32, chunks of 2^15 lose about 1e-6.
LONG_SUM = 2**15


def long_product(A, B):
    """A @ B^T for A (m, K) and B (n, K), summed over chunks of K in float64 when A is float32 and K is long."""
    K = A.shape[1]
    if A.dtype != torch.float32 or K <= 2 * LONG_SUM:
        return A @ B.T
    acc = torch.zeros(A.shape[0], B.shape[0], dtype=torch.float64, device=A.device)
    for k in range(0, K, LONG_SUM):
        acc += (A[:, k:k + LONG_SUM] @ B[:, k:k + LONG_SUM].T).double()
    return acc.to(A.dtype)


def _add_outer(acc2, A, B, full):
    """acc2 += A B^T over the matching outputs, for A (bI, O, K) and B (bJ, O, K); returns the FLOPs.

    ``acc2`` is (bI, bJ) for "trace" and (bI O, bJ O) for "full".
    """
    bI, O, K = A.shape
    bJ = B.shape[0]
    if full:
        A2, B2 = A.reshape(bI * O, K), B.reshape(bJ * O, K)
    else:
        A2, B2 = A.reshape(bI, O * K), B.reshape(bJ, O * K)
    if A2.dtype == torch.float32 and A2.shape[1] > 2 * LONG_SUM:
        acc2.add_(long_product(A2, B2))
    else:
        acc2.addmm_(A2, B2.T)
    return 2 * bI * bJ * (O * O if full else O) * K


def _add_gram(acc, a, c, O, full, scratch):
    """acc += this group's (G G^T) * (H H^T) summed over positions; returns the FLOPs.

    H carries s_w h and the bias columns s_b, so H H^T = s_w^2 h h^T + s_b^2; for an embedding,
    H H^T is the equality of the rows' indices. ``acc`` is (bI, bJ) for "trace" and (bI, O, bJ, O)
    for "full"; ``scratch`` holds reusable tiles.
    """
    T = a["T"]
    bI, bJ = a["G"].shape[0] // T, c["G"].shape[0] // T
    A = a["G"].shape[1] // O

    def tile(key, shape):
        t = scratch.get((key, shape))
        if t is None:
            t = scratch[(key, shape)] = torch.empty(shape, dtype=acc.dtype, device=acc.device)
        return t

    if "I" in a:  # an embedding: h is the one-hot vector of the row's index
        HH = (a["I"].view(-1, 1) == c["I"].view(1, -1)).to(acc.dtype)
        flops = 0
    else:
        HH = torch.mm(a["H"], c["H"].T, out=tile("H", (bI * T, bJ * T)))  # (bI T, bJ T)
        flops = 2 * bI * bJ * T * T * a["H"].shape[1]
    if full:
        Ga = a["G"].reshape(bI * T * O, A)
        Gc = c["G"].reshape(bJ * T * O, A)
        GG = torch.mm(Ga, Gc.T, out=tile("G", (bI * T * O, bJ * T * O)))  # (bI T O, bJ T O)
        flops += 2 * bI * bJ * T * T * O * O * A
        K = GG.view(bI, T, O, bJ, T, O) * HH.view(bI, T, 1, bJ, T, 1)
        acc.add_(K.sum(dim=(1, 4)))
        return flops
    GG = torch.mm(a["G"], c["G"].T, out=tile("G", (bI * T, bJ * T)))  # sum_o G_o G_o^T, (bI T, bJ T)
    flops += 2 * bI * bJ * T * T * O * A
    if T == 1:
        acc.addcmul_(GG, HH)
    else:
        acc.add_(GG.mul_(HH).view(bI, T, bJ, T).sum(dim=(1, 3)))
    return flops


def gram_pair(plan: Plan, full, fi, fj, stats=None):
    """Theta between two blocks from their :func:`features`: (bI, bJ) or (bI, bJ, O, O).

    The sum over gram groups of the Gram products, plus Z_I Z_J^T for the per-sample gradients of the
    other groups and of the fallback parameters. ``stats``, if given, accumulates the FLOPs and seconds
    of the Gram products ("gram_flops", "gram_seconds").
    """
    (feats_i, Z_i, bI), (feats_j, Z_j, bJ) = fi, fj
    O = plan.O
    ref = Z_i if Z_i is not None else next(f["G"] for f in feats_i if f is not None)
    timer = _Timer(ref.device, stats is not None)
    t0 = timer()
    acc = torch.zeros((bI, O, bJ, O) if full else (bI, bJ), dtype=ref.dtype, device=ref.device)  # permuted at the end
    acc2 = acc.view(bI * O, bJ * O) if full else acc
    scratch: dict[tuple, torch.Tensor] = {}
    flops = 0
    for a, c in zip(feats_i, feats_j):
        if a is not None:
            flops += _add_gram(acc, a, c, O, full, scratch)
    t1 = timer()
    if Z_i is not None:
        _add_outer(acc2, Z_i, Z_j, full)
    if stats is not None:
        t2 = timer()
        stats["gram_flops"] = stats.get("gram_flops", 0) + flops
        stats["gram_seconds"] = stats.get("gram_seconds", 0.0) + (t1 - t0)
        stats["persample_seconds"] = stats.get("persample_seconds", 0.0) + (t2 - t1)
    return acc.permute(0, 2, 1, 3) if full else acc


# ----------------------------------------------------------------------------- matrix-free products


def pull(m: Member, L, R, W):
    """J_m^T W for one output: sum_{n, t} W_{n k} L_{n h t a} R_{n h t b}, shape (k, Hd, A, B).

    ``L`` (b, Hd, T, A) is one output's factor, ``W`` (b, k) the weights of the samples.
    """
    b, Hd, T_, A = L.shape
    k = W.shape[1]
    if m.roles.kind == "embed":
        V = m.C.shape[2]
        rows = (W.view(b, 1, k, 1) * L[:, 0].reshape(b, T_, 1, A)).reshape(b * T_, k * A)
        M = L.new_zeros(V, k * A)
        M.index_add_(0, R.reshape(-1), rows)
        return M.view(V, k, A).permute(1, 2, 0).unsqueeze(1)  # (k, 1, A, V)
    Bw = R.shape[3]
    WR = (W.view(b, 1, 1, k, 1) * R.unsqueeze(3)).permute(1, 0, 2, 3, 4).reshape(Hd, b * T_, k * Bw)
    Lh = L.permute(1, 0, 2, 3).reshape(Hd, b * T_, A)
    M = torch.bmm(Lh.transpose(1, 2), WR)  # (Hd, A, k B)
    return M.view(Hd, A, k, Bw).permute(2, 0, 1, 3)


def push(m: Member, L, R, M):
    """J_m M for one output: sum_{h, t, a, b} L_{n h t a} M_{k h a b} R_{n h t b}, shape (b, k)."""
    b, Hd, T_, A = L.shape
    k = M.shape[0]
    if m.roles.kind == "embed":
        Mg = M[:, 0].permute(2, 0, 1)[R.reshape(-1)]  # (b T, k, A)
        return (Mg * L[:, 0].reshape(b * T_, 1, A)).sum(-1).view(b, T_, k).sum(1)
    Bw = R.shape[3]
    Rh = R.permute(1, 0, 2, 3).reshape(Hd, b * T_, Bw)
    Mh = M.permute(1, 3, 0, 2).reshape(Hd, Bw, k * A)
    RM = torch.bmm(Rh, Mh).view(Hd, b * T_, k, A)  # R^T M per row
    Lh = L.permute(1, 0, 2, 3).reshape(Hd, b * T_, 1, A)
    return (RM * Lh).sum(-1).sum(0).view(b, T_, k).sum(1)
