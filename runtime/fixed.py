"""The fixed-point reference: the integer semantics of a quantized network (snnc/ir/qnet.py);
each neuron model's integer step is its own (snnc/models).

This is the oracle of the accelerator's simulator, as runtime/snn.py is the oracle of the
float engines: it runs a QNet layer by layer on whole tensors, in int64, with no notion of
cores, slices, packets or cycles. Integer sums go through float matrix products: float32 where
every partial sum stays below 2^24, float64 (exact below 2^53) otherwise.

The primitives here (`int_conv`, `pool_events`, `synapse_current`, `fan_out_of`) are the
accelerator's datapath; targets/accel/simulator.py applies them to the slice of a layer each core holds.
"""

from __future__ import annotations

import numpy as np
from snnc.runtime import adaptive
from snnc.runtime.ann import conv, pad_spatial, sliding_windows
from snnc.runtime.snn import SimResult, axis_reach, check_recordable

from snnc import models
from snnc.errors import DataError
from snnc.ir import ops_nn as nn
from snnc.ir.qnet import QLayer, QNet, QSynapse
from snnc.models.base import channel_shape

INPUT_MAX = 127


def quantize_input(x: np.ndarray, shape: tuple, scale: float) -> np.ndarray:
    """The int8 input the chip receives: round(x / scale), clipped to ±127."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3 and (x.shape[1], 1, x.shape[2]) == tuple(shape):  # a 1-D signal, held as height 1
        x = x.reshape(len(x), *shape)
    if x.shape[1:] != tuple(shape):
        raise DataError(f"input of shape {x.shape[1:]} per sample; the program takes {tuple(shape)}")
    return np.clip(np.round(x / scale), -INPUT_MAX, INPUT_MAX).astype(np.int64)


# -- the datapath ---------------------------------------------------------------------------------
def int_conv(x: np.ndarray, weight: np.ndarray, strides, pads, dilations, groups: int = 1) -> np.ndarray:
    """(N, C, H, W) integers * (M, C/groups, kh, kw) → (N, M, H', W') int64, no bias: the ANN
    executor's convolution on values it represents exactly (exact_dtype)."""
    op = nn.Conv(weight, np.zeros(len(weight), np.float32), strides, pads, dilations, groups)
    return np.rint(conv(op, x.astype(exact_dtype(x, weight)))).astype(np.int64)


def exact_dtype(x: np.ndarray, weight: np.ndarray):
    """float32 when every partial sum is an integer below 2^24 (exact), else float64."""
    largest = float(np.abs(x).max(initial=0)) * float(
        np.abs(weight.astype(np.int64)).reshape(len(weight), -1).sum(1).max(initial=0)
    )
    return np.float32 if largest < 2**24 else np.float64


def sum_pool(x: np.ndarray, kernel, strides) -> np.ndarray:
    windows = sliding_windows(x, kernel, strides, (1, 1))
    return windows.sum(axis=(-2, -1), dtype=np.int64)


def pool_events(synapse: QSynapse, values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, B, *source) event values and spike counts → (T, B, *pooled) ones, what the synapse's
    weights see and what its SOPs count. A sum pool adds both; a running max (the gate) sends
    one event, of whatever payload, where a window's largest sum grows."""
    if synapse.pool is None:
        return values, counts
    if synapse.pool == "avg":
        return tuple(_sum_pool_train(train, synapse) for train in (values, counts))
    pooled = running_max_pool(values, synapse.pool_kernel, synapse.pool_strides, synapse.pool_pads)
    return pooled, (pooled != 0).astype(np.int64)


def _sum_pool_train(train: np.ndarray, synapse: QSynapse) -> np.ndarray:
    steps, batch = train.shape[:2]
    pooled = sum_pool(train.reshape(steps * batch, *train.shape[2:]), synapse.pool_kernel, synapse.pool_strides)
    return pooled.reshape(steps, batch, *synapse.pooled_shape)


def running_max_pool(events: np.ndarray, kernel, strides, pads=(0, 0, 0, 0)) -> np.ndarray:
    """(T, B, C, H, W) events → per window and step max_i S_i(t) − max_i S_i(t−1), with S_i(t)
    the sum of input i's events up to step t (runtime/snn.py _gated_max_pool); a padded cell
    is never a maximum. Every S_i(−1) is 0."""
    sent = np.cumsum(events, axis=0, dtype=np.int64)
    maxima = max_pool_int(sent.reshape(-1, *sent.shape[2:]), kernel, strides, pads)
    return np.diff(maxima.reshape(*sent.shape[:2], *maxima.shape[1:]), axis=0, prepend=0)


def synapse_current(synapse: QSynapse, events: np.ndarray, rows: slice = slice(None), weight=None) -> np.ndarray:
    """(N, *pooled) events → (N, M', ...) integer current into output channels `rows`;
    `weight`: those rows' weights when they come from elsewhere (a core's SRAM)."""
    weight = synapse.weight[rows] if weight is None else weight
    if synapse.kind == "identity":
        shape = (1, -1) + (1,) * (events.ndim - 2)
        return events[:, rows].astype(np.int64) * weight.astype(np.int64).reshape(shape)
    if synapse.kind == "dense":
        flat = events.reshape(len(events), -1)
        dtype = exact_dtype(flat, weight)
        return np.rint(flat.astype(dtype) @ weight.astype(dtype).T).astype(np.int64)
    if synapse.groups == 1:
        return int_conv(events, weight, synapse.strides, synapse.pads, synapse.dilations)
    # grouped: the groups that `rows` touch, on their input channels; rows of those groups
    # outside `rows` get zero weights and are dropped
    per_group_out, per_group_in = synapse.weight.shape[0] // synapse.groups, synapse.weight.shape[1]
    m0, m1, _ = rows.indices(synapse.weight.shape[0])
    g0, g1 = m0 // per_group_out, -(-m1 // per_group_out)
    first = m0 - g0 * per_group_out
    padded = np.zeros(((g1 - g0) * per_group_out, *weight.shape[1:]), weight.dtype)
    padded[first : first + m1 - m0] = weight
    inputs = events[:, g0 * per_group_in : g1 * per_group_in]
    current = int_conv(inputs, padded, synapse.strides, synapse.pads, synapse.dilations, g1 - g0)
    return current[:, first : first + m1 - m0]


def fan_out_of(synapse: QSynapse, rows: slice = slice(None), band: tuple | None = None) -> np.ndarray:
    """Per pooled input position, the synaptic operations one event there triggers (into `rows`,
    and output rows `band` of the map)."""
    per_channel, spatial = reach(synapse, rows, band)
    return per_channel.reshape((-1,) + (1,) * spatial.ndim) * spatial


def reach(synapse: QSynapse, rows: slice = slice(None), band: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What an event at a pooled input position reaches among output channels `rows` (and output
    rows `band` of the map, where a core holds a band of it), as (per input channel: the rows it
    feeds, per position: the kernel positions that reach an output; each element of a dense
    layer's input reaches once). The fan-out is their product; the chip spends ⌈rows fed /
    lanes⌉ cycles per kernel position."""
    pooled = synapse.pooled_shape
    m0, m1, _ = rows.indices(synapse.weight.shape[0])
    if synapse.kind == "identity":
        per_channel = np.zeros(pooled[0], dtype=np.int64)
        per_channel[m0:m1] = 1
        spatial = np.ones(pooled[1:], dtype=np.int64)
        if band is not None:
            spatial[: band[0]] = spatial[band[1] :] = 0
        return per_channel, spatial
    if synapse.kind == "dense":
        return np.full(pooled[0], m1 - m0, dtype=np.int64), np.ones(pooled[1:], dtype=np.int64)
    (kh, kw), (sh, sw), (dh, dw) = synapse.weight.shape[2:], synapse.strides, synapse.dilations
    (height, width), (top, left, bottom, right) = pooled[1:], synapse.pads
    out_height = (height + top + bottom - dh * (kh - 1) - 1) // sh + 1
    out_width = (width + left + right - dw * (kw - 1) - 1) // sw + 1
    out_rows = np.arange(*(band or (0, out_height)))
    spatial = np.multiply.outer(axis_reach(height, out_rows, kh, sh, dh, top),
                                axis_reach(width, np.arange(out_width), kw, sw, dw, left))  # fmt: skip
    per_group_out = synapse.weight.shape[0] // synapse.groups
    group_of_row = np.arange(m0, m1) // per_group_out
    rows_per_group = np.bincount(group_of_row, minlength=synapse.groups)
    per_channel = np.repeat(rows_per_group, pooled[0] // synapse.groups)
    return per_channel.astype(np.int64), spatial


def max_pool_int(x: np.ndarray, kernel, strides, pads=(0, 0, 0, 0)) -> np.ndarray:
    """Max over each window of (N, C, H, W); padded cells (top, left, bottom, right) never win."""
    if any(pads):
        x = pad_spatial(x, pads, np.iinfo(x.dtype).min)
    return sliding_windows(x, kernel, strides, (1, 1)).max(axis=(-2, -1))


# -- the network ----------------------------------------------------------------------------------
def simulate_fixed(qnet: QNet, x: np.ndarray, record=(), trace: bool = False) -> SimResult:
    """Run the quantized network on a batch (float input, quantized here) for its T steps."""
    check_recordable(record, [layer.name for layer in qnet.layers if layer.kind == "neuron"])
    return _FixedRun(qnet, record, trace).run(quantize_input(x, qnet.input_shape, qnet.input_scale))


class _FixedRun:
    def __init__(self, qnet: QNet, record, trace: bool) -> None:
        self.qnet = qnet
        self.T = qnet.timesteps
        self.record = tuple(record)
        self.trace = trace
        self.coding = models.model(qnet.model).coding
        self.step_spikes: dict[str, np.ndarray] = {}
        self.step_sops: dict[str, np.ndarray] = {}
        self.result = SimResult([], np.zeros(0, np.int64))

    def run(self, x: np.ndarray) -> SimResult:
        trains: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # layer → (event values, spike counts)
        for layer in self.qnet.layers:
            static, per_step = self.currents(layer, x, trains)
            if layer.kind == "readout":
                self.readout(layer, static, per_step, len(x))
            else:
                trains[layer.name] = self.fire(layer, static, per_step)
        return self.result

    def currents(self, layer: QLayer, x, trains) -> tuple[np.ndarray, np.ndarray]:
        """(static current (B, *pre) from the input, per-step current (T, B, *pre) from spikes)."""
        batch = len(x)
        static = np.zeros((batch, *layer.pre_shape), dtype=np.int64)
        per_step = np.zeros((self.T, batch, *layer.pre_shape), dtype=np.int64)
        for index, synapse in enumerate(layer.synapses):
            key = synapse_key(layer, index)
            if synapse.source == self.qnet.input_name:
                static += synapse_current(synapse, x)
                self.result.macs[key] = int(fan_out_of(synapse).sum()) * batch
                continue
            values, counts = pool_events(synapse, *trains[synapse.source])
            flat = values.reshape(self.T * batch, *values.shape[2:])
            per_step += synapse_current(synapse, flat).reshape(per_step.shape)
            weights = fan_out_of(synapse).reshape(-1).astype(np.float64)
            sops = counts.reshape(self.T, batch, -1).astype(np.float64) @ weights  # spikes × fan-out
            self.step_sops[key] = np.rint(sops).astype(np.int64)
        return static, per_step

    def fire(self, layer: QLayer, static: np.ndarray, per_step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's integer step (snnc/models) on what its coding delivers: the accumulated,
        pooled potential (bit-plane) or the current of every step, bias included (rate)."""
        if self.coding.bit_plane:
            value = horner(per_step) + (static << self.T)
            if layer.pool_kernel:
                value = max_pool_int(value, layer.pool_kernel, layer.pool_strides, layer.pool_pads)
        else:
            value = per_step + static + layer.bias.reshape(channel_shape(layer.pre_shape))
        out, counts = models.model(self.qnet.model).fire_fixed(layer, value, self.T)
        self.step_spikes[layer.name] = counts.reshape(self.T, len(out[0]), -1).sum(axis=2, dtype=np.int64)
        self.result.neurons[layer.name] = layer.neurons
        if layer.name in self.record:
            self.result.records[layer.name] = np.ascontiguousarray(np.swapaxes(counts != 0, 0, 1)).astype(np.uint8)
        return out, counts

    def readout(self, layer: QLayer, static, per_step, batch: int) -> None:
        estimates = readout_estimates(self.qnet, layer, static, per_step)
        exits = exit_steps(self.qnet, estimates)
        self.result.outputs = [estimates[np.arange(batch), exits]]
        self.result.steps = exits + 1 + latency_offset(self.qnet)
        self.result.samples = batch
        if self.trace:
            self.result.trace = estimates
        truncated = final_window(self.qnet) if self.coding.bit_plane else None
        for table, per in ((self.result.spikes, self.step_spikes), (self.result.sops, self.step_sops)):
            for name, counts in per.items():
                keep = truncated is not None and name not in truncated
                table[name] = int(counts.sum() if keep else (counts * (np.arange(self.T)[:, None] <= exits)).sum())


def synapse_key(layer: QLayer, index: int) -> str:
    return f"{layer.name}#{index}"


def horner(per_step: np.ndarray) -> np.ndarray:
    """Σ_t 2^(T−1−t)·X_t, the iLIF accumulation V ← 2V + X_t."""
    v = np.zeros(per_step.shape[1:], dtype=np.int64)
    for step in per_step:
        v = (v << 1) + step
    return v


def readout_estimates(qnet: QNet, layer: QLayer, static: np.ndarray, per_step: np.ndarray) -> np.ndarray:
    """(B, T, K) float32 estimates from the integer readout currents (adaptive.py's formulas)."""
    scale = layer.scale.astype(np.float32)
    bias = layer.bias
    if models.model(qnet.model).coding.bit_plane:
        offset = ((static + bias) << qnet.timesteps).astype(np.float32) * scale
        return adaptive.ilif_estimates(per_step.astype(np.float32) * scale, offset, qnet.timesteps)
    currents = (per_step + static + bias).astype(np.float32) * scale
    return adaptive.rate_estimates(currents, qnet.step_weights)


def exit_steps(qnet: QNet, estimates: np.ndarray) -> np.ndarray:
    if qnet.exit_metric is None:
        return np.full(len(estimates), qnet.timesteps - 1, dtype=np.int64)
    return adaptive.exit_steps(adaptive.confidence(estimates, qnet.exit_metric), qnet.exit_threshold)


def latency_offset(qnet: QNet) -> int:
    """Steps before the readout's window (bit-plane coding: after D stages of T steps)."""
    return models.model(qnet.model).coding.readout_offset(qnet.readout.depth, qnet.timesteps)


def final_window(qnet: QNet) -> set[str]:
    """Bit-plane coding: the counts an early exit cuts: the readout's synapses and the layers feeding them."""
    readout = qnet.readout
    return {synapse_key(readout, i) for i in range(len(readout.synapses))} | {s.source for s in readout.synapses}
