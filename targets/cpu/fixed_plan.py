"""Lowering a quantized network (a QNet, snnc/ir/qnet.py) to integer kernels: the cpu
target's fixed-point mode, bit-exact with the fixed-point reference (runtime/fixed.py) and so
with the accelerator's simulator.

Every value is an int64 in the workspace, in the float plan's channel-last layout (plan.py's
`internal_order`); weights stay int8. A layer's synapses accumulate its current (scatter form:
each non-zero input adds its weight rows, so silent inputs cost a compare), then its neurons
update. Rate coding (IF, MSAT) runs time-major, a step of every layer at a time, so that an
adaptive exit stops the work; iLIF needs no time loop for its hidden layers: by linearity the
Horner sum Σ_t 2^(T−1−t)·W·s_t is W applied to the T-bit code of the spikes, so each layer is
one pass on its inputs' codes, and only the readout sees the bits one at a time (its per-bit
currents are what an early exit reads).

Per sample the kernels write (T, C) per-step counters (spikes per layer, synaptic operations
per synapse) and the readout's (T + 1, K) integer currents: per step, then the input's static
current. The float estimates, exits and totals are computed from these in numpy by the
reference's own functions, so the native code's only float work is a conservative exit check
that stops the time loop (targets/cpu/runner.py).
"""

from __future__ import annotations

import numpy as np
from snnc.runtime.fixed import fan_out_of, synapse_key
from snnc.targets.cpu import vnni
from snnc.targets.cpu.layout import Region, internal_order, to_internal
from snnc.targets.cpu.llvm import host_features
from snnc.targets.cpu.planning import Plan, PlanBuilder, check_steps

from snnc import models
from snnc.errors import UnsupportedError
from snnc.ir.qnet import QLayer, QNet, QSynapse
from snnc.models import fixed_msat
from snnc.models.base import channel_shape

VNNI = True  # tests set False: every synapse in the scatter form, to compare with


class _Builder(PlanBuilder):
    def __init__(self, qnet: QNet) -> None:
        check_steps(qnet.model, qnet.timesteps, UnsupportedError)
        super().__init__({"params": np.int64, "weights": np.int8, "fparams": np.float64})
        self.qnet = qnet
        self.T = qnet.timesteps
        self.bit_plane = models.model(qnet.model).coding.bit_plane
        self.events: dict[str, Region] = {}  # what a layer sends: spikes, MSAT payloads, iLIF codes
        self.spike_counts: dict[str, Region] = {}  # its spike counts, where they differ from events
        self.neurons = {layer.name: layer.neurons for layer in qnet.layers if layer.kind == "neuron"}
        self.exit_flag: Region | None = None

    # -- the walk -------------------------------------------------------------------------------
    def build(self) -> Plan:
        qnet = self.qnet
        self.events[qnet.input_name] = self.alloc("input", int(np.prod(qnet.input_shape)))
        for name in self.neurons:
            self.counter("spikes", name)
        for layer in qnet.layers:
            if layer.kind == "readout":
                self.readout(layer)
            elif self.bit_plane:
                self.bit_plane_layer(layer)
            else:
                self.rate_layer(layer)
        shapes = {layer.name: layer.shape for layer in qnet.layers if layer.kind == "neuron"}
        return Plan("fixed", qnet.model, self.kernels, self.constant_buffers(), self.sizes, self.counters, self.neurons,
                    qnet.readout.neurons, self.exit_flag, self.T, shapes=shapes)  # fmt: skip

    def per_channel(self, values: np.ndarray, shape: tuple) -> Region:
        """A per-channel constant broadcast to every position, in the internal layout."""
        full = np.broadcast_to(np.asarray(values).reshape(channel_shape(shape)), shape)
        return self.constant("params", to_internal(full, shape)[0])

    # -- synapses -------------------------------------------------------------------------------
    def synapses(self, layer: QLayer, dst: Region, phase: str, static: bool, shift: int = 0,
                 source_of=None) -> None:  # fmt: skip
        """dst += Σ W·events over the layer's synapses from the input (static) or from neurons;
        `source_of(synapse)`: the events region to read (default: the source's)."""
        for index, synapse in enumerate(layer.synapses):
            if (synapse.source == self.qnet.input_name) != static:
                continue
            src = (source_of or (lambda s: self.events[s.source]))(synapse)
            pooled = self.pool(layer, synapse, src, phase)
            if phase == "static" and self.on_vnni(synapse, static, shift):
                self.vnni_synapse(layer, synapse, src, dst)
            else:
                self.emit("synapse", phase, layer.name, src=pooled, dst=dst, shift=shift, **self.weights(synapse))
            if not static:
                self.count_sops(layer, index, synapse, src, pooled, phase)

    def on_vnni(self, synapse: QSynapse, static: bool, shift: int) -> bool:
        """Whether a synapse runs as vnni.synapse: a hidden iLIF layer's conv or dense synapse
        (the readout's take the bits step by step) on T ≤ 8-bit codes, unpooled, whose sums
        int32 holds exactly, on a CPU with VNNI."""
        fan_in = synapse.weight[0].size
        fits = synapse.kind in ("conv", "dense") and synapse.pool is None and fan_in <= vnni.INT32_PRODUCTS
        fits = fits and synapse.groups == 1
        hidden = self.bit_plane and not static and shift == 0 and self.T <= 8
        return VNNI and fits and hidden and vnni.available(host_features())

    def vnni_synapse(self, layer: QLayer, synapse: QSynapse, src: Region, dst: Region) -> None:
        """Pack the source's codes into bytes inside a zero border, then the VNNI product."""
        shape = self.weights(synapse)
        del shape["form"], shape["weight"], shape["G"]
        if synapse.kind == "dense":
            columns = synapse.weight[:, internal_order(synapse.pooled_shape)]  # the source's internal order
            weight = columns.reshape(*columns.shape, 1, 1)
        else:
            weight = synapse.weight
        cp = -(-shape["C"] // 4) * 4
        width = max(shape["PL"] + shape["IW"], (shape["OW"] - 1) * shape["SW"] + (shape["KW"] - 1) * shape["DW"] + 1)
        height = max(shape["PT"] + shape["IH"], (shape["OH"] - 1) * shape["SH"] + (shape["KH"] - 1) * shape["DH"] + 1)
        packed = self.alloc("ws", -(-height * width * cp // 8))  # bytes, in int64 slots
        geometry = dict(Cp=cp, Wp=width, Op=-(-shape["O"] // vnni.LANES) * vnni.LANES)
        self.emit("pack-codes", "static", layer.name, src=src, dst=packed, IH=shape["IH"], IW=shape["IW"],
                  C=shape["C"], PT=shape["PT"], PL=shape["PL"], Wp=width, Cp=cp)  # fmt: skip
        self.emit("vnni-synapse", "static", layer.name, src=packed, dst=dst,
                  weight=self.constant("weights", vnni.weight_layout(weight)), **shape, **geometry)  # fmt: skip

    def pool(self, layer: QLayer, synapse: QSynapse, src: Region, phase: str) -> Region:
        if synapse.pool is None:
            return src
        channels, height, width = synapse.source_shape
        pooled = self.alloc("ws", int(np.prod(synapse.pooled_shape)))
        geometry = dict(C=channels, IH=height, IW=width, OH=synapse.pooled_shape[1], OW=synapse.pooled_shape[2],
                        KH=synapse.pool_kernel[0], KW=synapse.pool_kernel[1], SH=synapse.pool_strides[0],
                        SW=synapse.pool_strides[1], **pads_of(synapse.pool_pads))  # fmt: skip
        if synapse.pool == "avg":
            self.emit("sum-pool", phase, layer.name, src=src, dst=pooled, **geometry)
            return pooled
        if self.bit_plane:
            raise UnsupportedError(f"layer {layer.name!r}: gated max pooling is for rate coding, not iLIF")
        sums = self.alloc("ws", src.size)
        self.emit("fill", "init", layer.name, dst=sums, value=0)
        self.emit("gate", phase, layer.name, src=src, dst=pooled, sums=sums, **geometry)
        return pooled

    def weights(self, synapse: QSynapse) -> dict:
        """The weight (int8, rows per input element in the internal layout) and loop bounds."""
        pooled = synapse.pooled_shape
        if synapse.kind == "identity":
            return dict(form="identity", weight=self.constant("weights", synapse.weight), n=int(np.prod(pooled)),
                        C=pooled[0])  # fmt: skip
        if synapse.kind == "dense":
            columns = synapse.weight[:, internal_order(pooled)]  # (O, N) in the source's internal order
            return dict(form="conv", weight=self.constant("weights", columns.T), IH=1, IW=1, C=columns.shape[1],
                        OH=1, OW=1, O=columns.shape[0], KH=1, KW=1, SH=1, SW=1, DH=1, DW=1, PT=0, PL=0,
                        G=1)  # fmt: skip
        out_channels, per_group_in, kh, kw = synapse.weight.shape
        groups = synapse.groups
        # (G, C/G, kh, kw, O/G): an input channel's rows, each over its group's output channels
        rows = synapse.weight.reshape(groups, out_channels // groups, per_group_in, kh, kw).transpose(0, 2, 3, 4, 1)
        _, height, width = pooled
        (pt, pl), (pb, pr) = synapse.pads[:2], synapse.pads[2:]
        sh, sw = synapse.strides
        dh, dw = synapse.dilations
        oh = (height + pt + pb - dh * (kh - 1) - 1) // sh + 1
        ow = (width + pl + pr - dw * (kw - 1) - 1) // sw + 1
        return dict(form="conv", weight=self.constant("weights", rows), IH=height, IW=width, C=pooled[0], OH=oh,
                    OW=ow, O=out_channels, KH=kh, KW=kw, SH=sh, SW=sw, DH=dh, DW=dw, PT=pt, PL=pl,
                    G=groups)  # fmt: skip

    def count_sops(self, layer: QLayer, index: int, synapse: QSynapse, src: Region, pooled: Region, phase: str):
        """Synaptic operations per step: Σ spike counts × fan-out (the reference's definition).
        A sum pool is linear, so its counts are taken before it with the fan-out pooled back;
        a running max (the gate) sends one spike per non-zero pooled event (runtime/fixed.py pool_events)."""
        slot = self.counter("sops", synapse_key(layer, index))
        fan_out = fan_out_of(synapse)
        events = synapse.pool == "gate"
        if events:
            counts, shape = pooled, synapse.pooled_shape
        else:
            counts = self.spike_counts.get(synapse.source, src)
            fan_out, shape = pooled_back(synapse, fan_out), synapse.source_shape
        fan_out = self.constant("params", to_internal(fan_out, shape)[0])
        if self.bit_plane and phase == "static":  # the source's codes: its bits, step by step
            self.emit("count-bits", "static", layer.name, src=counts, fan_out=fan_out, counter=slot, n=counts.size)
        else:
            self.emit("count", phase, layer.name, src=counts, fan_out=fan_out, counter=slot, n=counts.size,
                      events=events)  # fmt: skip

    # -- layers ---------------------------------------------------------------------------------
    def rate_layer(self, layer: QLayer) -> None:
        size, shape = layer.neurons, layer.shape
        static = self.static_current(layer)
        current = self.alloc("ws", size)
        self.emit("fill", "step", layer.name, dst=current, value=0)
        self.synapses(layer, current, "step", static=False)
        membrane = self.alloc("ws", size)
        self.emit("copy", "init", layer.name, src=self.per_channel(layer.v0, shape), dst=membrane, n=size)
        events = self.events[layer.name] = self.alloc("ws", size)
        theta, bias = self.per_channel(layer.threshold, shape), self.per_channel(layer.bias, shape)
        args = dict(current=current, membrane=membrane, events=events, theta=theta, bias=bias, n=size,
                    counter=self.counters.index(("spikes", layer.name)),
                    layer=list(self.neurons).index(layer.name))  # fmt: skip
        if static is not None:
            args["static"] = static
        if layer.msat is None:
            self.emit(self.qnet.model, "step", layer.name, reset=layer.reset, **args)
            return
        self.msat_layer(layer, args)

    def msat_layer(self, layer: QLayer, args: dict) -> None:
        p, size, shape = layer.msat, layer.neurons, layer.shape
        counts = self.spike_counts[layer.name] = self.alloc("ws", size)
        total = self.alloc("ws", size)  # V_prev is the membrane before the step's input
        self.emit("fill", "init", layer.name, dst=total, value=0)
        mask = fixed_msat.drop_mask(p, shape)
        if mask is not None:
            args["mask"] = self.constant("weights", np.stack([to_internal(m, shape)[0] for m in mask]))
        tables = {name: self.constant("params", fixed_msat.table(name)) for name in ("softplus", "exp", "sigmoid")}
        constants = {key: int(p[key]) for key in ("alpha", "k_a", "inv_k_i", "inv_c", "tau_mp", "tau_rd", "burst")}
        self.emit(self.qnet.model, "step", layer.name, spike_counts=counts, total=total,
                  reciprocal=self.per_channel(fixed_msat.reciprocal(layer.threshold, 24), shape),
                  use_dtt=bool(p["use_dtt"]), use_det=bool(p["use_det"]),
                  mask_steps=p["confidence_steps"] if mask is not None else 0,
                  **tables, **constants, **args)  # fmt: skip

    def static_current(self, layer: QLayer) -> Region | None:
        """The current from the network input (the same every step), computed once per sample."""
        if not any(s.source == self.qnet.input_name for s in layer.synapses):
            return None
        static = self.alloc("ws", int(np.prod(layer.pre_shape)))
        self.emit("fill", "static", layer.name, dst=static, value=0)
        self.synapses(layer, static, "static", static=True)
        return static

    def bit_plane_layer(self, layer: QLayer) -> None:
        """P = W·codes + 2^T·W_in·x → max pool → + 2^T·B + v0 → T bits, most significant first."""
        shape = layer.shape
        potential = self.alloc("ws", int(np.prod(layer.pre_shape)))
        self.emit("fill", "static", layer.name, dst=potential, value=0)
        self.synapses(layer, potential, "static", static=True, shift=self.T)
        self.synapses(layer, potential, "static", static=False)
        if layer.pool_kernel:
            channels, height, width = layer.pre_shape
            pooled = self.alloc("ws", layer.neurons)
            self.emit("max-pool", "static", layer.name, src=potential, dst=pooled, C=channels, IH=height, IW=width,
                      OH=shape[1], OW=shape[2], KH=layer.pool_kernel[0], KW=layer.pool_kernel[1],
                      SH=layer.pool_strides[0], SW=layer.pool_strides[1],
                      **pads_of(layer.pool_pads))  # fmt: skip
            potential = pooled
        offset = (layer.bias << self.T) + layer.v0
        self.events[layer.name] = self.alloc("ws", layer.neurons)
        self.emit(self.qnet.model, "static", layer.name, src=potential, events=self.events[layer.name],
                  offset=self.per_channel(offset, shape), theta=self.per_channel(layer.threshold, shape),
                  n=layer.neurons, counter=self.counters.index(("spikes", layer.name)),
                  layer=list(self.neurons).index(layer.name))  # fmt: skip

    def readout(self, layer: QLayer) -> None:
        """Rows 0..T−1 of the readout buffer: the per-step currents W·events_t (iLIF: per bit);
        row T: the static current from the input. Both without the bias (added in numpy)."""
        classes = layer.neurons
        static = self.static_current(layer)
        self.emit("store-row", "static", layer.name, src=static, row="T", n=classes)
        current = self.alloc("ws", classes)
        self.emit("fill", "step", layer.name, dst=current, value=0)
        if self.bit_plane:
            planes = {}
            for synapse in layer.synapses:
                if synapse.source != self.qnet.input_name and synapse.source not in planes:
                    planes[synapse.source] = self.alloc("ws", self.events[synapse.source].size)
                    self.emit("bit-plane", "step", layer.name, src=self.events[synapse.source],
                              dst=planes[synapse.source], n=planes[synapse.source].size)  # fmt: skip
            self.synapses(layer, current, "step", static=False, source_of=lambda s: planes[s.source])
        else:
            self.synapses(layer, current, "step", static=False)
        self.emit("store-row", "step", layer.name, src=current, row="step", n=classes)
        if self.bit_plane or self.qnet.exit_metric is None:
            return
        self.exit_flag = self.alloc("ws", 1)
        sums = self.alloc("ws", classes)
        self.emit("fill", "init", layer.name, dst=sums, value=0)
        weights = self.qnet.step_weights
        self.emit("exit-check", "step", layer.name, current=current, static=static, flag=self.exit_flag,
                  bias=self.constant("params", layer.bias), scale=self.constant("fparams", layer.scale),
                  weights=None if weights is None else self.constant("fparams", weights),
                  sums=sums, n=classes, metric=self.qnet.exit_metric,
                  threshold=self.constant("fparams", [native_threshold(self.qnet.exit_threshold)]))  # fmt: skip


def native_threshold(threshold: float) -> float:
    """The exit check's threshold in native code: a margin above the calibrated one, far wider
    than the float64 check's distance from the float32 definition, so the native loop never
    stops a sample before that definition would (it may run a step or two longer)."""
    if threshold >= 1:
        return 2.0  # never
    return threshold + min(1e-3, (1 - threshold) / 4)


def pads_of(pads: tuple) -> dict:
    """A pool's pads as the kernels' PT, PL, PB, PR."""
    return dict(zip(("PT", "PL", "PB", "PR"), pads))


def pooled_back(synapse: QSynapse, fan_out: np.ndarray) -> np.ndarray:
    """Per source position, the fan-out of the pooled positions its sum pool feeds."""
    if synapse.pool is None:
        return fan_out
    back = np.zeros(synapse.source_shape, dtype=np.int64)
    (kh, kw), (sh, sw) = synapse.pool_kernel, synapse.pool_strides
    _, oh, ow = fan_out.shape
    for ky in range(kh):
        for kx in range(kw):
            back[:, ky : ky + sh * oh : sh, kx : kx + sw * ow : sw] += fan_out
    return back


def build_fixed_plan(qnet: QNet) -> Plan:
    return _Builder(qnet).build()
