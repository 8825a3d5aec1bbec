"""Running cpu-target programs: native code called through ctypes on numpy buffers.

One runner for both number types: `NativeProgram` compiles a plan (or takes its object code
from the object cache, or from a trusted artifact), loads it and calls its entry point on a
batch split into contiguous slices, one per thread; each thread has its own workspace and
counters, and ctypes releases the GIL while native code runs, so the slices run in parallel.
`CompiledNetwork` (an SNN graph, float32) and `FixedNetwork` (a QNet, fixed point) pack the
inputs and turn the native outputs into the references' SimResult.
"""

from __future__ import annotations

import ctypes
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from snnc.runtime import fixed
from snnc.runtime.ann import bind_inputs
from snnc.runtime.snn import SimResult, check_recordable, check_step_weights, final_window, replay_final_stage
from snnc.targets.cpu import (
    codegen,
    fixed_kernels,
    fixed_plan,
    float_kernels,
    irbuild,
    listing,
    llvm,
    mathlib,
    msat,
    neurons,
    objcache,
    planning,
    synapses,
    vnni,
    winograd,
)
from snnc.targets.cpu.codegen import generate
from snnc.targets.cpu.fixed_kernels import FIXED
from snnc.targets.cpu.fixed_plan import build_fixed_plan
from snnc.targets.cpu.float_kernels import FLOAT
from snnc.targets.cpu.layout import aligned_zeros, from_internal, to_internal
from snnc.targets.cpu.llvm import NativeLibrary, ObjectCache, cache_key, cached_compile, host_fingerprint
from snnc.targets.cpu.plan import build_plan
from snnc.targets.cpu.planning import check_steps

from snnc import models
from snnc.errors import DataError
from snnc.files import source_hash
from snnc.ir.graph import Graph
from snnc.ir.qnet import QNet

POINTER = ctypes.c_void_p


@dataclass
class NativeCode:
    """Object code and what it was built for (stored in artifacts)."""

    code: bytes
    fingerprint: str
    structure_hash: str  # the cache key: plan structure, code generator and host
    cached: bool = False


class NativeProgram:
    """A plan as callable native code; subclasses set `numeric` (codegen.Numeric) and the entry
    point's ctypes `signature`."""

    numeric: codegen.Numeric
    signature: tuple

    def __init__(self, plan, cache: ObjectCache | None, code: NativeCode | None = None, profile: bool = False):
        self.plan = plan
        self.profile = profile
        key = cache_key(GENERATOR, plan.structure(), "profile" if profile else "")
        if code is not None and code.fingerprint == host_fingerprint() and code.structure_hash == key:
            self.native = code
        else:  # none given, or built for another CPU or llvmlite: compile (or take from the cache)
            binary, cached = cached_compile(key, lambda: self.ir, cache)
            self.native = NativeCode(binary, host_fingerprint(), key, cached)
        self.library = NativeLibrary(self.native.code)
        self.entry = self.library.function(self.numeric.entry, None, *self.signature)

    @functools.cached_property
    def ir(self) -> str:
        """The program's LLVM IR (generated only when the code is compiled, or on request)."""
        return generate(self.plan, self.numeric, profile=self.profile)

    @property
    def cached(self) -> bool:
        return self.native.cached

    @property
    def layers(self) -> list[str]:
        """The neuron layers, in the order of the entry's `records` table."""
        return list(self.plan.neurons)

    def record_table(self, records: dict, lo: int):
        """The entry's `records` argument: per neuron layer, its buffer from sample lo on (or null)."""
        table = (ctypes.c_void_p * max(len(self.layers), 1))()
        for index, name in enumerate(self.layers):
            table[index] = records[name][lo:].ctypes.data if name in records else None
        return table


class CompiledNetwork(NativeProgram):
    """An SNN graph compiled to float32 native code. `run` has the reference simulator's signature."""

    numeric = FLOAT
    signature = (POINTER,) * 10 + (ctypes.c_int64, ctypes.c_int64, ctypes.c_float)

    def __init__(self, graph: Graph, cache: ObjectCache | None = None, code: NativeCode | None = None,
                 profile: bool = False) -> None:  # fmt: skip
        """`profile`: every kernel call adds its cycle count to kernel_cycles (for bench/profile_cpu.py)."""
        self.graph = graph
        self.nodes = graph.nodes()  # the graph is fixed for the network's life (Program rebuilds it after edits)
        self.input_names = graph.inputs
        self.weighted_readouts = [n for n in self.nodes if getattr(n.op, "step_weights", None) is not None]
        self.adaptive = any(getattr(n.op, "exit_metric", None) is not None for n in self.nodes)
        super().__init__(build_plan(graph), cache, code, profile)
        self.counter_slots = {kind: self.plan.slots(kind) for kind in ("spikes", "sops")}
        self.kernel_cycles = np.zeros(len(self.plan.kernels), np.int64)
        self._spare: list[tuple[np.ndarray, np.ndarray]] = []

    def run(self, inputs, timesteps: int, latency: int | None = None, threads: int | None = None,
            record: list[str] | tuple[str, ...] = (), trace: bool = False,
            record_values: bool = False) -> SimResult:  # fmt: skip
        """Simulate a batch; `record` names neuron layers whose spike trains (B, T, *shape) are
        returned in result.records (with `record_values`, what each step sends, as the
        reference's are; rate coding); `trace` returns the readout's per-step estimates. An
        adaptive readout stops each sample at its exit step (iLIF: see _ilif_with_readout_window)."""
        if timesteps < 1:
            raise DataError(f"timesteps must be >= 1, got {timesteps}")
        check_steps(self.plan.model, timesteps)
        if threads is not None and threads < 1:
            raise DataError(f"threads must be >= 1, got {threads}")
        check_recordable(record, self.layers)
        check_step_weights(self.graph, timesteps, self.weighted_readouts)
        latency = latency if latency is not None else timesteps
        bit_plane = models.model(self.plan.model).coding.bit_plane
        if record_values and bit_plane:
            raise DataError("record_values is for rate coding: a bit-plane layer's records are its bits")
        if bit_plane and (trace or self.adaptive):
            return self._ilif_with_readout_window(inputs, timesteps, latency, threads, tuple(record))
        result = self._run(inputs, timesteps, latency, threads, record, trace)
        result.records = {name: self._records(name, trains, record_values) for name, trains in result.records.items()}
        return result

    def _records(self, name: str, trains: np.ndarray, values: bool) -> np.ndarray:
        """A layer's records as asked: spikes (0/1) or what each step sends (a spike of IF sends θ)."""
        if name in self.plan.value_records:
            return trains if values else (trains != 0).astype(np.uint8)
        return trains * self.graph.op(name).threshold.astype(np.float32) if values else trains

    def _ilif_with_readout_window(self, inputs, timesteps: int, latency: int, threads, record) -> SimResult:
        """iLIF computes each layer's bits in one pass and keeps no per-bit readout values: record
        the last stage's spikes and replay the readout's window on them (as the reference does),
        then take each sample's exit: its output, steps and the last stage's counts up to it."""
        last = [n for n in final_window(self.graph) if n in self.plan.neurons]
        result = self._run(inputs, timesteps, latency, threads, tuple(dict.fromkeys(record + tuple(last))), False)
        trains = {n: result.records[n] for n in last}
        stage = replay_final_stage(self.graph, trains, timesteps)
        result.trace = stage.estimates
        result.records = {n: result.records[n] for n in record}
        if stage.exits is None:
            return result
        after = np.arange(timesteps)[:, None] > stage.exits[None, :]  # (T, B): bits after the exit
        for name, train in trains.items():
            per_step = train.reshape(*train.shape[:2], -1).sum(axis=2, dtype=np.int64).T  # (T, B)
            result.spikes[name] -= int((per_step * after).sum())
        for name, per_step in stage.sops.items():
            result.sops[name] -= int((per_step * after).sum())
        early = stage.exits < timesteps - 1
        chosen = stage.estimates[np.arange(len(early)), stage.exits]
        result.outputs[0] = np.where(early[:, None], chosen, result.outputs[0])
        result.steps = result.steps - (timesteps - 1 - stage.exits)
        return result

    def _run(self, inputs, timesteps: int, latency: int, threads, record, trace: bool) -> SimResult:
        bound = bind_inputs(self.graph, inputs, self.input_names)
        batch = len(next(iter(bound.values())))
        packed = np.zeros((batch, self.plan.input_size), np.float32)
        for name, region in self.plan.inputs:
            sample_shape = self.graph.type(name).sample_shape
            packed[:, region.offset : region.offset + region.size] = to_internal(bound[name], sample_shape)
        outputs = np.zeros((batch, self.plan.output_size), np.float32)
        records = {name: self.plan.record_buffer(name, batch, timesteps) for name in record}
        steps = np.zeros(batch, np.int64)
        estimates = np.zeros((batch, timesteps, self.plan.classes), np.float32) if trace else None
        buffers = dict(outputs=outputs, records=records, steps=steps, trace=estimates)
        counts = self._run_threads(packed, buffers, timesteps, threads or default_threads())
        result = self._result(outputs, counts, records, batch, latency - (timesteps - steps))
        result.trace = estimates
        return result

    def _run_threads(self, packed, buffers: dict, timesteps: int, threads: int) -> np.ndarray:
        slices = batch_slices(len(packed), threads)
        profiled = len(self.plan.kernels) if self.profile else 0
        counts = np.zeros((len(slices), max(len(self.plan.counters) + profiled, 1)), np.int64)
        workspaces = self._workspaces(len(slices))

        records, trace = buffers["records"], buffers["trace"]

        def work(task: int) -> None:
            lo, hi = slices[task]
            ws, iws = workspaces[task]
            table = self.record_table(records, lo)
            self.entry(packed[lo:].ctypes.data, buffers["outputs"][lo:].ctypes.data, counts[task].ctypes.data,
                       self.plan.params.ctypes.data, self.plan.index.ctypes.data, ws.ctypes.data, iws.ctypes.data,
                       ctypes.addressof(table), buffers["steps"][lo:].ctypes.data,
                       None if trace is None else trace[lo:].ctypes.data, hi - lo, timesteps,
                       2.0**-timesteps)  # fmt: skip

        try:
            run_parallel(work, len(slices))
        finally:
            self._spare = workspaces
        totals = counts.sum(axis=0)
        if profiled:
            self.kernel_cycles += totals[len(self.plan.counters) :]
        return totals

    def _workspaces(self, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-thread workspaces, reused from the last call (allocating them costs more than a
        small batch). Reuse is safe: kernels overwrite what they read, except the zero borders
        of padded copies, which are never written. A concurrent call gets fresh ones."""
        spare, self._spare = self._spare, []
        while len(spare) < count:
            spare.append((aligned_zeros(max(self.plan.ws_size, 1), np.float32),
                          aligned_zeros(max(self.plan.iws_size, 1), np.int32)))  # fmt: skip
        return spare[:count]

    def _result(self, outputs, counts, records, batch: int, steps: np.ndarray) -> SimResult:
        result = SimResult(
            outputs=[from_internal(outputs[:, r.offset : r.offset + r.size], self.graph.type(n).sample_shape)
                     for n, r in self.plan.outputs],
            steps=steps,
            spikes={name: int(counts[slot]) for name, slot in self.counter_slots["spikes"].items()},
            neurons=dict(self.plan.neurons),
            sops={name: int(counts[slot]) for name, slot in self.counter_slots["sops"].items()},
            macs={name: int(macs) * batch for name, macs in self.plan.static_macs.items()},
            samples=batch,
        )  # fmt: skip
        result.records = {name: from_internal_trains(trains, self.graph.type(name).sample_shape)
                          for name, trains in records.items()}  # fmt: skip
        return result


class FixedNetwork(NativeProgram):
    """A QNet compiled to native integer code. `run` returns the fixed-point reference's SimResult."""

    numeric = FIXED
    signature = (POINTER,) * 9 + (ctypes.c_int64, ctypes.c_int64)

    def __init__(self, qnet: QNet, cache: ObjectCache | None = None) -> None:
        self.qnet = qnet
        super().__init__(build_fixed_plan(qnet), cache)

    @functools.cached_property
    def uncut_counts(self) -> frozenset[str]:
        """Counters an early exit does not cut: bit-plane coding computes every layer's bits in
        one pass, all but the readout's window (fixed.final_window)."""
        if not models.model(self.qnet.model).coding.bit_plane:
            return frozenset()
        untouched = fixed.final_window(self.qnet)
        return frozenset(name for _, name in self.plan.counters if name not in untouched)

    @functools.cached_property
    def input_macs(self) -> dict[str, int]:
        """MACs per image of the synapses from the input (the reference's count), by synapse key."""
        return {fixed.synapse_key(layer, index): int(fixed.fan_out_of(synapse).sum())
                for layer in self.qnet.layers for index, synapse in enumerate(layer.synapses)
                if synapse.source == self.qnet.input_name}  # fmt: skip

    def run(self, x, record=(), trace: bool = False, threads: int | None = None) -> SimResult:
        """Simulate a float batch (quantized here, as the chip's input is)."""
        if threads is not None and threads < 1:
            raise DataError(f"threads must be >= 1, got {threads}")
        threads = threads or default_threads()
        check_recordable(record, self.layers)
        qnet = self.qnet
        packed = to_internal(fixed.quantize_input(x, qnet.input_shape, qnet.input_scale), qnet.input_shape)
        # records and traces cover every step, as the reference's do: no early stop then
        exits = qnet.exit_metric is not None and not record and not trace
        native = self._native(packed, tuple(record), exits, threads)
        estimates, chosen = self._exits(native)
        short = chosen >= native["steps"]  # stopped before the exact exit: run those again in full
        if np.any(short):
            again = self._native(packed[short], (), False, threads)
            for key in ("readout", "counts"):
                native[key][short] = again[key]
            estimates, chosen = self._exits(native)
        return self._result(native, estimates, chosen, record, trace)

    def _exits(self, native: dict) -> tuple[np.ndarray, np.ndarray]:
        """(estimates (B, T, K), exit step per sample) from the integer readout currents."""
        per_step, static = np.swapaxes(native["readout"][:, :-1], 0, 1), native["readout"][:, -1]
        estimates = fixed.readout_estimates(self.qnet, self.qnet.readout, static, per_step)
        return estimates, fixed.exit_steps(self.qnet, estimates)

    def _native(self, packed: np.ndarray, record: tuple, exits: bool, threads: int) -> dict:
        plan, batch, T = self.plan, len(packed), self.plan.timesteps
        packed = np.ascontiguousarray(packed, dtype=np.int64)
        out = {
            "counts": np.zeros((batch, T, len(plan.counters)), np.int64),
            "readout": np.zeros((batch, T + 1, plan.classes), np.int64),
            "steps": np.zeros(batch, np.int64),
            "records": {name: plan.record_buffer(name, batch, T) for name in record},
        }
        slices = batch_slices(batch, threads)
        workspaces = [np.zeros(max(plan.ws_size, 1), np.int64) for _ in slices]

        def work(task: int) -> None:
            lo, hi = slices[task]
            table = self.record_table(out["records"], lo)
            self.entry(packed[lo:].ctypes.data, out["counts"][lo:].ctypes.data, out["readout"][lo:].ctypes.data,
                       plan.params.ctypes.data, plan.weights.ctypes.data, plan.fparams.ctypes.data,
                       workspaces[task].ctypes.data, ctypes.addressof(table), out["steps"][lo:].ctypes.data,
                       hi - lo, int(exits))  # fmt: skip

        run_parallel(work, len(slices))
        return out

    def _result(self, native: dict, estimates: np.ndarray, chosen: np.ndarray, record, trace: bool) -> SimResult:
        """The reference's result (runtime/fixed.py _FixedRun.readout) from the native counts."""
        qnet, batch, T = self.qnet, len(chosen), self.plan.timesteps
        result = SimResult([estimates[np.arange(batch), chosen]], chosen + 1 + fixed.latency_offset(qnet))
        result.samples = batch
        result.trace = estimates if trace else None
        # one reduction per kind of total, not per counter: at batch 1 the Python is a third of a run
        every_step = native["counts"].sum(axis=(0, 1)).tolist()  # (C,)
        before_exit = np.arange(T)[None, :] <= chosen[:, None]  # (B, T)
        up_to_exit = (native["counts"] * before_exit[:, :, None]).sum(axis=(0, 1)).tolist()
        for column, (_, name) in enumerate(self.plan.counters):
            total = every_step[column] if name in self.uncut_counts else up_to_exit[column]
            (result.spikes if name in self.plan.neurons else result.sops)[name] = int(total)
        result.neurons = dict(self.plan.neurons)  # the neuron layers' sizes, in the qnet's order
        result.macs = {key: macs * batch for key, macs in self.input_macs.items()}
        result.records = {name: from_internal_trains(native["records"][name], self.plan.shapes[name])
                          for name in record}  # fmt: skip
        return result


def from_internal_trains(trains: np.ndarray, sample_shape) -> np.ndarray:
    """(B, T, size) in the internal layout → (B, T, *sample_shape), a view (no copy): records
    are large, and reductions over them (correct-bias's channel means) read the channel-last
    memory as it lies."""
    batch, steps = trains.shape[:2]
    flat = from_internal(trains.reshape(batch * steps, -1), sample_shape, copy=False)
    return flat.reshape(batch, steps, *sample_shape)


def batch_slices(batch: int, threads: int) -> list[tuple[int, int]]:
    """Contiguous [lo, hi) slices of a batch, one per thread (none empty)."""
    if batch < 1:
        return []
    if threads <= 1 or batch == 1:
        return [(0, batch)]
    bounds = np.linspace(0, batch, min(threads, batch) + 1).astype(int)
    return [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def run_parallel(work, tasks: int) -> None:
    """work(0) … work(tasks − 1), on threads when there are several (native calls release the GIL)."""
    if tasks == 1:
        work(0)
        return
    with ThreadPoolExecutor(tasks) as pool:
        list(pool.map(work, range(tasks)))


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# The object code is a function of the plan's structure and of the code that turns it into
# machine code: cache keys hash both (and the host), so a hit needs no IR generation.
GENERATOR_MODULES = (codegen, fixed_kernels, fixed_plan, float_kernels, irbuild, listing, llvm, mathlib, msat, neurons,
                     objcache, planning, synapses, vnni, winograd)  # fmt: skip
GENERATOR = source_hash(*GENERATOR_MODULES)
