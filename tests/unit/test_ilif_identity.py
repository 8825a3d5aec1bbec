"""The iLIF identity (SpikeConverter, k = 2): the spiking network equals the ANN with every
activation floor-quantized to T bits of its threshold,

    Q(z) = θ · clip(⌊2^T·z/θ + v_init⌋, 0, 2^T − 1) / 2^T,

on random small graphs of conv, gemm, add, concat, average and max pooling. The simulator
steps through accumulation and emission; the oracle applies Q in one go. float64 makes a
floor landing on the other side of a boundary by rounding vanishingly unlikely."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from snnc.passes import PassContext, PassManager, conversion_pipeline
from snnc.runtime.ann import KERNELS
from snnc.runtime.snn import simulate

from snnc.ir import BATCH, Add, AvgPool, Concat, Conv, Gemm, Graph, MaxPool, Relu, Reshape, TensorType
from snnc.ir.ops_snn import Neuron


def quantize(z: np.ndarray, op: Neuron, timesteps: int) -> np.ndarray:
    theta = op.threshold.astype(np.float64)
    levels = np.clip(np.floor(z / theta * 2.0**timesteps + op.v_init), 0, 2**timesteps - 1)
    return theta * levels / 2.0**timesteps


def quantized_ann(graph: Graph, x: np.ndarray, timesteps: int) -> np.ndarray:
    values = {graph.inputs[0]: x.astype(np.float64)}
    for node in graph.nodes():
        if node.name in values:
            continue
        args = [values[i] for i in node.inputs]
        if isinstance(node.op, Neuron):
            values[node.name] = quantize(args[0], node.op, timesteps)
        else:
            values[node.name] = KERNELS[type(node.op)](node.op, *args)
    return values[graph.outputs[0]]


@st.composite
def random_networks(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    channels = draw(st.integers(1, 4))
    size = draw(st.integers(4, 7))
    g = Graph("random")
    x = g.add_input("x", TensorType((BATCH, 2, size, size)))

    def conv(source, out_channels, kernel=3):
        in_channels = g.type(source).shape[1]
        weight = rng.standard_normal((out_channels, in_channels, kernel, kernel)) * 0.6
        return g.add(Conv(weight, rng.standard_normal(out_channels) * 0.2, pads=(kernel // 2,) * 4), [source])

    h = g.add(Relu(), [conv(x, channels)])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["plain", "residual", "concat", "avgpool", "maxpool"]))
        if kind == "plain":
            h = g.add(Relu(), [conv(h, channels)])
        elif kind == "residual":  # conv → relu → conv, plus the identity, then relu
            inner = g.add(Relu(), [conv(h, channels)])
            h = g.add(Relu(), [g.add(Add(), [conv(inner, channels), h])])
        elif kind == "concat":
            h = g.add(Concat(1), [h, g.add(Relu(), [conv(h, channels)])])
            channels = g.type(h).shape[1]
        elif g.type(h).shape[2] >= 2:
            pool = AvgPool((2, 2), (2, 2)) if kind == "avgpool" else MaxPool((2, 2), (2, 2))
            h = g.add(Relu(), [g.add(pool, [conv(h, channels)])])
    flat = g.add(Reshape((g.type(h).sample_size,)), [h])
    hidden = draw(st.integers(2, 6))
    dense = g.add(
        Relu(), [g.add(Gemm(rng.standard_normal((hidden, g.type(flat).shape[1])) * 0.4, np.zeros(hidden)), [flat])]
    )
    g.outputs = [g.add(Gemm(rng.standard_normal((3, hidden)), rng.standard_normal(3)), [dense])]
    g.verify()
    return g, rng.uniform(0, 1, (5, 2, size, size)).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(network=random_networks(), timesteps=st.integers(1, 7), v_init=st.sampled_from([0.0, 0.5]))
def test_ilif_network_equals_floor_quantized_ann(network, timesteps, v_init):
    graph, x = network
    ctx = PassContext(calibration=x, timesteps=timesteps)
    PassManager(conversion_pipeline("ilif", percentile=100.0, v_init=v_init), verify=True).run(graph, ctx)
    result = simulate(graph, x, timesteps, dtype=np.float64)
    expected = quantized_ann(graph, x, timesteps)
    np.testing.assert_allclose(result.logits, expected, rtol=1e-9, atol=1e-9)


def test_a_single_neuron_emits_the_binary_fraction_msb_first():
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 1)))
    g.outputs = [g.add(Neuron("ilif", 1.0, v_init=0.0), [x])]
    # 0.8125 = 0.1101b: bits 1, 1, 0, 1 at T = 4; 1.5 saturates at 0.1111b; −0.3 never fires.
    sim = simulate(g, np.array([[0.8125], [1.5], [-0.3]], np.float32), timesteps=4, dtype=np.float64)
    assert sim.spikes[g.outputs[0]] == 3 + 4 + 0
