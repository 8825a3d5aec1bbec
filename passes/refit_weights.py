"""Refit each rate-coded layer's weights to what the SNN feeds it: the advanced calibration of
SNN Calibration (Li et al., ICML 2021), by least squares. correct-bias runs it first when
`weight_correction` is set.

A layer of the converted network does not receive the ANN's activations but the rates of the
spiking layer before it: quantized to T steps, clipped at θ, carrying the errors of every layer
before. Bias correction matches each layer's mean; this matches each image: for a convolution
or dense layer fed by a spiking layer, the weights and bias W', b' that bring W'·r + b'
closest, in least squares over the calibration images and positions, to the ANN's W·a + b,
where r is what the SNN sends (its values averaged over the T steps) and a the ANN's
activation. A ridge pulls W' toward W (relative to the inputs' mean second moment), so a layer
whose inputs are exact keeps its weights. The layers are refitted one after another, in
topological order, each on a simulation of the network with the layers before it refitted (a
layer's inputs move when those before it change; fitted all at once from one simulation, the
MobileNet-style network of the held-out suite lost 3.5 points instead of gaining).

Only layers whose input is a spiking layer's output, directly or through a Reshape, are
refitted: not those behind pooling, an Add or a Concat, nor the first (its input is exact).
"""

from __future__ import annotations

import numpy as np

from snnc.ir import ops_nn as nn
from snnc.ir import ops_tensor as t
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import Neuron

ROWS_PER_UNKNOWN = 8  # a layer is refitted only with this many equations per unknown


def refit_weights(graph: Graph, original: Graph, data: np.ndarray, chunk: int, ctx, simulate, ridge: float) -> None:
    """Refit, in place and in topological order, every layer `refittable` finds that has enough
    equations, to the outputs of `original` (the ANN before any change); `data` simulated
    `chunk` images at a time."""
    from snnc.runtime.ann import execute  # deferred: passes load before the engines

    found = refittable(graph)
    layers = {layer: source for layer, source in found.items() if _equations(graph, layer, len(data)) >= 1}
    for layer, source in layers.items():  # each fitted to what the layers refitted before it send
        system = _Normal(graph.op(layer))
        for start in range(0, len(data), chunk):
            part = data[start : start + chunk]
            sent = simulate(graph, part, ctx.timesteps, record=[source], record_values=True).records[source]
            system.add(sent.mean(axis=1, dtype=np.float64), execute(original, part, keep=[layer])[layer])
        op = graph.op(layer)
        weight, bias = system.solve(ridge)
        graph.replace_op(layer, type(op)(**{**op.attributes(), "weight": weight, "bias": bias}))
    few = len(found) - len(layers)
    left = f"; {few} with too few equations left alone" if few else ""
    ctx.note("correct-bias", f"weights: {len(layers)} layers refitted by least squares on {len(data)} images, "
                             f"one after another{left}")  # fmt: skip


def _equations(graph: Graph, layer: str, images: int) -> float:
    """Equations per unknown of a layer's least squares (per output: images × positions, against
    its weights and bias), in units of ROWS_PER_UNKNOWN."""
    op = graph.op(layer)
    positions = graph.type(layer).sample_size // op.weight.shape[0]
    return images * positions / (ROWS_PER_UNKNOWN * (op.weight[0].size + 1))


def refittable(graph: Graph) -> dict[str, str]:
    """Convolutions and dense layers whose input is a spiking layer's output (through Reshapes
    only): {layer: the spiking layer}."""
    found = {}
    for name in graph.topological():
        if not isinstance(graph.op(name), (nn.Conv, nn.Gemm)):
            continue
        source = graph.inputs_of(name)[0]
        while isinstance(graph.op(source), t.Reshape):
            source = graph.inputs_of(source)[0]
        if isinstance(graph.op(source), Neuron):
            found[name] = source
    return found


class _Normal:
    """The normal equations of one layer's least squares, per group: Σ [x, 1]ᵀ[x, 1] and
    Σ [x, 1]ᵀ y over the images and positions (x: an input window, y: the ANN's output there)."""

    def __init__(self, op) -> None:
        self.op = op
        self.gram = 0.0
        self.moment = 0.0

    def add(self, rates: np.ndarray, target: np.ndarray) -> None:
        inputs, outputs = self._rows(rates, target)  # (groups, rows, K + 1), (groups, rows, O / groups)
        self.gram = self.gram + np.matmul(inputs.transpose(0, 2, 1), inputs)
        self.moment = self.moment + np.matmul(inputs.transpose(0, 2, 1), outputs)

    def _rows(self, rates: np.ndarray, target: np.ndarray):
        op = self.op
        if isinstance(op, nn.Gemm):
            inputs = rates.reshape(1, len(rates), -1)
            outputs = target.reshape(1, len(target), -1).astype(np.float64)
        else:
            from snnc.runtime.ann import im2col  # deferred: passes load before the engines

            cols = im2col(op, rates)  # (N, G, K, P)
            inputs = cols.transpose(1, 0, 3, 2).reshape(op.groups, -1, cols.shape[2])
            per_group = op.weight.shape[0] // op.groups
            y = target.reshape(len(target), op.groups, per_group, -1)  # (N, G, O/G, P)
            outputs = y.transpose(1, 0, 3, 2).reshape(op.groups, -1, per_group).astype(np.float64)
        ones = np.ones((*inputs.shape[:2], 1))
        return np.concatenate([inputs, ones], axis=2), outputs

    def solve(self, ridge: float) -> tuple[np.ndarray, np.ndarray]:
        """W', b' minimizing Σ‖W'x + b' − y‖² + λ‖W' − W‖² (the bias unpulled), per group."""
        op = self.op
        groups = 1 if isinstance(op, nn.Gemm) else op.groups
        weight = op.weight.reshape(groups, op.weight.shape[0] // groups, -1).astype(np.float64)  # (G, O/G, K)
        size = weight.shape[2]
        scale = ridge * np.trace(self.gram[:, :size, :size], axis1=1, axis2=2) / size  # (G,)
        pull = np.zeros((groups, size + 1, size + 1))
        pull[:, np.arange(size), np.arange(size)] = scale[:, None]
        prior = np.concatenate([weight, np.zeros((*weight.shape[:2], 1))], axis=2).transpose(0, 2, 1)
        solution = np.linalg.solve(self.gram + pull, self.moment + pull @ prior)  # (G, K + 1, O/G)
        new_weight = solution[:, :size].transpose(0, 2, 1).reshape(op.weight.shape)
        return new_weight.astype(np.float32), solution[:, size].reshape(-1).astype(np.float32)
