"""The model suite: torchvision's parameter counts, the ANN against onnxruntime, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

import snnc
from snnc import zoo
from snnc.cli import main

# torchvision's published counts (resnet18, resnet50, vgg16_bn, mobilenet_v2); the CIFAR ones:
# ResNet-18 and VGG-16 as the common CIFAR adaptations count them (11,173,962 and 14,728,266),
# ResNet-20's 269,722 plus its two projection shortcuts (16·32 + 2·32 and 32·64 + 2·64), and
# MobileNetV2's 3,504,872 with a 10-class head (− 1280·1000 − 1000 + 1280·10 + 10)
PARAMETERS = {
    "cifar-resnet20": 269_722 + 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64,
    "cifar-resnet18": 11_173_962,
    "cifar-vgg16": 14_728_266,
    "cifar-mobilenetv2": 3_504_872 - 1280 * 1000 - 1000 + 1280 * 10 + 10,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "vgg16": 138_365_992,
    "mobilenetv2": 3_504_872,
}


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_parameter_counts_are_torchvisions(name):
    assert zoo.parameters(name) == PARAMETERS[name]


@pytest.mark.parametrize("name", ["cifar-resnet20", "cifar-mobilenetv2", "cifar-vgg16"])
def test_the_built_network_computes_what_onnxruntime_computes(name):
    model = zoo.build(name, seed=3)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"input": x})
    (actual,) = snnc.execute(snnc.import_onnx(model), x)
    assert actual.shape == (2, 10)
    np.testing.assert_allclose(actual, expected, rtol=1e-3, atol=1e-3 * float(np.abs(expected).max()))
    assert len({node.op_type for node in model.graph.node} & {"BatchNormalization", "Add", "Clip"}) >= 1


def test_weights_follow_the_seed():
    a, b, c = zoo.build("cifar-resnet20", 1), zoo.build("cifar-resnet20", 1), zoo.build("cifar-resnet20", 2)
    assert a.SerializeToString() == b.SerializeToString() != c.SerializeToString()


def test_cli_writes_a_model_and_lists_the_suite(tmp_path, capsys):
    assert main(["zoo", "cifar-resnet20", "-o", str(tmp_path / "r.onnx"), "-q"]) == 0
    assert snnc.import_onnx(tmp_path / "r.onnx").type(snnc.import_onnx(tmp_path / "r.onnx").outputs[0]).shape[1] == 10
    assert main(["zoo", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["name"]: row["parameters"] for row in listed} == PARAMETERS
    assert main(["zoo", "nope"]) == 2 and "no model 'nope'" in capsys.readouterr().err
