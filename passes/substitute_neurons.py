"""substitute-neurons: every ReLU becomes a spiking neuron; each output gets a readout.

    relu                 →  neuron(model, θ = 1 until balance-thresholds, reset, v_init)
    clip(0, hi)          →  neuron, θ capped at hi by balance-thresholds (a neuron saturates at θ)
    output o             →  readout(o)

MSAT neurons take the published VGG hyperparameters with bursts of up to 2 spikes per step
(preset "auto"); `msat` overrides them key by key (e.g. {"preset": "resnet", "alpha": 0.1}); each
neuron gets its own seed for spike confidence. Why bursts: in snnc's normalized units the VGG
dynamics hold θ_t near 0.65·θ_max, so a binary neuron falls behind any larger activation until
its membrane has risen enough to lift θ_t, and the charge left there decays slowly with T (a
constant 0.9·θ_max comes out 0.124, 0.054 and 0.020·θ_max short at T = 32, 128, 512; IF's error
is below θ/2T); γ = 2 lifts the ceiling to 1.3·θ_max (off by 0.007, 0.001, 0.0005). On held-out
training images γ = 2 is closer to the ANN's logits than γ = 1 at every T from 8 to 128 on both
fixtures, and γ = 3 is within 1.4 % of γ = 2 (bench/msat_heldout.py; the figures: issue 4's
section of `git show 88d5220:BENCHMARKS.md`). Why not the published ResNet preset for residual
networks: its τ_mp = 0.2, τ_rd = 0.1 hold θ_t near 0.5·θ_max, and it falls behind IF from T = 32
on.

An activation without a spiking form (sigmoid, tanh, leaky-relu, a clip not starting at 0),
LRN, or a softmax inside the network is an error naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snnc.passes.base import Pass, PassContext, register_pass
from snnc.passes.settings import setting

from snnc import models
from snnc.errors import ConversionError, IRError, UsageError
from snnc.ir.graph import Graph
from snnc.ir.ops_nn import LRN
from snnc.ir.ops_snn import MSAT_DYNAMICS, MSAT_PRESETS, NEURON_MODELS, RESET_MODES, MsatNeuron, Neuron, Readout
from snnc.ir.ops_tensor import Clip, LeakyRelu, Relu, Sigmoid, Softmax, Tanh

MSAT_KEYS = (*MSAT_DYNAMICS, "confidence_steps", "seed", "preset")
AUTO_MSAT = ("vgg", {"burst": 2})  # preset "auto": the VGG dynamics with bursts of up to 2

NO_SPIKING_FORM = (Sigmoid, Tanh, LeakyRelu, LRN, Softmax)


@dataclass
class SubstituteNeuronsOptions:
    model: str = field(default="ilif", metadata=setting("neuron", "the neuron model", models.names()))
    reset: str = field(default="subtract", metadata=setting("reset", "reset by subtraction or to zero", RESET_MODES))
    v_init: float = field(default=0.5, metadata=setting(
        "v_init", "initial membrane, in thresholds (IF, MSAT) or steps (iLIF); default: the model's",
        model_default=True))  # fmt: skip
    msat: dict | None = field(default=None, metadata=setting(
        "msat", "MSAT hyperparameters: preset (auto|vgg|resnet; auto: vgg with burst 2), alpha, k_a, k_i, c_det, "
        "tau_mp, tau_rd, burst, units (absolute|normalized), use_dtt, use_det, confidence_steps, seed",
        metavar="KEY=VALUE,..."))  # fmt: skip

    def __post_init__(self) -> None:
        self._check_msat(dict(self.msat or {}))
        if self.model not in NEURON_MODELS:
            raise ConversionError(f"neuron model must be one of {NEURON_MODELS}, got {self.model!r}")
        if self.reset not in RESET_MODES:
            raise ConversionError(f"reset must be one of {RESET_MODES}, got {self.reset!r}")
        resets = models.model(self.model).resets
        if self.reset not in resets:
            raise ConversionError(f"{self.model} needs --reset {' or '.join(resets)}")

    @staticmethod
    def _check_msat(values: dict) -> None:
        """Bad MSAT settings are a usage error, caught before any work (a probe neuron checks the values)."""
        unknown = sorted(set(values) - set(MSAT_KEYS))
        if unknown:
            raise UsageError(f"unknown MSAT hyperparameter(s) {unknown}; known: {', '.join(MSAT_KEYS)}")
        preset = values.pop("preset", "auto")
        if preset not in ("auto", *MSAT_PRESETS):
            raise UsageError(f"MSAT preset must be auto, {' or '.join(MSAT_PRESETS)}; got {preset!r}")
        try:
            MsatNeuron(threshold=1.0, **values)
        except (IRError, TypeError, ValueError) as exc:
            raise UsageError(f"MSAT hyperparameters: {exc}") from None


@register_pass
class SubstituteNeurons(Pass):
    name = "substitute-neurons"
    Options = SubstituteNeuronsOptions

    def run(self, graph: Graph, ctx: PassContext) -> None:
        self.msat = self._msat_parameters(graph, ctx) if self.options.model == MsatNeuron.model else {}
        self._seeds = 0  # one seed per neuron layer, in topological order
        count = 0
        for name in graph.topological():
            op = graph.op(name)
            if isinstance(op, NO_SPIKING_FORM):
                raise ConversionError(self._no_spiking_form(name, op))
            if isinstance(op, Clip) and op.min != 0.0:
                raise ConversionError(f"node {name!r} clips at {op.min}, not 0: a neuron cannot emit negative values")
            if isinstance(op, (Relu, Clip)):
                limit = op.max if isinstance(op, Clip) and op.max is not None else None
                graph.replace_op(name, self._neuron(limit))
                count += 1
        for output in list(graph.outputs):
            readout = graph.add(Readout(), [output], f"{output}/readout")
            graph.outputs = [readout if o == output else o for o in graph.outputs]
        ctx.note(self.name, f"{count} relu → {self.options.model} neurons ({self.options.reset} reset)")

    def _neuron(self, ceiling: float | None) -> Neuron:
        threshold = 1.0 if ceiling is None else ceiling
        if self.options.model == MsatNeuron.model:
            seed = self.msat.get("seed", 0) * 1_000_003 + self._seeds
            self._seeds += 1
            return MsatNeuron(threshold=threshold, reset=self.options.reset, v_init=self.options.v_init,
                              ceiling=ceiling, **{**self.msat, "seed": seed})  # fmt: skip
        return Neuron(self.options.model, threshold, self.options.reset, self.options.v_init, ceiling)

    def _msat_parameters(self, graph: Graph, ctx: PassContext) -> dict:
        overrides = dict(self.options.msat or {})
        preset, settings = overrides.pop("preset", "auto"), {}
        if preset == "auto":
            preset, settings = AUTO_MSAT
        parameters = {**MSAT_PRESETS[preset], **settings, **overrides}
        shown = ", ".join(f"{k}={v}" for k, v in parameters.items())
        ctx.note(self.name, f"msat: {preset} defaults{' with overrides' if overrides else ''}: {shown}")
        return parameters

    @staticmethod
    def _no_spiking_form(name: str, op) -> str:
        if isinstance(op, Softmax):
            return f"softmax {name!r} is inside the network: only a softmax at the output can be dropped"
        return (
            f"node {name!r} ({op.name}) has no spiking form: snnc converts ReLU networks; "
            "retrain with ReLU (or Clip(0, hi)) activations, or remove it"
        )
