"""map: place a QNet's layers on the chip's cores (docs/accel.md, "Mapping").

A layer is split by output channel into the fewest equal slices whose weights fit one core's
weight SRAM and whose state fits its state SRAM; slices go to cores along a serpentine walk of
the mesh in topological order, so that a layer's cores sit next to its producers' and packet
routes stay short. State words per slice of r channels with P positions each:

    membrane V: r·P_pre;  slot current I: r·P_pre (layers that receive spikes);
    static input current S: r·P_pre (layers that receive the input);
    MSAT: the last membrane L and the two-word sum Σ: 3·r·P;
    parameters (Θ, B, v0): 3·r;  gate-pool sums: the source's size per gate-pooled synapse;
    spike output buffer: ⌈r·P / state_bits⌉.

A layer one of whose channels does not fit a core's state is cut, channel by channel, into
bands of rows of its map (band_rows). A network whose slices need more cores than the chip
has runs in segments that take turns on it (segments.py): each segment's slices take the
cores from the start of the walk again.

The state word must also hold the largest value a membrane can reach (bound_bits). A model
that does not fit raises a ResourceError naming the layer, the resource, the need and the
capacity (exit 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from snnc.targets.accel import segments
from snnc.targets.accel.config import ChipConfig
from snnc.targets.accel.segments import Segment

from snnc import models
from snnc.errors import ResourceError
from snnc.ir.qnet import QLayer, QNet, QSynapse


@dataclass(frozen=True)
class CoreSlice:
    core: int  # the core's id on the grid (x + y·cores_x)
    layer: int  # index in qnet.layers
    rows: tuple[int, int]  # output channels [m0, m1)
    weight_bytes: int
    state_words: int
    segment: int = 0  # which segment of a network larger than the chip (segments.py); cores repeat across them
    band: tuple[int, int] | None = None  # rows [y0, y1) of the potential's map, where one channel's map does not fit


def row_bytes(synapse: QSynapse) -> int:
    return int(np.prod(synapse.weight.shape[1:], dtype=np.int64))


def weight_bytes(layer: QLayer, rows: int) -> int:
    return sum(rows * row_bytes(s) for s in layer.synapses)


def state_words(qnet: QNet, layer: QLayer, rows: int, state_bits: int, band_rows: int | None = None) -> int:
    """State words of a slice of `rows` channels (of `band_rows` rows of the map, where banded)."""
    height = layer.pre_shape[1] if len(layer.pre_shape) == 3 else 1
    share = 1.0 if band_rows is None else band_rows / height
    positions = round(int(np.prod(layer.pre_shape[1:], dtype=np.int64)) * share)
    out_positions = round(int(np.prod(layer.shape[1:], dtype=np.int64)) * share)
    static = any(s.source == qnet.input_name for s in layer.synapses)
    spiking = any(s.source != qnet.input_name for s in layer.synapses)
    words = (1 + static + spiking) * rows * positions + 3 * rows  # V; S where the input arrives, I where spikes do
    if layer.msat is not None:
        words += 3 * rows * positions  # L and the two-word sum Σ of the threshold unit
    words += sum(int(np.prod(s.source_shape)) for s in layer.synapses if s.pool == "gate")
    return words + math.ceil(rows * out_positions / state_bits)


def event_bound(qnet: QNet, synapse: QSynapse) -> int:
    """The largest value one event carries into the weights (input units, pooled spike counts)."""
    if synapse.source == qnet.input_name:
        return 127
    msat = qnet.layer(synapse.source).msat
    payload = 1 if msat is None else msat["burst"] * 256  # an MSAT event carries s·g, g ≤ 256
    if synapse.pool == "avg":
        return int(np.prod(synapse.pool_kernel)) * payload
    return payload


def bound_bits(qnet: QNet, layer: QLayer) -> int:
    """Bits (sign included) a membrane of this layer needs in the worst case."""
    T = qnet.timesteps
    per_step = np.abs(layer.bias).astype(np.float64)
    for synapse in layer.synapses:
        rows = np.abs(synapse.weight.astype(np.float64)).reshape(len(synapse.weight), -1).sum(axis=1)
        per_step = per_step + rows * event_bound(qnet, synapse)
    theta = 0 if layer.threshold is None else float(layer.threshold.max())
    if models.model(qnet.model).coding.bit_plane:
        largest = max(float(per_step.max()) * 2**T + 2**T * theta, theta * 2 ** (T + 1))
    else:
        largest = float(per_step.max()) * T + theta
    return int(math.ceil(math.log2(largest + 1))) + 1


def split(qnet: QNet, layer: QLayer, config: ChipConfig) -> int:
    """The fewest slices of this layer that fit a core."""
    channels = layer.pre_shape[0]
    needed = bound_bits(qnet, layer)
    if needed > config.state_bits:
        raise ResourceError(f"layer {layer.name!r}: state word: its membranes need {needed} bits at "
                            f"T = {qnet.timesteps}, the chip has {config.state_bits}-bit state words")  # fmt: skip
    one_weights, one_state = weight_bytes(layer, 1), state_words(qnet, layer, 1, config.state_bits)
    if one_weights > config.weight_bytes:
        raise ResourceError(f"layer {layer.name!r}: weight SRAM: one output channel needs {one_weights} bytes, "
                            f"a core has {config.weight_bytes}")  # fmt: skip
    if one_state > config.state_words:
        rows = band_rows(qnet, layer, config)
        if rows is None:
            raise ResourceError(f"layer {layer.name!r}: state SRAM: one output channel needs {one_state} words, "
                                f"a core has {config.state_words}")  # fmt: skip
        return channels * math.ceil(layer.pre_shape[1] / rows)  # a channel's map in bands, one per core
    for slices in range(1, channels + 1):
        rows = math.ceil(channels / slices)
        if (weight_bytes(layer, rows) <= config.weight_bytes
                and state_words(qnet, layer, rows, config.state_bits) <= config.state_words):  # fmt: skip
            return math.ceil(channels / rows)
    return channels


def band_rows(qnet: QNet, layer: QLayer, config: ChipConfig) -> int | None:
    """Rows per band of the map where one channel's state does not fit a core: the fewest bands
    whose channel fits, each a whole number of pool windows (a pool of the potential must not
    straddle two cores, so it must tile the map: kernel = stride, no padding). None where no band
    fits, or the layer cannot be cut (a dense layer, MSAT, an overlapping pool)."""
    if len(layer.pre_shape) != 3 or layer.msat is not None:
        return None
    height, unit = layer.pre_shape[1], 1
    if layer.pool_kernel:
        tiles = layer.pool_kernel == layer.pool_strides and not any(layer.pool_pads)
        if not tiles or height % layer.pool_strides[0]:
            return None
        unit = layer.pool_strides[0]
    for bands in range(2, height // unit + 1):
        rows = math.ceil(height / unit / bands) * unit
        if state_words(qnet, layer, 1, config.state_bits, rows) <= config.state_words:
            return rows
    return None


def slice_specs(qnet: QNet, layer: QLayer, count: int, config: ChipConfig) -> list[tuple[tuple, tuple | None]]:
    """The (channels, band) of each of a layer's `count` slices, channel by channel."""
    channels = layer.pre_shape[0]
    if count > channels:  # banded: one channel per slice
        rows = band_rows(qnet, layer, config)
        height = layer.pre_shape[1]
        return [((m, m + 1), (y, min(height, y + rows))) for m in range(channels) for y in range(0, height, rows)]
    per_slice = math.ceil(channels / count)
    return [((start, min(channels, start + per_slice)), None) for start in range(0, channels, per_slice)]


def serpentine(config: ChipConfig) -> list[int]:
    """Core ids in boustrophedon order: along row 0, back along row 1, ..."""
    order = []
    for y in range(config.cores_y):
        xs = range(config.cores_x) if y % 2 == 0 else range(config.cores_x - 1, -1, -1)
        order += [x + y * config.cores_x for x in xs]
    return order


def demand(qnet: QNet, config: ChipConfig) -> list[dict]:
    """What each layer asks of the chip: the cores it splits into (None, with the reason under
    "problem", where one output channel alone does not fit a core), and one channel's weight
    bytes, state words and state bits against a core's."""
    table = []
    for layer in qnet.layers:
        row = {"layer": layer.name, "channels": layer.pre_shape[0], "cores": None,
               "one_channel_weight_bytes": weight_bytes(layer, 1), "weight_capacity": config.weight_bytes,
               "one_channel_state_words": state_words(qnet, layer, 1, config.state_bits),
               "state_capacity": config.state_words, "state_bits_needed": bound_bits(qnet, layer),
               "state_bits": config.state_bits}  # fmt: skip
        try:
            row["cores"] = split(qnet, layer, config)
        except ResourceError as exc:
            row["problem"] = str(exc)
        table.append(row)
    return table


def place(qnet: QNet, config: ChipConfig) -> list[CoreSlice]:
    """Split every layer and give each slice a core, in segments where the slices outnumber the
    cores (segments.py); a ResourceError, carrying every layer's demand, when one channel does
    not fit a core (or the segments' weights and events do not fit DRAM)."""
    table = demand(qnet, config)
    problems = [row["problem"] for row in table if row["cores"] is None]
    if problems:
        more = f" (and {len(problems) - 1} more layer(s))" if len(problems) > 1 else ""
        raise ResourceError(problems[0] + more, table)
    specs = [slice_specs(qnet, layer, row["cores"], config) for layer, row in zip(qnet.layers, table)]
    counts = [len(spec) for spec in specs]
    runs = [[(index, 0, count) for index, count in enumerate(counts)]]
    if sum(counts) > config.cores:
        runs = segments.cut(qnet, segments.pieces(counts, config.cores), config.cores, config.objective)
    slices = []
    for number, run in enumerate(runs):  # larger than the chip: segments that take turns on it
        walk = iter(serpentine(config))
        for index, first, last in run:
            layer = qnet.layers[index]
            for (start, stop), band in specs[index][first:last]:
                band_height = None if band is None else band[1] - band[0]
                slices.append(CoreSlice(next(walk), index, (start, stop), weight_bytes(layer, stop - start),
                                        state_words(qnet, layer, stop - start, config.state_bits, band_height),
                                        number, band))  # fmt: skip
    weights = [sum(s.weight_bytes for s in slices if s.segment == number) for number in range(len(runs))]
    segments.check_dram(qnet, layer_shares(qnet, slices), weights, config)
    return slices


def layer_shares(qnet: QNet, slices: list[CoreSlice]) -> list[list[tuple[int, float]]]:
    """Per layer, the segments its cores are in and the share of its neurons in each."""
    placed = [(s.layer, s.segment, share_of(qnet.layers[s.layer].pre_shape, s.rows, s.band)) for s in slices]
    return segments.shares(len(qnet.layers), placed)


def share_of(pre_shape, rows, band) -> float:
    """The share of a layer's neurons a slice holds: its channels (and band of rows) of the map."""
    share = (rows[1] - rows[0]) / pre_shape[0]
    return share if band is None else share * (band[1] - band[0]) / pre_shape[1]


def segments_of(qnet: QNet, slices: list[CoreSlice]) -> list[Segment]:
    """The segments a placement runs in (one for a network that fits the chip)."""
    parts = []
    for number in range(max(s.segment for s in slices) + 1):
        mine = [s for s in slices if s.segment == number]
        layers = sorted({s.layer for s in mine})  # a layer wider than the chip is in several
        parts.append(Segment((layers[0], layers[-1] + 1), len(mine), sum(s.weight_bytes for s in mine)))
    return parts


def resource_table(qnet: QNet, slices: list[CoreSlice], config: ChipConfig) -> list[dict]:
    """Per layer: cores, the largest slice's weight and state use against one core's capacity."""
    table = []
    for index, layer in enumerate(qnet.layers):
        mine = [s for s in slices if s.layer == index]
        table.append({
            "layer": layer.name, "kind": layer.kind, "segment": mine[0].segment, "cores": len(mine),
            "channels": layer.pre_shape[0],
            "weight_bytes": max(s.weight_bytes for s in mine), "weight_capacity": config.weight_bytes,
            "state_words": max(s.state_words for s in mine), "state_capacity": config.state_words,
            "state_bits_needed": bound_bits(qnet, layer), "state_bits": config.state_bits,
        })  # fmt: skip
    return table
