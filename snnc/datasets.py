"""Datasets for accuracy work: Fashion-MNIST from Debian's package, scikit-learn's 8x8 digits.

Only numpy is needed to read Fashion-MNIST; nothing is downloaded. Images come back as
float32 arrays (N, 1, H, W) scaled to [0, 1], labels as int64 (N,).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from snnc.errors import DataError

FASHION_MNIST_DIRS = (
    os.environ.get("SNNC_FASHION_MNIST", ""),
    "/usr/share/datasets/fashion-mnist",
)
FASHION_MNIST_HINT = (
    "Fashion-MNIST is not installed: run `apt-get install dataset-fashion-mnist` "
    "(Debian) or set SNNC_FASHION_MNIST to a folder holding its IDX .gz files"
)
NAMED_DATASETS = ("fashion-mnist", "digits")


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed): magic 0x0000TTDD, dims, big-endian data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: truncated IDX file ({data.size} of {int(np.prod(dims))} values)")
    return data.reshape(dims)


def _fashion_mnist_dir() -> Path:
    for folder in FASHION_MNIST_DIRS:
        if folder and (Path(folder) / "t10k-images-idx3-ubyte.gz").exists():
            return Path(folder)
    raise DataError(FASHION_MNIST_HINT)


def fashion_mnist(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images (N, 1, 28, 28) in [0, 1] and labels; split is 'train' or 'test'."""
    prefix = {"train": "train", "test": "t10k"}[split]
    folder = _fashion_mnist_dir()
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
    x = (images.astype(np.float32) / 255.0)[:, None, :, :]
    return x, labels.astype(np.int64)


def digits(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (N, 1, 8, 8) in [0, 1]; the last 497 samples are the test split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DataError("the digits dataset needs scikit-learn: `pip install scikit-learn`") from exc
    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    cut = 1300
    return (x[:cut], y[:cut]) if split == "train" else (x[cut:], y[cut:])


def load_named(name: str, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Load a dataset by name: one of NAMED_DATASETS."""
    loaders = {"fashion-mnist": fashion_mnist, "digits": digits}
    if name not in loaders:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(NAMED_DATASETS)}")
    return loaders[name](split)
