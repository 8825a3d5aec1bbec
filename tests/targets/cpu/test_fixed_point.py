"""The cpu target's fixed-point mode against its oracle, the fixed-point reference
(runtime/fixed.py), and through it the accelerator's simulator: bit-exact, image for image —
logits, exit steps, spike, SOP and MAC counts, recorded spike trains and readout traces."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from snnc.runtime.fixed import latency_offset, quantize_input, simulate_fixed
from snnc.targets.cpu import fixed_plan
from snnc.targets.cpu.layout import to_internal
from snnc.targets.cpu.llvm import ObjectCache
from snnc.targets.cpu.runner import FixedNetwork

import snnc
from snnc.cli import main
from snnc.errors import USAGE, DataError
from tests.targets.accel.conftest import FAMILIES, compile_accel, dense_graph, family_graph

EXAMPLES = Path(__file__).parents[3] / "examples"


def assert_bit_exact(reference, native) -> None:
    np.testing.assert_array_equal(native.logits, reference.logits)
    np.testing.assert_array_equal(native.steps, reference.steps)
    assert native.spikes == reference.spikes
    assert native.sops == reference.sops
    assert native.macs == reference.macs
    assert native.neurons == reference.neurons


def qnet_of(family: str, neuron: str, steps: int, x, **options):
    return compile_accel(family_graph(FAMILIES[family]), neuron, steps, x, **options).accel().qnet


@pytest.mark.parametrize("neuron, steps", [("ilif", 5), ("if", 12), ("msat", 12)])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_native_fixed_point_is_the_reference(family, neuron, steps, family_data):
    qnet = qnet_of(family, neuron, steps, family_data)
    reference = simulate_fixed(qnet, family_data)
    assert_bit_exact(reference, FixedNetwork(qnet).run(family_data, threads=2))
    assert sum(reference.sops.values()) > 0


@pytest.mark.parametrize("msat", [dict(burst=3), dict(preset="resnet"), dict(use_det=False), dict(use_dtt=False)])
def test_msat_variants(msat, family_data):
    qnet = qnet_of("max_pool", "msat", 10, family_data, msat=msat)
    assert_bit_exact(simulate_fixed(qnet, family_data), FixedNetwork(qnet).run(family_data))


def test_msat_spike_confidence_drops_spikes_alike(family_data):
    qnet = qnet_of("avg_pool", "msat", 10, family_data, msat=dict(confidence_steps=4, seed=5))
    last = [layer for layer in qnet.layers if layer.msat][-1]
    before = simulate_fixed(qnet, family_data).spikes[last.name]
    last.msat["confidence"] = 0.6
    reference = simulate_fixed(qnet, family_data)
    assert reference.spikes[last.name] < before
    assert_bit_exact(reference, FixedNetwork(qnet).run(family_data))


@pytest.mark.parametrize("neuron, steps, metric", [("ilif", 6, "max-softmax"), ("if", 16, "max-softmax"),
                                                   ("msat", 16, "max-softmax"), ("if", 16, "sum-softmax"),
                                                   ("msat", 16, "sum-softmax")])  # fmt: skip
def test_adaptive_exits_match_and_stop_the_native_loop(neuron, steps, metric, family_data):
    qnet = qnet_of("avg_pool", neuron, steps, family_data)
    qnet = dataclasses.replace(qnet, exit_metric=metric, exit_threshold=0.5)
    reference = simulate_fixed(qnet, family_data)
    network = FixedNetwork(qnet)
    assert_bit_exact(reference, network.run(family_data))
    assert reference.steps.mean() < steps + latency_offset(qnet)
    if neuron != "ilif":  # rate coding stops its time loop; iLIF has none to stop
        packed = fixed_input(qnet, family_data)
        assert network._native(packed, (), True, 1)["steps"].mean() < steps


def test_an_exit_check_that_stops_too_early_is_caught(family_data, monkeypatch):
    """The native check sits above the exact threshold; were it below, the samples it stopped
    too early are run again without exits and the result is still the reference's."""
    monkeypatch.setattr(fixed_plan, "native_threshold", lambda threshold: 0.0)  # stops after the first step
    qnet = qnet_of("plain", "if", 16, family_data)
    qnet = dataclasses.replace(qnet, exit_metric="max-softmax", exit_threshold=0.9999)
    network = FixedNetwork(qnet)
    native_steps = network._native(fixed_input(qnet, family_data), (), True, 1)["steps"]
    reference = simulate_fixed(qnet, family_data)
    assert np.any(native_steps < reference.steps)  # it did stop too early
    assert_bit_exact(reference, network.run(family_data))


@pytest.mark.parametrize("neuron", ["ilif", "if", "msat"])
def test_records_and_traces_match(neuron, family_data):
    qnet = qnet_of("residual", neuron, 8, family_data)
    layers = [layer.name for layer in qnet.layers if layer.kind == "neuron"]
    reference = simulate_fixed(qnet, family_data, record=layers, trace=True)
    native = FixedNetwork(qnet).run(family_data, record=layers, trace=True, threads=2)
    for name in layers:
        np.testing.assert_array_equal(native.records[name], reference.records[name])
    np.testing.assert_array_equal(native.trace, reference.trace)


def test_dense_network(family_data):
    x = np.random.default_rng(2).uniform(-1, 1, (16, 12)).astype(np.float32)
    qnet = compile_accel(dense_graph(), "if", 10, x).accel().qnet
    assert_bit_exact(simulate_fixed(qnet, x), FixedNetwork(qnet).run(x))


def test_program_engines_agree_with_the_accelerator(family_data):
    program = compile_accel(family_graph(FAMILIES["shortcut_conv"]), "if", 10, family_data)
    chip = program.run(family_data)  # the instruction-stream simulator
    native = program.run(family_data, engine="native-fixed")
    np.testing.assert_array_equal(native.logits, chip.logits)
    np.testing.assert_array_equal(native.steps, chip.steps)
    assert native.sops == chip.sops


def test_vgg_fixture_ilif(family_data):
    calibration = np.load(EXAMPLES / "fmnist_calib.npz")["x"][:128]
    images = np.load(EXAMPLES / "fmnist_test.npz")["x"][:16]
    program = snnc.compile(EXAMPLES / "fmnist_vgg.onnx", neuron="ilif", timesteps=6, calibration=calibration)
    assert_bit_exact(program.run(images, engine="fixed"), program.run(images, engine="native-fixed"))


def test_second_build_comes_from_the_cache(tmp_path, family_data):
    qnet = qnet_of("plain", "if", 8, family_data)
    cache = ObjectCache(tmp_path)
    assert not FixedNetwork(qnet, cache).cached
    assert FixedNetwork(qnet, cache).cached


def test_bad_input_is_a_data_error(family_data):
    network = FixedNetwork(qnet_of("plain", "if", 4, family_data))
    with pytest.raises(DataError, match="shape"):
        network.run(family_data[:, :2])
    with pytest.raises(DataError, match="threads"):
        network.run(family_data, threads=0)
    with pytest.raises(DataError, match="record"):
        network.run(family_data, record=["nope"])


def test_cli_run_in_fixed_point(tmp_path, capsys, family_data):
    program = compile_accel(family_graph(FAMILIES["avg_pool"]), "if", 8, family_data)
    program.settings.target = "cpu"
    artifact = program.save(tmp_path / "p.snnc")
    np.savez(tmp_path / "x.npz", x=family_data)
    assert main(["run", str(artifact), "--input", str(tmp_path / "x.npz"), "--numeric", "fixed", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = program.run(family_data, engine="fixed")
    assert report["predictions"] == expected.logits.argmax(1).tolist()
    assert report["steps"] == expected.steps.tolist()


def test_cli_eval_refuses_numeric_on_accel(capsys):
    data = str(EXAMPLES / "fmnist_test.npz")
    code = main(["eval", str(EXAMPLES / "fmnist_vgg.onnx"), "--data", data, "-t", "accel", "--numeric", "fixed", "-q"])
    assert code == USAGE
    assert "fixed point already" in capsys.readouterr().err


def fixed_input(qnet, x) -> np.ndarray:
    """The packed int input the native entry point takes."""
    return to_internal(quantize_input(x, qnet.input_shape, qnet.input_scale), qnet.input_shape)
