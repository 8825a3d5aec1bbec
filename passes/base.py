"""Pass infrastructure: a pass is a small class with a kebab-case name, typed options and a
`run(graph, ctx)` that rewrites the graph in place; a pipeline is a flat list of passes."""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, TextIO

import numpy as np

from snnc.errors import IRError
from snnc.ir.graph import Graph
from snnc.ir.text import print_graph
from snnc.timing import stage

PASSES: dict[str, type[Pass]] = {}


def register_pass(cls: type[Pass]) -> type[Pass]:
    if cls.name in PASSES:
        raise ValueError(f"pass {cls.name!r} registered twice")
    PASSES[cls.name] = cls
    return cls


@dataclass
class PassContext:
    """What passes share: calibration data, the timestep count, the notes for the report, and a
    cache (bytes by key: `get(key)`, `put(key, data)`; the object cache) where a pass may keep
    what it computed for the next compile of the same graph."""

    calibration: np.ndarray | None = None
    timesteps: int = 8
    cache: object | None = None
    # a faster engine of the float SNN semantics, simulate(graph, x, timesteps, record,
    # record_values) → SimResult with records (the driver's: the cpu target's); None: passes
    # use the reference (runtime/snn.py)
    simulate: object | None = None
    # where calibration's ANN batches run: mapper(graph, data, names, batch, engine, function)
    # yields (start, function(start, values)) per batch, as runtime/ort.map_batches does in this
    # process (the default, None); snnc eval --cluster gives its workers' (snnc/runners.py)
    mapper: object | None = None
    notes: dict[str, list[str]] = field(default_factory=dict)

    def note(self, pass_name: str, message: str) -> None:
        self.notes.setdefault(pass_name, []).append(message)

    def warn(self, pass_name: str, message: str) -> None:
        self.note(pass_name, "warning: " + message)
        warnings.warn(f"{pass_name}: {message}", stacklevel=3)


@dataclass
class NoOptions:
    """This pass takes no options."""


class Pass:
    """Base class. Subclasses set `name`, `Options` (a dataclass) and implement `run`."""

    name: ClassVar[str] = "pass"
    Options: ClassVar[type] = NoOptions

    def __init__(self, options=None, **kwargs) -> None:
        self.options = options if options is not None else self.Options(**kwargs)

    def run(self, graph: Graph, ctx: PassContext) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self.options, f.name)!r}" for f in dataclasses.fields(self.options))
        return f"{self.name}({fields})"


class PassManager:
    """Runs passes in order, verifying the graph after each (always when SNNC_VERIFY=1)."""

    def __init__(
        self,
        passes: list[Pass],
        verify: bool | None = None,
        print_ir_after: set[str] | None = None,
        stream: TextIO | None = None,
        checks: dict[str, Callable[[Graph], None]] | None = None,
    ) -> None:
        """`checks`: by pass name, a function of the graph to run before that pass (a target's
        early check: what the target cannot take is an error before calibration, not after)."""
        self.passes = passes
        self.checks = checks or {}
        self.verify = os.environ.get("SNNC_VERIFY") == "1" if verify is None else verify
        self.print_ir_after = set(print_ir_after or ())
        unknown = self.print_ir_after - {p.name for p in passes} - {"all"}
        if unknown:
            raise IRError(f"--print-ir-after: no pass named {sorted(unknown)} in {[p.name for p in passes]}")
        self.stream = stream or sys.stdout

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        for p in self.passes:
            if p.name in self.checks:
                self.checks[p.name](graph)
            with stage(p.name):
                p.run(graph, ctx)
            if self.verify:
                try:
                    graph.verify()
                except IRError as exc:
                    raise IRError(f"after pass {p.name}: {exc}") from exc
            if p.name in self.print_ir_after or "all" in self.print_ir_after:
                self.stream.write(f"// IR after {p.name}\n{print_graph(graph, elide_weights=True)}")
        return graph


def single_user(graph: Graph, name: str) -> str | None:
    """The only consumer of `name`, or None if it has several, none, or is a graph output."""
    users = graph.users(name)
    if len(users) != 1 or name in graph.outputs:
        return None
    return users[0][0]


def bypass(graph: Graph, name: str) -> None:
    """Remove a single-input node, wiring its consumers to its input."""
    (source,) = graph.inputs_of(name)
    graph.replace_uses(name, source)
    graph.remove(name)
