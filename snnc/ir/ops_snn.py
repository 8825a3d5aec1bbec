"""Spiking ops: the neurons that replace ReLUs, and the non-spiking readout.

In the ANN view (the reference executor) a neuron is a ReLU and the readout is the identity;
their dynamics live in the SNN simulator (runtime/snn.py), which is their definition.
Spikes carry their neuron's threshold: a spike of a neuron with threshold θ delivers θ to
the synapses downstream, so the synapse ops keep the ANN's weights and units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc import models
from snnc.ir.op import Op, as_float_array, register_op, require
from snnc.ir.ops_nn import MaxPool

NEURON_MODELS = models.names()
RESET_MODES = ("subtract", "zero")
EXIT_METRICS = ("max-softmax", "entropy", "sum-softmax")


@register_op
@dataclass(eq=False)
class Neuron(Op):
    """A spiking neuron layer with per-layer or per-channel threshold θ (shape () or (C, 1, ...)).

    model: one of snnc.models (their classes hold the equations: models/if_.py, ilif.py, msat.py).
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
        require((self.model == MsatNeuron.model) == isinstance(self, MsatNeuron), "an msat neuron is an MsatNeuron op")
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
class MsatNeuron(Neuron):
    """An MSAT neuron layer (the update: snnc/models/msat.py) and its hyperparameters.

    θ_max is the balanced threshold (`threshold`). `units` "absolute" evaluates DTT and DET on
    V, I and θ in the network's units, as published; "normalized" (the default) divides V, I and
    V_T by θ_max first, which makes the defaults independent of the layer's scale (on the
    Fashion-MNIST VGG fixture at T = 8: 90 % against 34 % for "absolute"). `use_dtt`/`use_det` drop
    a term (both off: θ_t = θ_max·sigmoid(0)). Spike confidence: in steps t < confidence_steps
    a spike is kept with probability `confidence` (its charge is spent either way); the drop
    mask is a seeded function of (seed, step, neuron), the same for every sample.
    """

    name = "msat-neuron"
    model: str = "msat"
    alpha: float = 0.03
    k_a: float = 1.0
    k_i: float = 1.0
    c_det: float = 5.0
    tau_mp: float = 1.0
    tau_rd: float = 1.0
    burst: int = 1
    units: str = "normalized"
    use_dtt: bool = True
    use_det: bool = True
    confidence: float = 1.0
    confidence_steps: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("alpha", "k_a", "k_i", "c_det", "tau_mp", "tau_rd", "confidence"):
            setattr(self, key, float(getattr(self, key)))
            require(np.isfinite(getattr(self, key)), f"msat {key} must be finite")
        require(self.k_i > 0 and self.c_det > 0, "msat k_i and C must be positive")
        self.burst, self.confidence_steps, self.seed = int(self.burst), int(self.confidence_steps), int(self.seed)
        require(self.burst >= 1, f"msat burst γ must be >= 1, got {self.burst}")
        require(self.units in MSAT_UNITS, f"msat units must be one of {MSAT_UNITS}, got {self.units!r}")
        require(0 < self.confidence <= 1, f"spike confidence must be in (0, 1], got {self.confidence}")
        require(self.confidence_steps >= 0, "confidence_steps must be >= 0")
        self.use_dtt, self.use_det = bool(self.use_dtt), bool(self.use_det)


MSAT_UNITS = ("absolute", "normalized")
# What shapes the update (each one a compile-time constant of the cpu target's kernel).
MSAT_DYNAMICS = ("alpha", "k_a", "k_i", "c_det", "tau_mp", "tau_rd", "burst", "units", "use_dtt", "use_det")
MSAT_PRESETS = {  # the published defaults (He et al. 2024)
    "vgg": dict(alpha=0.03, k_a=1.0, k_i=1.0, c_det=5.0, tau_mp=1.0, tau_rd=1.0),
    "resnet": dict(alpha=0.3, k_a=1.0, k_i=1.0, c_det=5.0, tau_mp=0.2, tau_rd=0.1),
}


@register_op
@dataclass(eq=False)
class Readout(Op):
    """The network's output: a non-spiking integrator of its input current.

    if/msat: the mean of the current over the steps run. ilif: the Horner sum of the current
    over the last layer's emission window, scaled by 2^−T (the value the bits encode).

    Adaptive exit (ATSNN), when `exit_metric` is set: after each step the readout's estimate
    (the output if the run stopped there: the mean so far, or the bits received so far, most
    significant first) gives a confidence in [0, 1]: max softmax, 1 − entropy/ln K, or the max
    softmax of the running sum (t + 1)·estimate (rate coding's default); a sample
    stops at the first step whose confidence is ≥ `exit_threshold` (above 1: never).
    `step_weights` (one per step, fitted post-training) weigh each step's current in the
    rate-coded estimate: Z_t = Σ_{τ≤t} w_τ·z_τ / (t + 1). See runtime/adaptive.py.
    """

    name = "readout"
    depth: int = 0
    exit_metric: str | None = None
    exit_threshold: float = 1.0
    step_weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.depth = int(self.depth)
        require(self.exit_metric in (None, *EXIT_METRICS), f"exit metric must be one of {EXIT_METRICS}")
        self.exit_threshold = float(self.exit_threshold)
        threshold = self.exit_threshold
        require(0 <= threshold <= 2, f"exit threshold must be in [0, 2] (> 1: never), got {threshold}")
        if self.step_weights is not None:
            self.step_weights = as_float_array(self.step_weights, "readout step weights").ravel()
            require(bool(np.all(np.isfinite(self.step_weights))), "readout step weights must be finite")
            require(bool(np.all(self.step_weights > 0)), "readout step weights must be positive")

    def infer(self, inputs):
        return inputs[0]


@register_op
@dataclass(eq=False)
class GatedMaxPool(MaxPool):
    """Max pooling of spike trains for rate coding, as a running max: with S_i(t) the sum of
    what input i has sent up to step t, each window sends max_i S_i(t) − max_i S_i(t−1)
    (runtime/snn.py). What a window has sent is the max of what its inputs have sent at every
    step, so its rate is exactly the max of their rates; for IF it sends θ or nothing. In the
    ANN view it is max pooling."""

    name = "gated-max-pool"
