"""The IR: every op class round-trips through dict and text; the verifier catches broken graphs."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.runtime import execute

from snnc.errors import IRError
from snnc.ir import (
    BATCH,
    LRN,
    OP_CLASSES,
    Add,
    AddConst,
    AvgPool,
    BatchNorm,
    Clip,
    Concat,
    Conv,
    GatedMaxPool,
    Gemm,
    GlobalAvgPool,
    GlobalMaxPool,
    Graph,
    Identity,
    Input,
    LeakyRelu,
    MaxPool,
    MsatNeuron,
    MulConst,
    Neuron,
    Op,
    Pad,
    Readout,
    Relu,
    Reshape,
    Sigmoid,
    Softmax,
    Tanh,
    TensorType,
    Transpose,
    parse_graph,
    print_graph,
)

RNG = np.random.default_rng(0)


def example_ops() -> list[Op]:
    """One instance of every registered op class, with non-default attributes."""
    return [
        Input(TensorType((BATCH, 3, 8, 8))),
        Conv(RNG.standard_normal((4, 3, 3, 3)), RNG.standard_normal(4), (2, 1), (1, 0, 1, 2), (1, 2), 1),
        Gemm(RNG.standard_normal((5, 6)), RNG.standard_normal(5)),
        BatchNorm(np.ones(3), np.zeros(3), RNG.standard_normal(3), np.full(3, 2.0), 1e-3),
        AvgPool((2, 2), (2, 2), (1, 1, 0, 0), True, True),
        MaxPool((3, 3), (1, 1), (1, 1, 1, 1), (2, 2), False),
        GlobalAvgPool(),
        GlobalMaxPool(),
        LRN(5, 2e-4, 0.5, 2.0),
        Identity(),
        Add(),
        AddConst(RNG.standard_normal((3, 1, 1))),
        MulConst(np.float32(0.5)),
        Relu(),
        Clip(0.0, 6.0),
        LeakyRelu(0.1),
        Sigmoid(),
        Tanh(),
        Softmax(1, True),
        Reshape((3, 64)),
        Transpose((0, 2, 3, 1)),
        Concat(2),
        Pad((0, 1, 1, 0, 2, 2), -1.0),
        Neuron("ilif", RNG.uniform(0.5, 1, (3, 1, 1)), "subtract", 0.5, 6.0, 3),
        Readout(4),
        Readout(2, "entropy", 0.75, RNG.uniform(0.5, 2, 8)),
        MsatNeuron(
            threshold=RNG.uniform(0.5, 1, (3, 1, 1)),
            alpha=0.3,
            tau_mp=0.2,
            tau_rd=0.1,
            burst=3,
            units="normalized",
            use_det=False,
            confidence=0.9,
            confidence_steps=8,
            seed=7,
        ),
        GatedMaxPool((2, 2), (2, 2)),
    ]


def test_examples_cover_every_op_class():
    assert {type(op) for op in example_ops()} == set(OP_CLASSES.values())


@pytest.mark.parametrize("op", example_ops(), ids=lambda op: op.name)
def test_op_round_trips_through_dict(op):
    clone = Op.from_dict(op.to_dict())
    assert clone == op
    for key, value in op.attributes().items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(getattr(clone, key), value)
            assert getattr(clone, key).dtype == value.dtype


def all_ops_graph() -> Graph:
    """A graph that uses every op class, so printing and parsing it covers them all."""
    g = Graph("every-op")
    x = g.add_input("x", TensorType((BATCH, 3, 8, 8)))
    bn = g.add(BatchNorm(np.ones(3), np.zeros(3), RNG.standard_normal(3), np.full(3, 2.0)), [x])
    conv = g.add(Conv(RNG.standard_normal((4, 3, 3, 3)), RNG.standard_normal(4), pads=(1, 1, 1, 1)), [bn])
    relu = g.add(Relu(), [conv])
    clip = g.add(Clip(0.0, 6.0), [relu])
    leaky = g.add(LeakyRelu(0.1), [conv])
    add = g.add(Add(), [clip, leaky, clip])
    lrn = g.add(LRN(3), [add])
    mp = g.add(MaxPool((2, 2), (2, 2)), [lrn])
    ap = g.add(AvgPool((3, 3), (2, 2), (1, 1, 1, 1), count_include_pad=True), [lrn])
    cat = g.add(Concat(1), [mp, ap])
    pad = g.add(Pad((0, 1, 1, 0, 0, 0), 0.5), [cat])
    sig = g.add(Sigmoid(), [pad])
    tanh = g.add(Tanh(), [sig])
    ac = g.add(AddConst(RNG.standard_normal((8, 1, 1))), [tanh])
    mc = g.add(MulConst(np.float32(2.0)), [ac])
    tr = g.add(Transpose((0, 2, 3, 1)), [mc])
    ident = g.add(Identity(), [tr])
    spiking = g.add(Neuron("if", np.float32(0.7), "zero", 0.0), [g.add(Transpose((0, 3, 1, 2)), [ident])])
    adaptive = g.add(MsatNeuron(threshold=np.float32(0.5), burst=2, seed=3), [spiking])
    gated = g.add(GatedMaxPool((1, 1)), [adaptive])
    gmp = g.add(GlobalMaxPool(), [gated])
    gap = g.add(GlobalAvgPool(), [mc])
    both = g.add(Add(), [gmp, gap])
    flat = g.add(Reshape((8,)), [both])
    fc = g.add(Gemm(RNG.standard_normal((5, 8)), RNG.standard_normal(5)), [flat])
    g.outputs = [g.add(Softmax(-1), [fc]), g.add(Readout(exit_metric="max-softmax", exit_threshold=0.9), [fc])]
    g.verify()
    return g


def test_graph_text_round_trip_is_exact():
    graph = all_ops_graph()
    assert {type(n.op) for n in graph.nodes()} == set(OP_CLASSES.values())
    text = print_graph(graph)
    parsed = parse_graph(text)
    assert parsed == graph
    assert print_graph(parsed) == text
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    for a, b in zip(execute(graph, x), execute(parsed, x)):
        assert np.array_equal(a, b)


def test_elided_text_is_readable_but_not_parsable():
    text = print_graph(all_ops_graph(), elide_weights=True)
    assert "<f32[4,3,3,3]>" in text and "b64" not in text
    with pytest.raises(IRError, match="elided"):
        parse_graph(text)


@pytest.mark.parametrize(
    "text,message",
    [
        ("nonsense", "must start with"),
        (
            'graph @g {\n  %x = input() {"type": "f32[N,3]"} : f32[N,3]\n  %y = relu(%z) : f32[N,3]\n  return %y\n}',
            "before it is defined",
        ),
        (
            'graph @g {\n  %x = input() {"type": "f32[N,3]"} : f32[N,3]\n  %y = relu(%x) : f32[N,4]\n  return %y\n}',
            "declared",
        ),
        (
            'graph @g {\n  %x = input() {"type": "f32[N,3]"} : f32[N,3]\n  %y = frob(%x) : f32[N,3]\n  return %y\n}',
            "unknown op",
        ),
        (
            'graph @g {\n  %x = input() {"type": "f32[N,3]"} : f32[N,3]\n  return %x\n  %x = relu(%x) : f32[N,3]\n}',
            "defined twice",
        ),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(IRError, match=message):
        parse_graph(text)


def test_verifier_catches_a_stale_type():
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 3)))
    y = g.add(Relu(), [x])
    g.outputs = [y]
    g.nx.nodes[y]["type"] = TensorType((BATCH, 4))
    with pytest.raises(IRError, match="typed"):
        g.verify()


def test_verifier_catches_a_cycle_and_missing_outputs():
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 3)))
    a = g.add(Relu(), [x])
    b = g.add(Relu(), [a])
    with pytest.raises(IRError, match="no outputs"):
        g.verify()
    g.outputs = [b]
    g.set_input(a, 0, b)
    with pytest.raises(IRError, match="cycle"):
        g.verify()


def test_shape_rules_reject_bad_inputs():
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 3, 8, 8)))
    with pytest.raises(IRError, match="channels"):
        g.add(Conv(np.ones((4, 2, 3, 3)), np.zeros(4)), [x])
    with pytest.raises(IRError, match="changes the size"):
        g.add(Reshape((5,)), [x])
    with pytest.raises(IRError, match="batch"):
        Transpose((1, 0, 2, 3))
    with pytest.raises(IRError, match="takes 1 input"):
        g.add(Relu(), [x, x])


def test_editing_keeps_the_graph_valid():
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 3)))
    a = g.add(Identity(), [x])
    b = g.add(Relu(), [a])
    g.outputs = [b]
    g.replace_uses(a, x)
    g.remove(a)
    g.verify()
    assert g.inputs_of(b) == [x]
    dead = g.add(Relu(), [x])
    assert g.remove_dead() == 1 and dead not in g


@pytest.mark.parametrize("text", ["f32[N,3,28,28]", "f32[1,10]", "i64[N]"])
def test_tensor_type_text_round_trip(text):
    assert str(TensorType.parse(text)) == text


@pytest.mark.parametrize("shape", [(BATCH, 0), (3, BATCH), (BATCH, -1), (BATCH, 2.5)])
def test_tensor_type_rejects_bad_dims(shape):
    with pytest.raises(IRError):
        TensorType(shape)
