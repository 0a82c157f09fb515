"""Infinite-width NNGP and NTK kernels of the MLP and of the NTK-ECRN (NTK parameterization).

Conventions (Jacot et al. 2018; neural-tangents ``stax.Dense(W_std, b_std,
parameterization='ntk')``, so numbers can be compared with that library). Every Dense layer is
``z = (w_std / sqrt(fan_in)) W a + b_std b`` with W, b ~ N(0, 1). As the width n -> inf each
pre-activation coordinate becomes a Gaussian process with covariance Sigma (the NNGP kernel)
and the empirical NTK J(x) J(x')^T (per output) converges to a deterministic Theta.

MLP with ``depth`` hidden layers (z_1 = Dense(x), z_{l+1} = Dense(act(z_l)), f = z_{depth+1})::

    Sigma_1(x, x') = w_std^2 x.x' / d + b_std^2                       Theta_1 = Sigma_1
    Sigma_{l+1}    = w_std^2 E[act(u) act(v)] + b_std^2                (u, v) ~ N(0, Sigma_l)
    Theta_{l+1}    = Sigma_{l+1} + w_std^2 E[act'(u) act'(v)] Theta_l
    (nngp, ntk)    = (Sigma_{depth+1}, Theta_{depth+1})

The Gaussian expectations have closed forms for relu (the arc-cosine kernel of order 1, Cho &
Saul 2009) and erf (Williams 1997); any other activation (tanh, gelu) uses 2-D Gauss-Hermite
quadrature. With q = Sigma(x, x), r = Sigma(x', x'), c = Sigma(x, x'), rho = c / sqrt(q r),
theta = arccos(rho)::

    relu: E[act act'] = sqrt(q r) (sin theta + (pi - theta) cos theta) / (2 pi),
          E[act' act'] = (pi - theta) / (2 pi)
    erf:  E[act act'] = (2 / pi) arcsin(2c / sqrt((1 + 2q)(1 + 2r))),
          E[act' act'] = (4 / pi) / sqrt((1 + 2q)(1 + 2r) - 4c^2)

The NTK-ECRN (:class:`ntkbook.models.ECRN` in eval mode, its block m_l replaced by its
expectation 1 - p_l; reconstruction of the paper's Eqs. (13) and (17)): see
:func:`ecrn_kernels`. The kernels of ReLU convolutional networks (the CNTK, same
conventions), ``cntk_kernels`` and ``cntk_kernels_by_depth``, live in :mod:`ntkbook.cntk`
(their recursion runs over pixel pairs, with a cost and memory of its own) and are
importable from here too. Example::

    >>> x = torch.randn(5, 3, dtype=torch.float64)        # (N, d)
    >>> nngp, ntk = mlp_kernels(x, depth=2, activation="relu")
    >>> ntk.shape                                          # (N1, N2)
    torch.Size([5, 5])
"""

import math

import numpy as np
import torch

from ntkbook._validation import InvalidParameterError, check_finite, check_float, check_int, check_option, fail
from ntkbook.cntk import cntk_kernels, cntk_kernels_by_depth  # noqa: F401  (the image kernels, re-exported)
from ntkbook.models import ACTIVATIONS, ECRN, MLP, resolve_alphas, resolve_drop_probs

METHODS = ("auto", "closed_form", "quadrature")
CLOSED_FORMS = ("relu", "erf")
DEFAULT_N_QUAD = 64  # 2-D Gauss-Hermite nodes per axis: smooth activations converge to ~1e-10
_N_CHEB = 48  # Chebyshev nodes in c for pairs sharing (q, r): smooth act -> ~machine precision
_CHUNK = 2**22  # max number of (pair, node, node) evaluations held at once in quadrature

_SQRT2, _SQRTPI = math.sqrt(2.0), math.sqrt(math.pi)


def _act_and_derivative(name):
    """(act, act') as torch functions."""
    return {
        "relu": (torch.relu, lambda u: (u > 0).to(u.dtype)),
        "tanh": (torch.tanh, lambda u: 1 - torch.tanh(u) ** 2),
        "erf": (torch.erf, lambda u: 2 / _SQRTPI * torch.exp(-(u**2))),
        "gelu": (lambda u: u * _Phi(u),
                 lambda u: _Phi(u) + u * torch.exp(-0.5 * u**2) / math.sqrt(2 * math.pi)),
    }[name]


def _Phi(u):
    return 0.5 * (1 + torch.erf(u / _SQRT2))


def _hermite(n_quad, like):
    """Probabilists' nodes z and weights w with sum_i w_i g(z_i) ~= E[g(Z)], Z ~ N(0, 1)."""
    t, w = np.polynomial.hermite.hermgauss(n_quad)
    z = torch.as_tensor(t * math.sqrt(2.0), dtype=like.dtype, device=like.device)
    return z, torch.as_tensor(w / math.sqrt(math.pi), dtype=like.dtype, device=like.device)


# ----------------------------------------------------------------------------- Gaussian moments
def gaussian_expectations(activation, q, r, c, *, method="auto", n_quad=DEFAULT_N_QUAD):
    """E[act(u) act(v)] and E[act'(u) act'(v)] for (u, v) ~ N(0, [[q, c], [c, r]]).

    ``q``, ``r``, ``c`` broadcast against each other (typically (N1, 1), (1, N2), (N1, N2)).
    ``method``: "closed_form" (relu and erf only), "quadrature" (2-D Gauss-Hermite with
    ``n_quad`` nodes per axis, u = sqrt(q) z1, v = sqrt(r) (rho z1 + sqrt(1 - rho^2) z2)),
    or "auto" (closed form where one exists). NaN or infinite entries, and negative variances
    q or r, are refused.
    """
    owner = "gaussian_expectations"
    n_quad = _check_method(activation, method, n_quad, owner)
    for name, value in (("q", q), ("r", r), ("c", c)):
        check_finite(value, name, owner)
    _check_variances(q, "q", owner)
    _check_variances(r, "r", owner)
    return _expectations(activation, q, r, c, method, n_quad)


def _check_method(activation, method, n_quad, owner):
    """Check activation, method and n_quad of a kernel function; returns n_quad."""
    check_option(activation, "activation", owner, ACTIVATIONS)
    check_option(method, "method", owner, METHODS)
    if method == "closed_form" and activation not in CLOSED_FORMS:
        raise InvalidParameterError(
            f"The 'method' parameter of {owner} can be 'closed_form' only for "
            f"activation in {list(CLOSED_FORMS)}. Got activation={activation!r} instead."
        )
    return check_int(n_quad, "n_quad", owner)


def _check_variances(q, name, owner):
    q = torch.as_tensor(q)
    if (q < 0).any():
        raise InvalidParameterError(f"The '{name}' parameter of {owner} must hold variances (entries >= 0). "
                                    f"Got a tensor with minimum {float(q.min()):g} instead.")


def _expectations(activation, q, r, c, method, n_quad):
    """:func:`gaussian_expectations` without its checks (the kernels' recursion calls this)."""
    q, r, c = torch.broadcast_tensors(q, r, c)
    if method == "quadrature" or activation not in CLOSED_FORMS:
        return _quadrature(activation, q, r, c, n_quad)
    if activation == "relu":
        s = torch.sqrt(q * r)
        rho = torch.where(s > 0, c / torch.where(s > 0, s, 1.0), 1.0).clamp(-1.0, 1.0)
        theta = torch.arccos(rho)
        e = s * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta)) / (2 * math.pi)
        return e, (math.pi - theta) / (2 * math.pi)
    # erf
    den = (1 + 2 * q) * (1 + 2 * r)
    e = 2 / math.pi * torch.arcsin((2 * c / torch.sqrt(den)).clamp(-1.0, 1.0))
    return e, 4 / math.pi / torch.sqrt((den - 4 * c**2).clamp_min(torch.finfo(c.dtype).tiny))


def _quadrature(activation, q, r, c, n_quad):
    """2-D Gauss-Hermite; pairs that share their variances (q, r) go through a Chebyshev
    interpolant in c instead (E[act act'] is analytic in c for smooth act, Price's theorem), so
    N1 x N2 pairs with a constant diagonal cost a few quadratures, not N1 N2."""
    shape = c.shape
    q, r, c = q.reshape(-1), r.reshape(-1), c.reshape(-1)
    n = _N_CHEB
    uq, iq = torch.unique(q, return_inverse=True)
    ur, ir = torch.unique(r, return_inverse=True)
    if activation == "relu" or len(uq) * len(ur) * n * 4 > c.numel():
        return _direct_quadrature(activation, q, r, c, n_quad, shape)
    keys = torch.cartesian_prod(uq, ur).reshape(-1, 2)  # (G, 2) variance pairs
    group = iq * len(ur) + ir  # (P,) row of keys for each pair
    # Chebyshev nodes t_k = cos(pi (k + 1/2) / n) on c / sqrt(q r) in [-1, 1]
    k = torch.arange(n, dtype=c.dtype, device=c.device)
    t_nodes = torch.cos(math.pi * (k + 0.5) / n)  # (n,)
    s = torch.sqrt(keys[:, 0] * keys[:, 1])  # (G,)
    qg, rg = keys[:, :1].expand(-1, n), keys[:, 1:].expand(-1, n)  # (G, n)
    vals = _direct_quadrature(activation, qg, rg, s[:, None] * t_nodes, n_quad, qg.shape)
    basis = torch.cos(torch.outer(k, torch.arccos(t_nodes)))  # T_j(t_k), (n, n)
    s_p = s[group]  # (P,)
    t = torch.where(s_p > 0, c / torch.where(s_p > 0, s_p, 1.0), 0.0).clamp(-1.0, 1.0)
    out = []
    for v in vals:  # (G, n) values -> coefficients a_j = (2/n) sum_k v_k T_j(t_k), a_0 halved
        coef = 2.0 / n * v @ basis.T
        coef[:, 0] /= 2
        a = coef[0] if len(keys) == 1 else coef[group].T  # (n,) scalars or (n, P)
        b1, b2 = torch.zeros_like(t), torch.zeros_like(t)  # Clenshaw: O(P) memory
        for j in range(n - 1, 0, -1):
            b1, b2 = a[j] + 2 * t * b1 - b2, b1
        out.append((a[0] + t * b1 - b2).reshape(shape))
    return tuple(out)


def _direct_quadrature(activation, q, r, c, n_quad, shape):
    act, dact = _act_and_derivative(activation)
    z, w = _hermite(n_quad, c)
    q, r, c = q.reshape(-1), r.reshape(-1), c.reshape(-1)
    s = torch.sqrt(q * r)
    rho = torch.where(s > 0, c / torch.where(s > 0, s, 1.0), 0.0).clamp(-1.0, 1.0)
    e_out, d_out = torch.empty_like(c), torch.empty_like(c)
    step = max(1, _CHUNK // n_quad**2)
    ww = w[:, None] * w  # (Q, Q)
    for i in range(0, c.numel(), step):
        sl = slice(i, i + step)
        u = q[sl].sqrt()[:, None] * z  # (P, Q)
        v = r[sl].sqrt()[:, None, None] * (rho[sl, None, None] * z[:, None]
                                           + (1 - rho[sl, None, None] ** 2).sqrt() * z)  # (P, Q, Q)
        e_out[sl] = torch.einsum("pi,pij,ij->p", act(u), act(v), ww)
        d_out[sl] = torch.einsum("pi,pij,ij->p", dact(u), dact(v), ww)
    return e_out.reshape(shape), d_out.reshape(shape)


def gaussian_mean(activation, q, *, method="auto", n_quad=DEFAULT_N_QUAD):
    """E[act(u)] for u ~ N(0, q): 0 for the odd tanh and erf, sqrt(q / (2 pi)) for relu,
    q / sqrt(2 pi (1 + q)) for gelu (Stein's lemma); 1-D Gauss-Hermite with "quadrature"."""
    owner = "gaussian_mean"
    check_option(activation, "activation", owner, ACTIVATIONS)
    check_option(method, "method", owner, METHODS)
    n_quad = check_int(n_quad, "n_quad", owner)
    _check_variances(check_finite(q, "q", owner), "q", owner)
    return _mean(activation, q, method, n_quad)


def _mean(activation, q, method, n_quad):
    """:func:`gaussian_mean` without its checks."""
    if method == "quadrature":
        z, w = _hermite(n_quad, q)
        return (_act_and_derivative(activation)[0](q.sqrt()[..., None] * z) * w).sum(-1)
    if activation in ("tanh", "erf"):
        return torch.zeros_like(q)
    if activation == "relu":
        return torch.sqrt(q / (2 * math.pi))
    return q / torch.sqrt(2 * math.pi * (1 + q))


# ----------------------------------------------------------------------------- input kernels
def _pair(x1, x2, owner):
    """(x1, x2) as float64 tensors on x1's device (x2 defaults to x1), checked: 2-D, the same
    number of features, finite."""
    if not isinstance(x1, torch.Tensor) or x1.dim() != 2:
        raise InvalidParameterError(
            f"The 'x1' parameter of {owner} must be a 2-D torch.Tensor (N1, d). Got "
            f"{type(x1).__name__} of shape {tuple(getattr(x1, 'shape', ()))} instead."
        )
    x1 = check_finite(x1.to(torch.float64), "x1", owner)
    if x2 is None:
        return x1, x1
    x2 = torch.as_tensor(x2).to(device=x1.device, dtype=torch.float64)
    if x2.dim() != 2 or x2.shape[1] != x1.shape[1]:
        raise InvalidParameterError(
            f"The 'x2' parameter of {owner} must be a 2-D tensor with d={x1.shape[1]} features "
            f"like x1. Got shape {tuple(x2.shape)} instead."
        )
    return x1, check_finite(x2, "x2", owner)


def linear_kernel(x1, x2=None):
    """x.x' / d, shape (N1, N2): the input kernel of a Dense layer in NTK parameterization
    (before the w_std^2 factor and the b_std^2 shift)."""
    x1, x2 = _pair(x1, x2, "linear_kernel")
    return x1 @ x2.T / x1.shape[1]


def fourier_kernel(x1, x2, B):
    """phi(x).phi(x') / (2m) for a fixed frequency matrix B (m, d), shape (N1, N2).

    With phi(x) = [sin(2 pi B x), cos(2 pi B x)] and sin a sin b + cos a cos b = cos(a - b)::

        phi(x).phi(x') / (2m) = (1 / 2m) sum_k cos(2 pi b_k.(x - x'))

    The 1 / (2m) is the 1 / fan_in of the ECRN's input projection, so this is exactly what
    the projection sees; on the diagonal it equals 1/2 for any B.
    """
    x1, x2 = _pair(x1, x2, "fourier_kernel")
    B = torch.as_tensor(B).to(device=x1.device, dtype=torch.float64)
    if B.dim() != 2 or B.shape[1] != x1.shape[1]:
        raise InvalidParameterError(
            f"The 'B' parameter of fourier_kernel must have shape (n_fourier, d={x1.shape[1]}). "
            f"Got shape {tuple(B.shape)} instead."
        )
    check_finite(B, "B", "fourier_kernel")
    diff = x1[:, None, :] - x2[None, :, :]  # (N1, N2, d)
    return torch.cos(2 * math.pi * diff @ B.T).mean(-1) / 2  # (N1, N2)


def expected_fourier_kernel(x1, x2=None, *, fourier_scale):
    """E_B[phi(x).phi(x') / (2m)] over B_kj ~ N(0, sigma^2), sigma = fourier_scale, (N1, N2).

    For b ~ N(0, sigma^2 I_d), E[cos(2 pi b.t)] = Re E[exp(i 2 pi b.t)] = exp(-2 pi^2 sigma^2 ||t||^2)
    (the Gaussian characteristic function), hence::

        E[phi(x).phi(x')]        = m exp(-2 pi^2 sigma^2 ||x - x'||^2)
        E[phi(x).phi(x') / (2m)] = (1/2) exp(-2 pi^2 sigma^2 ||x - x'||^2)

    a Gaussian (RBF) kernel of length scale 1 / (2 pi sigma), exact in expectation for any m and
    the m -> inf limit of :func:`fourier_kernel` (Rahimi & Recht 2007; Tancik et al. 2020).
    """
    x1, x2 = _pair(x1, x2, "expected_fourier_kernel")
    sigma = check_float(fourier_scale, "fourier_scale", "expected_fourier_kernel")
    sq = torch.cdist(x1, x2).square()  # (N1, N2)
    return 0.5 * torch.exp(-2 * math.pi**2 * sigma**2 * sq)


# ----------------------------------------------------------------------------- MLP
def mlp_kernels(x1, x2=None, *, depth, activation="relu", w_std=1.0, b_std=0.1, method="auto",
                n_quad=DEFAULT_N_QUAD):
    """Infinite-width (NNGP, NTK) of :class:`ntkbook.models.MLP` in NTK parameterization.

    Implements the recursion of the module docstring (Jacot et al. 2018, Lee et al. 2019):
    Sigma_1 = w_std^2 x.x'/d + b_std^2, Sigma_{l+1} = w_std^2 E[act act'] + b_std^2,
    Theta_{l+1} = Sigma_{l+1} + w_std^2 E[act' act''] Theta_l, for ``depth`` hidden layers.
    Matches neural-tangents ``stax.serial(*[Dense(n, w_std, b_std), act] * depth,
    Dense(1, w_std, b_std))`` with parameterization='ntk' (one output; with O outputs the
    kernel is this one times I_O).

    Parameters
    ----------
    x1 : torch.Tensor, shape (N1, d)
    x2 : torch.Tensor, shape (N2, d), optional (defaults to x1)
    depth : int >= 1, number of hidden layers
    activation : {"relu", "erf", "tanh", "gelu"}
    w_std, b_std : float >= 0
    method : {"auto", "closed_form", "quadrature"}
    n_quad : int, Gauss-Hermite nodes per axis for quadrature

    Returns
    -------
    nngp, ntk : torch.Tensor float64, shape (N1, N2), on x1's device
    """
    owner = "mlp_kernels"
    depth = check_int(depth, "depth", owner)
    n_quad = _check_method(activation, method, n_quad, owner)
    w2 = check_float(w_std, "w_std", owner) ** 2
    b2 = check_float(b_std, "b_std", owner) ** 2
    x2_given = x2 is not None
    x1, x2 = _pair(x1, x2, owner)
    d = x1.shape[1]
    k = w2 * x1 @ x2.T / d + b2  # (N1, N2)
    q = w2 * x1.square().sum(1, keepdim=True) / d + b2  # (N1, 1)
    r = w2 * x2.square().sum(1, keepdim=True).T / d + b2  # (1, N2)
    ntk = k
    opts = dict(method=method, n_quad=n_quad)
    for _ in range(depth):
        e, de = _expectations(activation, q, r, k, **opts)
        ntk = w2 * e + b2 + w2 * de * ntk
        k = w2 * e + b2
        q = w2 * _expectations(activation, q, q, q, **opts)[0] + b2
        r = w2 * _expectations(activation, r, r, r, **opts)[0] + b2
    return _symmetrized(k, ntk, x2_given)


# ----------------------------------------------------------------------------- ECRN
def ecrn_kernels(x1, x2=None, *, depth, alpha="1/sqrt(L)", drop_prob="linear:0.1",
                 activation="tanh", fourier_scale=1.0, n_fourier=64, B=None, w_std=1.0,
                 b_std=0.1, depth_mask=None, stochastic_depth="eval", method="auto",
                 n_quad=DEFAULT_N_QUAD):
    """Infinite-width (NNGP, NTK) of :class:`ntkbook.models.ECRN` in NTK parameterization.

    Block l enters the recursion below through a linear coefficient c_l and a quadratic one
    d_l, set by ``stochastic_depth`` (the paper's Eq. (17) is not public; both readings of its
    (1 - p_l) factor are reconstructions):

    - ``"eval"`` (default): the eval-mode network, m_l replaced by its expectation 1 - p_l.
      It is deterministic and this is exactly its limit: c_l = alpha_l (1 - p_l),
      d_l = c_l^2, so block l's increment is weighted by (1 - p_l)^2.
    - ``"expected"``: the mask average of the recursion, E[m_l] = E[m_l^2] = 1 - p_l:
      c_l = alpha_l (1 - p_l), d_l = alpha_l^2 (1 - p_l), each increment weighted by (1 - p_l).
      It neglects that the Gaussian expectations of block l depend on the earlier masks, so it
      approximates (does not equal) E_m[Theta_m].
    - ``depth_mask`` given (overrides both): the network with that fixed 0/1 mask,
      c_l = alpha_l m_l, d_l = c_l^2.

    Per-coordinate second moments K_l = lim h_l.h_l' / n, means mu_l = E[h_l^i] and NTK
    Theta_l of h_l^i (g_l = w_std W_l h_l / sqrt(n) + b_std b_l is independent of h_l^i in the
    limit)::

        K_0     = Theta_0 = w_std^2 k_in(x, x') + b_std^2,      mu_0 = 0
        Sigma_l = w_std^2 K_l + b_std^2                          (covariance of g_l)
        K_{l+1} = K_l + c_l (mu_l(x) nu_l(x') + nu_l(x) mu_l(x')) + d_l E[act(u) act(v)]
        mu_{l+1} = mu_l + c_l nu_l,      nu_l(x) = E[act(u)], u ~ N(0, Sigma_l(x, x))
        Theta_{l+1} = Theta_l + d_l E[act'(u) act'(v)] (Sigma_l + w_std^2 Theta_l)
        nngp = w_std^2 K_L + b_std^2,    ntk = nngp + w_std^2 Theta_L

    (nu = 0 for the odd tanh and erf.) The input kernel k_in is x.x'/d when n_fourier = 0,
    :func:`fourier_kernel` (x, x', B) for a given B, and otherwise
    :func:`expected_fourier_kernel`, (1/2) exp(-2 pi^2 fourier_scale^2 ||x - x'||^2), the limit
    n_fourier -> inf of a random B. B is a fixed buffer (trainable_fourier=False).

    Parameters
    ----------
    x1 : torch.Tensor, shape (N1, d); x2 : torch.Tensor, shape (N2, d), optional
    depth, alpha, drop_prob, activation, fourier_scale, n_fourier, w_std, b_std
        As in :class:`ntkbook.models.ECRN`.
    B : torch.Tensor, shape (n_fourier, d), optional; a fixed frequency matrix
    depth_mask : sequence of ``depth`` values in {0, 1}, optional
    stochastic_depth : {"eval", "expected"}, default="eval"
    method, n_quad : see :func:`gaussian_expectations`

    Returns
    -------
    nngp, ntk : torch.Tensor float64, shape (N1, N2), on x1's device
    """
    owner = "ecrn_kernels"
    depth = check_int(depth, "depth", owner)
    alphas = resolve_alphas(alpha, depth, owner)
    drops = resolve_drop_probs(drop_prob, depth, owner)
    n_quad = _check_method(activation, method, n_quad, owner)
    check_float(fourier_scale, "fourier_scale", owner)
    n_fourier = check_int(n_fourier, "n_fourier", owner, low=0)
    w2 = check_float(w_std, "w_std", owner) ** 2
    b2 = check_float(b_std, "b_std", owner) ** 2
    check_option(stochastic_depth, "stochastic_depth", owner, ("eval", "expected"))
    x2_given = x2 is not None
    x1, x2 = _pair(x1, x2, owner)
    if depth_mask is not None:
        try:
            mask = [float(v) for v in torch.as_tensor(depth_mask).reshape(-1).tolist()]
        except (TypeError, ValueError, RuntimeError):  # not numbers
            mask = []
        if len(mask) != depth or any(v not in (0.0, 1.0) for v in mask):
            fail("depth_mask", owner, f"None or depth={depth} values in {{0, 1}}", depth_mask)
        coefs = [(a * m, (a * m) ** 2) for a, m in zip(alphas, mask)]
    elif stochastic_depth == "eval":
        coefs = [(a * (1 - p), (a * (1 - p)) ** 2) for a, p in zip(alphas, drops)]
    else:
        coefs = [(a * (1 - p), a**2 * (1 - p)) for a, p in zip(alphas, drops)]

    if n_fourier == 0:
        k_in = linear_kernel(x1, x2)
        q_in = x1.square().sum(1, keepdim=True) / x1.shape[1]  # (N1, 1)
        r_in = x2.square().sum(1, keepdim=True).T / x1.shape[1]  # (1, N2)
    else:
        k_in = (expected_fourier_kernel(x1, x2, fourier_scale=fourier_scale) if B is None
                else fourier_kernel(x1, x2, B))
        q_in = torch.full((x1.shape[0], 1), 0.5, dtype=x1.dtype, device=x1.device)
        r_in = torch.full((1, x2.shape[0]), 0.5, dtype=x1.dtype, device=x1.device)

    k, q, r = w2 * k_in + b2, w2 * q_in + b2, w2 * r_in + b2  # K_0 and its diagonals
    ntk = k
    mu1, mu2 = torch.zeros_like(q), torch.zeros_like(r)  # (N1, 1), (1, N2)
    opts = dict(method=method, n_quad=n_quad)
    for c, d in coefs:  # linear and quadratic block coefficients c_l, d_l
        if c == 0.0 and d == 0.0:
            continue
        s, sq, sr = w2 * k + b2, w2 * q + b2, w2 * r + b2  # Sigma_l
        e, de = _expectations(activation, sq, sr, s, **opts)
        eq = _expectations(activation, sq, sq, sq, **opts)[0]
        er = _expectations(activation, sr, sr, sr, **opts)[0]
        nu1, nu2 = _mean(activation, sq, **opts), _mean(activation, sr, **opts)
        ntk = ntk + d * de * (s + w2 * ntk)
        k = k + c * (mu1 * nu2 + nu1 * mu2) + d * e
        q = q + 2 * c * mu1 * nu1 + d * eq
        r = r + 2 * c * mu2 * nu2 + d * er
        mu1, mu2 = mu1 + c * nu1, mu2 + c * nu2
    nngp = w2 * k + b2
    return _symmetrized(nngp, nngp + w2 * ntk, x2_given)


def _symmetrized(nngp, ntk, x2_given):
    # 2-D quadrature treats u and v asymmetrically (errors ~1e-6): make K(x, x) exactly symmetric
    if x2_given:
        return nngp, ntk
    return (nngp + nngp.T) / 2, (ntk + ntk.T) / 2


# ----------------------------------------------------------------------------- from a model
def model_kernels(model, x1, x2=None, *, stochastic_depth="eval", method="auto",
                  n_quad=DEFAULT_N_QUAD):
    """Infinite-width (NNGP, NTK) of the architecture of ``model`` (an MLP, ResNet or ECRN in
    NTK parameterization), with its fixed Fourier matrix B and its current depth mask (or, by
    ``stochastic_depth``, the eval-mode or mask-averaged recursion of :func:`ecrn_kernels`).
    The empirical NTK of ``model.eval()`` converges to the returned NTK (default "eval") as
    the width grows. Shapes as in :func:`mlp_kernels`."""
    opts = dict(method=method, n_quad=n_quad)
    if getattr(model, "parameterization", None) == "ntk" and isinstance(model, MLP):
        return mlp_kernels(x1, x2, depth=model.depth, activation=model.activation,
                           w_std=model.w_std, b_std=model.b_std, **opts)
    if isinstance(model, ECRN) and model.config.parameterization == "ntk":
        cfg = model.config
        if cfg.trainable_fourier:
            raise InvalidParameterError("The 'model' parameter of model_kernels must have "
                                        "trainable_fourier=False (the limit assumes a fixed B). "
                                        "Got trainable_fourier=True instead.")
        B = model.embed.B.detach() if cfg.n_fourier > 0 else None
        return ecrn_kernels(x1, x2, depth=cfg.depth, alpha=model.alphas,
                            drop_prob=model.drop_probs, activation=cfg.activation,
                            fourier_scale=cfg.fourier_scale, n_fourier=cfg.n_fourier, B=B,
                            w_std=cfg.w_std, b_std=cfg.b_std, depth_mask=model.depth_mask,
                            stochastic_depth=stochastic_depth, **opts)
    raise InvalidParameterError(
        "The 'model' parameter of model_kernels must be an MLP, ResNet or ECRN with "
        f"parameterization='ntk'. Got {type(model).__name__} instead."
    )
