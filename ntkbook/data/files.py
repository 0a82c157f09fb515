"""The data directory, verified downloads, checksums, and files written with their digest.

The data directory is ``$NTKBOOK_DATA_DIR`` if set, else the user's cache directory
(``platformdirs.user_cache_dir("ntkbook")/data``); it holds the downloads, the caches built
from them and the prepared offline copies.

* :func:`_check_digest` raises :class:`ChecksumError` naming the file unless its SHA-256
  and/or MD5 equal the expected ones (one pass over the file per algorithm, in 1 MiB chunks).
* :func:`download` writes to a temporary file next to the destination
  (:func:`ntkbook._io.atomic_path`) and moves it into place only after its checksum
  matches; a mismatch deletes it and raises :class:`ChecksumError`.
* :func:`_fetch` returns a file of the data directory, downloading it when it is missing;
  with no network and no file, :class:`DataNotFoundError` says which file to put where.
* :func:`_save_npz_with_digest` writes a cache together with its SHA-256
  (``name + DIGEST_SUFFIX``), so that the cache can be verified when it is read back.

A file that exists but cannot be parsed raises :class:`CorruptFileError` in the loader that
reads it.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ntkbook._io import atomic_path, write_bytes, write_text

__all__ = ["ChecksumError", "CorruptFileError", "DIGEST_SUFFIX", "DataNotFoundError", "data_dir",
           "download"]


class DataNotFoundError(FileNotFoundError):
    """A needed file is neither in the data directory nor downloadable."""


class ChecksumError(OSError):
    """A downloaded or cached file does not have the expected checksum."""


class CorruptFileError(OSError):
    """A cached or prepared file exists but cannot be read as the expected format."""


DIGEST_SUFFIX = ".sha256"


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
