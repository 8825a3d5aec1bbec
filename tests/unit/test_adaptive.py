"""Adaptive timesteps: the confidence metrics, exit steps, threshold calibration against a brute
force search, step-weight fitting against a known solution, and the simulator's early exits
against runs of the fixed network stopped at each sample's exit step."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.passes import PassContext, PassManager, conversion_pipeline
from snnc.runtime import adaptive
from snnc.runtime.snn import simulate
from snnc.targets.cpu.runner import CompiledNetwork

from snnc.errors import DataError, UsageError
from snnc.ir import BATCH, Gemm, Graph, Readout, Relu, TensorType

RNG = np.random.default_rng(5)


def test_confidence_metrics():
    uniform = np.zeros((2, 4), np.float32)
    peaked = np.array([[30.0, 0, 0, 0]], np.float32)
    assert adaptive.confidence(uniform, "max-softmax") == pytest.approx(0.25)
    assert adaptive.confidence(uniform, "entropy") == pytest.approx(0.0, abs=1e-6)
    assert adaptive.confidence(peaked, "max-softmax")[0] == pytest.approx(1.0)
    assert adaptive.confidence(peaked, "entropy")[0] == pytest.approx(1.0, abs=1e-5)
    z = RNG.standard_normal((50, 6)).astype(np.float32)
    p = np.exp(z.astype(np.float64)) / np.exp(z.astype(np.float64)).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(adaptive.confidence(z, "max-softmax"), p.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(adaptive.confidence(z, "entropy"), 1 + (p * np.log(p)).sum(axis=1) / np.log(6),
                               rtol=1e-4, atol=1e-5)  # fmt: skip


def test_sum_softmax_is_the_softmax_of_the_running_sum():
    """sum-softmax: the max softmax probability p of (t + 1)·Z_t, the readout's running sum, not
    its mean, reported as 1 − 1/(1 − ln(1 − p)) (the same order as p, resolved where float32
    rounds p to 1); a margin that is confident late is not confident early."""
    estimates = RNG.standard_normal((7, 5, 6)).astype(np.float32)  # (B, T, K)
    sums = estimates.astype(np.float64) * np.arange(1, 6)[None, :, None]
    p = np.exp(sums - sums.max(axis=2, keepdims=True))
    p_max = (p / p.sum(axis=2, keepdims=True)).max(axis=2)
    expected = 1 - 1 / (1 - np.log1p(-p_max))
    np.testing.assert_allclose(adaptive.confidence(estimates, "sum-softmax"), expected, rtol=1e-5)
    same = np.tile(np.array([6.0, 0, 0], np.float32), (1, 8, 1))  # one estimate held for 8 steps
    conf = adaptive.confidence(same, "sum-softmax")[0]
    assert np.all(np.diff(conf) > 0) and conf[-1] < 1  # float32's max softmax is 1 from step 3 on
    assert adaptive.confidence(same * 8, "max-softmax")[0, -1] == 1
    decisive = np.array([[[200.0, 0, 0]]], np.float32)  # the rest underflows: r = 0
    assert adaptive.confidence(decisive, "sum-softmax")[0, 0] == 1


def test_exit_steps_take_the_first_confident_step():
    conf = np.array([[0.1, 0.8, 0.3, 0.9], [0.1, 0.2, 0.3, 0.4]], np.float32)
    np.testing.assert_array_equal(adaptive.exit_steps(conf, 0.75), [1, 3])
    np.testing.assert_array_equal(adaptive.exit_steps(conf, adaptive.NEVER), [3, 3])


def wilson_upper(count: int, samples: int, z: float) -> float:
    """The Wilson score interval's upper end, from its textbook form: the larger root p of
    (p̂ − p)² = z²·p(1 − p)/n."""
    rate, a = count / samples, z * z / samples
    roots = np.roots([1 + a, -(2 * rate + a), rate * rate])
    return float(max(roots.real))


def brute_force_threshold(conf, correct, budget, z):
    """Every candidate from high to low; stop at the first where the bound on the share of
    samples that the fixed network gets right and are wrong at their exit exceeds the budget."""
    fixed = correct[:, -1]
    best = None
    for value in sorted(set(conf.ravel().tolist()), reverse=True):
        exits = adaptive.exit_steps(conf, value)
        count = int((fixed & ~correct[np.arange(len(exits)), exits]).sum())
        bound = count / len(exits) if z == 0 else wilson_upper(count, len(exits), z)
        if 100 * bound > budget + 1e-9:
            break
        best = value
    return best


def test_the_bound_is_wilsons():
    for count, samples, z in [(0, 400, 1.0), (3, 400, 1.0), (7, 2000, 1.645), (50, 60, 2.0)]:
        assert adaptive.upper_bound(count, samples, z) == pytest.approx(wilson_upper(count, samples, z), rel=1e-9)
    assert adaptive.upper_bound(3, 400, 0.0) == 3 / 400


@pytest.mark.parametrize("budget, z", [(0.0, 0.0), (0.5, 0.0), (2.0, 0.0), (10.0, 0.0), (2.0, 1.0), (10.0, 1.645)])
def test_threshold_calibration_matches_brute_force(budget, z):
    batch, steps = 400, 12
    conf = np.round(np.sort(RNG.uniform(0, 1, (batch, steps)), axis=1) * 50) / 50  # ties on purpose
    conf = (conf + RNG.uniform(-0.05, 0.05, conf.shape)).astype(np.float32)
    labels = RNG.integers(0, 3, batch)
    predictions = np.where(RNG.uniform(0, 1, (batch, steps)) < np.linspace(0.4, 0.95, steps), labels[:, None],
                           (labels[:, None] + 1) % 3)  # fmt: skip
    result = adaptive.calibrate_threshold(conf, predictions, labels, budget, margin=z)
    expected = brute_force_threshold(conf, predictions == labels[:, None], budget, z)
    same = adaptive.exit_steps(conf, expected) if expected is not None else np.full(batch, steps - 1)
    np.testing.assert_array_equal(adaptive.exit_steps(conf, result.threshold), same)
    assert 100 * (result.fixed_accuracy - result.accuracy) <= budget + 1e-9
    assert result.mean_steps == pytest.approx((same + 1).mean())


def test_calibration_without_labels_counts_changed_predictions():
    conf = np.tile(np.linspace(0.1, 1.0, 5, dtype=np.float32), (200, 1))
    predictions = np.zeros((200, 5), np.int64)
    predictions[:100, :2] = 1  # half the samples change their mind after step 1
    result = adaptive.calibrate_threshold(conf, predictions, None, 1.0)
    assert result.against == "fixed-T predictions"
    assert result.accuracy == 1.0 and result.mean_steps == 3.0


@pytest.mark.parametrize("budget, samples, error", [(-1, 500, UsageError), (100, 500, UsageError),
                                                    (0.5, 399, DataError), (2.0, 99, DataError)])  # fmt: skip
def test_bad_budgets_and_small_calibration_sets(budget, samples, error):
    conf = np.ones((samples, 4), np.float32)
    with pytest.raises(error) as caught:
        adaptive.calibrate_threshold(conf, np.zeros((samples, 4)), None, budget)
    if error is DataError:
        assert str(adaptive.samples_needed(budget)) in str(caught.value)


def test_step_weights_undo_known_per_step_gains():
    """z_τ = a_τ·ℓ: the weights that make every running estimate equal ℓ are w_τ = 1/a_τ."""
    steps, gains = 6, np.array([0.2, 0.5, 1.0, 2.0, 1.5, 1.0])
    logits = RNG.standard_normal((40, 5))
    currents = gains[:, None, None] * logits[None]
    weights = adaptive.fit_step_weights(currents, logits, ridge=1e-9)
    np.testing.assert_allclose(weights, 1 / gains, rtol=1e-4)
    estimates = adaptive.rate_estimates(currents.astype(np.float32), weights)
    np.testing.assert_allclose(estimates, np.repeat(logits[:, None], steps, axis=1), rtol=1e-3, atol=1e-4)


def classifier(neuron: str, timesteps: int, calibration: np.ndarray) -> Graph:
    g = Graph("mlp")
    x = g.add_input("x", TensorType((BATCH, 12)))
    h = g.add(Relu(), [g.add(Gemm(RNG.standard_normal((16, 12)) * 0.5, RNG.standard_normal(16) * 0.1), [x])])
    g.outputs = [g.add(Gemm(RNG.standard_normal((4, 16)), RNG.standard_normal(4) * 0.1), [h])]
    ctx = PassContext(calibration=calibration, timesteps=timesteps)
    PassManager(
        conversion_pipeline(
            neuron, percentile=99.9, per_channel=False, reset="subtract", v_init=0.5, maxpool="gate", pipelined=True
        )
    ).run(g, ctx)
    return g


def with_exit(graph: Graph, threshold: float, metric: str = "max-softmax", weights=None) -> Graph:
    adaptive_graph = graph.copy()
    name = adaptive_graph.outputs[0]
    adaptive_graph.replace_op(name, Readout(exit_metric=metric, exit_threshold=threshold, step_weights=weights))
    return adaptive_graph


@pytest.mark.parametrize("neuron", ["if", "msat"])
def test_an_exit_is_the_fixed_network_stopped_at_that_step(neuron):
    """Rate coding: a sample that exits after step e has computed exactly what the network run
    with T = e + 1 computes: same output, spikes and synaptic operations."""
    x = RNG.uniform(0, 1, (30, 12)).astype(np.float32)
    graph = classifier(neuron, 16, x)
    trace = simulate(graph, x, 16, trace=True).trace
    threshold = float(np.median(adaptive.confidence(trace, "max-softmax")))
    early = simulate(with_exit(graph, threshold), x, 16)
    assert early.steps.min() < 16 and early.steps.max() <= 16
    for steps in np.unique(early.steps):
        chosen = early.steps == steps
        stopped = simulate(graph, x[chosen], int(steps))
        np.testing.assert_allclose(early.logits[chosen], stopped.logits, rtol=1e-5, atol=1e-6)
    alone = [simulate(graph, x[i : i + 1], int(early.steps[i])) for i in range(len(x))]
    assert early.spikes == {k: sum(r.spikes[k] for r in alone) for k in early.spikes}
    assert early.sops == {k: sum(r.sops[k] for r in alone) for k in early.sops}


@pytest.mark.parametrize("neuron, metric", [("if", "max-softmax"), ("msat", "entropy"), ("ilif", "max-softmax"),
                                            ("if", "sum-softmax"), ("msat", "sum-softmax")])  # fmt: skip
def test_native_exits_match_the_reference(neuron, metric):
    steps = 8 if neuron == "ilif" else 16
    x = RNG.uniform(0, 1, (40, 12)).astype(np.float32)
    graph = classifier(neuron, steps, x)
    trace = simulate(graph, x, steps, trace=True).trace
    np.testing.assert_allclose(CompiledNetwork(graph).run(x, steps, trace=True).trace, trace, rtol=1e-4, atol=1e-5)
    conf = np.sort(adaptive.confidence(trace, metric).ravel())
    threshold = float((conf[len(conf) // 2] + conf[len(conf) // 2 + 1]) / 2)
    weights = None if neuron == "ilif" else RNG.uniform(0.5, 1.5, steps)
    adaptive_graph = with_exit(graph, threshold, metric, weights)
    expected = simulate(adaptive_graph, x, steps, latency=5 * steps)
    actual = CompiledNetwork(adaptive_graph).run(x, steps, latency=5 * steps, threads=2)
    np.testing.assert_array_equal(actual.steps, expected.steps)
    assert expected.steps.min() < 5 * steps
    np.testing.assert_allclose(actual.logits, expected.logits, rtol=1e-4, atol=1e-5)
    assert actual.spikes == expected.spikes and actual.sops == expected.sops


def test_ilif_exit_reads_the_bits_received_so_far():
    """The estimate after the last bit is the output; earlier ones are partial binary fractions."""
    x = RNG.uniform(0, 1, (20, 12)).astype(np.float32)
    graph = classifier("ilif", 6, x)
    result = simulate(graph, x, 6, trace=True)
    np.testing.assert_allclose(result.trace[:, -1], result.logits, rtol=1e-5, atol=1e-5)
    assert not np.allclose(result.trace[:, 0], result.logits)
