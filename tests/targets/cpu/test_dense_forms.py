"""The dense forms' shortcuts against their definitions: Winograd F(2×2, 3×3) for 3×3 stride-1
convolutions (the transforms' identity in float64; the compiled network against the reference
simulator and against the direct form; which layers the plan gives it), iLIF's T bits made at
once, bit for bit the bits of the T steps (boundary values included), and the gather form's
weights laid out per channel tile."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.runtime.snn import simulate
from snnc.targets.cpu import neurons, winograd
from snnc.targets.cpu.plan import build_plan
from snnc.targets.cpu.runner import CompiledNetwork
from snnc.targets.cpu.synapses import channel_chunks

from snnc.ir import BATCH, Conv, Gemm, Graph, Relu, Reshape, TensorType
from snnc.ir.ops_snn import Neuron
from tests.targets.cpu.test_jit_vs_reference import assert_agrees, compare, convert, head, neuron_layers

RNG = np.random.default_rng(17)


def correlate(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The 2×2 outputs of a 3×3 window sliding over a 4×4 tile (ONNX Conv's cross-correlation)."""
    return np.array([[(d[i : i + 3, j : j + 3] * g).sum() for j in range(2)] for i in range(2)])


def test_transforms_compute_the_convolution():
    b_t, a_t = np.array(winograd.B_T, float), np.array(winograd.A_T, float)
    weight = RNG.standard_normal((1, 3, 3, 5, 7))  # the gather form's (1, KH, KW, C, O)
    u = winograd.transformed_weights(weight).astype(np.float64).reshape(4, 4, 5, 7)
    d = RNG.standard_normal((4, 4, 5))
    v = np.einsum("ri,ijc,sj->rsc", b_t, d, b_t)
    m = np.einsum("rsc,rsco->rso", v, u)
    y = np.einsum("pr,rso,qs->pqo", a_t, m, a_t)
    expected = np.stack([sum(correlate(d[:, :, c], weight[0, :, :, c, o]) for c in range(5)) for o in range(7)], -1)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)  # U is rounded to float32


def conv_network(in_channels: int, size: int, layers: list[dict]) -> Graph:
    """input (in_channels × size × size) → [conv → relu]… → flatten → gemm."""
    g = Graph("dense")
    h = g.add_input("x", TensorType((BATCH, in_channels, size, size)))
    for options in layers:
        options = dict(options)
        out_channels = options.pop("out")
        channels = g.type(h).shape[1] // options.get("groups", 1)
        weight = RNG.standard_normal((out_channels, channels, 3, 3)) * (1.5 / np.sqrt(9 * channels))
        options.setdefault("pads", (1, 1, 1, 1))
        h = g.add(Relu(), [g.add(Conv(weight, RNG.standard_normal(out_channels) * 0.1, **options), [h])])
    head(g, h)
    return g


WINOGRAD_CASES = {
    "odd-size-padded": (16, 9, [dict(out=16), dict(out=24)]),  # 9×9: a last row and column of half tiles
    "even-size-unpadded": (16, 10, [dict(out=16, pads=(0, 0, 0, 0)), dict(out=16)]),  # 8×8, then 8×8
    "asymmetric-pads": (16, 9, [dict(out=16, pads=(1, 0, 2, 1)), dict(out=20)]),
    "strided-stays-direct": (16, 16, [dict(out=16, strides=(2, 2)), dict(out=16)]),  # then 8×8: Winograd
}


def kinds(graph: Graph) -> list[str]:
    return [kernel.kind for kernel in build_plan(graph).kernels]


@pytest.mark.parametrize("case", list(WINOGRAD_CASES))
@pytest.mark.parametrize("neuron", ["ilif", "if"])
def test_winograd_layers_match_the_reference(case, neuron):
    """iLIF: every hidden 3×3 layer is dense (its input decoded); IF: the layer fed by the
    network input is (the others are event-driven)."""
    in_channels, size, layers = WINOGRAD_CASES[case]
    ann = conv_network(in_channels, size, layers)
    x = RNG.random((10, in_channels, size, size)).astype(np.float32)
    graph = convert(ann, neuron, x, 8)
    expected_layers = {"ilif": 1 if case == "strided-stays-direct" else 2, "if": 0 if "strided" in case else 1}
    assert kinds(graph).count("winograd-input") == expected_layers[neuron]
    assert kinds(graph).count("winograd-output") == expected_layers[neuron]
    assert_agrees(*compare(graph, x, 8))


@pytest.mark.parametrize("case", ["odd-size-padded", "asymmetric-pads"])
def test_winograd_and_direct_forms_agree(monkeypatch, case):
    in_channels, size, layers = WINOGRAD_CASES[case]
    x = RNG.random((10, in_channels, size, size)).astype(np.float32)
    graph = convert(conv_network(in_channels, size, layers), "ilif", x, 8)
    layer_names = neuron_layers(graph)
    with_winograd = CompiledNetwork(graph).run(x, 8, threads=1, record=layer_names)
    monkeypatch.setattr(winograd, "ENABLED", False)
    assert "winograd-input" not in kinds(graph)
    direct = CompiledNetwork(graph).run(x, 8, threads=1, record=layer_names)
    assert_agrees(direct, with_winograd, layer_names)


@pytest.mark.parametrize(
    "in_channels, size, layer, expected",
    [
        (16, 8, dict(out=16), True),  # 8×8: 16 tiles
        (8, 8, dict(out=16), False),  # too few input channels
        (16, 8, dict(out=8), False),  # too few output channels
        (16, 4, dict(out=16), True),  # 4×4: 4 tiles
        (16, 2, dict(out=16), False),  # 2×2: 1 tile
        (16, 8, dict(out=16, strides=(2, 2)), False),
        (16, 8, dict(out=16, dilations=(2, 2), pads=(2, 2, 2, 2)), False),
        (16, 8, dict(out=16, groups=2), False),
    ],
)
def test_which_convolutions_run_as_winograd(in_channels, size, layer, expected):
    ann = conv_network(in_channels, size, [layer])
    graph = convert(ann, "ilif", RNG.random((4, in_channels, size, size)).astype(np.float32), 8)
    assert ("winograd-input" in kinds(graph)) is expected


def test_winograd_layers_share_one_scratch():
    ann = conv_network(16, 12, [dict(out=16), dict(out=32), dict(out=16)])
    graph = convert(ann, "ilif", RNG.random((4, 16, 12, 12)).astype(np.float32), 8)
    kernels = build_plan(graph).kernels
    inputs = [k for k in kernels if k.kind == "winograd-input"]
    outputs = [k for k in kernels if k.kind == "winograd-output"]
    assert len(inputs) == 3 and len({k.args["dst"] for k in inputs}) == 1
    assert len({k.args["src"] for k in outputs}) == 1
    tiles = 6 * 6 * winograd.POSITIONS
    assert inputs[0].args["dst"].size == tiles * 32  # the widest input (32 channels) sets its size
    assert outputs[0].args["src"].size == tiles * 32


def identity_ilif(theta: np.ndarray) -> Graph:
    """input → identity 1×1 conv → iLIF (θ per channel) → flatten → identity gemm: the logits
    are the values the neurons' bits encode, θ·bits·2^−T."""
    channels = theta.size
    g = Graph("bits")
    h = g.add_input("x", TensorType((BATCH, channels, 4, 4)))
    h = g.add(Conv(np.eye(channels).reshape(channels, channels, 1, 1), np.zeros(channels)), [h])
    h = g.add(Neuron(model="ilif", threshold=theta.reshape(channels, 1, 1).astype(np.float32)), [h])
    h = g.add(Reshape((channels * 16,)), [h])
    g.outputs = [g.add(Gemm(np.eye(channels * 16), np.zeros(channels * 16)), [h])]
    return g


def boundary_inputs(theta: np.ndarray, timesteps: int, samples: int) -> np.ndarray:
    """Potentials on and next to the bits' boundaries θ·k/2^T, at and beyond θ, 0, −0, below 0."""
    rng = np.random.default_rng(timesteps)
    theta32 = theta.astype(np.float32)[None, :, None, None]
    k = rng.integers(0, 2**timesteps + 1, (samples, theta.size, 4, 4)).astype(np.float64)
    on = (theta32 * k / 2.0**timesteps).astype(np.float32)
    nudge = rng.integers(-1, 2, on.shape)
    x = np.where(nudge < 0, np.nextafter(on, np.float32(-np.inf)), np.where(nudge > 0, np.nextafter(on, np.inf), on))
    x[0, :, 0, :] = np.array([0.0, -0.0, -1e-30, -3.0], np.float32)
    x[1, :, 0, :] = np.array([1e30, 2.0, -1.0, 0.0], np.float32)[None, :] * theta32[0, :, 0, :1]
    return x.astype(np.float32)


@pytest.mark.parametrize("timesteps", [1, 4, 8, 16, 20, 21, 31])
def test_ilif_bits_at_once_are_the_steps_bits(monkeypatch, timesteps):
    """T ≤ 20 takes the closed form, T > 20 the steps: either way, the same bits as the steps
    and the same spikes as the reference."""
    theta = np.array([0.37, 1.0, 3e-3, 7.5, 1e-30], np.float32)
    graph = identity_ilif(theta)
    x = boundary_inputs(theta, timesteps, 12)
    at_once = CompiledNetwork(graph).run(x, timesteps, threads=1)
    monkeypatch.setattr(neurons, "ILIF_CLOSED_FORM", False)
    stepped = CompiledNetwork(graph).run(x, timesteps, threads=1)
    np.testing.assert_array_equal(at_once.logits, stepped.logits)
    assert at_once.spikes == stepped.spikes
    reference = simulate(graph, x, timesteps)
    assert at_once.spikes == reference.spikes
    np.testing.assert_allclose(at_once.logits, reference.logits, rtol=1e-6, atol=0)


def wide_network() -> Graph:
    """Dense-form layers of several channel tiles: a 3×3 convolution of 80 output channels (8
    input channels: direct, not Winograd), a grouped one of 2 × 80, and a dense layer of 400
    outputs."""
    g = Graph("wide")
    h = g.add_input("x", TensorType((BATCH, 8, 4, 4)))
    for out_channels, groups in ((80, 1), (160, 2)):
        weight = RNG.standard_normal((out_channels, g.type(h).shape[1] // groups, 3, 3)) * 0.2
        h = g.add(Relu(), [g.add(Conv(weight, RNG.standard_normal(out_channels) * 0.1, pads=(1, 1, 1, 1),
                                      groups=groups), [h])])  # fmt: skip
    h = g.add(Reshape((160 * 16,)), [h])
    h = g.add(Relu(), [g.add(Gemm(RNG.standard_normal((400, 160 * 16)) * 0.03, RNG.standard_normal(400) * 0.1), [h])])
    g.outputs = [g.add(Gemm(RNG.standard_normal((5, 400)) * 0.1, np.zeros(5)), [h])]
    return g


def test_gather_weights_by_channel_tile_match_the_reference():
    """The gather form's weights laid out per channel tile (synapses.gather_weights), where a
    layer has several tiles: every layer of this network is dense under iLIF."""
    x = RNG.random((8, 8, 4, 4)).astype(np.float32)
    graph = convert(wide_network(), "ilif", x, 8)
    dense = [k.args for k in build_plan(graph).kernels if k.kind == "weighted"][:3]
    assert all(len(channel_chunks(a["O"] // a["G"], a["OH"] * a["OW"])) > 1 for a in dense)
    assert_agrees(*compare(graph, x, 8))
