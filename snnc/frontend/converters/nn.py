"""Conv, Gemm, MatMul, BatchNormalization and LRN."""

from __future__ import annotations

import numpy as np

from snnc.frontend.context import ImportContext
from snnc.frontend.converters.common import window_attributes
from snnc.frontend.registry import converter
from snnc.ir.ops_nn import LRN, BatchNorm, Conv, Gemm
from snnc.ir.ops_tensor import Reshape


@converter("Conv", versions=(1, 11, 22))
def convert_conv(ctx: ImportContext):
    x = ctx.value(0)
    weight = ctx.const(1).astype(np.float32, copy=False)
    bias = ctx.const(2, np.zeros(weight.shape[0])).astype(np.float32, copy=False)
    attrs = ctx.attrs()
    kernel = tuple(weight.shape[2:])
    if "kernel_shape" in attrs and tuple(attrs["kernel_shape"]) != kernel:
        raise ctx.unsupported(f"kernel_shape {attrs['kernel_shape']} disagrees with the weight's {kernel}")
    dilations = tuple(attrs.get("dilations", (1,) * len(kernel)))
    spatial = ctx.type(x).shape[2:]
    window = window_attributes(ctx, spatial, kernel, dilations)
    op = ctx.make(Conv, weight, bias, dilations=dilations, groups=attrs.get("group", 1), **window)
    return ctx.emit(op, [x])


@converter("Gemm", versions=(6, 7, 9, 11, 13))
def convert_gemm(ctx: ImportContext):
    """Y = α·A'·B' + β·C becomes a dense layer with W = α·B'ᵀ and b = β·C."""
    x = ctx.value(0)
    attrs = ctx.attrs()
    if attrs.get("transA", 0):
        raise ctx.unsupported("transA=1 would transpose the batch dimension into the features")
    b_matrix = ctx.const(1).astype(np.float32, copy=False)
    weight = b_matrix if attrs.get("transB", 0) else b_matrix.T
    alpha = attrs.get("alpha", 1.0)
    if alpha != 1.0:
        weight = np.float32(alpha) * weight
    bias = np.zeros(weight.shape[0], dtype=np.float32)
    c = ctx.const(2)
    if c is not None:
        c = np.asarray(c, dtype=np.float32)
        if c.ndim == 2 and c.shape[0] != 1:
            raise ctx.unsupported(f"C of shape {c.shape} varies along the batch dimension")
        bias = bias + np.float32(attrs.get("beta", 1.0)) * np.broadcast_to(c.reshape(-1), bias.shape)
    return ctx.emit(ctx.make(Gemm, weight, bias), [x])


@converter("MatMul", versions=(1, 9, 13))
def convert_matmul(ctx: ImportContext):
    """x @ B with a constant B: a dense layer on the last axis (a 1-D B drops that axis)."""
    x = ctx.value(0)
    b = ctx.const(1).astype(np.float32, copy=False)
    if b.ndim == 1:
        y = ctx.emit(ctx.make(Gemm, b[None, :], np.zeros(1, np.float32)), [x])
        return ctx.emit(ctx.make(Reshape, ctx.type(y).sample_shape[:-1] or (1,)), [y])
    if b.ndim != 2:
        raise ctx.unsupported(f"a batched constant operand of shape {b.shape} is not supported")
    if ctx.type(x).rank < 2:
        raise ctx.unsupported("a 1-D data operand has only the batch dimension")
    return ctx.emit(ctx.make(Gemm, b.T, np.zeros(b.shape[1], np.float32)), [x])


@converter("BatchNormalization", versions=(6, 7, 9, 14, 15))
def convert_batch_norm(ctx: ImportContext):
    x = ctx.value(0)
    attrs = ctx.attrs()
    if attrs.get("training_mode", 0):
        raise ctx.unsupported("training_mode=1: export the model in eval mode")
    if attrs.get("spatial", 1) == 0:
        raise ctx.unsupported("spatial=0 (per-activation statistics) is not supported")
    params = [ctx.const(i).astype(np.float32, copy=False).reshape(-1) for i in range(1, 5)]
    op = ctx.make(BatchNorm, *params, epsilon=attrs.get("epsilon", 1e-5))
    return ctx.emit(op, [x])


@converter("LRN", versions=(1, 13))
def convert_lrn(ctx: ImportContext):
    attrs = ctx.attrs()
    op = ctx.make(LRN, attrs["size"], attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0))
    return ctx.emit(op, [ctx.value(0)])
