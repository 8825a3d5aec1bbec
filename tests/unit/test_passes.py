"""Each conversion pass: the IR it leaves (printed compactly, before → after) and, where the
pass must not change what the ANN computes, equal outputs on the reference executor."""

from __future__ import annotations

import numpy as np
import pytest
from snnc.passes import PassContext, PassManager
from snnc.passes.balance_thresholds import BalanceThresholds, model_based_thresholds
from snnc.passes.canonicalize import Canonicalize
from snnc.passes.fold_bn import FoldBatchNorm
from snnc.passes.fold_constants import FoldConstants
from snnc.passes.lower_pooling import LowerPooling
from snnc.passes.schedule import Schedule, latency_steps
from snnc.passes.substitute_neurons import SubstituteNeurons
from snnc.runtime import execute

from snnc.errors import ConversionError, IRError
from snnc.ir import (
    BATCH,
    Add,
    AddConst,
    AvgPool,
    BatchNorm,
    Clip,
    Concat,
    Conv,
    Gemm,
    Graph,
    Identity,
    Input,
    MaxPool,
    MulConst,
    Relu,
    Reshape,
    Sigmoid,
    Softmax,
    TensorType,
    Transpose,
)  # fmt: skip
from snnc.ir.ops_snn import GatedMaxPool, Readout

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


# -- fold-bn ------------------------------------------------------------------------------------
def test_fold_bn_into_the_producing_conv():
    g = chain(conv(2, 3), batch_norm(3), Relu())
    before = g.copy()
    run_pass(g, FoldBatchNorm())
    assert compact(before) == ["conv(x)", "batch-norm(n0)", "relu(n1)"]
    assert compact(g) == ["conv(x)", "relu(n0)"]
    assert_same_function(before, g, (2, 2, 6, 6))


def test_fold_bn_into_the_producing_gemm():
    g = chain(Gemm(RNG.standard_normal((4, 5)), RNG.standard_normal(4)), batch_norm(4), shape=(BATCH, 5))
    before = g.copy()
    run_pass(g, FoldBatchNorm())
    assert compact(g) == ["gemm(x)"]
    assert_same_function(before, g, (2, 5))


def test_fold_bn_decomposed_as_mul_and_add():
    g = chain(conv(2, 3), MulConst(RNG.standard_normal((3, 1, 1))), AddConst(RNG.standard_normal((3, 1, 1))), Relu())
    before = g.copy()
    run_pass(g, FoldBatchNorm())
    assert compact(g) == ["conv(x)", "relu(n0)"]
    assert_same_function(before, g, (2, 2, 6, 6))


def test_fold_bn_into_a_following_unpadded_conv_only():
    g = chain(batch_norm(2), conv(2, 3, pads=0))
    before = g.copy()
    run_pass(g, FoldBatchNorm())
    assert compact(g) == ["conv(x)"]
    assert_same_function(before, g, (2, 2, 6, 6))
    padded = chain(batch_norm(2), conv(2, 3, pads=1))
    run_pass(padded, FoldBatchNorm())
    assert compact(padded) == ["batch-norm(x)", "conv(n0)"]  # padding zeros would not be normalized


def test_fold_bn_leaves_a_spatially_varying_constant():
    g = chain(conv(2, 3), AddConst(RNG.standard_normal((3, 6, 6))))
    run_pass(g, FoldBatchNorm())
    assert compact(g) == ["conv(x)", "add-const(n0)"]


# -- fold-constants and canonicalize --------------------------------------------------------------
def test_fold_constants_merges_and_drops():
    g = chain(
        AddConst(np.float32(1.0)), AddConst(np.float32(2.0)), MulConst(np.float32(1.0)), MulConst(np.float32(3.0))
    )
    before = g.copy()
    run_pass(g, FoldConstants())
    assert compact(g) == ["add-const(x)", "mul-const(n1)"]
    assert float(g.op("n1").value) == 3.0 and float(g.op("n3").value) == 3.0
    assert_same_function(before, g, (2, 2, 6, 6))


def test_canonicalize():
    g = chain(Identity(), Transpose((0, 2, 3, 1)), Transpose((0, 3, 1, 2)), Reshape((72,)), Reshape((8, 9)),
              Clip(0.0, None), Softmax(-1))  # fmt: skip
    before = g.copy()
    ctx = run_pass(g, Canonicalize())
    assert compact(g) == ["reshape(x)", "relu(n4)"]
    assert "removed output softmax" in ctx.notes["canonicalize"][0]
    x = RNG.standard_normal((3, 2, 6, 6)).astype(np.float32)
    assert np.array_equal(execute(before, x)[0].argmax(-1), execute(g, x)[0].argmax(-1))


# -- lower-pooling ----------------------------------------------------------------------------------
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


# -- substitute-neurons ------------------------------------------------------------------------------
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


# -- balance-thresholds --------------------------------------------------------------------------------
def neurons_graph():
    g = chain(conv(2, 3), Relu(), conv(3, 4), Relu())
    run_pass(g, SubstituteNeurons(model="if"))
    return g


def test_data_based_thresholds_are_the_activation_maxima():
    g = neurons_graph()
    x = RNG.uniform(0, 1, (64, 2, 6, 6)).astype(np.float32)
    values = execute(g, x, keep=True)
    run_pass(g, BalanceThresholds(percentile=100.0), calibration=x)
    assert float(g.op("n1").threshold) == pytest.approx(values["n1"].max())
    assert float(g.op("n3").threshold) == pytest.approx(values["n3"].max())


def test_per_channel_percentile_thresholds():
    g = neurons_graph()
    x = RNG.uniform(0, 1, (64, 2, 6, 6)).astype(np.float32)
    values = execute(g, x, keep=True)["n3"]
    run_pass(g, BalanceThresholds(percentile=99.0, per_channel=True), calibration=x)
    theta = g.op("n3").threshold
    assert theta.shape == (4, 1, 1)
    for c in range(4):
        positive = values[:, c][values[:, c] > 0]
        assert theta[c, 0, 0] == pytest.approx(np.percentile(positive, 99.0), rel=1e-3)


def test_model_based_thresholds_bound_the_activations():
    g = neurons_graph()
    with pytest.warns(UserWarning, match="no calibration data"):
        run_pass(g, BalanceThresholds())
    x = RNG.uniform(-1, 1, (64, 2, 6, 6)).astype(np.float32)
    values = execute(g, x, keep=True)
    bounds = model_based_thresholds(g)
    for name in ("n1", "n3"):
        assert values[name].max() <= bounds[name]


# -- schedule -----------------------------------------------------------------------------------
def residual_graph():
    g = Graph()
    x = g.add_input("x", TensorType((BATCH, 2, 5, 5)))
    a = g.add(Relu(), [g.add(conv(2, 2), [x])], "a")
    b = g.add(Relu(), [g.add(conv(2, 2), [a])], "b")
    c = g.add(Relu(), [g.add(Add(), [g.add(conv(2, 2), [b]), a], "sum")], "c")
    g.outputs = [g.add(Concat(1), [c, a], "cat")]
    run_pass(g, SubstituteNeurons(model="ilif"))
    return g


def test_schedule_stages_and_branch_delays():
    g = residual_graph()
    ctx = run_pass(g, Schedule(), timesteps=4)
    assert [g.op(n).depth for n in ("a", "b", "c")] == [1, 2, 3]
    assert g.op(g.outputs[0]).depth == 4
    notes = "\n".join(ctx.notes["schedule"])
    assert "'sum': input 'a' delayed 1 stage(s)" in notes and "'cat': input 'a' delayed 2 stage(s)" in notes
    assert latency_steps(g, "ilif", 4, pipelined=True) == (3 + 1) * 4
    assert latency_steps(g, "ilif", 4, pipelined=False) == 2 * 3 * 4
    assert latency_steps(g, "if", 4) == 4


# -- the pass manager -------------------------------------------------------------------------------
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
