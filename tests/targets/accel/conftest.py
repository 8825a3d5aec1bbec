"""Small networks, one per op family the accelerator maps, compiled with the real pipeline."""

from __future__ import annotations

import zlib

import numpy as np

import snnc
from snnc.ir import BATCH, Add, AvgPool, Conv, GlobalAvgPool, GlobalMaxPool, Graph, MaxPool, Reshape, TensorType
from tests.targets.cpu.test_jit_vs_reference import RNG, conv, head, relu


def plain(g, x):
    return relu(g, conv(g, x, 6))


def strided(g, x):
    return relu(g, conv(g, x, 6, strides=(2, 2)))


def avg_pool(g, x):
    return relu(g, conv(g, g.add(AvgPool((3, 3), (3, 3)), [x]), 6))


def max_pool(g, x):
    return relu(g, conv(g, g.add(MaxPool((3, 3), (3, 3)), [x]), 6))


def padded_max_pool(g, x):
    """The ImageNet ResNets' stem pool: 3×3, stride 2, one cell of padding."""
    return relu(g, conv(g, g.add(MaxPool((3, 3), (2, 2), pads=(1, 1, 1, 1)), [x]), 6))


def ceil_max_pool(g, x):
    """ceil_mode: 9 → 5 columns, the last window half past the input (and a pad at the top)."""
    return relu(g, conv(g, g.add(MaxPool((2, 2), (2, 2), pads=(1, 0, 0, 0), ceil_mode=True), [x]), 6))


def grouped(g, x):
    """A convolution of 2 groups (8 → 6 channels: each output reads 4 inputs)."""
    return relu(g, conv(g, x, 6, groups=2))


def depthwise(g, x):
    """MobileNets' depthwise 3×3 (a group per channel), then a pointwise 1×1."""
    return relu(g, conv(g, relu(g, conv(g, x, 8, groups=8)), 6, kernel=1))


def relu6(g, x):
    """MobileNets' ReLU6, Clip(0, 6): a neuron whose threshold is at most the clip."""
    from snnc.ir.ops_tensor import Clip

    return g.add(Clip(0.0, 6.0), [conv(g, x, 6)])


def linear_bottleneck(g, x):
    """MobileNetV2's inverted residuals: linear 1×1 projections, their sum read by the next 1×1
    expansion (passes/linear_chains.py composes it with them)."""
    y0 = conv(g, x, 6, kernel=1)
    expanded = relu(g, conv(g, relu(g, conv(g, y0, 12, kernel=1)), 12, groups=12))
    y1 = g.add(Add(), [conv(g, expanded, 6, kernel=1), y0])
    return relu(g, conv(g, y1, 8, kernel=1))


def residual(g, x):
    body = conv(g, relu(g, conv(g, x, 8)), 8)
    return relu(g, g.add(Add(), [body, x]))


def shortcut_conv(g, x):
    body = conv(g, relu(g, conv(g, x, 4)), 4)
    short = g.add(Conv(RNG.standard_normal((4, 8, 1, 1)) * 0.5, np.zeros(4)), [x])
    return relu(g, g.add(Add(), [body, short]))


def global_pool(g, x):
    return g.add(GlobalAvgPool(), [relu(g, conv(g, x, 6))])


def global_max_pool(g, x):
    """lower-pooling makes it a max-pool over the whole map (iLIF: of the potential; rate: a gate)."""
    return g.add(GlobalMaxPool(), [relu(g, conv(g, x, 6))])


FAMILIES = {f.__name__: f for f in (plain, strided, avg_pool, max_pool, padded_max_pool, ceil_max_pool, grouped,
                                    depthwise, relu6, linear_bottleneck, residual, shortcut_conv, global_pool,
                                    global_max_pool)}  # fmt: skip


def family_graph(body) -> Graph:
    """input (3×9×9) → conv → relu → body → flatten → gemm (5 classes). Its weights depend on
    the family's name only, not on which tests drew from the shared generator before."""
    saved = RNG.bit_generator.state
    RNG.bit_generator.state = np.random.default_rng(zlib.crc32(body.__name__.encode())).bit_generator.state
    try:
        g = Graph("accel-case")
        x = g.add_input("x", TensorType((BATCH, 3, 9, 9)))
        head(g, body(g, relu(g, conv(g, x, 8))))
    finally:
        RNG.bit_generator.state = saved
    return g


def dense_graph() -> Graph:
    g = Graph("dense")
    x = g.add_input("x", TensorType((BATCH, 12)))
    from snnc.ir import Gemm

    h = relu(g, g.add(Gemm(RNG.standard_normal((16, 12)) * 0.5, RNG.standard_normal(16) * 0.1), [x]))
    h = g.add(Reshape((16,)), [h])
    g.outputs = [g.add(Gemm(RNG.standard_normal((4, 16)) * 0.5, RNG.standard_normal(4) * 0.1), [h])]
    return g


def compile_accel(graph: Graph, neuron: str, timesteps: int, x: np.ndarray, **options):
    return snnc.compile(graph, target="accel", neuron=neuron, timesteps=timesteps, calibration=x, **options)
