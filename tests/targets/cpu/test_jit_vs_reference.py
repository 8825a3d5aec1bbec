"""The cpu target's native code against the numpy reference simulator, the oracle.

Every kernel is reached by a small network built around one op family, converted with the real
pipeline and run by both engines: outputs equal to float tolerance, spike counts and synaptic
operations equal, and the recorded spike trains equal except where a membrane lands within
float rounding of a threshold (summation order differs), which must stay rare."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.passes import PassContext, PassManager, conversion_pipeline
from snnc.runtime.snn import simulate
from snnc.targets.cpu.runner import CompiledNetwork

from snnc.errors import DataError
from snnc.ir import (
    BATCH,
    Add,
    AvgPool,
    Concat,
    Conv,
    Gemm,
    GlobalAvgPool,
    Graph,
    MaxPool,
    Relu,
    Reshape,
    TensorType,
    Transpose,
)
from snnc.ir.ops_snn import Neuron
from snnc.ir.ops_tensor import AddConst, MulConst, Pad

RNG = np.random.default_rng(3)


def conv(g: Graph, source: str, out_channels: int, kernel=3, **options) -> str:
    in_channels = g.type(source).shape[1] // options.get("groups", 1)
    weight = RNG.standard_normal((out_channels, in_channels, kernel, kernel)) * 0.5
    options.setdefault("pads", (kernel // 2,) * 4)
    return g.add(Conv(weight, RNG.standard_normal(out_channels) * 0.1, **options), [source])


def relu(g: Graph, source: str) -> str:
    return g.add(Relu(), [source])


def head(g: Graph, source: str) -> None:
    flat = g.add(Reshape((int(np.prod(g.type(source).sample_shape)),)), [source])
    g.outputs = [g.add(Gemm(RNG.standard_normal((5, g.type(flat).shape[1])) * 0.3, RNG.standard_normal(5)), [flat])]


def network(body) -> Graph:
    """input (3×9×9) → conv → relu → body → flatten → gemm."""
    g = Graph("case")
    x = g.add_input("x", TensorType((BATCH, 3, 9, 9)))
    head(g, body(g, relu(g, conv(g, x, 8))))
    return g


CASES = {
    "conv-3x3": lambda g, h: relu(g, conv(g, h, 16)),
    "conv-strided-dilated": lambda g, h: relu(g, conv(g, h, 12, strides=(2, 2), dilations=(2, 2), pads=(2, 1, 2, 1))),
    "conv-grouped": lambda g, h: relu(g, conv(g, h, 8, groups=4)),
    "conv-1x1-unpadded": lambda g, h: relu(g, conv(g, h, 24, kernel=1)),
    "conv-5x5-odd-channels": lambda g, h: relu(g, conv(g, h, 7, kernel=5)),
    "12-channel-spikes-into-conv": lambda g, h: relu(g, conv(g, relu(g, conv(g, h, 12)), 8)),
    "16-channel-spikes-into-strided-conv": lambda g, h: relu(g, conv(g, relu(g, conv(g, h, 16)), 16, strides=(2, 2))),
    "avgpool": lambda g, h: relu(g, conv(g, g.add(AvgPool((2, 2), (2, 2)), [h]), 8)),
    "avgpool-padded-ceil": lambda g, h: relu(g, conv(g, g.add(AvgPool((3, 3), (2, 2), (1, 1, 1, 1), True), [h]), 8)),
    "maxpool": lambda g, h: relu(g, conv(g, g.add(MaxPool((2, 2), (2, 2)), [h]), 8)),
    "maxpool-padded-overlapping": lambda g, h: relu(g, conv(g, g.add(MaxPool((3, 3), (2, 2), (1, 1, 1, 1)), [h]), 8)),
    "global-avgpool": lambda g, h: g.add(GlobalAvgPool(), [relu(g, conv(g, h, 8))]),
    "residual": lambda g, h: relu(g, g.add(Add(), [conv(g, relu(g, conv(g, h, 8)), 8), h])),
    "concat": lambda g, h: relu(g, conv(g, g.add(Concat(1), [h, relu(g, conv(g, h, 4))]), 8)),
    "transpose-pad": lambda g, h: relu(g, conv(g, g.add(Pad((0, 1, 0, 0, 1, 2)),
                                                       [g.add(Transpose((0, 1, 3, 2)), [h])]), 8)),
    "affine": lambda g, h: relu(g, g.add(AddConst(np.float32(0.1)),
                                         [g.add(MulConst(np.float32(1.5)), [conv(g, h, 8)])])),
}  # fmt: skip


def convert(ann: Graph, neuron: str, calibration: np.ndarray, timesteps: int, maxpool: str = "gate",
            msat: dict | None = None, per_channel: bool = False) -> Graph:  # fmt: skip
    graph = ann.copy()
    ctx = PassContext(calibration=calibration, timesteps=timesteps)
    pipeline = conversion_pipeline(
        neuron,
        percentile=99.9,
        per_channel=per_channel,
        reset="subtract",
        v_init=0.5,
        maxpool=maxpool,
        pipelined=True,
        msat=msat,
        spike_confidence=True,
    )  # MSAT: exercise the confidence mask too
    PassManager(pipeline).run(graph, ctx)
    return graph


def neuron_layers(graph: Graph) -> list[str]:
    return [n.name for n in graph.nodes() if isinstance(n.op, Neuron)]


def compare(graph: Graph, x: np.ndarray, timesteps: int) -> tuple:
    layers = neuron_layers(graph)
    expected = simulate(graph, x, timesteps, record=layers)
    actual = CompiledNetwork(graph).run(x, timesteps, threads=2, record=layers)
    return expected, actual, layers


def rounding_flips(expected, actual, layers) -> np.ndarray:
    """Per sample, the spikes that differ in the first layer (in order) where any differs: there
    the two engines saw the same input spikes, so a difference is a membrane within float
    rounding of a threshold; differences further on follow from it."""
    flips = np.zeros(len(actual.logits), dtype=np.int64)
    for name in layers:
        differing = (expected.records[name] != actual.records[name]).reshape(len(flips), -1).sum(axis=1)
        flips = np.where(flips == 0, differing, flips)
    return flips


def assert_agrees(expected, actual, layers, mismatch_limit=1e-4) -> None:
    """Spike trains equal but for rare rounding flips; samples without one: equal outputs."""
    flips = rounding_flips(expected, actual, layers)
    steps = sum(expected.records[name].size for name in layers)
    assert flips.sum() <= mismatch_limit * steps, f"{flips.sum()} of {steps} neuron-steps flipped"
    exact = flips == 0
    assert exact.mean() >= 0.5
    scale = np.abs(expected.logits).max() + 1e-6
    np.testing.assert_allclose(actual.logits[exact], expected.logits[exact], atol=1e-5 * scale, rtol=1e-5)
    if exact.all():
        assert actual.spikes == expected.spikes
        assert actual.sops == expected.sops
    assert actual.macs == expected.macs and actual.neurons == expected.neurons
    assert sum(actual.spikes.values()) > 0  # the case exercises spikes at all


@pytest.mark.parametrize("neuron, timesteps", [("if", 12), ("ilif", 6), ("msat", 12)])
@pytest.mark.parametrize("case", sorted(CASES))
def test_native_code_matches_the_reference(case, neuron, timesteps):
    ann = network(CASES[case])
    x = RNG.uniform(0, 1, (24, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, neuron, x, timesteps)
    expected, actual, layers = compare(graph, x[:9], timesteps)
    assert_agrees(expected, actual, layers)


@pytest.mark.parametrize("msat", [
    {"units": "absolute", "preset": "resnet"},  # binary spikes: a burst's 1 ↔ 2 is no recorded flip
    {"units": "normalized", "burst": 3},
    {"preset": "resnet", "use_det": False},
    {"use_dtt": False, "confidence_steps": 4},
])  # fmt: skip
def test_msat_variants_match_the_reference(msat):
    """MSAT's exp/softplus are mathlib's polynomials in native code and numpy's in the
    reference: they may differ in the last bit, which is a rounding flip like any other."""
    ann = network(CASES["residual"])
    x = RNG.uniform(0, 1, (24, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, "msat", x, 12, msat=msat)
    assert_agrees(*compare(graph, x[:9], 12))


@pytest.mark.parametrize("neuron", ["if", "msat"])
def test_per_channel_thresholds_match_the_reference(neuron):
    """θ per channel: IF reads it per channel, MSAT per neuron (a per-layer θ_max the MSAT
    kernel reads once per call instead)."""
    ann = network(CASES["residual"])
    x = RNG.uniform(0, 1, (24, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, neuron, x, 12, per_channel=True)
    thresholds = [np.asarray(graph.op(name).threshold) for name in neuron_layers(graph)]
    assert any(np.unique(theta).size > 1 for theta in thresholds)
    expected, actual, layers = compare(graph, x[:9], 12)
    assert_agrees(expected, actual, layers)


@pytest.mark.parametrize("neuron, msat", [("if", None), ("msat", None), ("msat", {"burst": 3, "confidence_steps": 4})])
def test_recorded_values_are_what_each_step_sends(neuron, msat):
    """record_values: IF's spikes times θ, MSAT's s·θ_t (written by its kernel, masked spikes 0),
    as the reference records them; without it, the same layers' spikes (0/1)."""
    ann = network(CASES["residual"])
    x = RNG.uniform(0, 1, (24, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, neuron, x, 12, per_channel=True, msat=msat)
    layers = neuron_layers(graph)
    expected = simulate(graph, x[:9], 12, record=layers, record_values=True)
    net = CompiledNetwork(graph)
    actual = net.run(x[:9], 12, threads=2, record=layers, record_values=True)
    spikes = net.run(x[:9], 12, threads=2, record=layers)
    exact = rounding_flips(*compare(graph, x[:9], 12)) == 0
    assert exact.sum() >= 5
    for name in layers:
        sent = actual.records[name]
        assert sent.dtype == np.float32 and (sent != 0).any()
        np.testing.assert_allclose(sent[exact], expected.records[name][exact], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(spikes.records[name], (sent != 0).astype(np.uint8))


def test_bit_plane_records_are_bits_only():
    ann = network(CASES["residual"])
    x = RNG.uniform(0, 1, (8, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, "ilif", x, 6)
    with pytest.raises(DataError, match="record_values is for rate coding"):
        CompiledNetwork(graph).run(x, 6, record=neuron_layers(graph), record_values=True)


@pytest.mark.filterwarnings("ignore:lower-pooling")
def test_zero_reset_and_average_pooled_max_pool():
    ann = network(CASES["maxpool"])
    x = RNG.uniform(0, 1, (16, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, "if", x, 10, maxpool="avg")
    for node in graph.nodes():
        if isinstance(node.op, Neuron):
            node.op.reset = "zero"
    assert_agrees(*compare(graph, x[:5], 10))


def test_threads_split_the_batch_without_changing_results():
    ann = network(CASES["residual"])
    x = RNG.uniform(0, 1, (13, 3, 9, 9)).astype(np.float32)
    net = CompiledNetwork(convert(ann, "if", x, 8))
    one, many = net.run(x, 8, threads=1), net.run(x, 8, threads=4)
    np.testing.assert_array_equal(one.logits, many.logits)
    assert one.spikes == many.spikes and one.sops == many.sops


def test_runtime_timesteps_need_no_recompilation():
    ann = network(CASES["conv-3x3"])
    x = RNG.uniform(0, 1, (8, 3, 9, 9)).astype(np.float32)
    graph = convert(ann, "ilif", x, 8)
    net, layers = CompiledNetwork(graph), neuron_layers(graph)
    for steps in (3, 8, 12):
        expected = simulate(graph, x, steps, record=layers)
        assert_agrees(expected, net.run(x, steps, record=layers), layers)
