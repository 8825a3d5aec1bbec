"""correct-bias: shift each rate-coded layer's bias so that its spikes carry, on average, what
the ANN's activations do (the light calibration of SNN Calibration, Li et al., ICML 2021).

A converted layer's output differs from the ANN's activation by an error whose mean is not
zero: quantization to T steps, clipping at θ, and the errors of the layers before it. The SNN
runs on calibration images; each layer's output mean per channel (over images, positions and
steps) is compared with the ANN's, and the difference is added to the layer's input current:
to the bias of the convolution or dense layer that feeds it, or of the branch of a residual
Add that has one. A layer's error moves when the layers before it are corrected, and a
neuron's output is not linear in its current (it fires only above 0, at most once a step), so
all layers are corrected together, `rounds` times, each round on a new simulation and by
`step` of the error it measures (all at once, a layer would also take the share of its error
that the layers before it are correcting: damped, the rounds converge). The
readout's input is corrected the same way (the logits' mean per class).

The simulations run on the pass context's engine when the driver gives one (`simulate`: the
cpu target's native code) and IF's spike records give its output (each spike sends θ), on
every calibration image up to `images`; else on the numpy reference (MSAT, whose spikes carry
their adapted threshold, records what it sends), on as many images as REFERENCE_SAMPLE_STEPS
allows at T (it simulates a convolution per step of every image).

Rate coding only: iLIF's output is the ANN's activation quantized by flooring to T bits (with
v_init = 0.5, rounding), whose mean error is already about zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from snnc.passes.base import Pass, PassContext, register_pass
from snnc.passes.settings import setting

from snnc import models
from snnc.errors import ConversionError, UnsupportedError
from snnc.ir import ops_nn as nn
from snnc.ir import ops_tensor as t
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import Neuron, Readout

SIMULATION_BYTES = 768 << 20  # the trains of the largest layer a simulation may hold: it bounds the images
REFERENCE_SAMPLE_STEPS = 1024  # images × T on the numpy reference (seconds on the fixtures)


@dataclass
class CorrectBiasOptions:
    enabled: bool = field(
        default=False,
        metadata=setting("bias_correction", "rate coding: correct each layer's bias by the mean error of its "
                         "spikes on the calibration data (default: the model's)", model_default=True),
    )  # fmt: skip
    images: int = 64  # calibration images simulated, at most
    rounds: int = 5
    step: float = 0.7  # the share of each round's measured error corrected

    def __post_init__(self) -> None:
        if self.images < 1 or self.rounds < 0 or not 0 < self.step <= 1:
            raise ConversionError(f"correct-bias needs images >= 1, rounds >= 0 and 0 < step <= 1, got "
                                  f"images={self.images}, rounds={self.rounds}, step={self.step}")  # fmt: skip


@register_pass
class CorrectBias(Pass):
    name = "correct-bias"
    Options = CorrectBiasOptions

    def run(self, graph: Graph, ctx: PassContext) -> None:
        if not self.options.enabled or ctx.calibration is None:
            return
        neurons = [n for n in graph.topological() if isinstance(graph.op(n), Neuron)]
        if not neurons:
            return
        readouts = [n for n in graph.outputs if isinstance(graph.op(n), Readout)]
        readout = readouts[0] if len(graph.outputs) == 1 and readouts else None  # logits: the one output
        layers = neurons + ([readout] if readout else [])
        model = models.model(graph.op(neurons[0]).model)
        if model.coding.bit_plane:
            ctx.note(self.name, "skipped: bit-plane coding's mean error is about zero already")
            return
        from snnc.runtime.ann import execute  # deferred: passes load before the engines

        simulate = self._engine(ctx, model.spikes_carry_theta)
        if simulate is not None and not _runs_on(simulate, graph, ctx):
            simulate = None  # an op the native engine lacks: the reference runs every graph
        data = ctx.calibration[: self._images(graph, neurons, ctx, simulate is not None)]
        ann = execute(graph, data, keep=layers)
        targets = {name: _channel_mean(ann[name], channel_axis=1) for name in layers}
        owners = {name: bias_owner(graph, graph.inputs_of(name)[0]) for name in layers}
        owners = {name: owner for name, owner in owners.items() if owner is not None}
        for _ in range(self.options.rounds):
            means = self._means(graph, data, ctx.timesteps, neurons, simulate)
            for name, owner in owners.items():
                _add_to_bias(graph, owner, self.options.step * (targets[name] - means[name]))
        # the readout is linear: a last correction on the final simulation makes its mean the ANN's
        means = self._means(graph, data, ctx.timesteps, neurons, simulate)
        if readout in owners:
            _add_to_bias(graph, owners[readout], targets[readout] - means[readout])
        left = max((float(np.abs(targets[n] - means[n]).max()) for n in owners if n != readout), default=0.0)
        ctx.note(self.name, f"{len(owners)} biases corrected on {len(data)} images, {self.options.rounds} rounds "
                            f"(largest mean error left in a neuron layer: {left:.3g})")  # fmt: skip

    @staticmethod
    def _engine(ctx: PassContext, records_give_output: bool):
        """The context's engine where its spike records give the output, else None (the reference)."""
        return ctx.simulate if ctx.simulate is not None and records_give_output else None

    def _images(self, graph: Graph, neurons: list[str], ctx: PassContext, native: bool) -> int:
        """Images to simulate: the option's, fewer where an image's trains of the largest layer
        (float) and the records of all layers (a byte a spike natively, a float on the reference)
        would pass SIMULATION_BYTES, or its steps REFERENCE_SAMPLE_STEPS on the reference."""
        sizes = [graph.type(n).sample_size for n in neurons]
        per_image = ctx.timesteps * (4 * max(sizes) + (1 if native else 4) * sum(sizes))
        fitting = SIMULATION_BYTES // per_image
        if not native:
            fitting = min(fitting, REFERENCE_SAMPLE_STEPS // ctx.timesteps)
        return max(1, min(self.options.images, len(ctx.calibration), fitting))

    @staticmethod
    def _means(graph: Graph, data, timesteps: int, neurons: list[str], simulate) -> dict[str, np.ndarray]:
        """Each neuron layer's output and the logits, per channel, averaged over the images."""
        if simulate is None:
            from snnc.runtime.snn import simulate as reference

            result = reference(graph, data, timesteps, record=neurons, record_values=True)
            sent = result.records
        else:
            result = simulate(graph, data, timesteps, record=neurons)
            sent = {n: (result.records[n], graph.op(n).threshold) for n in neurons}
        means = {n: _channel_mean(sent[n], channel_axis=2) for n in neurons}
        means[graph.outputs[0]] = _channel_mean(result.logits, channel_axis=1)
        return means


def _runs_on(simulate, graph: Graph, ctx: PassContext) -> bool:
    """Whether the context's engine runs this graph (one image, one step)."""
    try:
        simulate(graph, ctx.calibration[:1], 1)
    except UnsupportedError:
        return False
    return True


def _add_to_bias(graph: Graph, owner: str, shift: np.ndarray) -> None:
    op = graph.op(owner)
    graph.replace_op(owner, type(op)(**{**op.attributes(), "bias": (op.bias + shift).astype(np.float32)}))


def bias_owner(graph: Graph, producer: str) -> str | None:
    """The op whose bias moves `producer`'s output by the same amount per channel: a convolution
    or dense layer (or batch norm) read by nothing else, or such an op on one branch of an Add
    (its output shape the Add's). None when there is none (pooling between, a shared output)."""
    op = graph.op(producer)
    if isinstance(op, (nn.Conv, nn.Gemm, nn.BatchNorm)):
        return producer if len(graph.users(producer)) == 1 and producer not in graph.outputs else None
    if isinstance(op, t.Add):
        for branch in graph.inputs_of(producer):
            if graph.type(branch).shape == graph.type(producer).shape and bias_owner(graph, branch) == branch:
                return branch
    return None


def _channel_mean(value, channel_axis: int) -> np.ndarray:
    """The mean over every axis but the channels', in float64; `value` an array, or (spike
    records, θ per channel) whose mean is the spikes' times θ. Summed as (before, C, after),
    the inner axis contiguous (spike records are large)."""
    theta = None
    if isinstance(value, tuple):
        value, theta = value
    channels = value.shape[channel_axis]
    grouped = value.reshape(int(np.prod(value.shape[:channel_axis])), channels, -1)
    exact = np.int64 if value.dtype.kind in "ui" else np.float64
    sums = grouped.sum(axis=2, dtype=exact).sum(axis=0, dtype=exact)
    mean = sums.astype(np.float64) / (grouped.shape[0] * grouped.shape[2])
    return mean if theta is None else mean * np.asarray(theta, dtype=np.float64).reshape(-1)
