"""schedule: assign each neuron layer and readout its pipeline stage (depth).

depth(neuron) = 1 + the largest depth among the neurons it reads through synapse ops
(the network input has depth 0); the readout sits one stage after the last neuron.

iLIF runs each stage in two windows of T steps, accumulate then emit. Pipelined, stage d
accumulates in [(d−1)·T, d·T) while stage d−1 emits, so the latency is (D + 1)·T for D neuron
stages (the first window takes the input); unpipelined, each stage waits for the previous to
finish: 2·D·T. Branches that meet (residual add, concat) from different stages need the
earlier one delayed by the difference, reported here. Rate-coded layers all run in every
step: the latency is T. Each coding computes its own (snnc/models/base.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snnc.passes.base import Pass, PassContext, register_pass
from snnc.passes.settings import setting

from snnc import models
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import Neuron, Readout
from snnc.ir.ops_tensor import Add, Concat


@dataclass
class ScheduleOptions:
    pipelined: bool = field(
        default=True, metadata=setting("pipelined", "iLIF: pipeline the layers' windows", flag="pipeline")
    )


def stages(graph: Graph) -> dict[str, int]:
    """For every node, the depth of the deepest neuron stage its value comes from."""
    depth: dict[str, int] = {}
    for node in graph.nodes():
        upstream = max((depth[i] for i in node.inputs), default=0)
        depth[node.name] = upstream + 1 if isinstance(node.op, (Neuron, Readout)) else upstream
    return depth


def latency_steps(graph: Graph, model: str, timesteps: int, pipelined: bool = True) -> int:
    """Steps from the first input to the readout's final value (the model's coding says how)."""
    neuron_stages = max((op.depth for op in _ops(graph, Neuron)), default=0)
    return models.model(model).coding.latency(neuron_stages, timesteps, pipelined)


def _ops(graph: Graph, kind):
    return [graph.op(n) for n in graph.nx.nodes if isinstance(graph.op(n), kind)]


@register_pass
class Schedule(Pass):
    name = "schedule"
    Options = ScheduleOptions

    def run(self, graph: Graph, ctx: PassContext) -> None:
        depth = stages(graph)
        for name in graph.topological():
            op = graph.op(name)
            if isinstance(op, (Neuron, Readout)):
                graph.replace_op(name, type(op)(**{**op.attributes(), "depth": depth[name]}))
            elif isinstance(op, (Add, Concat)):
                self._note_alignment(graph, name, depth, ctx)
        model = next((op.model for op in _ops(graph, Neuron)), None)
        steps = latency_steps(graph, model, ctx.timesteps, self.options.pipelined) if model else ctx.timesteps
        mode = "pipelined" if self.options.pipelined else "not pipelined"
        stages_count = max((op.depth for op in _ops(graph, Neuron)), default=0)
        ctx.note(self.name, f"{stages_count} neuron stages, {mode}: latency {steps} steps at T={ctx.timesteps}")

    @staticmethod
    def _note_alignment(graph: Graph, name: str, depth: dict[str, int], ctx: PassContext) -> None:
        sources = graph.inputs_of(name)
        deepest = max(depth[s] for s in sources)
        for source in sources:
            lag = deepest - depth[source]
            if lag:
                ctx.note("schedule", f"{name!r}: input {source!r} delayed {lag} stage(s) to meet the others")
