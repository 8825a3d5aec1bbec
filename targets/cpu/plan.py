"""Lowering an SNN graph to a flat list of kernels over fixed buffers (the cpu target's plan).

Memory layout: one sample at a time; every value has a buffer in the float workspace, in
channel-last order for tensors with spatial axes ((C, H, W) is stored as (H, W, C)), so that a
synapse kernel's innermost loop runs over contiguous output channels. Everything that is not an
array of the same shape as a value — weights, thresholds, constants, index maps — lives in the
`params` (float) and `index` (int32) buffers, passed at run time: the generated code depends on
the graph's structure and shapes only, so recalibrating or changing T reuses the object code.

Phases (the reference simulator's static/train split): `static` kernels run once per sample on
values computed from the input alone; `init` kernels reset state; for rate coding, `step`
kernels run T times; `final` kernels produce the outputs. iLIF needs no time loop: each neuron
layer emits its T bits in one pass and the value they encode flows on (see the simulator's
docstring), with a bit mask (bit per step) carried alongside so that synaptic operations are
counted per spike, as the reference counts them.

Index maps are built by running the reference kernels on arrays of indices, so a window,
reshape or pad here is by construction the one the reference computes.
"""

from __future__ import annotations

import numpy as np
from snnc.runtime.ann import KERNELS
from snnc.runtime.snn import fan_out as snn_fan_out
from snnc.targets.cpu import winograd
from snnc.targets.cpu.geometry import conv_geometry, pixel_rows, scaled_along_input_channels, window_map
from snnc.targets.cpu.layout import (
    ALIGNED_SPACES,
    Region,
    internal_order,
    storage_position,
    to_internal,
)
from snnc.targets.cpu.planning import Plan, PlanBuilder
from snnc.targets.cpu.reuse import share_step_local_values
from snnc.targets.cpu.synapses import gather_weights

from snnc import models
from snnc.errors import ConversionError, UnsupportedError
from snnc.ir import ops_nn as nn
from snnc.ir import ops_snn as snn
from snnc.ir import ops_tensor as t
from snnc.ir.graph import Graph
from snnc.models.msat import confidence_mask
from snnc.timing import stage

WEIGHTED_OPS = (nn.Conv, nn.Gemm)
WINOGRAD_SCRATCH = ("winograd-v", "winograd-m")  # placeholder spaces (plan.place_winograd_scratch)
NARROW_COUNT_LIMIT = 2**31  # a kernel's SOP count below this sums in int32 lanes (8 to a vector, not 4)
LAYER_THRESHOLD_ONCE = True  # tests set False: MSAT reads a per-layer θ_max per neuron, to compare with


class _Builder(PlanBuilder):
    def __init__(self, graph: Graph) -> None:
        super().__init__({"params": np.float32, "index": np.int32}, aligned=ALIGNED_SPACES)
        self.graph = graph
        names = {n.op.model for n in graph.nodes() if isinstance(n.op, snn.Neuron)}
        if len(names) > 1:
            raise UnsupportedError(f"one neuron model per network, found {sorted(names)}")
        self.model = names.pop() if names else "if"
        self.bit_plane = models.model(self.model).coding.bit_plane
        self.max_steps = models.model(self.model).max_steps or 1
        self.values: dict[str, Region] = {}
        self.masks: dict[str, Region] = {}
        self.train: dict[str, bool] = {}
        self.neurons: dict[str, int] = {}
        self.value_records: set[str] = set()
        self.static_macs: dict[str, int] = {}
        self.classes = 0
        self.exit_flag: Region | None = None
        self.fused_adds: dict[str, tuple[Region, ...]] = {}  # add → its sources, summed by the neuron after it
        self.event_lists: dict[str, dict[str, Region]] = {}  # IF or MSAT layer → the spike lists its kernel makes
        # IF layer → θ per channel, what each of its spikes is worth (MSAT's spikes are s·θ_t)
        self.spike_thetas: dict[str, np.ndarray] = {}

    def param(self, array) -> Region:
        return self.constant("params", array)

    def indices(self, array) -> Region:
        return self.constant("index", array)

    # -- helpers ------------------------------------------------------------------------------
    def shape(self, name: str) -> tuple[int, ...]:
        return self.graph.type(name).sample_shape

    def size(self, name: str) -> int:
        return int(np.prod(self.shape(name), dtype=np.int64))

    def phase(self, node) -> str:
        return "step" if self.train[node.name] and not self.bit_plane else "static"

    def full_internal(self, array: np.ndarray, name: str) -> np.ndarray:
        """A constant broadcast to the value's sample shape, in the internal layout."""
        full = np.broadcast_to(np.asarray(array, np.float32), self.shape(name))
        return to_internal(full, self.shape(name))[0]

    def gather_map(self, source: str, target: str, index_nchw: np.ndarray) -> np.ndarray:
        """Rows in the target's internal order; entries are the source's internal positions (−1: none)."""
        rows = index_nchw.reshape(self.size(target), -1)[internal_order(self.shape(target))]
        position = storage_position(self.shape(source))
        return np.where(rows >= 0, position[np.maximum(rows, 0)], -1)

    # -- the walk -----------------------------------------------------------------------------
    def build(self) -> Plan:
        for name in self.graph.inputs:
            self.values[name] = self.alloc("input", self.size(name))
            self.train[name] = False
        outputs = set(self.graph.outputs)
        for node in self.graph.nodes():
            if node.name in self.values:
                continue
            self.train[node.name] = self.is_train(node)
            space = "output" if node.name in outputs else "ws"
            self.values[node.name] = self.alloc(space, self.size(node.name))
            if self.bit_plane and self.train[node.name]:
                self.masks[node.name] = self.alloc("iws", self.size(node.name))
            self.lower(node)
        self.place_winograd_scratch()
        return Plan(
            "float", self.model, self.kernels, self.constant_buffers(), self.sizes, self.counters, self.neurons,
            self.classes, self.exit_flag, None, [(n, self.values[n]) for n in self.graph.inputs],
            [(n, self.values[n]) for n in self.graph.outputs], self.static_macs,
            value_records=frozenset(self.value_records),
        )  # fmt: skip

    def is_train(self, node) -> bool:
        """The reference simulator's rule for which values change from step to step."""
        if isinstance(node.op, snn.Neuron):
            return True
        if isinstance(node.op, snn.Readout):
            return False
        if self.bit_plane and type(node.op) is nn.MaxPool:
            return False  # iLIF pools the decoded potential: a plain value
        return any(self.train[i] for i in node.inputs)

    def lower(self, node) -> None:
        op = node.op
        for cls, method in LOWERINGS:
            if isinstance(op, cls):
                method(self, node)
                return
        raise UnsupportedError(
            f"node {node.name!r}: op {op.name} has no cpu kernel; the cpu target runs spiking networks "
            "(convolutions, dense layers, pooling, reshapes, residual adds and concats, neurons)"
        )

    # -- lowerings ----------------------------------------------------------------------------
    def weighted(self, node) -> None:
        op, source = node.op, node.inputs[0]
        in_shape, out_shape = self.shape(source), self.shape(node.name)
        mode = "none"
        if self.train[source]:
            mode = "mask" if self.bit_plane else "spikes"
        elif not self.train[node.name]:
            self.static_macs[node.name] = op.macs([self.graph.type(source)], self.graph.type(node.name))
        if isinstance(op, nn.Gemm):
            if len(in_shape) != 1:
                raise UnsupportedError(f"node {node.name!r}: gemm on a rank-{len(in_shape) + 1} input")
            weight = op.weight.T  # (C, O): both kernel forms' layout for a 1×1 convolution
            geometry = dict(IH=1, IW=1, C=in_shape[0], OH=1, OW=1, O=out_shape[0], KH=1, KW=1,
                            SH=1, SW=1, DH=1, DW=1, PT=0, PL=0, PB=0, PR=0, G=1)  # fmt: skip
        else:
            if len(op.kernel) > 2:
                raise UnsupportedError(f"node {node.name!r}: {len(op.kernel)}-D convolution")
            geometry, weight = conv_geometry(op, in_shape, out_shape, scatter=mode == "spikes")
        counting = {}
        if mode != "none":
            fan_out = to_internal(snn_fan_out(op, in_shape), in_shape)[0]
            bound = int(fan_out.max(initial=0)) * self.size(source) * (self.max_steps if mode == "mask" else 1)
            counting = dict(fan_out=self.indices(fan_out), narrow=bound < NARROW_COUNT_LIMIT,
                            counter=self.counter("sops", node.name))  # fmt: skip
        scratch = {}
        if mode == "spikes":  # a convolution's fan-out is the same for every channel of a pixel
            per_pixel = fan_out.reshape(-1, geometry["C"])
            assert (per_pixel == per_pixel[:, :1]).all(), f"{node.name}: fan-out differs between channels"
            counting["fan_out"] = self.indices(per_pixel[:, 0])
            lists = self.event_lists.get(source)
            if lists is None:
                scratch = dict(events=self.alloc("iws", geometry["C"]), **counting)
            else:
                scratch = dict(listed=True, **lists, **counting)
            theta = self.spike_thetas.get(source) if geometry["G"] == 1 else None
            if theta is not None:  # the weights carry each spike's θ_c; an event adds its weights
                weight = scaled_along_input_channels(weight, theta)
                scratch["scaled"] = True
        if mode != "spikes" and isinstance(op, nn.Conv) and winograd.suits(geometry):
            self.winograd(node, geometry, weight)
        else:
            self.direct(node, geometry, weight, mode, scratch)
        if mode == "mask":  # the event-driven form counts its own
            self.emit("count-events", self.phase(node), node.name, src=self.masks[source], n=self.size(source),
                      **counting)  # fmt: skip
        self.fill_mask(node, dense=True)

    def direct(self, node, g: dict, weight: np.ndarray, mode: str, scratch: dict) -> None:
        """A weighted layer's kernel: event-driven on spikes; else the dense forms, which read
        a zero-padded copy of the input, the gather form its weights per channel tile."""
        src = self.values[node.inputs[0]]
        if mode != "spikes":
            if not g.get("depthwise"):
                weight = gathered(weight, g)
            src = self.zero_padded(node, node.inputs[0], g)
        arrays = dict(src=src, dst=self.values[node.name], weight=self.param(weight), bias=self.param(node.op.bias))
        self.emit("weighted", self.phase(node), node.name, mode=mode, **arrays, **scratch, **g)

    def winograd(self, node, g: dict, weight: np.ndarray) -> None:
        """A 3×3 stride-1 convolution's dense form as Winograd F(2×2, 3×3) (winograd.py): the
        padded input (with a zero row and column more where the output's size is odd), its
        tiles transformed, 16 products over the channels (a grouped 1×1 convolution, in the
        shared scratch) and the output transform, which adds the bias."""
        rows, columns = winograd.tiles(g)
        padded = dict(g, PB=g["PB"] + 2 * rows - g["OH"], PR=g["PR"] + 2 * columns - g["OW"])
        src = self.zero_padded(node, node.inputs[0], padded)
        phase, count = self.phase(node), rows * columns * winograd.POSITIONS
        transformed, products = Region("winograd-v", 0, count * g["C"]), Region("winograd-m", 0, count * g["O"])
        self.emit("winograd-input", phase, node.name, src=src, dst=transformed, TH=rows, TW=columns, C=g["C"],
                  PW=g["IW"] + padded["PL"] + padded["PR"])  # fmt: skip
        products_geometry = dict(IH=rows, IW=columns, C=winograd.POSITIONS * g["C"], OH=rows, OW=columns,
                                 O=winograd.POSITIONS * g["O"], KH=1, KW=1, SH=1, SW=1, DH=1, DW=1,
                                 PT=0, PL=0, PB=0, PR=0, G=winograd.POSITIONS)  # fmt: skip
        self.emit("weighted", phase, node.name, src=transformed, dst=products, mode="none",
                  weight=self.param(gathered(winograd.transformed_weights(weight), products_geometry)),
                  bias=self.param(np.zeros(winograd.POSITIONS * g["O"])), **products_geometry)  # fmt: skip
        self.emit("winograd-output", phase, node.name, src=products, dst=self.values[node.name],
                  bias=self.param(node.op.bias), TH=rows, TW=columns, OH=g["OH"], OW=g["OW"], O=g["O"])  # fmt: skip

    def place_winograd_scratch(self) -> None:
        """Every Winograd layer's transformed tiles and products go in the same two workspace
        regions, as large as the largest layer asks (each layer writes them before it reads
        them): the kernels were emitted with placeholders in WINOGRAD_SCRATCH spaces."""
        placeholders = [(kernel, key, value) for kernel in self.kernels for key, value in kernel.args.items()
                        if isinstance(value, Region) and value.space in WINOGRAD_SCRATCH]  # fmt: skip
        sizes = {space: max((v.size for _, _, v in placeholders if v.space == space), default=0)
                 for space in WINOGRAD_SCRATCH}  # fmt: skip
        regions = {space: self.alloc("ws", size) for space, size in sizes.items() if size}
        for kernel, key, value in placeholders:
            kernel.args[key] = regions[value.space]

    def zero_padded(self, node, source: str, g: dict) -> Region:
        """A copy of the input inside a zero border (written once: the workspace starts zeroed);
        the input itself where g has no border."""
        if not (g["PT"] or g["PL"] or g["PB"] or g["PR"]):
            return self.values[source]
        height, width = g["IH"] + g["PT"] + g["PB"], g["IW"] + g["PL"] + g["PR"]
        padded = self.alloc("ws", height * width * g["C"])
        shape = {key: g[key] for key in ("IH", "IW", "C", "PT", "PL", "PR")}
        self.emit("pad", self.phase(node), node.name, src=self.values[source], dst=padded, **shape)
        return padded

    def window(self, node) -> None:
        op, source = node.op, node.inputs[0]
        if type(op) in (nn.MaxPool, snn.GatedMaxPool) and self.train[source] and not self.bit_plane:
            raise ConversionError(f"max-pool {node.name!r} on spikes: run lower-pooling for rate coding")
        index, coef, reduce = window_map(op, self.shape(source))
        rows = self.gather_map(source, node.name, index)
        args = dict(src=self.values[source], dst=self.values[node.name], reduce=reduce)
        pixels = pixel_rows(rows, self.shape(source))
        if pixels is not None:
            rows, args["channels"] = pixels, self.shape(source)[0]
        args.update(map=self.indices(rows), n=rows.shape[0], K=rows.shape[1])
        if coef is not None:
            args["coef"] = self.param(coef.ravel()[internal_order(self.shape(node.name))])
        self.emit("window", self.phase(node), node.name, **args)
        if node.name in self.masks:
            shared = {key: args[key] for key in ("map", "n", "K", "channels") if key in args}
            self.emit("window", "static", node.name, src=self.masks[source], dst=self.masks[node.name],
                      reduce="or", **shared)  # fmt: skip

    def gated_max_pool(self, node) -> None:
        source = node.inputs[0]
        if not self.train[source]:
            return self.window(node)
        if self.bit_plane:
            raise UnsupportedError(f"node {node.name!r}: gated max pooling is for rate coding, not iLIF")
        index, _, _ = window_map(node.op, self.shape(source))
        rows = self.gather_map(source, node.name, index)
        sums = self.alloc("ws", self.size(source))  # what each input has sent so far
        self.emit("fill", "init", node.name, dst=sums, value=0.0)
        args = dict(src=self.values[source], dst=self.values[node.name], sums=sums, n_in=self.size(source))
        pixels = pixel_rows(rows, self.shape(source))
        if pixels is not None:
            rows, args["channels"] = pixels, self.shape(source)[0]
            args["fused_count"] = bool((rows >= 0).all()) and len(np.unique(rows)) == rows.size
        self.emit("gate", "step", node.name, map=self.indices(rows), n=rows.shape[0], K=rows.shape[1], **args)

    def add(self, node) -> None:
        if any(self.shape(i) != self.shape(node.name) for i in node.inputs):
            raise UnsupportedError(f"node {node.name!r}: add with broadcasting between values")
        sources = [self.values[i] for i in node.inputs]
        if self.feeds_only_a_neuron(node):  # the neuron adds them as it reads them
            self.fused_adds[node.name] = tuple(sources)
            return
        self.emit("add", self.phase(node), node.name, srcs=tuple(sources), dst=self.values[node.name],
                  n=self.size(node.name))  # fmt: skip
        if node.name in self.masks:
            masks = tuple(self.masks[i] for i in node.inputs if i in self.masks)
            self.emit("or", "static", node.name, srcs=masks, dst=self.masks[node.name], n=self.size(node.name))

    def feeds_only_a_neuron(self, node) -> bool:
        """A step-phase add whose one user is an IF or MSAT neuron (residual blocks end so)."""
        users = self.graph.users(node.name)
        if self.phase(node) != "step" or node.name in self.graph.outputs or len(users) != 1:
            return False
        return isinstance(self.graph.op(users[0][0]), snn.Neuron)

    def affine(self, node) -> None:
        op, source = node.op, node.inputs[0]
        channel_shape = (-1,) + (1,) * (len(self.shape(source)) - 1)
        if isinstance(op, t.MulConst):
            scale, shift = op.value, np.zeros(1, np.float32)
        elif isinstance(op, t.AddConst):
            scale, shift = np.ones(1, np.float32), op.value
        else:
            scale, shift = (v.reshape(channel_shape) for v in op.folded())
        self.emit("affine", self.phase(node), node.name, src=self.values[source], dst=self.values[node.name],
                  scale=self.param(self.full_internal(scale, node.name)),
                  shift=self.param(self.full_internal(shift, node.name)), n=self.size(node.name))  # fmt: skip
        if node.name in self.masks:
            if isinstance(op, t.MulConst):
                self.emit("or", "static", node.name, srcs=(self.masks[source],), dst=self.masks[node.name],
                          n=self.size(node.name))  # fmt: skip
            else:
                self.fill_mask(node, dense=True)

    def concat(self, node) -> None:
        """Each input scatters into its slots of the output (found by concatenating indices)."""
        offset = 1
        parts = []
        for source in node.inputs:
            parts.append(np.arange(self.size(source)).reshape(1, *self.shape(source)) + offset)
            offset += self.size(source)
        virtual = KERNELS[t.Concat](node.op, *parts)[0].ravel()[internal_order(self.shape(node.name))] - 1
        if node.name in self.masks and any(s not in self.masks for s in node.inputs):
            self.fill_mask(node, dense=False)
        start = 0
        for source in node.inputs:
            size = self.size(source)
            (targets,) = np.nonzero((virtual >= start) & (virtual < start + size))
            position = storage_position(self.shape(source))
            order = np.argsort(position[virtual[targets] - start])  # targets in the source's storage order
            destination = self.indices(targets[order])
            self.emit("scatter", self.phase(node), node.name, src=self.values[source], dst=self.values[node.name],
                      map=destination, n=size)  # fmt: skip
            if node.name in self.masks and source in self.masks:
                self.emit("scatter", "static", node.name, src=self.masks[source], dst=self.masks[node.name],
                          map=destination, n=size)  # fmt: skip
            start += size

    def neuron(self, node) -> None:
        op, source = node.op, node.inputs[0]
        size = self.size(node.name)
        theta = self.param(self.full_internal(op.threshold, node.name))
        self.neurons[node.name] = size
        counter = self.counter("spikes", node.name)
        common = dict(src=self.values[source], dst=self.values[node.name], theta=theta, n=size, counter=counter,
                      layer=len(self.neurons) - 1)  # fmt: skip
        if self.bit_plane:
            self.emit(op.model, "static", node.name, mask=self.masks[node.name], v_init=op.v_init, **common)
            return
        membrane = self.alloc("ws", size)
        self.emit("scaled-fill", "init", node.name, dst=membrane, src=theta, value=op.v_init, n=size)
        if source in self.fused_adds:
            del common["src"]
            common["addends"] = self.fused_adds[source]
        if isinstance(op, snn.MsatNeuron):
            return self.msat_neuron(node, membrane, common)
        per_channel = self.channel_thresholds(node)
        if per_channel is not None:
            common.update(channel_theta=self.param(per_channel), channels=per_channel.size)
            self.spike_thetas[node.name] = per_channel
        if per_channel is not None and self.feeds_event_driven_synapses(node):
            common.update(self.spike_lists(node.name, per_channel.size))
        self.emit(op.model, "step", node.name, membrane=membrane, reset=op.reset, **common)

    def spike_lists(self, name: str, channels: int) -> dict[str, Region]:
        """Where a neuron kernel lists each pixel's spikes for the event-driven synapses after
        it: events (a slot per neuron) and event_counts (one per pixel of `channels`)."""
        size = self.size(name)
        lists = dict(events=self.alloc("iws", size), event_counts=self.alloc("iws", size // channels))
        self.event_lists[name] = lists
        return lists

    def channel_count(self, name: str) -> int:
        """The channels of a value in the channels-last layout (all of it for a vector)."""
        shape = self.shape(name)
        return shape[0] if len(shape) >= 2 else self.size(name)

    def feeds_event_driven_synapses(self, node) -> bool:
        """Whether a convolution or dense layer reads this neuron layer's spikes directly."""
        return any(isinstance(self.graph.op(user), WEIGHTED_OPS) for user, _ in self.graph.users(node.name))

    def channel_thresholds(self, node) -> np.ndarray | None:
        """θ per channel (internal layout: channels last) when the layer's thresholds repeat
        from pixel to pixel, as per-layer and per-channel ones do; else None."""
        full = self.full_internal(node.op.threshold, node.name).reshape(-1, self.channel_count(node.name))
        return full[0] if (full == full[0]).all() else None

    def msat_neuron(self, node, membrane: Region, common: dict) -> None:
        """MSAT keeps, besides V (after the reset, V_prev for the next step), the running sum of
        the post-reset V (for the mean)."""
        op, size = node.op, common["n"]
        total = self.alloc("ws", size)
        self.emit("fill", "init", node.name, dst=total, value=0.0)
        masked = op.confidence < 1 and op.confidence_steps > 0
        extra = {}
        if masked:
            mask = confidence_mask(op, self.shape(node.name))
            extra["mask"] = self.param(np.stack([self.full_internal(m, node.name) for m in mask]))
        if self.feeds_event_driven_synapses(node):
            channels = self.channel_count(node.name)
            extra.update(self.spike_lists(node.name, channels), channels=channels)
        per_channel = self.channel_thresholds(node)
        if LAYER_THRESHOLD_ONCE and per_channel is not None and (per_channel == per_channel[0]).all():
            del common["theta"]  # per-layer θ_max, read once per call: one stream less per neuron and step
            extra["layer_theta"] = self.param(per_channel[:1])
        hyper = {key: getattr(op, key) for key in snn.MSAT_DYNAMICS}
        self.value_records.add(node.name)  # its records are what it sends, s·θ_t (float32)
        self.emit(op.model, "step", node.name, membrane=membrane, total=total, record_bytes=4,
                  mask_steps=op.confidence_steps if masked else 0, **hyper, **extra, **common)  # fmt: skip

    def readout(self, node) -> None:
        source = node.inputs[0]
        size = self.size(node.name)
        first = node.name == self.graph.outputs[0]
        if self.train[source] and not self.bit_plane:
            acc = self.alloc("ws", size)
            weights = {} if node.op.step_weights is None else {"weights": self.param(node.op.step_weights)}
            self.emit("fill", "init", node.name, dst=acc, value=0.0)
            self.emit("accumulate", "step", node.name, src=self.values[source], dst=acc, n=size, **weights)
            if first:
                self.classes = size
                self.emit("trace", "step", node.name, src=acc, n=size)
                if node.op.exit_metric is not None:
                    self.exit_flag = self.alloc("iws", 1)
                    self.emit("exit-check", "step", node.name, src=acc, flag=self.exit_flag, n=size,
                              metric=node.op.exit_metric, threshold=self.param([node.op.exit_threshold]))  # fmt: skip
            self.emit("mean", "final", node.name, src=acc, dst=self.values[node.name], n=size)
        else:
            self.emit("add", "final", node.name, srcs=(self.values[source],), dst=self.values[node.name], n=size)

    def fill_mask(self, node, dense: bool) -> None:
        if node.name in self.masks:
            self.emit("fill", "static", node.name, dst=self.masks[node.name], value="full" if dense else 0)


LOWERINGS = [
    (snn.Neuron, _Builder.neuron),
    (snn.Readout, _Builder.readout),
    (snn.GatedMaxPool, _Builder.gated_max_pool),
    (WEIGHTED_OPS, _Builder.weighted),
    ((nn.AvgPool, nn.MaxPool, nn.GlobalAvgPool, t.Reshape, t.Transpose, t.Identity, t.Pad), _Builder.window),
    (t.Add, _Builder.add),
    ((t.AddConst, t.MulConst, nn.BatchNorm), _Builder.affine),
    (t.Concat, _Builder.concat),
]


def gathered(weight: np.ndarray, g: dict) -> np.ndarray:
    """A weight in the gather form's layout (synapses.gather_weights), from (G, KH, KW, Cg, Og)
    or, for a dense layer, (C, O)."""
    shaped = weight.reshape(g["G"], g["KH"], g["KW"], g["C"] // g["G"], g["O"] // g["G"])
    return gather_weights(shaped, g["OH"] * g["OW"])


def build_plan(graph: Graph) -> Plan:
    with stage("plan"):
        plan = _Builder(graph).build()
        plan.kernels, plan.sizes["ws"] = share_step_local_values(plan.kernels)
    return plan
