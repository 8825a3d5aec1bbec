"""lower-pooling: max pooling in a spiking form (moved before the neuron for iLIF; gate or average for rate coding)."""

from __future__ import annotations

import pytest
from snnc.passes.lower_pooling import LowerPooling

from snnc.ir import (
    AvgPool,
    MaxPool,
    Relu,
    Reshape,
)
from snnc.ir.ops_snn import GatedMaxPool
from tests.passes.helpers import assert_same_function, chain, compact, conv, run_pass


def test_ilif_moves_max_pool_before_the_relu():
    g = chain(conv(2, 3), Relu(), MaxPool((2, 2), (2, 2)), Reshape((27,)))
    before = g.copy()
    run_pass(g, LowerPooling(neuron="ilif"))
    assert compact(g) == ["conv(x)", "max-pool(n0)", "relu(n2)", "reshape(n1)"]
    assert_same_function(before, g, (2, 2, 6, 6))


@pytest.mark.parametrize("method,kind", [("gate", GatedMaxPool), ("avg", AvgPool)])
def test_rate_coding_max_pool_methods(method, kind):
    g = chain(conv(2, 3), Relu(), MaxPool((2, 2), (2, 2)))
    if method == "avg":
        with pytest.warns(UserWarning, match="average pooling"):
            run_pass(g, LowerPooling(neuron="if", maxpool=method))
    else:
        run_pass(g, LowerPooling(neuron="if", maxpool=method))
    assert type(g.op("n2")) is kind
