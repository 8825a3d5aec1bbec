"""What every neuron model declares, and the two codings they use.

A model (one class per model, registered by name: snnc/models/__init__.py) owns its equations
(in its docstring), its defaults, its coding, its step limit, and its two reference steps:
`simulate`, the float semantics runtime/snn.py runs, and `fire_fixed`, the integer semantics
runtime/fixed.py runs (the accelerator's numbers). Engines call these hooks and ask the coding
what differs (Lava's float and fixed-point process models share their hooks the same way).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np


class Coding:
    """How a neuron layer's spikes carry its value, and the timing that follows from it."""

    name: ClassVar[str]
    bit_plane: ClassVar[bool]  # the value is a T-bit binary fraction (else: a spike rate)
    step_weights: ClassVar[bool]  # whether per-step readout weights apply (adaptive exits)
    exit_metric: ClassVar[str]  # the adaptive exits' default confidence (runtime/adaptive.py)
    exit_margin: ClassVar[float]  # standard errors on the losses an exit threshold may cost (adaptive.upper_bound)

    def latency(self, stages: int, timesteps: int, pipelined: bool) -> int:
        """Steps from the first input to the readout's final value, for `stages` neuron stages."""
        raise NotImplementedError

    def readout_offset(self, readout_depth: int, timesteps: int) -> int:
        """Steps before the readout's window starts (added to the steps it runs)."""
        raise NotImplementedError

    def window_start(self, depth: int, timesteps: int) -> int:
        """The accelerator's slot where the window of the stage at `depth` starts."""
        raise NotImplementedError

    def levels(self, timesteps: int) -> tuple[int, int]:
        """(the steps a value in [0, θ] is quantized to per θ, the highest step a layer sends)."""
        raise NotImplementedError

    def slots(self, readout_depth: int, timesteps: int) -> int:
        """The accelerator's slots for a whole program: the readout's window is the last."""
        return self.window_start(readout_depth, timesteps) + timesteps


class RateCoding(Coding):
    """Every layer runs in every step; a value is a spike rate (IF) or a mean charge (MSAT)."""

    name = "rate"
    bit_plane = False
    step_weights = True
    exit_metric = "sum-softmax"  # an estimate's error shrinks as 1/t (runtime/adaptive.py)
    exit_margin = 1.0  # the only rule that held the budget on every held-out network (bench/exit_rules.py)

    def latency(self, stages: int, timesteps: int, pipelined: bool) -> int:
        return timesteps

    def readout_offset(self, readout_depth: int, timesteps: int) -> int:
        return 0

    def levels(self, timesteps: int) -> tuple[int, int]:
        return timesteps, timesteps  # at most a spike a step, each worth θ/T

    def window_start(self, depth: int, timesteps: int) -> int:
        return depth - 1  # on the chip, a stage handles step t in slot t + depth − 1


class BitPlaneCoding(Coding):
    """Temporal separation (SpikeConverter): a stage accumulates for T steps, then emits the T
    bits of its value, most significant first. Pipelined, stage d accumulates while d − 1
    emits: (D + 1)·T steps for D stages; unpipelined, 2·D·T."""

    name = "bit-plane"
    bit_plane = True
    step_weights = False  # the bits have fixed weights 2^−(t+1)
    exit_metric = "max-softmax"  # an estimate is the bits so far: no mean over steps to undo
    exit_margin = 0.0

    def latency(self, stages: int, timesteps: int, pipelined: bool) -> int:
        return (stages + 1) * timesteps if pipelined else 2 * stages * timesteps

    def readout_offset(self, readout_depth: int, timesteps: int) -> int:
        return (readout_depth - 1) * timesteps

    def levels(self, timesteps: int) -> tuple[int, int]:
        return 2**timesteps, 2**timesteps - 1  # T bits of θ, all set just below θ

    def window_start(self, depth: int, timesteps: int) -> int:
        return (depth - 1) * timesteps


RATE, BIT_PLANE = RateCoding(), BitPlaneCoding()


class NeuronModel:
    """One neuron model. Subclasses set the class attributes and implement both steps."""

    name: ClassVar[str]  # as in `--neuron NAME` and the IR's neuron ops
    coding: ClassVar[Coding]
    resets: ClassVar[tuple[str, ...]] = ("subtract", "zero")  # reset modes of the float model
    fixed_resets: ClassVar[tuple[str, ...]] = ("subtract", "zero")  # ... and of its integer form
    max_steps: ClassVar[int | None] = None  # the largest T an engine can run (None: no limit)
    threshold_unit: ClassVar[bool] = False  # its integer form adapts θ in the accelerator's threshold unit,
    # and its events carry a charge s·g rather than a spike (MSAT)
    # Conversion defaults (program.compile), chosen on the fixtures or on held-out images of the suite in
    # examples/suite (docs/benchmarks.md); the reasons are in the subclass.
    percentile: ClassVar[float] = 99.9
    thresholds: ClassVar[str] = "percentile"  # or "error": passes/balance_thresholds.py
    bias_correction: ClassVar[bool] = False  # passes/correct_bias.py
    per_channel: ClassVar[bool] = False
    v_init: ClassVar[float] = 0.5

    def simulate(self, op, value: np.ndarray, theta: np.ndarray, timesteps: int, dtype) -> tuple:
        """The float reference: `value` is what the coding delivers (rate: the per-step currents
        (T, B, ...); bit-plane: the accumulated potential (B, ...)); returns (outputs (T, B, ...),
        each spike's value, and the spike counts per step, or None where a spike is 0 or 1)."""
        raise NotImplementedError

    def expected_output(self, activation: np.ndarray, theta, timesteps: int, v_init: float,
                        reset: str = "subtract") -> np.ndarray:  # fmt: skip
        """What a layer carries downstream for a steady activation `activation` (the ANN's, ≥ 0)
        held for T steps: the value its coding can represent, clipped at θ and quantized. The
        error-minimizing thresholds (passes/balance_thresholds.py) weigh θ by it. With the
        coding's L levels and highest step H: min(H, ⌊L·a/θ + v_init⌋) steps of θ/L. Rate coding,
        from V₀ = v_init·θ: that many spikes in T steps (L = H = T); iLIF: exactly its T bits
        (L = 2^T, H = 2^T − 1). Rate coding with reset to zero drops the charge past θ at each
        spike: the first spike comes after ⌈(1 − v_init)·θ/a⌉ steps, then one every ⌈θ/a⌉."""
        count, highest = self.coding.levels(timesteps)
        theta = np.asarray(theta, dtype=np.result_type(activation, np.float32))  # in the activations' precision
        if reset == "zero" and self.coding is RATE:
            return zero_reset_spikes(activation, theta, timesteps, v_init) * (theta / count)
        steps = np.floor(count * activation / theta + theta.dtype.type(v_init))
        return np.clip(steps, 0, highest) * (theta / count)

    def fire_fixed(self, layer, value: np.ndarray, timesteps: int) -> tuple[np.ndarray, np.ndarray]:
        """The integer reference (a QLayer's integer parameters): `value` as for `simulate`, with
        the bias already added for rate coding; returns (events sent, spike counts), (T, B, ...)."""
        raise NotImplementedError


def zero_reset_spikes(activation: np.ndarray, theta: np.ndarray, timesteps: int, v_init: float) -> np.ndarray:
    """Spikes in T steps of a neuron reset to zero under a steady input a ≥ 0 from V₀ = v_init·θ."""
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.ceil((1 - v_init) * theta / activation)  # a = 0: infinite, never
        every = np.ceil(theta / activation)
        spikes = np.where(first <= timesteps, 1 + np.floor((timesteps - first) / every), 0)
    return np.clip(spikes, 0, timesteps)


def channel_shape(shape) -> tuple:
    """(C, 1, ...) for a per-channel parameter of a value of `shape` (C, ...)."""
    return (-1,) + (1,) * (len(shape) - 1)
