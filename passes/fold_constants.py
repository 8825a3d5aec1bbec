"""fold-constants: simplify constant arithmetic.

    add-const(c1) ∘ add-const(c2)  →  add-const(c1 + c2)
    mul-const(c1) ∘ mul-const(c2)  →  mul-const(c1 · c2)
    add-const(0), mul-const(1)     →  removed

Constant subgraphs of the ONNX model were already evaluated at import; this pass cleans up
what the converters leave (Sub → add-const(−c), Div → mul-const(1/c), decomposed BN, ...).
"""

from __future__ import annotations

import numpy as np
from snnc.passes.base import Pass, PassContext, bypass, register_pass, single_user

from snnc.ir.graph import Graph
from snnc.ir.ops_tensor import AddConst, MulConst


@register_pass
class FoldConstants(Pass):
    name = "fold-constants"

    def run(self, graph: Graph, ctx: PassContext) -> None:
        changed = True
        while changed:
            changed = any(self._rewrite(graph, node) for node in graph.topological() if node in graph)

    def _rewrite(self, graph: Graph, name: str) -> bool:
        op = graph.op(name)
        if isinstance(op, AddConst) and not np.any(op.value) and self._same_type(graph, name):
            bypass(graph, name)
            return True
        if isinstance(op, MulConst) and np.all(op.value == 1) and self._same_type(graph, name):
            bypass(graph, name)
            return True
        if not isinstance(op, (AddConst, MulConst)):
            return False
        (source,) = graph.inputs_of(name)
        producer = graph.op(source)
        if type(producer) is type(op) and single_user(graph, source) == name:
            combined = producer.value + op.value if isinstance(op, AddConst) else producer.value * op.value
            graph.replace_op(name, type(op)(combined), graph.inputs_of(source))
            graph.remove(source)
            return True
        return False

    @staticmethod
    def _same_type(graph: Graph, name: str) -> bool:
        (source,) = graph.inputs_of(name)
        return graph.type(source) == graph.type(name)
