"""canonicalize: one spelling for each computation, so later passes match fewer patterns.

    identity (Identity, inference Dropout)        →  removed
    reshape ∘ reshape                              →  reshape
    transpose(p) ∘ transpose(q)                    →  transpose(p∘q), removed when the identity
    softmax / log-softmax feeding a graph output   →  removed (argmax is unchanged; the SNN's
                                                      readout integrates logits)
    clip(0, ∞)                                     →  relu

MatMul + Add arrive as gemm + add-const and merge in fold-bn (a per-channel affine after a
gemm); Sum arrives as add; ReLU6 arrives as clip(0, 6).
"""

from __future__ import annotations

from snnc.passes.base import Pass, PassContext, bypass, register_pass, single_user

from snnc.ir.graph import Graph
from snnc.ir.ops_tensor import Clip, Identity, Relu, Reshape, Softmax, Transpose


@register_pass
class Canonicalize(Pass):
    name = "canonicalize"

    def run(self, graph: Graph, ctx: PassContext) -> None:
        for name in graph.topological():
            if name not in graph:
                continue
            op = graph.op(name)
            if isinstance(op, Identity):
                bypass(graph, name)
            elif isinstance(op, Reshape):
                self._merge_reshapes(graph, name)
            elif isinstance(op, Transpose):
                self._merge_transposes(graph, name)
            elif isinstance(op, Clip) and op.min == 0.0 and op.max is None:
                graph.replace_op(name, Relu())
        self._drop_output_softmax(graph, ctx)

    def _merge_reshapes(self, graph: Graph, name: str) -> None:
        (source,) = graph.inputs_of(name)
        if isinstance(graph.op(source), Reshape) and single_user(graph, source) == name:
            graph.set_input(name, 0, graph.inputs_of(source)[0])
            graph.remove(source)
        (source,) = graph.inputs_of(name)
        if graph.type(source) == graph.type(name):
            bypass(graph, name)

    def _merge_transposes(self, graph: Graph, name: str) -> None:
        (source,) = graph.inputs_of(name)
        first = graph.op(source)
        if isinstance(first, Transpose) and single_user(graph, source) == name:
            perm = tuple(first.perm[p] for p in graph.op(name).perm)
            graph.replace_op(name, Transpose(perm), graph.inputs_of(source))
            graph.remove(source)
        if graph.op(name).perm == tuple(range(len(graph.op(name).perm))):
            bypass(graph, name)

    @staticmethod
    def _drop_output_softmax(graph: Graph, ctx: PassContext) -> None:
        for output in list(graph.outputs):
            if isinstance(graph.op(output), Softmax) and not graph.users(output):
                (source,) = graph.inputs_of(output)
                graph.outputs = [source if o == output else o for o in graph.outputs]
                graph.remove(output)
                ctx.note("canonicalize", f"removed output softmax {output!r}: the readout integrates logits")
