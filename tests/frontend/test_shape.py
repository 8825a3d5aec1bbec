"""Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat, Pad, and folded shape arithmetic."""

import numpy as np
import pytest
from onnx import TensorProto, helper

import snnc
from snnc.errors import UnsupportedError
from tests.frontend.helpers import assert_matches_ort, make_model, random_input

SHAPE = (2, 3, 4, 5)


def single(op, opset=17, inits=None, inputs=("x",), shape=SHAPE, **attrs):
    return make_model([helper.make_node(op, list(inputs), ["y"], **attrs)], shape, initializers=inits, opset=opset)


@pytest.mark.parametrize("axis", [1, -3])
@pytest.mark.parametrize("opset", [7, 9, 11, 13, 21])
def test_flatten(axis, opset):
    if axis < 0 and opset < 11:
        pytest.skip("negative axes arrived in opset 11")
    assert_matches_ort(single("Flatten", opset, axis=axis), random_input(SHAPE))


@pytest.mark.parametrize("target", [[0, -1], [2, 60], [-1, 12, 5], [0, 3, 0, 5], [0, 0, 20], [2, 3, 2, 2, 5]])
@pytest.mark.parametrize("opset", [7, 13, 14, 19, 21])
def test_reshape(target, opset):
    inits = {"s": np.array(target, np.int64)}
    model = make_model(
        [helper.make_node("Reshape", ["x", "s"], ["y"])], SHAPE, initializers=inits, opset=opset, batch=2
    )
    assert_matches_ort(model, random_input(SHAPE))


def test_reshape_that_moves_the_batch_is_unsupported():
    inits = {"s": np.array([3, -1], np.int64)}
    model = make_model([helper.make_node("Reshape", ["x", "s"], ["y"])], SHAPE, initializers=inits, batch=2)
    with pytest.raises(UnsupportedError, match="changes the batch dimension"):
        snnc.import_onnx(model)


@pytest.mark.parametrize("perm", [[0, 2, 3, 1], [0, 3, 1, 2], [0, 1, 2, 3], [0, 3, 2, 1]])
@pytest.mark.parametrize("opset", [7, 13, 21])
def test_transpose(perm, opset):
    assert_matches_ort(single("Transpose", opset, perm=perm), random_input(SHAPE))


def test_transpose_of_the_batch_is_unsupported():
    with pytest.raises(UnsupportedError, match="moves the batch dimension"):
        snnc.import_onnx(single("Transpose", perm=[1, 0, 2, 3]))


@pytest.mark.parametrize("opset", [7, 11, 13, 21])
@pytest.mark.parametrize("axes", [[2], [-1], [2, 4], None])
def test_squeeze(opset, axes):
    shape = (2, 3, 1, 5, 1)
    if axes is None:
        model = single("Squeeze", opset, shape=shape)
    elif opset >= 13:
        model = single("Squeeze", opset, {"a": np.array(axes, np.int64)}, ("x", "a"), shape=shape)
    else:
        model = single("Squeeze", opset, shape=shape, axes=axes)
    assert_matches_ort(model, random_input(shape))


@pytest.mark.parametrize("opset", [7, 11, 13, 21])
@pytest.mark.parametrize("axes", [[1], [-1], [2, 4]])
def test_unsqueeze(opset, axes):
    if opset >= 13:
        model = single("Unsqueeze", opset, {"a": np.array(axes, np.int64)}, ("x", "a"))
    else:
        model = single("Unsqueeze", opset, axes=axes)
    assert_matches_ort(model, random_input(SHAPE))


@pytest.mark.parametrize("axis", [1, 2, -1])
@pytest.mark.parametrize("opset", [7, 11, 13])
def test_concat_of_computed_branches(axis, opset):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Sigmoid", ["x"], ["b"]),
        helper.make_node("Concat", ["a", "x", "b"], ["y"], axis=axis),
    ]
    assert_matches_ort(make_model(nodes, SHAPE, opset=opset), random_input(SHAPE))


@pytest.mark.parametrize("opset", [7, 11, 13, 18, 19, 21])
@pytest.mark.parametrize("value", [0.0, -1.5])
def test_constant_pad(opset, value):
    pads = [0, 1, 0, 2, 0, 0, 3, 1]
    if opset < 11:
        model = single("Pad", opset, pads=pads, value=value)
    else:
        inits = {"p": np.array(pads, np.int64), "v": np.float32(value)}
        model = single("Pad", opset, inits, ("x", "p", "v"))
    assert_matches_ort(model, random_input(SHAPE))


def test_pad_with_axes_input():
    inits = {"p": np.array([1, 2, 0, 3], np.int64), "v": np.float32(0.5), "a": np.array([2, 3], np.int64)}
    assert_matches_ort(single("Pad", 18, inits, ("x", "p", "v", "a")), random_input(SHAPE))


def test_reflect_pad_is_unsupported():
    model = single("Pad", 13, {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}, ("x", "p"), mode="reflect")
    with pytest.raises(UnsupportedError, match="only constant padding"):
        snnc.import_onnx(model)


@pytest.mark.parametrize("opset", [9, 11, 13])
def test_pytorch_view_batch_minus_one_folds(opset):
    """x.view(x.size(0), -1): Shape → Gather → Unsqueeze → Concat → Reshape, folded at import."""
    unsqueeze = (
        helper.make_node("Unsqueeze", ["n", "zero_axes"], ["n1"])
        if opset >= 13
        else helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0])
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Constant", [], ["i0"], value=helper.make_tensor("i0", TensorProto.INT64, [], [0])),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        unsqueeze,
        helper.make_node("Constant", [], ["m1"], value=helper.make_tensor("m1", TensorProto.INT64, [1], [-1])),
        helper.make_node("Concat", ["n1", "m1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = {"zero_axes": np.array([0], np.int64)} if opset >= 13 else {}
    model = make_model(nodes, SHAPE, initializers=inits, opset=opset)
    graph = assert_matches_ort(model, random_input(SHAPE))
    assert [n.op.name for n in graph.nodes()] == ["input", "reshape"]


def test_constant_of_shape_folds_into_an_add():
    nodes = [
        helper.make_node("Constant", [], ["s"], value=helper.make_tensor("s", TensorProto.INT64, [1], [5])),
        helper.make_node("ConstantOfShape", ["s"], ["c"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [2.5])),
        helper.make_node("Add", ["x", "c"], ["y"]),
    ]
    assert_matches_ort(make_model(nodes, SHAPE, opset=13), random_input(SHAPE))
