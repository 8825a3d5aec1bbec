"""balance-thresholds: thresholds from calibration data or from weight bounds."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.passes import PassContext, PassManager, balance_thresholds
from snnc.passes.balance_thresholds import BalanceThresholds, model_based_thresholds
from snnc.passes.substitute_neurons import SubstituteNeurons
from snnc.runtime import execute
from snnc.runtime.snn import simulate

from snnc import models
from snnc.errors import ConversionError
from snnc.ir import (
    BATCH,
    Clip,
    Conv,
    Gemm,
    Relu,
)
from tests.passes.helpers import RNG, chain, conv, run_pass


def neurons_graph():
    g = chain(conv(2, 3), Relu(), conv(3, 4), Relu())
    run_pass(g, SubstituteNeurons(model="if"))
    return g


def test_data_based_thresholds_are_the_activation_maxima():
    g = neurons_graph()
    x = RNG.uniform(0, 1, (64, 2, 6, 6)).astype(np.float32)
    values = execute(g, x, keep=True)
    run_pass(g, BalanceThresholds(percentile=100.0), calibration=x)
    assert float(g.op("n1").threshold) == pytest.approx(values["n1"].max())
    assert float(g.op("n3").threshold) == pytest.approx(values["n3"].max())


def test_per_channel_percentile_thresholds():
    g = neurons_graph()
    x = RNG.uniform(0, 1, (64, 2, 6, 6)).astype(np.float32)
    values = execute(g, x, keep=True)["n3"]
    run_pass(g, BalanceThresholds(percentile=99.0, per_channel=True), calibration=x)
    theta = g.op("n3").threshold
    assert theta.shape == (4, 1, 1)
    for c in range(4):
        positive = values[:, c][values[:, c] > 0]
        assert theta[c, 0, 0] == pytest.approx(np.percentile(positive, 99.0), rel=1e-3)


def test_model_based_thresholds_bound_the_activations():
    g = neurons_graph()
    notes = run_pass(g, BalanceThresholds()).notes["balance-thresholds"]
    assert notes[0].startswith("data-free: thresholds from weight bounds")
    x = RNG.uniform(-1, 1, (64, 2, 6, 6)).astype(np.float32)
    values = execute(g, x, keep=True)
    bounds = model_based_thresholds(g)
    for name in ("n1", "n3"):
        assert values[name].max() <= bounds[name]


class DictCache:
    """The object cache's interface (get, put), in memory."""

    def __init__(self) -> None:
        self.entries: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.entries.get(key)

    def put(self, key: str, data: bytes) -> None:
        self.entries[key] = data


def calibrated(x, cache=None, **options) -> tuple:
    g = neurons_graph_seeded()
    ctx = PassContext(calibration=x, cache=cache)
    PassManager([BalanceThresholds(**options)], verify=True).run(g, ctx)
    return {n: np.asarray(g.op(n).threshold) for n in ("n1", "n3")}, ctx.notes["balance-thresholds"]


def neurons_graph_seeded():
    """The same network every call (the module's RNG would draw new weights)."""
    rng = np.random.default_rng(11)
    g = chain(Conv(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), pads=(1,) * 4), Relu(),
              Conv(rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4), pads=(1,) * 4), Relu())  # fmt: skip
    run_pass(g, SubstituteNeurons(model="if"))
    return g


@pytest.mark.parametrize("per_channel", [False, True])
def test_onnxruntime_and_the_reference_give_the_same_thresholds(per_channel):
    x = np.random.default_rng(5).uniform(0, 1, (96, 2, 6, 6)).astype(np.float32)
    ours, _ = calibrated(x, percentile=99.5, per_channel=per_channel)
    reference, _ = calibrated(x, percentile=99.5, per_channel=per_channel, engine="reference")
    for name in ours:
        np.testing.assert_allclose(ours[name], reference[name], rtol=1e-5)


def test_small_batches_give_the_maxima_of_one_batch(monkeypatch):
    x = np.random.default_rng(6).uniform(0, 1, (50, 2, 6, 6)).astype(np.float32)
    whole, _ = calibrated(x, percentile=100.0)
    monkeypatch.setattr(balance_thresholds, "CALIBRATION_BYTES", 4 * 7 * 6 * 6 * 7)  # 7 images a batch
    assert BalanceThresholds()._batch(neurons_graph_seeded(), ["n1", "n3"]) == 7
    batched, _ = calibrated(x, percentile=100.0)
    for name in whole:
        np.testing.assert_array_equal(whole[name], batched[name])


def test_thresholds_come_from_the_cache_the_second_time():
    x = np.random.default_rng(7).uniform(0, 1, (40, 2, 6, 6)).astype(np.float32)
    cache = DictCache()
    first, notes = calibrated(x, cache, percentile=99.0)
    assert len(cache.entries) == 1 and not any("cache" in n for n in notes)
    second, notes = calibrated(x, cache, percentile=99.0)
    assert "calibration results from the cache" in notes
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    calibrated(x[:39], cache, percentile=99.0)  # other data, other options: other entries
    calibrated(x, cache, percentile=98.0)
    assert len(cache.entries) == 3


def test_a_damaged_cache_entry_is_recomputed():
    x = np.random.default_rng(8).uniform(0, 1, (40, 2, 6, 6)).astype(np.float32)
    cache = DictCache()
    expected, _ = calibrated(x, cache)
    (key,) = cache.entries
    for damaged in (b"not an npz", cache.entries[key][:-20], b""):
        cache.entries[key] = damaged
        thresholds, notes = calibrated(x, cache)
        assert not any("cache" in n for n in notes)
        for name in expected:
            np.testing.assert_array_equal(expected[name], thresholds[name])


def test_model_based_bounds_that_overflow_are_a_conversion_error():
    rng = np.random.default_rng(9)
    layers = []
    for _ in range(3):  # each layer multiplies the bound by about 9·3·1e15
        layers += [Conv(rng.standard_normal((3, 3, 3, 3)) * 1e15, np.zeros(3), pads=(1,) * 4), Relu()]
    g = chain(Conv(rng.standard_normal((3, 2, 3, 3)), np.zeros(3), pads=(1,) * 4), Relu(), *layers)
    run_pass(g, SubstituteNeurons(model="if"))
    with pytest.raises(ConversionError, match="--calib"):
        run_pass(g, BalanceThresholds())


def one_layer(model: str, width: int):
    """input → identity dense → neuron → identity dense → readout: the readout gives back what
    the neuron layer carries for an input held constant over the steps."""
    g = chain(Gemm(np.eye(width), np.zeros(width)), Relu(), Gemm(np.eye(width), np.zeros(width)), shape=(BATCH, width))
    run_pass(g, SubstituteNeurons(model=model))
    return g


@pytest.mark.parametrize("model, steps, reset", [("if", 16, "subtract"), ("if", 5, "subtract"), ("ilif", 4, "subtract"),
                                                 ("if", 16, "zero"), ("if", 7, "zero")])  # fmt: skip
def test_the_expected_output_is_what_the_simulator_gives_for_a_steady_input(model, steps, reset):
    activations = np.random.default_rng(12).uniform(0, 1.5, (3, 200)).astype(np.float32)
    activations[0, :4] = 0.0
    g = one_layer(model, 200)
    op = g.op("n1")
    if reset == "zero":
        g.replace_op("n1", type(op)(**{**op.attributes(), "reset": "zero"}))
    out = simulate(g, activations, steps).logits
    expected = models.model(model).expected_output(activations.astype(np.float64), op.threshold, steps, op.v_init,
                                                   reset)  # fmt: skip
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("model, steps", [("if", 16), ("ilif", 3)])
def test_the_error_method_picks_the_candidate_with_the_least_simulated_error(model, steps):
    """Each candidate θ's error measured independently, by the reference simulator."""
    activations = np.round(np.random.default_rng(13).exponential(1.0, (1, 300)), 3)
    g = one_layer(model, 300)
    op = g.op("n1")
    chosen = float(balance_thresholds.least_error_thresholds(op, activations, activations.max(axis=1), steps)[0])

    def simulated_error(theta: float) -> float:
        g.replace_op("n1", type(op)(**{**op.attributes(), "threshold": np.float32(theta)}))
        out = simulate(g, activations.astype(np.float32), steps).logits
        return float(np.mean((out - activations) ** 2))

    errors = [simulated_error(float(activations.max() * f)) for f in balance_thresholds.COARSE]
    assert simulated_error(chosen) <= min(errors) * (1 + 1e-4)
    assert chosen < activations.max()  # the maximum would spend levels on a few large values


def test_the_error_method_stops_at_the_ceiling_and_notes_the_target_steps():
    x = np.random.default_rng(14).uniform(0, 1, (40, 2, 6, 6)).astype(np.float32)
    thresholds, notes = calibrated(x, thresholds="error", per_channel=True)
    assert thresholds["n3"].shape == (4, 1, 1) and any("least expected error at T=8" in n for n in notes)
    g = chain(Conv(np.ones((2, 2, 3, 3)), np.full(2, 50.0), pads=(1,) * 4), Clip(0.0, 6.0))
    run_pass(g, SubstituteNeurons(model="if"))
    run_pass(g, BalanceThresholds(thresholds="error"), calibration=x, timesteps=32)
    assert float(g.op("n1").threshold) == 6.0  # every activation sits at the ceiling
