"""The reference ANN executor: every IR op as a small numpy kernel.

This is the definition of what each ANN op computes; it is tested against onnxruntime and
the SNN simulators are tested against it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from snnc.errors import DataError
from snnc.ir import ops_nn as nn
from snnc.ir import ops_snn as snn
from snnc.ir import ops_tensor as t
from snnc.ir.graph import Graph
from snnc.ir.op import Op
from snnc.ir.types import TensorType

KERNELS: dict[type[Op], Callable] = {}


def kernel(*op_classes: type[Op]):
    def register(fn):
        for cls in op_classes:
            KERNELS[cls] = fn
        return fn

    return register


def sliding_windows(x: np.ndarray, kernel_shape, strides, dilations) -> np.ndarray:
    """(N, C, *out, *kernel) view of the (already padded) input's sliding windows."""
    nsp = len(kernel_shape)
    span = [(k - 1) * d + 1 for k, d in zip(kernel_shape, dilations)]
    view = sliding_window_view(x, span, axis=tuple(range(2, 2 + nsp)))
    index = (slice(None), slice(None))
    index += tuple(slice(None, None, s) for s in strides)
    index += tuple(slice(None, None, d) for d in dilations)
    return view[index]


def pad_spatial(x: np.ndarray, pads, value: float, extra=None) -> np.ndarray:
    nsp = len(pads) // 2
    extra = extra or (0,) * nsp
    widths = [(0, 0), (0, 0)] + [(pads[i], pads[i + nsp] + extra[i]) for i in range(nsp)]
    return np.pad(x, widths, constant_values=value)


IM2COL_BUDGET = 32 * 2**20  # floats per im2col buffer; larger batches are split


@kernel(nn.Conv)
def conv(op: nn.Conv, x: np.ndarray) -> np.ndarray:
    per_sample = op.weight[0].size * op.groups * int(np.prod(out_spatial(op, x)))
    step = max(1, IM2COL_BUDGET // max(per_sample, 1))
    if x.shape[0] > step:
        return np.concatenate([_conv(op, x[i : i + step]) for i in range(0, x.shape[0], step)])
    return _conv(op, x)


def _conv(op: nn.Conv, x: np.ndarray) -> np.ndarray:
    """im2col, then one batched matmul per group."""
    spatial = out_spatial(op, x)
    out_channels = op.weight.shape[0]
    weight = op.weight.reshape(op.groups, out_channels // op.groups, -1)
    out = np.matmul(weight, im2col(op, x)).reshape(x.shape[0], out_channels, *spatial)
    return out + op.bias.reshape(-1, *(1,) * len(spatial))


def im2col(op: nn.Conv, x: np.ndarray) -> np.ndarray:
    """(N, groups, C/groups·kernel size, output positions): each output position's window, by
    kernel offset (one strided slice each), in the order of the weight's (C/groups, *kernel)."""
    n, channels = x.shape[:2]
    padded = pad_spatial(x, op.pads, 0.0)
    spatial = out_spatial(op, x)
    offsets = list(np.ndindex(*op.kernel))
    cols = np.empty((n, channels, len(offsets), *spatial), dtype=x.dtype)
    for index, offset in enumerate(offsets):
        window = tuple(
            slice(k * d, k * d + (size - 1) * s + 1, s)
            for k, d, s, size in zip(offset, op.dilations, op.strides, spatial)
        )
        cols[:, :, index] = padded[(slice(None), slice(None), *window)]
    return cols.reshape(n, op.groups, -1, int(np.prod(spatial)))


@kernel(nn.Gemm)
def gemm(op: nn.Gemm, x: np.ndarray) -> np.ndarray:
    return x @ op.weight.T + op.bias


@kernel(nn.BatchNorm)
def batch_norm(op: nn.BatchNorm, x: np.ndarray) -> np.ndarray:
    a, b = op.folded()
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return x * a.reshape(shape) + b.reshape(shape)


def ceil_extra(op, x: np.ndarray, out_shape, dilations) -> tuple[int, ...]:
    """Cells to add past the end pad so ceil_mode's last window is complete."""
    nsp = len(op.kernel)
    extra = []
    for i in range(nsp):
        needed = (out_shape[i] - 1) * op.strides[i] + (op.kernel[i] - 1) * dilations[i] + 1
        have = x.shape[2 + i] + op.pads[i] + op.pads[i + nsp]
        extra.append(max(0, needed - have))
    return tuple(extra)


def out_spatial(op: Op, x: np.ndarray) -> tuple[int, ...]:
    return op.infer([TensorType(x.shape)]).shape[2:]


@kernel(nn.MaxPool, snn.GatedMaxPool)
def max_pool(op: nn.MaxPool, x: np.ndarray) -> np.ndarray:
    extra = ceil_extra(op, x, out_spatial(op, x), op.dilations)
    padded = pad_spatial(x, op.pads, -np.inf, extra)
    windows = sliding_windows(padded, op.kernel, op.strides, op.dilations)
    axes = tuple(range(-len(op.kernel), 0))
    return windows.max(axis=axes)


@kernel(nn.AvgPool)
def avg_pool(op: nn.AvgPool, x: np.ndarray) -> np.ndarray:
    nsp = len(op.kernel)
    ones = (1,) * nsp
    extra = ceil_extra(op, x, out_spatial(op, x), ones)
    axes = tuple(range(-nsp, 0))
    total = sliding_windows(pad_spatial(x, op.pads, 0.0, extra), op.kernel, op.strides, ones).sum(axis=axes)
    # The divisor counts the cells a window covers: inside the input, plus the explicit pads
    # when count_include_pad; cells past the pads (from ceil_mode) never count.
    inside = np.ones((1, 1, *x.shape[2:]), dtype=np.float32)
    if op.count_include_pad:
        inside = pad_spatial(inside, op.pads, 1.0)
        pads = (0,) * nsp + tuple(e for e in extra)
        counted = pad_spatial(inside, pads, 0.0)
    else:
        counted = pad_spatial(inside, op.pads, 0.0, extra)
    count = sliding_windows(counted, op.kernel, op.strides, ones).sum(axis=axes)
    return total / count


@kernel(nn.GlobalAvgPool)
def global_avg_pool(op, x: np.ndarray) -> np.ndarray:
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)


@kernel(nn.GlobalMaxPool)
def global_max_pool(op, x: np.ndarray) -> np.ndarray:
    return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)


@kernel(nn.LRN)
def lrn(op: nn.LRN, x: np.ndarray) -> np.ndarray:
    squares = np.square(x)
    before, after = (op.size - 1) // 2, op.size - 1 - (op.size - 1) // 2
    padded = np.pad(squares, [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
    window_sum = sliding_window_view(padded, op.size, axis=1).sum(axis=-1)
    return x / (op.bias + op.alpha / op.size * window_sum) ** op.beta


@kernel(t.Identity, snn.Readout)
def identity(op, x):
    return x


@kernel(t.Add)
def add(op, *xs):
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


@kernel(t.AddConst)
def add_const(op: t.AddConst, x):
    return x + op.value


@kernel(t.MulConst)
def mul_const(op: t.MulConst, x):
    return x * op.value


@kernel(t.Relu)
def relu(op, x):
    return np.maximum(x, 0)


@kernel(snn.Neuron, snn.MsatNeuron)
def neuron_as_relu(op: snn.Neuron, x):
    """The ANN view of a neuron: the activation it replaced."""
    return np.clip(x, 0, op.ceiling) if op.ceiling is not None else np.maximum(x, 0)


@kernel(t.Clip)
def clip(op: t.Clip, x):
    return np.clip(x, op.min, op.max) if (op.min is not None or op.max is not None) else x


@kernel(t.LeakyRelu)
def leaky_relu(op: t.LeakyRelu, x):
    return np.where(x >= 0, x, x * np.float32(op.alpha))


@kernel(t.Sigmoid)
def sigmoid(op, x):
    return 1 / (1 + np.exp(-x))


@kernel(t.Tanh)
def tanh(op, x):
    return np.tanh(x)


@kernel(t.Softmax)
def softmax(op: t.Softmax, x):
    shifted = x - x.max(axis=op.axis, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=op.axis, keepdims=True))
    return shifted - log_sum if op.log else np.exp(shifted - log_sum)


@kernel(t.Reshape)
def reshape(op: t.Reshape, x):
    return x.reshape(x.shape[0], *op.shape)


@kernel(t.Transpose)
def transpose(op: t.Transpose, x):
    return np.ascontiguousarray(x.transpose(op.perm))


@kernel(t.Concat)
def concat(op: t.Concat, *xs):
    return np.concatenate(xs, axis=op.axis)


@kernel(t.Pad)
def pad(op: t.Pad, x):
    n = x.ndim - 1
    widths = [(0, 0)] + [(op.pads[i], op.pads[i + n]) for i in range(n)]
    return np.pad(x, widths, constant_values=op.value)


def bind_inputs(graph: Graph, inputs, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Check the user's inputs (one array, a list, or a dict by name) against the graph (`names`:
    its inputs, when the caller holds them already: finding them walks the graph)."""
    names = names if names is not None else graph.inputs
    if isinstance(inputs, dict):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise DataError(f"missing input(s) {missing}; the model takes {names}")
        arrays = [inputs[n] for n in names]
    elif isinstance(inputs, (list, tuple)):
        arrays = list(inputs)
    else:
        arrays = [inputs]
    if len(arrays) != len(names):
        raise DataError(f"the model takes {len(names)} input(s) {names}, got {len(arrays)}")
    bound = {}
    for name, array in zip(names, arrays):
        bound[name] = check_input(graph, name, np.asarray(array))
    return bound


def check_input(graph: Graph, name: str, array: np.ndarray) -> np.ndarray:
    expected = graph.type(name)
    if array.dtype.kind not in "fiu":
        raise DataError(f"input {name!r} must be numeric, got dtype {array.dtype}")
    if array.ndim != expected.rank or tuple(array.shape[1:]) != expected.sample_shape:
        raise DataError(f"input {name!r} must have shape {expected}, got {list(array.shape)}")
    if expected.shape[0] != "N" and array.shape[0] != expected.shape[0]:
        raise DataError(f"input {name!r} has a fixed batch of {expected.shape[0]}, got {array.shape[0]}")
    return array.astype(np.float32, copy=False)


def execute(graph: Graph, inputs, keep=False) -> list[np.ndarray] | dict[str, np.ndarray]:
    """Run the graph on numpy inputs; returns the outputs in order, or with `keep` a dict of
    every tensor (keep=True) or of the tensors named in `keep`.

    Intermediate tensors are freed as soon as their last consumer has run (unless kept).
    """
    kept = set(graph.nx.nodes) if keep is True else set(keep or ())
    values: dict[str, np.ndarray] = bind_inputs(graph, inputs)
    remaining = {n: graph.nx.out_degree(n) for n in graph.nx.nodes}
    for node in graph.nodes():
        if node.name in values:
            continue
        args = [values[i] for i in node.inputs]
        values[node.name] = np.asarray(KERNELS[type(node.op)](node.op, *args), dtype=np.float32)
        for source in set(node.inputs):
            remaining[source] -= graph.nx.number_of_edges(source, node.name)
            if remaining[source] == 0 and source not in graph.outputs and source not in kept:
                del values[source]
    if keep is True:
        return values
    if keep:
        return {name: values[name] for name in keep}
    return [values[o] for o in graph.outputs]
