"""The cpu target's plan, and the one builder both front-ends make it with.

A plan is a flat list of kernels over regions of a few buffers: workspaces (per thread),
constants (weights, thresholds, index maps), the input and the output, and counters. Two
front-ends lower to it: plan.py from the SNN graph (float32), fixed_plan.py from the integer
network (fixed point). They share `PlanBuilder`: allocation (cache-line aligned where the
front-end asks), constants by buffer, counters by kind and name, and kernel emission; the
code generator (codegen.py) turns either plan into one module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from snnc.targets.cpu.layout import ALIGNMENT, Kernel, Region, aligned_zeros

from snnc import models
from snnc.errors import DataError


def check_steps(model: str, timesteps: int, error=DataError) -> None:
    """The model's step limit on this target (iLIF: its bits live in an int32 mask)."""
    limit = models.model(model).max_steps
    if limit is not None and timesteps > limit:
        raise error(f"the cpu target runs {model} with at most {limit} steps, got T = {timesteps}")


@dataclass
class Plan:
    numeric: str  # "float" (plan.py) or "fixed" (fixed_plan.py)
    model: str  # the neuron model's name (snnc/models)
    kernels: list[Kernel]
    buffers: dict[str, np.ndarray]  # the constant buffers, by space
    sizes: dict[str, int]  # elements of every buffer, by space
    counters: list[tuple[str, str]]  # (kind, name) per counter slot: "spikes" of a layer, "sops" of a synapse
    neurons: dict[str, int]  # neuron layer → neurons per sample (records use this order)
    classes: int = 0  # K of the first output (per-step estimates are traced or read for it)
    exit_flag: Region | None = None  # the workspace slot the adaptive exit check sets
    timesteps: int | None = None  # T when it is compiled in (fixed point); None: a run-time argument
    inputs: list[tuple[str, Region]] = field(default_factory=list)  # graph inputs (float)
    outputs: list[tuple[str, Region]] = field(default_factory=list)  # graph outputs (float)
    static_macs: dict[str, int] = field(default_factory=dict)  # weighted ops on static values → MACs per sample
    shapes: dict[str, tuple] = field(default_factory=dict)  # neuron layer → sample shape (fixed)
    # neuron layers whose records hold what each step sends (float32), not 0/1 bytes: MSAT's, whose
    # spikes carry their adapted threshold (bias correction needs it; records of spikes are != 0)
    value_records: frozenset = frozenset()

    def structure(self) -> str:
        """Everything the generated code depends on (not the values in the constant buffers)."""
        kernels = [(k.kind, k.phase, sorted(k.args.items())) for k in self.kernels]
        sizes = sorted((space, size) for space, size in self.sizes.items() if space not in self.buffers)
        return repr((self.numeric, self.model, self.timesteps, kernels, sizes, len(self.counters), self.classes,
                     self.exit_flag, sorted(self.value_records)))  # fmt: skip

    def record_buffer(self, name: str, batch: int, timesteps: int) -> np.ndarray:
        """A zeroed (batch, T, neurons) record buffer for a neuron layer, of the type its kernel writes."""
        dtype = np.float32 if name in self.value_records else np.uint8
        return np.zeros((batch, timesteps, self.neurons[name]), dtype)

    def slots(self, kind: str) -> dict[str, int]:
        """Counter slot per name, for one kind of counter."""
        return {name: slot for slot, (k, name) in enumerate(self.counters) if k == kind}

    # the buffers and sizes by name, as the runners and kernels read them
    params = property(lambda self: self.buffers["params"])
    index = property(lambda self: self.buffers["index"])
    weights = property(lambda self: self.buffers["weights"])
    fparams = property(lambda self: self.buffers["fparams"])
    ws_size = property(lambda self: self.sizes.get("ws", 0))
    iws_size = property(lambda self: self.sizes.get("iws", 0))
    input_size = property(lambda self: self.sizes.get("input", 0))
    output_size = property(lambda self: self.sizes.get("output", 0))


class PlanBuilder:
    """Buffers, constants, counters and kernels. `constant_types`: the element type of each
    constant buffer; `aligned`: the buffers whose regions start a cache line."""

    def __init__(self, constant_types: dict[str, type], aligned: tuple[str, ...] = ()) -> None:
        self.constant_types = constant_types
        self.aligned = aligned
        self.sizes: dict[str, int] = {}
        self.constants: dict[str, list[tuple[Region, np.ndarray]]] = {space: [] for space in constant_types}
        self.kernels: list[Kernel] = []
        self.counters: list[tuple[str, str]] = []

    def alloc(self, space: str, size: int) -> Region:
        """The next region of a buffer (starting a cache line in the aligned ones)."""
        offset = self.sizes.get(space, 0)
        if space in self.aligned:
            offset = -(-offset // ALIGNMENT) * ALIGNMENT
        self.sizes[space] = offset + int(size)
        return Region(space, offset, int(size))

    def constant(self, space: str, array) -> Region:
        flat = np.ascontiguousarray(array, dtype=self.constant_types[space]).ravel()
        region = self.alloc(space, flat.size)
        self.constants[space].append((region, flat))
        return region

    def constant_buffers(self) -> dict[str, np.ndarray]:
        buffers = {}
        for space, dtype in self.constant_types.items():
            buffers[space] = array = aligned_zeros(max(self.sizes.get(space, 0), 1), dtype)
            for region, flat in self.constants[space]:
                array[region.offset : region.offset + region.size] = flat
        return buffers

    def counter(self, kind: str, name: str) -> int:
        """A new counter slot for `name`'s spikes or synaptic operations."""
        self.counters.append((kind, name))
        return len(self.counters) - 1

    def emit(self, kind: str, phase: str, node: str, **args) -> None:
        self.kernels.append(Kernel(kind, phase, node, args))
