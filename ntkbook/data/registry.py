"""The one place that says which name loads which data set: :data:`DATASETS` and :func:`load_dataset`.

:func:`load_dataset` checks the name and the keyword arguments against the loader's own
signature, so a misspelt argument is an error naming the loader's parameters rather than
silently ignored; the loader then checks the values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from ntkbook._validation import InvalidParameterError, fail
from ntkbook.data.boston import _boston
from ntkbook.data.cifar import _cifar10
from ntkbook.data.dataset import Dataset
from ntkbook.data.synthetic import _gaussian_mixture, _sinusoids
from ntkbook.data.tabular import _iris, _wine

__all__ = ["DATASETS", "load_dataset"]


DATASETS: dict[str, Callable[..., Dataset]] = {
    "sinusoids": _sinusoids,
    "gaussian_mixture": _gaussian_mixture,
    "iris": _iris,
    "wine": _wine,
    "boston": _boston,
    "cifar10": _cifar10,
}


_COMMON = ("n_train", "n_test", "seed", "device", "dtype")  # every loader takes these


def load_dataset(name: str, *, n_train: int | None = None, n_test: int | None = None,
                 seed: int = 0, device=None, dtype: torch.dtype = torch.float32,
                 **kwargs) -> Dataset:
    """Load a dataset by name; see :mod:`ntkbook.data` for the conventions.

    Names and their extra keyword arguments:

    * ``"sinusoids"``: frequencies, amplitudes, phases, noise, dim, test_grid.
    * ``"gaussian_mixture"``: n_classes (5), dim (2), separation, spread, means.
    * ``"iris"``, ``"wine"``: test_fraction, standardize.
    * ``"boston"``: drop_b (False; the ``b`` column encodes the proportion of Black residents,
      see :func:`ntkbook.data.boston._boston`), test_fraction, standardize, standardize_y, verify, download.
    * ``"cifar10"``: flatten (True), download, standardize, verify.

    Raises :class:`ntkbook._validation.InvalidParameterError` (a ValueError) for an unknown
    name or keyword, or a bad argument, naming it; :class:`DataError` for sizes larger than what
    exists or labels that do not match inputs; :class:`DataNotFoundError` when a file is missing
    and cannot be downloaded; :class:`ChecksumError` / :class:`CorruptFileError` for bad files.
    """
    if not isinstance(name, str) or name.lower() not in DATASETS:
        fail("name", "load_dataset", f"a str among {sorted(DATASETS)}", name)
    loader = DATASETS[name.lower()]
    known = [p for p in inspect.signature(loader).parameters if p not in _COMMON]
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise InvalidParameterError(f"load_dataset({name!r}) has no parameter {unknown[0]!r}; its own "
                                    f"parameters are {known}.")
    return loader(n_train=n_train, n_test=n_test, seed=seed, device=device, dtype=dtype, **kwargs)
