"""fold-bn: batch normalization folded into a neighbouring weighted op."""

from __future__ import annotations

from snnc.passes.fold_bn import FoldBatchNorm

from snnc.ir import (
    BATCH,
    AddConst,
    Gemm,
    MulConst,
    Relu,
)
from tests.passes.helpers import RNG, assert_same_function, batch_norm, chain, compact, conv, run_pass


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
