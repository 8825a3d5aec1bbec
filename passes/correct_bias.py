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
cpu target's native code), on every calibration image up to `images`; else on the numpy
reference, on as many images as REFERENCE_SAMPLE_STEPS allows at T (it simulates a convolution
per step of every image). Both record what each step sends (MSAT's spikes carry their adapted
threshold).

With `weight_correction` (off by default), passes/refit_weights.py first refits the weights of
the layers fed by spiking layers, by least squares against the ANN's outputs image by image
(SNN Calibration's advanced calibration); the bias rounds then correct the mean that is left.
Both aim at the ANN as it was before either changed anything.

Rate coding only: iLIF's output is the ANN's activation quantized by flooring to T bits (with
v_init = 0.5, rounding), whose mean error is already about zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from snnc.passes.base import Pass, PassContext, register_pass
from snnc.passes.refit_weights import refit_weights
from snnc.passes.settings import setting

from snnc import models
from snnc.errors import ConversionError, UnsupportedError
from snnc.ir import ops_nn as nn
from snnc.ir import ops_tensor as t
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import Neuron, Readout

SIMULATION_BYTES = 768 << 20  # what one simulation may hold (trains, records): it bounds the images at a time
REFERENCE_SAMPLE_STEPS = 1024  # images × T on the numpy reference (seconds on the fixtures)


@dataclass
class CorrectBiasOptions:
    enabled: bool = field(
        default=False,
        metadata=setting("bias_correction", "rate coding: correct each layer's bias by the mean error of its "
                         "spikes on the calibration data (default: the model's)", model_default=True),
    )  # fmt: skip
    weights: bool = field(
        default=False,
        metadata=setting("weight_correction", "rate coding: first refit each layer's weights, by least squares, "
                         "to the spike rates that feed it on the calibration data (SNN Calibration's advanced "
                         "calibration; passes/refit_weights.py)"),
    )  # fmt: skip
    images: int = 64  # calibration images simulated, at most
    rounds: int = 5
    step: float = 0.7  # the share of each round's measured error corrected
    ridge: float = 1e-2  # the refit's pull toward the ANN's weights (passes/refit_weights.py)

    def __post_init__(self) -> None:
        if self.images < 1 or self.rounds < 0 or not 0 < self.step <= 1 or not self.ridge > 0:
            raise ConversionError(f"correct-bias needs images >= 1, rounds >= 0, 0 < step <= 1 and ridge > 0, got "
                                  f"images={self.images}, rounds={self.rounds}, step={self.step}, "
                                  f"ridge={self.ridge}")  # fmt: skip


@register_pass
class CorrectBias(Pass):
    name = "correct-bias"
    Options = CorrectBiasOptions

    def run(self, graph: Graph, ctx: PassContext) -> None:
        if not (self.options.enabled or self.options.weights) or ctx.calibration is None:
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

        simulate = engine(graph, ctx)
        data, chunk = simulation_images(graph, neurons, ctx, simulate, self.options.images)
        original = graph.copy() if self.options.weights else graph  # the targets: the ANN before any change
        if self.options.weights:
            refit_weights(graph, original, data, chunk, ctx, simulate, self.options.ridge)
        if not self.options.enabled:
            return
        ann = execute(original, data, keep=layers)
        targets = {name: _channel_mean(ann[name], channel_axis=1) for name in layers}
        owners = {name: bias_owner(graph, graph.inputs_of(name)[0]) for name in layers}
        owners = {name: owner for name, owner in owners.items() if owner is not None}
        for _ in range(self.options.rounds):
            means = _means(graph, data, chunk, ctx.timesteps, neurons, simulate)
            for name, owner in owners.items():
                _add_to_bias(graph, owner, self.options.step * (targets[name] - means[name]))
        # the readout is linear: a last correction on the final simulation makes its mean the ANN's
        means = _means(graph, data, chunk, ctx.timesteps, neurons, simulate)
        if readout in owners:
            _add_to_bias(graph, owners[readout], targets[readout] - means[readout])
        left = max((float(np.abs(targets[n] - means[n]).max()) for n in owners if n != readout), default=0.0)
        ctx.note(self.name, f"{len(owners)} biases corrected on {len(data)} images, {self.options.rounds} rounds "
                            f"(largest mean error left in a neuron layer: {left:.3g})")  # fmt: skip


def engine(graph: Graph, ctx: PassContext):
    """The context's engine (the cpu target's native code) where it runs this graph, else the
    numpy reference, which runs every graph."""
    if ctx.simulate is not None and _runs_on(ctx.simulate, graph, ctx):
        return ctx.simulate
    return _reference


def simulation_images(graph: Graph, neurons: list[str], ctx: PassContext, simulate, images: int):
    """(the images to simulate, how many at a time). Up to `images` on the native engine, on the
    reference as many as REFERENCE_SAMPLE_STEPS allows at T; simulated in chunks whose trains of
    the largest layer and records of all layers (float values; natively also the engine's spike
    bytes) stay within SIMULATION_BYTES."""
    images = min(images, len(ctx.calibration))
    if simulate is _reference:
        images = min(images, max(1, REFERENCE_SAMPLE_STEPS // ctx.timesteps))
    sizes = [graph.type(n).sample_size for n in neurons]
    per_image = ctx.timesteps * (4 * max(sizes) + 5 * sum(sizes))
    return ctx.calibration[:images], max(1, SIMULATION_BYTES // per_image)


def _reference(graph: Graph, data, timesteps: int, **kwargs):
    from snnc.runtime.snn import simulate  # deferred: passes load before the engines

    return simulate(graph, data, timesteps, **kwargs)


def _means(graph: Graph, data, chunk: int, timesteps: int, neurons: list[str], simulate) -> dict[str, np.ndarray]:
    """Each neuron layer's output and the logits, per channel, averaged over the images (every
    image weighs the same: each has the same positions and steps)."""
    sums: dict[str, np.ndarray] = {}
    for start in range(0, len(data), chunk):
        part = data[start : start + chunk]
        result = simulate(graph, part, timesteps, record=neurons, record_values=True)
        means = {n: _channel_mean(result.records[n], channel_axis=2) for n in neurons}
        means[graph.outputs[0]] = _channel_mean(result.logits, channel_axis=1)
        for name, mean in means.items():
            sums[name] = sums.get(name, 0.0) + mean * len(part)
    return {name: total / len(data) for name, total in sums.items()}


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


def _channel_mean(value: np.ndarray, channel_axis: int) -> np.ndarray:
    """The mean over every axis but the channels', in float64 (records may be views of another
    layout: numpy sums them in memory order)."""
    others = tuple(axis for axis in range(value.ndim) if axis != channel_axis)
    return value.sum(axis=others, dtype=np.float64) / (value.size // value.shape[channel_axis])
