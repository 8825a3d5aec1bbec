"""Networks larger than the chip: time-multiplexing through off-chip DRAM (docs/accel.md,
"Larger than the chip").

When the layers' slices need more cores than the chip has, the layer sequence (topological
order) is cut into segments that each fit. The chip runs one segment at a time: its weights
come in from DRAM, it runs `swap_batch` images through its layers (all T steps), and the
events of its layers that a later segment reads go out to DRAM; the next segment's weights
replace them. Per image, the off-chip traffic is

    weights:  Σ_segments weight bytes / swap_batch          (none with one segment: they stay)
    events:   Σ_(layer read by a later segment) bytes, written once and read by each such segment

with a layer's events stored as bit-planes, T bits per neuron (MSAT events carry a 16-bit
payload). A layer wider than the chip is cut into pieces of its output channels, which run in
consecutive segments. The cuts minimize the event traffic (a dynamic program over cut
positions; a tensor live across a cut is charged at that cut), then the number of segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from snnc import models
from snnc.errors import ResourceError
from snnc.ir.qnet import QNet


@dataclass(frozen=True)
class Segment:
    layers: tuple[int, int]  # [first, last) in qnet.layers (a layer wider than the chip spans several)
    cores: int
    weight_bytes: int


def event_bytes(neurons: int, timesteps: int, model: str) -> int:
    """Bytes of one image's events of a layer over T steps, as bit-planes."""
    bits = 16 if models.model(model).threshold_unit else 1
    return math.ceil(neurons * timesteps * bits / 8)


def layer_bytes(qnet: QNet) -> list[int]:
    return [event_bytes(layer.neurons, qnet.timesteps, qnet.model) for layer in qnet.layers]


def readers(names: list[str], sources: list[list[str]]) -> list[list[int]]:
    """Per layer (by name, with the sources of its synapses), the layers that read its events."""
    index = {name: i for i, name in enumerate(names)}
    table: list[list[int]] = [[] for _ in names]
    for j, layer_sources in enumerate(sources):
        for source in layer_sources:
            if source in index and j not in table[index[source]]:
                table[index[source]].append(j)
    return table


def qnet_readers(qnet: QNet) -> list[list[int]]:
    return readers([layer.name for layer in qnet.layers], [[s.source for s in layer.synapses] for layer in qnet.layers])


def crossing(layer_readers: list[list[int]], sizes: list[int], parts: list[list[tuple[int, float]]]) -> tuple[int, int]:
    """(bytes written, bytes read) per image of the events that another segment reads; parts[i]:
    layer i's (segment, share of its channels) — a layer wider than the chip spans segments."""
    written = read = 0.0
    for i, reading in enumerate(layer_readers):
        consumers = {segment for j in reading for segment, _ in parts[j]}
        for segment, share in parts[i]:
            others = consumers - {segment}
            written += share * sizes[i] if others else 0
            read += share * sizes[i] * len(others)
    return round(written), round(read)


def shares(channels: list[int], placed) -> list[list[tuple[int, float]]]:
    """Per layer, (segment, share of its output channels) from each core's (layer, segment, rows)."""
    table: list[dict[int, int]] = [{} for _ in channels]
    for layer, segment, rows in placed:
        table[layer][segment] = table[layer].get(segment, 0) + rows
    return [[(segment, rows / channels[i]) for segment, rows in sorted(row.items())] for i, row in enumerate(table)]


def pieces(cores: list[int], chip_cores: int) -> list[tuple[int, int, int]]:
    """The units segments are made of: (layer, first slice, last slice + 1); a layer wider than
    the chip is cut into pieces of at most chip_cores slices (its output channels are
    independent: each piece reads the layer's whole input)."""
    units = []
    for layer, count in enumerate(cores):
        units += [(layer, first, min(count, first + chip_cores)) for first in range(0, count, chip_cores)]
    return units


def cut(qnet: QNet, units: list[tuple[int, int, int]], chip_cores: int) -> list[list[tuple[int, int, int]]]:
    """The segments, as runs of units whose slices fit the chip, cut where the fewest event bytes
    are live (a layer complete before the cut and read after it, or one the cut splits), then
    into the fewest segments."""
    count = len(units)
    first_unit, last_unit = {}, {}
    for k, (layer, _, _) in enumerate(units):
        first_unit.setdefault(layer, k)
        last_unit[layer] = k
    readers_of = qnet_readers(qnet)
    needed_until = [max((last_unit[j] for j in readers_of[i]), default=-1) for i in range(len(qnet.layers))]
    sizes = layer_bytes(qnet)

    def live(position: int) -> int:
        return sum(sizes[i] for i in range(len(sizes)) if first_unit[i] < position <= needed_until[i])

    charge = [live(position) for position in range(count + 1)]
    best: list[tuple[int, int] | None] = [None] * (count + 1)  # (bytes, segments) up to a cut before unit b
    start_of: list[int] = [0] * (count + 1)
    best[0] = (0, 0)
    for end in range(1, count + 1):
        used = 0
        for begin in range(end - 1, -1, -1):
            used += units[begin][2] - units[begin][1]
            if used > chip_cores:
                break
            if best[begin] is None:
                continue
            candidate = (best[begin][0] + (charge[begin] if begin else 0), best[begin][1] + 1)
            if best[end] is None or candidate < best[end]:
                best[end], start_of[end] = candidate, begin
    bounds, end = [], count
    while end:
        bounds.append((start_of[end], end))
        end = start_of[end]
    return [units[a:b] for a, b in reversed(bounds)]


def traffic(weight_bytes: list[int], written: int, read: int, swap_batch: int) -> dict:
    """Off-chip bytes per image, from the segments' weight bytes and crossing()'s events."""
    weights = 0.0 if len(weight_bytes) == 1 else sum(weight_bytes) / swap_batch
    return {"weight_bytes": weights, "event_bytes_written": written, "event_bytes_read": read,
            "total_bytes": weights + written + read}  # fmt: skip


def check_dram(qnet: QNet, parts: list[list[tuple[int, float]]], weight_bytes: int, segments: int, dram_bytes: int,
               swap_batch: int) -> None:  # fmt: skip
    """The weights of every segment, and a swap batch's events between segments, must fit DRAM."""
    if segments == 1:
        return
    written, _ = crossing(qnet_readers(qnet), layer_bytes(qnet), parts)
    needed = weight_bytes + swap_batch * written
    if needed > dram_bytes:
        raise ResourceError(f"off-chip memory: {segments} segments need {needed:,} bytes of DRAM (weights and "
                            f"{swap_batch} images' events), the configuration has {dram_bytes:,}")  # fmt: skip
