"""Small graphs and checks shared by the tests of the passes (one file per pass)."""

from __future__ import annotations

import numpy as np
from snnc.passes import PassContext, PassManager
from snnc.runtime import execute

from snnc.ir import (
    BATCH,
    BatchNorm,
    Conv,
    Graph,
    Input,
    TensorType,
)

RNG = np.random.default_rng(3)


def compact(graph: Graph) -> list[str]:
    return [f"{n.op.name}({','.join(n.inputs)})" for n in graph.nodes() if not isinstance(n.op, Input)]


def run_pass(graph: Graph, p, calibration=None, timesteps=8) -> PassContext:
    ctx = PassContext(calibration=calibration, timesteps=timesteps)
    PassManager([p], verify=True).run(graph, ctx)
    return ctx


def assert_same_function(before: Graph, after: Graph, shape, rtol=1e-5):
    x = RNG.standard_normal((4, *shape[1:])).astype(np.float32)
    for a, b in zip(execute(before, x), execute(after, x)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-5)


def conv(c_in, c_out, pads=1):
    return Conv(RNG.standard_normal((c_out, c_in, 3, 3)), RNG.standard_normal(c_out), pads=(pads,) * 4)


def batch_norm(channels):
    return BatchNorm(RNG.uniform(0.5, 2, channels), RNG.standard_normal(channels), RNG.standard_normal(channels),
                     RNG.uniform(0.5, 2, channels))  # fmt: skip


def chain(*ops, shape=(BATCH, 2, 6, 6)) -> Graph:
    g = Graph()
    h = g.add_input("x", TensorType(shape))
    for i, op in enumerate(ops):
        h = g.add(op, [h], f"n{i}")
    g.outputs = [h]
    return g
