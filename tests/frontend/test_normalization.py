"""BatchNormalization (one node, or decomposed as Unsqueeze/Mul/Add) and LRN against onnxruntime."""

import numpy as np
import pytest
from onnx import helper

from tests.frontend.helpers import assert_matches_ort, make_model, random_input, weights


def bn_params(channels):
    rng = np.random.default_rng(5)
    return {
        "scale": rng.uniform(0.5, 1.5, channels).astype(np.float32),
        "bias": rng.standard_normal(channels).astype(np.float32),
        "mean": rng.standard_normal(channels).astype(np.float32),
        "var": rng.uniform(0.2, 2.0, channels).astype(np.float32),
    }


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
@pytest.mark.parametrize("shape", [(2, 4, 5, 6), (3, 4)])
def test_batch_norm(opset, shape):
    node = helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], epsilon=1e-3)
    assert_matches_ort(make_model([node], shape, initializers=bn_params(4), opset=opset), random_input(shape))


def test_batch_norm_decomposed_like_caffe2_zoo_models():
    """Caffe2-era graphs (DenseNet, Inception-v2) apply BN as x·Unsqueeze(s) + Unsqueeze(b) at opset 9."""
    nodes = [
        helper.make_node("Unsqueeze", ["s"], ["s3"], axes=[1, 2]),
        helper.make_node("Unsqueeze", ["b"], ["b3"], axes=[1, 2]),
        helper.make_node("Mul", ["x", "s3"], ["h"]),
        helper.make_node("Add", ["h", "b3"], ["y"]),
    ]
    inits = {"s": weights((4,)), "b": weights((4,), seed=7)}
    graph = assert_matches_ort(make_model(nodes, (2, 4, 5, 6), initializers=inits, opset=9), random_input((2, 4, 5, 6)))
    assert [n.op.name for n in graph.nodes()] == ["input", "mul-const", "add-const"]


@pytest.mark.parametrize("opset", [7, 13])
@pytest.mark.parametrize("size", [1, 3, 5])  # onnxruntime takes odd sizes only
def test_lrn(opset, size):
    node = helper.make_node("LRN", ["x"], ["y"], size=size, alpha=1e-2, beta=0.75, bias=2.0)
    x = random_input((2, 6, 4, 5)) * 3
    assert_matches_ort(make_model([node], (2, 6, 4, 5), opset=opset), x)
