"""Dataset loaders: synthetic tasks, scikit-learn's bundled sets, Boston Housing and CIFAR-10.

Every loader returns a :class:`Dataset` with torch tensors on the requested device and dtype
(class labels are ``int64``), the task (``"regression"`` or ``"classification"``) and a
human-readable ``source`` saying where the numbers came from, which the book prints.

Example::

    >>> from ntkbook.data import load_dataset
    >>> ds = load_dataset("iris", seed=0)
    >>> ds.x_train.shape, ds.y_train.shape, ds.n_classes   # (n_train, 4), (n_train,)
    (torch.Size([105, 4]), torch.Size([105]), 3)

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

The modules, one concept each (imports flow down this list, never up):

* ``dataset``: :class:`Dataset`, :class:`DataError`, :func:`make_dataset`, and the
  conventions every loader shares (the checks of its common arguments, tensors on the
  requested device and dtype);
* ``splits``: seeded (stratified) train/test splits and standardization with training
  statistics;
* ``files``: the data directory, :func:`download`, checksums, caches written with their
  digest, and the file errors :class:`DataNotFoundError`, :class:`ChecksumError`,
  :class:`CorruptFileError`;
* ``restricted_pickle``: :class:`RestrictedUnpickler`, which admits containers and numpy
  arrays only;
* ``synthetic``: the ``sinusoids`` and ``gaussian_mixture`` tasks and :func:`frequency_errors`;
* ``tabular``: scikit-learn's bundled ``iris`` and ``wine``;
* ``boston``: Boston Housing, its published file and digest, and its ethical note;
* ``cifar``: the CIFAR-10 pool (built from the official archive or the prepared copy) and
  its seeded subsets;
* ``registry``: :data:`DATASETS` (name -> loader) and :func:`load_dataset`.

This package re-exports their public names. A constant is read where it is defined, so a
test that replaces one (a URL, a published digest) patches the defining module, for example
``monkeypatch.setattr(ntkbook.data.cifar, "CIFAR_MD5", ...)``; code that looks a function up
here at call time (``from ntkbook.data import load_dataset`` inside a function) sees a patch
of ``ntkbook.data.load_dataset``.
"""

from ntkbook.data.boston import BOSTON_COLUMNS, BOSTON_FILE, BOSTON_NOTE, BOSTON_SHA256, BOSTON_URL
from ntkbook.data.cifar import (CIFAR_ARCHIVE, CIFAR_CLASSES, CIFAR_MD5, CIFAR_SUBSET_FILE,
                                CIFAR_SUBSET_SEED, CIFAR_SUBSET_SHA256,
                                CIFAR_SUBSET_TEST_PER_CLASS, CIFAR_SUBSET_TRAIN_PER_CLASS,
                                CIFAR_URL)
from ntkbook.data.dataset import TASKS, DataError, Dataset, make_dataset
from ntkbook.data.files import (DIGEST_SUFFIX, ChecksumError, CorruptFileError, DataNotFoundError,
                                data_dir, download)
from ntkbook.data.registry import DATASETS, load_dataset
from ntkbook.data.restricted_pickle import RestrictedUnpickler, restricted_load
from ntkbook.data.splits import hold_out_validation
from ntkbook.data.synthetic import frequency_errors

__all__ = [
    "BOSTON_COLUMNS",
    "BOSTON_FILE",
    "BOSTON_NOTE",
    "BOSTON_SHA256",
    "BOSTON_URL",
    "CIFAR_ARCHIVE",
    "CIFAR_CLASSES",
    "CIFAR_MD5",
    "CIFAR_SUBSET_FILE",
    "CIFAR_SUBSET_SEED",
    "CIFAR_SUBSET_SHA256",
    "CIFAR_SUBSET_TEST_PER_CLASS",
    "CIFAR_SUBSET_TRAIN_PER_CLASS",
    "CIFAR_URL",
    "ChecksumError",
    "CorruptFileError",
    "DATASETS",
    "DIGEST_SUFFIX",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "RestrictedUnpickler",
    "TASKS",
    "data_dir",
    "download",
    "frequency_errors",
    "hold_out_validation",
    "load_dataset",
    "make_dataset",
    "restricted_load",
]
