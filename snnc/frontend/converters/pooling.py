"""AveragePool, MaxPool, GlobalAveragePool, GlobalMaxPool and ReduceMean."""

from __future__ import annotations

import numpy as np

from snnc.frontend.context import ImportContext
from snnc.frontend.converters.common import normalize_axes, require_non_batch, window_attributes
from snnc.frontend.registry import converter
from snnc.ir.ops_nn import AvgPool, GlobalAvgPool, GlobalMaxPool, MaxPool
from snnc.ir.ops_tensor import Reshape, Transpose


@converter("AveragePool", versions=(1, 7, 10, 11, 19, 22))
def convert_average_pool(ctx: ImportContext):
    x = ctx.value(0)
    attrs = ctx.attrs()
    kernel = tuple(attrs["kernel_shape"])
    if any(d != 1 for d in attrs.get("dilations", ())):
        raise ctx.unsupported(f"dilated average pooling (dilations={attrs['dilations']}) is not supported")
    window = window_attributes(ctx, ctx.type(x).shape[2:], kernel)
    op = ctx.make(
        AvgPool,
        kernel,
        ceil_mode=attrs.get("ceil_mode", 0),
        count_include_pad=attrs.get("count_include_pad", 0),
        **window,
    )
    return ctx.emit(op, [x])


@converter("MaxPool", versions=(1, 8, 10, 11, 12, 22))
def convert_max_pool(ctx: ImportContext):
    x = ctx.value(0)
    attrs = ctx.attrs()
    kernel = tuple(attrs["kernel_shape"])
    dilations = tuple(attrs.get("dilations", (1,) * len(kernel)))
    window = window_attributes(ctx, ctx.type(x).shape[2:], kernel, dilations)
    op = ctx.make(MaxPool, kernel, dilations=dilations, ceil_mode=attrs.get("ceil_mode", 0), **window)
    return ctx.emit(op, [x])


@converter("GlobalAveragePool", versions=(1, 22))
def convert_global_average_pool(ctx: ImportContext):
    return ctx.emit(GlobalAvgPool(), [ctx.value(0)])


@converter("GlobalMaxPool", versions=(1, 22))
def convert_global_max_pool(ctx: ImportContext):
    return ctx.emit(GlobalMaxPool(), [ctx.value(0)])


@converter("ReduceMean", versions=(1, 11, 13, 18))
def convert_reduce_mean(ctx: ImportContext):
    """A mean over non-batch axes: global average pooling of the reduced axes.

    Over exactly the spatial axes of (N, C, ...) it is GlobalAvgPool; otherwise the kept axes
    are moved first, the reduced ones flattened into one spatial axis, pooled and reshaped.
    """
    x = ctx.value(0)
    shape = ctx.type(x).shape
    rank = len(shape)
    attrs = ctx.attrs()
    axes = ctx.const(1) if ctx.opset >= 18 else attrs.get("axes")
    if axes is None or len(axes) == 0:
        if ctx.opset >= 18 and attrs.get("noop_with_empty_axes", 0):
            return x
        axes = range(rank)
    axes = sorted(set(normalize_axes(ctx, np.asarray(axes).reshape(-1), rank)))
    require_non_batch(ctx, axes, "a mean")
    keepdims = attrs.get("keepdims", 1)
    out_shape = tuple(1 if i in axes else d for i, d in enumerate(shape) if keepdims or i not in axes)[1:]
    if axes == list(range(2, rank)):
        pooled = ctx.emit(GlobalAvgPool(), [x])
    else:
        kept = [i for i in range(1, rank) if i not in axes]
        perm = (0, *kept, *axes)
        moved = ctx.emit(ctx.make(Transpose, perm), [x]) if list(perm) != list(range(rank)) else x
        kept_size = int(np.prod([shape[i] for i in kept], dtype=np.int64))
        reduced_size = int(np.prod([shape[i] for i in axes], dtype=np.int64))
        flat = ctx.emit(ctx.make(Reshape, (kept_size, reduced_size)), [moved])
        pooled = ctx.emit(GlobalAvgPool(), [flat])
    if ctx.type(pooled).sample_shape == out_shape:
        return pooled
    return ctx.emit(ctx.make(Reshape, out_shape), [pooled])
