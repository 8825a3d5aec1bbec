"""The ANN view on onnxruntime (frontend/export.py + runtime/ort.py) against the numpy reference,
value by value: every ONNX backend case snnc imports, the model suite's small networks, and
converted SNN graphs (neurons, readouts, gated max pooling)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from snnc.runtime.ann import execute
from snnc.runtime.ort import OrtGraph, stream_values

import snnc
from snnc.errors import SnncError
from snnc.ir import ops_tensor as t
from snnc.zoo import build
from tests.frontend.test_onnx_backend import CASES, expected_error
from tests.onnx_cases import bind_constants

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _every_value(graph) -> list[str]:
    return [node.name for node in graph.nodes() if not isinstance(node.op, t.Input)]


def _compare(graph, x, rtol=1e-4, atol=1e-5) -> None:
    """Every value within float rounding: relative, and absolute to the tensor's own scale (a
    deep random network's sums cancel)."""
    names = _every_value(graph)
    ours = OrtGraph(graph, names).run(x)
    reference = execute(graph, x, keep=names)
    for name in names:
        scale = max(1.0, float(np.abs(reference[name]).max(initial=0)))
        np.testing.assert_allclose(ours[name], reference[name], rtol=rtol, atol=atol * scale, err_msg=name)


SINGLE_INPUT = [c for c in CASES if expected_error(c.name) is None and len(c.inputs) >= 1]


@pytest.mark.parametrize("case", SINGLE_INPUT, ids=[c.name for c in SINGLE_INPUT])
def test_backend_case_values(case):
    model, inputs = bind_constants(case)
    try:
        graph = snnc.import_onnx(model)
    except SnncError:
        pytest.skip("not imported")
    if len(graph.inputs) != 1:
        pytest.skip("several inputs: calibration runs one-input graphs")
    _compare(graph, inputs[0].astype(np.float32))


@pytest.mark.parametrize("name", ["cifar-resnet20", "cifar-mobilenetv2"])
def test_suite_networks(name):
    graph = snnc.import_onnx(build(name, seed=3))
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    names = _every_value(graph)
    ours = OrtGraph(graph, names).run(x)
    reference = execute(graph, x, keep=names)
    for name in names:  # 50 layers of random weights, where rounding grows with depth: compare norms
        error = np.linalg.norm(ours[name] - reference[name]) / max(np.linalg.norm(reference[name]), 1e-12)
        assert error < 1e-4, name  # grows ×1.3 a layer here, to 2.6e-5 at the last


@pytest.mark.parametrize("neuron", ["ilif", "if", "msat"])
def test_snn_graph_ann_view(neuron):
    """Neurons (clipped or not), readouts and the pooling forms of a converted network."""
    images = np.load(EXAMPLES / "fmnist_calib.npz")["x"][:32]
    program = snnc.compile(EXAMPLES / "fmnist_vgg.onnx", "cpu", 8, calibration=images, neuron=neuron)
    _compare(program.graph, images[:5])


def test_streamed_batches_match_one_batch():
    graph = snnc.import_onnx(EXAMPLES / "fmnist_resnet.onnx")
    names = _every_value(graph)[:6]
    data = np.load(EXAMPLES / "fmnist_calib.npz")["x"][:10]
    for engine in ("onnxruntime", "reference"):
        parts = list(stream_values(graph, data, names, 3, engine))
        assert [start for start, _ in parts] == [0, 3, 6, 9]
        whole = execute(graph, data, keep=names)
        for name in names:
            joined = np.concatenate([values[name] for _, values in parts])
            np.testing.assert_allclose(joined, whole[name], rtol=1e-4, atol=1e-5)


def test_a_session_onnxruntime_refuses_falls_back_to_the_reference(monkeypatch):
    from snnc.runtime import ort

    def refuse(*args, **kwargs):
        raise RuntimeError("onnxruntime says no")

    monkeypatch.setattr(ort, "OrtGraph", refuse)
    graph = snnc.import_onnx(EXAMPLES / "fmnist_vgg.onnx")
    names = _every_value(graph)[:3]
    data = np.load(EXAMPLES / "fmnist_calib.npz")["x"][:4]
    ((start, values),) = list(stream_values(graph, data, names, 4))
    expected = execute(graph, data, keep=names)
    assert start == 0 and all(np.array_equal(values[n], expected[n]) for n in names)
