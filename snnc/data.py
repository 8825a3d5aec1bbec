"""Loading and checking arrays of input data (a .npz file or a named dataset)."""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from snnc.datasets import NAMED_DATASETS, load_named
from snnc.errors import DataError, UsageError
from snnc.files import DATA_LIMIT_ENV, check_members, check_regular_file, size_limit
from snnc.ir.types import TensorType
from snnc.resources import format_bytes, require_memory

CALIBRATION_SAMPLES = 2048  # training images taken when a named dataset calibrates


def load_arrays(spec: str, split: str = "test", limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y or None) from a dataset name or a file: a .npz holding `x` (and optionally `y`), or a .npy of x."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    if spec in NAMED_DATASETS:
        x, y = load_named(spec, split)
    else:
        x, y = load_file(Path(spec))
    if x.ndim == 0:
        raise DataError(f"{spec}: 'x' is a single number, not an array of samples")
    if limit is not None:
        x, y = x[:limit], (y[:limit] if y is not None and y.ndim > 0 else y)
    return x, y


def load_file(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays from a .npz (`x`, or its only array, and `y`) or a .npy (x): regular files only,
    sizes checked against SNNC_MAX_DATA_BYTES (snnc/files.py) before anything is read, no pickles."""
    path = check_regular_file(path, f"a .npz with array 'x', a .npy, or one of {', '.join(NAMED_DATASETS)}", DataError)
    limit = size_limit(DATA_LIMIT_ENV)
    try:
        with open(path, "rb") as handle:
            if handle.read(6) == b"\x93NUMPY":
                handle.seek(0)
                return _read_npy(handle, os.fstat(handle.fileno()).st_size, limit, str(path)), None
        with zipfile.ZipFile(path) as archive:
            return _read_npz(archive, limit, str(path))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error) as exc:
        raise DataError(f"{path}: not a readable .npz or .npy file ({exc})") from None


def _read_npz(archive: zipfile.ZipFile, limit: int, source: str) -> tuple[np.ndarray, np.ndarray | None]:
    arrays = [name for name in archive.namelist() if name.endswith(".npy")]
    members = {name[: -len(".npy")]: name for name in arrays}
    if "x" not in members:
        if len(members) != 1:
            raise DataError(f"{source}: needs an array named 'x' (has {sorted(members)})")
        members = {"x": next(iter(members.values()))}
    wanted = {key: members[key] for key in ("x", "y") if key in members}
    check_members(archive, wanted.values(), limit, source, DATA_LIMIT_ENV, DataError)
    loaded = {}
    for key, name in wanted.items():
        with archive.open(name) as stream:
            loaded[key] = _read_npy(stream, archive.getinfo(name).file_size, limit, f"{source}: {key}")
    return loaded["x"], loaded.get("y")


def _read_npy(stream, size: int, limit: int, source: str) -> np.ndarray:
    """One .npy array, its header checked against the bytes there are before allocating."""
    start = stream.tell()
    version = npy_format.read_magic(stream)
    if version not in ((1, 0), (2, 0)):
        raise DataError(f"{source}: .npy format version {version} is not supported")
    reader = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    shape, _, dtype = reader(stream)
    if dtype.hasobject:
        raise DataError(f"{source}: holds Python objects (a pickle), which snnc does not load")
    declared = dtype.itemsize * math.prod(shape)
    if declared > limit:
        raise DataError(f"{source}: declares {format_bytes(declared)} of data, over the {format_bytes(limit)} "
                        f"limit (set {DATA_LIMIT_ENV} to allow more)")  # fmt: skip
    if declared > size - (stream.tell() - start):
        raise DataError(f"{source}: truncated (the header declares {declared:,} bytes of data)")
    require_memory(declared, f"reading {source}")
    stream.seek(start)
    return npy_format.read_array(stream, allow_pickle=False)


def check_data(x: np.ndarray, expected: TensorType, what: str) -> np.ndarray:
    """The array as float32, or a DataError saying what shape and dtype were expected."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
        kind = getattr(x, "dtype", type(x).__name__)
        raise DataError(f"{what} must be a numeric array of shape {expected}, got {kind}")
    if x.ndim != expected.rank or tuple(x.shape[1:]) != expected.sample_shape:
        raise DataError(f"{what} must have shape {expected} (N samples), got {list(x.shape)}")
    if len(x) == 0:
        raise DataError(f"{what} is empty")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise DataError(f"{what} holds {bad} NaN or infinite value(s)")
    return x


def check_labels(y: np.ndarray | None, count: int, what: str, classes: int | None = None) -> np.ndarray:
    """Labels as int64: one integer per sample, in [0, classes) when the class count is known."""
    if y is None:
        raise DataError(f"{what} has no labels: a .npz for evaluation needs an array 'y'")
    y = np.asarray(y)
    if y.shape != (count,) or y.dtype.kind not in "iu":
        raise DataError(f"{what}: labels 'y' must be {count} integers, got shape {list(y.shape)} {y.dtype}")
    y = y.astype(np.int64)
    if count and (y.min() < 0 or (classes is not None and y.max() >= classes)):
        bound = f"0..{classes - 1}" if classes is not None else ">= 0"
        raise DataError(f"{what}: labels 'y' must be class indices {bound}, got {y.min()}..{y.max()}")
    return y


def calibration_data(spec: str | None, expected: TensorType) -> np.ndarray | None:
    """Calibration inputs from --calib: a .npz, or a dataset name (its first training images)."""
    return None if spec is None else calibration_set(spec, expected)[0]


def calibration_set(spec: str, expected: TensorType) -> tuple[np.ndarray, np.ndarray | None]:
    """Calibration inputs and their labels (None when a .npz has no 'y')."""
    split = "train" if spec in NAMED_DATASETS else "test"
    x, y = load_arrays(spec, split, CALIBRATION_SAMPLES if spec in NAMED_DATASETS else None)
    x = check_data(x, expected, "calibration data")
    return x, None if y is None else check_labels(y, len(x), "calibration data")
