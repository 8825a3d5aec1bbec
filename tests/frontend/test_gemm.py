"""Gemm (transB, alpha, beta, bias shapes) and MatMul with a constant operand, against onnxruntime."""

import numpy as np
import pytest
from onnx import helper

from tests.frontend.helpers import assert_matches_ort, make_model, random_input, weights


@pytest.mark.parametrize("opset", [7, 9, 11, 13, 21])
@pytest.mark.parametrize(
    "attrs,c_shape",
    [
        ({}, (4,)),
        ({"transB": 1}, (4,)),
        ({"alpha": 0.5, "beta": 2.0}, (1, 4)),
        ({"transB": 1, "alpha": 3.0}, ()),
        ({}, None),
    ],
)
def test_gemm(opset, attrs, c_shape):
    if c_shape is None and opset < 11:
        pytest.skip("C is optional only from opset 11")
    b = weights((4, 5) if attrs.get("transB") else (5, 4))
    inits = {"b": b}
    inputs = ["x", "b"]
    if c_shape is not None:
        inits["c"] = weights(c_shape, seed=3)
        inputs.append("c")
    model = make_model([helper.make_node("Gemm", inputs, ["y"], **attrs)], (3, 5), initializers=inits, opset=opset)
    assert_matches_ort(model, random_input((3, 5)))


@pytest.mark.parametrize("in_shape", [(2, 5), (2, 3, 5), (2, 3, 2, 5)])
def test_matmul_constant_right(in_shape):
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], in_shape, initializers={"w": weights((5, 7))})
    assert_matches_ort(model, random_input(in_shape))


def test_matmul_vector_right_drops_the_axis():
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], (2, 3, 5), initializers={"w": weights((5,))})
    graph = assert_matches_ort(model, random_input((2, 3, 5)))
    assert graph.type(graph.outputs[0]).shape == ("N", 3)


def test_matmul_add_as_pytorch_linear():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])]
    inits = {"w": weights((6, 3)), "b": np.arange(3, dtype=np.float32)}
    assert_matches_ort(make_model(nodes, (4, 6), initializers=inits, opset=13), random_input((4, 6)))
