"""The model suite: the networks the field publishes on, built as ONNX from seeded numpy weights.

    snnc zoo --list
    snnc zoo resnet50 -o resnet50.onnx [--seed 0] [--opset 17]

torchvision's layouts (ResNet with projection shortcuts and a padded max-pool stem, VGG with
batch normalization, MobileNetV2 with depthwise convolutions and ReLU6), He-initialized
convolutions, batch normalization with random statistics (so that fold-bn has work to do) and
float32 throughout; nothing is downloaded and torch is not needed. The CIFAR variants take
3×32×32 inputs and 10 classes: ResNet-20 as He et al. (2016) define it for CIFAR, with
projection shortcuts; ResNet-18 and MobileNetV2 with a 3×3, stride-1 stem (no max-pool) as
CIFAR adaptations do; VGG-16 with one 512 → 10 classifier. The ImageNet ones take 3×224×224
and 1,000 classes. `parameters(name)` counts the weights without building them (the tests
check it against torchvision's published counts).
"""

from __future__ import annotations

import numpy as np

from snnc.errors import UsageError

OPSET = 17


class _Net:
    """Appends ONNX nodes and initializers; with `weights=False` it only counts parameters."""

    def __init__(self, name: str, input_shape: tuple[int, ...], seed: int, weights: bool = True) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.weights = weights
        self.nodes, self.initializers = [], []
        self.channels = {"input": input_shape[0]}
        self.params = 0
        self.count = 0

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}{self.count}"

    def _init(self, name: str, array_fn, shape) -> str:
        self.params += int(np.prod(shape))
        if self.weights:
            from onnx import numpy_helper

            self.initializers.append(numpy_helper.from_array(np.asarray(array_fn(), np.float32).reshape(shape), name))
        return name

    def node(self, op: str, inputs: list[str], channels: int, **attributes) -> str:
        from onnx import helper

        out = self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attributes))
        self.channels[out] = channels
        return out

    # -- layers ---------------------------------------------------------------------------------------
    def conv(self, x: str, out: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False) -> str:
        c_in = self.channels[x]
        fan_in = c_in // groups * kernel * kernel
        name = self._name("w")
        shape = (out, c_in // groups, kernel, kernel)
        weight = self._init(name, lambda: self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in), shape)
        inputs = [x, weight]
        if bias:
            inputs.append(self._init(name + "_b", lambda: self.rng.standard_normal(out) * 0.01, (out,)))
        pad = kernel // 2
        return self.node("Conv", inputs, out, kernel_shape=[kernel, kernel], strides=[stride, stride],
                         pads=[pad] * 4, group=groups)  # fmt: skip

    def bn(self, x: str) -> str:
        c = self.channels[x]
        name = self._name("bn")
        scale = self._init(name + "_scale", lambda: self.rng.uniform(0.5, 1.5, c), (c,))
        shift = self._init(name + "_shift", lambda: self.rng.normal(0, 0.1, c), (c,))
        mean = self._buffer(name + "_mean", lambda: self.rng.normal(0, 0.1, c), (c,))
        var = self._buffer(name + "_var", lambda: self.rng.uniform(0.5, 1.5, c), (c,))
        return self.node("BatchNormalization", [x, scale, shift, mean, var], c, epsilon=1e-5)

    def _buffer(self, name: str, array_fn, shape) -> str:
        """A constant that is no parameter (batch-norm statistics, clip bounds: torchvision counts neither)."""
        counted = self.params
        self._init(name, array_fn, shape)
        self.params = counted
        return name

    def relu(self, x: str) -> str:
        return self.node("Relu", [x], self.channels[x])

    def relu6(self, x: str) -> str:
        low = self._buffer(self._name("min"), lambda: 0.0, ())
        high = self._buffer(self._name("max"), lambda: 6.0, ())
        return self.node("Clip", [x, low, high], self.channels[x])

    def max_pool(self, x: str, kernel: int, stride: int, pad: int) -> str:
        return self.node("MaxPool", [x], self.channels[x], kernel_shape=[kernel, kernel], strides=[stride, stride],
                         pads=[pad] * 4)  # fmt: skip

    def add(self, a: str, b: str) -> str:
        return self.node("Add", [a, b], self.channels[a])

    def head(self, x: str, classes: int) -> str:
        """Global average pool, flatten, one dense layer."""
        x = self.node("Flatten", [self.node("GlobalAveragePool", [x], self.channels[x])], self.channels[x])
        return self.dense(x, classes)

    def dense(self, x: str, out: int) -> str:
        c_in = self.channels[x]
        name = self._name("fc")
        weight = self._init(name, lambda: self.rng.standard_normal((out, c_in)) * np.sqrt(1.0 / c_in), (out, c_in))
        bias = self._init(name + "_b", lambda: self.rng.standard_normal(out) * 0.01, (out,))
        return self.node("Gemm", [x, weight, bias], out, transB=1)

    def model(self, output: str, input_shape: tuple[int, ...], opset: int):
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            self.nodes, self.name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *input_shape])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", self.channels[output]])], self.initializers,
        )  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="snnc zoo")
        onnx.checker.check_model(model)
        return model


# -- the architectures --------------------------------------------------------------------------------
def _conv_bn(net: _Net, x: str, out: int, kernel: int, stride: int = 1, groups: int = 1, relu: str | None = "relu",
             bias: bool = False):  # fmt: skip
    x = net.bn(net.conv(x, out, kernel, stride, groups, bias))
    return {"relu": net.relu, "relu6": net.relu6, None: lambda v: v}[relu](x)


def _basic_block(net: _Net, x: str, out: int, stride: int) -> str:
    body = _conv_bn(net, _conv_bn(net, x, out, 3, stride), out, 3, relu=None)
    shortcut = x if stride == 1 and net.channels[x] == out else _conv_bn(net, x, out, 1, stride, relu=None)
    return net.relu(net.add(body, shortcut))


def _bottleneck(net: _Net, x: str, width: int, stride: int) -> str:
    out = width * 4
    body = _conv_bn(net, _conv_bn(net, _conv_bn(net, x, width, 1), width, 3, stride), out, 1, relu=None)
    shortcut = x if stride == 1 and net.channels[x] == out else _conv_bn(net, x, out, 1, stride, relu=None)
    return net.relu(net.add(body, shortcut))


def _resnet(net: _Net, blocks: tuple[int, ...], widths: tuple[int, ...], block, imagenet: bool, classes: int):
    if imagenet:  # torchvision: 7×7/2 convolution, then a padded 3×3/2 max pool
        x = net.max_pool(_conv_bn(net, "input", 64, 7, 2), 3, 2, 1)
    else:  # CIFAR: a 3×3, stride-1 convolution as wide as the first stage
        x = _conv_bn(net, "input", widths[0], 3)
    for stage, (count, width) in enumerate(zip(blocks, widths)):
        for index in range(count):
            x = block(net, x, width, 2 if index == 0 and stage > 0 else 1)
    return net.head(x, classes)


def _vgg16(net: _Net, imagenet: bool, classes: int) -> str:
    x = "input"
    for width in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        # torchvision's VGG convolutions keep their biases before batch normalization
        x = net.max_pool(x, 2, 2, 0) if width == "M" else _conv_bn(net, x, width, 3, bias=True)
    if not imagenet:
        return net.head(x, classes)
    x = net.node("Flatten", [x], net.channels[x] * 49)  # torchvision: the 7×7×512 map read whole
    x = net.relu(net.dense(x, 4096))
    return net.dense(net.relu(net.dense(x, 4096)), classes)


def _mobilenet_v2(net: _Net, imagenet: bool, classes: int) -> str:
    x = _conv_bn(net, "input", 32, 3, 2 if imagenet else 1, relu="relu6")
    settings = [(1, 16, 1, 1), (6, 24, 2, 2 if imagenet else 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip
    for expand, out, count, first_stride in settings:
        for index in range(count):
            stride = first_stride if index == 0 else 1
            c_in = net.channels[x]
            hidden = c_in * expand
            y = _conv_bn(net, x, hidden, 1, relu="relu6") if expand != 1 else x
            y = _conv_bn(net, y, hidden, 3, stride, groups=hidden, relu="relu6")
            y = _conv_bn(net, y, out, 1, relu=None)
            x = net.add(y, x) if stride == 1 and c_in == out else y
    x = _conv_bn(net, x, 1280, 1, relu="relu6")
    return net.head(x, classes)


CIFAR, IMAGENET = (3, 32, 32), (3, 224, 224)
MODELS = {
    "cifar-resnet20": (CIFAR, lambda net: _resnet(net, (3, 3, 3), (16, 32, 64), _basic_block, False, 10)),
    "cifar-resnet18": (CIFAR, lambda net: _resnet(net, (2, 2, 2, 2), (64, 128, 256, 512), _basic_block, False, 10)),
    "cifar-vgg16": (CIFAR, lambda net: _vgg16(net, False, 10)),
    "cifar-mobilenetv2": (CIFAR, lambda net: _mobilenet_v2(net, False, 10)),
    "resnet18": (IMAGENET, lambda net: _resnet(net, (2, 2, 2, 2), (64, 128, 256, 512), _basic_block, True, 1000)),
    "resnet50": (IMAGENET, lambda net: _resnet(net, (3, 4, 6, 3), (64, 128, 256, 512), _bottleneck, True, 1000)),
    "vgg16": (IMAGENET, lambda net: _vgg16(net, True, 1000)),
    "mobilenetv2": (IMAGENET, lambda net: _mobilenet_v2(net, True, 1000)),
}


def names() -> tuple[str, ...]:
    return tuple(MODELS)


def _spec(name: str):
    if name not in MODELS:
        raise UsageError(f"no model {name!r} in the suite; it has {', '.join(MODELS)}")
    return MODELS[name]


def build(name: str, seed: int = 0, opset: int = OPSET):
    """The named network as an ONNX ModelProto, its weights drawn from `seed`."""
    input_shape, architecture = _spec(name)
    net = _Net(name, input_shape, seed)
    return net.model(architecture(net), input_shape, opset)


def parameters(name: str) -> int:
    """Trainable parameters (weights, biases, batch-norm scales and shifts), as torchvision counts."""
    input_shape, architecture = _spec(name)
    net = _Net(name, input_shape, 0, weights=False)
    architecture(net)
    return net.params
