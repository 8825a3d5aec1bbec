"""Reading files that may come from someone else, and writing results without losing any.

Reading: a path must name a regular file (a FIFO, a device, a folder or a link to one is
refused without being opened for reading, so nothing blocks or streams forever), and sizes are
checked against limits before anything is read: the file's own size, or the sizes a zip archive
declares for its members (zipfile then refuses a member that inflates past what it declared).

    SNNC_MAX_DATA_BYTES     input and calibration data (.npz, .npy): the arrays read, in all
    SNNC_MAX_MEMBER_BYTES   one member of a .snnc artifact (the IR with its weights, object code)

Both default to 2 GiB. Writing: a temporary file in the same folder, renamed over the target,
so an existing result survives any failure; an unwritable place is a FileError naming the path.
`source_hash` digests snnc's own modules, for cache keys that must change with the code.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from pathlib import Path

from snnc.errors import FileError
from snnc.resources import format_bytes, require_memory

DEFAULT_LIMIT = 2 << 30
DATA_LIMIT_ENV = "SNNC_MAX_DATA_BYTES"
MEMBER_LIMIT_ENV = "SNNC_MAX_MEMBER_BYTES"


def size_limit(env: str) -> int:
    try:
        return max(0, int(os.environ[env]))
    except (KeyError, ValueError):
        return DEFAULT_LIMIT


def check_regular_file(path, what: str = "a file", error=FileError) -> Path:
    """The path, if it names a regular file (links followed); else `error` saying what it is and
    what was expected (`what`, e.g. "an ONNX model")."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a folder; expected {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: is not a regular file but a device, FIFO or socket; expected {what}")
    return path


def read_file(path, what: str, limit: int, error=FileError) -> bytes:
    """A regular file's bytes, refused (before reading) when larger than `limit`."""
    path = check_regular_file(path, what, error)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise error(f"{path}: {format_bytes(size)}, over the {format_bytes(limit)} limit for {what}")
            require_memory(size, f"reading {path}")
            return handle.read(limit + 1)[:limit]
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None


def check_members(archive: zipfile.ZipFile, names, limit: int, source: str, env: str, error=FileError) -> None:
    """Refuse an archive whose named members declare more than `limit` bytes together."""
    declared = 0
    for name in names:
        info = archive.getinfo(name)
        if info.is_dir():
            raise error(f"{source}: member {name!r} is a folder")
        declared += info.file_size
    if declared > limit:
        raise error(f"{source}: declares {format_bytes(declared)} uncompressed, over the {format_bytes(limit)} "
                    f"limit (set {env} to allow more)")  # fmt: skip
    require_memory(declared, f"reading {source}")


def write_atomically(path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file renamed into place."""
    path = Path(path)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        give_default_permissions(temporary)
        os.replace(temporary, path)
    except OSError as exc:
        reason = f"{path.parent} is not a folder" if path.parent.exists() and not path.parent.is_dir() else exc.strerror
        raise FileError(f"{path}: cannot write: {reason or exc}") from None
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def give_default_permissions(path) -> None:
    """mkstemp makes files private (0600); a written result should get the usual 0666 & ~umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def source_hash(*modules) -> str:
    """SHA-256 of the modules' source files (snnc's own code: what a cached result was made by)."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()
