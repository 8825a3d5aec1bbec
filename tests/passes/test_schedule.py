"""schedule: pipeline stages, branch delays and latency."""

from __future__ import annotations

from snnc.passes.schedule import Schedule, latency_steps
from snnc.passes.substitute_neurons import SubstituteNeurons

from snnc.ir import (
    BATCH,
    Add,
    Concat,
    Graph,
    Relu,
    TensorType,
)
from tests.passes.helpers import conv, run_pass


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
