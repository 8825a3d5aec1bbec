"""MSAT in the reference simulator against a neuron stepped by hand in float64 Python, its
spike confidence, and the spike-confidence pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
from snnc.passes import PassContext
from snnc.passes.spike_confidence import SpikeConfidence
from snnc.runtime import snn
from snnc.runtime.snn import simulate

from snnc.ir import BATCH, Gemm, Graph, MsatNeuron, Readout, TensorType
from snnc.ir.ops_snn import MSAT_PRESETS
from snnc.models.msat import confidence_mask

RNG = np.random.default_rng(11)


def single_neuron(**options) -> Graph:
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 1)))
    n = g.add(MsatNeuron(**options), [x], "n")
    g.outputs = [g.add(Readout(), [n])]
    return g


def by_hand(currents, theta_max, alpha, k_a, k_i, c_det, tau_mp, tau_rd, burst=1, units="absolute", v_init=0.0):
    """The published update, one step at a time (He et al. 2024; the semantics in DESIGN.md)."""
    v, last, total, out, spikes = v_init * theta_max, 0.0, 0.0, [], []
    for t, current in enumerate(currents):
        v += current
        if t == 0:
            theta = theta_max
        else:
            scale = theta_max if units == "normalized" else 1.0
            delta, x, vt = (last - total / t) / scale, current / scale, -theta_max / scale
            dtt = tau_mp * (alpha * delta + vt + k_a * math.log1p(math.exp(delta / k_i)))
            det = tau_rd * math.exp(-x / c_det)
            theta = theta_max / (1 + math.exp(-(dtt + det)))
        s = (1.0 if v >= theta else 0.0) if burst == 1 else min(max(math.floor(v / theta), 0), burst)
        v -= s * theta
        out.append(s * theta)
        spikes.append(s)
        last, total = v, total + v
    return np.array(out), int(sum(spikes))


@pytest.mark.parametrize("preset", sorted(MSAT_PRESETS))
@pytest.mark.parametrize("units, burst, theta", [("absolute", 1, 1.0), ("normalized", 1, 2.5), ("normalized", 3, 0.7)])
def test_msat_matches_the_published_update(preset, units, burst, theta):
    steps = 40
    currents = RNG.uniform(-0.4, 1.2, steps) * theta
    graph = single_neuron(threshold=np.float32(theta), units=units, burst=burst, **MSAT_PRESETS[preset])
    expected, spikes = by_hand(currents, theta, burst=burst, units=units, **MSAT_PRESETS[preset])
    outputs, counted = drive(graph, currents)
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)
    assert counted == spikes


def drive(graph: Graph, currents: np.ndarray) -> tuple[np.ndarray, int]:
    """The neuron's per-step outputs and spike count for a time-varying input current (a
    network input is static, so the simulator's neuron step is driven directly)."""
    simulation = snn._Simulation(graph, len(currents), np.float32)
    out = simulation._neuron("n", graph.op("n"), snn.Train(currents.astype(np.float32)[:, None, None]))
    return out.steps[:, 0, 0], int(simulation.step_spikes["n"].sum())


def test_without_dtt_and_det_the_threshold_is_half_of_theta_max():
    graph = single_neuron(threshold=np.float32(2.0), use_dtt=False, use_det=False)
    out, _ = drive(graph, np.full(12, 0.6))
    fired = out[out > 0]
    assert out[0] == 0 and np.all(fired == pytest.approx(1.0))  # θ_t = 2·sigmoid(0) for t ≥ 1


def test_spike_confidence_mask_is_seeded_and_the_same_for_every_sample():
    op = MsatNeuron(threshold=np.float32(1.0), confidence=0.7, confidence_steps=16, seed=5)
    mask = confidence_mask(op, (64,))
    np.testing.assert_array_equal(mask, confidence_mask(op, (64,)))
    assert 0.6 < mask.mean() < 0.8
    other = confidence_mask(MsatNeuron(threshold=np.float32(1.0), confidence=0.7, seed=6), (64,))
    assert not np.array_equal(mask, other)
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 8)))
    n = g.add(MsatNeuron(threshold=np.float32(0.5), confidence=0.5, seed=2), [x], "n")
    g.outputs = [g.add(Readout(), [g.add(Gemm(RNG.standard_normal((3, 8)), np.zeros(3)), [n])])]
    batch = RNG.uniform(0, 1, (6, 8)).astype(np.float32)
    alone = simulate(g, batch[3:4], 20).logits
    together = simulate(g, batch, 20).logits[3:4]
    np.testing.assert_array_equal(alone, together)
    kept = simulate(g, batch, 20).spikes["n"]
    unmasked = g.copy()
    unmasked.replace_op("n", MsatNeuron(**{**g.op("n").attributes(), "confidence": 1.0}))
    assert kept < simulate(unmasked, batch, 20).spikes["n"]


def test_spike_confidence_counts_spikes_of_inactive_neurons():
    """Two neurons: one with a positive ANN activation, one negative that fires early anyway
    (its membrane starts at 0.9·θ_max and the adapted threshold is lower). c = POS/(POS+SIN)."""
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 1)))
    hidden = g.add(Gemm(np.array([[1.0], [-0.02]], np.float32), np.zeros(2, np.float32)), [x])
    n = g.add(MsatNeuron(threshold=np.float32(1.0), v_init=0.9, units="normalized"), [hidden], "n")
    g.outputs = [g.add(Readout(), [g.add(Gemm(np.ones((2, 2), np.float32), np.zeros(2, np.float32)), [n])])]
    data = np.full((4, 1), 0.5, np.float32)
    records = simulate(g, data, 16, record=["n"]).records["n"]
    positive, silent = int(records[:, :, 0].sum()), int(records[:, :, 1].sum())
    assert silent > 0 and positive > 0
    ctx = PassContext(calibration=data, timesteps=16)
    SpikeConfidence(apply=True).run(g, ctx)
    assert g.op("n").confidence == pytest.approx(positive / (positive + silent))
    assert "(applied)" in ctx.notes["spike-confidence"][0]


def _msat_neurons(residual: bool, msat: dict):
    """The MSAT neurons substitute-neurons makes of a small network (with a residual or not)."""
    from snnc.passes.substitute_neurons import SubstituteNeurons

    from snnc.ir import Add, Relu

    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 4)))
    h = g.add(Relu(), [g.add(Gemm(RNG.standard_normal((4, 4)), np.zeros(4)), [x])])
    if residual:
        h = g.add(Relu(), [g.add(Add(), [g.add(Gemm(RNG.standard_normal((4, 4)), np.zeros(4)), [h]), h])])
    g.outputs = [g.add(Gemm(RNG.standard_normal((2, 4)), np.zeros(2)), [h])]
    ctx = PassContext()
    SubstituteNeurons(model="msat", msat=msat).run(g, ctx)
    return [n.op for n in g.nodes() if isinstance(n.op, MsatNeuron)], ctx.notes["substitute-neurons"][0]


@pytest.mark.parametrize("residual", [False, True])
def test_msat_auto_takes_the_vgg_dynamics_with_bursts_of_two(residual):
    neurons, note = _msat_neurons(residual, {})
    for key, value in MSAT_PRESETS["vgg"].items():
        assert all(getattr(op, key) == value for op in neurons)
    assert all(op.burst == 2 for op in neurons)
    assert "msat: vgg defaults: " in note


@pytest.mark.parametrize("steps", [32, 128])
def test_bursts_of_two_follow_activations_a_binary_neuron_clips(steps):
    """Why the default fires bursts: with the VGG dynamics θ_t sits near 0.65·θ_max, so a binary
    neuron driven by a constant 0.9·θ_max falls well behind it (its rate is still 0.05·θ_max short
    at T = 128), while γ = 2 stays within θ_max/T of it (IF: within θ_max/2T)."""
    theta, current = 1.0, 0.9
    errors = {}
    for burst in (1, 2):
        graph = single_neuron(threshold=np.float32(theta), units="normalized", v_init=0.3, burst=burst,
                              **MSAT_PRESETS["vgg"])  # fmt: skip
        outputs, _ = drive(graph, np.full(steps, current))
        errors[burst] = abs(current - outputs.mean())
    assert errors[2] < theta / steps
    assert errors[1] > 0.04 * theta


@pytest.mark.parametrize("residual, preset", [(False, "resnet"), (True, "vgg"), (True, "resnet")])
def test_msat_presets_chosen_by_name_keep_their_published_values(residual, preset):
    neurons, note = _msat_neurons(residual, {"preset": preset, "units": "absolute"})
    for key, value in MSAT_PRESETS[preset].items():
        assert all(getattr(op, key) == value for op in neurons)
    assert all(op.burst == 1 and op.units == "absolute" for op in neurons)
    assert len({op.seed for op in neurons}) == len(neurons)
    assert f"msat: {preset} defaults with overrides" in note
