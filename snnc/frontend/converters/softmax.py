"""Softmax and LogSoftmax (meant for the network's output)."""

from __future__ import annotations

import numpy as np

from snnc.frontend.context import ImportContext
from snnc.frontend.registry import converter
from snnc.ir.ops_tensor import Reshape, Softmax


def _convert(ctx: ImportContext, log: bool):
    x = ctx.value(0)
    shape = ctx.type(x).shape
    rank = len(shape)
    axis = ctx.attrs().get("axis", 1 if ctx.opset < 13 else -1) % rank
    if axis == 0:
        raise ctx.unsupported("softmax across the batch dimension is not supported")
    if ctx.opset >= 13 or axis == rank - 1:
        return ctx.emit(Softmax(axis, log), [x])
    # Before opset 13 the input was coerced to 2-D: one softmax over all dims from `axis` on.
    flat = ctx.emit(ctx.make(Reshape, (*shape[1:axis], int(np.prod(shape[axis:], dtype=np.int64)))), [x])
    y = ctx.emit(Softmax(axis, log), [flat])
    return ctx.emit(ctx.make(Reshape, shape[1:]), [y])


@converter("Softmax", versions=(1, 11, 13))
def convert_softmax(ctx: ImportContext):
    return _convert(ctx, log=False)


@converter("LogSoftmax", versions=(1, 11, 13))
def convert_log_softmax(ctx: ImportContext):
    return _convert(ctx, log=True)
