"""Linear chains for the accelerator: a 1×1 convolution that reads a linear value (a
convolution with no neuron after it, or a sum of such values and spikes) becomes a sum of
convolutions that read spikes.

MobileNetV2's blocks end in a linear projection P (no ReLU), added to the block's input; the next
block's 1×1 expansion E reads that sum. The chip's cores sum convolutions of spikes only, so E is
distributed over the sum and composed with each convolution in it, exactly:

    E(P₁(h₁) + P₂(h₂) + s) = (E∘P₁)(h₁) + (E∘P₂)(h₂) + E(s),
    (E∘P)[m, c, ·] = Σ_k E[m, k] · P[k, c, ·],   bias: E·b_P (+ E's own bias, once)

with P's strides, pads and dilations (a grouped P is expanded to its dense form first). Only a
1×1, stride-1, unpadded, ungrouped E composes this way; any other operator reading a linear
value stays, and the quantizer names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.ir import ops_nn as nn
from snnc.ir import ops_tensor as t
from snnc.ir.graph import Graph


@dataclass
class Term:
    """weight (M, C, kh, kw) and bias (M,) of a dense convolution of `source`; geometry: its
    strides, pads and dilations (weight None: the source itself, an identity)."""

    source: str
    weight: np.ndarray | None
    bias: np.ndarray
    strides: tuple = ()
    pads: tuple = ()
    dilations: tuple = ()


def compose_linear_chains(graph: Graph) -> Graph:
    """A copy of `graph` in which every composable 1×1 convolution of a linear value reads
    spikes (`graph` itself where there is none)."""
    if not any(_composable(graph, name) for name in graph.topological()):
        return graph
    g = graph.copy()
    for name in g.topological():
        if _composable(g, name):
            _distribute(g, name)
    g.remove_dead()
    return g


def _composable(g: Graph, name: str) -> bool:
    op = g.op(name)
    return isinstance(op, nn.Conv) and _pointwise(op) and _linear(g, g.inputs_of(name)[0])


def _pointwise(op: nn.Conv) -> bool:
    return (op.weight.shape[2:] == (1, 1) and op.groups == 1 and not any(op.pads)
            and all(s == 1 for s in op.strides))  # fmt: skip


def _linear(g: Graph, name: str) -> bool:
    """A value no neuron produced: a convolution or a sum (of anything)."""
    return isinstance(g.op(name), (nn.Conv, t.Add))


def _terms(g: Graph, name: str) -> list[Term] | None:
    """`name` as a sum of dense convolutions of non-linear sources; None where it is not one."""
    op = g.op(name)
    if isinstance(op, t.Add):
        parts = [_terms(g, source) for source in g.inputs_of(name)]
        return None if any(p is None for p in parts) else [term for part in parts for term in part]
    if not isinstance(op, nn.Conv):
        channels = g.type(name).sample_shape[0]
        return [Term(name, None, np.zeros(channels))]
    (source,) = g.inputs_of(name)
    weight = _dense(op)
    if not _linear(g, source):
        return [Term(source, weight, op.bias.astype(np.float64), op.strides, op.pads, op.dilations)]
    if not _pointwise(op):
        return None  # a spatial convolution of a linear value: not composed
    inner = _terms(g, source)
    if inner is None:
        return None
    composed = [_compose(weight[:, :, 0, 0], term) for term in inner]
    composed[0].bias = composed[0].bias + op.bias
    return composed


def _dense(op: nn.Conv) -> np.ndarray:
    """The weight of a grouped convolution as the dense (M, C, kh, kw) one it equals."""
    weight = op.weight.astype(np.float64)
    if op.groups == 1:
        return weight
    out_channels, per_group_in = weight.shape[:2]
    per_group_out = out_channels // op.groups
    dense = np.zeros((out_channels, per_group_in * op.groups, *weight.shape[2:]))
    for g in range(op.groups):
        rows = slice(g * per_group_out, (g + 1) * per_group_out)
        dense[rows, g * per_group_in : (g + 1) * per_group_in] = weight[rows]
    return dense


def _compose(outer: np.ndarray, term: Term) -> Term:
    """The 1×1 matrix `outer` (M, K) applied after `term`."""
    if term.weight is None:  # outer applied to the source itself
        return Term(term.source, outer[:, :, None, None], np.zeros(len(outer)), (1, 1), (0, 0, 0, 0), (1, 1))
    weight = np.einsum("mk,kchw->mchw", outer, term.weight)
    return Term(term.source, weight, outer @ term.bias, term.strides, term.pads, term.dilations)


def _distribute(g: Graph, name: str) -> None:
    terms = _terms(g, name)
    if terms is None:
        return
    parts = [g.add(nn.Conv(term.weight.astype(np.float32), term.bias.astype(np.float32), term.strides, term.pads,
                           term.dilations), [term.source], g.unique_name(f"{name}/composed"))
             for term in terms]  # fmt: skip
    total = parts[0] if len(parts) == 1 else g.add(t.Add(), parts, g.unique_name(f"{name}/sum"))
    g.replace_uses(name, total)
