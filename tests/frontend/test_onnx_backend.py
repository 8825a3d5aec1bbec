"""The ONNX backend test cases shipped in the onnx package, for every op snnc supports.

A case runs when all of its ops have converters. It must either match ONNX's expected output,
or be listed in EXPECTED_ERRORS, in which case it must fail with a clear SnncError (never a
crash, never a wrong answer). EXCLUDED lists the few cases that cannot be judged at all.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import snnc
from snnc.frontend import supported_ops
from tests.onnx_cases import bind_constants, model_dir_cases, node_cases

BATCH_MIXING = "treats dim 0 as data rather than a batch of independent samples; snnc keeps samples apart"
INTEGERS = "integer tensors: snnc compiles float networks"
EXPECTED_ERRORS = {
    r"_u?int(8|16|32|64)(_|$)|^test_(edge|reflect|wrap)_pad$|non_float_params": INTEGERS,
    r"^test_(averagepool|maxpool)_3d_|(AvgPool|MaxPool|Conv)3d": "3-D convolution and pooling (1-D and 2-D work)",
    r"^test_averagepool_2d_dilations$": "dilated average pooling",
    r"training_mode$|^test_training_dropout": "training-mode BatchNormalization and Dropout (random)",
    r"^test_dropout_default_mask|^test_maxpool_with_argmax": "secondary outputs (dropout mask, pooling indices)",
    r"^test_constant$|^test_shape|^test_size": "the output does not depend on the input",
    r"^test_identity_(sequence|opt)$": "sequence and optional types",
    r"ReflectionPad2d|ReplicationPad2d|test_operator_pad$": "reflect and edge padding",
    r"^test_reshape_allowzero_reordered$": "allowzero reshapes to empty tensors",
    r"test_operator_addmm$": "Gemm whose C is computed, not a constant",
    r"^test_(concat_\dd_axis_0|concat_1d_axis_negative_1|concat_2d_axis_negative_2|concat_3d_axis_negative_3)$"
    r"|^test_(log)?softmax_axis_0$|^test_flatten_(axis[023]|negative_axis[124])$"
    r"|^test_transpose_(default|all_permutations_[2-5])$|^test_unsqueeze_axis_0$|^test_squeeze$"
    r"|^test_reshape_(reordered_all_dims|one_dim|negative_extended_dims)$|^test_reduce_mean_default_axes_keepdims"
    r"|^test_gemm_(transposeA|all_attributes|default_matrix_bias)$|^test_matmul_(3d|4d|bcast|1d_3d|1d_1d)$"
    r"|^test_(mul|div)(_example)?$": BATCH_MIXING,
}
EXCLUDED = {
    "pytorch-operator/test_operator_add_broadcast": "its data are uninitialized doubles beyond float32's range",
    "pytorch-operator/test_operator_add_size1_right_broadcast": "uninitialized doubles beyond float32's range",
    "pytorch-operator/test_operator_add_size1_singleton_broadcast": "uninitialized doubles beyond float32's range",
    "pytorch-operator/test_operator_addconstant": "uninitialized doubles beyond float32's range",
}


def _supported_cases():
    known = set(supported_ops()) | {"Constant"}
    cases = node_cases() + model_dir_cases()
    return [c for c in cases if {n.op_type for n in c.model.graph.node} <= known and c.name not in EXCLUDED]


CASES = _supported_cases()


def expected_error(name: str) -> str | None:
    for pattern, reason in EXPECTED_ERRORS.items():
        if re.search(pattern, name):
            return reason
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_backend_case(case):
    model, inputs = bind_constants(case)
    reason = expected_error(case.name)
    if reason is not None:
        with pytest.raises(snnc.SnncError) as error:
            snnc.execute(snnc.import_onnx(model), inputs)
        assert error.value.exit_code in (4, 5), f"expected an unsupported/invalid error ({reason})"
        return
    outputs = snnc.execute(snnc.import_onnx(model), inputs)
    assert len(outputs) == len(case.outputs)
    for ours, expected in zip(outputs, case.outputs):
        assert ours.shape == expected.shape
        rtol, atol = max(case.rtol, 1e-4), max(case.atol, 1e-5)
        np.testing.assert_allclose(ours, expected.astype(np.float32), rtol=rtol, atol=atol)


def test_the_suite_covers_every_supported_op():
    """Every converter meets at least one shipped case (folding-only ops excepted)."""
    seen = {n.op_type for c in CASES for n in c.model.graph.node}
    folded_only = {"Shape", "Size"}  # their node tests output constants, listed in EXPECTED_ERRORS
    assert set(supported_ops()) - seen - folded_only == set()


def test_the_lists_name_real_cases():
    names = {c.name for c in node_cases() + model_dir_cases()}
    assert set(EXCLUDED) <= names
    for pattern in EXPECTED_ERRORS:
        assert any(re.search(pattern, c.name) for c in CASES), pattern
