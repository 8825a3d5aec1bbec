"""Conv (1-D and 2-D; groups, dilations, strides, pads, auto_pad) against onnxruntime."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from tests.frontend.helpers import assert_matches_ort, make_model, random_input, weights


def conv_model(in_shape, out_channels, kernel, opset=17, bias=True, **attrs):
    groups = attrs.get("group", 1)
    w = weights((out_channels, in_shape[1] // groups, *kernel))
    inits = {"w": w}
    inputs = ["x", "w"]
    if bias:
        inits["b"] = weights((out_channels,), seed=2)
        inputs.append("b")
    node = helper.make_node("Conv", inputs, ["y"], **attrs)
    return make_model([node], in_shape, initializers=inits, opset=opset)


@pytest.mark.parametrize("opset", [7, 11, 13, 17, 21])
def test_conv2d_across_opsets(opset):
    model = conv_model((2, 3, 9, 9), 4, (3, 3), opset=opset, pads=[1, 1, 1, 1])
    assert_matches_ort(model, random_input((2, 3, 9, 9)))


@pytest.mark.parametrize(
    "attrs",
    [
        {"strides": [2, 2]},
        {"strides": [2, 1], "pads": [0, 1, 2, 1]},
        {"dilations": [2, 2], "pads": [2, 2, 2, 2]},
        {"group": 3},
        {"group": 6, "strides": [2, 2], "pads": [1, 1, 1, 1]},
        {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
        {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
        {"auto_pad": "VALID"},
        {"kernel_shape": [3, 3]},
    ],
    ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()),
)
def test_conv2d_attributes(attrs):
    model = conv_model((2, 6, 10, 11), 6, (3, 3), **attrs)
    assert_matches_ort(model, random_input((2, 6, 10, 11)))


def test_conv2d_without_bias():
    model = conv_model((1, 2, 5, 5), 3, (2, 2), bias=False)
    assert_matches_ort(model, random_input((1, 2, 5, 5)))


@pytest.mark.parametrize("attrs", [{}, {"strides": [2]}, {"pads": [2, 1], "dilations": [2]}, {"group": 2}])
def test_conv1d(attrs):
    model = conv_model((3, 4, 17), 6, (3,), **attrs)
    assert_matches_ort(model, random_input((3, 4, 17)))


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(5, 12),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    dilation=st.integers(1, 2),
    groups=st.sampled_from([1, 2]),
)
def test_conv2d_random_geometry(size, kernel, stride, pad, dilation, groups):
    if (kernel - 1) * dilation + 1 > size + 2 * pad:
        return
    model = conv_model(
        (2, 4, size, size),
        4,
        (kernel, kernel),
        strides=[stride, stride],
        pads=[pad] * 4,
        dilations=[dilation, dilation],
        group=groups,
    )
    assert_matches_ort(model, random_input((2, 4, size, size)))
