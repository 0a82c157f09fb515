"""The :class:`Dataset` container, :func:`make_dataset`, and the conventions every loader shares.

A :class:`Dataset` is a train/test split as torch tensors: inputs ``x`` of shape ``(n, d)``
(or ``(n, C, H, W)`` for images) on the requested device and floating dtype, and targets
``y`` of shape ``(n, k)`` for regression or ``(n,)`` int64 class indices in
``[0, n_classes)`` for classification. It checks these shapes and dtypes when it is built,
so a loader cannot hand the book labels that do not match their inputs.

Example::

    >>> import numpy as np
    >>> from ntkbook.data import make_dataset
    >>> ds = make_dataset(np.zeros((4, 2)), np.arange(4.0), np.zeros((2, 2)), np.ones(2),
    ...                   task="regression")
    >>> ds.x_train.shape, ds.y_train.shape                   # (n, d), (n, 1)
    (torch.Size([4, 2]), torch.Size([4, 1]))

The private helpers below are the loaders' shared conventions: the owner named in error
messages (``load_dataset('iris')``), the checks of the arguments every loader takes
(``n_train``, ``n_test``, ``seed``, ``dtype``) and the conversion of numpy arrays to the
requested device and dtype (labels always int64).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ntkbook._validation import check_option, check_optional_int, check_seed, fail

__all__ = ["DataError", "Dataset", "TASKS", "make_dataset"]


class DataError(ValueError):
    """A dataset request that cannot be satisfied (bad name, sizes, mismatched labels...)."""


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


def _tensor(a, device, dtype):
    """A numpy array as a contiguous tensor on ``device`` with floating ``dtype``."""
    return torch.as_tensor(np.ascontiguousarray(a)).to(device=device, dtype=dtype)


def _labels(a, device):
    """Class labels as an int64 tensor on ``device``."""
    return torch.as_tensor(np.ascontiguousarray(a).astype(np.int64)).to(device=device)


def _owner(name: str) -> str:
    """How error messages name a loader: ``load_dataset('iris')``."""
    return f"load_dataset({name!r})"


def _check_common(name: str, n_train, n_test, seed, dtype):
    """The loaders' common arguments, checked: (n_train, n_test, seed)."""
    owner = _owner(name)
    _check_dtype(dtype, owner)
    return (check_optional_int(n_train, "n_train", owner, low=1),
            check_optional_int(n_test, "n_test", owner, low=0),
            check_seed(seed, "seed", owner))


def _check_dtype(dtype, owner: str) -> None:
    """Refuse anything but a floating torch dtype, naming ``owner``."""
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        fail("dtype", owner, "a floating torch.dtype", dtype)
