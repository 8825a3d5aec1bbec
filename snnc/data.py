"""Loading and checking arrays of input data (a .npz file or a named dataset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnc.datasets import NAMED_DATASETS, load_named
from snnc.errors import DataError
from snnc.ir.types import TensorType

CALIBRATION_SAMPLES = 2048  # training images taken when a named dataset calibrates


def load_arrays(spec: str, split: str = "test", limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y or None) from a dataset name or a .npz holding `x` (and optionally `y`)."""
    if spec in NAMED_DATASETS:
        x, y = load_named(spec, split)
    else:
        x, y = _load_npz(Path(spec))
    if limit is not None:
        x, y = x[:limit], (None if y is None else y[:limit])
    return x, y


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.exists():
        raise DataError(f"{path}: no such file (expected a .npz with array 'x', or one of {NAMED_DATASETS})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
    if "x" not in arrays:
        if len(arrays) != 1:
            raise DataError(f"{path}: needs an array named 'x' (has {sorted(arrays)})")
        arrays = {"x": next(iter(arrays.values()))}
    return arrays["x"], arrays.get("y")


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


def check_labels(y: np.ndarray | None, count: int, what: str) -> np.ndarray:
    if y is None:
        raise DataError(f"{what} has no labels: a .npz for evaluation needs an array 'y'")
    y = np.asarray(y)
    if y.shape != (count,) or y.dtype.kind not in "iu":
        raise DataError(f"{what}: labels 'y' must be {count} integers, got shape {list(y.shape)} {y.dtype}")
    return y.astype(np.int64)


def calibration_data(spec: str | None, expected: TensorType) -> np.ndarray | None:
    """Calibration inputs from --calib: a .npz, or a dataset name (its first training images)."""
    return None if spec is None else calibration_set(spec, expected)[0]


def calibration_set(spec: str, expected: TensorType) -> tuple[np.ndarray, np.ndarray | None]:
    """Calibration inputs and their labels (None when a .npz has no 'y')."""
    split = "train" if spec in NAMED_DATASETS else "test"
    x, y = load_arrays(spec, split, CALIBRATION_SAMPLES if spec in NAMED_DATASETS else None)
    x = check_data(x, expected, "calibration data")
    return x, None if y is None else check_labels(y, len(x), "calibration data")
