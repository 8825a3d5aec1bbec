"""The cpu target's fixed-point mode: a quantized network (QNet) run by native integer kernels,
bit-exact with the fixed-point reference (runtime/fixed.py) and the accelerator's simulator.

The native code returns, per sample, the readout's integer currents step by step and per-step
spike and synaptic-operation counts; the float estimates, the exit steps and the totals up to
each exit are computed here by the reference's own functions, so they cannot drift from it.
With an adaptive readout the native time loop stops once its (conservative) exit check
passes; a sample it stopped before the exact exit would be run again without exits, which
the check's margin makes a case that does not happen in practice.
"""

from __future__ import annotations

import ctypes

import numpy as np
from snnc.runtime import fixed
from snnc.runtime.snn import SimResult, check_recordable
from snnc.targets.cpu import (
    codegen,
    fixed_kernels,
    fixed_plan,
    irbuild,
    listing,
    llvm,
    mathlib,
    msat,
    neurons,
    objcache,
    synapses,
)
from snnc.targets.cpu.codegen import generate
from snnc.targets.cpu.fixed_kernels import FIXED
from snnc.targets.cpu.fixed_plan import build_fixed_plan
from snnc.targets.cpu.layout import to_internal
from snnc.targets.cpu.llvm import NativeLibrary, ObjectCache, cache_key, cached_compile
from snnc.targets.cpu.runner import batch_slices, default_threads, from_internal_trains, run_parallel, source_hash

from snnc import models
from snnc.errors import DataError
from snnc.ir.qnet import QNet

POINTER = ctypes.c_void_p
SIGNATURE = (POINTER,) * 9 + (ctypes.c_int64, ctypes.c_int64)
GENERATOR_MODULES = (codegen, fixed_kernels, fixed_plan, irbuild, listing, llvm, mathlib, msat, neurons, objcache,
                     synapses)  # fmt: skip
GENERATOR = source_hash(*GENERATOR_MODULES)


class FixedNetwork:
    """A QNet compiled to native integer code. `run` returns the fixed-point reference's SimResult."""

    def __init__(self, qnet: QNet, cache: ObjectCache | None = None) -> None:
        self.qnet = qnet
        self.plan = build_fixed_plan(qnet)
        key = cache_key(GENERATOR, self.plan.structure())
        self.code, self.cached = cached_compile(key, lambda: generate(self.plan, FIXED), cache)
        self.library = NativeLibrary(self.code)
        self.entry = self.library.function(FIXED.entry, None, *SIGNATURE)

    def run(self, x, record=(), trace: bool = False, threads: int | None = None) -> SimResult:
        """Simulate a float batch (quantized here, as the chip's input is)."""
        if threads is not None and threads < 1:
            raise DataError(f"threads must be >= 1, got {threads}")
        threads = threads or default_threads()
        check_recordable(record, list(self.plan.neurons))
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
            "records": {name: np.zeros((batch, T, plan.neurons[name]), np.uint8) for name in record},
        }
        slices = batch_slices(batch, threads)
        workspaces = [np.zeros(max(plan.ws_size, 1), np.int64) for _ in slices]
        layers = list(plan.neurons)

        def work(task: int) -> None:
            lo, hi = slices[task]
            table = (ctypes.c_void_p * max(len(layers), 1))()
            for index, name in enumerate(layers):
                table[index] = out["records"][name][lo:].ctypes.data if name in out["records"] else None
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
        totals = native["counts"].sum(axis=1)  # (B, C)
        before_exit = np.arange(T)[None, :] <= chosen[:, None]  # (B, T)
        cut = (native["counts"] * before_exit[:, :, None]).sum(axis=(0, 1))
        bit_plane = models.model(qnet.model).coding.bit_plane
        untouched = fixed.final_window(qnet) if bit_plane else set()
        for column, name in enumerate(self.plan.counters):
            keep_all = bit_plane and name not in untouched
            total = int(totals[:, column].sum()) if keep_all else int(cut[column])
            (result.spikes if name in self.plan.neurons else result.sops)[name] = total
        for layer in qnet.layers:
            if layer.kind == "neuron":
                result.neurons[layer.name] = layer.neurons
            for index, synapse in enumerate(layer.synapses):
                if synapse.source == qnet.input_name:
                    result.macs[fixed.synapse_key(layer, index)] = int(fixed.fan_out_of(synapse).sum()) * batch
        result.records = {name: from_internal_trains(native["records"][name], self.plan.shapes[name])
                          for name in record}  # fmt: skip
        return result
