"""The accelerator's cost model, applied to a simulation (docs/accel.md, "Costs"): cycles per
sample (pipelined, sequential, streaming interval), energy by kind from the operation counts and
the chip's energy table, SRAM traffic, and the same network as an ANN on the same chip. The
functions take the simulator's machine (`self`): its counts per core, slot and sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from snnc.runtime.fixed import fan_out_of
from snnc.targets.accel import segments
from snnc.targets.accel.mapper import share_of

from snnc.ir.qnet import QSynapse


@dataclass
class AccelResult:
    """The hardware side of a simulation (SimResult.hardware): per sample, cycles and energy."""

    cycles: np.ndarray  # latency, pipelined (the program's barrier-per-slot schedule)
    cycles_sequential: np.ndarray  # latency if layers did not overlap
    interval: np.ndarray  # cycles between images streaming through the pipeline
    energy: dict[str, np.ndarray]  # pJ per sample, by kind
    ann_energy: dict[str, float]  # pJ per sample of the same network as an ANN on MAC lanes
    sram_bytes: dict[str, np.ndarray]  # per sample: weight reads, state reads, state writes
    packets: np.ndarray
    clock_mhz: float
    cores: int
    seconds: float = 0.0
    sops_simulated: int = 0
    extra: dict = field(default_factory=dict)

    def merge(self, other: AccelResult) -> AccelResult:
        """Results of consecutive batches as one (per-sample arrays joined, totals added)."""
        join = np.concatenate
        return AccelResult(
            join([self.cycles, other.cycles]), join([self.cycles_sequential, other.cycles_sequential]),
            join([self.interval, other.interval]), {k: join([v, other.energy[k]]) for k, v in self.energy.items()},
            self.ann_energy, {k: join([v, other.sram_bytes[k]]) for k, v in self.sram_bytes.items()},
            join([self.packets, other.packets]), self.clock_mhz, self.cores, self.seconds + other.seconds,
            self.sops_simulated + other.sops_simulated, self.extra,
        )  # fmt: skip

    def summary(self) -> dict:
        """Means per image (and p95 latency) for reports and benchmarks."""
        snn = float(sum(v.mean() for v in self.energy.values()))
        ann = float(sum(self.ann_energy.values()))
        us = 1.0 / self.clock_mhz
        return {
            "images": len(self.cycles),
            "cores": self.cores,
            "cycles": float(self.cycles.mean()),
            "cycles_p95": float(np.percentile(self.cycles, 95)),
            "latency_us": float(self.cycles.mean()) * us,
            "cycles_unpipelined": float(self.cycles_sequential.mean()),
            "images_per_s_streaming": self.clock_mhz * 1e6 / float(self.interval.mean()),
            "energy_uj": snn * 1e-6,
            "energy_breakdown_uj": {k: float(v.mean()) * 1e-6 for k, v in self.energy.items()},
            "ann_energy_uj": ann * 1e-6,
            "ann_breakdown_uj": {k: v * 1e-6 for k, v in self.ann_energy.items()},
            "snn_ann_energy_ratio": snn / ann if ann else float("nan"),
            "sram_bytes": {k: float(v.mean()) for k, v in self.sram_bytes.items()},
            "packets": float(self.packets.mean()),
            "sim_sops_per_s": self.sops_simulated / self.seconds if self.seconds else float("nan"),
            "off_chip": self.extra.get("off_chip"),  # segments and DRAM bytes per image (segments.py)
        }


def off_chip(self, activation_bits: int | None = None) -> dict:
    """Per image: the DRAM bytes of a program in segments (segments.py), and the cycles they take;
    with `activation_bits`, for the ANN on the same placement (one activation per neuron)."""
    meta, chip = self.meta, self.chip
    layers = meta["layers"]
    count = max(c["segment"] for c in meta["cores"]) + 1
    weights = [0] * count  # per segment
    for core in meta["cores"]:
        weights[core["segment"]] += core["weight_bytes"]
    placed = [(c["layer"], c["segment"], share_of(layers[c["layer"]]["pre_shape"], c["rows"], c["band"]))
              for c in meta["cores"]]  # fmt: skip
    parts = segments.shares(len(layers), placed)
    sizes = [segments.event_bytes(int(np.prod(layer["shape"])), self.T, meta["model"]) if activation_bits is None
             else math.ceil(int(np.prod(layer["shape"])) * activation_bits / 8) for layer in layers]  # fmt: skip
    readers = segments.readers([layer["name"] for layer in layers],
                               [[s["source"] for s in layer["synapses"]] for layer in layers])  # fmt: skip
    moved = segments.traffic(readers, sizes, parts, weights, chip)
    seconds = moved["dram_bytes"] / (chip.dram_gbs * 1e9) + moved["link_bytes"] / (chip.link_gbs * 1e9)
    if chip.chips > 1:  # each step down the chain of chips pays the link's fixed latency once
        seconds += (moved["chips"] - 1) * chip.link_latency_ns * 1e-9
    moved["cycles"] = seconds * chip.clock_mhz * 1e6
    return moved


def machine_costs(self, alive: np.ndarray) -> AccelResult:
    """Cycles and energy per sample. A program in segments runs them one after another, each
    pipelined across its own layers' cores, with the transfers between them (off_chip); images
    stream through segments on chips of their own, or share the chips' time."""
    chip, e = self.chip, self.chip.energy
    per_slot = self.cycles * alive[None]  # (cores, S, B)
    slot_overhead = chip.barrier_cycles + diameter(self) * chip.hop_cycles
    segment_of_core = np.array([c["segment"] for c in self.meta["cores"]])
    layer_of = np.array([c["layer"] for c in self.meta["cores"]])
    dram = off_chip(self)
    cycles = dram["cycles"] + np.zeros(per_slot.shape[2])
    intervals = []
    physical = 0
    for segment in range(dram["segments"]):
        mine = segment_of_core == segment
        busiest = per_slot[mine].max(axis=0)  # (S, B)
        active = alive if dram["segments"] == 1 else alive & (busiest > 0)
        cycles = cycles + busiest.sum(axis=0) + slot_overhead * active.sum(axis=0)
        by_layer = np.stack([per_slot[mine & (layer_of == i)].max(axis=0) for i in np.unique(layer_of[mine])])
        intervals.append(by_layer.sum(axis=1).max(axis=0) + slot_overhead * self.T)
        physical = max(physical, int(mine.sum()))
    # images stream through the chain of chips: the busiest chip paces them (segment s runs on
    # chip s mod chips, its segments in turn), or the transfers, shared by the chips in use
    per_chip = [np.sum(intervals[c :: chip.chips], axis=0) for c in range(dram["chips"])]
    interval = np.max(per_chip, axis=0) + dram["cycles"] / dram["chips"]
    by_layer = np.stack([per_slot[layer_of == i].max(axis=0) for i in np.unique(layer_of)])  # (L, S, B)
    sequential = by_layer.sum(axis=(0, 1)) + slot_overhead * (by_layer > 0).sum(axis=(0, 1)) + dram["cycles"]
    ops = {k: (v * alive).sum(axis=0) for k, v in self.ops.items()}
    bits = chip.state_bits
    w8, s8 = chip.access_pj(chip.weight_sram_kib, 8), chip.access_pj(chip.state_sram_kib, 8)
    sw = chip.access_pj(chip.state_sram_kib, bits)
    cores_used = physical * dram["chips"]
    payload = 2 * e.pj_mul8 if self.msat else 0.0  # MSAT events carry s·g: an 8 × 9-bit multiply per SOP
    lut = chip.access_pj(1, 16)  # a threshold-unit table read
    energy = {
        "synaptic_adds": ops["sops"] * (e.pj_add32 + payload),
        # iLIF's hidden layers: a multiply-add per non-zero T-bit code, reading the code and the
        # weight as the ANN reads its input and weight, accumulating in lane registers
        "code_macs": ops["code_macs"] * (e.pj_mul8 + e.pj_add32),
        "threshold_units": ops["adapt_ops"] * (4 * e.pj_mul32 + 3 * lut + 4 * e.pj_add32 + 4 * sw),
        "macs": ops["macs"] * (e.pj_mul8 + e.pj_add32),
        "neuron_updates": ops["neuron_ops"] * e.pj_add32,
        "weight_sram": (ops["sops"] + ops["macs"] + ops["code_macs"]) * w8,
        "state_sram": 2 * (ops["sops"] + ops["neuron_ops"]) * sw + (ops["macs"] + ops["code_macs"]) * s8,
        "noc": ops["hops"] * e.pj_hop,
        "dram": np.full(per_slot.shape[2], dram["dram_bytes"] * e.dram_pj_per_byte),
        "link": np.full(per_slot.shape[2], dram["link_bytes"] * 8 * e.link_pj_per_bit),
        "static": e.static_mw_per_core * cores_used * 1e3 * cycles / chip.clock_mhz,
    }
    if not self.msat:
        del energy["threshold_units"]  # no threshold unit works in IF and iLIF programs
    state_words = ops["sops"] + ops["neuron_ops"] + 2 * ops["adapt_ops"]  # read and written alike
    inputs = ops["macs"] + ops["code_macs"]  # 8-bit input and code reads
    sram = {"weight_reads": ops["sops"] + inputs, "state_reads": state_words * bits / 8 + inputs,
            "state_writes": state_words * bits / 8}  # bytes per image  # fmt: skip
    simulated = int(sum(v.sum() for v in self.step_sops.values()))
    off = {key: value for key, value in dram.items() if key != "cycles"}
    return AccelResult(cycles, sequential, interval, energy, ann_energy(self), sram, ops["packets"],
                       chip.clock_mhz, cores_used, sops_simulated=simulated, extra={"off_chip": off})  # fmt: skip


def diameter(self) -> int:
    routes = [self.chip.hops(c["id"], d) for c in self.meta["cores"] for d in c["consumers"]]
    return max(routes, default=0)


def ann_energy(self) -> dict[str, float]:
    """The same network as an ANN on the same cores: every MAC (int8 × int8 → int32) reads
    its weight and input from SRAM; every activation is written once, ReLU-ed and sent."""
    chip, e = self.chip, self.chip.energy
    macs = neurons = hops = 0.0
    cycles = 0.0
    for index, layer in enumerate(self.meta["layers"]):
        layer_macs = sum(float(fan_out_of(geometry(s)).sum()) for s in layer["synapses"])
        cores = [c for c in self.meta["cores"] if c["layer"] == index]
        macs += layer_macs
        count = float(np.prod(layer["shape"]))
        neurons += count
        hops += count * sum(self.chip.hops(c["id"], d) for c in cores for d in c["consumers"]) / len(cores)
        cycles += math.ceil(layer_macs / len(cores) / chip.lanes)
    bits = chip.state_bits
    dram = off_chip(self, activation_bits=8)
    per_segment = np.bincount([c["segment"] for c in self.meta["cores"]])
    physical = int(per_segment.max()) * dram["chips"]  # the cores that exist (and leak), as for the SNN
    return {
        "macs": macs * (e.pj_mul8 + e.pj_add32),
        "neuron_updates": neurons * e.pj_add32,
        "weight_sram": macs * chip.access_pj(chip.weight_sram_kib, 8),
        "state_sram": macs * chip.access_pj(chip.state_sram_kib, 8)
        + 2 * neurons * chip.access_pj(chip.state_sram_kib, bits),
        "noc": hops * e.pj_hop,
        "dram": dram["dram_bytes"] * e.dram_pj_per_byte,
        "link": dram["link_bytes"] * 8 * e.link_pj_per_bit,
        "static": e.static_mw_per_core * physical * 1e3 * cycles / chip.clock_mhz,
    }


def geometry(entry: dict, weight: np.ndarray | None = None) -> QSynapse:
    """A synapse's geometry from META (with placeholder weights unless `weight` is given)."""
    fields = {k: v for k, v in entry.items() if k not in ("weight_shape", "weights")}
    shape = entry["weight_shape"]
    return QSynapse(weight=np.zeros(shape, np.int8) if weight is None else weight, **fields)
