"""IR → ONNX: the ANN view of a graph as an ONNX model, so that onnxruntime can run it.

Calibration and the ANN row of `snnc eval` run the graph that way (runtime/ort.py): the same
arithmetic as the numpy reference (runtime/ann.py, the oracle the tests compare it with), at
the speed of a tuned engine. A neuron exports as the activation it replaced (Relu, or Clip up to
its ceiling), a readout as Identity and gated max pooling as MaxPool: what runtime/ann.py
computes for them. Tensor names are the IR's node names, so any value can be asked for by name.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from snnc.errors import UnsupportedError
from snnc.ir import ops_nn as nn
from snnc.ir import ops_snn as snn
from snnc.ir import ops_tensor as t
from snnc.ir.graph import Graph

OPSET = 17
EXPORTERS: dict[type, object] = {}


def exporter(*op_classes):
    def register(fn):
        for cls in op_classes:
            EXPORTERS[cls] = fn
        return fn

    return register


class _Model:
    """Nodes and initializers being collected; `constant` names a new initializer."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, owner: str, role: str, array) -> str:
        name = f"{owner}::{role}"
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op_type: str, inputs: list[str], output: str, **attributes) -> None:
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attributes))


def to_onnx(graph: Graph, outputs: list[str] | None = None) -> onnx.ModelProto:
    """The graph's ANN view as an ONNX model whose outputs are `outputs` (by default the graph's)."""
    model = _Model()
    for node in graph.nodes():
        if isinstance(node.op, t.Input):
            continue
        export = EXPORTERS.get(type(node.op))
        if export is None:
            raise UnsupportedError(f"node {node.name!r}: op {node.op.name} has no ONNX form")
        export(model, node.name, node.op, list(node.inputs), graph)
    inputs = [_value_info(graph, name) for name in graph.inputs]
    results = [_value_info(graph, name) for name in (outputs or graph.outputs)]
    onnx_graph = helper.make_graph(model.nodes, "snnc-ann", inputs, results, model.initializers)
    return helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="snnc")


def _value_info(graph: Graph, name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(graph.type(name).shape))  # N: a symbolic dim


@exporter(nn.Conv)
def _conv(m: _Model, name: str, op: nn.Conv, inputs: list[str], graph: Graph) -> None:
    weight, bias = m.constant(name, "W", op.weight), m.constant(name, "B", op.bias)
    m.node("Conv", [inputs[0], weight, bias], name, strides=list(op.strides), pads=list(op.pads),
           dilations=list(op.dilations), group=op.groups)  # fmt: skip


@exporter(nn.Gemm)
def _gemm(m: _Model, name: str, op: nn.Gemm, inputs: list[str], graph: Graph) -> None:
    bias = m.constant(name, "B", op.bias)
    if graph.type(inputs[0]).rank == 2:
        m.node("Gemm", [inputs[0], m.constant(name, "W", op.weight), bias], name, transB=1)
        return
    m.node("MatMul", [inputs[0], m.constant(name, "WT", np.ascontiguousarray(op.weight.T))], f"{name}::xW")
    m.node("Add", [f"{name}::xW", bias], name)


@exporter(nn.BatchNorm)
def _batch_norm(m: _Model, name: str, op: nn.BatchNorm, inputs: list[str], graph: Graph) -> None:
    parameters = [m.constant(name, key, getattr(op, key)) for key in ("scale", "bias", "mean", "var")]
    m.node("BatchNormalization", [inputs[0], *parameters], name, epsilon=op.epsilon)


@exporter(nn.MaxPool, snn.GatedMaxPool)
def _max_pool(m: _Model, name: str, op: nn.MaxPool, inputs: list[str], graph: Graph) -> None:
    m.node("MaxPool", inputs, name, kernel_shape=list(op.kernel), strides=list(op.strides), pads=list(op.pads),
           dilations=list(op.dilations), ceil_mode=int(op.ceil_mode))  # fmt: skip


@exporter(nn.AvgPool)
def _avg_pool(m: _Model, name: str, op: nn.AvgPool, inputs: list[str], graph: Graph) -> None:
    m.node("AveragePool", inputs, name, kernel_shape=list(op.kernel), strides=list(op.strides), pads=list(op.pads),
           ceil_mode=int(op.ceil_mode), count_include_pad=int(op.count_include_pad))  # fmt: skip


@exporter(nn.GlobalAvgPool, nn.GlobalMaxPool)
def _global_pool(m: _Model, name: str, op, inputs: list[str], graph: Graph) -> None:
    m.node("GlobalMaxPool" if isinstance(op, nn.GlobalMaxPool) else "GlobalAveragePool", inputs, name)


@exporter(nn.LRN)
def _lrn(m: _Model, name: str, op: nn.LRN, inputs: list[str], graph: Graph) -> None:
    m.node("LRN", inputs, name, size=op.size, alpha=op.alpha, beta=op.beta, bias=op.bias)


@exporter(t.Identity, snn.Readout)
def _identity(m: _Model, name: str, op, inputs: list[str], graph: Graph) -> None:
    m.node("Identity", inputs, name)


@exporter(t.Add)
def _add(m: _Model, name: str, op, inputs: list[str], graph: Graph) -> None:
    m.node("Sum", inputs, name)


@exporter(t.AddConst, t.MulConst)
def _with_constant(m: _Model, name: str, op, inputs: list[str], graph: Graph) -> None:
    m.node("Add" if isinstance(op, t.AddConst) else "Mul", [inputs[0], m.constant(name, "C", op.value)], name)


@exporter(t.Relu, t.Sigmoid, t.Tanh)
def _pointwise(m: _Model, name: str, op, inputs: list[str], graph: Graph) -> None:
    m.node({t.Relu: "Relu", t.Sigmoid: "Sigmoid", t.Tanh: "Tanh"}[type(op)], inputs, name)


@exporter(t.LeakyRelu)
def _leaky_relu(m: _Model, name: str, op: t.LeakyRelu, inputs: list[str], graph: Graph) -> None:
    m.node("LeakyRelu", inputs, name, alpha=op.alpha)


@exporter(t.Clip)
def _clip(m: _Model, name: str, op: t.Clip, inputs: list[str], graph: Graph) -> None:
    _clip_between(m, name, inputs[0], op.min, op.max)


@exporter(snn.Neuron, snn.MsatNeuron)
def _neuron(m: _Model, name: str, op: snn.Neuron, inputs: list[str], graph: Graph) -> None:
    if op.ceiling is None:
        m.node("Relu", inputs, name)
    else:
        _clip_between(m, name, inputs[0], 0.0, op.ceiling)


def _clip_between(m: _Model, name: str, source: str, low: float | None, high: float | None) -> None:
    bounds = [m.constant(name, role, np.float32(v)) if v is not None else ""
              for role, v in (("min", low), ("max", high))]  # fmt: skip
    m.node("Clip", [source, *bounds], name)


@exporter(t.Softmax)
def _softmax(m: _Model, name: str, op: t.Softmax, inputs: list[str], graph: Graph) -> None:
    m.node("LogSoftmax" if op.log else "Softmax", inputs, name, axis=op.axis)


@exporter(t.Reshape)
def _reshape(m: _Model, name: str, op: t.Reshape, inputs: list[str], graph: Graph) -> None:
    shape = m.constant(name, "shape", np.array([-1, *op.shape], np.int64))
    m.node("Reshape", [inputs[0], shape], name)


@exporter(t.Transpose)
def _transpose(m: _Model, name: str, op: t.Transpose, inputs: list[str], graph: Graph) -> None:
    m.node("Transpose", inputs, name, perm=list(op.perm))


@exporter(t.Concat)
def _concat(m: _Model, name: str, op: t.Concat, inputs: list[str], graph: Graph) -> None:
    m.node("Concat", inputs, name, axis=op.axis)


@exporter(t.Pad)
def _pad(m: _Model, name: str, op: t.Pad, inputs: list[str], graph: Graph) -> None:
    half = len(op.pads) // 2
    pads = m.constant(name, "pads", np.array([0, *op.pads[:half], 0, *op.pads[half:]], np.int64))
    m.node("Pad", [inputs[0], pads, m.constant(name, "value", np.float32(op.value))], name)
