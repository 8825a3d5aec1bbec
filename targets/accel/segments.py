"""Networks larger than the chip: segments that take turns on it through off-chip DRAM, or
run on several chips (docs/accel.md, "Larger than the chip").

When the layers' slices need more cores than a chip has, the layer sequence (topological
order) is cut into segments that each fit. Segment s runs on chip s mod `chips`. Where there
are more segments than chips, a chip runs its segments in turn: a segment's weights come in
from DRAM, it runs `swap_batch` images through its layers (all T steps), and the events that
later segments read go out to DRAM. Where each segment has a chip, weights stay and events
cross the link between chips, pipelined. Per image, the off-chip traffic (traffic()) is

    weights:  Σ_segments weight bytes / swap_batch          (none when every segment has a chip)
    events:   bytes of each layer another segment reads: through DRAM (written once, read by
              each reading segment) on the same chip, over the link to another

with a layer's events stored as bit-planes, T bits per neuron (MSAT events carry a 16-bit
payload). A layer wider than the chip is cut into pieces of its output channels, which run in
consecutive segments. Where to cut is a dynamic program over cut positions (a tensor live
across a cut is charged at that cut), by the configuration's objective: "energy" takes the
fewest bytes across cuts, then the fewest segments; "latency" the fewest segments (each
refills the layer pipeline: T more slots), then the fewest bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from snnc import models
from snnc.errors import ResourceError
from snnc.ir.qnet import QNet


@dataclass(frozen=True)
class Segment:
    """A run of layers that holds the chip at once, as the plan reports it."""

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


def traffic(layer_readers: list[list[int]], sizes: list[int], parts: list[list[tuple[int, float]]],
            segment_weights: list[int], config) -> dict:  # fmt: skip
    """Off-chip bytes per image. parts[i]: layer i's (segment, share of its channels) — a layer
    wider than the chip spans segments. Segment s runs on chip s mod `chips`; with no more
    segments than chips each stays on its chip (no weight swaps). Events another segment reads
    go through its chip's DRAM when that segment is on the same chip (written once, read by
    each), and over the link when it is on another (sent to each; stored in that chip's DRAM,
    written and read, when the reader is not resident)."""
    count, chips = len(segment_weights), config.chips
    resident = count <= chips
    written = read = link = 0.0
    for i, reading in enumerate(layer_readers):
        consumers = {segment for j in reading for segment, _ in parts[j]}
        for segment, share in parts[i]:
            size = share * sizes[i]
            others = consumers - {segment}
            here = {c for c in others if c % chips == segment % chips}
            away = len(others) - len(here)
            written += (size if here else 0) + (0 if resident else size * away)
            read += size * len(here) + (0 if resident else size * away)
            link += size * away
    weights = 0.0 if resident else sum(segment_weights) / config.swap_batch
    written, read = round(written), round(read)
    return {"segments": count, "chips": min(chips, count), "weight_bytes": weights, "event_bytes_written": written,
            "event_bytes_read": read, "dram_bytes": weights + written + read, "link_bytes": round(link)}  # fmt: skip


def shares(layers: int, placed) -> list[list[tuple[int, float]]]:
    """Per layer, (segment, share of its neurons) from each core's (layer, segment, share)."""
    table: list[dict[int, float]] = [{} for _ in range(layers)]
    for layer, segment, share in placed:
        table[layer][segment] = table[layer].get(segment, 0.0) + share
    return [sorted(row.items()) for row in table]


def pieces(cores: list[int], chip_cores: int) -> list[tuple[int, int, int]]:
    """The units segments are made of: (layer, first slice, last slice + 1); a layer wider than
    the chip is cut into pieces of at most chip_cores slices (its output channels are
    independent: each piece reads the layer's whole input)."""
    units = []
    for layer, count in enumerate(cores):
        units += [(layer, first, min(count, first + chip_cores)) for first in range(0, count, chip_cores)]
    return units


def cut(qnet: QNet, units: list[tuple[int, int, int]], chip_cores: int,
        objective: str = "energy") -> list[list[tuple[int, int, int]]]:  # fmt: skip
    """The segments, as runs of units whose slices fit the chip: for "energy", cut where the
    fewest event bytes are live (a layer complete before the cut and read after it, or one the
    cut splits), then into the fewest segments; for "latency", the fewest segments, then bytes."""
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
            if best[end] is None or _order(candidate, objective) < _order(best[end], objective):
                best[end], start_of[end] = candidate, begin
    bounds, end = [], count
    while end:
        bounds.append((start_of[end], end))
        end = start_of[end]
    return [units[a:b] for a, b in reversed(bounds)]


def _order(cost: tuple[int, int], objective: str) -> tuple[int, int]:
    """(bytes, segments) in the order the objective compares them."""
    return cost if objective == "energy" else (cost[1], cost[0])


def check_dram(qnet: QNet, parts: list[list[tuple[int, float]]], segment_weights: list[int], config) -> None:
    """The weights of every segment, and a swap batch's events between segments, must fit the
    DRAM (of each chip: the bound is checked on the whole, the chips' shares being alike)."""
    if len(segment_weights) <= config.chips:
        return
    moved = traffic(qnet_readers(qnet), layer_bytes(qnet), parts, segment_weights, config)
    needed = sum(segment_weights) + config.swap_batch * moved["event_bytes_written"]
    dram_bytes = config.dram_mib * 2**20 * config.chips
    if needed > dram_bytes:
        raise ResourceError(f"off-chip memory: {len(segment_weights)} segments need {needed:,} bytes of DRAM "
                            f"(weights and {config.swap_batch} images' events), the configuration has "
                            f"{dram_bytes:,}")  # fmt: skip
