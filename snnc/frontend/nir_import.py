"""NIR → SNN graph: networks trained in snnTorch, Norse, Sinabs, SpikingJelly … reach snnc's targets.

The result is already spiking (Neuron ops with the file's thresholds, a Readout at each output),
so snnc.compile runs only the schedule pass on it. NIR's spikes are 1 and snnc's carry their
neuron's threshold θ, so each value keeps a per-channel `unit` (IR value = unit · NIR value) that
the next weighted layer divides out of its weights; where units must meet (a node with several
inputs, whose NIR meaning is their sum) a diagonal 1×1 convolution rescales. IF with r·dt = 1
is snnc's IF; a LIF whose leak vanishes in float32 (dt/τ < 2^−24) is one too. What has no
snnc equivalent (a leak, a synaptic current, a delay, a nested graph) is an error naming the node.

Semantics chosen where NIR leaves them open (docs/interop.md): the input is presented unchanged
at every step; the reset is the file's metadata `reset` if it names one, else NIR's
"v = v_reset" (reset to zero, v_reset must be 0), unless the caller says otherwise; snnc fires at
v ≥ θ where NIR's text says v > θ (they differ only on exact ties); the readout is the output's
mean over the steps.

A NIR file is HDF5: before `nir.read` touches it, every dataset's declared size is added up and
checked against SNNC_MAX_DATA_BYTES, and links to other files, external storage and virtual
datasets are refused (they would read files the user did not name).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from snnc.errors import FileError, InvalidModelError, UnsupportedError
from snnc.files import DATA_LIMIT_ENV, check_regular_file, size_limit
from snnc.ir import ops_nn as nn
from snnc.ir import ops_tensor as tensor
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import RESET_MODES, Neuron, Readout
from snnc.ir.types import BATCH, TensorType
from snnc.resources import format_bytes

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MAX_DEPTH = 16  # nested HDF5 groups a NIR file may have (a graph of nodes of arrays needs 4)
MAX_OBJECTS = 1_000_000
FLOAT32_STEP = 2.0**-24  # a relative leak below this leaves a float32 membrane unchanged


def is_nir(path) -> bool:
    """Whether `path` names an HDF5 file (a NIR graph, or nothing snnc reads)."""
    try:
        with open(check_regular_file(path, "a model"), "rb") as file:
            return file.read(len(HDF5_MAGIC)) == HDF5_MAGIC
    except (OSError, FileError):
        return False


def import_nir(source, reset: str | None = None, dt: float | None = None, input_shapes: dict | None = None) -> Graph:
    """Read a NIR graph (a path, or a `nir.NIRGraph`) into an SNN graph for snnc.compile.
    `reset`: "subtract" or "zero" (default: the file's metadata, else NIR's reset to v_reset);
    `dt`: the step, for IF's dv/dt = r·I (v += r·dt·I): the file's metadata `dt`, else 1 (snnTorch's
    and SpikingJelly's importers take 1e-4, with r = 1/dt). `input_shapes`: {name: (batch, ...)}
    for an Input node that declares no shape (Sinabs' export leaves it out)."""
    import nir

    graph = source if isinstance(source, nir.NIRGraph) else read_nir(source)
    metadata = getattr(graph, "metadata", None) or {}
    reset = reset or _text(metadata.get("reset")) or "zero"
    if reset not in RESET_MODES:
        raise UnsupportedError(f"NIR metadata reset {reset!r}: snnc resets by one of {', '.join(RESET_MODES)}")
    dt = dt if dt is not None else _number(metadata.get("dt"), 1.0)
    if not (np.isfinite(dt) and dt > 0):
        raise UnsupportedError(f"NIR step dt must be a positive number, got {dt}")
    return _Importer(graph, nir, reset, float(dt), input_shapes or {}).run()


def read_nir(path):
    """`nir.read`, after checking the HDF5 file's structure and declared sizes."""
    import h5py
    import nir

    path = check_regular_file(path, "a NIR file")
    try:
        with h5py.File(path, "r") as file:
            _check_hdf5(file, path)
    except OSError as exc:
        raise FileError(f"{path}: not a readable HDF5 (NIR) file: {exc}") from None
    try:
        return nir.read(path)
    except (KeyError, ValueError, TypeError, AttributeError, AssertionError, OSError) as exc:
        raise InvalidModelError(f"{path}: not a valid NIR graph: {exc}") from None


def _check_hdf5(file, path) -> None:
    import h5py

    limit = size_limit(DATA_LIMIT_ENV)
    declared, objects = 0, 0
    pending = [(file, 0)]
    while pending:
        group, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise InvalidModelError(f"{path}: groups nested deeper than {MAX_DEPTH}")
        for key in group:
            objects += 1
            if objects > MAX_OBJECTS:
                raise InvalidModelError(f"{path}: more than {MAX_OBJECTS:,} objects")
            link = group.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise FileError(f"{path}: {group.name}/{key} is a link ({type(link).__name__}); NIR files have none")
            item = group[key]
            if isinstance(item, h5py.Group):
                pending.append((item, depth + 1))
                continue
            if item.external or item.is_virtual:
                raise FileError(f"{path}: {item.name} keeps its data in other files; NIR files do not")
            if item.dtype.kind not in "biufSO" or (
                item.dtype.kind == "O" and h5py.check_string_dtype(item.dtype) is None
            ):
                raise InvalidModelError(f"{path}: {item.name} holds {item.dtype}, not numbers or text")
            declared += int(np.prod(item.shape, dtype=np.int64)) * max(item.dtype.itemsize, 1)
            if declared > limit:
                raise FileError(f"{path}: its arrays declare more than {format_bytes(limit)} (set {DATA_LIMIT_ENV})")


class _Importer:
    def __init__(self, graph, nir, reset: str, dt: float, input_shapes: dict) -> None:
        self.source, self.nir, self.reset, self.dt, self.input_shapes = graph, nir, reset, dt, input_shapes
        self.handlers = _handlers(nir)
        self.graph = Graph("nir")
        self.values: dict[str, tuple[str, np.ndarray]] = {}  # NIR node → (IR node, unit per channel)
        self.inputs_of = defaultdict(list)
        for src, dst in graph.edges:
            self.inputs_of[dst].append(src)

    def run(self) -> Graph:
        for name in self.order():
            node = self.source.nodes[name]
            handler = self.handlers.get(type(node))
            if handler is None:
                kind = type(node).__name__
                raise UnsupportedError(f"NIR node {name!r} ({kind}): {UNMAPPED.get(kind, 'no snnc equivalent')}")
            self.values[name] = handler(self, name, node)
        if not self.graph.outputs:
            raise InvalidModelError("the NIR graph has no Output node")
        self.graph.verify()
        return self.graph

    def order(self) -> list[str]:
        import graphlib

        predecessors = {name: set(self.inputs_of[name]) for name in self.source.nodes}
        unknown = {src for srcs in predecessors.values() for src in srcs} - set(self.source.nodes)
        if unknown:
            raise InvalidModelError(f"NIR edges name nodes that do not exist: {sorted(unknown)[:5]}")
        try:
            return list(graphlib.TopologicalSorter(predecessors).static_order())
        except graphlib.CycleError as exc:
            raise UnsupportedError(
                f"the NIR graph is recurrent (a cycle through {exc.args[1][:4]}): snnc takes feed-forward networks"
            ) from None

    # -- nodes ------------------------------------------------------------------------------------
    def input(self, name, node):
        declared = (getattr(node, "input_type", None) or {}).get("input")
        if declared is None:
            given = self.input_shapes.get(name) or (next(iter(self.input_shapes.values()), None)
                                                   if len(self.input_shapes) == 1 else None)  # fmt: skip
            if given is None:
                raise InvalidModelError(f"NIR Input {name!r} declares no shape: give input_shapes={{{name!r}: "
                                        "(N, C, H, W)}} (--input-shape NAME=NxCxHxW)")  # fmt: skip
            declared = tuple(given)[1:]
        shape = tuple(int(d) for d in np.asarray(declared).reshape(-1))
        ir = self.graph.add_input(name, TensorType((BATCH, *shape)))
        return ir, np.ones(shape[0] if shape else 1)

    def conv(self, name, node):
        source, unit = self.summed(name, keep=True)
        weight = np.asarray(node.weight, np.float64)
        spatial = weight.ndim - 2
        groups = int(np.asarray(node.groups).reshape(-1)[0])
        out_ch, in_per_group = weight.shape[:2]
        in_index = (np.arange(out_ch)[:, None] // (out_ch // groups)) * in_per_group + np.arange(in_per_group)
        weight = weight / unit[in_index].reshape(out_ch, in_per_group, *(1,) * spatial)
        padding = node.padding
        if isinstance(padding, str):
            raise UnsupportedError(f"NIR node {name!r}: padding {padding!r}: give it as numbers")
        pads = tuple(int(p) for p in _pair(padding, spatial))
        op = nn.Conv(weight=weight.astype(np.float32), bias=np.asarray(node.bias, np.float32).reshape(-1),
                     strides=tuple(int(s) for s in _pair(node.stride, spatial)), pads=pads + pads,
                     dilations=tuple(int(d) for d in _pair(node.dilation, spatial)), groups=groups)  # fmt: skip
        return self.graph.add(op, [source], name), np.ones(out_ch)

    def affine(self, name, node):
        source, unit = self.summed(name, keep=True)
        weight = np.asarray(node.weight, np.float64)
        bias = np.asarray(getattr(node, "bias", np.zeros(weight.shape[0])), np.float32).reshape(-1)
        if len(unit) != weight.shape[1]:
            raise InvalidModelError(f"NIR node {name!r}: weight {weight.shape} on {len(unit)} inputs")
        op = nn.Gemm(weight=(weight / unit[None, :]).astype(np.float32), bias=bias)
        return self.graph.add(op, [source], name), np.ones(weight.shape[0])

    def flatten(self, name, node):
        source, unit = self.summed(name, keep=True)
        shape = self.graph.type(source).sample_shape
        start, end = int(node.start_dim), int(node.end_dim)
        if start != 0 or end not in (-1, len(shape) - 1):
            raise UnsupportedError(f"NIR node {name!r}: Flatten of dims {start}..{end} (snnc flattens a whole sample)")
        flat = int(np.prod(shape))
        return self.graph.add(tensor.Reshape((flat,)), [source], name), np.repeat(unit, flat // len(unit))

    def pool(self, name, node):
        source, unit = self.summed(name, keep=True)
        kernel = tuple(int(k) for k in _pair(node.kernel_size, 2))
        padding = tuple(int(p) for p in _pair(node.padding, 2))
        op = nn.AvgPool(kernel=kernel, strides=tuple(int(s) for s in _pair(node.stride, 2)), pads=padding + padding,
                        count_include_pad=True)  # fmt: skip
        if isinstance(node, self.nir.SumPool2d):  # NIR's sum is k times the IR's average: a unit of 1/k
            unit = unit / float(np.prod(kernel))
        return self.graph.add(op, [source], name), unit

    def neuron(self, name, node):
        gain = self.neuron_gain(name, node)
        threshold = self.per_channel(name, node.v_threshold, "v_threshold")
        if not np.allclose(np.asarray(node.v_reset), 0):
            raise UnsupportedError(f"NIR node {name!r}: v_reset other than 0 (snnc resets to 0 or by θ)")
        source, _ = self.summed(name, gain)
        op = Neuron(model="if", threshold=threshold.reshape(self.channel_shape(source)), reset=self.reset, v_init=0.0)
        return self.graph.add(op, [source], name), threshold.astype(np.float64)

    def output(self, name, node):
        source, _ = self.summed(name)
        shape = self.graph.type(source).sample_shape
        if len(shape) > 1 and all(d == 1 for d in shape[1:]):  # a dense layer written as a whole-map convolution
            source = self.graph.add(tensor.Reshape((shape[0],)), [source], f"{name}/flatten")
        readout = self.graph.add(Readout(), [source], name)
        self.graph.outputs.append(readout)
        return readout, np.ones(1)

    # -- helpers ----------------------------------------------------------------------------------
    def neuron_gain(self, name, node) -> np.ndarray:
        """What one step adds to v per unit of input current, per channel: r·dt for IF; for a LIF
        whose leak is below float32's resolution, r·dt/τ (its discrete form v += dt/τ·(r·I − v))."""
        r = self.per_channel(name, node.r, "r")
        if isinstance(node, self.nir.IF):
            return r * self.dt
        tau = self.per_channel(name, node.tau, "tau")
        if not np.allclose(np.asarray(node.v_leak), 0) or np.any(self.dt / tau >= FLOAT32_STEP):
            raise UnsupportedError(f"NIR node {name!r}: LIF with a leak (dt/τ = {float(np.max(self.dt / tau)):.3g}); "
                                   "snnc's spiking neurons do not leak")  # fmt: skip
        return r * self.dt / tau

    def summed(self, name: str, gain: np.ndarray | None = None, keep: bool = False):
        """The IR value of a NIR node's input, the sum of its inputs, and its unit: `gain` (per
        channel) times the NIR value (the current a neuron adds per step), else the NIR value
        itself; with `keep`, a lone input stays in its own unit (a weighted layer divides it out)."""
        sources = self.inputs_of[name]
        if not sources:
            raise InvalidModelError(f"NIR node {name!r} has no input")
        if keep and len(sources) == 1:
            return self.values[sources[0]]
        channels = len(self.values[sources[0]][1])
        target = np.ones(channels) if gain is None else np.broadcast_to(gain, (channels,)).astype(np.float64)
        parts = [self.rescaled(f"{name}/scale{i}", *self.values[src], target) for i, src in enumerate(sources)]
        if len(parts) == 1:
            return parts[0], target
        return self.graph.add(tensor.Add(), parts, f"{name}/sum"), target

    def rescaled(self, name: str, source: str, unit: np.ndarray, target: np.ndarray) -> str:
        """`source` (IR = unit · NIR) as target · NIR: itself, or through a diagonal 1×1 convolution."""
        if np.array_equal(unit, target):
            return source
        scale = (target / unit).astype(np.float32)
        shape = self.graph.type(source).sample_shape
        diagonal = np.diag(np.broadcast_to(scale, (shape[0],)))
        if len(shape) == 1:
            op = nn.Gemm(weight=diagonal, bias=np.zeros(shape[0], np.float32))
        else:
            op = nn.Conv(weight=diagonal.reshape(shape[0], shape[0], *(1,) * (len(shape) - 1)),
                         bias=np.zeros(shape[0], np.float32))  # fmt: skip
        return self.graph.add(op, [source], name)

    def per_channel(self, name: str, values, what: str) -> np.ndarray:
        """A neuron parameter (one per neuron) as one value per channel; it must not vary within one."""
        array = np.asarray(values, np.float64)
        flat = array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(-1, 1)
        if not np.all(flat == flat[:, :1]):
            raise UnsupportedError(f"NIR node {name!r}: {what} varies within a channel (snnc keeps one per channel)")
        if what != "v_threshold" or np.all(flat[:, 0] > 0):
            return flat[:, 0].copy()
        raise InvalidModelError(f"NIR node {name!r}: thresholds must be positive")

    def channel_shape(self, source: str) -> tuple[int, ...]:
        shape = self.graph.type(source).sample_shape
        return (shape[0],) + (1,) * (len(shape) - 1)


def _pair(value, count: int) -> tuple:
    flat = np.asarray(value).reshape(-1)
    return tuple(flat) if len(flat) == count else (flat[0],) * count


def _text(value) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf8", "replace")
    return value if isinstance(value, str) else None


def _number(value, default: float) -> float:
    try:
        return float(np.asarray(value).reshape(-1)[0]) if value is not None else default
    except (TypeError, ValueError, IndexError):
        raise InvalidModelError(f"NIR metadata dt {value!r} is not a number") from None


def _handlers(nir) -> dict:
    return {
        nir.Input: _Importer.input,
        nir.Output: _Importer.output,
        nir.Conv1d: _Importer.conv,
        nir.Conv2d: _Importer.conv,
        nir.Affine: _Importer.affine,
        nir.Linear: _Importer.affine,
        nir.Flatten: _Importer.flatten,
        nir.AvgPool2d: _Importer.pool,
        nir.SumPool2d: _Importer.pool,
        nir.IF: _Importer.neuron,
        nir.LIF: _Importer.neuron,
    }


UNMAPPED = {
    "NIRGraph": "a nested graph (flatten it before export)",
    "CubaLIF": "a synaptic current (CubaLIF): snnc's neurons integrate their input directly",
    "CubaLI": "a synaptic current (CubaLI)",
    "LI": "a leaky integrator: snnc's readout integrates without a leak",
    "I": "a lone integrator: snnc reads its outputs through Output",
    "Delay": "delays",
    "Threshold": "a stateless threshold",
    "Scale": "a scale node (fold it into the next layer)",
}
