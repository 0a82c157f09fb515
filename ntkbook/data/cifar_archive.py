"""CIFAR-10 beyond the 5,000-image pool: stratified draws from the official 50,000 / 10,000 images.

The chapters read CIFAR-10 from the fixed 5,000-train / 1,000-test pool of
:mod:`ntkbook.data.cifar`. Training sizes above it (25,000, 50,000) need the official python
archive itself, which this module reads through the pool's own download path: the file name
:data:`~ntkbook.data.cifar.CIFAR_ARCHIVE` in the data directory, fetched from
:data:`~ntkbook.data.cifar.CIFAR_URL` when it is missing and downloads are allowed, verified
against :data:`~ntkbook.data.cifar.CIFAR_MD5`, and parsed by the pool's restricted reader. The
constants are read from :mod:`ntkbook.data.cifar` at call time, so a test that replaces one
there is seen here.

:func:`load_cifar_archive` draws ``n_train`` of the 50,000 training images and ``n_test`` of the
10,000 test images, stratified by class with ``seed``, scales the pixels to [0, 1] and
standardizes them per channel with training statistics, as the pool's loader does; it returns
flattened (n, 3072) inputs by default. Without the archive and without a network it raises
:class:`~ntkbook.data.DataNotFoundError` with the pool loader's message (which file, which
directory, which URL).

This module is not imported by :mod:`ntkbook.data`: the chapters that read only the pool do not
depend on it. :func:`registered` makes :func:`ntkbook.data.load_dataset` know it as
:data:`ARCHIVE_DATASET` inside a ``with`` block, so that the runs of
:mod:`ntkbook.experiments.runs` (and their cache) work on it unchanged.

Cost: the first load in a process reads and checks the 170 MB archive (its MD5, then the six
pickled batches: about 180 MB of pixels in memory, kept for the next load of the same file);
each load then converts n images to floats, 3,072 numbers each (1.2 GB for 50,000 in float64,
half in float32, the dtype the work is done in).

Example::

    >>> data = load_cifar_archive(n_train=25000, n_test=1000, download=False)   # doctest: +SKIP
    >>> data.x_train.shape                                                       # doctest: +SKIP
    torch.Size([25000, 3072])
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import numpy as np
import torch

from ntkbook._validation import check_bool
from ntkbook.data import cifar as _pool
from ntkbook.data.dataset import DataError, Dataset, _check_common, _labels, _owner, _tensor

__all__ = ["ARCHIVE_DATASET", "ARCHIVE_TRAIN", "ARCHIVE_TEST", "load_cifar_archive", "registered"]

ARCHIVE_DATASET = "cifar10_archive"  # the name load_dataset knows it by inside registered()
ARCHIVE_TRAIN, ARCHIVE_TEST = 50_000, 10_000  # the official release's training and test images


@functools.lru_cache(maxsize=1)
def _parsed(path: str, size: int, mtime_ns: int, md5: str, verify: bool):
    """The archive's arrays (x_train, y_train, x_test, y_test, class names), its MD5 checked
    first when ``verify``; memoized on the file's path, size and modification time."""
    if verify:
        _pool._check_digest(Path(path), md5=md5)
    return _pool._read_cifar_archive(Path(path))


def load_cifar_archive(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0, device=None,
                       dtype: torch.dtype = torch.float32, flatten: bool = True, download: bool = True,
                       standardize: bool = True, verify: bool = True) -> Dataset:
    """A stratified, seeded draw from the official CIFAR-10 release (see the module docstring).

    ``n_train`` (default all 50,000) and ``n_test`` (default all 10,000) images are drawn
    stratified by class with ``seed`` (:func:`ntkbook.data.splits._stratified_indices`, the
    pool's rule). Pixels are scaled to [0, 1] and, with ``standardize``, standardized per
    channel with the training images' mean and standard deviation. ``flatten=True`` gives
    (n, 3072) inputs in channel, row, column order; ``flatten=False`` gives (n, 3, 32, 32).
    ``download=False`` never touches the network; ``verify=False`` skips the MD5 check (for
    a local variant of the archive).

    Raises :class:`~ntkbook.data.DataNotFoundError` when the archive is missing and cannot be
    downloaded, :class:`~ntkbook.data.ChecksumError` when its MD5 does not match,
    :class:`~ntkbook.data.CorruptFileError` when it cannot be parsed, :class:`DataError` for
    sizes larger than the archive holds, and the package's InvalidParameterError for a bad
    argument, naming it.
    """
    owner = _owner(ARCHIVE_DATASET)
    n_train, n_test, seed = _check_common(ARCHIVE_DATASET, n_train, n_test, seed, dtype)
    for flag, value in (("flatten", flatten), ("download", download), ("standardize", standardize),
                        ("verify", verify)):
        check_bool(value, flag, owner)
    archive, _ = _pool._fetch(_pool.CIFAR_ARCHIVE, _pool.CIFAR_URL, md5=_pool.CIFAR_MD5,
                              what="CIFAR-10 (the official archive, for training sizes above the 5,000-image pool)",
                              download_allowed=download)
    stat = archive.stat()
    x_tr_all, y_tr_all, x_te_all, y_te_all, names = _parsed(str(archive), stat.st_size, stat.st_mtime_ns,
                                                            _pool.CIFAR_MD5, verify)
    n_train = len(y_tr_all) if n_train is None else n_train
    n_test = len(y_te_all) if n_test is None else n_test
    for split, want, have in (("n_train", n_train, len(y_tr_all)), ("n_test", n_test, len(y_te_all))):
        if want > have:
            raise DataError(f"{ARCHIVE_DATASET}: {split}={want} is larger than the {have} images of that split "
                            f"in {archive.name}")
    rng = np.random.default_rng(seed)
    tr = _pool._stratified_indices(y_tr_all, n_train, rng)
    te = _pool._stratified_indices(y_te_all, n_test, rng) if n_test else np.array([], int)
    work = np.float64 if dtype == torch.float64 else np.float32  # 50,000 images: 1.2 GB in float64
    # (n, 32, 32, 3) uint8 -> (n, 3, 32, 32) in [0, 1]
    x_tr = x_tr_all[tr].transpose(0, 3, 1, 2).astype(work) / work(255.0)
    x_te = x_te_all[te].transpose(0, 3, 1, 2).astype(work) / work(255.0)
    extras = {"class_names": list(names), "archive_file": archive.name}
    if standardize:
        x_tr, x_te, m, s = _pool._standardize(x_tr, x_te, axis=(0, 2, 3))
        extras.update({"channel_mean": m.ravel(), "channel_std": s.ravel()})
    if flatten:
        x_tr, x_te = x_tr.reshape(len(x_tr), 3 * 32 * 32), x_te.reshape(len(x_te), 3 * 32 * 32)
        features = [f"{c}{i}_{j}" for c in "rgb" for i in range(32) for j in range(32)]
    else:
        features = ["r", "g", "b"]
    source = (f"official CIFAR-10 python release ({_pool.CIFAR_URL}, md5 {_pool.CIFAR_MD5}), stratified draw "
              f"with seed {seed}: {len(tr)} of {len(y_tr_all)} training and {len(te)} of {len(y_te_all)} test "
              f"images [{archive.name} in the data directory]")
    return Dataset(_tensor(x_tr, device, dtype), _labels(y_tr_all[tr], device), _tensor(x_te, device, dtype),
                   _labels(y_te_all[te], device), "classification", len(names), features, source, ARCHIVE_DATASET,
                   extras=extras)


@contextlib.contextmanager
def registered():
    """Inside the block, ``load_dataset("cifar10_archive", ...)`` calls :func:`load_cifar_archive`.

    The entry is added to :data:`ntkbook.data.registry.DATASETS` on entry and removed (or the
    previous one restored) on exit, so an ExperimentConfig with ``dataset="cifar10_archive"``
    runs and caches through :func:`ntkbook.experiments.runs.run_experiment` like any other.
    """
    from ntkbook.data import registry

    previous = registry.DATASETS.get(ARCHIVE_DATASET)
    registry.DATASETS[ARCHIVE_DATASET] = load_cifar_archive
    try:
        yield
    finally:
        if previous is None:
            registry.DATASETS.pop(ARCHIVE_DATASET, None)
        else:
            registry.DATASETS[ARCHIVE_DATASET] = previous
