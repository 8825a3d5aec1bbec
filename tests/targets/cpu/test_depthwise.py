"""Depthwise convolutions (MobileNets) on the cpu target: the dense form's channel-vectorized
kernel (synapses.depthwise_synapses) against the reference simulator, and against the grouped
gather form it replaces, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.runtime.snn import simulate
from snnc.targets.cpu import geometry
from snnc.targets.cpu.runner import CompiledNetwork

from snnc.ir import BATCH, Conv, Gemm, Graph, Relu, Reshape, TensorType
from tests.targets.cpu.test_jit_vs_reference import assert_agrees, convert, neuron_layers


def depthwise_network(channels: int, kernel: int, stride: int, seed: int) -> Graph:
    """input (channels × 11 × 11) → depthwise conv → relu → depthwise conv → relu → gemm."""
    rng = np.random.default_rng(seed)
    g = Graph("depthwise")
    h = g.add_input("x", TensorType((BATCH, channels, 11, 11)))
    for _ in range(2):
        weight = rng.standard_normal((channels, 1, kernel, kernel)) * 0.6
        conv = Conv(weight, rng.standard_normal(channels) * 0.1, strides=(stride, stride), pads=(kernel // 2,) * 4,
                    groups=channels)  # fmt: skip
        h = g.add(Relu(), [g.add(conv, [h])])
    flat = g.add(Reshape((int(np.prod(g.type(h).sample_shape)),)), [h])
    g.outputs = [g.add(Gemm(rng.standard_normal((5, g.type(flat).shape[1])) * 0.3, rng.standard_normal(5)), [flat])]
    return g


SHAPES = [(16, 3, 1), (20, 3, 2), (3, 5, 1), (48, 3, 1)]  # channels past whole vectors; strided; 5×5


@pytest.mark.parametrize("channels, kernel, stride", SHAPES)
def test_depthwise_ilif_matches_the_reference(channels, kernel, stride):
    x = np.random.default_rng(1).uniform(0, 1, (10, channels, 11, 11)).astype(np.float32)
    graph = convert(depthwise_network(channels, kernel, stride, seed=channels), "ilif", x, 6)
    network = CompiledNetwork(graph, cache=None)
    assert sum(bool(k.args.get("depthwise")) for k in network.plan.kernels) == 2
    layers = neuron_layers(graph)
    expected = simulate(graph, x[:6], 6, record=layers)
    actual = network.run(x[:6], 6, threads=1, record=layers)
    assert_agrees(expected, actual, layers)


@pytest.mark.parametrize("channels, kernel, stride", SHAPES)
def test_depthwise_form_gives_the_grouped_forms_bits(monkeypatch, channels, kernel, stride):
    """Same sums in the same order as the gather form with one channel per group."""
    x = np.random.default_rng(2).uniform(0, 1, (10, channels, 11, 11)).astype(np.float32)
    graph = convert(depthwise_network(channels, kernel, stride, seed=channels + 1), "ilif", x, 6)
    vectorized = CompiledNetwork(graph, cache=None)
    expected = vectorized.run(x[:6], 6, threads=1, record=vectorized.layers)
    original = geometry.conv_geometry

    def grouped_form(op, in_shape, out_shape, scatter):
        """The gather form's geometry and (G, KH, KW, 1, 1) weights, as before the depthwise form."""
        shape, weight = original(op, in_shape, out_shape, scatter)
        if shape.pop("depthwise", False):
            weight = weight.transpose(2, 0, 1).reshape(*weight.shape[2:], *weight.shape[:2], 1, 1)
        return shape, weight

    monkeypatch.setattr("snnc.targets.cpu.plan.conv_geometry", grouped_form)
    plain = CompiledNetwork(graph, cache=None)
    assert not any(k.args.get("depthwise") for k in plain.plan.kernels)
    actual = plain.run(x[:6], 6, threads=1, record=vectorized.layers)
    np.testing.assert_array_equal(expected.logits, actual.logits)
    for name, trains in expected.records.items():
        np.testing.assert_array_equal(trains, actual.records[name])
    assert expected.spikes == actual.spikes and expected.sops == actual.sops
