"""Boston Housing (506 x 13, target ``medv``): its published file and digest, and its loader.

The CSV is read from the data directory (the prepared offline copy or an earlier download)
or downloaded from :data:`BOSTON_URL`, and must have the SHA-256 :data:`BOSTON_SHA256`.
The ``b`` column encodes the proportion of Black residents by town (:data:`BOSTON_NOTE`); the
loader keeps it by default, to reproduce published numbers, and ``drop_b=True`` leaves it out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ntkbook._validation import check_bool
from ntkbook.data.dataset import _check_common, _owner
from ntkbook.data.files import CorruptFileError, _check_digest, _fetch
from ntkbook.data.splits import _check_fraction, _split_tabular

__all__ = ["BOSTON_COLUMNS", "BOSTON_FILE", "BOSTON_NOTE", "BOSTON_SHA256", "BOSTON_URL"]

BOSTON_FILE = "boston_housing.csv"
# A public CSV copy of the StatLib Boston Housing data (506 rows, header quoted, `chas` quoted).
BOSTON_URL = "https://raw.githubusercontent.com/selva86/datasets/master/BostonHousing.csv"
BOSTON_SHA256 = "ab16ba38fbbbbcc69fe930aab1293104f1442c8279c130d9eba03dd864bef675"
BOSTON_COLUMNS = ["crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax",
                  "ptratio", "b", "lstat", "medv"]

BOSTON_NOTE = (
    "Boston Housing has a known ethical problem: its `b` column, 1000(Bk - 0.63)^2, encodes "
    "the proportion of Black residents by town and was built on the assumption that racial "
    "self-segregation affects house prices."
)


def _read_boston_csv(path: Path) -> "tuple[np.ndarray, np.ndarray, list[str]]":
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types on garbage
        raise CorruptFileError(f"{path} is not a readable CSV ({exc}); delete it and retry") from exc
    df.columns = [str(c).strip().strip('"').lower() for c in df.columns]
    missing = [c for c in BOSTON_COLUMNS if c not in df.columns]
    if missing:
        raise CorruptFileError(f"{path}: missing Boston Housing columns {missing}; delete it "
                               f"and retry")
    try:
        values = df[BOSTON_COLUMNS].astype(float).to_numpy()
    except (TypeError, ValueError) as exc:
        raise CorruptFileError(f"{path}: non-numeric Boston Housing values ({exc})") from exc
    if not np.isfinite(values).all():
        raise CorruptFileError(f"{path}: Boston Housing values are missing or not finite")
    return values[:, :-1], values[:, -1], BOSTON_COLUMNS[:-1]


def _boston(*, n_train=None, n_test=None, seed=0, device=None, dtype=torch.float32,
            drop_b=False, test_fraction=0.2, standardize=True, standardize_y=True,
            verify=True, download=True):
    """Boston Housing (506 x 13), target ``medv`` (median value, $1000s).

    Ethical note: the ``b`` column, 1000(Bk - 0.63)^2,
    encodes the proportion of Black residents by town; the data set's authors built it on the
    assumption that racial self-segregation affects house prices. It is kept by default to reproduce published
    numbers; ``drop_b=True`` leaves it out (12 features). The book says so wherever the data
    set is used.

    The file ``boston_housing.csv`` is read from the data directory (the prepared offline copy
    or an earlier download) or downloaded from :data:`BOSTON_URL`; either way its SHA-256 must
    equal :data:`BOSTON_SHA256` (``verify=False`` skips the check for a local variant).
    Split: seeded random, 20 % test by default; inputs and (by default) the target are
    standardized with training statistics (``extras["y_mean"]``, ``["y_std"]`` undo it).
    """
    owner = _owner("boston")
    n_train, n_test, seed = _check_common("boston", n_train, n_test, seed, dtype)
    _check_fraction(test_fraction, owner)
    for flag, value in (("drop_b", drop_b), ("standardize", standardize),
                        ("standardize_y", standardize_y), ("verify", verify), ("download", download)):
        check_bool(value, flag, owner)
    path, fetched = _fetch(BOSTON_FILE, BOSTON_URL, sha256=BOSTON_SHA256, what="Boston Housing",
                           download_allowed=download)
    if verify:
        _check_digest(path, sha256=BOSTON_SHA256)
    x, y, names = _read_boston_csv(path)
    if drop_b:
        keep = [i for i, n in enumerate(names) if n != "b"]
        x, names = x[:, keep], [names[i] for i in keep]
    where = (f"downloaded now from {BOSTON_URL}" if fetched
             else f"{BOSTON_FILE} in the data directory (a copy of {BOSTON_URL})")
    source = (f"Boston Housing (StatLib data), {where}, sha256 "
              f"{'verified' if verify else 'not checked'}"
              + ("; column b dropped" if drop_b else "; column b kept"))
    return _split_tabular(
        "boston", x, y, task="regression", n_train=n_train, n_test=n_test, seed=seed,
        test_fraction=test_fraction, standardize=standardize, standardize_y=standardize_y,
        device=device, dtype=dtype, feature_names=names, source=source,
        notes=BOSTON_NOTE + (" This load leaves it out (drop_b=True)." if drop_b
                             else " Pass drop_b=True to leave it out."),
        extras={"path": str(path)},
    )
