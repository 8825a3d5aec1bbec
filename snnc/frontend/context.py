"""The state of one import: which ONNX names are constants, which are IR values."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from snnc.errors import FileError, InvalidModelError, IRError, UnsupportedError
from snnc.ir.graph import Graph
from snnc.ir.op import Op
from snnc.ir.types import TensorType


def tensor_value(tensor: onnx.TensorProto, what: str = "initializer") -> np.ndarray:
    """A constant tensor as an array; data kept in an external file must have been loaded."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        raise FileError(f"{what} '{tensor.name}' keeps its data in an external file: load the model from its path")
    try:
        return numpy_helper.to_array(tensor)
    except Exception as exc:  # noqa: BLE001  (onnx raises many kinds on malformed tensors)
        raise InvalidModelError(f"{what} '{tensor.name}' is malformed: {exc}") from None


def node_label(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


class ImportContext:
    """Maps ONNX tensor names to constants (numpy) or IR values, and builds the IR graph."""

    def __init__(self, graph: Graph, opset: int, batch: int) -> None:
        self.graph = graph
        self.opset = opset
        self.batch = batch  # the declared batch size, used wherever ONNX asks for a shape
        self.constants: dict[str, np.ndarray] = {}
        self.values: dict[str, str] = {}
        self.node: onnx.NodeProto | None = None
        self.where = ""

    # -- the node being converted ---------------------------------------------------------
    def begin(self, node: onnx.NodeProto, index: int) -> None:
        self.node = node
        domain = node.domain or "ai.onnx"
        self.where = f"node '{node_label(node, index)}' ({domain}::{node.op_type}, opset {self.opset})"

    def unsupported(self, reason: str) -> UnsupportedError:
        return UnsupportedError(f"{self.where}: {reason}")

    def attrs(self) -> dict:
        values = {}
        for attribute in self.node.attribute:
            value = helper.get_attribute_value(attribute)
            if isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, onnx.TensorProto):
                value = tensor_value(value, f"attribute '{attribute.name}'")
            values[attribute.name] = value
        return values

    # -- inputs ---------------------------------------------------------------------------
    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def is_const(self, i: int) -> bool:
        return self.has_input(i) and self.node.input[i] in self.constants

    def const(self, i: int, default=None) -> np.ndarray | None:
        """Input i as a constant array (None/default if absent); an error if it is computed."""
        if not self.has_input(i):
            return default
        name = self.node.input[i]
        if name not in self.constants:
            raise self.unsupported(f"input {i} ('{name}') must be a constant (an initializer), not a computed tensor")
        return self.constants[name]

    def value(self, i: int) -> str:
        """Input i as an IR value name; an error if it is absent or constant."""
        if not self.has_input(i):
            raise self.unsupported(f"input {i} is missing")
        name = self.node.input[i]
        if name in self.constants:
            raise self.unsupported(f"input {i} ('{name}') is a constant where snnc needs the network's data")
        if name not in self.values:
            raise self.unsupported(f"input {i} ('{name}') is not produced by any earlier node")
        if self.values[name] is None:
            raise self.unsupported(
                f"input {i} ('{name}') is a secondary output (mask, indices or statistics) that snnc does not compute"
            )
        return self.values[name]

    def type(self, value: str) -> TensorType:
        return self.graph.type(value)

    def full_shape(self, value: str) -> tuple[int, ...]:
        """The value's shape with the declared batch in place of N (what ONNX's Shape would say)."""
        return self.type(value).concrete(self.batch)

    # -- outputs --------------------------------------------------------------------------
    def emit(self, op: Op, inputs: list[str]) -> str:
        """Add an IR node named after the ONNX node (or, if it has no name, its first output)."""
        try:
            return self.graph.add(op, inputs, self.node.name or self.node.output[0])
        except IRError as exc:
            raise self.unsupported(str(exc)) from exc

    def make(self, op_factory, *args, **kwargs) -> Op:
        """Construct an op, turning an invalid attribute into an error that names the node."""
        try:
            return op_factory(*args, **kwargs)
        except (IRError, ValueError, TypeError) as exc:
            raise self.unsupported(str(exc)) from exc
