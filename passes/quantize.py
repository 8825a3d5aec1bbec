"""quantize: lower a converted SNN graph to the accelerator's integer network (a QNet).

Every neuron layer and the readout becomes a QLayer fed by the paths that reach it:

    layer  := Neuron | Readout  of  [MaxPool (iLIF, on the potential)]  sum
    sum    := Add(sum, sum) | Conv(path) | Gemm(path) | Neuron (identity shortcut)
    path   := [Reshape to 1-D] [AvgPool | GlobalAvgPool | GatedMaxPool] source
    source := Neuron | the network input

A spike of a neuron with threshold θ_c delivers θ_c (an MSAT event carries its charge in units
of θ_max/256); a sum-pooled event of an average pool of
k cells delivers θ_c/k; one unit of the input delivers s_in. The real weight of a path is
therefore W_eff = W·u (u: the unit its input arrives in), and output channel m of the layer
gets the scale s_m = max|W_eff[m, ·]| / 127 over all its paths, so that

    q = round(W_eff / s_m) ∈ [−127, 127],  B = round(b / s_m),  Θ = max(1, round(θ_m / s_m)),
    v0 = round(v_init·Θ).

Anything else in the graph is an UnsupportedError naming the node: the accelerator has no
unit for it. Before the walk, 1×1 convolutions of linear values (MobileNets' bottlenecks) are
composed into convolutions of spikes (passes/linear_chains.py).
"""

from __future__ import annotations

import numpy as np
from snnc.passes.linear_chains import compose_linear_chains
from snnc.runtime.ann import ceil_extra

from snnc import models
from snnc.errors import UnsupportedError
from snnc.ir import ops_nn as nn
from snnc.ir import ops_snn as snn
from snnc.ir import ops_tensor as t
from snnc.ir.graph import Graph
from snnc.ir.qnet import QLayer, QNet, QSynapse
from snnc.models import fixed_msat

WEIGHT_MAX = 127


def input_scale(calibration: np.ndarray | None) -> float:
    """The real value of one unit of the int8 input: max|x| / 127 over the calibration data
    (1/127, inputs in [−1, 1], without it)."""
    if calibration is None or not np.any(calibration):
        return 1.0 / WEIGHT_MAX
    return float(np.max(np.abs(calibration))) / WEIGHT_MAX


def quantize(graph: Graph, timesteps: int, scale_in: float) -> QNet:
    """The QNet of a converted graph (after the conversion pipeline) for T steps."""
    model, graph, nodes = _mappable(graph)
    lowering = _Lowering(graph, model, scale_in)
    layers = [lowering.layer(node) for node in nodes]
    readout = graph.op(nodes[-1].name)
    name = graph.inputs[0]
    return QNet(
        model, timesteps, name, lift(graph.type(name).sample_shape), scale_in, layers,
        readout.exit_metric, readout.exit_threshold if readout.exit_metric else 2.0, readout.step_weights,
    )  # fmt: skip


def check_mappable(graph: Graph) -> None:
    """What quantize() would refuse, without its weight arithmetic: the accel target's check
    before calibration (thresholds change quantize's numbers, not what it accepts)."""
    model, graph, nodes = _mappable(graph)
    lowering = _Lowering(graph, model, input_scale(None))
    for node in nodes:
        lowering.check(node)


def _mappable(graph: Graph) -> tuple[str, Graph, list]:
    """(neuron model, the graph with its linear chains composed, its layer nodes in order, the
    readout last), or an UnsupportedError for what the chip has no unit for as a whole."""
    neurons = [graph.op(n) for n in graph.nx.nodes if isinstance(graph.op(n), snn.Neuron)]
    names = {op.model for op in neurons}
    if any(getattr(op, "units", "normalized") != "normalized" for op in neurons):
        raise UnsupportedError("the accel target's MSAT unit works in normalized units (--msat units=normalized)")
    for op in neurons:
        resets = models.model(op.model).fixed_resets
        if op.reset not in resets:
            raise UnsupportedError(f"{op.model} in integers resets by {' or '.join(resets)} only, not {op.reset!r}")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedError("the accel target takes one input and one output")
    model = names.pop() if names else "if"
    graph = compose_linear_chains(graph)  # MobileNets' linear bottlenecks: convolutions of spikes only
    nodes = [node for node in graph.nodes() if isinstance(node.op, (snn.Neuron, snn.Readout))]
    readouts = [node.name for node in nodes if isinstance(node.op, snn.Readout)]
    if len(readouts) != 1 or nodes[-1].name != readouts[0] or graph.outputs[0] != readouts[0]:
        raise UnsupportedError("the accel target needs one readout, producing the network's output")
    return model, graph, nodes


def lift(shape) -> tuple[int, ...]:
    """(C, L) → (C, 1, L): 1-D networks run as 2-D ones of height 1; other shapes unchanged."""
    shape = tuple(shape)
    return (shape[0], 1, shape[1]) if len(shape) == 2 else shape


def _lift_2d(kernel, strides, pads) -> tuple[tuple, tuple, tuple, tuple]:
    """A window's kernel, strides and (begin, end) pads in 2-D (1-D: height 1, no vertical pad)."""
    if len(kernel) == 2:
        return tuple(kernel), tuple(strides), tuple(pads[:2]), tuple(pads[2:])
    return (1, kernel[0]), (1, strides[0]), (0, pads[0]), (0, pads[1])


def per_channel(threshold: np.ndarray, channels: int) -> np.ndarray:
    """A threshold of shape (), (C,) or (C, 1, ...) as one value per channel."""
    return np.broadcast_to(np.asarray(threshold, dtype=np.float64).reshape(-1), (channels,))


class _Lowering:
    def __init__(self, graph: Graph, model: str, scale_in: float) -> None:
        self.graph = graph
        self.model = model
        self.scale_in = scale_in

    def sample(self, name: str) -> tuple[int, ...]:
        """A value's sample shape, a 1-D map (C, L) as the 2-D map (C, 1, L) the chip holds."""
        return lift(self.graph.type(name).sample_shape)

    def unsupported(self, name: str, why: str) -> UnsupportedError:
        return UnsupportedError(f"node {name!r} ({self.graph.op(name).name}): {why}")

    # -- a layer --------------------------------------------------------------------------------
    def check(self, node) -> None:
        """What layer() would refuse, without computing weights."""
        source, _ = self.potential_pool(node)
        for weighted, path in self.terms(source):
            self.check_term(weighted, path, self.sample(source))

    def potential_pool(self, node) -> tuple[str, tuple]:
        """(the sum the layer's neurons read, (kernel, strides, pads) of the max-pool of their
        potential before it, iLIF only; empty tuples without one)."""
        source = node.inputs[0]
        op = self.graph.op(source)
        if not isinstance(op, nn.MaxPool) or isinstance(op, snn.GatedMaxPool):
            return source, ((), (), ())
        if not models.model(self.model).coding.bit_plane:
            raise self.unsupported(source, "max pooling of a rate-coded current (use --maxpool gate)")
        return self.graph.inputs_of(source)[0], self.window(source, op, padded=True)

    def layer(self, node) -> QLayer:
        op = node.op
        source, (pool_kernel, pool_strides, pool_pads) = self.potential_pool(node)
        terms = self.terms(source)
        shape = self.sample(node.name)
        pre_shape = self.sample(source)
        effective = [self.effective_weight(weighted, path, pre_shape) for weighted, path in terms]
        bias = sum((self.bias_of(weighted, pre_shape[0]) for weighted, _ in terms), np.zeros(pre_shape[0]))
        scale = self.channel_scale(effective, op, pre_shape[0])
        synapses = [self.synapse(weighted, path, w_eff, scale) for (weighted, path), w_eff in zip(terms, effective)]
        fields = dict(bias=np.round(bias / scale), scale=scale, pool_kernel=pool_kernel, pool_strides=pool_strides,
                      pool_pads=pool_pads, pre_shape=pre_shape, depth=op.depth)  # fmt: skip
        if isinstance(op, snn.Readout):
            return QLayer(node.name, "readout", shape, synapses, **fields)
        threshold = np.maximum(1, np.round(per_channel(op.threshold, pre_shape[0]) / scale))
        msat = None
        if isinstance(op, snn.MsatNeuron):
            msat = fixed_msat.q8_params(op.alpha, op.k_a, op.k_i, op.c_det, op.tau_mp, op.tau_rd, op.burst, op.use_dtt,
                                        op.use_det, op.confidence, op.confidence_steps, op.seed)  # fmt: skip
        return QLayer(node.name, "neuron", shape, synapses, threshold=threshold,
                      v0=np.round(op.v_init * threshold), reset=op.reset, msat=msat, **fields)  # fmt: skip

    def channel_scale(self, effective: list[np.ndarray], op, channels: int) -> np.ndarray:
        largest = np.zeros(channels)
        for w in effective:
            largest = np.maximum(largest, np.abs(w.reshape(channels, -1)).max(axis=1))
        # an all-zero row: one unit per 1/127 of the threshold
        fallback = per_channel(op.threshold, channels) if isinstance(op, snn.Neuron) else np.ones(channels)
        return np.where(largest > 0, largest, fallback).astype(np.float64) / WEIGHT_MAX

    # -- the terms of a sum ---------------------------------------------------------------------
    def terms(self, name: str) -> list[tuple[str | None, tuple[str, str | None, str | None]]]:
        """[(weighted op or None for an identity shortcut, path)] that add up at `name`."""
        op = self.graph.op(name)
        if isinstance(op, t.Add):
            return [term for source in self.graph.inputs_of(name) for term in self.terms(source)]
        if isinstance(op, (nn.Conv, nn.Gemm)):
            return [(name, self.path(self.graph.inputs_of(name)[0], name))]
        if isinstance(op, snn.Neuron):
            return [(None, (name, None, None))]
        raise self.unsupported(name, "the accel target's cores sum convolutions, dense layers and shortcuts only")

    def path(self, name: str, consumer: str) -> tuple[str, str | None, str | None]:
        """(source, pool node or None, reshape node or None) from a weighted op back to its source."""
        reshape = pool = None
        op = self.graph.op(name)
        if isinstance(op, t.Reshape):
            reshape, name = name, self.graph.inputs_of(name)[0]
            op = self.graph.op(name)
        if isinstance(op, (nn.AvgPool, nn.GlobalAvgPool, snn.GatedMaxPool)):
            pool, name = name, self.graph.inputs_of(name)[0]
            op = self.graph.op(name)
        if not isinstance(op, (snn.Neuron, t.Input)):
            raise self.unsupported(name, f"feeds {consumer!r}; the accel target reads spikes or the input only "
                                   "(through at most one pool and a flatten)")  # fmt: skip
        if pool is not None and isinstance(op, t.Input):
            raise self.unsupported(pool, "pooling the analog input is not mapped")
        if pool is not None:  # a window the chip cannot pool is an error here
            self.window(pool, self.graph.op(pool), padded=isinstance(self.graph.op(pool), snn.GatedMaxPool))
        return name, pool, reshape

    def window(self, name: str, op, padded: bool = False) -> tuple[tuple, tuple, tuple]:
        """A pool's 2-D kernel, strides and pads (top, left, bottom, right; ceil_mode's extra
        cells in the end pads). Pads are mapped where `padded`: a max-pool of the potential
        or a gate, whose padded cells never win; an average pool sums events, and takes none."""
        shape = self.sample(self.graph.inputs_of(name)[0])
        if len(shape) != 3:
            raise self.unsupported(name, "the accel target pools 2-D maps only")
        if isinstance(op, nn.GlobalAvgPool) and not isinstance(op, nn.GlobalMaxPool):
            return shape[1:], shape[1:], (0, 0, 0, 0)
        if isinstance(op, nn.GlobalMaxPool) or any(d != 1 for d in getattr(op, "dilations", (1, 1))):
            raise self.unsupported(name, "global max pooling and dilated pooling are not mapped")
        given = self.graph.type(self.graph.inputs_of(name)[0]).sample_shape  # a 1-D map: (C, L)
        pooled = self.graph.type(name).sample_shape[1:]
        extra = ceil_extra(op, np.broadcast_to(0, (1, *given)), pooled, (1,) * len(pooled))
        extra = (0, *extra) if len(extra) == 1 else extra
        kernel, strides, begin, end = _lift_2d(op.kernel, op.strides, op.pads)
        pads = (*begin, end[0] + extra[0], end[1] + extra[1])
        if any(pads) and not padded:
            raise self.unsupported(name, "average pooling with padding or ceil_mode is not mapped")
        return kernel, strides, pads

    # -- weights --------------------------------------------------------------------------------
    def unit(self, source: str, pool: str | None) -> tuple[np.ndarray, float]:
        """The real value per channel of one event from `source` (through `pool`)."""
        op = self.graph.op(source)
        shape = self.sample(source)
        if isinstance(op, t.Input):
            return np.full(shape[0], self.scale_in), 1.0
        theta = per_channel(op.threshold, shape[0])
        if isinstance(op, snn.MsatNeuron):  # an MSAT event carries s·g: the charge in units of θ_max/256
            theta = theta / fixed_msat.ONE
        factor = 1.0
        if pool is not None and not isinstance(self.graph.op(pool), snn.GatedMaxPool):
            kernel, _, _ = self.window(pool, self.graph.op(pool))
            factor = 1.0 / float(np.prod(kernel))  # a sum pool: the 1/k of the average goes into the weights
        return theta.astype(np.float64), factor

    def check_term(self, weighted: str | None, path, pre_shape) -> None:
        """A term of a layer's sum the chip cannot take is an error naming its node."""
        source, pool, _ = path
        if weighted is None:
            if self.sample(source) != tuple(pre_shape):
                raise self.unsupported(source, "a shortcut must have the shape of the sum it joins")
            return
        op = self.graph.op(weighted)
        if isinstance(op, nn.Gemm):
            if int(np.prod(self.pooled_shape(source, pool), dtype=np.int64)) != op.weight.shape[1]:
                raise self.unsupported(weighted, "a dense layer must read its source whole (flattened)")
        elif len(op.kernel) not in (1, 2):
            raise self.unsupported(weighted, "the accel target maps 1-D and 2-D convolutions only")

    def effective_weight(self, weighted: str | None, path, pre_shape) -> np.ndarray:
        self.check_term(weighted, path, pre_shape)
        source, pool, _ = path
        unit, factor = self.unit(source, pool)
        if weighted is None:
            return unit * factor
        op = self.graph.op(weighted)
        w = op.weight.astype(np.float64)
        if isinstance(op, nn.Gemm):
            pooled = self.pooled_shape(source, pool)
            per_column = np.repeat(unit, int(np.prod(pooled[1:], dtype=np.int64))) if len(pooled) > 1 else unit
            return w * (per_column * factor)[None, :]
        w = w.reshape(*w.shape[:2], *([1] * (4 - w.ndim)), *w.shape[2:])  # 1-D: a 1 × k kernel
        # weight[m, j] reads input channel g·C/G + j, g = m's group
        per_input = (unit * factor).reshape(op.groups, 1, -1)
        per_row = np.repeat(per_input, w.shape[0] // op.groups, axis=1).reshape(w.shape[0], -1)
        return w * per_row[:, :, None, None]

    def pooled_shape(self, source: str, pool: str | None) -> tuple[int, ...]:
        return self.sample(pool or source)

    def bias_of(self, weighted: str | None, channels: int) -> np.ndarray:
        return np.zeros(channels) if weighted is None else self.graph.op(weighted).bias.astype(np.float64)

    def synapse(self, weighted: str | None, path, w_eff: np.ndarray, scale: np.ndarray) -> QSynapse:
        source, pool, _ = path
        per_row = scale.reshape((-1,) + (1,) * (w_eff.ndim - 1))
        weight = np.clip(np.round(w_eff / per_row), -WEIGHT_MAX, WEIGHT_MAX)
        pool_kind = None if pool is None else ("gate" if isinstance(self.graph.op(pool), snn.GatedMaxPool) else "avg")
        kernel, strides, pads = ((),) * 3
        if pool is not None:
            kernel, strides, pads = self.window(pool, self.graph.op(pool), padded=pool_kind == "gate")
        common = dict(source=source, weight=weight, source_shape=self.sample(source),
                      pool=pool_kind, pool_kernel=kernel, pool_strides=strides, pool_pads=pads)  # fmt: skip
        if weighted is None:
            return QSynapse(kind="identity", **common)
        op = self.graph.op(weighted)
        if isinstance(op, nn.Gemm):
            return QSynapse(kind="dense", **common)
        _, strides, begin, end = _lift_2d(op.kernel, op.strides, op.pads)
        dilations = (1, *op.dilations) if len(op.dilations) == 1 else op.dilations
        return QSynapse(kind="conv", strides=strides, pads=(*begin, *end), dilations=dilations, groups=op.groups,
                        **common)  # fmt: skip
