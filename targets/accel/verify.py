"""Verify a decoded program before anything runs it: a `.snnx` may come from anyone.

The simulator executes the programs snnc emits. So instead of checking a hundred invariants
one by one, the verifier rebuilds what the program claims to be and compares:

1. META, PARM and WGTS give the integer network (a QNet: every field typed and ranged by its
   own validation) and each synapse's geometry is checked by the IR's shape rules: the pooled
   source through the convolution or dense map must give the layer's potential, and its pool
   the layer's output.
2. The chip configuration in META must be valid and hash to the header's; the placement (core
   ids, layers, rows) must cover every layer's channels once, on distinct cores of the chip,
   each slice within the core's weight and state SRAM and its state word.
3. The emitter run on that network and placement must give back the program byte for byte:
   META (offsets, descriptors, consumers, slots), WGTS, PARM and every core's code.

Any failure is a FileError (exit 3) naming what does not match.
"""

from __future__ import annotations

import json

import numpy as np
from snnc.targets.accel.binary import AccelProgram
from snnc.targets.accel.config import config_from_stored
from snnc.targets.accel.emit import emit
from snnc.targets.accel.mapper import CoreSlice, band_rows, bound_bits, state_words, weight_bytes

from snnc import models
from snnc.errors import FileError, SnncError
from snnc.ir import ops_nn as nn
from snnc.ir.qnet import QLayer, QNet, QSynapse
from snnc.ir.types import BATCH, TensorType

MAX_TIMESTEPS = 64  # the slot counter and the iLIF shifts of the program format
LAYER_KEYS = {"name", "kind", "shape", "pre_shape", "pool_kernel", "pool_strides", "pool_pads", "reset", "depth",
              "scale", "params", "synapses", "msat"}  # fmt: skip
SYNAPSE_KEYS = {"source", "kind", "source_shape", "pool", "pool_kernel", "pool_strides", "pool_pads", "strides", "pads",
                "dilations", "groups", "weight_shape", "weights"}  # fmt: skip


def verify_program(program: AccelProgram, source: str) -> None:
    def fail(what: str):
        return FileError(f"{source}: inconsistent program: {what}")

    try:
        qnet = network_of(program)
    except (SnncError, TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise fail(f"the network in META: {exc}") from None
    try:
        config = config_from_stored(program.meta.get("chip"))
    except SnncError as exc:
        raise fail(f"the chip configuration: {exc}") from None
    if config.hash() != program.config_hash:
        raise fail("the chip configuration does not match the header's hash")
    slices = placement(program.meta, qnet, config, fail)
    try:
        rebuilt = emit(qnet, slices, config)
    except SnncError as exc:
        raise fail(str(exc)) from None
    if _canonical(rebuilt.meta) != _canonical(program.meta):  # as JSON text: 8.0 is not 8, true is not 1
        raise fail("META is not what snnc emits for this network and placement")
    if rebuilt.code != program.code:
        raise fail("the code is not what snnc emits for this network and placement")
    if not (np.array_equal(rebuilt.weights, program.weights) and np.array_equal(rebuilt.params, program.params)):
        raise fail("the WGTS or PARM section has data that no synapse or layer uses")


def _canonical(meta) -> str:
    return json.dumps(meta, sort_keys=True)


def network_of(program: AccelProgram) -> QNet:
    """The QNet that META, PARM and WGTS describe, its geometry checked."""
    meta = program.meta
    _require(isinstance(meta, dict), "META is not a table")
    _require(isinstance(meta["timesteps"], int) and 1 <= meta["timesteps"] <= MAX_TIMESTEPS,
             f"T must be in 1..{MAX_TIMESTEPS}")  # fmt: skip
    entry = meta["input"]
    exits = meta["exit"]
    layers = [_layer(layer, program) for layer in meta["layers"]]
    weights = None if exits["step_weights"] is None else np.asarray(exits["step_weights"])
    qnet = QNet(meta["model"], meta["timesteps"], entry["name"], entry["shape"], entry["scale"], layers,
                exits["metric"], exits["threshold"], weights)  # fmt: skip
    _check_geometry(qnet)
    return qnet


def _layer(entry: dict, program: AccelProgram) -> QLayer:
    _require(isinstance(entry, dict) and set(entry) == LAYER_KEYS, "a layer's fields")
    channels = entry["pre_shape"][0]
    start = entry["params"]
    _require(isinstance(start, int) and isinstance(channels, int) and 0 <= start
             and 0 < channels and start + 3 * channels <= len(program.params), "a parameter offset")  # fmt: skip
    threshold, bias, v0 = (program.params[start + i * channels : start + (i + 1) * channels] for i in range(3))
    neuron = entry["kind"] == "neuron"
    fields = {k: v for k, v in entry.items() if k not in ("params", "synapses")}
    synapses = [_synapse(s, program) for s in entry["synapses"]]
    return QLayer(synapses=synapses, bias=bias, threshold=threshold if neuron else None,
                  v0=v0 if neuron else None, **fields)  # fmt: skip


def _synapse(entry: dict, program: AccelProgram) -> QSynapse:
    _require(isinstance(entry, dict) and set(entry) == SYNAPSE_KEYS, "a synapse's fields")
    shape, start = entry["weight_shape"], entry["weights"]
    _require(isinstance(shape, list) and all(isinstance(d, int) and d > 0 for d in shape), "a weight shape")
    size = int(np.prod(shape, dtype=np.int64))
    _require(isinstance(start, int) and 0 <= start and start + size <= len(program.weights), "a weight offset")
    fields = {k: v for k, v in entry.items() if k not in ("weight_shape", "weights")}
    return QSynapse(weight=program.weights[start : start + size].reshape(shape), **fields)


def _check_geometry(qnet: QNet) -> None:
    """Every shape positive and every synapse mapping its pooled source onto the layer's potential."""
    shapes = {qnet.input_name: qnet.input_shape}
    model = models.model(qnet.model)
    coding = model.coding
    _require(len(qnet.layers) == len({layer.name for layer in qnet.layers} | {qnet.input_name}) - 1,
             "layer names must be distinct")  # fmt: skip
    for layer in qnet.layers:
        _require(layer.depth >= 1 and all(d > 0 for d in (*layer.shape, *layer.pre_shape)), f"{layer.name}: shape")
        if layer.pool_kernel or layer.pool_strides:
            _require(coding.bit_plane, f"{layer.name}: only bit-plane layers (iLIF) pool their potential")
            _require(_pooled(layer.pre_shape, layer.pool_kernel, layer.pool_strides, layer.pool_pads) == layer.shape,
                     f"{layer.name}: the pool does not give the layer's shape")  # fmt: skip
        else:
            _require(layer.shape == layer.pre_shape, f"{layer.name}: shape and potential differ without a pool")
        _require(layer.msat is None or model.threshold_unit, f"{layer.name}: MSAT constants in a {qnet.model} network")
        for synapse in layer.synapses:
            _require(synapse.source_shape == shapes[synapse.source], f"{layer.name}: the shape of its source")
            pooled = synapse.pooled_shape
            if synapse.pool is not None:
                _require(_pooled(synapse.source_shape, synapse.pool_kernel, synapse.pool_strides, synapse.pool_pads)
                         == pooled,
                         f"{layer.name}: a synapse's pool")  # fmt: skip
            _require(_synapse_output(synapse, pooled) == layer.pre_shape, f"{layer.name}: a synapse's geometry")
        shapes[layer.name] = layer.shape


def _pooled(shape: tuple, kernel: tuple, strides: tuple, pads: tuple = (0, 0, 0, 0)) -> tuple | None:
    """The pooled shape; None where a window could hold padding only (a pad as wide as the kernel)."""
    if len(kernel) != 2 or len(strides) != 2 or len(shape) != 3 or len(pads) != 4:
        return None
    if min(*kernel, *strides) < 1 or any(p >= k for p, k in zip(pads, (*kernel, *kernel))):
        return None
    spans = [size + pads[i] + pads[i + 2] for i, size in enumerate(shape[1:])]
    if any(k > span for k, span in zip(kernel, spans)):
        return None
    return (shape[0], *((span - k) // s + 1 for span, k, s in zip(spans, kernel, strides)))


def _synapse_output(synapse: QSynapse, pooled: tuple) -> tuple | None:
    weight = synapse.weight.astype(np.float32)
    source = TensorType((BATCH, *pooled))
    if synapse.kind == "identity":
        return pooled if weight.shape == (pooled[0],) else None
    if synapse.kind == "dense":
        op = nn.Gemm(weight, np.zeros(len(weight), np.float32))
        flat = TensorType((BATCH, int(np.prod(pooled))))
        return op.infer([flat]).sample_shape
    op = nn.Conv(weight, np.zeros(len(weight), np.float32), synapse.strides, synapse.pads, synapse.dilations,
                 synapse.groups)  # fmt: skip
    return op.infer([source]).sample_shape


def placement(meta: dict, qnet: QNet, config, fail) -> list[CoreSlice]:
    """The cores of META as slices, each checked against the chip; every layer's channels covered
    once, in layer order (the order the cores run in); segments numbered in order, a core id
    once per segment."""
    cores = meta.get("cores")
    if not isinstance(cores, list) or not cores:
        raise fail("no cores")
    slices, seen, covered = [], set(), {i: 0 for i in range(len(qnet.layers))}
    banded = {i: 0 for i in range(len(qnet.layers))}  # the rows of the current channel's map placed so far
    for core in cores:
        if not isinstance(core, dict):
            raise fail("a core entry")
        ident, index, rows, segment = core.get("id"), core.get("layer"), core.get("rows"), core.get("segment")
        last = slices[-1].segment if slices else 0
        if not (isinstance(segment, int) and not isinstance(segment, bool) and segment in (last, last + 1)):
            raise fail(f"the segment of core {ident!r}")
        if not (isinstance(ident, int) and 0 <= ident < config.cores and (segment, ident) not in seen):
            raise fail(f"core id {ident!r}")
        if not (isinstance(index, int) and 0 <= index < len(qnet.layers)):
            raise fail(f"the layer of core {ident}")
        if slices and index < slices[-1].layer:
            raise fail(f"core {ident} out of layer order")
        layer = qnet.layers[index]
        channels = layer.pre_shape[0]
        if not (isinstance(rows, list) and len(rows) == 2 and all(isinstance(r, int) for r in rows)
                and rows[0] == covered[index] and rows[0] < rows[1] <= channels):  # fmt: skip
            raise fail(f"the rows of core {ident}")
        band = _band(core.get("band"), qnet, layer, config, rows, banded[index])
        if band is False:
            raise fail(f"the band of core {ident}")
        count = rows[1] - rows[0]
        piece = CoreSlice(ident, index, (rows[0], rows[1]), weight_bytes(layer, count),
                          state_words(qnet, layer, count, config.state_bits, band and band[1] - band[0]), segment,
                          band)  # fmt: skip
        if piece.weight_bytes > config.weight_bytes or piece.state_words > config.state_words:
            raise fail(f"core {ident} holds more than its SRAM")
        seen.add((segment, ident))
        banded[index] = 0 if band is None or band[1] == layer.pre_shape[1] else band[1]
        covered[index] = rows[1] if banded[index] == 0 else rows[0]
        slices.append(piece)
    for index, layer in enumerate(qnet.layers):
        if covered[index] != layer.pre_shape[0]:
            raise fail(f"layer {layer.name!r} is not placed whole")
        if bound_bits(qnet, layer) > config.state_bits:
            raise fail(f"layer {layer.name!r} needs a wider state word than the chip's")
    return slices


def _band(band, qnet: QNet, layer, config, rows: list, placed: int):
    """A core's band as a tuple (None: the whole map), False unless it is the next band the
    mapper would cut: one channel, rows [placed, placed + band_rows), the map's end at most."""
    if band is None:
        return None if placed == 0 else False
    height = band_rows(qnet, layer, config)
    ok = (height is not None and isinstance(band, list) and len(band) == 2 and all(isinstance(b, int) for b in band)
          and rows[1] == rows[0] + 1 and band == [placed, min(layer.pre_shape[1], placed + height)])  # fmt: skip
    return tuple(band) if ok else False


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)
