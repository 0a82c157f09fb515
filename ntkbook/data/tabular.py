"""scikit-learn's bundled tables: ``iris`` (150 x 4, 3 classes) and ``wine`` (178 x 13, 3 classes).

Each is read with ``sklearn.datasets.load_<name>()`` (no download) and split by
:func:`ntkbook.data.splits._split_tabular`: stratified and seeded, 30 % test by default,
inputs standardized with training statistics.
"""

from __future__ import annotations

import numpy as np
import torch

from ntkbook._validation import check_bool
from ntkbook.data.dataset import _check_common, _owner
from ntkbook.data.splits import _check_fraction, _split_tabular

__all__: list[str] = []


def _sklearn_set(loader_name, pretty):
    """The loader of ``sklearn.datasets.<loader_name>``, named ``pretty`` in messages."""
    def load(*, n_train=None, n_test=None, seed=0, device=None, dtype=torch.float32,
             test_fraction=0.3, standardize=True):
        import sklearn
        from sklearn import datasets as skd

        n_train, n_test, seed = _check_common(pretty, n_train, n_test, seed, dtype)
        _check_fraction(test_fraction, _owner(pretty))
        check_bool(standardize, "standardize", _owner(pretty))

        bunch = getattr(skd, loader_name)()
        x, y = np.asarray(bunch.data, float), np.asarray(bunch.target, int)
        source = (f"scikit-learn {sklearn.__version__} bundled copy "
                  f"(sklearn.datasets.{loader_name})")
        return _split_tabular(
            pretty, x, y, task="classification", n_train=n_train, n_test=n_test, seed=seed,
            test_fraction=test_fraction, standardize=standardize, standardize_y=False,
            device=device, dtype=dtype, feature_names=list(bunch.feature_names), source=source,
            n_classes=len(bunch.target_names),
            extras={"class_names": [str(c) for c in bunch.target_names]},
        )

    load.__doc__ = (f"{pretty}: scikit-learn's bundled copy, a seeded stratified split "
                    f"(default 30 % test), inputs standardized with train statistics.")
    return load


_iris = _sklearn_set("load_iris", "iris")
_wine = _sklearn_set("load_wine", "wine")
