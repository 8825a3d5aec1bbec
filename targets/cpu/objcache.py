"""The on-disk object cache: native code snnc compiled on this machine, kept for the next run.

Object code from the cache is executed, so the cache must hold only what this user's snnc
wrote. Three rules make it so:

- The folder is private: created 0700; a folder owned by another user, or writable by group or
  others, is not used (a warning, then compilation in memory).
- Every entry is authenticated: `MAGIC | HMAC-SHA256(secret, key | code) | code`, with a
  32-byte secret kept in the folder (0600) and created on first use. An entry copied from
  another cache, planted, damaged, truncated or swapped with another key's fails the check.
- Entries are opened without following links or blocking (a FIFO, a device or a link is not
  read), checked to be regular files of this user within a size limit, and read whole before
  checking. Whatever fails is a warning; the code is compiled again and the entry rewritten
  atomically (temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
import warnings
from pathlib import Path

CACHE_ENV = "SNNC_CACHE_DIR"
MAGIC = b"SNNCOBJ1"
HEADER = len(MAGIC) + 32
SECRET_NAME = "secret"
SECRET_BYTES = 32
MAX_ENTRY_BYTES = 512 << 20  # object code of the largest networks is tens of MiB


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "snnc"


class ObjectCache:
    """Object code on disk, one authenticated file per key. A cache that cannot be used is not
    an error: compilation goes on in memory, with one warning per cache."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self._secret: bytes | None = None
        self._usable: bool | None = None  # decided on first use
        self._warned = False

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.o"

    def get(self, key: str) -> bytes | None:
        """The entry's code, or None when there is none or it does not pass the checks."""
        if not self._ready():
            return None
        data = self._read_entry(self.path(key))
        if data is None:
            return None
        if data[: len(MAGIC)] != MAGIC or not hmac.compare_digest(
            data[len(MAGIC) : HEADER], self._mac(key, data[HEADER:])
        ):
            self._warn(f"{self.path(key)} fails its integrity check (damaged, or not written by this cache); "
                       "compiling again")  # fmt: skip
            return None
        return data[HEADER:]

    def put(self, key: str, code: bytes) -> None:
        if self._ready():
            self._write(self.path(key), MAGIC + self._mac(key, code) + code)

    # -- the folder and its secret ----------------------------------------------------------------
    def _ready(self) -> bool:
        if self._usable is None:
            self._usable = self._check_folder() and self._load_secret()
        return self._usable

    def _check_folder(self) -> bool:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.stat(self.directory)
        except OSError as exc:
            return self._refuse(f"cannot use {self.directory}: {exc.strerror}")
        if not stat.S_ISDIR(info.st_mode):
            return self._refuse(f"{self.directory} is not a folder")
        if info.st_uid != os.geteuid():
            return self._refuse(f"{self.directory} belongs to another user")
        if info.st_mode & 0o022:
            return self._refuse(f"{self.directory} is writable by other users (mode {stat.S_IMODE(info.st_mode):o})")
        return True

    def _load_secret(self) -> bool:
        path = self.directory / SECRET_NAME
        secret = self._read_entry(path, private=True, quiet=True)
        if secret is None or len(secret) != SECRET_BYTES:
            exists = os.path.lexists(path)
            if exists:
                self._warn(f"{path} is not a private {SECRET_BYTES}-byte key; replacing it (the cache starts over)")
            # linked into place when new, so that of two processes starting at once one key wins
            if not self._write(path, secrets.token_bytes(SECRET_BYTES), replace=exists):
                return False
            secret = self._read_entry(path, private=True)
        self._secret = secret
        return secret is not None and len(secret) == SECRET_BYTES

    def _mac(self, key: str, code: bytes) -> bytes:
        return hmac.new(self._secret, key.encode() + b"\0" + code, hashlib.sha256).digest()

    # -- files ----------------------------------------------------------------------------------
    def _read_entry(self, path: Path, private: bool = False, quiet: bool = False) -> bytes | None:
        """A regular file of this user (mode 0600 when `private`), read whole; else None."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            handle = os.open(path, flags)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if not quiet:
                reason = "it is a symbolic link" if os.path.islink(path) else exc.strerror
                self._warn(f"cannot read {path}: {reason}; compiling again")
            return None
        try:
            info = os.fstat(handle)
            problem = None
            if not stat.S_ISREG(info.st_mode):
                problem = "not a regular file"
            elif info.st_uid != os.geteuid():
                problem = "owned by another user"
            elif private and info.st_mode & 0o077:
                problem = "readable or writable by other users"
            elif info.st_size > MAX_ENTRY_BYTES:
                problem = f"{info.st_size:,} bytes, over the {MAX_ENTRY_BYTES:,}-byte limit"
            if problem is not None:
                if not quiet:
                    self._warn(f"{path} is {problem}; compiling again")
                return None
            with os.fdopen(os.dup(handle), "rb") as entry:
                return entry.read(info.st_size + 1)[: info.st_size]
        finally:
            os.close(handle)

    def _write(self, path: Path, data: bytes, replace: bool = True) -> bool:
        """Write atomically: a private temporary file, renamed over `path` (or linked, which
        keeps an existing file, when not `replace`)."""
        temporary = None
        try:
            handle, temporary = tempfile.mkstemp(prefix=".obj.", dir=self.directory)
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            if replace:
                os.replace(temporary, path)
            elif not os.path.lexists(path):
                try:
                    os.link(temporary, path)
                except FileExistsError:
                    pass
            return True
        except OSError as exc:
            self._warn(f"cannot write to {self.directory}: {exc.strerror}; compiling in memory")
            return False
        finally:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)

    def _refuse(self, message: str) -> bool:
        self._warn(f"{message}; compiling in memory")
        return False

    def _warn(self, message: str) -> None:
        if not self._warned:
            warnings.warn(f"object cache: {message}", stacklevel=4)
            self._warned = True
