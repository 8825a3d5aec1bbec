"""balance-thresholds: set each neuron's threshold θ to the activation range it must carry.

Data-based (calibration data given): run the ANN view of the graph on the calibration set (on
onnxruntime, in batches small enough that the neurons' values of one batch stay within
CALIBRATION_BYTES; option engine=reference: the numpy reference) and take, per layer or per
channel, the p-th percentile of the positive activations (p = 100: the maximum). A rate-coded
neuron saturates at θ (rate ≤ 1), an iLIF neuron at θ·(1 − 2^−T), so θ trades
clipping (θ too low) against resolution (θ too high).

Model-based (no data, with a warning): propagate an upper bound of |x| from an input in
[−1, 1] through the layers (Σ|W|·bound + |b| for weighted ops) and set θ to the bound: safe,
but coarse, so accuracy at low T suffers.

Data-based thresholds are kept in the pass context's cache, keyed by the graph, the data, the
options and this code, so a second compile of the same model skips the calibration.

A neuron with a ceiling (from Clip(0, hi)) never gets θ above it.
"""

from __future__ import annotations

import functools
import hashlib
import io
import sys
import warnings
import zipfile
from dataclasses import dataclass, field

import numpy as np
from snnc.passes.base import Pass, PassContext, register_pass
from snnc.passes.settings import setting

from snnc import models
from snnc.errors import ConversionError, DataError
from snnc.files import source_hash
from snnc.ir import ops_nn as nn
from snnc.ir import ops_tensor as t
from snnc.ir.graph import Graph
from snnc.ir.ops_snn import Neuron
from snnc.ir.text import graph_digest
from snnc.progress import progress
from snnc.resources import available_memory, check_activation_memory
from snnc.timing import showing

SAMPLES_PER_BATCH = 400_000  # activations kept per layer and batch (shared among channels) for the percentile
SAMPLE_BUDGET = 64 << 20  # activations kept in all (256 MiB): beyond it, each batch keeps fewer
CALIBRATION_BYTES = 128 << 20  # the neurons' values of one batch: ResNet-50 at 224², 3 images
ENGINES = ("onnxruntime", "reference")
THRESHOLD_METHODS = ("percentile", "error")
COARSE = np.geomspace(0.02, 1.0, 24)  # the error method's first θ candidates, as fractions of the maximum
COARSE_RATIO = float(COARSE[1] / COARSE[0])
REFINE = 4  # then this many finer steps on each side of the best, within one coarse step
ERROR_SAMPLES = 1024  # activations per group the error is measured on (a seeded subsample)


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
    thresholds: str = field(
        default="percentile",
        metadata=setting("thresholds", "how θ is chosen from the calibration activations: a percentile, or the "
                         "θ that minimizes the coding's expected error at the target T (default: the model's)",
                         THRESHOLD_METHODS, model_default=True),
    )  # fmt: skip
    batch_size: int = 256
    engine: str = "onnxruntime"  # what runs the ANN: onnxruntime, or the numpy reference (the oracle)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConversionError(f"balance-thresholds engine must be one of {ENGINES}, got {self.engine!r}")
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
            ctx.note(self.name, "data-free: thresholds from weight bounds (far below calibrated accuracy)")
            thresholds = model_based_thresholds(graph)
        else:
            thresholds = self._cached(graph, neurons, ctx)
        for name in neurons:
            op = graph.op(name)
            theta = thresholds[name]
            if op.ceiling is not None:
                theta = np.minimum(theta, np.float32(op.ceiling))
            graph.replace_op(name, type(op)(**{**op.attributes(), "threshold": theta.astype(np.float32)}))
        kind = "per channel" if self.options.per_channel else "per layer"
        source = "bounds"
        if ctx.calibration is not None:
            source = (f"the least expected error at T={ctx.timesteps}" if self.options.thresholds == "error"
                      else f"p{self.options.percentile:g} of calibration activations")  # fmt: skip
        ctx.note(self.name, f"{len(neurons)} thresholds {kind} from {source}")

    def _cached(self, graph: Graph, neurons: list[str], ctx: PassContext) -> dict[str, np.ndarray]:
        """Data-based thresholds, from the cache when it holds them for this graph and data."""
        key = None if ctx.cache is None else self._cache_key(graph, ctx.calibration, ctx.timesteps)
        if key is not None:
            thresholds = _decode(ctx.cache.get(key), neurons)
            if thresholds is not None:
                ctx.note(self.name, "calibration results from the cache")
                return thresholds
        thresholds = self._data_based(graph, neurons, ctx)
        if key is not None:
            ctx.cache.put(key, _encode(thresholds))
        return thresholds

    def _cache_key(self, graph: Graph, data: np.ndarray, timesteps: int) -> str:
        digest = hashlib.sha256(b"balance-thresholds\0" + _code_version().encode() + repr(self.options).encode())
        if self.options.thresholds == "error":  # the error weighed is the one at this T
            digest.update(f"T={timesteps}".encode())
        digest.update(graph_digest(graph).encode())
        digest.update(repr((data.dtype.str, data.shape)).encode())
        digest.update(np.ascontiguousarray(data).view(np.uint8).data)
        return digest.hexdigest()

    def _data_based(self, graph: Graph, neurons: list[str], ctx: PassContext) -> dict[str, np.ndarray]:
        """Per batch of the ANN's activations, each group's maximum and a subsample (summarize_batch):
        in this process, or on a cluster's workers when the driver gives a `mapper`."""
        from snnc.runtime.ort import map_batches  # deferred: it loads onnx (start-up time)

        data = ctx.calibration
        samples: dict[str, list[np.ndarray]] = {n: [] for n in neurons}
        maxima: dict[str, np.ndarray] = {}
        batch = self._batch(graph, neurons)
        share = self._sample_share(graph, neurons, batch, -(-len(data) // batch))
        summarize = functools.partial(summarize_batch, neurons=neurons, per_channel=self.options.per_channel,
                                      share=share)  # fmt: skip
        mapped = (ctx.mapper or map_batches)(graph, data, neurons, batch, self.options.engine, summarize)
        with progress(len(data), "calibrate", quiet=not showing()) as bar:
            for start, summary in mapped:
                for name, (batch_max, subsample) in summary.items():
                    maxima[name] = batch_max if name not in maxima else np.maximum(maxima[name], batch_max)
                    samples[name].append(subsample)
                bar.update(min(batch, len(data) - start))
        return {n: self._threshold(graph, n, maxima[n], samples[n], ctx.timesteps) for n in neurons}

    def _batch(self, graph: Graph, neurons: list[str]) -> int:
        """The option's batch, smaller where the neurons' values would pass CALIBRATION_BYTES or
        this machine cannot hold a batch's activations (the subsample then differs); too little
        memory for one sample is an error (exit 8)."""
        per_sample = check_activation_memory(graph)
        kept = 4 * sum(graph.type(name).sample_size for name in neurons)
        fits = min(CALIBRATION_BYTES // max(kept, 1), available_memory() // (2 * max(per_sample, 1)))
        return max(1, min(self.options.batch_size, fits))

    def _sample_share(self, graph: Graph, neurons: list[str], batch: int, batches: int) -> float:
        """The share of each batch's subsample kept, so that all batches' stay within SAMPLE_BUDGET
        (1 on the fixtures; ResNet-50 at 224², 64 images: about a sixth)."""
        kept = 0
        for name in neurons:
            shape = graph.type(name).sample_shape
            groups = shape[0] if self.options.per_channel and len(shape) >= 1 else 1
            per_group = batch * int(np.prod(shape)) // groups
            kept += groups * min(per_group, _per_group_keep(groups)) * batches
        return min(1.0, SAMPLE_BUDGET / max(kept, 1))

    def _threshold(self, graph: Graph, name: str, maxima: np.ndarray, samples: list[np.ndarray],
                   timesteps: int) -> np.ndarray:  # fmt: skip
        values = np.concatenate(samples, axis=1)
        if self.options.thresholds == "error":
            theta = least_error_thresholds(graph.op(name), values, maxima, timesteps)
        elif self.options.percentile >= 100:
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


def summarize_batch(start: int, values: dict[str, np.ndarray], neurons: list[str], per_channel: bool,
                    share: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """{neuron: (each group's maximum, a subsample of its values)} for the batch of calibration
    activations that starts at image `start` (the subsample's seed: the same wherever it runs)."""
    summary = {}
    for name in neurons:
        activation = values[name]
        if not per_channel or activation.ndim < 2:
            grouped = activation.reshape(1, -1)
        else:
            grouped = np.moveaxis(activation, 1, 0).reshape(activation.shape[1], -1)
        keep = min(grouped.shape[1], max(1, int(share * _per_group_keep(grouped.shape[0]))))
        index = np.random.default_rng(start).choice(grouped.shape[1], keep, replace=False)
        summary[name] = (grouped.max(axis=1), grouped[:, index])
    return summary


def least_error_thresholds(op: Neuron, values: np.ndarray, maxima: np.ndarray, timesteps: int) -> np.ndarray:
    """Per group (a row of `values`, the ANN's activations), the θ that minimizes the mean
    squared difference between the activations and what the neuron model carries for them at
    T (models: expected_output): clipping above θ against quantization steps of θ/T (rate) or
    θ/2^T (iLIF). Searched on a geometric grid of fractions of the group's maximum (COARSE),
    then finer around the best (REFINE steps each way), on at most ERROR_SAMPLES of the group's
    values. A θ above the neuron's ceiling is never better than the ceiling (the activations
    stop there), so the candidates stop at it."""
    model = models.model(op.model)
    if values.shape[1] > ERROR_SAMPLES:
        values = values[:, np.random.default_rng(0).choice(values.shape[1], ERROR_SAMPLES, replace=False)]
    values, maxima = values.astype(np.float32), np.asarray(maxima, dtype=np.float32)
    best_error, best = np.full(len(values), np.inf), maxima.copy()

    def consider(theta: np.ndarray) -> None:
        nonlocal best_error, best
        if op.ceiling is not None:
            theta = np.minimum(theta, op.ceiling)
        theta = np.where(theta > 0, theta, 1.0)
        carried = model.expected_output(values, theta[:, None], timesteps, op.v_init, op.reset)
        error = np.mean((values - carried) ** 2, axis=1)
        better = error < best_error
        best_error, best = np.where(better, error, best_error), np.where(better, theta, best)

    for fraction in COARSE:
        consider(maxima * fraction)
    coarse_best = best.copy()
    for step in range(-REFINE, REFINE + 1):
        consider(coarse_best * COARSE_RATIO ** (step / REFINE))
    return best


@functools.cache
def _code_version() -> str:
    """What the thresholds depend on besides graph, data and options: this code and the engines'."""
    import onnxruntime
    from snnc.runtime import ann, ort

    from snnc.frontend import export
    from snnc.models import base as models_base

    code = source_hash(sys.modules[__name__], export, ort, ann, models_base)
    return f"{code}|onnxruntime {onnxruntime.__version__}|numpy {np.__version__}"


def _encode(thresholds: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{f"t{i}": np.asarray(theta) for i, theta in enumerate(thresholds.values())},
             names=np.array(list(thresholds)))  # fmt: skip
    return buffer.getvalue()


def _decode(data: bytes | None, neurons: list[str]) -> dict[str, np.ndarray] | None:
    """The cached thresholds (None when absent, or not for these neurons)."""
    if data is None:
        return None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            names = [str(n) for n in arrays["names"]]
            thresholds = {name: arrays[f"t{i}"] for i, name in enumerate(names)}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    if names != neurons or not all(t.dtype.kind == "f" and np.all(np.isfinite(t)) for t in thresholds.values()):
        return None
    return thresholds


def _per_group_keep(groups: int) -> int:
    """Activations a batch keeps per group (layer or channel) for the percentile."""
    return max(2_000, SAMPLES_PER_BATCH // groups)


def model_based_thresholds(graph: Graph, input_bound: float = 1.0) -> dict[str, np.ndarray]:
    """θ = an upper bound of each neuron's input, propagated layer by layer (a bound past
    float32's range is a ConversionError)."""
    with np.errstate(over="ignore"):
        return _bounds(graph, input_bound)


def _bounds(graph: Graph, input_bound: float) -> dict[str, np.ndarray]:
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
            if not value < np.finfo(np.float32).max:
                hint = "(too coarse for a network this deep): pass calibration data (--calib)"
                raise ConversionError(f"neuron {node.name!r}: its bound from the weights overflows float32 {hint}")
            thresholds[node.name] = np.float32(max(value, 1e-6))
        elif isinstance(op, t.Pad):
            value = max(inputs[0], abs(op.value))
        else:  # pooling, layout and the like do not grow |x|
            value = max(inputs) if inputs else input_bound
        bound[node.name] = value
    return thresholds
