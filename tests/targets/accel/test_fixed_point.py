"""The fixed-point reference (runtime/fixed.py) against independent oracles: the float
simulator for the quantization, and for iLIF the exact identity with an integer ANN whose
activations are floor-quantized to T bits."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.runtime.ann import KERNELS
from snnc.runtime.fixed import quantize_input, simulate_fixed

from snnc.ir import ops_nn as nn
from snnc.ir.qnet import QNet, qnet_from_dict, to_dict
from tests.targets.accel.conftest import FAMILIES, compile_accel, dense_graph, family_graph


def integer_ann(qnet: QNet, x_int: np.ndarray) -> np.ndarray:
    """iLIF's integer network without time: q = clip(⌊(P + 2^T·B + v0) / Θ⌋, 0, 2^T − 1) with P the
    weighted sum of the sources' q (the input counts 2^T per unit), and the readout's value."""
    T = qnet.timesteps
    values = {qnet.input_name: x_int << T}
    for layer in qnet.layers:
        total = 0
        for s in layer.synapses:
            v = values[s.source].astype(np.float64)
            if s.pool == "avg":
                v = KERNELS[nn.AvgPool](nn.AvgPool(s.pool_kernel, s.pool_strides), v) * np.prod(s.pool_kernel)
            if s.kind == "conv":
                op = nn.Conv(
                    s.weight.astype(np.float64), np.zeros(len(s.weight)), s.strides, s.pads, s.dilations, s.groups
                )
                total = total + np.rint(KERNELS[nn.Conv](op, v))
            elif s.kind == "dense":
                total = total + v.reshape(len(v), -1) @ s.weight.astype(np.float64).T
            else:
                total = total + v * s.weight.reshape((1, -1) + (1,) * (v.ndim - 2))
        if layer.pool_kernel:
            total = KERNELS[nn.MaxPool](nn.MaxPool(layer.pool_kernel, layer.pool_strides, layer.pool_pads), total)
        channel = (1, -1) + (1,) * (np.ndim(total) - 2)
        if layer.kind == "readout":
            return (total + (layer.bias.reshape(channel) << T)) * layer.scale.reshape(channel) / 2**T
        potential = total.astype(np.int64) + (layer.bias.reshape(channel) << T) + layer.v0.reshape(channel)
        values[layer.name] = np.clip(potential // layer.threshold.reshape(channel), 0, 2**T - 1)
    raise AssertionError("no readout")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_ilif_equals_the_floor_quantized_integer_ann(family, family_data):
    program = compile_accel(family_graph(FAMILIES[family]), "ilif", 5, family_data)
    qnet = program.accel().qnet
    fixed = simulate_fixed(qnet, family_data)
    expected = integer_ann(qnet, quantize_input(family_data, qnet.input_shape, qnet.input_scale))
    np.testing.assert_allclose(fixed.logits, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("neuron, steps", [("ilif", 6), ("if", 48), ("msat", 32)])
@pytest.mark.parametrize("family", ["plain", "avg_pool", "residual", "shortcut_conv"])
def test_quantization_stays_close_to_the_float_network(family, neuron, steps, family_data):
    program = compile_accel(family_graph(FAMILIES[family]), neuron, steps, family_data)
    fixed = simulate_fixed(program.accel().qnet, family_data).logits
    float_run = program.run(family_data, engine="reference").logits
    scale = np.abs(float_run).max()
    assert np.abs(fixed - float_run).max() < (0.08 if neuron == "ilif" else 0.25) * scale
    assert (fixed.argmax(1) == float_run.argmax(1)).mean() >= 0.75


@pytest.mark.parametrize("neuron, steps", [("ilif", 6), ("if", 48), ("msat", 32)])
def test_composed_linear_bottlenecks_stay_close_to_the_float_network(neuron, steps, family_data):
    """The int8 network of composed convolutions (passes/linear_chains.py) against the float SNN
    of the original graph, on 200 images: the composed rows span a wider range under one scale
    per channel, so rate coding agrees less often here (IF: 87 % measured) than elsewhere."""
    x = np.random.default_rng(4).uniform(0, 1, (200, 3, 9, 9)).astype(np.float32)
    program = compile_accel(family_graph(FAMILIES["linear_bottleneck"]), neuron, steps, family_data)
    fixed = simulate_fixed(program.accel().qnet, x).logits
    float_run = program.run(x, engine="reference").logits
    assert np.abs(fixed - float_run).max() < (0.08 if neuron == "ilif" else 0.25) * np.abs(float_run).max()
    assert (fixed.argmax(1) == float_run.argmax(1)).mean() >= 0.8


def test_dense_network_and_qnet_round_trip(family_data):
    x = np.random.default_rng(2).uniform(-1, 1, (16, 12)).astype(np.float32)
    program = compile_accel(dense_graph(), "ilif", 8, x)
    qnet = program.accel().qnet
    again = qnet_from_dict(to_dict(qnet))
    assert to_dict(again) == to_dict(qnet)
    np.testing.assert_array_equal(simulate_fixed(again, x).logits, simulate_fixed(qnet, x).logits)
    assert qnet.input_scale == pytest.approx(np.abs(x).max() / 127)


def test_if_neuron_steps_as_defined(family_data):
    """One IF layer by hand: V = v0; V += I + B; s = V ≥ Θ; V −= s·Θ."""
    from snnc.models.if_ import run_integer as if_run

    currents = np.array([[5], [5], [-20], [30]])
    out = if_run(currents, np.array([4]), np.array([10]), "subtract")
    # V: 4+5=9 → 0; 14 → 1, V=4; -16 → 0; 14 → 1, V=4
    assert out.ravel().tolist() == [0, 1, 0, 1]
    assert if_run(np.array([[12], [3]]), np.array([0]), np.array([10]), "zero").ravel().tolist() == [1, 0]


@pytest.mark.parametrize("preset", ["vgg", "resnet"])
def test_msat_threshold_unit_follows_the_float_formula(preset):
    """The Q8 threshold unit against runtime/snn.py's float θ_t, on random membranes and currents:
    within the tables' resolution (1/16 in DTT + DET, so about 1.6 % of Θ)."""
    from snnc.ir import MsatNeuron
    from snnc.ir.ops_snn import MSAT_PRESETS
    from snnc.models import fixed_msat
    from snnc.models.msat import threshold as msat_threshold

    op = MsatNeuron(threshold=1.0, **MSAT_PRESETS[preset])
    p = fixed_msat.q8_params(op.alpha, op.k_a, op.k_i, op.c_det, op.tau_mp, op.tau_rd, op.burst, op.use_dtt, op.use_det)
    rng = np.random.default_rng(0)
    theta = np.int64(5000)
    step = 7
    last = rng.integers(-8000, 8000, 4000)
    total = rng.integers(-30000, 30000, 4000)
    current = rng.integers(-15000, 15000, 4000)
    got, fraction = fixed_msat.adapted_threshold(p, theta, last, total, current, step)
    mean = (total / step).astype(np.float32)
    expected = msat_threshold(op, np.float32(theta), last.astype(np.float32), mean, current.astype(np.float32))
    assert np.abs(got - expected).max() <= 0.03 * theta
    assert np.array_equal(got, np.maximum(1, (theta * fraction) >> 8))
