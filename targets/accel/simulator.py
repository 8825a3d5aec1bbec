"""The accelerator simulator: executes a program's instruction streams (docs/isa.md) core by core.

Functionally it is bit-exact with the fixed-point reference (runtime/fixed.py), which the tests
check image for image. It takes nothing from the QNet: weights come out of each core's weight
SRAM image, filled by LDW from the WGTS section, parameters out of PARM by LDP, and every
computation is an instruction of the core's program, in its slot window.

Cores run in the program's (topological) order, each through all its slots: the network is
feed-forward, so a core's slot s needs only its producers' slots ≤ s, which have run. Spike
packets land in per-layer buffers indexed by step, which is also how a delayed shortcut is
served. Cycles and energy are counted per core, slot and sample (the cost model of
docs/accel.md), and cut at each sample's exit.
"""

from __future__ import annotations

import math
import time

import numpy as np
from snnc.runtime import adaptive
from snnc.runtime.fixed import (
    fan_out_of,
    max_pool_int,
    pool_events,
    quantize_input,
    reach,
    synapse_current,
)
from snnc.runtime.snn import SimResult
from snnc.targets.accel.binary import AccelProgram
from snnc.targets.accel.config import ChipConfig, config_from_stored
from snnc.targets.accel.costs import geometry, machine_costs

from snnc import models
from snnc.errors import FileError
from snnc.ir.qnet import QSynapse
from snnc.models import fixed_msat
from snnc.resources import require_memory


def program_config(program: AccelProgram, config: ChipConfig | None) -> ChipConfig:
    """The chip a program runs on: the one it was built for; a different `config` is an error."""
    built_for = config_from_stored(program.meta["chip"])
    if built_for.hash() != program.config_hash:
        raise FileError(
            "the program's chip configuration does not match its header hash: corrupted, or written by another "
            "snnc version"
        )
    if config is not None and config.hash() != program.config_hash:
        raise FileError(f"the program was built for chip configuration {program.config_hash.hex()}, not for the "
                        f"given one ({config.hash().hex()}): compile it again with that --config")  # fmt: skip
    return built_for


def simulate_in_batches(run, x: np.ndarray, batch: int, on_batch=None) -> SimResult:
    """`run(chunk)` over consecutive chunks of x, merged into one result (`on_batch(images)` after each):
    the packet buffers and whole-layer trains grow with T × batch."""
    result = SimResult([], np.zeros(0, np.int64))
    for start in range(0, len(x), batch):
        result = result.merge(run(x[start : start + batch]))
        if on_batch is not None:
            on_batch(min(batch, len(x) - start))
    return result


def simulate_accel(program: AccelProgram, x: np.ndarray, config: ChipConfig | None = None,
                   trace: bool = False) -> SimResult:  # fmt: skip
    """Run the program on a batch of float inputs (quantized by the chip's input scale); the
    cycles and energy come back in result.hardware."""
    chip = program_config(program, config)
    require_memory(simulation_bytes(program, len(x)), f"simulating {len(x)} image(s) at once", " (lower --batch)")
    started = time.perf_counter()
    result = _Machine(program, chip, len(x)).run(x, trace)
    result.hardware.seconds = time.perf_counter() - started
    return result


def simulation_bytes(program: AccelProgram, batch: int) -> int:
    """An upper estimate of the simulator's arrays for a batch: every layer's packets and spike
    counts over T steps, every synapse's pooled events, every core's registers."""
    meta = program.meta
    steps, wide = meta["timesteps"], 8 if models.model(meta["model"]).threshold_unit else 1
    layers = meta["layers"]
    total = sum(2 * steps * batch * math.prod(layer["shape"]) * wide for layer in layers)
    total += sum(2 * 8 * steps * batch * math.prod(s["source_shape"]) for layer in layers for s in layer["synapses"])
    for core in meta["cores"]:
        pre = layers[core["layer"]]["pre_shape"]
        total += 5 * 8 * batch * (core["rows"][1] - core["rows"][0]) * math.prod(pre[1:])  # V, I, S (MSAT: L, Σ)
    return total


class _Machine:
    def __init__(self, program: AccelProgram, chip: ChipConfig, batch: int) -> None:
        self.program = program
        self.meta = program.meta
        self.chip = chip
        self.T = self.meta["timesteps"]
        self.S = self.meta["slots"]
        self.B = batch
        self.coding = models.model(self.meta["model"]).coding
        self.ilif = self.coding.bit_plane
        self.packets: dict[str, np.ndarray] = {}  # layer → (T, B, C, ...) event values by step
        self.spike_counts: dict[str, np.ndarray] = {}  # layer → (T, B, C, ...) spikes (MSAT bursts: > 1)
        self.pooled: dict[tuple[int, int], tuple] = {}  # (layer, synapse) → pooled (values, counts)
        self.geometries: dict[tuple[int, int], QSynapse] = {}  # (layer, synapse) → its geometry (costs.geometry)
        self.readout_values: list[np.ndarray] = []  # READ rate/bits per step: (B, K) pieces
        self.offset = None
        self.exits = np.full(batch, self.T - 1, dtype=np.int64)
        self.step_spikes: dict[str, np.ndarray] = {}
        self.step_sops: dict[str, np.ndarray] = {}
        self.cycles = np.zeros((len(self.meta["cores"]), self.S, batch), dtype=np.int64)
        self.ops = {
            k: np.zeros((self.S, batch))
            for k in ("sops", "code_macs", "macs", "neuron_ops", "adapt_ops", "hops", "packets")
        }
        self.msat = models.model(self.meta["model"]).threshold_unit
        self.macs: dict[str, int] = {}

    # -- the run ----------------------------------------------------------------------------------
    def run(self, x: np.ndarray, trace: bool) -> SimResult:
        self.x = quantize_input(x, self.meta["input"]["shape"], self.meta["input"]["scale"])
        for index, core in enumerate(self.meta["cores"]):
            _Core(self, index, core).run(self.program.code[index])
        return self.finish(trace)

    def record_exit(self, step: int) -> None:
        """EXIT: the controller's confidence check on the readout's estimates after `step`."""
        estimates = self.estimates(step + 1)
        metric = self.meta["exit"]["metric"]
        confidence = adaptive.confidence(estimates[:, : step + 1], metric)[:, step]
        confident = confidence >= np.float32(self.meta["exit"]["threshold"])
        undecided = self.exits == self.T - 1
        self.exits = np.where(undecided & confident & (step < self.T - 1), step, self.exits)

    def estimates(self, steps: int) -> np.ndarray:
        """(B, T, K) readout estimates from the values READ so far (rows < steps are final)."""
        layer = self.meta["layers"][-1]
        scale = np.asarray(layer["scale"], dtype=np.float32)
        received = np.stack(self.readout_values[:steps])  # steps not yet read count as zero
        currents = np.concatenate([received, np.zeros((self.T - steps, *received.shape[1:]), received.dtype)])
        currents = currents.astype(np.float32) * scale
        if self.ilif:
            return adaptive.ilif_estimates(currents, self.offset.astype(np.float32) * scale, self.T)
        weights = self.meta["exit"]["step_weights"]
        return adaptive.rate_estimates(currents, None if weights is None else np.asarray(weights, np.float32))

    def finish(self, trace: bool) -> SimResult:
        estimates = self.estimates(self.T)
        depth = self.meta["layers"][-1]["depth"]
        exit_slot = self.coding.window_start(depth, self.T) + self.exits
        steps = self.exits + 1 + self.coding.readout_offset(depth, self.T)
        result = SimResult([estimates[np.arange(self.B), self.exits]], steps)
        result.samples = self.B
        result.trace = estimates if trace else None
        result.macs = self.macs
        self.cut_counts(result)
        alive = np.arange(self.S)[:, None] <= exit_slot[None, :]  # (S, B)
        result.hardware = machine_costs(self, alive)
        return result

    def cut_counts(self, result: SimResult) -> None:
        """Spike and SOP counts up to each sample's exit step, as the fixed-point reference reports them."""
        readout = self.meta["layers"][-1]
        window = {f"{readout['name']}#{k}" for k in range(len(readout["synapses"]))}
        window |= {s["source"] for s in readout["synapses"]}
        keep = np.arange(self.T)[:, None] <= self.exits[None, :]
        for table, per_step in ((result.spikes, self.step_spikes), (result.sops, self.step_sops)):
            for name, counts in per_step.items():
                cut = not self.ilif or name in window
                table[name] = int((counts * keep).sum() if cut else counts.sum())
        for layer in self.meta["layers"]:
            if layer["kind"] == "neuron":
                result.neurons[layer["name"]] = int(np.prod(layer["shape"]))


class _Core:
    """One core: its SRAM images, its registers (V, I, S) and its instruction interpreter."""

    def __init__(self, machine: _Machine, index: int, core: dict) -> None:
        self.m = machine
        self.index = index
        self.core = core
        self.layer = machine.meta["layers"][core["layer"]]
        self.m0, self.m1 = core["rows"]
        self.rows = self.m1 - self.m0
        used = max((d["sram"] + d["bytes"] for d in core["descriptors"]), default=0)
        self.weight_sram = np.zeros(used, dtype=np.int8)  # the bytes its descriptors use (verified to fit the SRAM)
        pre, out = tuple(self.layer["pre_shape"]), tuple(self.layer["shape"])
        self.band = None if core.get("band") is None else tuple(core["band"])  # rows [y0, y1) of the map
        spatial = pre[1:] if self.band is None else (self.band[1] - self.band[0], *pre[2:])
        self.shape = (machine.B, self.rows, *spatial)
        # the rows of the output map its spikes fill (a band's pool windows tile it: mapper.band_rows)
        self.out_rows = () if self.band is None else (slice(*(y * out[1] // pre[1] for y in self.band)),)
        self.V = np.zeros(self.shape, dtype=np.int64)
        self.I = np.zeros(self.shape, dtype=np.int64)
        self.S = np.zeros(self.shape, dtype=np.int64)
        self.spikes = self.payload = None
        self.L = self.total = self.theta_t = self.fraction = self.mask = None
        self.lanes = machine.chip.lanes
        self.fan_outs: dict[int, tuple] = {}  # synapse → (SOPs, cycles) per event position (event_costs)
        self.synapses: dict[int, tuple] = {}  # descriptor → (geometry, this core's weights from SRAM)

    def run(self, code) -> None:
        body = [i for i in code if i.count and i.op not in ("SYNC", "NOP")]
        for instruction in code:
            if instruction.count == 0:
                self.execute(instruction, 0)
        slots = sorted({s for i in body for s in range(i.first, min(i.first + i.count, self.m.S))})
        for slot in slots:
            for instruction in body:
                if instruction.active(slot):
                    self.execute(instruction, slot)

    def charge(self, slot: int, cycles) -> None:
        self.m.cycles[self.index, slot] += cycles

    def neuron_op(self, slot: int, count: int | None = None) -> None:
        count = self.V[0].size if count is None else count
        self.m.ops["neuron_ops"][slot] += count
        self.charge(slot, math.ceil(count / self.lanes))

    def channel(self, values) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)[self.m0 : self.m1].reshape((1, -1) + (1,) * (len(self.shape) - 2))

    def execute(self, instruction, slot: int) -> None:
        getattr(self, f"op_{instruction.op.lower()}")(instruction, slot)

    # -- load-time --------------------------------------------------------------------------------
    def op_ldw(self, instruction, slot) -> None:
        d = self.core["descriptors"][instruction.operand("syn")]
        if d["sram"] + d["bytes"] > self.m.chip.weight_bytes:
            raise FileError(f"core {self.core['id']}: LDW past the end of weight SRAM")
        self.weight_sram[d["sram"] : d["sram"] + d["bytes"]] = self.m.program.weights[
            d["offset"] : d["offset"] + d["bytes"]
        ]

    def op_ldp(self, instruction, slot) -> None:
        start, channels = self.layer["params"], self.layer["pre_shape"][0]
        block = self.m.program.params[start : start + 3 * channels]
        self.theta, self.bias, self.v0 = (self.channel(block[i * channels : (i + 1) * channels]) for i in range(3))

    def op_halt(self, instruction, slot) -> None:
        pass

    def op_nop(self, instruction, slot) -> None:
        pass

    # -- per sample -------------------------------------------------------------------------------
    def synapse(self, k: int) -> tuple[QSynapse, np.ndarray]:
        """Descriptor k's geometry (the whole synapse's) and this core's rows of its weights, read
        from weight SRAM (once: LDW ran at load)."""
        if k not in self.synapses:
            d = self.core["descriptors"][k]
            shape = self.layer["synapses"][d["synapse"]]["weight_shape"]
            data = self.weight_sram[d["sram"] : d["sram"] + d["bytes"]]
            self.synapses[k] = self.geometry_of(d["synapse"]), data.reshape(self.rows, *shape[1:])
        return self.synapses[k]

    def geometry_of(self, index: int) -> QSynapse:
        """This layer's synapse `index`, its geometry (shared by the layer's cores)."""
        key = (self.core["layer"], index)
        if key not in self.m.geometries:
            self.m.geometries[key] = geometry(self.layer["synapses"][index])
        return self.m.geometries[key]

    def op_init(self, instruction, slot) -> None:
        rate_neuron = self.layer["kind"] == "neuron" and not self.m.ilif
        self.V[...] = self.v0 if rate_neuron else 0
        self.I[...] = 0
        self.S[...] = 0
        if self.layer.get("msat") is not None:
            self.L, self.total = np.zeros_like(self.V), np.zeros_like(self.V)
            mask = fixed_msat.drop_mask(self.layer["msat"], tuple(self.layer["shape"]))
            self.mask = None if mask is None else mask[:, None, self.m0 : self.m1]
        self.neuron_op(slot)

    def op_mac(self, instruction, slot) -> None:
        k = instruction.operand("syn")
        synapse, weight = self.synapse(k)
        self.S += self.crop(synapse_current(synapse, self.m.x, slice(self.m0, self.m1), weight))
        macs = int(fan_out_of(synapse, slice(self.m0, self.m1), self.band).sum())
        self.m.macs[f"{self.layer['name']}#{k}"] = self.m.macs.get(f"{self.layer['name']}#{k}", 0) + macs * self.m.B
        self.m.ops["macs"][slot] += macs
        self.charge(slot, math.ceil(macs / self.lanes))

    def events(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(T, B, *pooled) event values and spike counts of synapse k, from the packet buffers
        through the pool stage."""
        key = (self.core["layer"], k)
        if key not in self.m.pooled:
            name = self.layer["synapses"][k]["source"]
            self.m.pooled[key] = pool_events(self.geometry_of(k), self.m.packets[name], self.m.spike_counts[name])
        return self.m.pooled[key]

    def op_acc(self, instruction, slot) -> None:
        k = instruction.operand("syn")
        synapse, weight = self.synapse(k)
        values, counts = self.events(k)
        fan_out, per_event = self.event_costs(k, synapse)
        by_code = instruction.operand("form") == "code"
        if by_code:  # the window's T steps at once (slot: its last)
            steps = range(self.m.T)
            codes = sum(values[t].astype(np.int64) << (self.m.T - 1 - t) for t in steps)
            self.I += self.crop(synapse_current(synapse, codes, slice(self.m0, self.m1), weight))
            present = (counts != 0).any(axis=0).reshape(self.m.B, -1).astype(np.float64)  # non-zero codes
            self.m.ops["code_macs"][slot] += np.rint(present @ fan_out).astype(np.int64)
            self.charge(slot, np.rint(present @ per_event).astype(np.int64))
        else:
            steps = [slot - instruction.first]
            self.I += self.crop(synapse_current(synapse, values[steps[0]], slice(self.m0, self.m1), weight))
        key = f"{self.layer['name']}#{k}"
        table = self.m.step_sops.setdefault(key, np.zeros((self.m.T, self.m.B), dtype=np.int64))
        for step in steps:  # SOPs as the SNN defines them: events × fan-out, step by step
            flat = counts[step].reshape(self.m.B, -1).astype(np.float64)
            sops = np.rint(flat @ fan_out).astype(np.int64)
            table[step] += sops
            if not by_code:
                self.m.ops["sops"][slot] += sops
                self.charge(slot, np.rint(flat @ per_event).astype(np.int64))

    def event_costs(self, k: int, synapse: QSynapse) -> tuple[np.ndarray, np.ndarray]:
        """Per pooled input position: the SOPs one event triggers in this slice, and its cycles
        (each kernel position it reaches takes ⌈rows it feeds / lanes⌉; an identity event, one)."""
        if k not in self.fan_outs:
            per_channel, spatial = reach(synapse, slice(self.m0, self.m1), self.band)
            shape = (-1,) + (1,) * spatial.ndim
            fan_out = (per_channel.reshape(shape) * spatial).reshape(-1)
            cycles = (-(-per_channel // self.lanes)).reshape(shape) * spatial
            self.fan_outs[k] = (fan_out, cycles.reshape(-1))
        return self.fan_outs[k]

    def crop(self, current: np.ndarray) -> np.ndarray:
        """A current over the whole map, cut to this core's band of rows."""
        return current if self.band is None else current[:, :, self.band[0] : self.band[1]]

    def op_integ(self, instruction, slot) -> None:
        if instruction.operand("mode") == "horner":
            self.V = (self.V << 1) + self.I
        elif instruction.operand("mode") == "code":
            self.V += self.I
        else:
            self.V += self.I + self.S + self.bias
        self.I[...] = 0
        self.neuron_op(slot)

    def op_pool(self, instruction, slot) -> None:
        self.neuron_op(slot)
        self.V = max_pool_int(self.V, self.layer["pool_kernel"], self.layer["pool_strides"], self.layer["pool_pads"])

    def op_adds(self, instruction, slot) -> None:
        self.V = self.V + (self.S << self.m.T)
        self.neuron_op(slot)

    def op_bias(self, instruction, slot) -> None:
        self.V = self.V + (self.bias << self.m.T) + self.v0
        self.neuron_op(slot)

    def op_fire(self, instruction, slot) -> None:
        fired = self.V >= self.theta
        if instruction.operand("reset") == "subtract":
            self.V -= fired * self.theta
        else:
            self.V[fired] = 0
        self.spikes = fired
        self.neuron_op(slot, 2 * self.V[0].size)  # compare, then subtract

    def op_emit(self, instruction, slot) -> None:
        high = self.theta << self.m.T
        self.V <<= 1
        fired = self.V >= high
        self.V -= fired * high
        self.spikes = fired
        self.neuron_op(slot, 3 * self.V[0].size)  # shift, compare, subtract

    def op_adapt(self, instruction, slot) -> None:
        step = slot - instruction.first
        current = self.I + self.S + self.bias
        self.theta_t, self.fraction = fixed_msat.adapted_threshold(
            self.layer["msat"], self.theta, self.L, self.total, current, step
        )
        self.m.ops["adapt_ops"][slot] += self.V[0].size
        self.charge(slot, 4 * math.ceil(self.V[0].size / self.lanes))  # a 4-stage multiply-and-table unit

    def op_mfire(self, instruction, slot) -> None:
        step = slot - instruction.first
        p = self.layer["msat"]
        fired = fixed_msat.fire(self.V, self.theta_t, p["burst"])
        self.V = self.V - fired * self.theta_t
        if self.mask is not None and step < p["confidence_steps"]:
            fired = fired * self.mask[step]
        self.L, self.total = self.V, self.total + self.V
        self.spikes, self.payload = fired, fired * self.fraction
        self.neuron_op(slot, 2 * self.V[0].size)

    def op_send(self, instruction, slot) -> None:
        step = slot - instruction.first
        name = self.layer["name"]
        if name not in self.m.packets:
            shape = (self.m.T, self.m.B, *self.layer["shape"])
            self.m.packets[name] = np.zeros(shape, dtype=np.int64 if self.m.msat else np.uint8)
            self.m.spike_counts[name] = np.zeros(shape, dtype=np.int64 if self.m.msat else np.uint8)
        place = (step, slice(None), slice(self.m0, self.m1), *self.out_rows)
        self.m.packets[name][place] = self.spikes if self.payload is None else self.payload
        self.m.spike_counts[name][place] = self.spikes
        count = self.spikes.reshape(self.m.B, -1).sum(axis=1)
        spikes = self.m.step_spikes.setdefault(name, np.zeros((self.m.T, self.m.B), dtype=np.int64))
        spikes[step] += count
        consumers = self.core["consumers"]
        self.m.ops["packets"][slot] += count * len(consumers)
        self.m.ops["hops"][slot] += count * sum(self.m.chip.hops(self.core["id"], d) for d in consumers)
        self.charge(slot, count * len(consumers))

    def op_read(self, instruction, slot) -> None:
        mode = instruction.operand("mode")
        if mode == "offset":
            self.m.offset = self.piece(self.m.offset, (self.S + self.bias) << self.m.T)
            return
        step = slot - instruction.first
        value = self.I + self.S + self.bias if mode == "rate" else self.I.copy()
        if len(self.m.readout_values) <= step:
            self.m.readout_values.append(None)
        self.m.readout_values[step] = self.piece(self.m.readout_values[step], value)
        self.I[...] = 0
        self.neuron_op(slot)

    def piece(self, whole, part: np.ndarray) -> np.ndarray:
        """Write this core's rows of a readout value into the full (B, K) vector."""
        if whole is None:
            whole = np.zeros((self.m.B, self.layer["shape"][0]), dtype=np.int64)
        whole[:, self.m0 : self.m1] = part.reshape(self.m.B, self.rows)
        return whole

    def op_exit(self, instruction, slot) -> None:
        self.m.record_exit(slot - instruction.first)
        self.charge(slot, self.m.chip.exit_cycles)
