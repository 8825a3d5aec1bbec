"""Softmax and LogSoftmax, including the pre-opset-13 coercion to 2-D."""

import pytest
from onnx import helper

from tests.frontend.helpers import assert_matches_ort, make_model, random_input


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset", [7, 11, 13, 21])
@pytest.mark.parametrize("axis", [1, 2, -1])
def test_softmax(op, opset, axis):
    shape = (2, 3, 4, 5)
    model = make_model([helper.make_node(op, ["x"], ["y"], axis=axis)], shape, opset=opset)
    assert_matches_ort(model, random_input(shape) * 4)


@pytest.mark.parametrize("opset", [7, 13])
def test_softmax_default_axis_on_logits(opset):
    model = make_model([helper.make_node("Softmax", ["x"], ["y"])], (4, 10), opset=opset)
    assert_matches_ort(model, random_input((4, 10)) * 4)
