"""The quantized network: the accelerator's view of an SNN, in integers (docs/accel.md, "Numbers").

A `QNet` is a list of `QLayer`s in topological order. A layer is a neuron layer (or the
readout) and the `QSynapse`s that feed it, one per incoming path. All values are integers in
the layer's own unit: output channel m of layer j counts in steps of `scale[m]` (the real
value of one unit), weights are int8, and threshold, bias and initial membrane are integers
in the same unit. A synapse reads a source (a neuron layer's spikes, or the quantized network
input), optionally through a pooling stage, and is a convolution, a dense layer, or an
identity (a residual shortcut: one weight per channel).

Semantics (the fixed-point reference, runtime/fixed.py, is their definition):
    rate coding (IF):  I_t = Σ_syn W·events_t + B;  V += I_t;  s = [V ≥ Θ];  V −= s·Θ (or V = 0)
    MSAT:              the same I_t and V, with the adapted threshold θ_t of snnc/models/fixed_msat.py;
                       an event carries s·g (its charge in units of θ_max/256), not 1
    iLIF:              P = Σ_syn Σ_t 2^(T−1−t)·W·events_t (+ 2^T·W·x for the input) → max-pool
                       (if any) → + 2^T·B + v0;  T times: V ← 2V; s = [V ≥ 2^T·Θ]; V −= s·2^T·Θ
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from snnc import models
from snnc.errors import IRError
from snnc.ir.ops_snn import EXIT_METRICS

SYNAPSE_KINDS = ("conv", "dense", "identity")
POOLS = (None, "avg", "gate")
MODELS = models.names()


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise IRError(message)


def _ints(value, what: str, dtype=np.int64) -> np.ndarray:
    array = np.asarray(value)
    _require(array.dtype.kind in "iu" or (array.dtype.kind == "f" and np.all(array == np.round(array))),
             f"{what} must be integers")  # fmt: skip
    return array.astype(dtype)


def _pads(owner: str, pads, pooled: bool) -> tuple:
    """A pool's (top, left, bottom, right) as ints: (0, 0, 0, 0) for an unpadded pool, () without one."""
    pads = tuple(int(v) for v in pads) or ((0, 0, 0, 0) if pooled else ())
    _require(len(pads) in (0, 4) and min(pads, default=0) >= 0, f"{owner}: pool pads are 4 non-negative integers")
    return pads


def pooled_spatial(spatial, kernel, strides, pads=(0, 0, 0, 0)) -> list[int]:
    """The spatial size of a pool's output: windows over the input inside its pads."""
    return [(size + pads[i] + pads[i + 2] - k) // s + 1 for i, (size, k, s) in enumerate(zip(spatial, kernel, strides))]


@dataclass(eq=False)
class QSynapse:
    """One incoming path: source → [pool] → conv | dense | identity (int8 weights)."""

    source: str
    kind: str
    weight: np.ndarray
    source_shape: tuple
    pool: str | None = None
    pool_kernel: tuple = ()
    pool_strides: tuple = ()
    pool_pads: tuple = ()  # a gate's (top, left, bottom, right): cells that never win (QLayer.pool_pads)
    strides: tuple = ()
    pads: tuple = ()
    dilations: tuple = ()
    groups: int = 1  # a grouped (depthwise: C groups) convolution; weight (O, C/groups, kh, kw)

    def __post_init__(self) -> None:
        _require(self.kind in SYNAPSE_KINDS, f"synapse kind must be one of {SYNAPSE_KINDS}, got {self.kind!r}")
        _require(self.pool in POOLS, f"synapse pool must be one of {POOLS}, got {self.pool!r}")
        self.weight = _ints(self.weight, "synapse weights", np.int8)
        self.source_shape = tuple(int(d) for d in self.source_shape)
        for key in ("pool_kernel", "pool_strides", "strides", "pads", "dilations"):
            setattr(self, key, tuple(int(v) for v in getattr(self, key)))
        self.groups = int(self.groups)
        _require(self.groups >= 1 and (self.groups == 1 or self.kind == "conv"), "only a convolution has groups")
        expected = {"conv": 4, "dense": 2, "identity": 1}[self.kind]
        _require(self.weight.ndim == expected, f"{self.kind} weights must be {expected}-D, got {self.weight.shape}")
        self.pool_pads = _pads(self.name_of_pool(), self.pool_pads, bool(self.pool_kernel))
        if self.pool is not None:
            _require(len(self.pool_kernel) == 2 and len(self.pool_strides) == 2, "pools are 2-D windows")
            _require(self.pool == "gate" or not any(self.pool_pads), "only a gate pool has padding")

    def name_of_pool(self) -> str:
        return f"the pool of a synapse from {self.source!r}"

    @property
    def pooled_shape(self) -> tuple[int, ...]:
        if self.pool is None:
            return self.source_shape
        channels, *spatial = self.source_shape
        return (channels, *pooled_spatial(spatial, self.pool_kernel, self.pool_strides, self.pool_pads))


@dataclass(eq=False)
class QLayer:
    """A neuron layer (kind "neuron") or the readout, with per-output-channel integer parameters."""

    name: str
    kind: str
    shape: tuple
    synapses: list
    bias: np.ndarray
    scale: np.ndarray
    threshold: np.ndarray | None = None
    v0: np.ndarray | None = None
    reset: str = "subtract"
    pool_kernel: tuple = ()  # iLIF: max-pool on the accumulated potential
    pool_strides: tuple = ()
    # (top, left, bottom, right): cells past the potential that never win a window (ONNX pads,
    # and ceil_mode's last windows, which reach past the end pad)
    pool_pads: tuple = ()
    pre_shape: tuple = ()  # the potential's shape before that pool
    depth: int = 1
    msat: dict | None = None  # MSAT layers: the threshold unit's Q8 constants (snnc/models/fixed_msat.py)

    def __post_init__(self) -> None:
        _require(self.kind in ("neuron", "readout"), f"layer kind must be neuron or readout, got {self.kind!r}")
        _require(self.reset in ("subtract", "zero"), f"reset must be subtract or zero, got {self.reset!r}")
        self.shape = tuple(int(d) for d in self.shape)
        self.pre_shape = tuple(int(d) for d in (self.pre_shape or self.shape))
        self.synapses = [s if isinstance(s, QSynapse) else QSynapse(**s) for s in self.synapses]
        _require(len(self.synapses) >= 1, f"layer {self.name!r} has no synapses")
        channels = self.shape[0]
        self.bias = _ints(self.bias, "bias")
        self.scale = np.asarray(self.scale, dtype=np.float64)
        _require(self.bias.shape == (channels,) and self.scale.shape == (channels,),
                 f"layer {self.name!r}: bias and scale need one value per channel ({channels})")  # fmt: skip
        _require(bool(np.all(self.scale > 0)) and bool(np.all(np.isfinite(self.scale))), "scales must be positive")
        if self.kind == "neuron":
            self.threshold = _ints(self.threshold, "threshold")
            self.v0 = _ints(self.v0, "initial membrane")
            _require(self.threshold.shape == (channels,) and bool(np.all(self.threshold >= 1)),
                     f"layer {self.name!r}: thresholds must be integers >= 1, one per channel")  # fmt: skip
            _require(self.v0.shape == (channels,), f"layer {self.name!r}: one initial membrane per channel")
        if self.msat is not None:
            _check_msat(self.name, self.msat)
        self.pool_kernel = tuple(int(v) for v in self.pool_kernel)
        self.pool_strides = tuple(int(v) for v in self.pool_strides)
        self.pool_pads = _pads(f"layer {self.name!r}", self.pool_pads, bool(self.pool_kernel))
        self.depth = int(self.depth)

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))


MSAT_Q8 = ("alpha", "k_a", "inv_k_i", "inv_c", "tau_mp", "tau_rd")  # Q8 integers of snnc/models/fixed_msat.py
MSAT_Q8_LIMIT = 1 << 20  # far beyond any hyperparameter; keeps the unit's int64 products exact


def _check_msat(name: str, msat: dict) -> None:
    """The threshold unit's constants: the keys q8_params writes, each of its type and range."""
    keys = {*MSAT_Q8, "burst", "use_dtt", "use_det", "confidence", "confidence_steps", "seed"}
    _require(isinstance(msat, dict) and set(msat) == keys, f"layer {name!r}: MSAT constants must be {sorted(keys)}")

    def integer(key: str, low: int, high: int) -> bool:
        value = msat[key]
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and low <= value <= high

    for key in MSAT_Q8:
        _require(integer(key, -MSAT_Q8_LIMIT, MSAT_Q8_LIMIT), f"layer {name!r}: MSAT {key} out of range")
    _require(integer("burst", 1, 255), "MSAT burst must be in 1..255")
    _require(integer("confidence_steps", 0, 1 << 16) and integer("seed", 0, 2**63 - 1),
             "MSAT confidence steps and seed must be non-negative integers")  # fmt: skip
    _require(isinstance(msat["use_dtt"], bool) and isinstance(msat["use_det"], bool), "MSAT switches must be booleans")
    confidence = msat["confidence"]
    _require(isinstance(confidence, (int, float)) and not isinstance(confidence, bool) and 0 <= confidence <= 1,
             "MSAT spike confidence must be in [0, 1]")  # fmt: skip


@dataclass(eq=False)
class QNet:
    """The whole quantized network. `input_scale`: the real value of one unit of the int8 input."""

    model: str
    timesteps: int
    input_name: str
    input_shape: tuple
    input_scale: float
    layers: list
    exit_metric: str | None = None
    exit_threshold: float = 2.0
    step_weights: np.ndarray | None = None
    notes: list = field(default_factory=list)

    def __post_init__(self) -> None:
        _require(self.model in MODELS, f"the accel target runs {MODELS}, got {self.model!r}")
        self.timesteps = int(self.timesteps)
        _require(self.timesteps >= 1, "T must be at least 1")
        self.input_shape = tuple(int(d) for d in self.input_shape)
        _require(1 <= len(self.input_shape) <= 3 and min(self.input_shape) >= 1, "the input needs 1 to 3 positive dims")
        self.input_scale = float(self.input_scale)
        _require(self.input_scale > 0 and np.isfinite(self.input_scale), "input scale must be positive")
        _require(self.exit_metric is None or self.exit_metric in EXIT_METRICS,
                 f"the exit metric must be one of {EXIT_METRICS}")  # fmt: skip
        self.exit_threshold = float(self.exit_threshold)
        _require(bool(np.isfinite(self.exit_threshold)), "the exit threshold must be finite")
        self.layers = [x if isinstance(x, QLayer) else QLayer(**x) for x in self.layers]
        names = {self.input_name}
        for layer in self.layers:
            for synapse in layer.synapses:
                _require(synapse.source in names, f"layer {layer.name!r} reads {synapse.source!r} before it exists")
            names.add(layer.name)
        _require(self.layers[-1].kind == "readout", "the last layer must be the readout")
        if self.step_weights is not None:
            self.step_weights = np.asarray(self.step_weights, dtype=np.float32)
            _require(self.step_weights.shape == (self.timesteps,) and bool(np.all(np.isfinite(self.step_weights))),
                     "step weights must be T finite numbers")  # fmt: skip

    def layer(self, name: str) -> QLayer:
        return next(x for x in self.layers if x.name == name)

    @property
    def readout(self) -> QLayer:
        return self.layers[-1]


def to_dict(obj):
    """Generic serialization: dataclasses to dicts, arrays to {"array", "dtype", "shape"}."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, np.ndarray):
        return {"array": obj.ravel().tolist(), "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def _from_value(value):
    if isinstance(value, dict) and set(value) == {"array", "dtype", "shape"}:
        return np.asarray(value["array"], dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    return value


def qnet_from_dict(data: dict) -> QNet:
    def layer(d: dict) -> QLayer:
        fields = {k: _from_value(v) for k, v in d.items() if k != "synapses"}
        synapses = [QSynapse(**{k: _from_value(v) for k, v in s.items()}) for s in d["synapses"]]
        return QLayer(synapses=synapses, **fields)

    fields = {k: _from_value(v) for k, v in data.items() if k != "layers"}
    return QNet(layers=[layer(d) for d in data["layers"]], **fields)
