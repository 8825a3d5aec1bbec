"""correct-bias: each rate-coded layer's mean output matched to the ANN's on calibration data."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.passes.balance_thresholds import BalanceThresholds
from snnc.passes.correct_bias import CorrectBias, bias_owner
from snnc.passes.substitute_neurons import SubstituteNeurons
from snnc.runtime import execute
from snnc.runtime.snn import simulate

from snnc.ir import BATCH, Add, Conv, Gemm, Graph, Input, Relu, Reshape, TensorType
from tests.passes.helpers import chain, compact, run_pass

STEPS = 12


def network(model: str = "if") -> Graph:
    rng = np.random.default_rng(21)
    g = chain(Conv(rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4) * 0.3, pads=(1,) * 4), Relu(),
              Conv(rng.standard_normal((5, 4, 3, 3)) * 0.5, rng.standard_normal(5) * 0.3, pads=(1,) * 4), Relu(),
              Reshape((180,)), Gemm(rng.standard_normal((3, 180)) * 0.2, rng.standard_normal(3)))  # fmt: skip
    run_pass(g, SubstituteNeurons(model=model))
    return g


def calibrated(model: str = "if", **options) -> tuple[Graph, Graph, np.ndarray, list[str]]:
    x = np.random.default_rng(22).uniform(0, 1, (48, 2, 6, 6)).astype(np.float32)
    before = network(model)
    run_pass(before, BalanceThresholds(percentile=100.0), calibration=x, timesteps=STEPS)
    after = before.copy()
    ctx = run_pass(after, CorrectBias(**{"enabled": True, **options}), calibration=x, timesteps=STEPS)
    return before, after, x, ctx.notes.get("correct-bias", [])


def channel_means(g: Graph, x: np.ndarray, name: str) -> np.ndarray:
    """The SNN layer's output per channel, averaged over images, positions and steps."""
    trains = simulate(g, x, STEPS, record=[name]).records[name].astype(np.float64)  # (B, T, C, H, W)
    return (trains * g.op(name).threshold.reshape(-1, 1, 1)).mean(axis=(0, 1, 3, 4))


def test_only_the_biases_change():
    before, after, _, notes = calibrated()
    assert compact(before) == compact(after)
    changed = [n for n in ("n0", "n2", "n5") if not np.array_equal(before.op(n).bias, after.op(n).bias)]
    assert changed == ["n0", "n2", "n5"] and notes and "3 biases corrected on 48 images" in notes[0]
    for n in ("n0", "n2", "n5"):
        np.testing.assert_array_equal(before.op(n).weight, after.op(n).weight)


def test_each_layer_carries_the_anns_mean_more_closely():
    before, after, x, _ = calibrated()
    ann = execute(before, x, keep=["n1", "n3"])
    for name in ("n1", "n3"):
        target = ann[name].mean(axis=(0, 2, 3))
        error_before = np.abs(channel_means(before, x, name) - target).mean()
        error_after = np.abs(channel_means(after, x, name) - target).mean()
        assert error_after < 0.5 * error_before, (name, error_before, error_after)


def test_the_readout_mean_equals_the_anns_exactly():
    """The readout is linear: one correction makes its mean over the calibration images the ANN's."""
    before, after, x, _ = calibrated()
    ann_logits = execute(before, x)[0]
    snn_logits = simulate(after, x, STEPS).logits
    np.testing.assert_allclose(snn_logits.mean(axis=0), ann_logits.mean(axis=0), atol=1e-5)
    assert not np.allclose(simulate(before, x, STEPS).logits.mean(axis=0), ann_logits.mean(axis=0), atol=1e-3)


def test_bit_plane_coding_is_left_alone_and_disabled_means_unchanged():
    before, after, _, notes = calibrated("ilif")
    assert "skipped" in notes[0]
    for n in ("n0", "n2", "n5"):
        np.testing.assert_array_equal(before.op(n).bias, after.op(n).bias)
    x = np.zeros((4, 2, 6, 6), np.float32)
    g = network()
    run_pass(g, CorrectBias(enabled=False), calibration=x)
    np.testing.assert_array_equal(g.op("n0").bias, network().op("n0").bias)


def test_a_residual_add_is_corrected_on_its_branch_with_a_bias():
    rng = np.random.default_rng(23)
    g = Graph()
    h = g.add_input("x", TensorType((BATCH, 2, 5, 5)))
    left = g.add(Conv(rng.standard_normal((2, 2, 3, 3)), np.zeros(2), pads=(1,) * 4), [h], "left")
    joined = g.add(Add(), [left, h], "join")
    shared = g.add(Conv(rng.standard_normal((2, 2, 3, 3)), np.zeros(2), pads=(1,) * 4), [h], "shared")
    g.add(Relu(), [shared], "uses_shared")
    g.outputs = [joined, shared, "uses_shared"]
    assert bias_owner(g, "join") == "left"
    assert bias_owner(g, "shared") is None  # read by a ReLU and a graph output: no bias of its own
    assert isinstance(g.op("x"), Input)


@pytest.mark.parametrize("rounds", [1, 3])
def test_one_round_or_several_bring_the_last_layer_closer(rounds):
    before, after, x, _ = calibrated(rounds=rounds)
    target = execute(before, x, keep=["n3"])["n3"].mean(axis=(0, 2, 3))
    error_after = np.abs(channel_means(after, x, "n3") - target).mean()
    assert error_after < np.abs(channel_means(before, x, "n3") - target).mean()


@pytest.mark.parametrize("model", ["if", "msat"])
def test_the_cpu_engine_and_the_reference_correct_alike(model):
    """The driver hands the pass the cpu target's float engine (its records give what each step
    sends: θ for IF, the adapted threshold for MSAT); the biases it finds are the reference's,
    up to the rounding that flips a spike."""
    from snnc.passes import PassContext, PassManager

    from snnc.program import _native_simulation

    calls = []

    def engine(graph, data, timesteps, **kwargs):
        result = _native_simulation(graph, data, timesteps, **kwargs)
        calls.append(len(result.records))  # the runs that recorded: the pass's simulations
        return result

    before, reference, x, _ = calibrated(model)
    native = before.copy()
    ctx = PassContext(calibration=x, timesteps=STEPS, simulate=engine)
    PassManager([CorrectBias(enabled=True)], verify=True).run(native, ctx)
    assert calls == [0] + [2] * 6  # the check that it runs, then 5 rounds and the readout's
    for n in ("n0", "n2", "n5"):
        np.testing.assert_allclose(native.op(n).bias, reference.op(n).bias, atol=2e-3)
        assert not np.array_equal(native.op(n).bias, before.op(n).bias)


def test_images_simulated_a_few_at_a_time_give_the_same_biases(monkeypatch):
    """Memory bounds the images simulated at once, not the images: the means are the same."""
    from snnc.passes import correct_bias

    before, whole, x, notes = calibrated()
    graph = network()
    sizes = [graph.type(n).sample_size for n in ("n1", "n3")]
    monkeypatch.setattr(correct_bias, "SIMULATION_BYTES", STEPS * (4 * max(sizes) + 5 * sum(sizes)) * 5)
    batches = []
    reference = correct_bias._reference

    def counted(graph, data, timesteps, **kwargs):
        batches.append(len(data))
        return reference(graph, data, timesteps, **kwargs)

    monkeypatch.setattr(correct_bias, "_reference", counted)
    _, chunked, _, chunked_notes = calibrated()  # 48 images, 5 at a time
    assert batches == ([5] * 9 + [3]) * 6
    assert chunked_notes == notes and "on 48 images" in notes[0]
    for n in ("n0", "n2", "n5"):
        np.testing.assert_allclose(chunked.op(n).bias, whole.op(n).bias, rtol=1e-5, atol=1e-6)


def test_a_graph_the_engine_cannot_run_is_corrected_on_the_reference():
    from snnc.passes import PassContext, PassManager

    from snnc.errors import UnsupportedError

    def engine(*args, **kwargs):
        raise UnsupportedError("no such kernel")

    before, reference, x, _ = calibrated()
    fallback = before.copy()
    PassManager([CorrectBias(enabled=True)]).run(fallback, PassContext(calibration=x, timesteps=STEPS, simulate=engine))
    for n in ("n0", "n2", "n5"):
        np.testing.assert_array_equal(fallback.op(n).bias, reference.op(n).bias)


@pytest.mark.parametrize("options", [dict(images=0), dict(rounds=-1), dict(step=0.0), dict(step=1.5)])
def test_options_out_of_range_are_conversion_errors(options):
    from snnc.errors import ConversionError

    with pytest.raises(ConversionError, match="correct-bias needs"):
        CorrectBias(**options)
