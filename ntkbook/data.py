"""Dataset loaders: synthetic tasks, scikit-learn's bundled sets, Boston Housing and CIFAR-10.

Every loader returns a :class:`Dataset` with torch tensors on the requested device and dtype
(class labels are ``int64``), the task (``"regression"`` or ``"classification"``) and a
human-readable ``source`` saying where the numbers came from, which the book prints.

Conventions
-----------
* Splits are seeded (``seed``); the same seed gives the same split.
* Standardization (inputs, and regression targets where stated) is fitted on the
  training split only and then applied to both splits; the statistics are kept in
  ``Dataset.extras`` so predictions can be mapped back to the original units.
* Regression targets have shape ``(n, 1)``; classification labels have shape ``(n,)``.

Files and downloads
-------------------
Downloaded and cached files live in the data directory: ``$NTKBOOK_DATA_DIR`` if set, else
the user's cache directory (``platformdirs.user_cache_dir("ntkbook")/data``). The loaders also
read the prepared offline copies ``boston_housing.csv`` and ``cifar10-5k.npz`` from that
directory. Every file is verified before it is read: the Boston CSV and the prepared CIFAR-10
subset against the SHA-256 published with them (:data:`BOSTON_SHA256`,
:data:`CIFAR_SUBSET_SHA256`), a CIFAR-10 subset built here from the official archive against the
digest recorded beside it when it was built (``cifar10-5k.npz.sha256``); a mismatch raises
:class:`ChecksumError` naming the file. A download goes to a temporary file in the same
directory, which is moved into place only after its checksum matches (:mod:`ntkbook._io`); a
mismatch deletes it and raises :class:`ChecksumError`. With no network and no file,
:class:`DataNotFoundError` says which file to put where.

Bad arguments raise :class:`ntkbook._validation.InvalidParameterError` naming the argument
("The 'noise' parameter of load_dataset('sinusoids') must be a finite float in the range
[0, inf). Got nan instead."); sizes larger than the data raise :class:`DataError`.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import math
import numbers
import os
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ntkbook._io import atomic_path, write_bytes, write_text
from ntkbook._validation import (InvalidParameterError, check_bool, check_float, check_floats, check_int,
                                 check_option, check_optional_int, check_seed, fail)

__all__ = [
    "Dataset",
    "DataError",
    "DataNotFoundError",
    "ChecksumError",
    "CorruptFileError",
    "DATASETS",
    "data_dir",
    "load_dataset",
    "make_dataset",
    "frequency_errors",
    "download",
    "restricted_load",
    "RestrictedUnpickler",
    "BOSTON_URL",
    "BOSTON_SHA256",
    "BOSTON_FILE",
    "CIFAR_URL",
    "CIFAR_MD5",
    "CIFAR_ARCHIVE",
    "CIFAR_SUBSET_FILE",
    "CIFAR_SUBSET_SHA256",
]


# --------------------------------------------------------------------------- errors


class DataError(ValueError):
    """A dataset request that cannot be satisfied (bad name, sizes, mismatched labels...)."""


class DataNotFoundError(FileNotFoundError):
    """A needed file is neither in the data directory nor downloadable."""


class ChecksumError(OSError):
    """A downloaded or cached file does not have the expected checksum."""


class CorruptFileError(OSError):
    """A cached or prepared file exists but cannot be read as the expected format."""


# --------------------------------------------------------------------------- dataset


TASKS = ("regression", "classification")


@dataclass
class Dataset:
    """A train/test split as torch tensors.

    Attributes
    ----------
    x_train, y_train, x_test, y_test:
        Inputs (floating, on the requested device/dtype) and targets: ``(n, k)`` floats for
        regression, ``(n,)`` int64 class indices for classification.
    task: ``"regression"`` or ``"classification"``.
    n_classes: number of classes (``None`` for regression).
    feature_names: one name per input feature (flattened features for images).
    source: where the data came from, in words (printed by the book).
    name: the dataset's name as passed to :func:`load_dataset`.
    notes: caveats the book should show next to results (e.g. Boston's ``b`` column).
    extras: anything else (standardization statistics, per-mode components of the
        sinusoid task, class names, ...).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    task: str
    n_classes: int | None = None
    feature_names: list[str] = field(default_factory=list)
    source: str = ""
    name: str = ""
    notes: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_option(self.task, "task", "Dataset", TASKS)
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
                raise DataError(f"x_{split} and y_{split} must be torch tensors")
            if x.shape[0] != y.shape[0]:
                raise DataError(
                    f"labels do not match inputs in the {split} split: "
                    f"x_{split} has {x.shape[0]} rows, y_{split} has {y.shape[0]}"
                )
            if not torch.is_floating_point(x):
                raise DataError(f"x_{split} must be floating point, got {x.dtype}")
            if self.task == "classification":
                if y.dtype != torch.int64 or y.ndim != 1:
                    raise DataError(
                        f"classification labels y_{split} must be a 1-D int64 tensor, "
                        f"got dtype {y.dtype} and shape {tuple(y.shape)}"
                    )
                if self.n_classes is None or self.n_classes < 2:
                    raise DataError("classification needs n_classes >= 2")
                if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
                    raise DataError(
                        f"labels in y_{split} must lie in [0, {self.n_classes}), "
                        f"found range [{int(y.min())}, {int(y.max())}]"
                    )
            else:
                if not torch.is_floating_point(y) or y.ndim != 2:
                    raise DataError(
                        f"regression targets y_{split} must be a 2-D floating tensor (n, k), "
                        f"got dtype {y.dtype} and shape {tuple(y.shape)}"
                    )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"train and test inputs differ in shape: {tuple(self.x_train.shape[1:])} "
                f"vs {tuple(self.x_test.shape[1:])}"
            )

    @property
    def in_features(self) -> int:
        """Input size for a model (channels for image-shaped inputs)."""
        return int(self.x_train.shape[1])

    @property
    def out_features(self) -> int:
        """Output size for a model: n_classes, or the number of regression targets."""
        return int(self.n_classes) if self.task == "classification" else int(self.y_train.shape[1])

    def to(self, device=None, dtype=None) -> "Dataset":
        """Return a copy on another device and/or floating dtype (labels stay int64)."""
        def fx(t):
            return t.to(device=device, dtype=dtype or t.dtype)

        def fy(t):
            if self.task == "classification":
                return t.to(device=device)
            return t.to(device=device, dtype=dtype or t.dtype)

        return Dataset(
            fx(self.x_train), fy(self.y_train), fx(self.x_test), fy(self.y_test),
            self.task, self.n_classes, list(self.feature_names), self.source, self.name,
            self.notes, dict(self.extras),
        )

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, "
            f"train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
            f"n_classes={self.n_classes}, source={self.source!r})"
        )


def make_dataset(
    x_train, y_train, x_test, y_test, *, task, n_classes=None, feature_names=None,
    source="user-supplied arrays", name="custom", device=None, dtype=torch.float32,
    notes="", extras=None,
) -> Dataset:
    """Build a validated :class:`Dataset` from array-likes (numpy or torch).

    Regression targets of shape ``(n,)`` become ``(n, 1)``; classification labels become
    int64 and must be integers in ``[0, n_classes)`` (``n_classes`` defaults to max+1).
    Raises :class:`DataError` when labels do not match inputs.
    """
    owner = "make_dataset"
    check_option(task, "task", owner, TASKS)
    n_classes = check_optional_int(n_classes, "n_classes", owner, low=2)
    _check_dtype(dtype, owner)

    def as_x(a):
        return torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).to(
            device=device, dtype=dtype
        )

    def as_y(a):
        t = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a)
        if task == "classification":
            if torch.is_floating_point(t):
                if not torch.equal(t, t.round()):
                    raise DataError("classification labels must be integers")
            return t.reshape(-1).to(device=device, dtype=torch.int64)
        t = t.to(device=device, dtype=dtype)
        return t.reshape(-1, 1) if t.ndim == 1 else t

    xtr, ytr, xte, yte = as_x(x_train), as_y(y_train), as_x(x_test), as_y(y_test)
    if task == "classification" and n_classes is None:
        n_classes = int(max(ytr.max(), yte.max() if yte.numel() else 0)) + 1
    if feature_names is None:
        feature_names = [f"x{i}" for i in range(int(np.prod(xtr.shape[1:])))]
    return Dataset(xtr, ytr, xte, yte, task, n_classes, list(feature_names), source, name,
                   notes, dict(extras or {}))


# --------------------------------------------------------------------------- files

BOSTON_FILE = "boston_housing.csv"
# A public CSV copy of the StatLib Boston Housing data (506 rows, header quoted, `chas` quoted).
BOSTON_URL = "https://raw.githubusercontent.com/selva86/datasets/master/BostonHousing.csv"
BOSTON_SHA256 = "ab16ba38fbbbbcc69fe930aab1293104f1442c8279c130d9eba03dd864bef675"
BOSTON_COLUMNS = ["crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax",
                  "ptratio", "b", "lstat", "medv"]

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR-10 page
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_SUBSET_FILE = "cifar10-5k.npz"
# The prepared offline copy of the subset (made from a public JPEG copy of CIFAR-10), as published
# beside it in the data directory's README. A subset built here from the official archive gets
# its own digest, recorded in CIFAR_SUBSET_FILE + DIGEST_SUFFIX when it is built.
CIFAR_SUBSET_SHA256 = "01e787ca5e7f7d1da2f3f063de9a1dfd4a72e0f0a3492534099cd689cb6ee47e"
DIGEST_SUFFIX = ".sha256"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]
CIFAR_SUBSET_TRAIN_PER_CLASS = 500
CIFAR_SUBSET_TEST_PER_CLASS = 100
CIFAR_SUBSET_SEED = 0


def data_dir(create: bool = False) -> Path:
    """The data directory: ``$NTKBOOK_DATA_DIR`` if set, else the user cache dir."""
    env = os.environ.get("NTKBOOK_DATA_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("ntkbook")) / "data"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_digest(path: Path, *, sha256: str | None = None, md5: str | None = None,
                  origin: str = "") -> None:
    """Raise :class:`ChecksumError` naming ``path`` unless it has the given digests.

    ``origin`` says where the expected digest comes from (shown in the message)."""
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected is None:
            continue
        actual = _file_digest(path, algorithm)
        if actual.lower() != expected.lower():
            where = f" ({origin})" if origin else ""
            raise ChecksumError(
                f"{path}: {algorithm} is {actual}, expected {expected}{where}. The file is "
                f"corrupt or not the expected release; delete it (or replace it with a good "
                f"copy) and retry"
            )


def download(url: str, dest: str | os.PathLike, *, sha256: str | None = None,
             md5: str | None = None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying a SHA-256 and/or MD5 checksum.

    The bytes go to a temporary file next to ``dest`` (:func:`ntkbook._io.atomic_path`); it is
    moved into place only after the checksum matches. On a mismatch the temporary file is
    deleted and :class:`ChecksumError` is raised; on a network error nothing is left behind and
    the ``urllib`` error propagates. A ``dest`` that is a symbolic link is refused.
    """
    dest = Path(dest)
    with atomic_path(dest) as tmp:  # removed unless the block ends well
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out, length=1 << 20)
        try:
            _check_digest(tmp, sha256=sha256, md5=md5)
        except ChecksumError as exc:
            raise ChecksumError(f"download of {url} failed verification: {exc}; "
                                f"the file was deleted") from None
    return dest


def _fetch(filename: str, url: str, *, sha256: str | None = None, md5: str | None = None,
           what: str, download_allowed: bool = True) -> tuple[Path, bool]:
    """Path of ``filename`` in the data directory, downloading it if needed; and whether it
    was downloaded by this call."""
    root = data_dir()
    path = root / filename
    if path.exists():
        return path, False
    hint = (f"{what}: {filename} is not in the data directory {root}. Put a copy of {filename} "
            f"there (or point NTKBOOK_DATA_DIR at a directory that holds it); it can be "
            f"downloaded from {url}")
    if not download_allowed:
        raise DataNotFoundError(hint)
    try:
        download(url, path, sha256=sha256, md5=md5)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(exc, ChecksumError):
            raise
        raise DataNotFoundError(f"{hint}. Downloading failed ({exc}).") from exc
    return path, True


# --------------------------------------------------------------------------- restricted pickle


def _reconstruct():
    return np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's _reconstruct, whatever its module


def _frombuffer():
    return np.zeros(1).__reduce_ex__(5)[0]  # numpy's _frombuffer (pickle protocol 5)


def _safe_codecs_encode(obj, encoding="utf-8", errors="strict"):
    # Python 3's protocol-2 pickles encode bytes as _codecs.encode(str, "latin1").
    if encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return str(obj).encode("latin1", errors)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits plain containers and numpy arrays, and nothing else.

    The CIFAR-10 python batches are pickled dicts of bytes keys, lists, strings and one numpy
    ``uint8`` array. Dicts, lists, tuples, strings, bytes and numbers need no global lookup;
    the only globals admitted are numpy's array reconstructors (``_reconstruct``, and
    ``_frombuffer`` for protocol 5), ``numpy.ndarray``,
    ``numpy.dtype`` and a latin-1-only ``_codecs.encode``. Any other global (``os.system``,
    ``builtins.eval``, ...) raises :class:`pickle.UnpicklingError`.
    """

    _ALLOWED: dict[tuple[str, str], Callable[[], Any]] = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: _safe_codecs_encode,
    }

    def find_class(self, module: str, name: str):
        getter = self._ALLOWED.get((module, name))
        if getter is None:
            raise pickle.UnpicklingError(
                f"refusing to unpickle global {module}.{name}: only plain containers and "
                f"numpy arrays are allowed"
            )
        return getter()

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent ids")


def restricted_load(fh, *, encoding: str = "bytes"):
    """Unpickle from a binary file object with :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(fh, encoding=encoding).load()


# --------------------------------------------------------------------------- helpers


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
    mean = train.mean(axis=axis, keepdims=True)
    std = train.std(axis=axis, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std, mean, std


def _tensor(a, device, dtype):
    return torch.as_tensor(np.ascontiguousarray(a)).to(device=device, dtype=dtype)


def _labels(a, device):
    return torch.as_tensor(np.ascontiguousarray(a).astype(np.int64)).to(device=device)


def _owner(name: str) -> str:
    return f"load_dataset({name!r})"


def _check_common(name: str, n_train, n_test, seed, dtype):
    """The loaders' common arguments, checked: (n_train, n_test, seed)."""
    owner = _owner(name)
    _check_dtype(dtype, owner)
    return (check_optional_int(n_train, "n_train", owner, low=1),
            check_optional_int(n_test, "n_test", owner, low=0),
            check_seed(seed, "seed", owner))


def _check_dtype(dtype, owner: str) -> None:
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        fail("dtype", owner, "a floating torch.dtype", dtype)


def _finite_values(values, name: str, owner: str) -> np.ndarray:
    """A finite real or a non-empty sequence of them, as a 1-D float array."""
    seq = [values] if isinstance(values, numbers.Real) and not isinstance(values, bool) else values
    return np.asarray(check_floats(seq, name, owner, -math.inf), float)


def _check_fraction(test_fraction, owner: str) -> None:
    check_float(test_fraction, "test_fraction", owner, 0.0, 1.0, high_open=True)


# --------------------------------------------------------------------------- synthetic


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


# --------------------------------------------------------------------------- tabular


def _split_tabular(name, x, y, *, task, n_train, n_test, seed, test_fraction, standardize,
                   standardize_y, device, dtype, feature_names, source, n_classes=None,
                   notes="", extras=None):
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


def _sklearn_set(loader_name, pretty):
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


# --------------------------------------------------------------------------- CIFAR-10


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


def _digest_file(path: Path) -> Path:
    return path.with_name(path.name + DIGEST_SUFFIX)


def _save_npz_with_digest(path: Path, **arrays) -> None:
    """Write ``arrays`` to ``path`` (compressed npz) and its SHA-256 to the file beside it.

    The digest is written first: a run interrupted in between leaves a digest without a pool,
    and the next load rebuilds both.
    """
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    payload = buf.getvalue()
    write_text(_digest_file(path), f"{hashlib.sha256(payload).hexdigest()}  {path.name}\n")
    write_bytes(path, payload)


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
        x_tr, x_te = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
        names = [f"{c}{i}_{j}" for c in "rgb" for i in range(32) for j in range(32)]
    else:
        names = ["r", "g", "b"]
    return Dataset(_tensor(x_tr, device, dtype), _labels(pool["y_train"][tr], device),
                   _tensor(x_te, device, dtype), _labels(pool["y_test"][te], device),
                   "classification", len(pool["classes"]), names,
                   f"{source} [{npz.name} in the data directory]", "cifar10", extras=extras)


# --------------------------------------------------------------------------- registry

DATASETS: dict[str, Callable[..., Dataset]] = {
    "sinusoids": _sinusoids,
    "gaussian_mixture": _gaussian_mixture,
    "iris": _sklearn_set("load_iris", "iris"),
    "wine": _sklearn_set("load_wine", "wine"),
    "boston": _boston,
    "cifar10": _cifar10,
}


_COMMON = ("n_train", "n_test", "seed", "device", "dtype")  # every loader takes these


def load_dataset(name: str, *, n_train: int | None = None, n_test: int | None = None,
                 seed: int = 0, device=None, dtype: torch.dtype = torch.float32,
                 **kwargs) -> Dataset:
    """Load a dataset by name; see the module docstring for conventions.

    Names and their extra keyword arguments:

    * ``"sinusoids"``: frequencies, amplitudes, phases, noise, dim, test_grid.
    * ``"gaussian_mixture"``: n_classes (5), dim (2), separation, spread, means.
    * ``"iris"``, ``"wine"``: test_fraction, standardize.
    * ``"boston"``: drop_b (False; the ``b`` column encodes the proportion of Black residents,
      see :func:`_boston`), test_fraction, standardize, standardize_y, verify, download.
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
