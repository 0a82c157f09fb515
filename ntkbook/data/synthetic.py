"""Synthetic tasks: a sum of sinusoids (regression) and a Gaussian mixture (classification).

* ``sinusoids``: y = sum_k a_k sin(2 pi f_k <w_k, x> + phi_k) + noise on [0, 1]^dim, the
  task of the spectral-bias chapters; :func:`frequency_errors` measures a prediction's
  error in each mode k by least squares on the basis {1, sin, cos}_k, O(n K^2) for K modes.
* ``gaussian_mixture``: class c ~ N(mu_c, spread^2 I), balanced.

Both are drawn with ``numpy.random.default_rng(seed)``: the same seed gives the same data.

Example::

    >>> from ntkbook.data import frequency_errors, load_dataset
    >>> ds = load_dataset("sinusoids", n_train=32, n_test=64, frequencies=(1, 8),
    ...                   amplitudes=(1.0, 0.5))
    >>> ds.x_train.shape, ds.extras["components_test"].shape   # (n, dim), (n_test, K)
    (torch.Size([32, 1]), torch.Size([64, 2]))
    >>> bool(frequency_errors(ds, ds.y_test)["relative_error"].max() < 1e-5)   # a perfect prediction
    True
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from ntkbook._validation import check_bool, check_float, check_floats, check_int, check_option, fail
from ntkbook.data.dataset import DataError, Dataset, _check_common, _labels, _owner, _tensor

__all__ = ["frequency_errors"]


def _finite_values(values, name: str, owner: str) -> np.ndarray:
    """A finite real or a non-empty sequence of them, as a 1-D float array."""
    seq = [values] if isinstance(values, numbers.Real) and not isinstance(values, bool) else values
    return np.asarray(check_floats(seq, name, owner, -math.inf), float)


def _sinusoids(*, n_train=None, n_test=None, seed=0, device=None, dtype=torch.float32,
               frequencies=(1.0, 10.0), amplitudes=(1.0, 0.5), phases=None, noise=0.05,
               dim=1, test_grid=True):
    """Sum of sinusoidal modes: y = sum_k a_k sin(2 pi f_k <w_k, x> + phi_k) + noise.

    Inputs are uniform on [0, 1]^dim (training inputs drawn with ``seed``); for ``dim == 1``
    and ``test_grid`` the test inputs are an evenly spaced grid on [0, 1] (for plots), else
    uniform draws. ``w_k`` is 1 for ``dim == 1`` and a seeded random unit vector otherwise, so
    f_k is the number of cycles per unit length along w_k. Noise (Gaussian, std ``noise``) is
    added to the training targets only; test targets are the clean function. The per-mode
    clean components are in ``extras["components_train"]`` / ``["components_test"]``
    (shape (n, K)), and :func:`frequency_errors` measures a prediction's error per mode.
    """
    owner = _owner("sinusoids")
    n_train, n_test, seed = _check_common("sinusoids", n_train, n_test, seed, dtype)
    n_train = 256 if n_train is None else n_train
    n_test = 512 if n_test is None else n_test
    freqs = _finite_values(frequencies, "frequencies", owner)
    amps = _finite_values(amplitudes, "amplitudes", owner)
    if freqs.shape != amps.shape:
        raise DataError(f"sinusoids: {len(freqs)} frequencies but {len(amps)} amplitudes")
    phis = np.zeros_like(freqs) if phases is None else _finite_values(phases, "phases", owner)
    if phis.shape != freqs.shape:
        raise DataError("sinusoids: phases must have one entry per frequency")
    check_float(noise, "noise", owner)
    dim = check_int(dim, "dim", owner)
    check_bool(test_grid, "test_grid", owner)
    rng = np.random.default_rng(seed)
    if dim == 1:
        directions = np.ones((len(freqs), 1))
    else:
        directions = rng.standard_normal((len(freqs), dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    x_train = rng.uniform(0.0, 1.0, size=(n_train, dim))
    if dim == 1 and test_grid:
        x_test = np.linspace(0.0, 1.0, n_test).reshape(-1, 1)
    else:
        x_test = rng.uniform(0.0, 1.0, size=(n_test, dim))

    def components(x):
        return amps * np.sin(2 * np.pi * freqs * (x @ directions.T) + phis)

    c_train, c_test = components(x_train), components(x_test)
    y_train = c_train.sum(1, keepdims=True) + noise * rng.standard_normal((n_train, 1))
    y_test = c_test.sum(1, keepdims=True)
    source = (f"generated: sum of {len(freqs)} sinusoids, frequencies {freqs.tolist()}, "
              f"amplitudes {amps.tolist()}, noise std {noise}, dim {dim}, seed {seed}")
    extras = {
        "frequencies": freqs, "amplitudes": amps, "phases": phis, "directions": directions,
        "noise": noise,
        "components_train": _tensor(c_train, device, dtype),
        "components_test": _tensor(c_test, device, dtype),
    }
    return Dataset(_tensor(x_train, device, dtype), _tensor(y_train, device, dtype),
                   _tensor(x_test, device, dtype), _tensor(y_test, device, dtype),
                   "regression", None, [f"x{i}" for i in range(dim)], source, "sinusoids",
                   extras=extras)


def frequency_errors(data: Dataset, prediction, split: str = "test"):
    """Error of a prediction in each frequency component of the sinusoid task.

    The prediction is projected by least squares onto the span of
    ``{1, sin(2 pi f_k <w_k,x>), cos(2 pi f_k <w_k,x>)}_k`` on the split's inputs; the part
    along mode k is compared with the true component a_k sin(2 pi f_k <w_k,x> + phi_k).
    Returns a DataFrame with columns frequency, amplitude, relative_error
    (||pred_k - true_k|| / ||true_k||) and captured (the fraction of the mode's amplitude
    recovered, <pred_k, true_k>/||true_k||^2).
    """
    import pandas as pd

    check_option(split, "split", "frequency_errors", ("train", "test"))
    if "frequencies" not in data.extras:
        raise DataError("frequency_errors needs a dataset from load_dataset('sinusoids')")
    x = getattr(data, f"x_{split}").detach().cpu().double().numpy()
    comp = data.extras[f"components_{split}"].detach().cpu().double().numpy()
    pred = torch.as_tensor(prediction).detach().cpu().double().numpy().reshape(len(x), -1)[:, 0]
    f, w, phi = data.extras["frequencies"], data.extras["directions"], data.extras["phases"]
    arg = 2 * np.pi * f * (x @ w.T)
    basis = np.concatenate([np.ones((len(x), 1)), np.sin(arg), np.cos(arg)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, pred, rcond=None)
    k = len(f)
    rows = []
    for i in range(k):
        part = coef[1 + i] * np.sin(arg[:, i]) + coef[1 + k + i] * np.cos(arg[:, i])
        true = comp[:, i]
        norm2 = float(true @ true)
        rows.append({
            "frequency": float(f[i]), "amplitude": float(data.extras["amplitudes"][i]),
            "relative_error": float(np.sqrt(((part - true) ** 2).sum() / norm2)),
            "captured": float(part @ true / norm2),
        })
    return pd.DataFrame(rows)


def _gaussian_mixture(*, n_train=None, n_test=None, seed=0, device=None, dtype=torch.float32,
                      n_classes=5, dim=2, separation=3.0, spread=1.0, means=None):
    """A balanced Gaussian mixture: class c ~ N(mu_c, spread^2 I).

    Means are given (``means``, shape (n_classes, dim)) or drawn once with ``seed`` as
    ``separation`` times random unit vectors. Labels are balanced and shuffled.
    """
    owner = _owner("gaussian_mixture")
    n_train, n_test, seed = _check_common("gaussian_mixture", n_train, n_test, seed, dtype)
    n_train = 500 if n_train is None else n_train
    n_test = 500 if n_test is None else n_test
    n_classes = check_int(n_classes, "n_classes", owner, low=2)
    dim = check_int(dim, "dim", owner)
    check_float(separation, "separation", owner)
    check_float(spread, "spread", owner)
    rng = np.random.default_rng(seed)
    if means is None:
        mu = rng.standard_normal((n_classes, dim))
        mu = separation * mu / np.linalg.norm(mu, axis=1, keepdims=True)
    else:
        mu = np.asarray(means, float)
        if mu.shape != (n_classes, dim):
            raise DataError(f"gaussian_mixture: means must have shape ({n_classes}, {dim}), "
                            f"got {mu.shape}")
        if not np.isfinite(mu).all():
            fail("means", owner, "an (n_classes, dim) array of finite values", means)

    def draw(n):
        y = rng.permutation(np.arange(n) % n_classes)
        return mu[y] + spread * rng.standard_normal((n, dim)), y

    x_tr, y_tr = draw(n_train)
    x_te, y_te = draw(n_test)
    source = (f"generated: {n_classes}-class Gaussian mixture in {dim} dimensions, "
              f"separation {separation}, spread {spread}, seed {seed}")
    return Dataset(_tensor(x_tr, device, dtype), _labels(y_tr, device),
                   _tensor(x_te, device, dtype), _labels(y_te, device), "classification",
                   n_classes, [f"x{i}" for i in range(dim)], source, "gaussian_mixture",
                   extras={"means": mu, "spread": spread})
