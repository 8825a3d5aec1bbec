"""The snnc IR: typed ops in a networkx graph, a verifier and a text form."""

from snnc.ir.graph import Graph, Node
from snnc.ir.op import OP_CLASSES, Op
from snnc.ir.ops_nn import LRN, AvgPool, BatchNorm, Conv, Gemm, GlobalAvgPool, GlobalMaxPool, MaxPool
from snnc.ir.ops_snn import GatedMaxPool, MsatNeuron, Neuron, Readout
from snnc.ir.ops_tensor import (
    Add,
    AddConst,
    Clip,
    Concat,
    Identity,
    Input,
    LeakyRelu,
    MulConst,
    Pad,
    Relu,
    Reshape,
    Sigmoid,
    Softmax,
    Tanh,
    Transpose,
)
from snnc.ir.text import parse_graph, print_graph
from snnc.ir.types import BATCH, TensorType

__all__ = [
    "BATCH",
    "LRN",
    "OP_CLASSES",
    "Add",
    "AddConst",
    "AvgPool",
    "BatchNorm",
    "Clip",
    "Concat",
    "Conv",
    "GatedMaxPool",
    "Gemm",
    "GlobalAvgPool",
    "GlobalMaxPool",
    "Graph",
    "Identity",
    "Input",
    "LeakyRelu",
    "MaxPool",
    "MsatNeuron",
    "MulConst",
    "Neuron",
    "Node",
    "Op",
    "Pad",
    "Relu",
    "Readout",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TensorType",
    "Transpose",
    "parse_graph",
    "print_graph",
]
