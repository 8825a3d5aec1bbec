"""The cpu code generator's specialised kernel forms against the reference simulator: kernel
rows that share one pass over the events (with several channel tiles and scalar tails; two rows
of 16 channels; the rows and columns that reach outputs at stride 2), pooling maps that run
along the channels (the gate adding to its sums as it reads them), residual adds summed by the IF
or MSAT kernel after them, spikes listed by the IF and MSAT kernels for the synapses after them
(whose weights carry IF's θ), the dense form window by window, regions aligned to cache lines,
SOP counters summed in 64 bits when 32 could overflow, the branch-free listing of the elements
that qualify (sixteen at a time by AVX-512's compress, or eight by a table), and MSAT's thresholds
computed only for the neurons that can reach them."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from llvmlite import ir
from snnc.targets.cpu import layout, listing, msat
from snnc.targets.cpu import plan as plan_module
from snnc.targets.cpu.irbuild import F32, I32, I64, Function, constant_typed, load_typed
from snnc.targets.cpu.listing import list_where
from snnc.targets.cpu.llvm import NativeLibrary, compile_ir, module_header
from snnc.targets.cpu.plan import build_plan, pixel_rows
from snnc.targets.cpu.synapses import _channel_tiles

from tests.targets.cpu.test_jit_vs_reference import (
    CASES,
    assert_agrees,
    compare,
    conv,
    convert,
    network,
    neuron_layers,
    relu,
)

RNG = np.random.default_rng(11)


def assert_same_bits(expected, actual) -> None:
    """Two runs of one network: the same logits, spike and SOP counts and spike trains, bit for bit."""
    np.testing.assert_array_equal(expected.logits, actual.logits)
    assert expected.spikes == actual.spikes and expected.sops == actual.sops
    assert expected.records.keys() == actual.records.keys()
    for name, trains in expected.records.items():
        np.testing.assert_array_equal(trains, actual.records[name])


def pooling_rows(channels: int, size: int, pad: bool) -> np.ndarray:
    """A 2×2 stride-2 window map over a (channels, size, size) value in the channels-last
    layout: row (oy·(size/2) + ox)·channels + c lists the positions of its four inputs
    (with `pad`, the last slot of every row is padding, −1)."""
    half = size // 2
    rows = []
    for oy in range(half):
        for ox in range(half):
            for c in range(channels):
                sources = [((2 * oy + dy) * size + 2 * ox + dx) * channels + c for dy in (0, 1) for dx in (0, 1)]
                rows.append(sources[:3] + [-1] if pad else sources)
    return np.array(rows)


@pytest.mark.parametrize("pad", [False, True])
def test_pixel_rows_are_channel_zeros_rows(pad):
    rows = pooling_rows(5, 4, pad)
    pixels = pixel_rows(rows, (5, 4, 4))
    np.testing.assert_array_equal(pixels, rows[::5])
    # they expand back to the whole map: source of (p, c, j) = pixels[p, j] + c (padding stays −1)
    expanded = np.where(pixels[:, None, :] >= 0, pixels[:, None, :] + np.arange(5)[None, :, None], -1)
    np.testing.assert_array_equal(expanded.reshape(rows.shape), rows)


def test_maps_that_treat_channels_differently_keep_their_rows():
    rows = pooling_rows(4, 4, False)
    swapped = rows.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # channels 0 and 1 of the first pixel exchanged
    assert pixel_rows(swapped, (4, 4, 4)) is None
    assert pixel_rows(rows, (1, 16)) is None  # one channel: nothing to run along
    assert pixel_rows(np.arange(12)[:, None], (12,)) is None


@pytest.mark.parametrize("channels, lanes, targets", [(16, 8, 3), (43, 8, 3), (128, 8, 1), (7, 8, 3), (300, 4, 1)])
def test_channel_tiles_cover_the_channels_within_the_register_budget(channels, lanes, targets):
    tiles = _channel_tiles(channels, targets, lanes)
    covered = np.concatenate([np.arange(start, start + width) for start, width in tiles])
    np.testing.assert_array_equal(covered, np.arange(channels))
    widest = max(width for _, width in tiles)
    assert -(-widest // lanes) * targets <= max(12, targets)  # one vector per target at least


WIDE_CASES = {
    # 43 outputs: a kernel row's three windows need 18 accumulator vectors, so two channel
    # tiles (3 + 3 vectors) and 3 scalar tails per window
    "conv-3x3-43": lambda g, h: relu(g, conv(g, h, 43)),
    "conv-5x5-40": lambda g, h: relu(g, conv(g, h, 40, kernel=5)),
}


@pytest.mark.parametrize("neuron", ["if", "msat"])
@pytest.mark.parametrize("case", sorted(WIDE_CASES))
def test_rows_with_several_channel_tiles_match_the_reference(case, neuron):
    ann = network(WIDE_CASES[case])
    x = RNG.uniform(0, 1, (16, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, neuron, x, 12)
    assert_agrees(*compare(graph, x[:6], 12))


@pytest.mark.parametrize("neuron", ["if", "msat"])
@pytest.mark.parametrize("case", ["conv-3x3", "16-channel-spikes-into-strided-conv"])
def test_kernel_rows_that_share_a_pass_give_the_same_bits(monkeypatch, case, neuron):
    """16 channels: two kernel rows' windows (12 vectors) in one pass over a pixel's events, or
    the rows that reach outputs at stride 2; against one row per pass, bit for bit."""
    from snnc.targets.cpu import runner as jit
    from snnc.targets.cpu import synapses

    ann = network(CASES[case])
    x = RNG.uniform(0, 1, (12, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, neuron, x, 8)
    expected = jit.CompiledNetwork(graph, cache=None).run(x[:5], 8, record=neuron_layers(graph))
    monkeypatch.setattr(synapses, "ROWS_TOGETHER", False)
    separate = jit.CompiledNetwork(graph, cache=None)
    actual = separate.run(x[:5], 8, record=neuron_layers(graph))
    assert_same_bits(expected, actual)


def test_pooling_runs_along_the_channels_in_the_fixtures_shapes():
    ann = network(CASES["maxpool"])
    x = RNG.uniform(0, 1, (8, 3, 9, 9)).astype(np.float32)
    kernels = build_plan(convert(ann, "if", x, 8)).kernels
    gates = [k for k in kernels if k.kind == "gate"]
    assert gates and all(k.args.get("channels") == 8 for k in gates)


@pytest.mark.parametrize("case, fused", [("maxpool", True), ("maxpool-padded-overlapping", False)])
def test_gate_adds_to_its_sums_as_it_reads_them_only_where_windows_are_disjoint(case, fused):
    ann = network(CASES[case])
    x = RNG.uniform(0, 1, (8, 3, 9, 9)).astype(np.float32)
    gates = [k for k in build_plan(convert(ann, "if", x, 8)).kernels if k.kind == "gate"]
    assert gates and all(k.args["fused_count"] is fused for k in gates)


@pytest.mark.parametrize("neuron", ["if", "msat"])
def test_residual_add_is_summed_inside_the_neuron_kernel(neuron):
    ann = network(CASES["residual"])
    x = RNG.uniform(0, 1, (8, 3, 9, 9)).astype(np.float32)
    kernels = build_plan(convert(ann, neuron, x, 8)).kernels
    neurons = [k for k in kernels if k.kind == neuron]
    assert not any(k.kind == "add" for k in kernels)
    assert [len(k.args.get("addends", ())) for k in neurons].count(2) == 1
    if neuron == "if":  # with thresholds per channel
        assert all(k.args["channels"] == 8 and k.args["channel_theta"].size == 8 for k in neurons)


@pytest.mark.parametrize("neuron", ["if", "msat"])
def test_residual_add_summed_by_the_neuron_gives_the_same_bits(monkeypatch, neuron):
    from snnc.targets.cpu import runner as jit

    ann = network(CASES["residual"])
    x = RNG.uniform(0, 1, (12, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, neuron, x, 8)
    fused = jit.CompiledNetwork(graph, cache=None)
    expected = fused.run(x[:5], 8, record=fused.layers)
    monkeypatch.setattr(plan_module._Builder, "feeds_only_a_neuron", lambda self, node: False)
    separate = jit.CompiledNetwork(graph, cache=None)
    assert any(k.kind == "add" for k in separate.plan.kernels)
    actual = separate.run(x[:5], 8, record=fused.layers)
    assert_same_bits(expected, actual)


@pytest.mark.parametrize("case", ["residual", "concat", "maxpool", "avgpool-padded-ceil"])
@pytest.mark.parametrize("neuron", ["if", "msat"])
def test_step_local_values_share_memory_without_changing_a_bit(monkeypatch, case, neuron):
    from snnc.targets.cpu import runner as jit

    ann = network(CASES[case])
    x = RNG.uniform(0, 1, (12, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, neuron, x, 8)
    shared = jit.CompiledNetwork(graph, cache=None)
    expected = shared.run(x[:5], 8, record=shared.layers)
    monkeypatch.setattr(jit, "build_plan", lambda g: plan_module._Builder(g).build())  # each value its own memory
    separate = jit.CompiledNetwork(graph, cache=None)
    actual = separate.run(x[:5], 8, record=shared.layers)
    assert shared.plan.ws_size < separate.plan.ws_size
    assert_same_bits(expected, actual)


@pytest.mark.parametrize("neuron", ["if", "msat"])
@pytest.mark.parametrize("case", ["conv-3x3", "conv-grouped", "residual", "12-channel-spikes-into-conv"])
def test_spikes_listed_by_the_neuron_kernel_give_the_same_bits(monkeypatch, case, neuron):
    """An IF or MSAT layer read by event-driven synapses lists its spikes per pixel itself (IF
    in vectors, or after its update where its channels do not fill vectors; MSAT per tile of
    whole pixels, or after its update where 12 channels do not divide a tile); the synapses
    read the lists."""
    from snnc.targets.cpu import runner as jit

    ann = network(CASES[case])
    x = RNG.uniform(0, 1, (12, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, neuron, x, 8)
    listed = jit.CompiledNetwork(graph, cache=None)
    assert any(k.args.get("listed") for k in listed.plan.kernels)
    scaled = neuron == "if" and case != "conv-grouped"  # the weights carry θ_c (MSAT's spikes are graded)
    assert any(k.args.get("scaled") for k in listed.plan.kernels) == scaled
    expected = listed.run(x[:5], 8, record=listed.layers)
    monkeypatch.setattr(plan_module._Builder, "feeds_event_driven_synapses", lambda self, node: False)
    unlisted = jit.CompiledNetwork(graph, cache=None)
    assert not any(k.args.get("listed") for k in unlisted.plan.kernels)
    actual = unlisted.run(x[:5], 8, record=listed.layers)
    assert_same_bits(expected, actual)


@pytest.mark.parametrize("neuron", ["if", "msat"])
@pytest.mark.parametrize("case", ["conv-3x3", "12-channel-spikes-into-conv", "16-channel-spikes-into-strided-conv"])
def test_listing_sixteen_or_eight_at_a_time_gives_the_same_bits(monkeypatch, case, neuron):
    """The spike lists and MSAT's neurons that may fire, listed by AVX-512's compress or by the
    table: the same network, bit for bit."""
    from snnc.targets.cpu import runner as jit

    if listing.block_size() != listing.WIDE_BLOCK:
        pytest.skip("the compress form needs AVX-512")
    x = RNG.uniform(0, 1, (12, 3, 9, 9)).astype(np.float32)
    graph = convert(network(CASES[case]), neuron, x, 8)
    compressed = jit.CompiledNetwork(graph, cache=None)
    expected = compressed.run(x[:6], 8, record=compressed.layers)
    monkeypatch.setattr(listing, "USE_COMPRESS", False)
    actual = jit.CompiledNetwork(graph, cache=None).run(x[:6], 8, record=compressed.layers)
    assert_same_bits(expected, actual)
    assert sum(actual.spikes.values()) > 0


def test_workspace_and_constant_regions_start_on_cache_lines():
    from snnc.targets.cpu.runner import CompiledNetwork

    ann = network(CASES["residual"])
    x = RNG.uniform(0, 1, (8, 3, 9, 9)).astype(np.float32)
    network_ = CompiledNetwork(convert(ann, "if", x, 8))
    regions = [r for k in network_.plan.kernels for r in k.args.values() if isinstance(r, layout.Region)]
    aligned = [r for r in regions if r.space in layout.ALIGNED_SPACES]
    assert aligned and all(r.offset % layout.ALIGNMENT == 0 for r in aligned)
    ws, iws = network_._workspaces(1)[0]
    for array in (network_.plan.params, network_.plan.index, ws, iws):
        assert array.ctypes.data % 64 == 0


@pytest.mark.parametrize("case", ["conv-5x5-odd-channels", "conv-grouped", "residual"])
def test_dense_form_window_by_window_gives_the_same_bits(monkeypatch, case):
    """Channel tiles whose weights pass L1 take the windows as the outer loop, their sums going
    through dst between windows in the same order: the same floats. Forced here on every tile."""
    from snnc.targets.cpu import synapses
    from snnc.targets.cpu.runner import CompiledNetwork

    ann = network(CASES[case])
    x = RNG.uniform(0, 1, (12, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, "ilif", x, 6)
    plain = CompiledNetwork(graph, cache=None)
    expected = plain.run(x[:5], 6, record=plain.layers)
    monkeypatch.setattr(synapses, "L1_WEIGHT_BYTES", 0)
    actual = CompiledNetwork(graph, cache=None).run(x[:5], 6, record=plain.layers)
    np.testing.assert_array_equal(expected.logits, actual.logits)
    assert expected.records.keys() == actual.records.keys()
    for name, trains in expected.records.items():
        np.testing.assert_array_equal(trains, actual.records[name])


def test_sop_counts_summed_in_64_bits_match_the_reference(monkeypatch):
    """Counters whose bound passes 2^31 sum in int64; force that form on a small network."""
    monkeypatch.setattr(plan_module, "NARROW_COUNT_LIMIT", 0)
    ann = network(CASES["residual"])
    x = RNG.uniform(0, 1, (16, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, "if", x, 10)
    counting = [k for k in build_plan(graph).kernels if "narrow" in k.args]
    assert counting and not any(k.args["narrow"] for k in counting)
    expected, actual, layers = compare(graph, x[:6], 10)
    assert_agrees(expected, actual, layers)
    assert actual.sops == expected.sops


def test_profiling_counts_cycles_without_changing_results():
    from snnc.targets.cpu.runner import CompiledNetwork

    ann = network(CASES["maxpool"])
    x = RNG.uniform(0, 1, (8, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, "if", x, 8)
    plain, profiled = CompiledNetwork(graph), CompiledNetwork(graph, profile=True)
    expected, actual = plain.run(x, 8, threads=2), profiled.run(x, 8, threads=2)
    np.testing.assert_array_equal(expected.logits, actual.logits)
    assert expected.spikes == actual.spikes and expected.sops == actual.sops
    cycles = dict(zip([k.kind for k in profiled.plan.kernels], profiled.kernel_cycles))
    assert cycles["weighted"] > 0 and cycles["gate"] > 0 and (plain.kernel_cycles == 0).all()


def _listing_program(count: int, known: bool):
    """n = list_where(x > 0) over x[:count] into listed, x's values packed into packed; the
    count known when compiling (`known`) or only at run time."""
    module = ir.Module(name="listing")
    module.triple, module.data_layout = module_header()
    pointers = [("src", F32.as_pointer()), ("listed", I32.as_pointer()), ("packed", F32.as_pointer())]
    f = Function(module, "listing", [*pointers, ("total", I64.as_pointer()), ("count", I64)], internal=False)
    b, a = f.b, f.args

    def positive(i, typ):
        return b.fcmp_ordered(">", load_typed(f, a["src"], i, typ), constant_typed(typ, 0.0))

    def value(i, typ):
        return load_typed(f, a["src"], i, typ)

    total = list_where(f, count if known else a["count"], positive, a["listed"], [(value, a["packed"])])
    f.store(total, a["total"], 0)
    f.finish()
    library = NativeLibrary(compile_ir(str(module)))
    return library, library.function("listing", None, *[ctypes.c_void_p] * 4, ctypes.c_int64)


@pytest.mark.parametrize("count", [1, 7, 8, 13, 16, 64, 70, 129, 256])
@pytest.mark.parametrize("known", [True, False])
@pytest.mark.parametrize("form", ["compress", "permps", "portable"])
def test_listing_lists_and_packs_the_elements_that_qualify(monkeypatch, count, known, form):
    if form == "compress" and listing.block_size() != listing.WIDE_BLOCK:
        pytest.skip("the compress form needs AVX-512")
    monkeypatch.setattr(listing, "USE_COMPRESS", form == "compress")  # else the table's eight at a time
    monkeypatch.setattr(listing, "USE_PERMPS", form != "portable")  # the lane-by-lane permute
    library, list_positive = _listing_program(count, known)
    x = RNG.uniform(-1, 1, count + 8).astype(np.float32)
    x[count:] = 1.0  # guard elements past the end qualify, and must not be listed
    listed, packed = np.full(count + 8, -7, np.int32), np.full(count + 8, -7.0, np.float32)
    total = np.zeros(1, np.int64)
    list_positive(x.ctypes.data, listed.ctypes.data, packed.ctypes.data, total.ctypes.data, count)
    expected = np.flatnonzero(x[:count] > 0)
    assert total[0] == expected.size
    np.testing.assert_array_equal(listed[: total[0]], expected)
    np.testing.assert_array_equal(packed[: total[0]], x[expected])
    assert (listed[count:] == -7).all() and (packed[count:] == -7.0).all()  # nothing written past count


@pytest.mark.parametrize("case, hyper", [
    ("conv-3x3", None),
    ("residual", None),  # γ = 2
    ("conv-3x3", {"preset": "resnet", "units": "absolute"}),
    ("residual", {"alpha": -0.5, "k_a": -1.0}),  # τ_mp·k_a < 0: softplus bounded from above
    ("conv-3x3", {"tau_mp": 3.0, "k_i": 0.05, "c_det": 0.05}),  # big terms: the range guard lists them
    ("conv-3x3", {"tau_rd": -1.0}),  # no bound for a negative DET: V + I ≥ 0
    ("residual", {"use_dtt": False}),
    ("residual", {"use_det": False}),
])  # fmt: skip
def test_msat_thresholds_of_listed_neurons_only_give_the_same_bits(monkeypatch, case, hyper):
    """MSAT computes θ_t only for the neurons that pass msat.may_fire (a neuron below a lower
    bound of θ_t cannot fire whatever θ_t is): the same floats as computing it for every neuron,
    for each shape of the bound. The layers span several tiles and a partial one."""
    from snnc.targets.cpu import runner as jit

    monkeypatch.setattr(msat, "THRESHOLD_TILE", 128)
    ann = network(CASES[case])
    x = RNG.uniform(0, 1, (12, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, "msat", x, 8, msat=hyper)
    listed = jit.CompiledNetwork(graph, cache=None)
    assert max(k.args["n"] for k in listed.plan.kernels if k.kind == "msat") % 128 > 0  # a partial tile
    expected = listed.run(x[:5], 8, record=listed.layers)
    assert sum(expected.spikes.values()) > 0
    monkeypatch.setattr(msat, "SKIP_BOUNDED", False)
    every = jit.CompiledNetwork(graph, cache=None)
    actual = every.run(x[:5], 8, record=listed.layers)
    assert_same_bits(expected, actual)


@pytest.mark.parametrize("case, hyper", [("conv-3x3", None), ("residual", {"confidence_steps": 4})])
def test_msat_layer_threshold_read_once_gives_the_same_bits(monkeypatch, case, hyper):
    """A per-layer θ_max is read once per call of the MSAT kernel, not per neuron: the same
    floats as reading it per neuron, with and without the confidence mask."""
    from snnc.targets.cpu import runner as jit

    ann = network(CASES[case])
    x = RNG.uniform(0, 1, (12, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, "msat", x, 8, msat=hyper)
    once = jit.CompiledNetwork(graph, cache=None)
    assert all("layer_theta" in k.args and "theta" not in k.args for k in once.plan.kernels if k.kind == "msat")
    expected = once.run(x[:5], 8, record=once.layers)
    assert sum(expected.spikes.values()) > 0
    monkeypatch.setattr(plan_module, "LAYER_THRESHOLD_ONCE", False)
    per_neuron = jit.CompiledNetwork(graph, cache=None)
    assert all("theta" in k.args and "layer_theta" not in k.args for k in per_neuron.plan.kernels if k.kind == "msat")
    assert_same_bits(expected, per_neuron.run(x[:5], 8, record=once.layers))
