"""Networks larger than the chip run in segments through DRAM (targets/accel/segments.py): the
simulator stays bit-exact with the fixed-point reference, the cuts are the cheapest a brute
force finds, and the off-chip traffic and its energy are what the placement implies."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
from snnc.targets.accel import binary, segments
from snnc.targets.accel.config import DEFAULT
from snnc.targets.accel.mapper import demand
from snnc.targets.accel.simulator import simulate_accel

from snnc.errors import FileError, ResourceError
from tests.targets.accel.conftest import FAMILIES, compile_accel, family_graph
from tests.targets.accel.test_simulator import assert_same_run

TINY = dataclasses.replace(DEFAULT, cores_x=3, cores_y=1, weight_sram_kib=2)  # 3 cores of 2 KiB weights


def built(family: str, neuron: str, steps: int, x, chip=TINY):
    return compile_accel(family_graph(FAMILIES[family]), neuron, steps, x, chip=chip).accel()


def layer_segments(build) -> list[int]:
    table = {}
    for piece in build.slices:
        assert table.setdefault(piece.layer, piece.segment) == piece.segment  # a layer in one segment
    return [table[i] for i in range(len(build.qnet.layers))]


@pytest.mark.parametrize("neuron, steps", [("ilif", 5), ("if", 12), ("msat", 12)])
@pytest.mark.parametrize("family", ["residual", "shortcut_conv", "depthwise"])
def test_segments_run_bit_exact(family, neuron, steps, family_data):
    build = built(family, neuron, steps, family_data)
    segment_of = layer_segments(build)
    assert max(segment_of) >= 1 and segment_of == sorted(segment_of)  # in segments, in layer order
    for number in set(segment_of):
        ids = [s.core for s in build.slices if s.segment == number]
        assert len(ids) == len(set(ids)) <= TINY.cores  # each segment fits the chip; ids repeat across them
    assert_same_run(build.qnet, binary.decode_program(binary.encode_program(build.program)), family_data)


def test_off_chip_traffic_and_its_energy(family_data):
    build = built("residual", "if", 10, family_data)
    segment_of = layer_segments(build)
    qnet, steps = build.qnet, build.qnet.timesteps
    index = {layer.name: i for i, layer in enumerate(qnet.layers)}
    written = read = 0  # brute force: every layer whose events a later segment reads, bit-planes of T bits
    for i, layer in enumerate(qnet.layers):
        consumers = {segment_of[j] for j, other in enumerate(qnet.layers)
                     for s in other.synapses if s.source == layer.name} - {segment_of[i]}  # fmt: skip
        written += -(-layer.neurons * steps // 8) if consumers else 0
        read += -(-layer.neurons * steps // 8) * len(consumers)
    weights = sum(s.weight_bytes for s in build.slices) / TINY.swap_batch
    plan = build.plan()
    segment_count = len(plan["segments"])
    assert plan["off_chip_bytes_per_image"] == {
        "segments": segment_count,
        "chips": 1,
        "weight_bytes": weights,
        "event_bytes_written": written,
        "event_bytes_read": read,
        "dram_bytes": weights + written + read,
        "link_bytes": 0,
    }
    assert written > 0 and all(s["cores"] <= TINY.cores for s in plan["segments"])
    assert sum(s["layers"] for s in plan["segments"]) == len(index)
    hw = simulate_accel(build.program, family_data).hardware
    np.testing.assert_allclose(hw.energy["dram"], (weights + written + read) * TINY.energy.dram_pj_per_byte)
    summary = hw.summary()
    assert summary["off_chip"]["segments"] == len(plan["segments"]) and summary["cores"] <= TINY.cores
    faster = dataclasses.replace(TINY, dram_gbs=TINY.dram_gbs * 1000)  # DRAM time is part of the latency
    quicker = simulate_accel(built("residual", "if", 10, family_data, faster).program, family_data).hardware
    assert quicker.cycles.mean() < hw.cycles.mean()


def test_cuts_are_the_cheapest_a_brute_force_finds(family_data):
    """Every way to cut the layer sequence into runs that fit: the fewest event bytes across
    the cuts (a tensor charged at each cut it crosses), then the fewest segments."""
    qnet = built("shortcut_conv", "if", 6, family_data).qnet
    cores = [row["cores"] for row in demand(qnet, TINY)]
    sizes = segments.layer_bytes(qnet)
    last = [max(r, default=i) for i, r in enumerate(segments.qnet_readers(qnet))]
    best = None
    for mask in itertools.product((False, True), repeat=len(cores) - 1):
        starts = [0] + [i + 1 for i, cut in enumerate(mask) if cut]
        runs = list(zip(starts, starts[1:] + [len(cores)]))
        if any(sum(cores[a:b]) > TINY.cores for a, b in runs):
            continue
        cost = (sum(sizes[i] for a, _ in runs[1:] for i in range(a) if last[i] >= a), len(runs))
        best = cost if best is None or cost < best else best
    assert max(cores) <= TINY.cores  # whole layers: the units are the layers
    found = segments.cut(qnet, segments.pieces(cores, TINY.cores), TINY.cores)
    starts = [run[0][0] for run in found]
    charged = sum(sizes[i] for a in starts[1:] for i in range(a) if last[i] >= a)
    assert (charged, len(found)) == best and len(found) > 1


@pytest.mark.parametrize("neuron, steps", [("ilif", 5), ("if", 8)])
def test_a_layer_wider_than_the_chip_runs_in_pieces(neuron, steps, family_data):
    """On one core, every slice is a segment of its own: a layer's output channels split over
    consecutive segments, each piece reading the layer's whole input."""
    one = dataclasses.replace(TINY, cores_x=1, cores_y=1, weight_sram_kib=1)
    build = built("shortcut_conv", neuron, steps, family_data, one)
    assert [s.segment for s in build.slices] == list(range(len(build.slices)))
    layers = [s.layer for s in build.slices]
    assert any(a == b for a, b in zip(layers, layers[1:]))  # some layer spans segments
    assert_same_run(build.qnet, binary.decode_program(binary.encode_program(build.program)), family_data)
    shares = build.plan()["off_chip_bytes_per_image"]
    assert shares["event_bytes_read"] >= shares["event_bytes_written"] > 0


def test_a_plan_larger_than_the_dram_is_a_resource_error(family_data):
    """(One output channel larger than a core stays exit 8 too: test_simulator.py.)"""
    with pytest.raises(ResourceError, match="off-chip memory"):
        built("residual", "if", 6, family_data, dataclasses.replace(TINY, dram_mib=1, swap_batch=4096))


def test_a_program_whose_segments_do_not_add_up_is_refused(family_data):
    build = built("residual", "if", 6, family_data)
    for damage in ("skip", "order"):
        program = binary.decode_program(binary.encode_program(build.program))
        cores = program.meta["cores"]
        if damage == "skip":  # segment numbers jump
            for core in cores[-3:]:
                core["segment"] += 1
        else:  # a core of a later layer first: it would run before what it reads
            first = next(i for i in range(1, len(cores)) if cores[i]["layer"] > cores[i - 1]["layer"])
            cores[first - 1], cores[first] = cores[first], cores[first - 1]
        damaged = binary.encode_program(dataclasses.replace(program, meta=json.loads(json.dumps(program.meta))))
        with pytest.raises(FileError, match="inconsistent program"):
            binary.decode_program(damaged)


def test_a_chip_per_segment_keeps_the_weights_and_sends_events_over_the_link(family_data):
    """chips ≥ segments: no weight swaps and no DRAM; every event another segment reads crosses
    the link once per reading segment; images stream through the chain of chips."""
    alone = built("residual", "if", 10, family_data)
    count = len(alone.plan()["segments"])
    chain = built("residual", "if", 10, family_data, dataclasses.replace(TINY, chips=count))
    plan = chain.plan()
    assert [s["chip"] for s in plan["segments"]] == list(range(count))
    segment_of = layer_segments(chain)
    qnet = chain.qnet
    link = sum(-(-layer.neurons * qnet.timesteps // 8) * len({segment_of[j] for j, other in enumerate(qnet.layers)
                                                             for s in other.synapses if s.source == layer.name}
                                                            - {segment_of[i]})
               for i, layer in enumerate(qnet.layers))  # fmt: skip
    moved = plan["off_chip_bytes_per_image"]
    assert moved["dram_bytes"] == 0 and moved["weight_bytes"] == 0 and moved["link_bytes"] == link > 0
    hw = simulate_accel(chain.program, family_data).hardware
    np.testing.assert_allclose(hw.energy["link"], link * 8 * TINY.energy.link_pj_per_bit)
    assert np.all(hw.energy["dram"] == 0)
    single = simulate_accel(alone.program, family_data).hardware
    assert hw.interval.mean() < single.interval.mean()  # a pipeline of chips streams faster
    assert_same_run(chain.qnet, chain.program, family_data)


def test_fewer_chips_than_segments_share_them(family_data):
    """Two chips, more segments: segment s on chip s mod 2; an event for the next segment crosses
    the link and, that segment not being resident, is stored in its chip's DRAM and read back."""
    build = built("residual", "if", 10, family_data, dataclasses.replace(TINY, cores_x=2, chips=2))
    plan = build.plan()
    segment_of = layer_segments(build)
    count = len(plan["segments"])
    assert count > 2 and [s["chip"] for s in plan["segments"]] == [n % 2 for n in range(count)]
    qnet = build.qnet
    written = read = link = 0
    for i, layer in enumerate(qnet.layers):
        size = -(-layer.neurons * qnet.timesteps // 8)
        others = {segment_of[j] for j, other in enumerate(qnet.layers)
                  for s in other.synapses if s.source == layer.name} - {segment_of[i]}  # fmt: skip
        same = {o for o in others if o % 2 == segment_of[i] % 2}
        away = len(others) - len(same)
        written += (size if same else 0) + size * away
        read += size * len(same) + size * away
        link += size * away
    moved = plan["off_chip_bytes_per_image"]
    weights = sum(s.weight_bytes for s in build.slices) / TINY.swap_batch
    assert (moved["event_bytes_written"], moved["event_bytes_read"], moved["link_bytes"]) == (written, read, link)
    assert moved["dram_bytes"] == weights + written + read and link > 0
    assert_same_run(build.qnet, build.program, family_data)


def test_the_objective_orders_bytes_and_segments(family_data):
    """ "latency" takes the fewest segments (each refills the pipeline), "energy" the fewest bytes
    across cuts; each is the brute force's best in its own order."""
    qnet = built("shortcut_conv", "if", 6, family_data).qnet
    cores = [row["cores"] for row in demand(qnet, TINY)]
    units = segments.pieces(cores, TINY.cores)
    sizes = segments.layer_bytes(qnet)
    last = [max(r, default=i) for i, r in enumerate(segments.qnet_readers(qnet))]
    options = []
    for mask in itertools.product((False, True), repeat=len(cores) - 1):
        starts = [0] + [i + 1 for i, cut in enumerate(mask) if cut]
        runs = list(zip(starts, starts[1:] + [len(cores)]))
        if all(sum(cores[a:b]) <= TINY.cores for a, b in runs):
            options.append((sum(sizes[i] for a, _ in runs[1:] for i in range(a) if last[i] >= a), len(runs)))
    for objective, order in (("energy", lambda o: o), ("latency", lambda o: (o[1], o[0]))):
        found = segments.cut(qnet, units, TINY.cores, objective)
        starts = [run[0][0] for run in found]
        cost = (sum(sizes[i] for a in starts[1:] for i in range(a) if last[i] >= a), len(found))
        assert order(cost) == min(order(o) for o in options)
