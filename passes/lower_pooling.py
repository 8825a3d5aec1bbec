"""lower-pooling: give every pooling op a spiking form.

Average pooling is linear and stays. Max pooling has no exact rate-coded equivalent:

    ilif  relu → max-pool  ⇒  max-pool → relu. Exact, since floor-quantization is monotone:
          maxpool(Q(z)) = Q(maxpool(z)); the SNN pools the accumulated potential before emission.
    if    'gate' (default): gated-max-pool, a running max: each step a window sends the growth
          of the largest sum any of its inputs has sent, so what it has sent is the max of
          what they have sent at every step.  'avg': replace by average pooling (changes the
          network: warned).

Global max pooling becomes max pooling over the whole map first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snnc.passes.base import Pass, PassContext, register_pass, single_user
from snnc.passes.settings import setting

from snnc import models
from snnc.errors import ConversionError
from snnc.ir.graph import Graph
from snnc.ir.ops_nn import AvgPool, GlobalMaxPool, MaxPool
from snnc.ir.ops_snn import GatedMaxPool
from snnc.ir.ops_tensor import Relu

MAXPOOL_METHODS = ("gate", "avg")


@dataclass
class LowerPoolingOptions:
    neuron: str = field(default="ilif", metadata=setting("neuron", "the neuron model", models.names()))
    maxpool: str = field(default="gate", metadata=setting("maxpool", "rate-coded max pooling", MAXPOOL_METHODS))

    def __post_init__(self) -> None:
        if self.maxpool not in MAXPOOL_METHODS:
            raise ConversionError(f"--maxpool must be one of {MAXPOOL_METHODS}, got {self.maxpool!r}")


@register_pass
class LowerPooling(Pass):
    name = "lower-pooling"
    Options = LowerPoolingOptions

    def run(self, graph: Graph, ctx: PassContext) -> None:
        for name in graph.topological():
            op = graph.op(name)
            if isinstance(op, GlobalMaxPool):
                spatial = graph.type(name).rank - 2
                kernel = graph.type(graph.inputs_of(name)[0]).shape[2:]
                graph.replace_op(name, MaxPool(kernel, (1,) * spatial))
                op = graph.op(name)
            if type(op) is MaxPool:
                self._lower_max_pool(graph, name, op, ctx)

    def _lower_max_pool(self, graph: Graph, name: str, op: MaxPool, ctx: PassContext) -> None:
        (source,) = graph.inputs_of(name)
        if models.model(self.options.neuron).coding.bit_plane:
            if isinstance(graph.op(source), Relu) and single_user(graph, source) == name:
                self._swap_with_relu(graph, relu=source, pool=name)
                ctx.note(self.name, f"max-pool {name!r} moved before its relu: pools the potential (exact)")
            elif isinstance(graph.op(source), Relu):
                raise ConversionError(
                    f"max-pool {name!r} reads relu {source!r}, which has other users: iLIF pools the potential "
                    "before emission; duplicate the relu or use --neuron if"
                )
            return
        if self.options.maxpool == "avg":
            if any(d != 1 for d in op.dilations):
                raise ConversionError(f"max-pool {name!r} is dilated: use --maxpool gate")
            graph.replace_op(name, AvgPool(op.kernel, op.strides, op.pads, op.ceil_mode, count_include_pad=False))
            ctx.warn(self.name, f"max-pool {name!r} replaced by average pooling: the network computes differently")
        else:
            graph.replace_op(name, GatedMaxPool(op.kernel, op.strides, op.pads, op.dilations, op.ceil_mode))
            ctx.note(self.name, f"max-pool {name!r} → gated-max-pool (running max)")

    @staticmethod
    def _swap_with_relu(graph: Graph, relu: str, pool: str) -> None:
        """x → relu → pool  ⇒  x → pool → relu, keeping both names."""
        (x,) = graph.inputs_of(relu)
        pool_op, relu_op = graph.op(pool), graph.op(relu)
        graph.replace_uses(pool, relu)  # consumers of the pool now read the relu node...
        graph.replace_op(pool, pool_op, [x])  # ...which will compute relu(pool(x))
        graph.replace_op(relu, relu_op, [pool])
