"""AveragePool, MaxPool, GlobalAveragePool, GlobalMaxPool and ReduceMean against onnxruntime."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

import snnc
from snnc.errors import UnsupportedError
from tests.frontend.helpers import assert_matches_ort, make_model, random_input

SHAPE = (2, 3, 9, 10)


def pool_model(op, shape=SHAPE, opset=17, **attrs):
    return make_model([helper.make_node(op, ["x"], ["y"], **attrs)], shape, opset=opset)


@pytest.mark.parametrize("op", ["AveragePool", "MaxPool"])
@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel_shape": [2, 2], "strides": [2, 2]},
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [0, 1, 2, 0]},
        {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
        {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1},
        {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
        {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER", "strides": [2, 2]},
        {"kernel_shape": [2, 2], "auto_pad": "VALID"},
    ],
    ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()),
)
def test_pool2d(op, attrs):
    assert_matches_ort(pool_model(op, **attrs), random_input(SHAPE))


@pytest.mark.parametrize("ceil_mode", [0, 1])
@pytest.mark.parametrize("pads", [[0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 2, 1]])
def test_average_pool_count_include_pad(ceil_mode, pads):
    model = pool_model(
        "AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=pads, count_include_pad=1, ceil_mode=ceil_mode
    )
    assert_matches_ort(model, random_input(SHAPE))


@pytest.mark.parametrize("dilations", [[2, 2], [1, 2]])
@pytest.mark.parametrize("ceil_mode", [0, 1])
def test_max_pool_dilations(dilations, ceil_mode):
    model = pool_model("MaxPool", kernel_shape=[2, 3], strides=[1, 2], dilations=dilations, ceil_mode=ceil_mode)
    assert_matches_ort(model, random_input(SHAPE))


@pytest.mark.parametrize("op", ["AveragePool", "MaxPool"])
@pytest.mark.parametrize("opset", [7, 8, 10, 11, 12, 19, 22])
def test_pool_across_opsets(op, opset):
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
    if op == "AveragePool" and opset >= 7:
        attrs["count_include_pad"] = 1
    assert_matches_ort(pool_model(op, opset=opset, **attrs), random_input(SHAPE))


@pytest.mark.parametrize("op", ["AveragePool", "MaxPool"])
def test_pool1d(op):
    model = pool_model(op, shape=(2, 3, 11), kernel_shape=[3], strides=[2], pads=[1, 0], ceil_mode=1)
    assert_matches_ort(model, random_input((2, 3, 11)))


@settings(max_examples=30, deadline=None)
@given(
    op=st.sampled_from(["AveragePool", "MaxPool"]),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    pad=st.integers(0, 1),
    ceil_mode=st.integers(0, 1),
    count_include_pad=st.integers(0, 1),
)
def test_pool_random_geometry(op, kernel, stride, pad, ceil_mode, count_include_pad):
    if pad >= kernel:
        return  # ONNX requires pads smaller than the kernel
    attrs = {"kernel_shape": [kernel, kernel], "strides": [stride, stride], "pads": [pad] * 4, "ceil_mode": ceil_mode}
    if op == "AveragePool":
        attrs["count_include_pad"] = count_include_pad
    assert_matches_ort(pool_model(op, **attrs), random_input(SHAPE))


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [SHAPE, (2, 4, 7)])
def test_global_pools(op, shape):
    assert_matches_ort(pool_model(op, shape=shape), random_input(shape))


@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize(
    "axes,keepdims", [([2, 3], 1), ([2, 3], 0), ([-1, -2], 1), ([3], 1), ([1, 2], 0), ([1, 2, 3], 0)]
)
def test_reduce_mean(opset, axes, keepdims):
    if opset >= 18:
        node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=keepdims)
        model = make_model([node], SHAPE, initializers={"axes": np.array(axes, np.int64)}, opset=opset)
    else:
        model = pool_model("ReduceMean", opset=opset, axes=axes, keepdims=keepdims)
    assert_matches_ort(model, random_input(SHAPE))


def test_reduce_mean_over_the_batch_is_unsupported():
    with pytest.raises(UnsupportedError, match="batch dimension"):
        snnc.import_onnx(pool_model("ReduceMean", opset=13, axes=[0, 2]))


def test_three_dimensional_pooling_is_unsupported():
    model = pool_model("MaxPool", shape=(1, 2, 4, 4, 4), kernel_shape=[2, 2, 2])
    with pytest.raises(UnsupportedError, match="3-D windows"):
        snnc.import_onnx(model)
