"""Geometry for the float plan: convolution loop bounds and weight layouts, pooling and reshape
maps (found by running the reference kernels on arrays of indices, so a window here is by
construction the one the reference computes), and the channels-last form of such maps."""

from __future__ import annotations

import numpy as np
from snnc.runtime.ann import KERNELS, avg_pool, ceil_extra, out_spatial, pad_spatial, sliding_windows

from snnc.errors import UnsupportedError
from snnc.ir import ops_nn as nn
from snnc.ir import ops_tensor as t


def conv_geometry(op: nn.Conv, in_shape, out_shape, scatter: bool) -> tuple[dict, np.ndarray]:
    """Loop bounds, and the weight as (C, KH, KW, Og) for the scatter form, as (KH, KW, C) for
    a depthwise convolution in the dense form (geometry["depthwise"]), or as (G, KH, KW, Cg, Og)
    for the gather form (synapses.scatter_synapses / depthwise_synapses / gather_synapses; the
    plan lays the last out per channel tile, plan.gathered)."""
    spatial_in, spatial_out = list(in_shape[1:]), list(out_shape[1:])
    kernel, strides, dilations = list(op.kernel), list(op.strides), list(op.dilations)
    pads_begin, pads_end = list(op.pads[: len(op.kernel)]), list(op.pads[len(op.kernel) :])
    if len(op.kernel) == 1:  # 1-D: a 2-D convolution of height 1
        spatial_in, spatial_out = [1, *spatial_in], [1, *spatial_out]
        kernel, strides, dilations = [1, *kernel], [1, *strides], [1, *dilations]
        pads_begin, pads_end = [0, *pads_begin], [0, *pads_end]
    groups, out_channels = op.groups, op.weight.shape[0]
    weight = op.weight.reshape(groups, out_channels // groups, -1, kernel[0], kernel[1])  # (G, Og, Cg, KH, KW)
    weight = weight.transpose(0, 2, 3, 4, 1) if scatter else weight.transpose(0, 3, 4, 2, 1)
    geometry = dict(
        IH=spatial_in[0], IW=spatial_in[1], C=in_shape[0], OH=spatial_out[0], OW=spatial_out[1], O=out_channels,
        KH=kernel[0], KW=kernel[1], SH=strides[0], SW=strides[1], DH=dilations[0], DW=dilations[1],
        PT=pads_begin[0], PL=pads_begin[1], PB=pads_end[0], PR=pads_end[1], G=groups,
    )  # fmt: skip
    if not scatter and groups == in_shape[0] == out_channels:
        geometry["depthwise"] = True
        weight = weight.reshape(groups, kernel[0], kernel[1]).transpose(1, 2, 0)
    return geometry, weight


def scaled_along_input_channels(weight: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """w[c, …]·θ_c for the scatter form's weights, (1, C, KH, KW, O) or a dense layer's (C, O)."""
    shape = [1] * weight.ndim
    shape[1 if weight.ndim == 5 else 0] = -1
    return weight * theta.reshape(shape)


def window_map(op, in_shape) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(row-major source index per output and window slot (−1: padding), coefficients, reduction)."""
    index = np.arange(int(np.prod(in_shape)), dtype=np.float64).reshape(1, *in_shape) + 1
    if isinstance(op, (t.Reshape, t.Transpose, t.Identity, t.Pad)):
        if isinstance(op, t.Pad) and op.value != 0:
            raise UnsupportedError(f"pad with value {op.value} on the cpu target (only zero padding)")
        return KERNELS[type(op)](op, index).astype(np.int64) - 1, None, "sum"
    if isinstance(op, nn.GlobalAvgPool):  # GlobalMaxPool too
        rows = index.reshape(in_shape[0], -1).astype(np.int64) - 1
        coef = None if isinstance(op, nn.GlobalMaxPool) else np.full(in_shape[0], 1 / rows.shape[1])
        return rows, coef, "max" if coef is None else "sum"
    nsp = len(op.kernel)
    dilations = getattr(op, "dilations", None) or (1,) * nsp
    extra = ceil_extra(op, index, out_spatial(op, index), dilations)
    windows = sliding_windows(pad_spatial(index, op.pads, 0.0, extra), op.kernel, op.strides, dilations)
    rows = windows.reshape(*windows.shape[: 2 + nsp], -1).astype(np.int64) - 1
    if isinstance(op, nn.MaxPool):
        return rows, None, "max"
    inside = np.maximum((rows >= 0).sum(axis=-1), 1)
    coef = avg_pool(op, np.ones((1, *in_shape))) / inside  # the divisor the reference uses, per output
    return rows, coef, "sum"


def pixel_rows(rows: np.ndarray, source_shape) -> np.ndarray | None:
    """In the channels-last layout, a pooling window's sources for channel c are its sources for
    channel 0 shifted by c. When a map has that form, its rows per output pixel (those of
    channel 0; the channel count is the source's) let a kernel run along the channels, which
    are contiguous and vectorize. None when it has not (reshapes, transposes, one channel)."""
    channels = source_shape[0] if len(source_shape) >= 2 else 1
    if channels < 2 or rows.shape[0] % channels:
        return None
    grouped = rows.reshape(-1, channels, rows.shape[1])
    first = grouped[:, :1, :]
    if not np.array_equal(grouped, np.where(first >= 0, first + np.arange(channels)[None, :, None], -1)):
        return None
    return first[:, 0, :]
