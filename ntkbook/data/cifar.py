"""CIFAR-10: a fixed, checksummed 5,000-train / 1,000-test pool and seeded subsets of it.

The pool is ``cifar10-5k.npz`` (:data:`CIFAR_SUBSET_FILE`) in the data directory: the
prepared offline copy, verified against :data:`CIFAR_SUBSET_SHA256`, or one built here from
the official python archive (:data:`CIFAR_URL`, MD5 :data:`CIFAR_MD5`), parsed with
:func:`~ntkbook.data.restricted_pickle.restricted_load`, subsampled with seed
:data:`CIFAR_SUBSET_SEED` (500 train and 100 test images per class) and saved with its own
SHA-256 beside it. Building the pool reads the 60,000 images once (about 180 MB of pixels in
memory); every later load reads the pool only (about 18 MB).
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from ntkbook._validation import check_bool
from ntkbook.data.dataset import DataError, Dataset, _check_common, _labels, _owner, _tensor
from ntkbook.data.files import (CorruptFileError, _check_digest, _digest_file, _fetch,
                                _save_npz_with_digest, data_dir)
from ntkbook.data.restricted_pickle import restricted_load
from ntkbook.data.splits import _standardize, _stratified_indices

__all__ = ["CIFAR_ARCHIVE", "CIFAR_CLASSES", "CIFAR_MD5", "CIFAR_SUBSET_FILE", "CIFAR_SUBSET_SEED",
           "CIFAR_SUBSET_SHA256", "CIFAR_SUBSET_TEST_PER_CLASS", "CIFAR_SUBSET_TRAIN_PER_CLASS",
           "CIFAR_URL"]

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR-10 page
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_SUBSET_FILE = "cifar10-5k.npz"
# The prepared offline copy of the subset (made from a public JPEG copy of CIFAR-10), as published
# beside it in the data directory's README. A subset built here from the official archive gets
# its own digest, recorded in CIFAR_SUBSET_FILE + DIGEST_SUFFIX when it is built.
CIFAR_SUBSET_SHA256 = "01e787ca5e7f7d1da2f3f063de9a1dfd4a72e0f0a3492534099cd689cb6ee47e"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]
CIFAR_SUBSET_TRAIN_PER_CLASS = 500
CIFAR_SUBSET_TEST_PER_CLASS = 100
CIFAR_SUBSET_SEED = 0


def _read_cifar_archive(path: Path):
    """Parse the official python archive without torchvision and without unrestricted pickle.

    Returns (x_train uint8 (50000,32,32,3) style, y_train, x_test, y_test, class names) for
    whatever number of rows the batches hold.
    """
    try:
        tar = tarfile.open(path, "r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CorruptFileError(f"{path} is not a readable tar.gz archive ({exc}); delete it "
                               f"and retry") from exc

    def batch(member_name):
        try:
            member = tar.getmember(f"cifar-10-batches-py/{member_name}")
            fh = tar.extractfile(member)
            if fh is None:
                raise KeyError(member_name)
            return restricted_load(io.BytesIO(fh.read()))
        except KeyError as exc:
            raise CorruptFileError(f"{path}: missing cifar-10-batches-py/{member_name}") from exc
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            raise CorruptFileError(f"{path}: cannot read {member_name}: {exc}") from exc

    def arrays(d, member_name):
        try:
            data = np.asarray(d[b"data"], dtype=np.uint8)
            labels = np.asarray(d[b"labels"], dtype=np.int64)
        except (KeyError, TypeError) as exc:
            raise CorruptFileError(f"{path}: {member_name} lacks data/labels") from exc
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise CorruptFileError(f"{path}: {member_name} has data {data.shape} and "
                                   f"{len(labels)} labels; expected (n, 3072) and n labels")
        return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels

    with tar:
        parts = [arrays(batch(f"data_batch_{i}"), f"data_batch_{i}") for i in range(1, 6)]
        x_test, y_test = arrays(batch("test_batch"), "test_batch")
        meta = batch("batches.meta")
    names = [n.decode() if isinstance(n, bytes) else str(n)
             for n in meta.get(b"label_names", CIFAR_CLASSES)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return x_train, y_train, x_test, y_test, names


def _expected_subset_digest(npz: Path) -> tuple[str, str]:
    """The SHA-256 the pool file must have, and where that number comes from."""
    recorded = _digest_file(npz)
    if recorded.exists():
        text = recorded.read_text(encoding="utf-8").split()
        if not text or len(text[0]) != 64:
            raise CorruptFileError(f"{recorded} does not hold a SHA-256 digest; delete it and "
                                   f"{npz.name} and retry")
        return text[0], f"recorded in {recorded.name} when the subset was built"
    return CIFAR_SUBSET_SHA256, "published for the prepared copy"


def _build_cifar_subset(archive: Path, dest: Path) -> None:
    x_tr, y_tr, x_te, y_te, names = _read_cifar_archive(archive)
    rng = np.random.default_rng(CIFAR_SUBSET_SEED)
    n_cls = len(names)
    want_tr = min(CIFAR_SUBSET_TRAIN_PER_CLASS * n_cls, len(y_tr))
    want_te = min(CIFAR_SUBSET_TEST_PER_CLASS * n_cls, len(y_te))
    tr = np.sort(_stratified_indices(y_tr, want_tr, rng))
    te = np.sort(_stratified_indices(y_te, want_te, rng))
    source = (f"official CIFAR-10 python release ({CIFAR_URL}, md5 {CIFAR_MD5}), stratified "
              f"subset with seed {CIFAR_SUBSET_SEED}: {len(tr)} train and {len(te)} test images")
    _save_npz_with_digest(dest, x_train=x_tr[tr], y_train=y_tr[tr], x_test=x_te[te],
                          y_test=y_te[te], classes=np.array(names), source=np.array(source))


def _read_cifar_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test", "classes",
                                     "source")}
    except KeyError as exc:
        raise CorruptFileError(f"{path}: missing array {exc}; delete it and retry") from exc
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CorruptFileError(f"{path} is not a readable .npz file ({exc}); delete it and "
                               f"retry") from exc
    for split in ("train", "test"):
        x, y = out[f"x_{split}"], out[f"y_{split}"]
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8:
            raise CorruptFileError(f"{path}: x_{split} has shape {x.shape} and dtype {x.dtype}; "
                                   f"expected (n, 32, 32, 3) uint8")
        if y.shape != (len(x),):
            raise CorruptFileError(f"{path}: labels do not match inputs in the {split} split "
                                   f"({y.shape[0] if y.ndim else 0} labels, {len(x)} images)")
        if len(y) and (y.min() < 0 or y.max() >= len(out["classes"])):
            raise CorruptFileError(f"{path}: y_{split} holds labels outside [0, "
                                   f"{len(out['classes'])})")
    return out


def _cifar10(*, n_train=None, n_test=None, seed=0, device=None, dtype=torch.float32,
             flatten=True, download=True, standardize=True, verify=True):
    """CIFAR-10: a stratified, seeded subset of a fixed 5,000-train / 1,000-test pool.

    The pool is ``cifar10-5k.npz`` in the data directory: either the prepared offline copy
    (its ``source`` string is passed on) or one built here from the official python archive
    :data:`CIFAR_URL`, verified against its published MD5 :data:`CIFAR_MD5`, parsed with a
    restricted unpickler, and subsampled with seed :data:`CIFAR_SUBSET_SEED` (500 train and 100
    test images per class). ``n_train`` (default 5000) and ``n_test`` (default 1000) images are
    then drawn stratified with ``seed``. Pixels are scaled to [0, 1] and standardized per
    channel with training-split statistics. ``flatten=True`` gives (n, 3072) inputs (channel,
    row, column order); ``flatten=False`` gives (n, 3, 32, 32).

    Before it is read the pool file's SHA-256 is checked (``verify=False`` skips this, for a
    local variant): a prepared copy against :data:`CIFAR_SUBSET_SHA256`, the digest published
    with it; a pool built here against the digest recorded beside it (``cifar10-5k.npz.sha256``).
    A mismatch raises :class:`ChecksumError` naming the file.
    """
    owner = _owner("cifar10")
    n_train, n_test, seed = _check_common("cifar10", n_train, n_test, seed, dtype)
    for flag, value in (("flatten", flatten), ("download", download), ("standardize", standardize),
                        ("verify", verify)):
        check_bool(value, flag, owner)
    root = data_dir()
    npz = root / CIFAR_SUBSET_FILE
    if not npz.exists():
        archive, _ = _fetch(CIFAR_ARCHIVE, CIFAR_URL, md5=CIFAR_MD5, what="CIFAR-10",
                            download_allowed=download)
        _check_digest(archive, md5=CIFAR_MD5)
        _build_cifar_subset(archive, npz)
    if verify:
        expected, origin = _expected_subset_digest(npz)
        _check_digest(npz, sha256=expected, origin=origin)
    pool = _read_cifar_npz(npz)
    source = str(pool["source"])
    n_tr_all, n_te_all = len(pool["y_train"]), len(pool["y_test"])
    n_train = n_tr_all if n_train is None else n_train
    n_test = n_te_all if n_test is None else n_test
    if n_train > n_tr_all:
        raise DataError(f"cifar10: n_train={n_train} is larger than the {n_tr_all} training "
                        f"images that exist in {npz.name}")
    if n_test > n_te_all:
        raise DataError(f"cifar10: n_test={n_test} is larger than the {n_te_all} test images "
                        f"that exist in {npz.name}")
    rng = np.random.default_rng(seed)
    tr = _stratified_indices(pool["y_train"], n_train, rng)
    te = _stratified_indices(pool["y_test"], n_test, rng) if n_test else np.array([], int)
    # (n, 32, 32, 3) uint8 -> (n, 3, 32, 32) float in [0, 1]
    x_tr = pool["x_train"][tr].transpose(0, 3, 1, 2).astype(np.float64) / 255.0
    x_te = pool["x_test"][te].transpose(0, 3, 1, 2).astype(np.float64) / 255.0
    extras = {"class_names": [str(c) for c in pool["classes"]], "pool_file": str(npz)}
    if standardize:
        x_tr, x_te, m, s = _standardize(x_tr, x_te, axis=(0, 2, 3))
        extras.update({"channel_mean": m.ravel(), "channel_std": s.ravel()})
    if flatten:
        x_tr, x_te = x_tr.reshape(len(x_tr), 3 * 32 * 32), x_te.reshape(len(x_te), 3 * 32 * 32)  # (n, 3072); an empty split keeps its width
        names = [f"{c}{i}_{j}" for c in "rgb" for i in range(32) for j in range(32)]
    else:
        names = ["r", "g", "b"]
    return Dataset(_tensor(x_tr, device, dtype), _labels(pool["y_train"][tr], device),
                   _tensor(x_te, device, dtype), _labels(pool["y_test"][te], device),
                   "classification", len(pool["classes"]), names,
                   f"{source} [{npz.name} in the data directory]", "cifar10", extras=extras)
