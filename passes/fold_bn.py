"""fold-bn: fold per-channel affine maps (batch norm, or its Mul/Add decomposition) into
the neighbouring weighted layer.

Into the producer (a conv or gemm whose output feeds only the affine op), with y = a·x + b:
    W'[m] = a[m]·W[m],  bias'[m] = a[m]·bias[m] + b[m].
Into the consumer (batch norm → conv with no padding, so no padded zero is left unscaled):
    W'[m, c] = W[m, c]·a[c],  bias'[m] = bias[m] + Σ_{c,k} W[m, c, k]·b[c].
A batch norm that folds nowhere stays: it is linear, so the SNN keeps it as a synapse op.
"""

from __future__ import annotations

import numpy as np
from snnc.passes.base import Pass, PassContext, bypass, register_pass, single_user

from snnc.ir.graph import Graph
from snnc.ir.ops_nn import BatchNorm, Conv, Gemm
from snnc.ir.ops_tensor import AddConst, MulConst
from snnc.ir.types import TensorType


def per_channel(value: np.ndarray, output: TensorType, channel_axis: int) -> np.ndarray | None:
    """The constant as one value per channel, or None if it varies along other axes."""
    full = np.broadcast_to(value, output.sample_shape)
    axis = channel_axis - 1  # sample axes skip the batch
    collapsed = full.max(axis=tuple(i for i in range(full.ndim) if i != axis), keepdims=True)
    least = full.min(axis=tuple(i for i in range(full.ndim) if i != axis), keepdims=True)
    if not np.array_equal(collapsed, least):
        return None
    return collapsed.reshape(-1).astype(np.float32)


def affine_of(op, output: TensorType, channel_axis: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(a, b) with op(x) = a·x + b per channel, or None if the op is not such a map."""
    channels = output.shape[channel_axis]
    if isinstance(op, BatchNorm):
        return op.folded() if channel_axis == 1 else None
    if isinstance(op, MulConst):
        a = per_channel(op.value, output, channel_axis)
        return None if a is None else (a, np.zeros(channels, np.float32))
    if isinstance(op, AddConst):
        b = per_channel(op.value, output, channel_axis)
        return None if b is None else (np.ones(channels, np.float32), b)
    return None


@register_pass
class FoldBatchNorm(Pass):
    name = "fold-bn"

    def run(self, graph: Graph, ctx: PassContext) -> None:
        changed = True
        while changed:
            changed = False
            for name in graph.topological():
                if name in graph and (self._into_producer(graph, name, ctx) or self._into_consumer(graph, name, ctx)):
                    changed = True

    def _into_producer(self, graph: Graph, name: str, ctx: PassContext) -> bool:
        op = graph.op(name)
        if not isinstance(op, (BatchNorm, MulConst, AddConst)):
            return False
        (source,) = graph.inputs_of(name)
        producer = graph.op(source)
        if not isinstance(producer, (Conv, Gemm)) or single_user(graph, source) != name:
            return False
        if graph.type(name) != graph.type(source):
            return False
        channel_axis = 1 if isinstance(producer, Conv) else graph.type(source).rank - 1
        affine = affine_of(op, graph.type(name), channel_axis)
        if affine is None:
            return False
        a, b = affine
        scale = a.reshape((-1,) + (1,) * (producer.weight.ndim - 1))
        weight, bias = producer.weight * scale, a * producer.bias + b
        graph.replace_op(source, type(producer)(**{**producer.attributes(), "weight": weight, "bias": bias}))
        bypass(graph, name)
        ctx.note(self.name, f"folded {op.name} {name!r} into {producer.name} {source!r}")
        return True

    def _into_consumer(self, graph: Graph, name: str, ctx: PassContext) -> bool:
        op = graph.op(name)
        if not isinstance(op, BatchNorm):
            return False
        consumer_name = single_user(graph, name)
        consumer = graph.op(consumer_name) if consumer_name else None
        if not isinstance(consumer, Conv) or any(consumer.pads):
            return False
        a, b = op.folded()
        groups = consumer.groups
        per_group = consumer.weight.shape[1]
        out_per_group = consumer.weight.shape[0] // groups
        weight = consumer.weight.copy()
        bias = consumer.bias.copy()
        for g in range(groups):
            rows = slice(g * out_per_group, (g + 1) * out_per_group)
            chans = slice(g * per_group, (g + 1) * per_group)
            a_g = a[chans].reshape((1, -1) + (1,) * (weight.ndim - 2))
            bias[rows] += (consumer.weight[rows] * b[chans].reshape(a_g.shape)).sum(axis=tuple(range(1, weight.ndim)))
            weight[rows] = consumer.weight[rows] * a_g
        graph.replace_op(consumer_name, Conv(**{**consumer.attributes(), "weight": weight, "bias": bias}))
        bypass(graph, name)
        ctx.note(self.name, f"folded batch-norm {name!r} into the following conv {consumer_name!r}")
        return True
