"""Eigenvalues of the NTK: of a formed matrix, of a matrix-free operator, or straight from a model.

Example::

    >>> import torch
    >>> from ntkbook.ntk import ntk_eigenvalues
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 2))
    >>> ntk_eigenvalues(net, torch.randn(10, 3), k=3).shape     # the three largest eigenvalues
    torch.Size([3])
"""

from __future__ import annotations

import numpy as np
import torch

from ntkbook._validation import InvalidParameterError, check_bool, check_int, check_option, fail
from ntkbook.ntk._checks import MODES, OUTPUTS, check_model, check_outputs, check_x, memory_budget, prepared
from ntkbook.ntk.empirical import DEFAULT_METHOD, NTKMethod, check_method, empirical_ntk
from ntkbook.ntk.operator import NTKOperator, ntk_operator

__all__ = ["ntk_spectrum", "ntk_eigenvalues"]

SOLVERS = ("auto", "eigvalsh", "lanczos", "lobpcg")
WHICH = ("largest", "smallest")
#: ``solver="auto"`` uses eigvalsh on a formed matrix up to this size (or when k > n / 4), else Lanczos.
EIGVALSH_UP_TO = 2048


def _select(evals, k, which):
    s = torch.sort(torch.as_tensor(evals), descending=(which == "largest")).values
    return s[:k]


def _size(theta, owner):
    """(n, is_operator) of a formed square matrix, an NTKOperator or a scipy LinearOperator."""
    if isinstance(theta, (torch.Tensor, np.ndarray)):
        if theta.ndim != 2 or theta.shape[0] != theta.shape[1]:
            raise InvalidParameterError(
                f"The 'theta' parameter of {owner} must be a square matrix. Got shape {tuple(theta.shape)} instead.")
        return theta.shape[0], False
    shape = getattr(theta, "shape", None)
    if not isinstance(theta, NTKOperator) and not (callable(getattr(theta, "matvec", None)) and shape is not None
                                                   and len(shape) == 2 and shape[0] == shape[1]):
        raise InvalidParameterError(
            f"The 'theta' parameter of {owner} must be a square matrix (tensor or ndarray), an NTKOperator or a "
            f"square scipy LinearOperator. Got a {type(theta).__name__} instead.")
    return shape[0], True


def _iterative(theta, is_op, n, k, which, solver, tol, seed):
    """k extreme eigenvalues by ARPACK's Lanczos (eigsh) or LOBPCG."""
    from scipy.sparse.linalg import LinearOperator, eigsh, lobpcg

    if is_op:
        op = theta.as_linear_operator() if isinstance(theta, NTKOperator) else theta
        single = isinstance(theta, NTKOperator) and theta.dtype == torch.float32
        out_dtype = theta.dtype if isinstance(theta, NTKOperator) else torch.float64
    else:
        t = torch.as_tensor(theta)
        op = t.detach().cpu().numpy()
        single = op.dtype == np.float32
        out_dtype = t.dtype
    if tol is None:
        tol = 1e-6 if single else 1e-12
    rng = np.random.default_rng(seed)
    if solver == "lanczos":
        v0 = rng.standard_normal(n)
        vals = eigsh(op, k=k, which="LA" if which == "largest" else "SA", tol=tol, v0=v0.astype(op.dtype),
                     return_eigenvectors=False)
    else:
        X = rng.standard_normal((n, k))
        A = op if is_op else LinearOperator(op.shape, matvec=lambda v: op @ v, matmat=lambda v: op @ v, dtype=op.dtype)
        vals, _ = lobpcg(A, X.astype(A.dtype), largest=(which == "largest"), tol=tol, maxiter=500)
    return _select(torch.as_tensor(np.asarray(vals, dtype=np.float64)), k, which).to(out_dtype)


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
    check_option(which, "which", owner, WHICH)
    check_option(solver, "solver", owner, SOLVERS)
    n, is_op = _size(theta, owner)
    if k is None:
        if solver not in ("auto", "eigvalsh"):
            fail("k", owner, "an int with solver 'lanczos' or 'lobpcg' (None, all eigenvalues, needs 'eigvalsh')", k)
        k = n
    k = check_int(k, "k", owner, low=1, high=n)
    if solver == "auto":
        solver = "eigvalsh" if (not is_op and (n <= EIGVALSH_UP_TO or 4 * k > n)) else "lanczos"
    if solver == "eigvalsh":
        if isinstance(theta, NTKOperator):
            t = theta.to_dense()
        else:
            t = torch.as_tensor(theta @ np.eye(n)) if is_op else torch.as_tensor(theta)
        return _select(torch.linalg.eigvalsh(t), k, which)
    if solver == "lanczos" and k >= n - 1:
        fail("k", owner, f"an int in the range [1, {n - 2}] for solver 'lanczos' (use solver='eigvalsh')", k)
    return _iterative(theta, is_op, n, k, which, solver, tol, seed)


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
    LOBPCG apply (``method="jacobian"`` then means ``"auto"``, as there is no matrix-free
    Jacobian product). See :func:`ntk_spectrum` for the solvers. The smallest eigenvalues of an
    NTK are usually clustered near zero, which makes iterative solvers slow on them: prefer a
    formed Theta and ``eigvalsh`` for ``which="smallest"``.
    """
    owner = "ntk_eigenvalues"
    method = check_method(method, owner)
    check_option(which, "which", owner, WHICH)
    check_option(solver, "solver", owner, SOLVERS)
    check_option(outputs, "outputs", owner, OUTPUTS)
    check_option(mode, "mode", owner, MODES)
    params = check_model(model, owner)
    check_x("x", x, params, owner)
    if matrix_free is not None:
        check_bool(matrix_free, "matrix_free", owner)
    budget = memory_budget(max_memory, params[0][1].device, owner)
    with prepared(model, mode, depth_mask, owner):
        O = check_outputs(model, x, "x", owner, params)
    n = x.shape[0] * (O if outputs == "full" else 1)
    k = check_int(k, "k", owner, low=1, high=n)
    if matrix_free is None:
        matrix_free = 2 * n * n * params[0][1].element_size() > budget
    if matrix_free:
        if solver == "eigvalsh":
            fail("solver", owner, "'auto', 'lanczos' or 'lobpcg' with matrix_free=True", solver)
        op = ntk_operator(model, x, method=NTKMethod.AUTO if method is NTKMethod.JACOBIAN else method, outputs=outputs,
                          block_size=block_size, max_memory=max_memory, mode=mode, depth_mask=depth_mask)
        return ntk_spectrum(op, k, which=which, solver="lanczos" if solver == "auto" else solver, tol=tol, seed=seed)
    theta = empirical_ntk(model, x, method=method, outputs=outputs, block_size=block_size, max_memory=max_memory,
                          mode=mode, depth_mask=depth_mask)
    if outputs == "full":
        N = x.shape[0]
        theta = theta.permute(0, 2, 1, 3).reshape(N * O, N * O)
    return ntk_spectrum(theta, k, which=which, solver=solver, tol=tol, seed=seed)
