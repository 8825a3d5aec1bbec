"""fold-constants and canonicalize: constants merged and dropped, ops put in canonical form."""

from __future__ import annotations

import numpy as np
from snnc.passes.canonicalize import Canonicalize
from snnc.passes.fold_constants import FoldConstants
from snnc.runtime import execute

from snnc.ir import (
    AddConst,
    Clip,
    Identity,
    MulConst,
    Reshape,
    Softmax,
    Transpose,
)
from tests.passes.helpers import RNG, assert_same_function, chain, compact, run_pass


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
