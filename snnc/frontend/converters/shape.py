"""Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Concat, Pad, and Shape/Size (which fold).

Every reshaping op becomes an IR `reshape` of the sample; the batch dimension must stay first.
"""

from __future__ import annotations

import numpy as np

from snnc.frontend.context import ImportContext
from snnc.frontend.converters.common import normalize_axes, require_non_batch
from snnc.frontend.registry import converter
from snnc.ir.ops_tensor import Concat, Identity, Pad, Reshape, Transpose

LAYOUT_VERSIONS = (1, 13, 21, 23, 24, 25)  # 21 and later only add element types


def _reshape_to(ctx: ImportContext, x: str, full_shape) -> str:
    """Reshape to an ONNX full shape whose first dim is the batch."""
    return ctx.emit(ctx.make(Reshape, tuple(int(d) for d in full_shape[1:])), [x])


@converter("Flatten", versions=(1, 9, 11, 13, 21, 23, 24, 25))
def convert_flatten(ctx: ImportContext):
    x = ctx.value(0)
    shape = ctx.full_shape(x)
    axis = ctx.attrs().get("axis", 1)
    axis = axis % len(shape) if axis < 0 else axis
    if axis == 0 or int(np.prod(shape[1:axis], dtype=np.int64)) != 1:
        raise ctx.unsupported(f"Flatten with axis={axis} folds the batch dimension into the features")
    return ctx.emit(ctx.make(Reshape, (int(np.prod(shape[axis:], dtype=np.int64)),)), [x])


@converter("Reshape", versions=(5, 13, 14, 19, 21, 23, 24, 25))
def convert_reshape(ctx: ImportContext):
    x = ctx.value(0)
    target = [int(d) for d in ctx.const(1).reshape(-1)]
    shape = ctx.full_shape(x)
    allowzero = ctx.attrs().get("allowzero", 0)
    if allowzero and 0 in target:
        raise ctx.unsupported("allowzero=1 with a 0 in the shape makes an empty tensor")
    resolved = [shape[i] if d == 0 and i < len(shape) else d for i, d in enumerate(target)]
    if resolved.count(-1) > 1:
        raise ctx.unsupported(f"shape {target} has more than one -1")
    total = int(np.prod(shape, dtype=np.int64))
    if -1 in resolved:
        known = int(np.prod([d for d in resolved if d != -1], dtype=np.int64))
        if known == 0 or total % known:
            raise ctx.unsupported(f"cannot reshape {list(shape)} to {target}")
        resolved[resolved.index(-1)] = total // known
    if int(np.prod(resolved, dtype=np.int64)) != total or not resolved or resolved[0] != shape[0]:
        raise ctx.unsupported(f"reshape of {list(shape)} to {target} changes the batch dimension")
    return _reshape_to(ctx, x, resolved)


def _axes(ctx: ImportContext, opset_moved: int):
    """Axes from the attribute (before `opset_moved`) or the second input (from it on)."""
    axes = ctx.const(1) if ctx.opset >= opset_moved else ctx.attrs().get("axes")
    return None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]


@converter("Squeeze", versions=LAYOUT_VERSIONS[:1] + (11,) + LAYOUT_VERSIONS[1:])
def convert_squeeze(ctx: ImportContext):
    x = ctx.value(0)
    shape = ctx.full_shape(x)
    axes = _axes(ctx, 13)
    if axes is None:
        axes = [i for i in range(1, len(shape)) if shape[i] == 1]  # the batch is never squeezed
    axes = normalize_axes(ctx, axes, len(shape))
    require_non_batch(ctx, axes, "Squeeze")
    if any(shape[a] != 1 for a in axes):
        raise ctx.unsupported(f"cannot squeeze axes {axes} of shape {list(shape)}: not all are 1")
    return _reshape_to(ctx, x, [d for i, d in enumerate(shape) if i not in axes])


@converter("Unsqueeze", versions=LAYOUT_VERSIONS[:1] + (11,) + LAYOUT_VERSIONS[1:])
def convert_unsqueeze(ctx: ImportContext):
    x = ctx.value(0)
    shape = list(ctx.full_shape(x))
    axes = _axes(ctx, 13)
    if axes is None:
        raise ctx.unsupported("Unsqueeze needs axes")
    axes = sorted(normalize_axes(ctx, axes, len(shape) + len(axes)))
    require_non_batch(ctx, axes, "Unsqueeze")
    for axis in axes:
        shape.insert(axis, 1)
    return _reshape_to(ctx, x, shape)


@converter("Transpose", versions=LAYOUT_VERSIONS)
def convert_transpose(ctx: ImportContext):
    x = ctx.value(0)
    rank = ctx.type(x).rank
    perm = tuple(ctx.attrs().get("perm", range(rank - 1, -1, -1)))
    if len(perm) != rank or perm[0] != 0:
        raise ctx.unsupported(f"perm {list(perm)} moves the batch dimension")
    if perm == tuple(range(rank)):
        return ctx.emit(Identity(), [x])
    return ctx.emit(ctx.make(Transpose, perm), [x])


@converter("Concat", versions=(4, 11, 13))
def convert_concat(ctx: ImportContext):
    inputs = [ctx.value(i) for i in range(len(ctx.node.input))]
    rank = ctx.type(inputs[0]).rank
    (axis,) = normalize_axes(ctx, [ctx.attrs()["axis"]], rank)
    require_non_batch(ctx, [axis], "Concat")
    if len(inputs) == 1:
        return ctx.emit(Identity(), inputs)
    return ctx.emit(ctx.make(Concat, axis), inputs)


@converter("Pad", versions=(2, 11, 13, 18, 19, 21, 23, 24, 25))
def convert_pad(ctx: ImportContext):
    x = ctx.value(0)
    rank = ctx.type(x).rank
    attrs = ctx.attrs()
    mode = attrs.get("mode", "constant")
    if mode != "constant":
        raise ctx.unsupported(f"mode={mode!r}: only constant padding is supported")
    if ctx.opset < 11:
        pads, value = list(attrs["pads"]), attrs.get("value", 0.0)
    else:
        pads = [int(p) for p in ctx.const(1).reshape(-1)]
        value = ctx.const(2, np.zeros(())).reshape(-1)
        value = float(value[0]) if value.size else 0.0
    axes = ctx.const(3) if ctx.opset >= 18 else None
    if axes is not None:
        axes = normalize_axes(ctx, axes.reshape(-1), rank)
        full = [0] * (2 * rank)
        for k, axis in enumerate(axes):
            full[axis], full[axis + rank] = pads[k], pads[k + len(axes)]
        pads = full
    if len(pads) != 2 * rank or pads[0] or pads[rank]:
        raise ctx.unsupported(f"pads {pads} pad the batch dimension or do not match rank {rank}")
    if any(p < 0 for p in pads):
        raise ctx.unsupported(f"negative pads {pads} (cropping) are not supported")
    sample_pads = pads[1:rank] + pads[rank + 1 :]
    return ctx.emit(ctx.make(Pad, sample_pads, value), [x])


@converter("Shape", versions=(1, 13, 15, 19, 21, 23, 24, 25))
def convert_shape(ctx: ImportContext):
    """Folds to a constant: shapes are static, and the batch reads as the declared batch size."""
    shape = np.array(ctx.full_shape(ctx.value(0)), dtype=np.int64)
    attrs = ctx.attrs()
    return shape[attrs.get("start", 0) : attrs.get("end", len(shape))]


@converter("Size", versions=(1, 13, 19, 21, 23, 24, 25))
def convert_size(ctx: ImportContext):
    return np.array(np.prod(ctx.full_shape(ctx.value(0))), dtype=np.int64)
