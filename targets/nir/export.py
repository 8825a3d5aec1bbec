"""SNN graph → NIR graph (the Neuromorphic Intermediate Representation, package `nir`).

snnc's spikes carry their neuron's threshold (a spike of θ delivers θ downstream: ops_snn.py);
NIR's spikes are 1. So every value is tracked as a Flow: the NIR nodes whose outputs, summed,
give it, and a per-channel `unit` with  IR value = unit[c] · Σ NIR outputs. A neuron's output has
unit θ; a weighted layer multiplies its input's unit into its weights and divides its output
by the unit its consumer wants (θ when thresholds are folded to 1, else 1), so no extra node is
needed on the usual paths. Where units still differ (a residual shortcut of spikes meeting a
convolution's current) a diagonal 1×1 convolution rescales: exact, and every importer reads it.
NIR sums the edges that enter a node, which is how residual additions go out.

What NIR cannot say is refused with a message naming it: iLIF and MSAT, an initial membrane,
max pooling of spike trains, concatenation, padded or 1-D pooling.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
from snnc.targets.nir.flavors import FLAVORS, LIF_DT, LIF_TAU, Flavor

from snnc.errors import UnsupportedError, UsageError
from snnc.files import write_atomically
from snnc.ir import ops_nn as nn
from snnc.ir import ops_tensor as tensor
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import Neuron, Readout

NIR_LACKS = "NIR (v1.0) has no"


@dataclass
class Flow:
    """An IR value in NIR: IR value = unit[c] · Σ outputs of `sources` (c: the NIR channel axis)."""

    sources: list[str]
    unit: np.ndarray  # (channels,) float64
    shape: tuple[int, ...]  # the NIR shape (no batch)
    flat: bool = False  # dense_as_conv: the IR has flattened this map, NIR keeps it


def export(graph: Graph, timesteps: int, flavor: str = "nir", metadata: dict | None = None):
    """The NIR graph of an IF network (snnc.compile(..., neuron="if", v_init=0, maxpool="avg")).
    `flavor`: a key of FLAVORS (the importer it is shaped for)."""
    import nir

    if flavor not in FLAVORS:
        raise UsageError(f"NIR flavor must be one of {', '.join(FLAVORS)}, got {flavor!r}")
    builder = _Builder(graph, FLAVORS[flavor], nir)
    for node in graph.nodes():
        builder.emit(node)
    meta = {**describe(graph, timesteps, FLAVORS[flavor]), **(metadata or {})}
    return nir.NIRGraph(nodes=builder.nodes, edges=builder.edges, metadata=meta)


def nir_bytes(nir_graph) -> bytes:
    """A NIR graph as the bytes of its HDF5 file."""
    import nir

    buffer = io.BytesIO()
    nir.write(buffer, nir_graph)
    return buffer.getvalue()


def write_nir(path, nir_graph) -> None:
    """Write a NIR graph atomically (a temporary file renamed into place)."""
    write_atomically(path, nir_bytes(nir_graph))


def export_notes(conversion: dict, flavor: str) -> list[str]:
    """What a NIR export of a network converted with `conversion` changes, for the report."""
    from snnc import models

    form = FLAVORS[flavor]
    default_v_init = models.model("if").v_init
    notes = [f"form for {form.importer} (--nir-flavor {flavor})"]
    if conversion.get("v_init") != default_v_init:
        notes.append(f"initial membrane 0 (NIR has none; snnc's IF starts at {default_v_init:g} θ)")
    if conversion.get("maxpool") == "avg":
        notes.append("max pooling, if any, became average pooling (NIR has no max pooling of spike trains)")
    notes.append(f"reset {conversion.get('reset')}: {RESET_MEANING[conversion.get('reset', 'subtract')]}")
    notes.append("thresholds folded into the weights: every v_threshold is 1" if form.fold_thresholds
                 else "thresholds per neuron; each spike is 1, its θ folded into the next layer's weights")  # fmt: skip
    if form.if_as_lif:
        notes.append(
            f"IF written as LIF with τ = {LIF_TAU:g} s, r = τ/dt (dt = {LIF_DT:g}): a leak below float32's step"
        )
    if form.sum_pool:
        notes.append("average pooling written as SumPool2d, its 1/k folded into the next layer")
    notes.append("docs/interop.md: what each importer runs and what it costs in accuracy")
    return notes


def describe(graph: Graph, timesteps: int, flavor: Flavor) -> dict:
    """What a reader needs beyond the nodes: how to present the input and read the output."""
    neurons = [node.op for node in graph.nodes() if isinstance(node.op, Neuron)]
    reset = neurons[0].reset if neurons else "subtract"
    return {
        "producer": "snnc",
        "flavor": flavor.name,
        "timesteps": int(timesteps),
        "input_encoding": "direct: the input, unchanged, is the first layer's input at every step",
        "neuron": "IF: v += I; spike when v >= v_threshold (NIR says v > v_threshold; ties differ)",
        "reset": reset,
        "reset_meaning": RESET_MEANING[reset],
        "v_init": 0.0,
        "dt": LIF_DT if flavor.if_as_lif or flavor.if_r != 1 else 1.0,
        "readout": "the output node's values summed over the timesteps, divided by timesteps; argmax is the class",
    }


RESET_MEANING = {
    "subtract": "v -= v_threshold on a spike (NIR's IF and LIF say v = v_reset)",
    "zero": "v = 0 on a spike (NIR's v = v_reset, with v_reset 0)",
}


class _Builder:
    def __init__(self, graph: Graph, flavor: Flavor, nir) -> None:
        self.graph, self.flavor, self.nir = graph, flavor, nir
        self.nodes: dict = {}
        self.edges: list[tuple[str, str]] = []
        self.flows: dict[str, Flow] = {}

    # -- one IR node ----------------------------------------------------------------------------
    def emit(self, node) -> None:
        op = node.op
        handler = HANDLERS.get(type(op))
        if handler is None:
            raise UnsupportedError(refusal(node))
        self.flows[node.name] = handler(self, node, [self.flows[i] for i in node.inputs])

    def input(self, node, _):
        shape = tuple(node.type.sample_shape)
        name = self.nir_name(node.name)
        self.nodes[name] = self.nir.Input(input_type={"input": np.array(shape)})
        return Flow([name], np.ones(shape[0]), shape)

    def conv(self, node, flows):
        (flow,) = flows
        op = node.op
        if op.weight.ndim != 4:
            raise UnsupportedError(f"node {node.name!r}: {NIR_LACKS} importer that reads Conv1d (export it as 2-D)")
        out_unit = self.wanted_unit(node.name, op.weight.shape[0])
        weight = ungrouped(op.weight, op.groups) * flow.unit[None, :, None, None] / out_unit[:, None, None, None]
        out_ch = weight.shape[0]
        top, left, bottom, right = op.pads
        if (top, left) != (bottom, right):
            raise UnsupportedError(f"node {node.name!r}: {NIR_LACKS} asymmetric convolution padding")
        conv = self.nir.Conv2d(input_shape=np.array(flow.shape[1:]), weight=_f32(weight), stride=np.array(op.strides),
                               padding=np.array((top, left)), dilation=np.array(op.dilations), groups=1,
                               bias=_f32(op.bias / out_unit))  # fmt: skip
        return self.add_node(node.name, conv, flow, out_unit, (out_ch, *node.type.sample_shape[1:]))

    def gemm(self, node, flows):
        (flow,) = flows
        op = node.op
        out_unit = self.wanted_unit(node.name, op.weight.shape[0])
        if len(flow.shape) > 1:  # dense_as_conv: a convolution whose kernel is the whole map, no Flatten
            channels, *spatial = flow.shape
            weight = op.weight.reshape(op.weight.shape[0], channels, *spatial) * flow.unit[None, :, None, None]
            layer = self.nir.Conv2d(input_shape=np.array(spatial), weight=_f32(weight / out_unit[:, None, None, None]),
                                    stride=np.array((1, 1)), padding=np.array((0, 0)), dilation=np.array((1, 1)),
                                    groups=1, bias=_f32(op.bias / out_unit))  # fmt: skip
            shape = (op.weight.shape[0], 1, 1)
        else:
            weight = op.weight * flow.unit[None, :] / out_unit[:, None]
            layer = self.nir.Affine(weight=_f32(weight), bias=_f32(op.bias / out_unit))
            shape = (op.weight.shape[0],)
        return self.add_node(node.name, layer, flow, out_unit, shape)

    def reshape(self, node, flows):
        (flow,) = flows
        if len(node.op.shape) != 1:
            raise UnsupportedError(f"node {node.name!r}: {NIR_LACKS} reshape other than a flatten (to {node.op.shape})")
        if len(flow.shape) == 1:
            return flow
        if self.flavor.dense_as_conv and self.only_dense_users(node.name):
            return Flow(flow.sources, flow.unit, flow.shape, flat=True)
        flatten = self.nir.Flatten(input_type={"input": np.array(flow.shape)}, start_dim=0, end_dim=-1)
        unit = np.repeat(flow.unit, int(np.prod(flow.shape[1:])))
        return self.add_node(node.name, flatten, flow, unit, (int(np.prod(flow.shape)),))

    def avg_pool(self, node, flows):
        (flow,) = flows
        op = node.op
        if len(op.kernel) != 2 or any(op.pads) or _ceil_extra(node, flow, op):
            raise UnsupportedError(f"node {node.name!r}: {NIR_LACKS} 1-D, padded or ceil-mode pooling")
        return self.pool(node, flow, tuple(op.kernel), tuple(op.strides))

    def global_avg_pool(self, node, flows):
        (flow,) = flows
        if len(flow.shape) != 3:
            raise UnsupportedError(f"node {node.name!r}: {NIR_LACKS} 1-D pooling")
        return self.pool(node, flow, flow.shape[1:], flow.shape[1:])

    def pool(self, node, flow: Flow, kernel, stride) -> Flow:
        args = dict(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array((0, 0)))
        unit = flow.unit
        if self.flavor.sum_pool:
            layer, unit = self.nir.SumPool2d(**args), unit / float(np.prod(kernel))
        else:
            layer = self.nir.AvgPool2d(**args)
        return self.add_node(node.name, layer, flow, unit, (flow.shape[0], *node.type.sample_shape[1:]))

    def add(self, node, flows):
        if not self.flavor.fan_in:
            raise UnsupportedError(f"node {node.name!r}: {self.flavor.importer} runs a residual addition a step late "
                             "(its graph executor's depth-first order): use another --nir-flavor")  # fmt: skip
        target = self.wanted_unit(node.name, flows[0].shape[0])
        sources = []
        for slot, flow in enumerate(flows):
            if flow.shape != flows[0].shape:
                raise UnsupportedError(f"node {node.name!r}: {NIR_LACKS} broadcasting addition")
            sources += self.rescaled(f"{node.name}/scale{slot}", flow, target).sources
        return Flow(sources, target, flows[0].shape)

    def neuron(self, node, flows):
        (flow,) = flows
        op = node.op
        if op.model != "if":
            raise UnsupportedError(f"node {node.name!r}: {NIR_LACKS} {op.model} neuron (its spiking neurons are IF and "
                                   "LIF): compile with neuron='if' (--neuron if)")  # fmt: skip
        if op.v_init != 0:
            raise UnsupportedError(f"node {node.name!r}: {NIR_LACKS} initial membrane (here {op.v_init:g} θ): compile "
                             "with v_init=0 (--v-init 0; -t nir does)")  # fmt: skip
        if self.flavor.reset and op.reset != self.flavor.reset:
            wanted = self.flavor.reset
            raise UnsupportedError(f"node {node.name!r}: {self.flavor.importer} resets to {wanted}: compile with "
                                   f"reset={wanted!r} (--reset {wanted}; -t nir does)")  # fmt: skip
        theta = _per_channel(op.threshold, flow.shape[0])
        wanted = theta if self.flavor.fold_thresholds else np.ones_like(theta)
        flow = self.rescaled(f"{node.name}/scale", flow, wanted)
        threshold = np.broadcast_to((theta / wanted).reshape((-1,) + (1,) * (len(flow.shape) - 1)), flow.shape)
        zeros = np.zeros(flow.shape, np.float32)
        if self.flavor.if_as_lif:
            tau = np.full(flow.shape, LIF_TAU, np.float64)
            layer = self.nir.LIF(tau=tau, r=tau / LIF_DT, v_leak=zeros, v_threshold=_f32(threshold), v_reset=zeros)
        else:
            r = np.full(flow.shape, self.flavor.if_r, np.float32)
            layer = self.nir.IF(r=r, v_threshold=_f32(threshold), v_reset=zeros)
        return self.add_node(node.name, layer, flow, theta, flow.shape)

    def readout(self, node, flows):
        (flow,) = flows
        flow = self.rescaled(f"{node.name}/scale", flow, np.ones_like(flow.unit))
        name = self.nir_name(node.name)
        self.nodes[name] = self.nir.Output(output_type={"output": np.array(flow.shape)})
        self.edges += [(source, name) for source in flow.sources]
        return Flow([name], flow.unit, flow.shape)

    # -- helpers --------------------------------------------------------------------------------
    def add_node(self, name: str, layer, flow: Flow, unit, shape) -> Flow:
        name = self.nir_name(name)
        self.nodes[name] = layer
        self.edges += [(source, name) for source in flow.sources]
        return Flow([name], np.asarray(unit, np.float64), tuple(int(d) for d in shape))

    def rescaled(self, name: str, flow: Flow, unit: np.ndarray) -> Flow:
        """`flow` in `unit`: itself, or through a diagonal 1×1 convolution (a diagonal Affine on vectors)."""
        if np.array_equal(flow.unit, unit):
            return flow
        scale = flow.unit / unit
        channels = len(scale)
        if len(flow.shape) == 1:
            layer = self.nir.Affine(weight=_f32(np.diag(scale)), bias=np.zeros(channels, np.float32))
        else:
            layer = self.nir.Conv2d(input_shape=np.array(flow.shape[1:]),
                                    weight=_f32(np.diag(scale)[:, :, None, None]), stride=np.array((1, 1)),
                                    padding=np.array((0, 0)), dilation=np.array((1, 1)), groups=1,
                                    bias=np.zeros(channels, np.float32))  # fmt: skip
        return self.add_node(name, layer, flow, unit, flow.shape)

    def nir_name(self, name: str) -> str:
        """A node name HDF5 and torch accept (no '/' or '.'), unique in the NIR graph."""
        base = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "node"
        unique, k = base, 1
        while unique in self.nodes:
            unique, k = f"{base}_{k}", k + 1
        return unique

    def wanted_unit(self, name: str, channels: int) -> np.ndarray:
        """The unit the consumer of `name` wants, through additions: θ or 1 per channel (1 when
        it cannot tell; a rescaling node then makes up the difference)."""
        users = self.graph.users(name)
        while len(users) == 1:
            consumer = self.graph.op(users[0][0])
            if isinstance(consumer, Neuron) and self.flavor.fold_thresholds:
                return _per_channel(consumer.threshold, channels)
            if not isinstance(consumer, tensor.Add):
                break
            users = self.graph.users(users[0][0])
        return np.ones(channels)

    def only_dense_users(self, name: str) -> bool:
        return all(isinstance(self.graph.op(user), nn.Gemm) for user, _ in self.graph.users(name))


HANDLERS = {
    tensor.Input: _Builder.input,
    nn.Conv: _Builder.conv,
    nn.Gemm: _Builder.gemm,
    tensor.Reshape: _Builder.reshape,
    nn.AvgPool: _Builder.avg_pool,
    nn.GlobalAvgPool: _Builder.global_avg_pool,
    tensor.Add: _Builder.add,
    Neuron: _Builder.neuron,
    Readout: _Builder.readout,
}
WHAT_NIR_LACKS = {
    "gated-max-pool": "max pooling of spike trains: compile with maxpool='avg' (--maxpool avg; -t nir does)",
    "max-pool": "max pooling of spike trains: compile with maxpool='avg' (--maxpool avg; -t nir does)",
    "global-max-pool": "max pooling of spike trains",
    "concat": "concatenation",
    "msat-neuron": "MSAT neuron (adaptive thresholds): compile with neuron='if' (--neuron if)",
}


def refusal(node) -> str:
    lacks = WHAT_NIR_LACKS.get(node.op.name, f"node for snnc's {node.op.name} op")
    return f"node {node.name!r} ({node.op.name}): {NIR_LACKS} {lacks}"


def ungrouped(weight: np.ndarray, groups: int) -> np.ndarray:
    """A grouped convolution's weights as one over every input channel, zero across groups: NIR's
    type inference reads a Conv2d's input channels from its weight (groups ignored), and
    SpikingJelly's and snnTorch's importers do not build grouped layers."""
    if groups == 1:
        return weight
    out_ch, in_per_group = weight.shape[:2]
    full = np.zeros((out_ch, in_per_group * groups, *weight.shape[2:]), weight.dtype)
    per_group = out_ch // groups
    for group in range(groups):
        rows = slice(group * per_group, (group + 1) * per_group)
        full[rows, group * in_per_group : (group + 1) * in_per_group] = weight[rows]
    return full


def _per_channel(threshold: np.ndarray, channels: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(threshold, np.float64).reshape(-1), (channels,)).copy()


def _ceil_extra(node, flow: Flow, op) -> bool:
    """ceil_mode adds an output row or column that floor mode would not."""
    floor = tuple((size - k) // s + 1 for size, k, s in zip(flow.shape[1:], op.kernel, op.strides))
    return floor != tuple(node.type.sample_shape[1:])


def _f32(array) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)
