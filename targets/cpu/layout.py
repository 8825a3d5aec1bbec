"""The cpu target's memory: regions of the runtime buffers, kernel calls over them, the
channels-last layout of values, and the alignment of regions and buffers to cache lines."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Region:
    """A slice of one runtime buffer: `space` is ws, iws (int32 workspace), params, index,
    input or output; `offset` and `size` count elements."""

    space: str
    offset: int
    size: int


@dataclass
class Kernel:
    kind: str
    phase: str
    node: str
    args: dict = field(default_factory=dict)


ALIGNMENT = 16  # elements (64 bytes, a cache line) that workspace and constant regions align to
ALIGNED_SPACES = ("ws", "iws", "params", "index")  # input and output are packed per sample


def aligned_zeros(size: int, dtype) -> np.ndarray:
    """np.zeros(size, dtype) starting on a cache line: numpy aligns to 16 bytes only, and a
    vector load that straddles two lines costs two."""
    itemsize = np.dtype(dtype).itemsize
    raw = np.zeros(size * itemsize + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + size * itemsize].view(dtype)


def internal_order(sample_shape: tuple[int, ...]) -> np.ndarray:
    """order[k] = the row-major (C, *S) index of the element stored at position k."""
    size = int(np.prod(sample_shape, dtype=np.int64))
    index = np.arange(size, dtype=np.int64).reshape(sample_shape)
    if len(sample_shape) >= 2:
        index = np.moveaxis(index, 0, -1)
    return index.ravel()


def storage_position(sample_shape: tuple[int, ...]) -> np.ndarray:
    """position[i] = where the row-major (C, *S) element i is stored (the inverse of internal_order)."""
    order = internal_order(sample_shape)
    position = np.empty(order.size, dtype=np.int64)
    position[order] = np.arange(order.size)
    return position


def to_internal(array: np.ndarray, sample_shape) -> np.ndarray:
    """A (B, C, *S) array (or a sample-shaped one) in the internal layout, flattened per sample."""
    batched = array.reshape(-1, *sample_shape)
    if len(sample_shape) >= 2:
        batched = np.moveaxis(batched, 1, -1)
    return np.ascontiguousarray(batched).reshape(len(batched), -1)


def from_internal(flat: np.ndarray, sample_shape, copy: bool = True) -> np.ndarray:
    """Inverse of to_internal for a (B, size) array; `copy` False: a view of the channel-last
    memory (large records are reduced as they lie)."""
    if len(sample_shape) < 2:
        return flat.reshape(-1, *sample_shape)
    stored = np.moveaxis(flat.reshape(-1, *sample_shape[1:], sample_shape[0]), -1, 1)
    return np.ascontiguousarray(stored) if copy else stored
