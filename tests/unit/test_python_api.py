"""The Python API says what a program is and takes: short reprs, inputs as onnxruntime names
them, a report that is a dict and prints as tables, adaptive exits as a compile() argument."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import snnc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODEL = EXAMPLES / "fmnist_vgg.onnx"


@pytest.fixture(scope="module")
def data():
    bundle = np.load(EXAMPLES / "fmnist_test.npz")  # labelled: the exits are calibrated on labels
    return bundle["x"][:64], bundle["y"][:64]


@pytest.fixture(scope="module")
def program(data):
    return snnc.compile(MODEL, calibration=data[0], neuron="if", timesteps=6)


def test_inputs_and_outputs_as_onnxruntime_describes_them(program):
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    (ours,), (theirs,) = program.inputs, session.get_inputs()
    assert ours.name == theirs.name and ours.type == "float32" and theirs.type == "tensor(float)"
    assert ours.shape[1:] == tuple(theirs.shape[1:]) and ours.shape[0] == "N"
    assert program.outputs[0].shape == ("N", 10)


def test_reprs_are_one_line_and_hold_no_arrays(program, data):
    result = program.run(data[0][:5], threads=1)
    text = repr(result)
    assert text.startswith("SimResult(samples=5, outputs=[(5, 10) float32]") and "\n" not in text
    assert "array" not in text and len(text) < 200
    assert repr(program) == "Program(if, T=6, target=cpu; inputs (image: ['N', 1, 28, 28]))"
    graph = repr(program.graph)
    assert graph.startswith("Graph(") and "image: f32[N,1,28,28]" in graph and "\n" not in graph


def test_per_image_counts_are_the_totals_over_the_images(program, data):
    result = program.run(data[0][:8], threads=1)
    assert result.spikes_per_image == {name: count / 8 for name, count in result.spikes.items()}
    assert result.sops_per_image == {name: count / 8 for name, count in result.sops.items()}
    assert sum(result.spikes_per_image.values()) > 0


def test_the_report_is_a_dict_that_prints_as_tables(program, data):
    report = program.report(program.run(data[0][:4], threads=1))
    assert isinstance(report, dict) and report["settings"]["neuron"] == "if"
    assert report["settings"]["thresholds"] == "error" and report["settings"]["bias_correction"] is True
    text = str(report)
    assert "firing rate" in text and "[balance-thresholds]" in text and text.count("\n") > 5


def test_adaptive_exits_are_a_compile_argument():
    bundle = np.load(EXAMPLES / "fmnist_test.npz")
    x, y = bundle["x"][:128], bundle["y"][:128]
    options = dict(calibration=x, neuron="if", timesteps=6, bias_correction=False)
    direct = snnc.compile(MODEL, labels=y, adaptive={"budget": 5.0, "step_weights": False}, **options)
    later = snnc.compile(MODEL, **options)
    later.calibrate_exits(x, y, budget=5.0, step_weights=False)
    assert direct.settings.adaptive == later.settings.adaptive and direct.settings.adaptive["budget"] == 5.0
    assert (direct.settings.adaptive["metric"], direct.settings.adaptive["margin"]) == ("sum-softmax", 1.0)
    with pytest.raises(snnc.SnncError, match="calibrated on the calibration data"):
        snnc.compile(MODEL, data_free=True, adaptive=True)
    with pytest.raises(snnc.SnncError, match="exit margin"):
        later.calibrate_exits(x, y, budget=5.0, margin=-1)
    plain = snnc.compile(MODEL, **options)  # no margin: within the budget by the count itself
    plain.calibrate_exits(x, y, budget=5.0, step_weights=False, margin=0)
    assert plain.settings.adaptive["threshold"] <= later.settings.adaptive["threshold"]


def test_the_package_declares_its_annotations():
    assert resources.files("snnc").joinpath("py.typed").is_file()
