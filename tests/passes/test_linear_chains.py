"""compose_linear_chains: 1×1 convolutions of linear values become sums of convolutions of
spikes (the accelerator's form of MobileNetV2's linear bottlenecks), computing the same function."""

from __future__ import annotations

import numpy as np
from snnc.passes.linear_chains import compose_linear_chains

from snnc.ir import BATCH, Add, Conv, Graph, Relu, TensorType
from tests.passes.helpers import RNG, assert_same_function, compact


def pointwise(c_in: int, c_out: int) -> Conv:
    return Conv(RNG.standard_normal((c_out, c_in, 1, 1)), RNG.standard_normal(c_out))


def bottlenecks() -> Graph:
    """Two inverted-residual blocks: expand (1×1, relu), depthwise (relu), linear projection;
    the second adds its input (a linear value), and a relu joins the last sum."""
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 3, 6, 6)))
    h0 = g.add(Relu(), [g.add(Conv(RNG.standard_normal((4, 3, 3, 3)), RNG.standard_normal(4), pads=(1,) * 4), [x])])
    y0 = g.add(pointwise(4, 4), [h0], "project0")  # linear
    e1 = g.add(Relu(), [g.add(pointwise(4, 8), [y0], "expand1")])
    d1 = g.add(Relu(), [g.add(Conv(RNG.standard_normal((8, 1, 3, 3)), RNG.standard_normal(8), pads=(1,) * 4,
                                   groups=8), [e1])])  # fmt: skip
    y1 = g.add(Add(), [g.add(pointwise(8, 4), [d1], "project1"), y0])  # linear residual
    y2 = g.add(Add(), [y1, h0])  # and spikes joining it
    g.outputs = [g.add(Relu(), [g.add(pointwise(4, 5), [y2], "expand2")])]
    return g


def test_expansions_of_linear_values_read_spikes_and_compute_the_same():
    before = bottlenecks()
    after = compose_linear_chains(before)
    assert_same_function(before, after, (1, 3, 6, 6), rtol=1e-4)
    linear = {n.name for n in after.nodes() if n.op.name in ("conv", "add")}
    for node in after.nodes():  # every 1×1 convolution now reads a relu (or the input)
        if node.op.name == "conv":
            assert node.inputs[0] not in linear, compact(after)
    # expand2 reads project1∘, project0∘ and the relu h0 itself: three composed convolutions
    assert sum(n.name.startswith("expand2/composed") for n in after.nodes()) == 3
    assert "project0" in before and "project0" not in after  # the linear values are gone


def test_a_graph_without_linear_chains_is_returned_as_it_is():
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 3, 4, 4)))
    g.outputs = [g.add(Relu(), [g.add(pointwise(3, 2), [x])])]
    assert compose_linear_chains(g) is g


def test_a_spatial_convolution_of_a_linear_value_stays():
    """Only a 1×1 composes exactly without changing its geometry; a 3×3 of a linear value is
    left for the quantizer to name."""
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 3, 4, 4)))
    linear = g.add(pointwise(3, 2), [g.add(Relu(), [x])])
    g.outputs = [g.add(Conv(np.ones((2, 2, 3, 3)), np.zeros(2), pads=(1,) * 4), [linear])]
    assert compact(compose_linear_chains(g)) == compact(g)
