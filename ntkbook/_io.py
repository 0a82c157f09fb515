"""One way to write a file: atomically, never through a symbolic link, cleaned up on any exit.

Every file the package writes (cached results, their sidecars, claim records, executed
notebooks, stamps, datasets) goes through :func:`atomic_path`: the content is written to a
fresh temporary file beside the target (``.NAME.<random>.partial``, so concurrent writers
never share one) and moved into place with ``os.replace``, which is atomic on POSIX. A
reader therefore sees the old file or the new one, never half of one. If the writer raises
or is interrupted (``KeyboardInterrupt`` included) the temporary file is removed; a process
killed outright can leave one behind, and :func:`remove_partials` clears those.

A target that is a symbolic link is refused with :class:`SymlinkError` before anything is
written: the package never writes through a link, so it cannot overwrite a file outside
the place it was told to write. New files get the usual permissions (0666 minus the umask),
not the 0600 of a bare ``tempfile.mkstemp``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

__all__ = ["SymlinkError", "check_writable_target", "atomic_path", "atomic_open", "write_text", "write_bytes",
           "write_json", "read_json", "remove_partials", "PARTIAL_SUFFIX"]

PARTIAL_SUFFIX = ".partial"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


class SymlinkError(OSError):
    """The target of a write is a symbolic link (the package never writes through one)."""


def check_writable_target(path: str | os.PathLike) -> Path:
    """The target ``path`` as a Path, if a file can be written there; else a clear OSError.

    Refuses a symbolic link, a directory, and a path whose parent is a regular file; the
    parent directory is created when missing. Cheap: call it before a long computation
    whose result goes to ``path``, so that a bad path fails first, not last.
    """
    path = Path(path)
    if path.is_symlink():
        raise SymlinkError(f"Refusing to write {path}: it is a symbolic link (to {os.readlink(path)}); "
                           "ntkbook never writes through a link. Remove the link or choose another path.")
    if path.is_dir():
        raise IsADirectoryError(f"Cannot write {path}: it is a directory; give a file name.")
    parent = path.parent
    for p in [parent, *parent.parents]:
        if p.exists() and not p.is_dir():
            raise NotADirectoryError(f"Cannot write {path}: {p} is a file, not a directory.")
        if p.exists():
            break
    parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"Cannot write {path}: the directory {parent} is not writable.")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path`` atomically.

    For writers that want a file name (``np.savez``, papermill). The temporary file is
    removed if the body raises or is interrupted.
    """
    path = check_writable_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        if path.is_symlink():  # created while we were writing
            raise SymlinkError(f"Refusing to write {path}: it became a symbolic link while it was written.")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = ""):
    """``open`` for writing, atomically: the file appears at ``path`` only when the block ends well."""
    if mode not in ("w", "wb"):
        raise ValueError(f"The 'mode' parameter of atomic_open must be 'w' or 'wb'. Got {mode!r} instead.")
    with atomic_path(path) as tmp:
        kwargs = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path) as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1, default=None) -> Path:
    """Write ``obj`` as strict JSON (no NaN or infinity: they are not JSON) atomically.

    A NaN or infinite value raises ``ValueError`` naming the file before anything is
    written; callers store a missing number as ``None``.
    """
    try:
        text = json.dumps(obj, indent=indent, default=default, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"Cannot write {path}: {exc} (store a missing number as None).") from None
    return write_text(path, text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """The JSON content of ``path``; a truncated or corrupt file raises ``ValueError`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); it may be truncated. Delete it or rerun "
                         "what wrote it.") from None


def remove_partials(folder: str | os.PathLike, stem: str | None = None) -> list[Path]:
    """Remove temporary files left in ``folder`` by writers that were killed; returns them.

    With ``stem`` only the partials of ``stem``'s files (``.STEM*.partial``) go.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = f".{stem}*{PARTIAL_SUFFIX}" if stem else f".*{PARTIAL_SUFFIX}"
    removed = []
    for p in folder.glob(pattern):
        if p.is_file() and not p.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed
