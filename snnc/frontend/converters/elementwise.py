"""Add, Sum, Sub, Mul, Div, activations, Dropout and Identity."""

from __future__ import annotations

import numpy as np

from snnc.frontend.context import ImportContext
from snnc.frontend.registry import converter
from snnc.ir.ops_tensor import Add, AddConst, Clip, Identity, LeakyRelu, MulConst, Relu, Sigmoid, Tanh

BINARY_VERSIONS = (6, 7, 13, 14)


def _legacy_broadcast(ctx: ImportContext, constant: np.ndarray, x: str) -> np.ndarray:
    """Before opset 7, `broadcast=1, axis=a` aligned B's dims with A's starting at axis a."""
    attrs = ctx.attrs()
    if ctx.opset >= 7 or not attrs.get("broadcast", 0) or "axis" not in attrs:
        return constant
    rank = ctx.type(x).rank
    trailing = rank - attrs["axis"] % rank - constant.ndim
    return constant.reshape(constant.shape + (1,) * max(trailing, 0))


def _operands(ctx: ImportContext):
    """(dynamic value, constant or None, constant_is_first) for a binary op."""
    if ctx.is_const(0):
        x = ctx.value(1)
        return x, _legacy_broadcast(ctx, ctx.const(0).astype(np.float32, copy=False), x), True
    x = ctx.value(0)
    if ctx.is_const(1):
        return x, _legacy_broadcast(ctx, ctx.const(1).astype(np.float32, copy=False), x), False
    return x, None, False


@converter("Add", versions=BINARY_VERSIONS)
def convert_add(ctx: ImportContext):
    x, constant, _ = _operands(ctx)
    if constant is None:
        return ctx.emit(Add(), [x, ctx.value(1)])
    return ctx.emit(ctx.make(AddConst, constant), [x])


@converter("Sub", versions=BINARY_VERSIONS)
def convert_sub(ctx: ImportContext):
    x, constant, constant_first = _operands(ctx)
    if constant is None:
        negated = ctx.emit(MulConst(np.float32(-1)), [ctx.value(1)])
        return ctx.emit(Add(), [x, negated])
    if constant_first:  # c − x = (−1)·x + c
        negated = ctx.emit(MulConst(np.float32(-1)), [x])
        return ctx.emit(ctx.make(AddConst, constant), [negated])
    return ctx.emit(ctx.make(AddConst, -constant), [x])


@converter("Mul", versions=BINARY_VERSIONS)
def convert_mul(ctx: ImportContext):
    x, constant, _ = _operands(ctx)
    if constant is None:
        raise ctx.unsupported("the product of two computed tensors has no spiking form; one side must be constant")
    return ctx.emit(ctx.make(MulConst, constant), [x])


@converter("Div", versions=BINARY_VERSIONS)
def convert_div(ctx: ImportContext):
    x, constant, constant_first = _operands(ctx)
    if constant is None or constant_first:
        raise ctx.unsupported("division by a computed tensor is not supported; only x / constant")
    if np.any(constant == 0):
        raise ctx.unsupported("division by a constant that contains zero")
    return ctx.emit(ctx.make(MulConst, (1.0 / constant).astype(np.float32, copy=False)), [x])


@converter("Sum", versions=(6, 8, 13))
def convert_sum(ctx: ImportContext):
    count = len(ctx.node.input)
    dynamic = [ctx.value(i) for i in range(count) if not ctx.is_const(i)]
    constants = [ctx.const(i).astype(np.float32, copy=False) for i in range(count) if ctx.is_const(i)]
    total = dynamic[0] if len(dynamic) == 1 else ctx.emit(Add(), dynamic)
    if constants:
        total = ctx.emit(ctx.make(AddConst, sum(constants[1:], constants[0])), [total])
    return total


@converter("Relu", versions=(6, 13, 14))
def convert_relu(ctx: ImportContext):
    return ctx.emit(Relu(), [ctx.value(0)])


@converter("LeakyRelu", versions=(6, 16))
def convert_leaky_relu(ctx: ImportContext):
    return ctx.emit(LeakyRelu(ctx.attrs().get("alpha", 0.01)), [ctx.value(0)])


@converter("Sigmoid", versions=(6, 13))
def convert_sigmoid(ctx: ImportContext):
    return ctx.emit(Sigmoid(), [ctx.value(0)])


@converter("Tanh", versions=(6, 13))
def convert_tanh(ctx: ImportContext):
    return ctx.emit(Tanh(), [ctx.value(0)])


@converter("Clip", versions=(6, 11, 12, 13))
def convert_clip(ctx: ImportContext):
    if ctx.opset < 11:
        attrs = ctx.attrs()
        low, high = attrs.get("min"), attrs.get("max")
    else:
        low, high = ctx.const(1), ctx.const(2)
    low = None if low is None else float(np.asarray(low).reshape(()))
    high = None if high is None else float(np.asarray(high).reshape(()))
    return ctx.emit(Clip(low, high), [ctx.value(0)])


@converter("Dropout", versions=(6, 7, 10, 12, 13, 22))
def convert_dropout(ctx: ImportContext):
    """Inference-mode dropout is the identity; training mode would be random."""
    training = ctx.const(2) if ctx.opset >= 12 else None
    if training is not None and bool(np.asarray(training).reshape(())):
        raise ctx.unsupported("training_mode=True makes dropout random: export in eval mode")
    if ctx.opset < 7 and not ctx.attrs().get("is_test", 0) and len(ctx.node.output) > 1:
        raise ctx.unsupported("is_test=0 with a mask output: export the model in inference mode")
    return ctx.emit(Identity(), [ctx.value(0)])


@converter("Identity", versions=(1, 13, 14, 16, 19, 21, 23, 24, 25))
def convert_identity(ctx: ImportContext):
    return ctx.emit(Identity(), [ctx.value(0)])
