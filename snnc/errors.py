"""Errors that snnc reports to users, each with a documented exit code.

The CLI turns a `SnncError` into one line on stderr and `exit(error.exit_code)`; anything
else is a bug and exits with INTERNAL (a traceback is shown only with `--debug`).
"""

from __future__ import annotations

OK = 0
INTERNAL = 1
USAGE = 2
BAD_FILE = 3
INVALID_MODEL = 4
UNSUPPORTED = 5
BAD_DATA = 6
NOT_CONVERTIBLE = 7
DOES_NOT_FIT = 8
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it

EXIT_CODES = {
    OK: "success",
    INTERNAL: "internal error (a bug: please report it with the output of --debug)",
    USAGE: "bad command line",
    BAD_FILE: "input file missing, unreadable, truncated, or neither ONNX nor NIR",
    INVALID_MODEL: "model fails ONNX's checker, or has a dynamic non-batch dimension",
    UNSUPPORTED: "an operator or attribute that snnc does not support",
    BAD_DATA: "input or calibration data of the wrong shape, dtype or content",
    NOT_CONVERTIBLE: "the network has no spiking equivalent (e.g. Sigmoid inside)",
    DOES_NOT_FIT: "the model does not fit the target's resources (or this machine's memory)",
    INTERRUPTED: "interrupted (Ctrl-C)",
}


class SnncError(Exception):
    """Base of every error meant for a user; `exit_code` is what the CLI exits with."""

    exit_code = INTERNAL


class UsageError(SnncError):
    exit_code = USAGE


class FileError(SnncError):
    exit_code = BAD_FILE


class InvalidModelError(SnncError):
    exit_code = INVALID_MODEL


class UnsupportedError(SnncError):
    exit_code = UNSUPPORTED


class DataError(SnncError):
    exit_code = BAD_DATA


class ConversionError(SnncError):
    exit_code = NOT_CONVERTIBLE


class ResourceError(SnncError):
    """The model does not fit the chip; `layers`: what each layer asks of it, where known
    (targets/accel/mapper.py demand), for `snnc check` to print."""

    exit_code = DOES_NOT_FIT

    def __init__(self, message: str, layers: list[dict] | None = None) -> None:
        super().__init__(message)
        self.layers = layers or []


class IRError(SnncError):
    """An IR invariant is broken: a bug in a pass or a malformed IR text."""

    exit_code = INVALID_MODEL
