"""The pass manager: IR printed after chosen passes, the verifier after every pass."""

from __future__ import annotations

import pytest
from snnc.passes import PassContext, PassManager
from snnc.passes.canonicalize import Canonicalize
from snnc.passes.substitute_neurons import SubstituteNeurons

from snnc.errors import IRError
from snnc.ir import (
    BATCH,
    Relu,
    TensorType,
)
from tests.passes.helpers import chain, conv


def test_print_ir_after_and_unknown_pass(capsys):
    import io

    g = chain(conv(2, 3), Relu())
    stream = io.StringIO()
    PassManager([Canonicalize(), SubstituteNeurons()], print_ir_after={"substitute-neurons"}, stream=stream).run(
        g, PassContext()
    )
    assert "// IR after substitute-neurons" in stream.getvalue() and "neuron(" in stream.getvalue()
    with pytest.raises(IRError, match="no pass named"):
        PassManager([Canonicalize()], print_ir_after={"nope"})


def test_the_verifier_runs_after_each_pass():
    class Breaks(Canonicalize):
        name = "breaks"

        def run(self, graph, ctx):
            graph.nx.nodes["n0"]["type"] = TensorType((BATCH, 9))

    with pytest.raises(IRError, match="after pass breaks"):
        PassManager([Breaks()], verify=True).run(chain(conv(2, 3), Relu()), PassContext())
