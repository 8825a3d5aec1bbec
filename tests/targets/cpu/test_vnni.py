"""iLIF's hidden synapses on VNNI in the fixed-point mode (targets/cpu/vnni.py): bit-exact with
the fixed-point reference and with the scatter form they replace, over channel counts that do
not fill the byte groups (4) or the vectors (16), strides, dilations, padding and dense layers."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.runtime.fixed import simulate_fixed
from snnc.targets.cpu import fixed_plan, vnni
from snnc.targets.cpu.llvm import host_features
from snnc.targets.cpu.runner import FixedNetwork

import snnc
from snnc.ir import BATCH, Conv, Gemm, Graph, Relu, Reshape, TensorType
from tests.targets.cpu.test_fixed_point import assert_bit_exact

pytestmark = pytest.mark.skipif(not vnni.available(host_features()), reason="this CPU has no AVX-512 VNNI")


def odd_network(seed: int) -> Graph:
    """3×11×11 → conv 7 → conv 21 (stride 2) → conv 33 (dilation 2) → dense 40 → dense 5."""
    rng = np.random.default_rng(seed)
    g = Graph("odd")
    h = g.add_input("x", TensorType((BATCH, 3, 11, 11)))
    channels = 3
    for out, options in ((7, {}), (21, dict(strides=(2, 2))), (33, dict(dilations=(2, 2), pads=(2, 2, 2, 2)))):
        options.setdefault("pads", (1, 1, 1, 1))
        weight = rng.standard_normal((out, channels, 3, 3)) * 0.4
        h = g.add(Relu(), [g.add(Conv(weight, rng.standard_normal(out) * 0.1, **options), [h])])
        channels = out
    h = g.add(Reshape((int(np.prod(g.type(h).sample_shape)),)), [h])
    for out in (40, 5):
        h = g.add(Gemm(rng.standard_normal((out, g.type(h).shape[1])) * 0.2, rng.standard_normal(out) * 0.1), [h])
        if out != 5:
            h = g.add(Relu(), [h])
    g.outputs = [h]
    return g


@pytest.mark.parametrize("timesteps", [3, 8])
def test_vnni_synapses_are_the_reference(monkeypatch, timesteps):
    x = np.random.default_rng(2).uniform(0, 1, (24, 3, 11, 11)).astype(np.float32)
    program = snnc.compile(odd_network(timesteps), "cpu", timesteps, calibration=x, neuron="ilif")
    qnet = program.qnet(timesteps)
    native = FixedNetwork(qnet, cache=None)
    kinds = [k.kind for k in native.plan.kernels]
    assert kinds.count("vnni-synapse") == 3  # conv 21, conv 33, dense 40 (the first reads the input; the readout, bits)
    result = native.run(x, threads=2)
    assert_bit_exact(simulate_fixed(qnet, x), result)
    monkeypatch.setattr(fixed_plan, "VNNI", False)
    scatter = FixedNetwork(qnet, cache=None)
    assert "vnni-synapse" not in [k.kind for k in scatter.plan.kernels]
    assert_bit_exact(scatter.run(x, threads=2), result)
    assert sum(result.spikes.values()) > 0


def test_more_than_eight_bits_keep_the_scatter_form():
    x = np.random.default_rng(3).uniform(0, 1, (8, 3, 11, 11)).astype(np.float32)
    program = snnc.compile(odd_network(9), "cpu", 9, calibration=x, neuron="ilif")
    native = FixedNetwork(program.qnet(9), cache=None)
    assert "vnni-synapse" not in [k.kind for k in native.plan.kernels]
    assert_bit_exact(simulate_fixed(program.qnet(9), x), native.run(x))


def test_weight_layout_groups_four_input_channels_per_output():
    weight = np.arange(2 * 5 * 3 * 3, dtype=np.int64).reshape(2, 5, 3, 3).astype(np.int8)
    laid = vnni.weight_layout(weight)
    assert laid.shape == (3, 3, 2, 16, 4)  # 5 channels → 8 (2 groups), 2 outputs → 16
    for o, c, ky, kx in np.ndindex(*weight.shape):
        assert laid[ky, kx, c // 4, o, c % 4] == weight[o, c, ky, kx]
    assert not laid[:, :, 1, :, 1:].any() and not laid[:, :, :, 2:].any()  # the padding is zero
