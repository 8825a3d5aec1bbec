"""Tensor types: static shapes whose first dimension is the symbolic batch `N`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from snnc.errors import IRError

BATCH = "N"
DTYPES = {"f32": "float32", "i64": "int64", "i32": "int32"}
_TYPE_TEXT = re.compile(r"^(\w+)\[([^\]]*)\]$")


@dataclass(frozen=True)
class TensorType:
    """A tensor of `dtype` with `shape`; shape[0] is BATCH (symbolic) or a fixed int.

    Every other dimension is a positive int: snnc compiles static networks.
    """

    shape: tuple
    dtype: str = "float32"

    def __post_init__(self) -> None:
        shape = tuple(self.shape)
        object.__setattr__(self, "shape", shape)
        if self.dtype not in DTYPES.values():
            raise IRError(f"unsupported dtype {self.dtype!r}")
        for i, dim in enumerate(shape):
            symbolic_batch = i == 0 and dim == BATCH
            if not symbolic_batch and not (isinstance(dim, int) and dim > 0):
                raise IRError(f"dimension {i} of {shape} must be a positive int (or N at 0)")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample: everything after the batch dimension."""
        return self.shape[1:]

    @property
    def sample_size(self) -> int:
        size = 1
        for dim in self.sample_shape:
            size *= dim
        return size

    def with_sample_shape(self, sample_shape) -> TensorType:
        return TensorType((self.shape[0], *sample_shape), self.dtype)

    def concrete(self, batch: int) -> tuple[int, ...]:
        return (batch if self.shape[0] == BATCH else self.shape[0], *self.sample_shape)

    def __str__(self) -> str:
        short = {v: k for k, v in DTYPES.items()}[self.dtype]
        return f"{short}[{','.join(str(d) for d in self.shape)}]"

    @classmethod
    def parse(cls, text: str) -> TensorType:
        match = _TYPE_TEXT.match(text.strip())
        if not match or match.group(1) not in DTYPES:
            raise IRError(f"bad tensor type {text!r}")
        dims = [d.strip() for d in match.group(2).split(",") if d.strip()]
        shape = tuple(d if d == BATCH else int(d) for d in dims)
        return cls(shape, DTYPES[match.group(1)])
