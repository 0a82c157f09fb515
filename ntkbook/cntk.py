r"""Infinite-width NNGP and NTK of ReLU convolutional networks (the CNTK), NTK parameterization.

The convolutional companion of :mod:`ntkbook.analytic` (Arora et al. 2019, "On exact
computation with an infinitely wide neural net"; Novak et al. 2019), with the conventions of
its MLP kernels: every layer is ``z = (w_std / sqrt(fan_in)) W * a + b_std b`` with W, b ~ N(0, 1)
(neural-tangents ``stax.Conv(.., (3, 3), padding='SAME', W_std, b_std,
parameterization='ntk')``). The network, :class:`ntkbook.convnet.ConvNet`, on images x of shape
(C, H, W) with P = H W pixels::

    z_1     = Conv3x3(x)                    fan_in = 9 C        (zero padding: SAME)
    z_{l+1} = Conv3x3(relu(z_l))            fan_in = 9 n        (n channels), l = 1 .. depth-1
    f       = Dense(flatten(relu(z_depth)))  fan_in = P n        readout="flatten"
    f       = Dense(mean_p relu(z_depth)_p)  fan_in = n          readout="gap" (global average pool)

As n -> inf each channel of z_l is a Gaussian process indexed by (image, pixel) with covariance
Sigma_l[p, p'] (x, x'), and with B_3 the 3x3 box sum over the pixel pair (p + d, p' + d),
d in {-1, 0, 1}^2, the padding contributing 0::

    Sigma_1[p, p']  = (w_std^2 / 9) B_3[ x_p . x'_p' / C ] + b_std^2                  Theta_1 = Sigma_1
    Sigma_{l+1}     = (w_std^2 / 9) B_3[ E[relu(u) relu(v)] ] + b_std^2                (u, v) ~ N(0, Sigma_l)
    Theta_{l+1}     = Sigma_{l+1} + (w_std^2 / 9) B_3[ E[relu'(u) relu'(v)] Theta_l ]
    flatten:  nngp  = w_std^2 mean_p E_p,p + b_std^2,        ntk = nngp + w_std^2 mean_p (E' Theta)_p,p
    gap:      nngp  = w_std^2 mean_p,p' E_p,p' + b_std^2,    ntk = nngp + w_std^2 mean_p,p' (E' Theta)_p,p'

with E, E' the arc-cosine expectations of :func:`ntkbook.analytic.gaussian_expectations`
(variances from the diagonal Sigma(x, x)[p, p] and Sigma(x', x')[p', p']).

Structure, and cost. B_3 only ever adds entries of the same pixel *offset* p' - p, so the
offset-0 entries Sigma[p, p] depend on offset-0 entries alone. The flatten readout reads only
those: its recursion keeps one value per pixel and pair, O(N1 N2 P depth) time and
O(b1 b2 P) memory for a block of b1 x b2 pairs. Global average pooling reads every pixel pair:
O(N1 N2 P^2 depth) time and O(b1 b2 P^2) memory. Measured on one CPU thread of a shared
2-core machine, float64, depth 4, symmetric kernels (half the pairs), 3-channel images:

    =================  =====================  ==========================================
    image size         flatten, N = 200       gap
    =================  =====================  ==========================================
    8 x 8   (P = 64)   0.75 s                 2.8 s at N = 50 (about 45 s at N = 200)
    16 x 16 (P = 256)  2.2 s                  1.3 s at N = 10 (about 9 min at N = 200)
    =================  =====================  ==========================================

so flatten grows by P (x 3 here: small blocks are cheaper per entry), gap by P^2 (x 16 per pair).
On a CPU the flatten readout is the practical one; global average pooling is for a GPU.

The pairs are processed in blocks whose working memory stays below ``max_memory`` bytes
(default :data:`DEFAULT_MAX_MEMORY`), or of ``block_size`` images a side. The computation runs
on the device and in the dtype of ``x1`` (float32 or float64; float64 is advised beyond a few
layers: float32 kernels differ by ~2e-5 relative at depth 3, arccos being ill-conditioned near rho = 1). Example::

    >>> x = torch.randn(6, 3, 8, 8, dtype=torch.float64)           # (N, C, H, W)
    >>> nngp, ntk = cntk_kernels(x, depth=3, readout="flatten")
    >>> ntk.shape                                                   # (N1, N2)
    torch.Size([6, 6])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ntkbook._validation import InvalidParameterError, check_finite, check_float, check_int, check_ints, check_option
from ntkbook._validation import check_optional_int

__all__ = ["cntk_kernels", "cntk_kernels_by_depth", "READOUTS", "DEFAULT_MAX_MEMORY", "block_memory"]

READOUTS = ("flatten", "gap")
# Working memory of one block of pairs, by device type. The recursion is a chain of elementwise
# passes, bound by memory traffic: on a CPU blocks that stay near the cache are fastest (16 MiB:
# 32 x 32 pairs of 16 x 16 images in float64, measured 2x faster than 128 x 128), on a GPU large
# blocks amortize the kernel launches (1 GiB).
DEFAULT_MAX_MEMORY = {"cpu": 2**24, "cuda": 2**30}
_BUFFERS = 8  # arrays of a block's size alive at once: Sigma, Theta, q r c broadcasts, E, E', scratch


def block_memory(b1: int, b2: int, n_pixels: int, readout: str, itemsize: int) -> int:
    """Bytes of working memory of one block of b1 x b2 pairs: _BUFFERS arrays of
    b1 b2 P (flatten) or b1 b2 P^2 (gap) entries."""
    per_pair = n_pixels if readout == "flatten" else n_pixels**2
    return _BUFFERS * b1 * b2 * per_pair * itemsize


def _images(x1, x2, owner):
    """(x1, x2) checked: 4-D floating tensors (N, C, H, W) with the same (C, H, W); x2 moved to
    x1's device and dtype (x2 defaults to x1, returned as None)."""
    if not isinstance(x1, torch.Tensor) or x1.dim() != 4 or not torch.is_floating_point(x1):
        raise InvalidParameterError(
            f"The 'x1' parameter of {owner} must be a 4-D floating torch.Tensor (N, C, H, W). Got "
            f"{type(x1).__name__} of shape {tuple(getattr(x1, 'shape', ()))} instead.")
    if x1.dtype not in (torch.float32, torch.float64):
        raise InvalidParameterError(f"The 'x1' parameter of {owner} must be float32 or float64. "
                                    f"Got {x1.dtype} instead.")
    check_finite(x1, "x1", owner)
    if x2 is None:
        return x1, None
    if not isinstance(x2, torch.Tensor) or x2.dim() != 4 or tuple(x2.shape[1:]) != tuple(x1.shape[1:]):
        raise InvalidParameterError(
            f"The 'x2' parameter of {owner} must be a 4-D torch.Tensor (N2, {', '.join(map(str, x1.shape[1:]))}) "
            f"like x1. Got shape {tuple(getattr(x2, 'shape', ()))} instead.")
    return x1, check_finite(x2.to(device=x1.device, dtype=x1.dtype), "x2", owner)


def _box(t, readout):
    """(w^2 / 9) B_3 without the w^2: the 3x3 mean over the pixel pair (p + d, p' + d), zero
    padding. flatten: t (b1, b2, H, W) -> same; gap: t (b1, b2, H, W, H, W) -> same."""
    if readout == "flatten":
        b1, b2, h, w = t.shape
        out = F.avg_pool2d(t.reshape(b1 * b2, 1, h, w), 3, stride=1, padding=1, count_include_pad=True)
        return out.reshape(b1, b2, h, w)
    h, w = t.shape[2], t.shape[3]
    pad = F.pad(t, (1, 1, 1, 1, 0, 0, 0, 0))  # pads the last two dims (H', W')
    pad = F.pad(pad.permute(0, 1, 4, 5, 2, 3), (1, 1, 1, 1)).permute(0, 1, 4, 5, 2, 3)  # and (H, W)
    out = torch.zeros_like(t)
    for di in range(3):
        for dj in range(3):
            out += pad[:, :, di:di + h, dj:dj + w, di:di + h, dj:dj + w]
    return out / 9.0


def _relu_moments(q, r, c):
    """E[relu(u) relu(v)] and E[relu'(u) relu'(v)] for (u, v) ~ N(0, [[q, c], [c, r]]), fused.

    The arc-cosine formulas of :func:`ntkbook.analytic.gaussian_expectations` rewritten with
    sqrt(q r) sin(theta) = sqrt(q r - c^2) and sqrt(q r) cos(theta) = c, so each entry costs one
    arccos, one sqrt and a few products (in place where possible): the recursion spends most of
    its time here. ``q`` and ``r`` broadcast against ``c`` and are positive (b_std > 0 or a
    non-zero pixel); a zero variance gives rho = 0, as the analytic kernels do.
    """
    s = torch.sqrt(q * r)  # broadcast shape of q r only
    inv = torch.where(s > 0, 1.0 / torch.where(s > 0, s, 1.0), 0.0)
    rho = (c * inv).clamp_(-1.0, 1.0)
    sin = torch.sqrt((1.0 - rho * rho).clamp_(min=0.0)).mul_(s)  # sqrt(q r) sin(theta)
    angle = torch.arccos(rho).neg_().add_(math.pi)  # pi - theta
    e = angle * c
    e.add_(sin).div_(2 * math.pi)
    return e, angle.div_(2 * math.pi)


def _diag_variances(x, depth, w2, b2):
    """Sigma_l(x, x)[p, p] for l = 1 .. depth, each (N, H, W): only offset 0 is needed."""
    n, c = x.shape[:2]
    k = x.square().sum(1) / c  # (N, H, W)
    out = []
    for _ in range(depth):
        s = w2 * F.avg_pool2d(k[:, None], 3, stride=1, padding=1, count_include_pad=True)[:, 0] + b2
        out.append(s)
        k = s / 2  # E[relu(u)^2] = q / 2
    return out


def _pin_diagonal(sigma, q, readout):
    """Set Sigma(x, x)[p, p] of a diagonal block (xa is xb) to the variances q (b, H, W).

    The einsum of a block and the variances sum in different orders; at rho = 1 - 1e-16 the
    arccos is 1.5e-8 instead of 0 (3e-4 in float32), so the pairs of an image with itself
    would carry a round-off error sqrt(eps) large. Pinned, they get rho = 1 exactly."""
    b = q.shape[0]
    if readout == "flatten":
        torch.diagonal(sigma, 0, 0, 1).copy_(q.permute(1, 2, 0))  # (H, W, b) view
    else:
        p = q.shape[1] * q.shape[2]
        torch.diagonal(torch.diagonal(sigma.view(b, b, p, p), 0, 0, 1), 0, 0, 1).copy_(q.reshape(b, p))


def _block(xa, xb, qa, qb, depths, readout, w2, b2, same=False):
    """(nngp, ntk) of the pairs xa (b1, C, H, W) x xb (b2, C, H, W) for every depth in
    ``depths`` (sorted): dict depth -> ((b1, b2), (b1, b2)). qa, qb: _diag_variances lists;
    ``same``: xa is xb (a diagonal block of a symmetric kernel)."""
    c = xa.shape[1]
    if readout == "flatten":
        k = torch.einsum("achw,bchw->abhw", xa, xb) / c  # (b1, b2, H, W) channel-mean products
    else:
        k = torch.einsum("achw,bcij->abhwij", xa, xb) / c  # (b1, b2, H, W, H, W)
    sigma = w2 * _box(k, readout) + b2
    theta = sigma
    out = {}
    for layer in range(1, max(depths) + 1):
        q, r = qa[layer - 1], qb[layer - 1]  # (b1, H, W), (b2, H, W)
        if same:
            _pin_diagonal(sigma, q, readout)
        if readout == "flatten":
            q, r = q[:, None], r[None]  # (b1, 1, H, W), (1, b2, H, W)
        else:
            q, r = q[:, None, :, :, None, None], r[None, :, None, None]  # (b1,1,H,W,1,1), (1,b2,1,1,H,W)
        e, de = _relu_moments(q, r, sigma)
        dt = de * theta
        if layer in depths:  # the readout of a network with `layer` conv layers
            dims = tuple(range(2, e.dim()))
            nngp = w2 * e.mean(dims) + b2
            out[layer] = (nngp, nngp + w2 * dt.mean(dims))
        if layer < max(depths):
            sigma = w2 * _box(e, readout) + b2
            theta = sigma + w2 * _box(dt, readout)
    return out


def cntk_kernels_by_depth(x1, x2=None, *, depths, readout="flatten", w_std=1.0, b_std=0.1, block_size=None,
                          max_memory=None):
    """(NNGP, NTK) of :class:`ntkbook.convnet.ConvNet` for several depths in one recursion.

    The readout of a network with l conv layers reads the recursion at layer l, so the kernels
    of every depth up to max(depths) cost what the deepest one costs. Arguments as in
    :func:`cntk_kernels`; ``depths`` a non-empty sequence of ints >= 1. Returns a dict
    depth -> (nngp, ntk), each (N1, N2) in the dtype and on the device of ``x1``.
    """
    owner = "cntk_kernels_by_depth"
    return _compute(x1, x2, check_ints(depths, "depths", owner), readout, w_std, b_std, block_size, max_memory,
                    owner)


def _compute(x1, x2, depths, readout, w_std, b_std, block_size, max_memory, owner):
    """The checked computation behind both public functions (``depths``: checked ints)."""
    depths = sorted(set(depths))
    check_option(readout, "readout", owner, READOUTS)
    w2 = check_float(w_std, "w_std", owner) ** 2
    b2 = check_float(b_std, "b_std", owner) ** 2
    block_size = check_optional_int(block_size, "block_size", owner)
    max_memory = check_optional_int(max_memory, "max_memory", owner)
    x1, x2 = _images(x1, x2, owner)
    symmetric = x2 is None
    xb_all = x1 if symmetric else x2
    n1, n2 = len(x1), len(xb_all)
    n_pixels = x1.shape[2] * x1.shape[3]
    if block_size is None:
        budget = DEFAULT_MAX_MEMORY.get(x1.device.type, 2**24) if max_memory is None else max_memory
        per = block_memory(1, 1, n_pixels, readout, x1.element_size())
        block_size = max(1, int(math.isqrt(max(1, budget // per))))
    L = max(depths)
    qa = _diag_variances(x1, L, w2, b2)
    qb = qa if symmetric else _diag_variances(xb_all, L, w2, b2)
    out = {d: (x1.new_empty(n1, n2), x1.new_empty(n1, n2)) for d in depths}
    for i in range(0, n1, block_size):
        ia = slice(i, min(i + block_size, n1))
        for j in range(i if symmetric else 0, n2, block_size):
            jb = slice(j, min(j + block_size, n2))
            res = _block(x1[ia], xb_all[jb], [q[ia] for q in qa], [q[jb] for q in qb], depths, readout, w2, b2,
                         same=symmetric and i == j)
            for d, (nngp, ntk) in res.items():
                out[d][0][ia, jb], out[d][1][ia, jb] = nngp, ntk
                if symmetric and j != i:
                    out[d][0][jb, ia], out[d][1][jb, ia] = nngp.T, ntk.T
    if symmetric:  # the diagonal blocks: exactly symmetric
        out = {d: ((a + a.T) / 2, (b + b.T) / 2) for d, (a, b) in out.items()}
    return out


def cntk_kernels(x1, x2=None, *, depth, readout="flatten", w_std=1.0, b_std=0.1, block_size=None, max_memory=None):
    """Infinite-width (NNGP, NTK) of a ReLU CNN with 3x3 SAME convolutions (module docstring).

    Parameters
    ----------
    x1 : torch.Tensor, shape (N1, C, H, W), float32 or float64
    x2 : torch.Tensor, shape (N2, C, H, W), optional (defaults to x1; the result is then
        exactly symmetric and only the blocks on and above the diagonal are computed)
    depth : int >= 1, number of conv layers (each followed by relu) before the readout
    readout : {"flatten", "gap"}, default "flatten"
        A Dense layer on the flattened last feature map (O(N1 N2 P depth)) or on its global
        average over pixels (O(N1 N2 P^2 depth)).
    w_std, b_std : float >= 0, of every layer
    block_size : int >= 1, optional; images per block side (default: from ``max_memory``)
    max_memory : int >= 1, optional; bytes of working memory per block (default
        :data:`DEFAULT_MAX_MEMORY` of x1's device type), see :func:`block_memory`

    Returns
    -------
    nngp, ntk : torch.Tensor, shape (N1, N2), in x1's dtype and on x1's device

    A 1 x 1 image sees only the centre tap of each 3x3 filter, out of a fan-in of 9 C: the
    network is an MLP whose hidden layers have w_std / 3, hence
    ``cntk = 9 * mlp_kernels(w_std=w_std / 3) - 8 b_std^2`` for both readouts.
    """
    owner = "cntk_kernels"
    depth = check_int(depth, "depth", owner)
    return _compute(x1, x2, [depth], readout, w_std, b_std, block_size, max_memory, owner)[depth]
