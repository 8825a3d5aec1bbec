"""The IR graph: ops as networkx nodes, tensors as edges, one output tensor per node.

A node's name is also the name of the tensor it produces. Edges run producer → consumer and
carry `slot`, the consumer's input position (a MultiDiGraph, so x + x is two edges). Each node
stores its op and its output type; `verify` re-derives every type from the ops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import networkx as nx

from snnc.errors import IRError
from snnc.ir.op import Op
from snnc.ir.ops_tensor import Input
from snnc.ir.types import TensorType

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-/:]")


def clean_name(name: str) -> str:
    """A name usable in the text form: letters, digits and _ . - / : only."""
    return _NAME_CHARS.sub("_", name) or "v"


@dataclass(frozen=True)
class Node:
    """A read-only view of one node."""

    name: str
    op: Op
    inputs: tuple[str, ...]
    type: TensorType


class Graph:
    """A dataflow graph of IR ops with named inputs and an ordered list of outputs."""

    def __init__(self, name: str = "main") -> None:
        self.name = clean_name(name)
        self.nx = nx.MultiDiGraph()
        self.outputs: list[str] = []

    def __repr__(self) -> str:
        inputs = ", ".join(f"{name}: {self.type(name)}" for name in self.inputs)
        return f"Graph({self.name!r}, {self.nx.number_of_nodes()} nodes, inputs ({inputs}), outputs {self.outputs})"

    # -- building -------------------------------------------------------------------------
    def add_input(self, name: str, type: TensorType) -> str:
        return self.add(Input(type), [], name)

    def add(self, op: Op, inputs: list[str], name: str | None = None) -> str:
        """Append a node computing `op(inputs)`; returns its (possibly uniquified) name."""
        if op.arity is not None and len(inputs) != op.arity:
            raise IRError(f"{op.name} takes {op.arity} input(s), got {len(inputs)}")
        name = self.unique_name(name or op.name)
        output = op.infer([self.type(i) for i in inputs])
        self.nx.add_node(name, op=op, type=output)
        for slot, source in enumerate(inputs):
            self.nx.add_edge(source, name, slot=slot)
        return name

    def unique_name(self, base: str) -> str:
        base = clean_name(base)
        name, k = base, 1
        while name in self.nx:
            name, k = f"{base}_{k}", k + 1
        return name

    # -- queries --------------------------------------------------------------------------
    def __contains__(self, name: str) -> bool:
        return name in self.nx

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def op(self, name: str) -> Op:
        self._require(name)
        return self.nx.nodes[name]["op"]

    def type(self, name: str) -> TensorType:
        self._require(name)
        return self.nx.nodes[name]["type"]

    def inputs_of(self, name: str) -> list[str]:
        edges = sorted(self.nx.in_edges(name, data="slot"), key=lambda e: e[2])
        return [source for source, _, _ in edges]

    def users(self, name: str) -> list[tuple[str, int]]:
        """(consumer, slot) for every use of `name`."""
        return [(target, slot) for _, target, slot in self.nx.out_edges(name, data="slot")]

    def node(self, name: str) -> Node:
        return Node(name, self.op(name), tuple(self.inputs_of(name)), self.type(name))

    @property
    def inputs(self) -> list[str]:
        return [n for n, op in self.nx.nodes(data="op") if isinstance(op, Input)]

    def topological(self) -> list[str]:
        """Node names in a deterministic topological order (ties broken by insertion order)."""
        rank = {n: i for i, n in enumerate(self.nx.nodes)}
        return list(nx.lexicographical_topological_sort(self.nx, key=rank.__getitem__))

    def nodes(self) -> list[Node]:
        return [self.node(n) for n in self.topological()]

    # -- editing --------------------------------------------------------------------------
    def replace_uses(self, old: str, new: str) -> None:
        """Make every consumer of `old` (and the graph outputs) read `new` instead."""
        for target, slot in self.users(old):
            self.set_input(target, slot, new)
        self.outputs = [new if o == old else o for o in self.outputs]

    def replace_op(self, name: str, op: Op, inputs: list[str] | None = None) -> None:
        """Give node `name` a new op (and optionally new inputs), keeping its name and users."""
        inputs = self.inputs_of(name) if inputs is None else inputs
        if op.arity is not None and len(inputs) != op.arity:
            raise IRError(f"{op.name} takes {op.arity} input(s), got {len(inputs)}")
        output = op.infer([self.type(i) for i in inputs])
        self.nx.remove_edges_from(list(self.nx.in_edges(name, keys=True)))
        for slot, source in enumerate(inputs):
            self.nx.add_edge(source, name, slot=slot)
        self.nx.nodes[name].update(op=op, type=output)

    def set_input(self, node: str, slot: int, source: str) -> None:
        for src, _, key, data in list(self.nx.in_edges(node, keys=True, data=True)):
            if data["slot"] == slot:
                self.nx.remove_edge(src, node, key)
        self.nx.add_edge(source, node, slot=slot)

    def remove(self, name: str) -> None:
        if self.nx.out_degree(name) or name in self.outputs:
            raise IRError(f"cannot remove {name!r}: it is still used")
        self.nx.remove_node(name)

    def remove_dead(self) -> int:
        """Drop nodes that no output depends on (graph inputs stay); returns how many."""
        live = set(self.outputs)
        for out in self.outputs:
            live |= nx.ancestors(self.nx, out)
        dead = [n for n in self.nx.nodes if n not in live and not isinstance(self.op(n), Input)]
        self.nx.remove_nodes_from(dead)
        return len(dead)

    def copy(self) -> Graph:
        clone = Graph(self.name)
        clone.nx = self.nx.copy()
        clone.outputs = list(self.outputs)
        return clone

    # -- checking -------------------------------------------------------------------------
    def verify(self) -> None:
        """Raise IRError unless the graph is acyclic, fully typed and consistent."""
        if not nx.is_directed_acyclic_graph(self.nx):
            raise IRError(f"graph {self.name!r} has a cycle")
        if not self.outputs:
            raise IRError(f"graph {self.name!r} has no outputs")
        for out in self.outputs:
            if out not in self.nx:
                raise IRError(f"output {out!r} is not a node")
        for name in self.nx.nodes:
            self._verify_node(name)

    def _verify_node(self, name: str) -> None:
        data = self.nx.nodes[name]
        op = data.get("op")
        if not isinstance(op, Op):
            raise IRError(f"node {name!r} has no op")
        slots = sorted(slot for _, _, slot in self.nx.in_edges(name, data="slot"))
        if slots != list(range(len(slots))):
            raise IRError(f"node {name!r} has input slots {slots}")
        if op.arity is not None and len(slots) != op.arity:
            raise IRError(f"node {name!r} ({op.name}) has {len(slots)} inputs, takes {op.arity}")
        try:
            expected = op.infer([self.type(i) for i in self.inputs_of(name)])
        except IRError as exc:
            raise IRError(f"node {name!r} ({op.name}): {exc}") from exc
        if expected != data.get("type"):
            raise IRError(f"node {name!r} ({op.name}) is typed {data.get('type')} but computes {expected}")

    def _require(self, name: str) -> None:
        if name not in self.nx:
            raise IRError(f"no node named {name!r} in graph {self.name!r}")

    # -- comparing and printing -------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.name == other.name and self.outputs == other.outputs and self.nodes() == other.nodes()

    def __str__(self) -> str:
        from snnc.ir.text import print_graph

        return print_graph(self, elide_weights=True)
