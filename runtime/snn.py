"""The reference SNN simulator: time-stepped, batched numpy. It defines what the spiking ops
compute; every target is tested against it.

A value in flight is either *static* (an array (B, ...) that is the same at every step: the
analog input and what is computed from it alone) or a *train* (T, B, ...) of per-step values.
Synapse ops are applied to all T steps at once (one batched call over T·B samples), neurons
step through time. Because the network is feed-forward and a spike reaches the next layer in
the step it is fired, simulating layer by layer gives the same spikes as stepping the whole
network, only faster.

Bit-plane trains (iLIF) carry an offset c so that the value they encode is 2^−T·(Σ_t 2^(T−1−t)·X_t + c):
an emitted spike at emission step t weighs θ·2^−(t+1), and an affine op f maps (X, c) to
(f(X_t) per step, f(c)), which keeps the encoded value equal to f(encoded input) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from snnc.runtime import adaptive
from snnc.runtime.ann import KERNELS, bind_inputs, max_pool

from snnc import models
from snnc.errors import ConversionError, DataError
from snnc.ir import ops_nn as nn
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import GatedMaxPool, Neuron, Readout
from snnc.ir.types import TensorType

SAMPLE_STEPS_PER_CHUNK = 2048  # T × batch processed at once; bounds memory
WEIGHTED = (nn.Conv, nn.Gemm)


@dataclass
class Train:
    """Per-step values (T, B, ...); `offset` (iLIF only) completes the encoded value."""

    steps: np.ndarray
    offset: np.ndarray | None = None


@dataclass(repr=False)
class SimResult:
    """What a simulation returns: outputs per sample; counts are totals over the batch (their
    means per image: spikes_per_image, sops_per_image). `steps` are latency steps: until the
    sample's output was final, the pipeline's fill included."""

    outputs: list[np.ndarray]
    steps: np.ndarray  # per sample: steps until its output was final
    spikes: dict[str, int] = field(default_factory=dict)  # per neuron layer
    neurons: dict[str, int] = field(default_factory=dict)  # neurons per sample, per layer
    sops: dict[str, int] = field(default_factory=dict)  # synaptic operations per weighted layer
    macs: dict[str, int] = field(default_factory=dict)  # analog MACs (layers fed by the input)
    samples: int = 0
    records: dict[str, np.ndarray] = field(default_factory=dict)  # per-step spike trains (B, T, ...)
    trace: np.ndarray | None = None  # per-step readout estimates (B, T, K), when asked for
    hardware: object = None  # the accel simulator's cycles and energy (targets/accel/costs.py AccelResult)

    @property
    def logits(self) -> np.ndarray:
        return self.outputs[0]

    @property
    def spikes_per_image(self) -> dict[str, float]:
        """Spikes per neuron layer, averaged over the images."""
        return {name: count / max(self.samples, 1) for name, count in self.spikes.items()}

    @property
    def sops_per_image(self) -> dict[str, float]:
        """Synaptic operations per weighted layer, averaged over the images."""
        return {name: count / max(self.samples, 1) for name, count in self.sops.items()}

    def __repr__(self) -> str:
        shapes = ", ".join(f"{tuple(o.shape)} {o.dtype}" for o in self.outputs)
        parts = [f"samples={self.samples}", f"outputs=[{shapes}]"]
        if len(self.steps):
            parts.append(f"mean latency steps={float(np.mean(self.steps)):.1f}")
        if self.samples:
            parts.append(f"spikes/image={sum(self.spikes.values()) / self.samples:,.0f}")
        if self.records:
            parts.append(f"records={sorted(self.records)}")
        if self.trace is not None:
            parts.append(f"trace={tuple(self.trace.shape)}")
        return f"SimResult({', '.join(parts)})"

    def merge(self, other: SimResult) -> SimResult:
        """Concatenate outputs and add counts (results of consecutive batch chunks)."""
        if not self.samples:
            return other
        outputs = [np.concatenate([a, b]) for a, b in zip(self.outputs, other.outputs)]
        add = lambda a, b: {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}  # noqa: E731
        records = {k: np.concatenate([v, other.records[k]]) for k, v in self.records.items()}
        trace = None if self.trace is None else np.concatenate([self.trace, other.trace])
        hardware = None if self.hardware is None else self.hardware.merge(other.hardware)
        return SimResult(
            outputs, np.concatenate([self.steps, other.steps]), add(self.spikes, other.spikes), self.neurons,
            add(self.sops, other.sops), add(self.macs, other.macs), self.samples + other.samples, records, trace,
            hardware,
        )  # fmt: skip


def simulate(graph: Graph, inputs, timesteps: int, latency: int | None = None, dtype=np.float32,
             record=(), trace: bool = False, record_values: bool = False) -> SimResult:  # fmt: skip
    """Run the SNN graph for `timesteps` steps on a batch; `latency` (the steps a sample takes
    without an early exit) is reported per sample. `record`: neuron layers whose spike trains
    (B, T, ...) come back in result.records (with `record_values`, what each step sends, as
    float: MSAT's spikes carry their adapted threshold). `trace`: return the readout's per-step
    estimates.

    With an adaptive readout (Readout.exit_metric), each sample's output, steps and counts are
    those of its exit step: rate coding counts every layer's activity up to it; iLIF, whose
    earlier stages have finished by the last window, only the last stage's."""
    if timesteps < 1:
        raise DataError(f"timesteps must be >= 1, got {timesteps}")
    check_recordable(record, [n.name for n in graph.nodes() if isinstance(n.op, Neuron)])
    check_step_weights(graph, timesteps)
    bound = bind_inputs(graph, inputs)
    batch = len(next(iter(bound.values())))
    chunk = max(1, SAMPLE_STEPS_PER_CHUNK // timesteps)
    result = SimResult([], np.zeros(0, np.int64))
    for start in range(0, batch, chunk):
        part = {k: v[start : start + chunk].astype(dtype) for k, v in bound.items()}
        simulation = _Simulation(graph, timesteps, dtype, tuple(record), trace, record_values)
        result = result.merge(simulation.run(part, latency if latency is not None else timesteps))
    return result


def check_step_weights(graph: Graph, timesteps: int, nodes=None) -> None:
    """Readout step weights fit T (`nodes`: the graph's, when the caller holds them already)."""
    for node in nodes if nodes is not None else graph.nodes():
        weights = getattr(node.op, "step_weights", None)
        if weights is not None and len(weights) != timesteps:
            raise DataError(f"readout {node.name!r} has step weights fitted for T = {len(weights)}; "
                            f"run it with that T, not {timesteps}")  # fmt: skip


def check_recordable(record, layers: list[str]) -> None:
    unknown = [name for name in record if name not in layers]
    if unknown:
        raise DataError(f"cannot record {unknown}: the neuron layers are {layers}")


class _Simulation:
    def __init__(self, graph: Graph, timesteps: int, dtype, record: tuple[str, ...] = (), trace: bool = False,
                 record_values: bool = False):  # fmt: skip
        self.graph = graph
        self.record = record
        self.record_values = record_values
        self.trace = trace
        self.T = timesteps
        self.dtype = dtype
        names = {graph.op(n).model for n in graph.nx.nodes if isinstance(graph.op(n), Neuron)}
        if len(names) > 1:
            raise ConversionError(f"one neuron model per network, found {sorted(names)}")
        self.bit_plane = bool(names) and models.model(names.pop()).coding.bit_plane
        self.scale = dtype(2.0**-timesteps)
        self.counts = SimResult([], np.zeros(0, np.int64))
        self.step_spikes: dict[str, np.ndarray] = {}  # per layer: (T, B) spikes per step and sample
        self.step_sops: dict[str, np.ndarray] = {}  # per weighted op: (T, B)
        self.exits: np.ndarray | None = None  # per sample: the step it exits at

    def run(self, inputs: dict[str, np.ndarray], latency: int) -> SimResult:
        values: dict = dict(inputs)
        remaining = {n: self.graph.nx.out_degree(n) for n in self.graph.nx.nodes}
        for node in self.graph.nodes():
            if node.name not in values:
                values[node.name] = self._evaluate(node, [values[i] for i in node.inputs])
            for source in node.inputs:
                remaining[source] -= 1
                if remaining[source] == 0 and source not in self.graph.outputs:
                    values.pop(source, None)
        counts = self.counts
        batch = len(next(iter(inputs.values())))
        counts.outputs = [self._readout(values[o]) for o in self.graph.outputs]
        counts.steps = np.full(batch, latency, dtype=np.int64)
        counts.samples = batch
        self._total_counts(counts)
        return counts

    def _total_counts(self, counts: SimResult) -> None:
        """Per-step counts summed up to each sample's exit (all steps when it runs to the end)."""
        if self.exits is None:
            cutoff, truncated = None, set()
        else:
            cutoff = np.arange(self.T)[:, None] <= self.exits[None, :]
            truncated = final_window(self.graph) if self.bit_plane else set(self.step_spikes) | set(self.step_sops)
            counts.steps -= self.T - 1 - self.exits
        for table, per_step in ((counts.spikes, self.step_spikes), (counts.sops, self.step_sops)):
            for name, array in per_step.items():
                kept = array * cutoff if name in truncated else array
                self._count(table, name, int(kept.sum()))

    # -- dispatch ---------------------------------------------------------------------------
    def _evaluate(self, node, args: list):
        op = node.op
        if isinstance(op, Neuron):
            return self._neuron(node.name, op, args[0])
        if isinstance(op, Readout):
            return self._readout(args[0], op)
        if isinstance(op, GatedMaxPool) and isinstance(args[0], Train):
            return self._gated_max_pool(op, args[0])
        if isinstance(op, nn.MaxPool) and isinstance(args[0], Train):
            if not self.bit_plane:
                raise ConversionError(f"max-pool {node.name!r} on spikes: run lower-pooling for rate coding")
            return max_pool(op, self._decode(args[0]))  # iLIF pools the potential: exact
        if not any(isinstance(a, Train) for a in args):
            if isinstance(op, WEIGHTED):
                self._count(self.counts.macs, node.name, op.macs([self.graph.type(i) for i in node.inputs], node.type)
                            * len(args[0]))  # fmt: skip
            return KERNELS[type(op)](op, *args).astype(self.dtype, copy=False)
        return self._per_step(node, op, [self._as_train(a) for a in args])

    def _as_train(self, value) -> Train:
        if isinstance(value, Train):
            return value
        if self.bit_plane:  # encodes `value` with no step carrying it: 2^−T·(0 + 2^T·value)
            return Train(np.zeros((1, *value.shape), self.dtype), value / self.scale)
        return Train(value[None])  # rate coding: the same current at every step

    def _per_step(self, node, op, trains: list[Train]) -> Train:
        steps = [self._broadcast_time(tr.steps) for tr in trains]
        if isinstance(op, WEIGHTED):
            self._count_sops(node.name, op, steps[0])
        flat = [s.reshape(-1, *s.shape[2:]) for s in steps]
        out = KERNELS[type(op)](op, *flat).astype(self.dtype, copy=False)
        out = out.reshape(self.T, -1, *out.shape[1:])
        offset = None
        if self.bit_plane:
            offsets = [tr.offset if tr.offset is not None else np.zeros_like(s[0]) for tr, s in zip(trains, steps)]
            offset = KERNELS[type(op)](op, *offsets).astype(self.dtype, copy=False)
        return Train(out, offset)

    def _broadcast_time(self, steps: np.ndarray) -> np.ndarray:
        return np.broadcast_to(steps, (self.T, *steps.shape[1:])) if len(steps) == 1 else steps

    # -- neurons and readout ----------------------------------------------------------------
    def _neuron(self, name: str, op: Neuron, current) -> Train:
        """The model's own step (snnc/models) on what its coding delivers: the accumulated
        potential (bit-plane) or the current of every step (rate)."""
        theta = op.threshold.astype(self.dtype)
        if self.bit_plane:
            value = current if not isinstance(current, Train) else self._decode(current)
        else:
            value = self._broadcast_time(current.steps if isinstance(current, Train) else current[None])
        out, spikes = models.model(op.model).simulate(op, value, theta, self.T, self.dtype)
        per_step = (out != 0) if spikes is None else spikes
        self.step_spikes[name] = per_step.reshape(self.T, len(out[0]), -1).sum(axis=2, dtype=np.int64)
        self.counts.neurons[name] = int(np.prod(out.shape[2:]))
        if name in self.record:
            sent = out if self.record_values else (out != 0).astype(np.uint8)
            self.counts.records[name] = np.ascontiguousarray(np.swapaxes(sent, 0, 1))
        return Train(out, np.zeros_like(out[0]) if self.bit_plane else None)

    def _decode(self, train: Train) -> np.ndarray:
        """Accumulation: V ← 2V + X_t over the window, then 2^−T·(V + c): the encoded value."""
        steps = self._broadcast_time(train.steps)
        v = np.zeros(steps.shape[1:], dtype=self.dtype)
        for step in range(self.T):
            v = 2 * v + steps[step]
        offset = train.offset if train.offset is not None else 0
        return (v + offset) * self.scale

    def _readout(self, value, op: Readout | None = None) -> np.ndarray:
        """The output: the (weighted) mean over T, or iLIF's decoded value; with an adaptive
        readout, each sample's estimate at its exit step."""
        if not isinstance(value, Train):
            return value
        metric = op.exit_metric if op is not None else None
        if self.bit_plane:
            final = self._decode(value)
            if metric is None and not self.trace:
                return final
            estimates = self._ilif_estimates(value)
        else:
            estimates = self._rate_estimates(value, op)
            final = estimates[:, -1]
        if self.trace and self.counts.trace is None:
            self.counts.trace = estimates
        if metric is None:
            return final
        self.exits = adaptive.exit_steps(adaptive.confidence(estimates, metric), op.exit_threshold)
        early = self.exits < self.T - 1
        return np.where(early[:, None], estimates[np.arange(len(final)), self.exits], final)

    def _rate_estimates(self, train: Train, op: Readout | None) -> np.ndarray:
        weights = None if op is None else op.step_weights
        return adaptive.rate_estimates(self._broadcast_time(train.steps).astype(np.float32), weights)

    def _ilif_estimates(self, train: Train) -> np.ndarray:
        offset = train.offset if train.offset is not None else 0
        return adaptive.ilif_estimates(self._broadcast_time(train.steps), offset, self.T)

    def _gated_max_pool(self, op: GatedMaxPool, train: Train) -> Train:
        """Running max pooling: with S_i(t) what input i has sent up to step t, each window
        sends max_i S_i(t) − max_i S_i(t−1). What a window has sent is then exactly the max
        of what its inputs have sent, at every step, so its rate is the max of their rates;
        for IF, whose inputs each send θ at a time, it sends θ or nothing (within float
        rounding of the sums)."""
        steps = self._broadcast_time(train.steps)
        sent = np.zeros(steps.shape[1:], dtype=steps.dtype)
        previous = max_pool(op, sent)
        out = []
        for step in steps:
            sent += step
            current = max_pool(op, sent)
            out.append(current - previous)
            previous = current
        return Train(np.stack(out))

    # -- counting ---------------------------------------------------------------------------
    @staticmethod
    def _count(table: dict, key: str, value) -> None:
        table[key] = table.get(key, 0) + int(value)

    def _count_sops(self, name: str, op, steps: np.ndarray) -> None:
        """Synaptic operations: input events (non-zero values) × their fan-out in this op, per
        step and sample."""
        weights = fan_out(op, steps.shape[2:]).reshape(-1).astype(np.float64)  # exact sums below 2^53
        per_step = [(step != 0).reshape(len(step), -1) @ weights for step in steps]
        self.step_sops[name] = np.rint(per_step).astype(np.int64)


@dataclass
class FinalStage:
    """What the readout does with the last stage's bits (iLIF): per-step estimates (B, T, K),
    exit steps (None without an adaptive readout), and per-step SOPs (T, B) of its ops."""

    estimates: np.ndarray
    exits: np.ndarray | None
    sops: dict[str, np.ndarray]


def replay_final_stage(graph: Graph, spikes: dict[str, np.ndarray], timesteps: int) -> FinalStage:
    """iLIF: run the readout's window again from the recorded spike trains (B, T, ...) of the
    last neuron stage, so that an engine which does not keep per-bit values (the cpu target)
    gets the estimates, exits and counts the reference computes."""
    simulation = _Simulation(graph, timesteps, np.float32, trace=True)
    values: dict = {}
    for name, train in spikes.items():
        steps = np.swapaxes(train, 0, 1).astype(np.float32) * graph.op(name).threshold.astype(np.float32)
        values[name] = Train(steps, np.zeros_like(steps[0]))
    window = final_window(graph)
    for node in graph.nodes():
        if node.name in values or not (node.name in window or isinstance(node.op, Readout)):
            continue
        missing = [i for i in node.inputs if i not in values]
        if missing:
            raise ConversionError(f"node {node.name!r} in the readout's window reads {missing} from earlier stages")
        values[node.name] = simulation._evaluate(node, [values[i] for i in node.inputs])
    return FinalStage(simulation.counts.trace, simulation.exits, simulation.step_sops)


def final_window(graph: Graph) -> set[str]:
    """The neuron layers and ops whose activity falls in the readout's window: those that reach
    a readout without passing through another neuron (and the neurons where that path starts)."""
    found: set[str] = set()
    frontier = [n for n in graph.nx.nodes if isinstance(graph.op(n), Readout)]
    while frontier:
        name = frontier.pop()
        for source in graph.inputs_of(name):
            if source not in found:
                found.add(source)
                if not isinstance(graph.op(source), Neuron):
                    frontier.append(source)
    return found


def axis_reach(size: int, outputs: np.ndarray, kernel: int, stride: int, dilation: int, pad: int) -> np.ndarray:
    """Per input index along one axis: how many (output in `outputs`, kernel tap) pairs read it."""
    counts = np.zeros(size, dtype=np.int64)
    for tap in range(kernel):
        positions = outputs * stride + tap * dilation - pad
        np.add.at(counts, positions[(positions >= 0) & (positions < size)], 1)
    return counts


def fan_out(op, sample_shape: tuple[int, ...]) -> np.ndarray:
    """How many output values each input value feeds, per input position (sample-shaped)."""
    if isinstance(op, nn.Gemm):
        return np.full(sample_shape, op.weight.shape[0], dtype=np.int64)
    spatial = sample_shape[1:]
    per_axis = []
    for axis, size in enumerate(spatial):
        out_size = op.infer([TensorType((1, *sample_shape))]).shape[2 + axis]
        outputs = np.arange(out_size)
        per_axis.append(axis_reach(size, outputs, op.kernel[axis], op.strides[axis], op.dilations[axis], op.pads[axis]))
    grid = per_axis[0] if len(per_axis) == 1 else np.multiply.outer(per_axis[0], per_axis[1])
    return np.broadcast_to(grid * (op.weight.shape[0] // op.groups), sample_shape)
