"""The textual IR: one line per node, attributes as JSON, weights as exact base64.

    graph @main {
      %image = input() {"type": "f32[N,1,28,28]"} : f32[N,1,28,28]
      %conv1 = conv(%image) {"strides": [1, 1], ..., "weight": {"dtype": ..., "b64": ...}} : f32[N,8,28,28]
      return %conv1
    }

`print_graph(g, elide_weights=True)` replaces arrays by their type for reading; only the
full form parses back.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np

from snnc.errors import IRError
from snnc.ir.graph import Graph
from snnc.ir.op import Op
from snnc.ir.types import DTYPES, TensorType

_HEADER = re.compile(r"^graph @([\w.\-/:]+) \{$")
_NODE = re.compile(r"^%([\w.\-/:]+) = ([\w-]+)\(([^)]*)\)(?: (\{.*\}))? : (\S+)$")
_RETURN = re.compile(r"^return (.*)$")


def _array_type(value: np.ndarray) -> str:
    short = {v: k for k, v in DTYPES.items()}.get(value.dtype.name, value.dtype.name)
    return f"<{short}[{','.join(str(d) for d in value.shape)}]>"


def _attributes_text(op: Op, elide_weights: bool) -> str:
    data = op.to_dict()
    del data["op"]
    if not data:
        return ""
    if elide_weights:
        for key, value in op.attributes().items():
            if isinstance(value, np.ndarray):
                data[key] = _array_type(value)
    return " " + json.dumps(data, separators=(", ", ": "))


def graph_digest(graph: Graph) -> str:
    """SHA-256 of everything the graph computes: its structure, attributes and array bytes."""
    digest = hashlib.sha256(print_graph(graph, elide_weights=True).encode())
    for node in graph.nodes():
        for value in node.op.attributes().values():
            if isinstance(value, np.ndarray):
                digest.update(np.ascontiguousarray(value).view(np.uint8).data)
    return digest.hexdigest()


def print_graph(graph: Graph, elide_weights: bool = False) -> str:
    lines = [f"graph @{graph.name} {{"]
    for node in graph.nodes():
        args = ", ".join(f"%{i}" for i in node.inputs)
        lines.append(f"  %{node.name} = {node.op.name}({args}){_attributes_text(node.op, elide_weights)} : {node.type}")
    lines.append("  return " + ", ".join(f"%{o}" for o in graph.outputs))
    lines.append("}")
    return "\n".join(lines) + "\n"


def parse_graph(text: str) -> Graph:
    """Parse the full text form back into a Graph (the types are checked against the ops)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines or not _HEADER.match(lines[0]) or lines[-1] != "}":
        raise IRError("IR text must start with 'graph @name {' and end with '}'")
    graph = Graph(_HEADER.match(lines[0]).group(1))
    for number, line in enumerate(lines[1:-1], start=2):
        if _RETURN.match(line):
            graph.outputs = [_value_name(v, number) for v in _RETURN.match(line).group(1).split(",")]
            continue
        _parse_node(graph, line, number)
    graph.verify()
    return graph


def _parse_node(graph: Graph, line: str, number: int) -> None:
    match = _NODE.match(line)
    if not match:
        raise IRError(f"IR line {number}: cannot parse {line[:80]!r}")
    name, kind, args, attrs, type_text = match.groups()
    try:
        data = json.loads(attrs) if attrs else {}
    except json.JSONDecodeError as exc:
        raise IRError(f"IR line {number}: bad attributes: {exc}") from exc
    if any(isinstance(v, str) and v.startswith("<") for v in data.values()):
        raise IRError(f"IR line {number}: weights are elided; print with elide_weights=False to parse")
    op = Op.from_dict({"op": kind, **data})
    inputs = [_value_name(a, number) for a in args.split(",") if a.strip()]
    for source in inputs:
        if source not in graph:
            raise IRError(f"IR line {number}: %{source} is used before it is defined")
    added = graph.add(op, inputs, name)
    if added != name:
        raise IRError(f"IR line {number}: %{name} is defined twice")
    if graph.type(name) != TensorType.parse(type_text):
        raise IRError(f"IR line {number}: %{name} is declared {type_text} but computes {graph.type(name)}")


def _value_name(token: str, number: int) -> str:
    token = token.strip()
    if not token.startswith("%"):
        raise IRError(f"IR line {number}: expected %name, got {token!r}")
    return token[1:]
