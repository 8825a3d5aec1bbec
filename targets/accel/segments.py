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
payload). The cuts minimize the event traffic (a dynamic program over cut positions; a tensor
live across a cut is charged at that cut), then the number of segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from snnc import models
from snnc.errors import ResourceError
from snnc.ir.qnet import QNet


@dataclass(frozen=True)
class Segment:
    layers: tuple[int, int]  # [first, last) in qnet.layers
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


def crossing(layer_readers: list[list[int]], sizes: list[int], segment_of: list[int]) -> tuple[int, int]:
    """(bytes written, bytes read) per image of the events that a later segment reads."""
    written = read = 0
    for i, reading in enumerate(layer_readers):
        later = {segment_of[j] for j in reading} - {segment_of[i]}
        if later:
            written += sizes[i]
            read += sizes[i] * len(later)
    return written, read


def cut(qnet: QNet, cores: list[int], chip_cores: int, weights: list[int]) -> list[Segment]:
    """The segments: contiguous runs of layers whose cores fit the chip, cut where the fewest
    event bytes cross (then into the fewest segments)."""
    count = len(cores)
    widest = max(range(count), key=lambda i: cores[i])
    if cores[widest] > chip_cores:
        raise ResourceError(f"cores: layer {qnet.layers[widest].name!r} alone needs {cores[widest]} cores, the chip "
                            f"has {chip_cores}; segments hold whole layers")  # fmt: skip
    last_reader = [max(r, default=i) for i, r in enumerate(qnet_readers(qnet))]
    sizes = layer_bytes(qnet)
    crossing = [sum(sizes[i] for i in range(position) if last_reader[i] >= position) for position in range(count + 1)]
    best: list[tuple[int, int] | None] = [None] * (count + 1)  # (bytes, segments) up to a cut before layer b
    start_of: list[int] = [0] * (count + 1)
    best[0] = (0, 0)
    for end in range(1, count + 1):
        used = 0
        for begin in range(end - 1, -1, -1):
            used += cores[begin]
            if used > chip_cores:
                break
            if best[begin] is None:
                continue
            candidate = (best[begin][0] + (crossing[begin] if begin else 0), best[begin][1] + 1)
            if best[end] is None or candidate < best[end]:
                best[end], start_of[end] = candidate, begin
    bounds, end = [], count
    while end:
        bounds.append((start_of[end], end))
        end = start_of[end]
    return [Segment((a, b), sum(cores[a:b]), sum(weights[a:b])) for a, b in reversed(bounds)]


def traffic(weight_bytes: list[int], written: int, read: int, swap_batch: int) -> dict:
    """Off-chip bytes per image, from the segments' weight bytes and crossing()'s events."""
    weights = 0.0 if len(weight_bytes) == 1 else sum(weight_bytes) / swap_batch
    return {"weight_bytes": weights, "event_bytes_written": written, "event_bytes_read": read,
            "total_bytes": weights + written + read}  # fmt: skip


def check_dram(qnet: QNet, segments: list[Segment], dram_bytes: int, swap_batch: int) -> None:
    """The weights of every segment, and a swap batch's events between segments, must fit DRAM."""
    if len(segments) == 1:
        return
    segment_of = [s for s, segment in enumerate(segments) for _ in range(*segment.layers)]
    written, _ = crossing(qnet_readers(qnet), layer_bytes(qnet), segment_of)
    needed = sum(s.weight_bytes for s in segments) + swap_batch * written
    if needed > dram_bytes:
        raise ResourceError(f"off-chip memory: {len(segments)} segments need {needed:,} bytes of DRAM (weights and "
                            f"{swap_batch} images' events), the configuration has {dram_bytes:,}")  # fmt: skip
