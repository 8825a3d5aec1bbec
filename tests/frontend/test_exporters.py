"""Whole graphs as real exporters write them: Caffe2-era zoo models, tf2onnx's NHWC Keras graphs,
PyTorch's exporter (the bundled Fashion-MNIST fixtures). Each is checked against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import snnc
from tests.frontend.helpers import assert_matches_ort, make_model, random_input, run_ort, weights
from tests.onnx_cases import light_model_paths

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def logits_model(path: Path) -> onnx.ModelProto:
    """The zoo graph with its final Softmax dropped, so we compare logits, not ~uniform probabilities."""
    model = onnx.load(path)
    last = model.graph.node[-1]
    if last.op_type == "Softmax":
        del model.graph.node[-1]
        model.graph.output[0].name = last.input[0]
    return model


@pytest.mark.parametrize("path", light_model_paths(), ids=lambda p: p.stem)
def test_caffe2_era_zoo_graph(path):
    model = logits_model(path)
    graph = snnc.import_onnx(model)
    data = graph.inputs[0]
    x = np.random.default_rng(0).uniform(0, 1, graph.type(data).concrete(1)).astype(np.float32)
    ours = snnc.execute(graph, x)[0]
    theirs = run_ort(model, x)[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4 * float(np.abs(theirs).max()))


def keras_nhwc_model(opset: int) -> onnx.ModelProto:
    """What tf2onnx writes for a small Keras CNN: NHWC input, transposes around each conv,
    ReduceMean over H and W for global pooling, MatMul + Add for Dense."""
    nodes = [
        helper.make_node("Transpose", ["input_1:0"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "k1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Transpose", ["p1"], ["nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("ReduceMean", ["nhwc"], ["gap"], axes=[1, 2], keepdims=0),
        helper.make_node("MatMul", ["gap", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1 if opset >= 13 else 1),
    ]
    inits = {"k1": weights((8, 3, 3, 3)), "b1": weights((8,), 2), "w": weights((8, 5), 3), "b": weights((5,), 4)}
    return make_model(nodes, (1, 12, 12, 3), "probs", inits, opset=opset, input_name="input_1:0", batch="unk__0")


@pytest.mark.parametrize("opset", [9, 11, 13, 15, 17])
def test_keras_nhwc_graph_from_tf2onnx(opset):
    assert_matches_ort(keras_nhwc_model(opset), random_input((3, 12, 12, 3)))


@pytest.mark.parametrize("name", ["fmnist_vgg", "fmnist_resnet"])
def test_pytorch_exported_fixture(name):
    path = EXAMPLES / f"{name}.onnx"
    graph = assert_matches_ort(onnx.load(path), random_input((4, 1, 28, 28)), rtol=1e-3, atol=1e-4)
    ops = {n.op.name for n in graph.nodes()}
    assert "batch-norm" in ops and "conv" in ops


def test_fixed_batch_model_runs_on_any_batch():
    """A model exported with batch 1 still takes any batch: dim 0 is always the batch."""
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "w"], ["y"], transB=1)]
    model = make_model(nodes, (1, 2, 3), initializers={"w": weights((4, 6))}, batch=1)
    graph = snnc.import_onnx(model)
    x = random_input((5, 2, 3))
    expected = np.stack([run_ort(model, x[i : i + 1])[0][0] for i in range(5)])
    np.testing.assert_allclose(snnc.execute(graph, x)[0], expected, rtol=1e-5)


def test_initializers_listed_as_inputs_are_constants():
    model = make_model(
        [helper.make_node("Conv", ["x", "w"], ["y"])], (1, 2, 5, 5), initializers={"w": weights((3, 2, 3, 3))}, opset=7
    )
    assert any(v.name == "w" for v in model.graph.input)
    graph = assert_matches_ort(model, random_input((2, 2, 5, 5)))
    assert graph.inputs == ["x"]


def test_input_shape_override_fixes_dynamic_spatial_dims():
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, "H", "W"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, "H", "W"])]
    graph_proto = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", inputs, outputs)
    model = helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", 13)])
    graph = snnc.import_onnx(model, input_shapes={"x": (1, 2, 6, 7)})
    assert graph.type("x").shape == ("N", 2, 6, 7)
