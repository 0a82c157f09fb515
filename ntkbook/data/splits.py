"""Seeded train/test splits and standardization fitted on the training split.

* :func:`_stratified_indices` draws ``n`` indices whose class counts are as equal to the
  class proportions as integers allow (largest-remainder allocation), seeded by the
  generator it is given; O(n_total) time and memory.
* :func:`_standardize` maps both splits by (x - mean_train) / std_train, the statistics
  taken over ``axis`` of the training split only (a constant feature keeps std 1), so no
  test statistic leaks into the inputs.
* :func:`_split_tabular` turns a table (``x`` of shape (n_total, d), ``y`` of shape
  (n_total,)) into a :class:`~ntkbook.data.dataset.Dataset`: stratified for classification,
  a seeded permutation for regression, with the statistics and the chosen row indices in
  ``extras`` (``x_mean``, ``x_std``, ``y_mean``, ``y_std``, ``train_index``, ``test_index``).

The same seed gives the same split.
"""

from __future__ import annotations

import numpy as np

from ntkbook._validation import check_float, check_int, fail
from ntkbook.data.dataset import DataError, Dataset, _labels, _tensor

__all__ = ["hold_out_validation"]


def _resolve_sizes(name: str, n_total: int, n_train, n_test, test_fraction: float):
    """(n_train, n_test) from the requested sizes (checked ints or None) and the data's size."""
    if n_train is None and n_test is None:
        n_test = int(round(n_total * test_fraction))
        n_train = n_total - n_test
    elif n_train is None:
        n_train = n_total - n_test
    elif n_test is None:
        n_test = n_total - n_train
    if n_train > n_total:
        raise DataError(f"{name}: n_train={n_train} is larger than the {n_total} examples "
                        f"that exist")
    if n_train + n_test > n_total:
        raise DataError(f"{name}: n_train + n_test = {n_train + n_test} is larger than the "
                        f"{n_total} examples that exist")
    if n_train <= 0:
        raise DataError(f"{name}: no training examples left (n_test={n_test} of {n_total})")
    return int(n_train), int(n_test)


def _stratified_indices(labels: np.ndarray, n: int, rng: np.random.Generator,
                        exclude: np.ndarray | None = None) -> np.ndarray:
    """Pick ``n`` indices with class proportions as equal as the data allow (seeded)."""
    avail = np.ones(len(labels), bool)
    if exclude is not None:
        avail[exclude] = False
    classes = np.unique(labels)
    pools = {c: rng.permutation(np.flatnonzero((labels == c) & avail)) for c in classes}
    total = sum(len(p) for p in pools.values())
    if n > total:
        raise DataError(f"asked for {n} examples but only {total} are available")
    # proportional allocation (largest remainder), capped by availability
    counts = np.array([len(pools[c]) for c in classes], float)
    quota = counts / counts.sum() * n
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[i] += 1
    chosen = np.concatenate([pools[c][:k] for c, k in zip(classes, take)])
    return rng.permutation(chosen)


def _standardize(train: np.ndarray, test: np.ndarray, axis=0):
    """(train - m) / s and (test - m) / s with m, s the mean and std of ``train`` over ``axis``
    (kept as size-1 dimensions; a zero std becomes 1); returns (train, test, m, s)."""
    mean = train.mean(axis=axis, keepdims=True)
    std = train.std(axis=axis, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std, mean, std


def _check_fraction(test_fraction, owner: str) -> None:
    check_float(test_fraction, "test_fraction", owner, 0.0, 1.0, high_open=True)


def _split_tabular(name, x, y, *, task, n_train, n_test, seed, test_fraction, standardize,
                   standardize_y, device, dtype, feature_names, source, n_classes=None,
                   notes="", extras=None):
    """A seeded train/test split of the table (x (n_total, d), y (n_total,)) as a Dataset.

    Classification splits are stratified (:func:`_stratified_indices`, the test split drawn
    from the rows left over), regression splits a seeded permutation; the sizes follow
    :func:`_resolve_sizes`. Inputs, and regression targets when ``standardize_y``, are
    standardized with training statistics.
    """
    n_total = len(x)
    n_train, n_test = _resolve_sizes(name, n_total, n_train, n_test, test_fraction)
    rng = np.random.default_rng(seed)
    if task == "classification":
        tr = _stratified_indices(y, n_train, rng)
        te = _stratified_indices(y, n_test, rng, exclude=tr) if n_test else np.array([], int)
    else:
        perm = rng.permutation(n_total)
        tr, te = perm[:n_train], perm[n_train:n_train + n_test]
    x_tr, x_te = x[tr].astype(float), x[te].astype(float)
    extras = dict(extras or {})
    extras.update({"train_index": tr, "test_index": te})
    if standardize:
        x_tr, x_te, m, s = _standardize(x_tr, x_te)
        extras.update({"x_mean": m.ravel(), "x_std": s.ravel()})
    if task == "classification":
        return Dataset(_tensor(x_tr, device, dtype), _labels(y[tr], device),
                       _tensor(x_te, device, dtype), _labels(y[te], device), task, n_classes,
                       list(feature_names), source, name, notes, extras)
    y_tr, y_te = y[tr].reshape(-1, 1).astype(float), y[te].reshape(-1, 1).astype(float)
    if standardize_y:
        y_tr, y_te, m, s = _standardize(y_tr, y_te)
        extras.update({"y_mean": m.ravel(), "y_std": s.ravel()})
    return Dataset(_tensor(x_tr, device, dtype), _tensor(y_tr, device, dtype),
                   _tensor(x_te, device, dtype), _tensor(y_te, device, dtype), task, None,
                   list(feature_names), source, name, notes, extras)


def hold_out_validation(data, n_val: int):
    """The :class:`ntkbook.data.Dataset` that training sees when the last ``n_val`` training
    points are held out for validation: the other training points as its train split, the
    held-out ones as its test split (so :func:`ntkbook.train.train` reports the validation
    error as "test"). The test set of ``data`` is not in it. For the sinusoid task the
    training inputs are independent draws, so the last ``n_val`` are a random subset.
    """
    owner = "hold_out_validation"
    if not isinstance(data, Dataset):
        fail("data", owner, "an ntkbook.data.Dataset", type(data).__name__)
    n = len(data.x_train)
    n_val = check_int(n_val, "n_val", owner, low=1, high=max(1, n - 2))
    return Dataset(data.x_train[:-n_val], data.y_train[:-n_val], data.x_train[-n_val:], data.y_train[-n_val:],
                   data.task, data.n_classes, list(data.feature_names),
                   f"{data.source}; the last {n_val} of its {n} training points held out for validation",
                   data.name)
