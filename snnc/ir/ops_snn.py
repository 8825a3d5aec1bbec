"""Spiking ops: the neurons that replace ReLUs, and the non-spiking readout.

In the ANN view (the reference executor) a neuron is a ReLU and the readout is the identity;
their dynamics live in the SNN simulator (runtime/snn.py), which is their definition.
Spikes carry their neuron's threshold: a spike of a neuron with threshold θ delivers θ to
the synapses downstream, so the synapse ops keep the ANN's weights and units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.ir.op import Op, as_float_array, register_op, require
from snnc.ir.ops_nn import MaxPool

NEURON_MODELS = ("if", "ilif")
RESET_MODES = ("subtract", "zero")


@register_op
@dataclass(eq=False)
class Neuron(Op):
    """A spiking neuron layer with per-layer or per-channel threshold θ (shape () or (C, 1, ...)).

    if   (rate coding):  V += I_t;  s = [V ≥ θ];  V −= s·θ (subtract) or V = 0 (zero);  out s·θ.
                         V starts at v_init·θ.
    ilif (SpikeConverter, k = 2): accumulate T steps V ← k·V + I_t, then emit T steps
                         V ← k·V; s = [V ≥ θ]; V −= s·θ; out s·θ. The output is the T-bit binary
                         fraction of a/θ, MSB first; v_init adds v_init·θ/2^T before emission.
    ceiling: the ANN's own upper clip (ReLU6 → 6), or None; the ANN view is clip(x, 0, ceiling).
    depth: the pipeline stage the schedule pass assigns (1 = fed by the network input).
    """

    name = "neuron"
    model: str = "if"
    threshold: np.ndarray = 1.0
    reset: str = "subtract"
    v_init: float = 0.0
    ceiling: float | None = None
    depth: int = 0

    def __post_init__(self) -> None:
        require(self.model in NEURON_MODELS, f"neuron model must be one of {NEURON_MODELS}, got {self.model!r}")
        require(self.reset in RESET_MODES, f"reset must be one of {RESET_MODES}, got {self.reset!r}")
        self.threshold = as_float_array(self.threshold, "neuron threshold")
        require(bool(np.all(np.isfinite(self.threshold))), "neuron thresholds must be finite")
        require(bool(np.all(self.threshold > 0)), "neuron thresholds must be positive")
        self.v_init = float(self.v_init)
        self.ceiling = None if self.ceiling is None else float(self.ceiling)
        self.depth = int(self.depth)

    def infer(self, inputs):
        (x,) = inputs
        try:
            shape = np.broadcast_shapes(x.sample_shape, self.threshold.shape)
        except ValueError:
            shape = None
        require(shape == x.sample_shape, f"threshold of shape {self.threshold.shape} does not fit {x}")
        return x

    def params(self) -> int:
        return 0


@register_op
@dataclass(eq=False)
class Readout(Op):
    """The network's output: a non-spiking integrator of its input current.

    if: the mean of the current over T steps. ilif: the Horner sum of the current over the
    last layer's emission window, scaled by 2^−T (the value the bits encode).
    """

    name = "readout"
    depth: int = 0

    def __post_init__(self) -> None:
        self.depth = int(self.depth)

    def infer(self, inputs):
        return inputs[0]


@register_op
@dataclass(eq=False)
class GatedMaxPool(MaxPool):
    """Max pooling of spike trains for rate coding: each window passes, at every step, the
    spikes of the input that has fired most so far (ties: the first). In the ANN view it is
    max pooling, which the gate approaches as the counts settle."""

    name = "gated-max-pool"
