"""Rate-coded IF neurons, the gated (running) max pool, readouts and synaptic-operation counts of the
reference simulator, against hand computation and brute force."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snnc.runtime import execute
from snnc.runtime.fixed import pool_events, running_max_pool
from snnc.runtime.snn import fan_out, simulate

from snnc.ir import BATCH, Conv, Gemm, Graph, Relu, Reshape, TensorType
from snnc.ir.ops_snn import GatedMaxPool, Neuron, Readout


def single_neuron(**kwargs) -> Graph:
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 1)))
    n = g.add(Neuron("if", **kwargs), [x], "n")
    g.outputs = [g.add(Readout(), [n])]
    return g


@settings(max_examples=60, deadline=None)
@given(a=st.floats(0, 1.5), timesteps=st.integers(1, 64), v_init=st.sampled_from([0.0, 0.5]))
def test_constant_current_fires_floor_of_a_times_t(a, timesteps, v_init):
    """V += a each step, fire at θ = 1 and subtract: n spikes after T steps = ⌊a·T + v_init⌋, at most T."""
    g = single_neuron(threshold=1.0, v_init=v_init)
    result = simulate(g, np.array([[a]], np.float32), timesteps, dtype=np.float64)
    expected = min(int(np.floor(np.float64(np.float32(a)) * timesteps + v_init + 1e-9)), timesteps)
    assert result.spikes["n"] == expected
    assert result.logits[0, 0] == pytest.approx(expected / timesteps)


def test_zero_reset_loses_the_residue():
    g = single_neuron(threshold=1.0, reset="zero")
    # a = 0.6: V = .6, 1.2 (fire, → 0), .6, 1.2 (fire), ...: 5 spikes in 10 steps (subtract would give 6)
    assert simulate(g, np.array([[0.6]], np.float32), 10).spikes["n"] == 5
    assert simulate(single_neuron(threshold=1.0), np.array([[0.6]], np.float32), 10).spikes["n"] == 6


def test_spikes_carry_their_threshold():
    g = single_neuron(threshold=2.0)
    result = simulate(g, np.array([[1.0]], np.float32), 8)
    assert result.spikes["n"] == 4 and result.logits[0, 0] == pytest.approx(1.0)


def window_max_of_sums(sums: np.ndarray, kernel, strides, pads, out_shape) -> np.ndarray:
    """Brute force: (..., H, W) sums → (..., OH, OW) maxima over each window's cells inside the input."""
    out = np.full((*sums.shape[:-2], *out_shape), -np.inf)
    for oy, ox in np.ndindex(*out_shape):
        for ky, kx in np.ndindex(*kernel):
            y, x = oy * strides[0] - pads[0] + ky, ox * strides[1] - pads[1] + kx
            if 0 <= y < sums.shape[-2] and 0 <= x < sums.shape[-1]:
                out[..., oy, ox] = np.maximum(out[..., oy, ox], sums[..., y, x])
    return out


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    kernel=st.sampled_from([(1, 2), (2, 2), (3, 3)]),
    strides=st.sampled_from([(1, 1), (2, 2), (1, 2)]),
    padded=st.booleans(),
    ceil_mode=st.booleans(),
    timesteps=st.integers(1, 24),
)
def test_gated_max_pool_sends_the_running_max_of_what_its_inputs_sent(seed, kernel, strides, padded, ceil_mode,
                                                                      timesteps):  # fmt: skip
    """The identity the running max keeps: what a window has sent up to any step is the max of
    what its inputs have sent, and an IF window sends θ or nothing at each step."""
    pads = (kernel[0] // 2, kernel[1] // 2, 0, kernel[1] // 2) if padded else (0, 0, 0, 0)
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 2, 5, 6)))
    n = g.add(Neuron("if", 1.0), [x], "n")
    pool = g.add(GatedMaxPool(kernel, strides, pads=pads, ceil_mode=ceil_mode), [n], "pool")
    g.outputs = [g.add(Readout(), [pool])]
    currents = np.random.default_rng(seed).uniform(0, 1.2, (3, 2, 5, 6)).astype(np.float32)
    result = simulate(g, currents, timesteps, dtype=np.float64, record=["n"], trace=True)
    sent = np.cumsum(result.records["n"], axis=1)  # (B, T, C, H, W) spikes of θ = 1
    expected = window_max_of_sums(sent, kernel, strides, pads, g.type(pool).sample_shape[1:])
    pooled_sums = np.rint(result.trace * np.arange(1, timesteps + 1).reshape(1, -1, 1, 1, 1))
    np.testing.assert_array_equal(pooled_sums, expected)
    assert set(np.unique(np.diff(pooled_sums, axis=1, prepend=0))) <= {0.0, 1.0}


@pytest.mark.parametrize("pads", [(0, 0, 0, 0), (1, 1, 1, 1)])
def test_fixed_point_running_max_keeps_the_identity_for_any_payloads(pads):
    """runtime/fixed.py's running max on integer payloads (MSAT packets, bursts): exact, and its
    SOPs count one spike per non-zero pooled event."""
    events = np.random.default_rng(3).integers(0, 4, (16, 2, 3, 6, 6)) * (np.arange(16) % 3 == 0).reshape(
        -1, 1, 1, 1, 1
    )
    pooled = running_max_pool(events, (3, 3), (2, 2), pads)
    out_shape = pooled.shape[-2:]
    sums = np.moveaxis(np.cumsum(events, axis=0), 0, 1)
    expected = np.moveaxis(window_max_of_sums(sums, (3, 3), (2, 2), pads, out_shape), 1, 0)
    np.testing.assert_array_equal(np.cumsum(pooled, axis=0), expected)
    synapse = SimpleNamespace(pool="gate", pool_kernel=(3, 3), pool_strides=(2, 2), pool_pads=pads)
    values, counts = pool_events(synapse, events, np.sign(events))
    np.testing.assert_array_equal(values, pooled)
    np.testing.assert_array_equal(counts, pooled != 0)


def test_gated_max_pool_with_ceil_mode_and_padding_covers_its_declared_shape():
    """ceil_mode's last window reaches past the input (its missing cells, like pads, never win):
    with a neuron spiking at every step in every cell, every window passes every spike."""
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 2, 5, 5)))
    n = g.add(Neuron("if", 1.0), [x], "n")
    pool = g.add(GatedMaxPool((2, 2), (2, 2), pads=(1, 0, 0, 0), ceil_mode=True), [n], "pool")
    g.outputs = [g.add(Readout(), [pool])]
    result = simulate(g, np.full((1, 2, 5, 5), 1.0, np.float32), 6, dtype=np.float64)
    assert g.type(pool).sample_shape == (2, 3, 3)
    np.testing.assert_array_equal(result.logits, np.ones((1, 2, 3, 3)))


@pytest.mark.parametrize("pads,strides,dilations", [((1, 1, 1, 1), (1, 1), (1, 1)), ((0, 1, 2, 0), (2, 1), (1, 2))])
def test_conv_fan_out_matches_brute_force(pads, strides, dilations):
    op = Conv(np.ones((4, 3, 3, 3)), np.zeros(4), strides, pads, dilations)
    shape = (3, 6, 7)
    counts = fan_out(op, shape)
    brute = np.zeros(shape, dtype=np.int64)
    for index in np.ndindex(*shape):
        one_hot = np.zeros((1, *shape), np.float32)
        one_hot[(0, *index)] = 1
        brute[index] = np.count_nonzero(execute(single_op_graph(op, shape), one_hot)[0])
    assert np.array_equal(counts, brute)


def single_op_graph(op, shape) -> Graph:
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, *shape)))
    g.outputs = [g.add(op, [x])]
    return g


def test_sops_count_spikes_times_fan_out():
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 3)))
    n = g.add(Neuron("if", 1.0), [x], "n")
    g.outputs = [g.add(Readout(), [g.add(Gemm(np.ones((5, 3)), np.zeros(5)), [n], "fc")])]
    result = simulate(g, np.array([[1.0, 0.5, 0.0]], np.float32), 4)
    assert result.spikes["n"] == 4 + 2
    assert result.sops["fc"] == (4 + 2) * 5


def random_cnn() -> Graph:
    rng = np.random.default_rng(7)
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 1, 6, 6)))
    h = g.add(Relu(), [g.add(Conv(rng.standard_normal((4, 1, 3, 3)), rng.standard_normal(4) * 0.1), [x])])
    h = g.add(Relu(), [g.add(Conv(rng.standard_normal((4, 4, 3, 3)) * 0.3, rng.standard_normal(4) * 0.1), [h])])
    h = g.add(Reshape((16,)), [h])
    g.outputs = [g.add(Gemm(rng.standard_normal((3, 16)), np.zeros(3)), [h])]
    return g


def test_rate_coding_converges_to_the_ann_as_t_grows():
    from snnc.passes import PassContext, PassManager, conversion_pipeline

    ann = random_cnn()
    x = np.random.default_rng(1).uniform(0, 1, (32, 1, 6, 6)).astype(np.float32)
    expected = execute(ann, x)[0]
    snn = ann.copy()
    PassManager(conversion_pipeline("if", percentile=100.0), verify=True).run(snn, PassContext(calibration=x))
    errors = [np.abs(simulate(snn, x, t).logits - expected).mean() for t in (8, 64, 512)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02 * np.abs(expected).mean()
