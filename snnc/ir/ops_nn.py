"""Weighted and windowed ANN ops: convolution, dense layers, batch norm, pooling, LRN.

Layouts follow ONNX: activations are (N, C, *spatial) with 1 or 2 spatial dims; pads are
(begin_0, begin_1, ..., end_0, end_1, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.ir.op import Op, as_float_array, int_tuple, register_op, require
from snnc.ir.types import TensorType


def window_output_size(
    size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """ONNX's sliding-window size rule; with ceil_mode a window must start inside input or left pad."""
    span = size + pad_begin + pad_end - ((kernel - 1) * dilation + 1)
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def _windowed_shape(x: TensorType, op, kernel, dilations, ceil_mode: bool, what: str) -> tuple[int, ...]:
    spatial = x.sample_shape[1:]
    require(len(spatial) == len(kernel), f"{what}: input {x} has {len(spatial)} spatial dims, kernel {kernel}")
    nsp = len(kernel)
    out = []
    for i in range(nsp):
        size = window_output_size(
            spatial[i], kernel[i], op.strides[i], op.pads[i], op.pads[i + nsp], dilations[i], ceil_mode
        )
        require(size > 0, f"{what}: window {kernel} does not fit input {x}")
        out.append(size)
    return tuple(out)


def _check_window(op, nsp: int, what: str) -> None:
    require(nsp in (1, 2), f"{what}: only 1-D and 2-D windows are supported, got {nsp}-D")
    op.strides = int_tuple(op.strides, f"{what} strides", nsp, 1)
    op.pads = int_tuple(op.pads, f"{what} pads", 2 * nsp, 0)


@register_op
@dataclass(eq=False)
class Conv(Op):
    """Convolution: y[n,m,p] = b[m] + Σ_{c,k} W[m,c,k] · x_pad[n, g·C/G + c, p·s + k·d].

    weight: (M, C/groups, *kernel); bias: (M,).
    """

    name = "conv"
    weight: np.ndarray
    bias: np.ndarray
    strides: tuple = ()
    pads: tuple = ()
    dilations: tuple = ()
    groups: int = 1

    def __post_init__(self) -> None:
        self.weight = as_float_array(self.weight, "conv weight")
        nsp = self.weight.ndim - 2
        self.strides = self.strides or (1,) * nsp
        self.pads = self.pads or (0,) * (2 * nsp)
        self.dilations = int_tuple(self.dilations or (1,) * nsp, "conv dilations", nsp, 1)
        _check_window(self, nsp, "conv")
        self.bias = as_float_array(self.bias, "conv bias")
        require(self.bias.shape == (self.weight.shape[0],), f"conv bias {self.bias.shape} != ({self.weight.shape[0]},)")
        self.groups = int(self.groups)
        require(self.groups >= 1 and self.weight.shape[0] % self.groups == 0, "conv: groups must divide out channels")

    @property
    def kernel(self) -> tuple[int, ...]:
        return tuple(self.weight.shape[2:])

    def infer(self, inputs):
        (x,) = inputs
        channels = self.weight.shape[1] * self.groups
        require(x.rank == self.weight.ndim and x.shape[1] == channels, f"conv expects {channels} channels, got {x}")
        spatial = _windowed_shape(x, self, self.kernel, self.dilations, False, "conv")
        return x.with_sample_shape((self.weight.shape[0], *spatial))

    def macs(self, inputs, output):
        per_output = self.weight[0].size
        return output.sample_size * per_output


@register_op
@dataclass(eq=False)
class Gemm(Op):
    """Dense layer on the last axis: y = x · Wᵀ + b, with W: (out, in), b: (out,)."""

    name = "gemm"
    weight: np.ndarray
    bias: np.ndarray

    def __post_init__(self) -> None:
        self.weight = as_float_array(self.weight, "gemm weight")
        self.bias = as_float_array(self.bias, "gemm bias")
        require(self.weight.ndim == 2, f"gemm weight must be 2-D, got {self.weight.shape}")
        require(self.bias.shape == (self.weight.shape[0],), f"gemm bias {self.bias.shape} != ({self.weight.shape[0]},)")

    def infer(self, inputs):
        (x,) = inputs
        require(
            x.rank >= 2 and x.shape[-1] == self.weight.shape[1],
            f"gemm expects last dim {self.weight.shape[1]}, got {x}",
        )
        return x.with_sample_shape((*x.sample_shape[:-1], self.weight.shape[0]))

    def macs(self, inputs, output):
        return output.sample_size * self.weight.shape[1]


@register_op
@dataclass(eq=False)
class BatchNorm(Op):
    """Inference batch norm over channels: y = scale·(x − mean)/√(var + ε) + bias."""

    name = "batch-norm"
    scale: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    epsilon: float = 1e-5

    def __post_init__(self) -> None:
        for field in ("scale", "bias", "mean", "var"):
            setattr(self, field, as_float_array(getattr(self, field), f"batch-norm {field}"))
            require(getattr(self, field).shape == self.scale.shape, "batch-norm parameters must share one shape")
        require(self.scale.ndim == 1, "batch-norm parameters must be 1-D (per channel)")
        self.epsilon = float(self.epsilon)

    def infer(self, inputs):
        (x,) = inputs
        require(
            x.rank >= 2 and x.shape[1] == self.scale.shape[0], f"batch-norm of {self.scale.shape[0]} channels got {x}"
        )
        return x

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) with y = a·x + b per channel."""
        a = self.scale / np.sqrt(self.var + np.float32(self.epsilon))
        return a.astype(np.float32), (self.bias - a * self.mean).astype(np.float32)


@register_op
@dataclass(eq=False)
class AvgPool(Op):
    """Average over windows; the divisor counts padded cells only with count_include_pad.

    Cells past the explicit pads (added by ceil_mode) are never counted.
    """

    name = "avg-pool"
    kernel: tuple
    strides: tuple = ()
    pads: tuple = ()
    ceil_mode: bool = False
    count_include_pad: bool = False

    def __post_init__(self) -> None:
        self.kernel = int_tuple(self.kernel, "avg-pool kernel", None, 1)
        nsp = len(self.kernel)
        self.strides = self.strides or (1,) * nsp
        self.pads = self.pads or (0,) * (2 * nsp)
        _check_window(self, nsp, "avg-pool")
        self.ceil_mode = bool(self.ceil_mode)
        self.count_include_pad = bool(self.count_include_pad)

    def infer(self, inputs):
        (x,) = inputs
        spatial = _windowed_shape(x, self, self.kernel, (1,) * len(self.kernel), self.ceil_mode, "avg-pool")
        return x.with_sample_shape((x.shape[1], *spatial))


@register_op
@dataclass(eq=False)
class MaxPool(Op):
    """Maximum over (dilated) windows; padding never wins (it is −∞)."""

    name = "max-pool"
    kernel: tuple
    strides: tuple = ()
    pads: tuple = ()
    dilations: tuple = ()
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        self.kernel = int_tuple(self.kernel, "max-pool kernel", None, 1)
        nsp = len(self.kernel)
        self.strides = self.strides or (1,) * nsp
        self.pads = self.pads or (0,) * (2 * nsp)
        self.dilations = int_tuple(self.dilations or (1,) * nsp, "max-pool dilations", nsp, 1)
        _check_window(self, nsp, "max-pool")
        self.ceil_mode = bool(self.ceil_mode)

    def infer(self, inputs):
        (x,) = inputs
        spatial = _windowed_shape(x, self, self.kernel, self.dilations, self.ceil_mode, "max-pool")
        return x.with_sample_shape((x.shape[1], *spatial))


@register_op
@dataclass(eq=False)
class GlobalAvgPool(Op):
    """Mean over all spatial positions; keeps them as size-1 dims: (N, C, 1, ...)."""

    name = "global-avg-pool"

    def infer(self, inputs):
        (x,) = inputs
        require(x.rank >= 3, f"global pooling needs spatial dims, got {x}")
        return x.with_sample_shape((x.shape[1],) + (1,) * (x.rank - 2))


@register_op
@dataclass(eq=False)
class GlobalMaxPool(GlobalAvgPool):
    """Maximum over all spatial positions; keeps them as size-1 dims."""

    name = "global-max-pool"


@register_op
@dataclass(eq=False)
class LRN(Op):
    """Local response normalization across channels:
    y = x / (bias + α/size · Σ_{c' ∈ window(c)} x[c']²)^β, window = [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉].
    """

    name = "lrn"
    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    bias: float = 1.0

    def __post_init__(self) -> None:
        self.size = int(self.size)
        require(self.size >= 1, "lrn size must be >= 1")
        self.alpha, self.beta, self.bias = float(self.alpha), float(self.beta), float(self.bias)

    def infer(self, inputs):
        (x,) = inputs
        require(x.rank >= 3, f"lrn needs (N, C, ...) input, got {x}")
        return x
