"""The conversion pipeline: ANN graph → SNN graph, as a flat list of named passes."""

from __future__ import annotations

from snnc.passes import (  # noqa: F401  (each registers its pass)
    balance_thresholds,
    canonicalize,
    correct_bias,
    fold_bn,
    fold_constants,
    lower_pooling,
    schedule,
    spike_confidence,
    substitute_neurons,
)
from snnc.passes.base import PASSES, Pass
from snnc.passes.settings import check_value, settings

from snnc.errors import UsageError

DEFAULT_PASSES = (
    "fold-constants",
    "canonicalize",
    "fold-bn",
    "lower-pooling",
    "substitute-neurons",
    "balance-thresholds",
    "correct-bias",
    "spike-confidence",
    "schedule",
)


def conversion_pipeline(neuron: str = "ilif", passes=None, **values) -> list[Pass]:
    """The conversion passes, each configured from the conversion settings (passes/settings.py):
    `neuron` and `values` by setting name; a setting left out (or None) keeps the pass option's
    own default. `passes`: pass names or (name, overrides) specs (default: DEFAULT_PASSES)."""
    table = settings()
    unknown = sorted(set(values) - set(table))
    if unknown:
        raise UsageError(f"unknown setting(s) {unknown}; known: {', '.join(table)}")
    values = {**values, "neuron": neuron}
    for name, value in values.items():
        check_value(table[name], value)
    specs = [(spec, {}) if isinstance(spec, str) else spec for spec in (passes or DEFAULT_PASSES)]
    pipeline = []
    for name, overrides in specs:
        if name not in PASSES:
            raise UsageError(f"unknown pass(es) {[name]}; known: {', '.join(PASSES)}")
        options = {field: values[item.name] for item in table.values() for pass_name, field in item.fields
                   if pass_name == name and values.get(item.name) is not None}  # fmt: skip
        pipeline.append(PASSES[name](**{**options, **overrides}))
    return pipeline
