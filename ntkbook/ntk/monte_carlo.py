"""The NTK of a stochastic-depth network averaged over its depth masks, E_m[Theta_m], by Monte Carlo.

The model implements the stochastic-depth contract of :mod:`ntkbook.ntk`
(``sample_depth_mask(generator)`` and ``set_depth_mask(mask)``); each mask gives a fixed
network, whose NTK :func:`~ntkbook.ntk.empirical_ntk` computes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ntkbook._validation import InvalidParameterError, check_int, check_seed
from ntkbook.ntk.empirical import empirical_ntk

__all__ = ["expected_ntk", "ExpectedNTK"]


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
        raise InvalidParameterError(
            f"The 'model' parameter of {owner} must implement sample_depth_mask(generator) and set_depth_mask(mask) "
            f"(the stochastic-depth contract in ntkbook.ntk). {type(model).__name__} does not.")
    n_samples = check_int(n_samples, "n_samples", owner, low=2)  # two at least, for a standard error
    seed = check_seed(seed, "seed", owner)
    if "depth_mask" in kwargs:
        raise InvalidParameterError(f"The 'depth_mask' parameter is not one of {owner}'s: it draws its own masks.")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    mean = m2 = None
    for i in range(1, n_samples + 1):
        mask = model.sample_depth_mask(gen)
        th = empirical_ntk(model, x1, x2, depth_mask=mask, **kwargs)
        out_dtype = th.dtype
        th = th.to(torch.float64)
        if mean is None:
            mean, m2 = th.clone(), torch.zeros_like(th)
        else:  # Welford
            d = th - mean
            mean += d / i
            m2 += d * (th - mean)
    var = m2 / (n_samples - 1)
    return ExpectedNTK(mean.to(out_dtype), (var / n_samples).sqrt().to(out_dtype), n_samples)
