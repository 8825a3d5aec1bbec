"""substitute-neurons: ReLUs become neurons, the output a readout."""

from __future__ import annotations

import pytest
from snnc.passes.substitute_neurons import SubstituteNeurons

from snnc.errors import ConversionError
from snnc.ir import (
    Clip,
    Relu,
    Sigmoid,
    Softmax,
)
from snnc.ir.ops_snn import Readout
from tests.passes.helpers import chain, compact, conv, run_pass


def test_substitute_neurons_and_readout():
    g = chain(conv(2, 3), Relu(), conv(3, 3), Clip(0.0, 6.0))
    run_pass(g, SubstituteNeurons(model="if", v_init=0.0))
    assert compact(g) == ["conv(x)", "neuron(n0)", "conv(n1)", "neuron(n2)", "readout(n3)"]
    assert g.op("n3").ceiling == 6.0 and isinstance(g.op(g.outputs[0]), Readout)


@pytest.mark.parametrize("op,message", [(Sigmoid(), "no spiking form"), (Clip(-1.0, 1.0), "not 0")])
def test_activations_without_a_spiking_form_name_the_node(op, message):
    g = chain(conv(2, 3), op, conv(3, 3))
    with pytest.raises(ConversionError, match=f"'n1'.*{message}|{message}.*"):
        run_pass(g, SubstituteNeurons())


def test_softmax_inside_the_network_is_an_error():
    g = chain(conv(2, 3), Softmax(1), conv(3, 3))
    with pytest.raises(ConversionError, match="softmax 'n1' is inside the network"):
        run_pass(g, SubstituteNeurons())
