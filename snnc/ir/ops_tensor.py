"""Elementwise, activation and layout ops. None of them mixes samples of a batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.errors import IRError
from snnc.ir.op import Op, as_float_array, int_tuple, register_op, require
from snnc.ir.types import TensorType


def broadcast_sample_shapes(shapes: list[tuple[int, ...]], what: str) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError as exc:
        raise IRError(f"{what}: shapes {shapes} do not broadcast") from exc


@register_op
@dataclass(eq=False)
class Input(Op):
    """A graph input of the given type."""

    name = "input"
    arity = 0
    type: TensorType

    def __post_init__(self) -> None:
        if not isinstance(self.type, TensorType):
            self.type = TensorType.parse(self.type) if isinstance(self.type, str) else TensorType(*self.type)

    def to_dict(self) -> dict:
        return {"op": self.name, "type": str(self.type)}

    def infer(self, inputs):
        return self.type


@register_op
@dataclass(eq=False)
class Identity(Op):
    """y = x (Identity and inference-mode Dropout; canonicalize removes it)."""

    name = "identity"

    def infer(self, inputs):
        return inputs[0]


@register_op
@dataclass(eq=False)
class Add(Op):
    """Sum of two or more tensors of the same batch, broadcasting the sample dims (Add, Sum)."""

    name = "add"
    arity = None

    def infer(self, inputs):
        require(len(inputs) >= 2, "add needs at least two inputs")
        require(len({t.shape[0] for t in inputs}) == 1, f"add inputs differ in batch: {[str(t) for t in inputs]}")
        require(all(t.rank == inputs[0].rank for t in inputs), f"add inputs differ in rank: {[str(t) for t in inputs]}")
        sample = broadcast_sample_shapes([t.sample_shape for t in inputs], "add")
        return inputs[0].with_sample_shape(sample)


def _const_sample_shape(value: np.ndarray, x: TensorType, what: str) -> tuple[int, ...]:
    """The shape a constant has per sample; a constant may not span the batch dimension."""
    require(value.ndim <= x.rank, f"{what}: constant of rank {value.ndim} on input {x}")
    if value.ndim == x.rank:
        require(value.shape[0] == 1, f"{what}: a constant cannot vary along the batch dimension")
        return value.shape[1:]
    return value.shape


@dataclass(eq=False)
class _ConstantOperand(Op):
    value: np.ndarray

    def __post_init__(self) -> None:
        self.value = as_float_array(self.value, f"{self.name} value")

    def infer(self, inputs):
        (x,) = inputs
        const_shape = _const_sample_shape(self.value, x, self.name)
        return x.with_sample_shape(broadcast_sample_shapes([x.sample_shape, const_shape], self.name))

    def params(self) -> int:
        return 0 if self.value.size == 1 else self.value.size


@register_op
@dataclass(eq=False)
class AddConst(_ConstantOperand):
    """y = x + c, c broadcast over the sample (Add/Sub with a constant)."""

    name = "add-const"


@register_op
@dataclass(eq=False)
class MulConst(_ConstantOperand):
    """y = x · c, c broadcast over the sample (Mul/Div with a constant)."""

    name = "mul-const"


@dataclass(eq=False)
class _Pointwise(Op):
    def infer(self, inputs):
        return inputs[0]


@register_op
@dataclass(eq=False)
class Relu(_Pointwise):
    """y = max(x, 0)."""

    name = "relu"


@register_op
@dataclass(eq=False)
class Clip(_Pointwise):
    """y = min(max(x, lo), hi); a missing bound is None."""

    name = "clip"
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        self.min = None if self.min is None else float(self.min)
        self.max = None if self.max is None else float(self.max)


@register_op
@dataclass(eq=False)
class LeakyRelu(_Pointwise):
    """y = x if x >= 0 else α·x."""

    name = "leaky-relu"
    alpha: float = 0.01


@register_op
@dataclass(eq=False)
class Sigmoid(_Pointwise):
    """y = 1 / (1 + e^(−x))."""

    name = "sigmoid"


@register_op
@dataclass(eq=False)
class Tanh(_Pointwise):
    """y = tanh(x)."""

    name = "tanh"


@register_op
@dataclass(eq=False)
class Softmax(Op):
    """y = e^x / Σ_axis e^x (or its log with log=True); only as a network output."""

    name = "softmax"
    axis: int = -1
    log: bool = False

    def infer(self, inputs):
        (x,) = inputs
        require(x.rank >= 2, f"softmax over a sample needs rank >= 2, got {x}")
        axis = self.axis % x.rank
        require(axis != 0, "softmax across the batch dimension is not supported")
        return x


@register_op
@dataclass(eq=False)
class Reshape(Op):
    """View each sample with a new static shape of equal size (Reshape, Flatten, (Un)Squeeze)."""

    name = "reshape"
    shape: tuple

    def __post_init__(self) -> None:
        self.shape = int_tuple(self.shape, "reshape shape", None, 1)

    def infer(self, inputs):
        (x,) = inputs
        size = int(np.prod(self.shape, dtype=np.int64))
        require(size == x.sample_size, f"reshape of {x} to sample shape {self.shape} changes the size")
        return x.with_sample_shape(self.shape)


@register_op
@dataclass(eq=False)
class Transpose(Op):
    """Permute dims; the batch dimension stays first (perm[0] = 0)."""

    name = "transpose"
    perm: tuple

    def __post_init__(self) -> None:
        self.perm = int_tuple(self.perm, "transpose perm")
        require(sorted(self.perm) == list(range(len(self.perm))), f"transpose perm {self.perm} is not a permutation")
        require(self.perm[0] == 0, f"transpose perm {self.perm} moves the batch dimension")

    def infer(self, inputs):
        (x,) = inputs
        require(x.rank == len(self.perm), f"transpose perm {self.perm} on rank-{x.rank} input")
        return TensorType(tuple(x.shape[p] for p in self.perm), x.dtype)


@register_op
@dataclass(eq=False)
class Concat(Op):
    """Join tensors along a non-batch axis."""

    name = "concat"
    arity = None
    axis: int = 1

    def __post_init__(self) -> None:
        self.axis = int(self.axis)
        require(self.axis >= 1, "concat axis must be a non-batch axis (>= 1)")

    def infer(self, inputs):
        require(len(inputs) >= 1, "concat needs inputs")
        first = inputs[0]
        require(self.axis < first.rank, f"concat axis {self.axis} out of range for {first}")
        for t in inputs:
            same = t.rank == first.rank and all(
                a == b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != self.axis
            )
            require(same, f"concat inputs {[str(t) for t in inputs]} differ off axis {self.axis}")
        shape = list(first.shape)
        shape[self.axis] = sum(t.shape[self.axis] for t in inputs)
        return TensorType(tuple(shape), first.dtype)


@register_op
@dataclass(eq=False)
class Pad(Op):
    """Constant padding of the sample dims; pads = (begin per sample dim..., end per sample dim...)."""

    name = "pad"
    pads: tuple
    value: float = 0.0

    def __post_init__(self) -> None:
        self.pads = int_tuple(self.pads, "pad pads")
        self.value = float(self.value)

    def infer(self, inputs):
        (x,) = inputs
        n = len(x.sample_shape)
        require(len(self.pads) == 2 * n, f"pad needs {2 * n} values for {x}, got {self.pads}")
        shape = tuple(d + self.pads[i] + self.pads[i + n] for i, d in enumerate(x.sample_shape))
        return x.with_sample_shape(shape)
