"""The base of every IR op: a dataclass with validation, shape inference and (de)serialization.

An op holds its attributes and constant parameters (weights are numpy arrays inside the op);
its tensor inputs are edges of the graph. `Op.infer` computes the output type from the input
types and is the single place where an op's shape rule lives.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from typing import ClassVar

import numpy as np

from snnc.errors import IRError
from snnc.ir.types import TensorType

OP_CLASSES: dict[str, type[Op]] = {}


def register_op(cls: type[Op]) -> type[Op]:
    """Class decorator: make the op known by its `name` to the parser and deserializer."""
    if cls.name in OP_CLASSES:
        raise IRError(f"op name {cls.name!r} registered twice")
    OP_CLASSES[cls.name] = cls
    return cls


@dataclasses.dataclass(eq=False)
class Op:
    """Base op. Subclasses set `name` (kebab-case) and `arity` (None: one or more inputs)."""

    name: ClassVar[str] = "op"
    arity: ClassVar[int | None] = 1

    def infer(self, inputs: list[TensorType]) -> TensorType:
        """The output type for these input types; raise IRError when they do not fit."""
        raise NotImplementedError

    def macs(self, inputs: list[TensorType], output: TensorType) -> int:
        """Multiply-accumulates per sample (0 for ops without a weighted sum)."""
        return 0

    def params(self) -> int:
        """Number of constant parameters the op holds."""
        return sum(v.size for v in self.attributes().values() if isinstance(v, np.ndarray))

    def attributes(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict:
        return {"op": self.name, **{k: encode_value(v) for k, v in self.attributes().items()}}

    @staticmethod
    def from_dict(data: dict) -> Op:
        data = dict(data)
        kind = data.pop("op")
        if kind not in OP_CLASSES:
            raise IRError(f"unknown op {kind!r}")
        cls = OP_CLASSES[kind]
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise IRError(f"op {kind!r} has no attribute(s) {sorted(unknown)}")
        try:
            return cls(**{k: decode_value(v) for k, v in data.items()})
        except (TypeError, ValueError, OverflowError) as exc:  # values of the wrong kind, from a text
            raise IRError(f"op {kind!r}: bad attribute values ({exc})") from None

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()


def encode_value(value):
    """Attribute value → JSON-compatible value; arrays keep their exact bytes (base64)."""
    if isinstance(value, np.ndarray):
        raw = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False)
        return {"dtype": value.dtype.name, "shape": list(value.shape), "b64": base64.b64encode(raw.tobytes()).decode()}
    if isinstance(value, tuple):
        return [encode_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode_value(value):
    """The inverse of encode_value; JSON lists come back as tuples. Text from a file: the dtype
    must be numeric, the base64 strict and its bytes exactly what dtype and shape declare."""
    if isinstance(value, dict) and set(value) == {"dtype", "shape", "b64"}:
        return _decode_array(value)
    if isinstance(value, list):
        return tuple(decode_value(v) for v in value)
    return value


def _decode_array(value: dict) -> np.ndarray:
    try:
        dtype = np.dtype(value["dtype"]) if isinstance(value["dtype"], str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise IRError(f"arrays hold numbers, not {value['dtype']!r}")
    shape = value["shape"]
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise IRError(f"an array's shape must be a list of sizes, got {shape!r}")
    try:
        raw = base64.b64decode(value["b64"], validate=True)
    except (TypeError, ValueError) as exc:
        raise IRError(f"an array's data is not base64 ({exc})") from None
    if len(raw) != dtype.itemsize * math.prod(shape):
        raise IRError(f"an array of shape {shape} and dtype {dtype} needs {dtype.itemsize * math.prod(shape)} bytes, "
                      f"the text holds {len(raw)}")  # fmt: skip
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)


def as_float_array(value, what: str) -> np.ndarray:
    """Validate and convert a parameter to a finite-shaped float32 array."""
    array = np.asarray(value, dtype=np.float32)
    if array.dtype != np.float32:
        raise IRError(f"{what} must be float32")
    return array


def int_tuple(value, what: str, length: int | None = None, minimum: int = 0) -> tuple[int, ...]:
    items = tuple(int(v) for v in value)
    if length is not None and len(items) != length:
        raise IRError(f"{what} needs {length} values, got {len(items)}")
    if any(v < minimum for v in items):
        raise IRError(f"{what} values must be >= {minimum}, got {items}")
    return items


def require(condition: bool, message: str) -> None:
    if not condition:
        raise IRError(message)
