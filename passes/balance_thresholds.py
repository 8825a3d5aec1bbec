"""balance-thresholds: set each neuron's threshold θ to the activation range it must carry.

Data-based (calibration data given): run the ANN view of the graph on the calibration set and
take, per layer or per channel, the p-th percentile of the positive activations (p = 100: the
maximum). A rate-coded neuron saturates at θ (rate ≤ 1), an iLIF neuron at θ·(1 − 2^−T), so θ
trades clipping (θ too low) against resolution (θ too high).

Model-based (no data, with a warning): propagate an upper bound of |x| from an input in
[−1, 1] through the layers (Σ|W|·bound + |b| for weighted ops) and set θ to the bound: safe,
but coarse, so accuracy at low T suffers.

A neuron with a ceiling (from Clip(0, hi)) never gets θ above it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from snnc.passes.base import Pass, PassContext, register_pass
from snnc.passes.settings import setting
from snnc.runtime.ann import execute

from snnc.errors import ConversionError, DataError
from snnc.ir import ops_nn as nn
from snnc.ir import ops_tensor as t
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import Neuron
from snnc.resources import available_memory, check_activation_memory

SAMPLES_PER_BATCH = 400_000  # activations kept per layer and batch (shared among channels) for the percentile


@dataclass
class BalanceThresholdsOptions:
    percentile: float = field(
        default=99.99,
        metadata=setting(
            "percentile", "threshold percentile of activations (100: max); default: the model's", model_default=True
        ),
    )
    per_channel: bool = field(
        default=False,
        metadata=setting("per_channel", "one threshold per channel (default: the model's)", model_default=True),
    )
    batch_size: int = 256

    def __post_init__(self) -> None:
        if not 0 < self.percentile <= 100:
            raise ConversionError(f"--percentile must be in (0, 100], got {self.percentile}")


@register_pass
class BalanceThresholds(Pass):
    name = "balance-thresholds"
    Options = BalanceThresholdsOptions

    def run(self, graph: Graph, ctx: PassContext) -> None:
        neurons = [n for n in graph.topological() if isinstance(graph.op(n), Neuron)]
        if not neurons:
            return
        if ctx.calibration is None:
            ctx.warn(self.name, "no calibration data: thresholds from weight bounds (model-based); pass --calib")
            thresholds = model_based_thresholds(graph)
        else:
            thresholds = self._data_based(graph, neurons, ctx.calibration)
        for name in neurons:
            op = graph.op(name)
            theta = thresholds[name]
            if op.ceiling is not None:
                theta = np.minimum(theta, np.float32(op.ceiling))
            graph.replace_op(name, type(op)(**{**op.attributes(), "threshold": theta.astype(np.float32)}))
        kind = "per channel" if self.options.per_channel else "per layer"
        source = f"p{self.options.percentile:g} of calibration activations" if ctx.calibration is not None else "bounds"
        ctx.note(self.name, f"{len(neurons)} thresholds {kind} from {source}")

    def _data_based(self, graph: Graph, neurons: list[str], data: np.ndarray) -> dict[str, np.ndarray]:
        samples: dict[str, list[np.ndarray]] = {n: [] for n in neurons}
        maxima: dict[str, np.ndarray] = {}
        step = self._batch(graph)
        for start in range(0, len(data), step):
            values = execute(graph, data[start : start + step], keep=True)
            for name in neurons:
                grouped = self._grouped(values[name])  # (groups, values)
                batch_max = grouped.max(axis=1)
                maxima[name] = batch_max if name not in maxima else np.maximum(maxima[name], batch_max)
                samples[name].append(self._subsample(grouped, start))
        return {n: self._threshold(graph, n, maxima[n], samples[n]) for n in neurons}

    def _batch(self, graph: Graph) -> int:
        """The option's batch, smaller where this machine cannot hold its activations (the
        subsample then differs); too little memory for one sample is an error (exit 8)."""
        per_sample = check_activation_memory(graph)
        return max(1, min(self.options.batch_size, available_memory() // (2 * max(per_sample, 1))))

    def _grouped(self, activation: np.ndarray) -> np.ndarray:
        if not self.options.per_channel or activation.ndim < 2:
            return activation.reshape(1, -1)
        return np.moveaxis(activation, 1, 0).reshape(activation.shape[1], -1)

    @staticmethod
    def _subsample(grouped: np.ndarray, seed: int) -> np.ndarray:
        keep = min(grouped.shape[1], max(2_000, SAMPLES_PER_BATCH // grouped.shape[0]))
        index = np.random.default_rng(seed).choice(grouped.shape[1], keep, replace=False)
        return grouped[:, index]

    def _threshold(self, graph: Graph, name: str, maxima: np.ndarray, samples: list[np.ndarray]) -> np.ndarray:
        values = np.concatenate(samples, axis=1)
        if self.options.percentile >= 100:
            theta = maxima.astype(np.float64)
        else:
            positive = np.where(values > 0, values, np.nan)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a silent channel: all NaN, handled below
                theta = np.nanpercentile(positive, self.options.percentile, axis=1) if positive.size else maxima
            theta = np.where(np.isnan(theta), 0.0, theta)
        fallback = float(theta.max()) if theta.max() > 0 else 1.0
        theta = np.where(theta > 0, theta, fallback)  # a silent layer/channel: any θ will do
        if not np.all(np.isfinite(theta)):
            raise DataError(f"neuron {name!r}: activations on the calibration data are not finite")
        shape = (-1,) + (1,) * (graph.type(name).rank - 2) if self.options.per_channel else ()
        return theta.reshape(shape) if self.options.per_channel else np.float32(theta[0])


def model_based_thresholds(graph: Graph, input_bound: float = 1.0) -> dict[str, np.ndarray]:
    """θ = an upper bound of each neuron's input, propagated layer by layer."""
    bound: dict[str, float] = {}
    thresholds: dict[str, np.ndarray] = {}
    for node in graph.nodes():
        inputs = [bound[i] for i in node.inputs]
        op = node.op
        if isinstance(op, t.Input):
            value = input_bound
        elif isinstance(op, (nn.Conv, nn.Gemm)):
            fan_in = np.abs(op.weight).reshape(op.weight.shape[0], -1).sum(axis=1)
            value = float((fan_in * inputs[0] + np.abs(op.bias)).max())
        elif isinstance(op, nn.BatchNorm):
            a, b = op.folded()
            value = float(np.abs(a).max() * inputs[0] + np.abs(b).max())
        elif isinstance(op, t.MulConst):
            value = float(np.abs(op.value).max()) * inputs[0]
        elif isinstance(op, t.AddConst):
            value = inputs[0] + float(np.abs(op.value).max())
        elif isinstance(op, t.Add):
            value = sum(inputs)
        elif isinstance(op, Neuron):
            value = inputs[0] if op.ceiling is None else min(inputs[0], op.ceiling)
            thresholds[node.name] = np.float32(max(value, 1e-6))
        elif isinstance(op, t.Pad):
            value = max(inputs[0], abs(op.value))
        else:  # pooling, layout and the like do not grow |x|
            value = max(inputs) if inputs else input_bound
        bound[node.name] = value
    return thresholds
