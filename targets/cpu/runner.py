"""Running cpu-target programs: native kernels called through ctypes on numpy buffers.

A batch is split into contiguous slices, one per thread; each thread has its own workspace
and counters, and ctypes releases the GIL while native code runs, so the slices run in
parallel. Results come back as the reference simulator's SimResult.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from snnc.runtime.ann import bind_inputs
from snnc.runtime.snn import SimResult, check_recordable, check_step_weights, final_window, replay_final_stage
from snnc.targets.cpu import codegen, float_kernels, irbuild, listing, llvm, mathlib, msat, neurons, objcache, synapses
from snnc.targets.cpu.codegen import generate
from snnc.targets.cpu.float_kernels import FLOAT
from snnc.targets.cpu.layout import aligned_zeros, from_internal, to_internal
from snnc.targets.cpu.llvm import NativeLibrary, ObjectCache, cache_key, cached_compile, host_fingerprint
from snnc.targets.cpu.plan import build_plan

from snnc import models
from snnc.errors import DataError
from snnc.ir.graph import Graph

POINTER = ctypes.c_void_p
SIGNATURE = (POINTER,) * 10 + (ctypes.c_int64, ctypes.c_int64, ctypes.c_float)


@dataclass
class NativeCode:
    """Object code and what it was built for (stored in artifacts)."""

    code: bytes
    fingerprint: str
    structure_hash: str  # the cache key: plan structure, code generator and host
    cached: bool = False


class CompiledNetwork:
    """An SNN graph compiled to native code. `run` has the reference simulator's signature."""

    def __init__(self, graph: Graph, cache: ObjectCache | None = None, code: NativeCode | None = None,
                 profile: bool = False) -> None:  # fmt: skip
        """`profile`: every kernel call adds its cycle count to kernel_cycles (for bench/profile_cpu.py)."""
        self.graph = graph
        self.plan = build_plan(graph)
        self.profile = profile
        self.kernel_cycles = np.zeros(len(self.plan.kernels), np.int64)
        key = cache_key(GENERATOR, self.plan.structure(), "profile" if profile else "")
        if code is not None and code.fingerprint == host_fingerprint() and code.structure_hash == key:
            self.native = code
        else:  # none given, or built for another CPU or llvmlite: compile (or take from the cache)
            binary, cached = cached_compile(key, lambda: self.ir, cache)
            self.native = NativeCode(binary, host_fingerprint(), key, cached)
        self.library = NativeLibrary(self.native.code)
        self.entry = self.library.function(FLOAT.entry, None, *SIGNATURE)
        self.layers = list(self.plan.neurons)
        self._spare: list[tuple[np.ndarray, np.ndarray]] = []

    @functools.cached_property
    def ir(self) -> str:
        """The program's LLVM IR (generated only when the code is compiled, or on request)."""
        return generate(self.plan, FLOAT, profile=self.profile)

    def run(self, inputs, timesteps: int, latency: int | None = None, threads: int | None = None,
            record: list[str] | tuple[str, ...] = (), trace: bool = False) -> SimResult:  # fmt: skip
        """Simulate a batch; `record` names neuron layers whose spike trains (B, T, *shape) are
        returned in result.records; `trace` returns the readout's per-step estimates. An adaptive
        readout stops each sample at its exit step (iLIF: see _ilif_with_readout_window)."""
        if timesteps < 1:
            raise DataError(f"timesteps must be >= 1, got {timesteps}")
        check_steps(self.plan.model, timesteps)
        if threads is not None and threads < 1:
            raise DataError(f"threads must be >= 1, got {threads}")
        check_recordable(record, self.layers)
        check_step_weights(self.graph, timesteps)
        latency = latency if latency is not None else timesteps
        if models.model(self.plan.model).coding.bit_plane and (trace or self.adaptive):
            return self._ilif_with_readout_window(inputs, timesteps, latency, threads, tuple(record))
        return self._run(inputs, timesteps, latency, threads, record, trace)

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
        bound = bind_inputs(self.graph, inputs)
        batch = len(next(iter(bound.values())))
        packed = np.zeros((batch, self.plan.input_size), np.float32)
        for name, region in self.plan.inputs:
            sample_shape = self.graph.type(name).sample_shape
            packed[:, region.offset : region.offset + region.size] = to_internal(bound[name], sample_shape)
        outputs = np.zeros((batch, self.plan.output_size), np.float32)
        records = {name: np.zeros((batch, timesteps, self.plan.neurons[name]), np.uint8) for name in record}
        steps = np.zeros(batch, np.int64)
        estimates = np.zeros((batch, timesteps, self.plan.classes), np.float32) if trace else None
        buffers = dict(outputs=outputs, records=records, steps=steps, trace=estimates)
        counts = self._run_threads(packed, buffers, timesteps, threads or default_threads())
        result = self._result(outputs, counts, records, batch, latency - (timesteps - steps))
        result.trace = estimates
        return result

    @property
    def adaptive(self) -> bool:
        return any(getattr(n.op, "exit_metric", None) is not None for n in self.graph.nodes())

    def _run_threads(self, packed, buffers: dict, timesteps: int, threads: int) -> np.ndarray:
        slices = batch_slices(len(packed), threads)
        profiled = len(self.plan.kernels) if self.profile else 0
        counts = np.zeros((len(slices), max(self.plan.counters + profiled, 1)), np.int64)
        workspaces = self._workspaces(len(slices))

        records, trace = buffers["records"], buffers["trace"]

        def work(task: int) -> None:
            lo, hi = slices[task]
            ws, iws = workspaces[task]
            table = (ctypes.c_void_p * max(len(self.layers), 1))()
            for layer, name in enumerate(self.layers):
                table[layer] = records[name][lo:].ctypes.data if name in records else None
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
            self.kernel_cycles += totals[self.plan.counters :]
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
            spikes={name: int(counts[slot]) for name, slot in self.plan.spike_counters.items()},
            neurons=dict(self.plan.neurons),
            sops={name: int(counts[slot]) for name, slot in self.plan.sop_counters.items()},
            macs={name: int(macs) * batch for name, macs in self.plan.static_macs.items()},
            samples=batch,
        )  # fmt: skip
        result.records = {name: from_internal_trains(trains, self.graph.type(name).sample_shape)
                          for name, trains in records.items()}  # fmt: skip
        return result


def from_internal_trains(trains: np.ndarray, sample_shape) -> np.ndarray:
    """(B, T, size) in the internal layout → (B, T, *sample_shape)."""
    batch, steps = trains.shape[:2]
    return from_internal(trains.reshape(batch * steps, -1), sample_shape).reshape(batch, steps, *sample_shape)


def check_steps(model: str, timesteps: int) -> None:
    """The model's step limit on this target (iLIF: its bits live in an int32 mask)."""
    limit = models.model(model).max_steps
    if limit is not None and timesteps > limit:
        raise DataError(f"the cpu target runs {model} with at most {limit} steps, got T = {timesteps}")


def batch_slices(batch: int, threads: int) -> list[tuple[int, int]]:
    """Contiguous [lo, hi) slices of a batch, one per thread (none empty)."""
    bounds = np.linspace(0, batch, min(threads, max(batch, 1)) + 1).astype(int)
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


def source_hash(*modules) -> str:
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


# The object code is a function of the plan's structure and of the code that turns it into
# machine code: cache keys hash both (and the host), so a hit needs no IR generation.
GENERATOR_MODULES = (codegen, float_kernels, irbuild, listing, llvm, mathlib, msat, neurons, objcache, synapses)
GENERATOR = source_hash(*GENERATOR_MODULES)
