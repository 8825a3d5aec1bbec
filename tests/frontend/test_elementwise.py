"""Add/Sum/Sub/Mul/Div (constants and computed operands), activations, Dropout, Identity."""

import numpy as np
import pytest
from onnx import helper

import snnc
from snnc.errors import UnsupportedError
from tests.frontend.helpers import assert_matches_ort, make_model, random_input, weights

SHAPE = (2, 3, 4, 5)


@pytest.mark.parametrize(
    "op,const_first", [(op, first) for op in ("Add", "Sub", "Mul") for first in (False, True)] + [("Div", False)]
)  # fmt: skip  (constant / x is unsupported: tested below)
@pytest.mark.parametrize("const_shape", [(), (5,), (3, 1, 1), (1, 3, 4, 5), (4, 1)])
def test_binary_with_constant(op, const_shape, const_first):
    c = weights(const_shape) + np.float32(2.0)  # away from zero for Div
    inputs = ["c", "x"] if const_first else ["x", "c"]
    model = make_model([helper.make_node(op, inputs, ["y"])], SHAPE, initializers={"c": c}, opset=13)
    assert_matches_ort(model, random_input(SHAPE))


@pytest.mark.parametrize("opset", [7, 13, 14])
def test_add_and_sub_of_two_computed_tensors(opset):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Add", ["x", "a"], ["s"]),
        helper.make_node("Sub", ["s", "a"], ["y"]),
    ]
    assert_matches_ort(make_model(nodes, SHAPE, opset=opset), random_input(SHAPE))


def test_legacy_broadcast_with_axis_at_opset_6():
    node = helper.make_node("Mul", ["x", "s"], ["y"], broadcast=1, axis=1)
    model = make_model([node], SHAPE, initializers={"s": weights((3,))}, opset=6, output_shape=SHAPE)
    graph = snnc.import_onnx(model)  # onnxruntime has no opset-6 Mul: numpy is the oracle here
    x = random_input(SHAPE)
    expected = x * weights((3,))[None, :, None, None]
    np.testing.assert_allclose(snnc.execute(graph, x)[0], expected, rtol=1e-6)


@pytest.mark.parametrize("opset", [7, 8, 13])
def test_sum_of_computed_and_constant(opset):
    operands = ["x", "a", "c", "x"] if opset >= 8 else ["x", "a", "x"]  # Sum broadcasts from opset 8
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sum", operands, ["y"])]
    model = make_model(nodes, SHAPE, initializers={"c": weights((5,))} if opset >= 8 else {}, opset=opset)
    assert_matches_ort(model, random_input(SHAPE))


def test_product_of_computed_tensors_is_unsupported():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Mul", ["x", "a"], ["y"])]
    with pytest.raises(UnsupportedError, match="Mul.*one side must be constant"):
        snnc.import_onnx(make_model(nodes, SHAPE))


def test_constant_divided_by_data_is_unsupported():
    model = make_model([helper.make_node("Div", ["c", "x"], ["y"])], SHAPE, initializers={"c": weights((5,))})
    with pytest.raises(UnsupportedError, match="only x / constant"):
        snnc.import_onnx(model)


@pytest.mark.parametrize(
    "op,attrs", [("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("LeakyRelu", {"alpha": 0.2}), ("Identity", {})]
)
@pytest.mark.parametrize("opset", [7, 13, 17])
def test_activations(op, attrs, opset):
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], SHAPE, opset=opset)
    assert_matches_ort(model, random_input(SHAPE))


@pytest.mark.parametrize("bounds", [(-0.5, 0.5), (0.0, None), (None, 1.0), (None, None)])
@pytest.mark.parametrize("opset", [7, 11, 13])
def test_clip_attribute_and_input_forms(bounds, opset):
    low, high = bounds
    if opset < 11:
        attrs = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
        model = make_model([helper.make_node("Clip", ["x"], ["y"], **attrs)], SHAPE, opset=opset)
    else:
        inits = {k: np.float32(v) for k, v in (("lo", low), ("hi", high)) if v is not None}
        node = helper.make_node("Clip", ["x", "lo" if low is not None else "", "hi" if high is not None else ""], ["y"])
        model = make_model([node], SHAPE, initializers=inits, opset=opset)
    assert_matches_ort(model, random_input(SHAPE))


@pytest.mark.parametrize("opset", [7, 10, 12, 13, 22])
def test_dropout_in_inference_is_identity(opset):
    if opset >= 12:
        node = helper.make_node("Dropout", ["x", "r"], ["y"])
        model = make_model([node], SHAPE, initializers={"r": np.float32(0.5)}, opset=opset)
    else:
        model = make_model([helper.make_node("Dropout", ["x"], ["y"], ratio=0.5)], SHAPE, opset=opset)
    assert_matches_ort(model, random_input(SHAPE))


def test_dropout_in_training_mode_is_rejected():
    node = helper.make_node("Dropout", ["x", "r", "t"], ["y"])
    model = make_model([node], SHAPE, initializers={"r": np.float32(0.5), "t": np.bool_(True)}, opset=13)
    with pytest.raises(UnsupportedError, match="training_mode"):
        snnc.import_onnx(model)
