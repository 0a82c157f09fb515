"""The NTK as a matrix-free linear operator, V -> Theta V = J (J^T V), never formed.

Example::

    >>> import torch
    >>> from ntkbook.ntk import ntk_operator
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    >>> op = ntk_operator(net, torch.randn(100, 3))              # Theta is (100, 100), never formed
    >>> op(torch.randn(100, 2)).shape                            # Theta V for V (N, k)
    torch.Size([100, 2])
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import jvp, vjp, vmap

from ntkbook._validation import InvalidParameterError, check_bool, check_option, check_optional_int
from ntkbook.ntk import structured
from ntkbook.ntk._checks import MODES, OUTPUTS, check_model, check_outputs, check_x, memory_budget, prepared
from ntkbook.ntk._functional import ModelFunction, block_slices
from ntkbook.ntk.empirical import MAX_RESTARTS, NTKMethod, check_method

__all__ = ["NTKOperator", "ntk_operator"]


class NTKOperator:
    """Theta as a linear operator V -> Theta V, never formed.

    ``Theta v = J (J^T v)``: a vector-Jacobian product gives u = J^T v (a vector in parameter
    space), a Jacobian-vector product gives J u, both done in chunks of samples.

    * ``method="ntvp"``: the two products with torch.func (``vjp`` then ``jvp``) for any model.
      Cost about 6 N F FLOPs per vector (per vector and output for "trace"); memory one backward
      and one forward-mode pass over a chunk plus k parameter-sized vectors.
    * ``method="structured"``: for each use of the parameters with a rule (see
      :mod:`ntkbook.ntk.structured`) the per-sample Jacobian is sum_t L_t (x) R_t, so
      J^T v = sum_{n, t} v_n L_{n,t} R_{n,t}^T (a matrix of the view's shape) and
      (J M)_n = sum_t L_{n,t}^T M R_{n,t}: two matrix products per use and vector, about 4 N P
      FLOPs per vector, after the factors of each chunk are recorded (one forward and O backward
      passes). With ``cache=True`` (default when they fit in ``max_memory``) they are recorded
      once. Parameters without a rule use the torch.func products for those parameters alone.
    * ``method="auto"``: structured when any layer has a rule.

    With ``outputs="trace"`` the operator is (N, N), sum_o J_o J_o^T; with ``outputs="full"`` it is
    (N O, N O) with row index n * O + o. Call it (or ``matmat``) on a tensor or NumPy array of
    shape (n,) or (n, k); ``as_linear_operator()`` gives a ``scipy.sparse.linalg.LinearOperator``.
    """

    def __init__(self, model, x, *, method="auto", outputs="trace", block_size=None, max_memory=None, mode="eval",
                 depth_mask=None, cache=None):
        owner = "ntk_operator"
        method = check_method(method, owner, allowed=("auto", "ntvp", "structured"))
        check_option(outputs, "outputs", owner, OUTPUTS)
        check_option(mode, "mode", owner, MODES)
        params = check_model(model, owner)
        check_x("x", x, params, owner)
        self.block_size = check_optional_int(block_size, "block_size", owner)
        if cache is not None:
            check_bool(cache, "cache", owner)
        self.model, self.x, self.outputs, self.mode, self.depth_mask = model, x, outputs, mode, depth_mask
        self.device, self.dtype = params[0][1].device, params[0][1].dtype
        self.itemsize = params[0][1].element_size()
        self.budget = memory_budget(max_memory, self.device, owner)
        self._params = params
        with prepared(model, mode, depth_mask, owner):
            self.fn = ModelFunction(model, params, check_outputs(model, x, "x", owner, params))
        self._use_rules = method is not NTKMethod.NTVP
        self._cache_arg = cache
        self.O, self.N = self.fn.O, x.shape[0]
        n = self.N * (self.O if outputs == "full" else 1)
        self.shape = (n, n)
        self.n_products = 0
        if self.fn.P * self.itemsize * 3 > self.budget:
            raise InvalidParameterError(
                f"The 'max_memory' parameter of {owner} is too small for even one block: a parameter-sized vector needs "
                f"{self.fn.P * self.itemsize * 3:,} bytes. Got max_memory={self.budget:,}.")
        self._plan(set())

    def _plan(self, excluded):
        """Probe the rules (``excluded`` parameters fall back) and record the factors of every chunk if cached."""
        for attempt in range(MAX_RESTARTS + 1):
            with prepared(self.model, self.mode, self.depth_mask, "ntk_operator"):
                self.plan = structured.probe(self.model, self.fn, self._params, self.x, self.outputs == "full",
                                             use_rules=self._use_rules and attempt < MAX_RESTARTS, exclude=excluded)
            # the uses with a verified rule use it; every other parameter (all of them for "ntvp") the torch.func products
            self.method = NTKMethod.STRUCTURED if self.plan.groups else NTKMethod.NTVP
            self._factor_numbers = sum(m.T * (m.C.shape[0] * (self.O * m.C.shape[1] + m.C.shape[2]))
                                       for g in self.plan.groups for m in g.members)  # per sample
            self._cache = None
            try:
                self._cache = self._capture_all() if self._use_cache(self._cache_arg) else None
                return
            except structured.PlanChanged as err:
                excluded = excluded | err.params

    # chunks -----------------------------------------------------------------
    def _use_cache(self, cache):
        if not self.plan.groups:
            return False
        if cache is None:  # default: keep the factors of all samples when they fit in half the budget
            return self.N * self._factor_numbers * self.itemsize <= self.budget // 2 and not self.plan.fallback
        return cache

    def _capture_all(self):
        b = self._chunk(1)
        with prepared(self.model, self.mode, self.depth_mask, "ntk_operator"):
            return [(s, structured.block_factors(self.model, self.plan, self.x[s])) for s in block_slices(self.N, b)]

    def _chunk(self, k):
        """Samples per chunk for a block of k vectors, from the budget."""
        if self.block_size is not None:
            return self.block_size
        kk = k * (self.O if self.outputs == "trace" else 1)
        P = self.plan.P_fallback  # parameters handled by the torch.func products
        free = self.budget // 2 - 3 * kk * P * self.itemsize
        per = 4 * (kk if P else 1) * (self.plan.activations + self.O) * self.itemsize
        per += (4 + kk) * self._factor_numbers * self.itemsize
        return int(max(1, min(self.N, free // max(per, 1))))

    def _chunks(self, k):
        """(slice, factors) over the samples, from the cache or recorded now."""
        if self._cache is not None:
            yield from self._cache
            return
        for s in block_slices(self.N, self._chunk(k)):
            yield s, structured.block_factors(self.model, self.plan, self.x[s])

    # products ---------------------------------------------------------------
    def matmat(self, V):
        """Theta V for V of shape (n,) or (n, k); returns the same kind (tensor or ndarray) and shape."""
        is_np = isinstance(V, np.ndarray)
        Vt = torch.as_tensor(V)
        if Vt.ndim not in (1, 2) or Vt.shape[0] != self.shape[0]:
            raise InvalidParameterError(
                f"The 'V' parameter of NTKOperator.matmat must have shape ({self.shape[0]},) or ({self.shape[0]}, k). "
                f"Got shape {tuple(Vt.shape)} instead.")
        vec = Vt.ndim == 1
        Vt = Vt.reshape(self.shape[0], -1).to(device=self.device, dtype=self.dtype)
        k = Vt.shape[1]
        Vr = Vt.reshape(self.N, k) if self.outputs == "trace" else Vt.reshape(self.N, self.O, k)
        for _ in range(MAX_RESTARTS + 1):
            try:
                with prepared(self.model, self.mode, self.depth_mask, "ntk_operator"):
                    Y = self._structured_matmat(Vr, k) if self.plan.groups else None
                    if self.plan.fallback:
                        Yf = self._ntvp_matmat(Vr, k, self.plan.fallback)
                        Y = Yf if Y is None else Y + Yf
                break
            except structured.PlanChanged as err:  # a chunk used parameters differently: those fall back
                self._plan(set(self.plan.fallback) | err.params)
        Y = Y.reshape(self.shape[0], k)
        self.n_products += k
        if vec:
            Y = Y[:, 0]
        if is_np:
            return Y.detach().cpu().numpy().astype(V.dtype if V.dtype.kind == "f" else np.float64, copy=False)
        return Y

    __call__ = matmat

    def matvec(self, v):
        return self.matmat(v)

    def _structured_matmat(self, V, k):
        """Sum over uses of J_m (J_m^T V): J_m^T V is a matrix of the use's view per output ("trace") or for
        all outputs ("full"), gathered into parameter space so that every use of a parameter shares it."""
        return self._push(self._pull(V, k), V, k)

    def _positions(self, m):
        C = m.C.reshape(-1)
        return torch.where(C >= 0, C, self.fn.P)  # the constant entries go to an extra row, never read

    def _pull(self, V, k):
        """J^T V in parameter space: (P + 1, k) per output for "trace", one for "full"."""
        trace = self.outputs == "trace"
        U = [V.new_zeros(self.fn.P + 1, k) for _ in range(self.O if trace else 1)]
        for s, factors in self._chunks(k):
            for parts in factors:
                for m, L, R in parts:
                    pos = self._positions(m)
                    for o in range(self.O):
                        w = V[s] if trace else V[s, o]  # (b, k)
                        M = structured.pull(m, L[o], R, w)  # (k, Hd, A, B)
                        U[o if trace else 0].index_add_(0, pos, M.reshape(k, -1).T)
        return U

    def _push(self, U, V, k):
        """sum_m J_m U: (J_m M)_(n, o) = sum_t L_(n,t,o)^T M R_(n,t), shape of V."""
        trace = self.outputs == "trace"
        Y = torch.zeros(V.shape, dtype=V.dtype, device=V.device)
        for s, factors in self._chunks(k):
            for parts in factors:
                for m, L, R in parts:
                    pos = self._positions(m)
                    for o in range(self.O):
                        M = U[o if trace else 0][pos].T.reshape(k, *m.C.shape)
                        r = structured.push(m, L[o], R, M)  # (b, k)
                        if trace:
                            Y[s] += r
                        else:
                            Y[s, o] += r
        return Y

    def _ntvp_matmat(self, V, k, names):
        """J_f (J_f^T V) for the parameters ``names`` with torch.func vjp and jvp."""
        fn, O, N = self.fn, self.O, self.N
        trace = self.outputs == "trace"
        sub, rest = fn.split(names)
        if trace:  # cotangent (i, o): v_i on output o only
            eye = torch.eye(O, dtype=self.dtype, device=self.device)
            cot_all = torch.einsum("nk,op->konp", V, eye).reshape(k * O, N, O)
        else:
            cot_all = V.permute(2, 0, 1)  # (k, N, O)
        b = self._chunk(k)
        U = None
        for s in block_slices(N, b):
            xb = self.x[s]
            _, pull = vjp(lambda p, xb=xb: fn.batch({**rest, **p}, xb), sub)
            u = vmap(pull)(cot_all[:, s])[0]  # name -> (kk, *shape)
            U = u if U is None else {n: U[n] + u[n] for n in U}
        outs = []
        for s in block_slices(N, b):
            xb = self.x[s]

            def push(t, xb=xb):
                return jvp(lambda p: fn.batch({**rest, **p}, xb), (sub,), (t,))[1]

            outs.append(vmap(push)(U))  # (kk, b, O)
        Y = torch.cat(outs, dim=1)  # (kk, N, O)
        if trace:
            return torch.diagonal(Y.reshape(k, O, N, O), dim1=1, dim2=3).sum(-1).T  # (N, k)
        return Y.permute(1, 2, 0)  # (N, O, k)

    # views ------------------------------------------------------------------
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
