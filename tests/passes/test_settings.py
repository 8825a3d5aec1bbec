"""Conversion settings are declared once, on the passes' options; the CLI, the stored Settings
and compile() are derived from them, and `--passes` takes pass specs with options."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from snnc.passes.base import PASSES
from snnc.passes.pipeline import conversion_pipeline
from snnc.passes.settings import MODEL_DEFAULT, format_spec, parse_pass_specs, resolve, settings

import snnc
from snnc.cli_options import build_parser
from snnc.errors import UsageError
from snnc.ir import Conv, Relu
from snnc.program import Settings
from tests.passes.helpers import chain

# what artifacts have stored since the first version: loading them must keep working
STORED_KEYS = {"target", "neuron", "timesteps", "percentile", "per_channel", "reset", "v_init", "maxpool", "pipelined",
               "calibrated", "passes", "msat", "spike_confidence", "adaptive", "input_scale", "chip"}  # fmt: skip


def test_every_setting_is_a_field_of_a_registered_pass():
    for item in settings().values():
        for pass_name, field in item.fields:
            assert field in {f.name for f in dataclasses.fields(PASSES[pass_name].Options)}
    assert settings()["neuron"].fields == (("lower-pooling", "neuron"), ("substitute-neurons", "model"))


def test_the_command_line_offers_each_setting_once():
    compile_parser = build_parser()._subparsers._group_actions[0].choices["compile"]
    destinations = [action.dest for action in compile_parser._actions]
    for name in settings():
        assert destinations.count(name) == 1, name


ADDED_KEYS = {"thresholds", "bias_correction", "weight_correction"}  # stored since issue 26; older artifacts lack them


def test_stored_settings_keep_their_keys():
    stored = Settings(conversion={"neuron": "if"}).to_dict()
    assert set(stored) == STORED_KEYS | ADDED_KEYS
    assert Settings.from_dict(stored) == Settings(conversion={"neuron": "if"})
    older = {key: value for key, value in stored.items() if key not in ADDED_KEYS}
    assert Settings.from_dict(older) == Settings(conversion={"neuron": "if"})  # the models' defaults fill them


def test_unset_settings_take_the_model_defaults():
    ilif, if_, msat = (resolve({"neuron": name}) for name in ("ilif", "if", "msat"))
    assert ilif["thresholds"] == "percentile" and if_["thresholds"] == msat["thresholds"] == "error"
    assert if_["bias_correction"] is msat["bias_correction"] is True and ilif["bias_correction"] is False
    assert resolve({"neuron": "msat"})["v_init"] == 0.3
    assert settings()["percentile"].default is MODEL_DEFAULT


@pytest.mark.parametrize("call", [
    lambda: resolve({"percentile": "high"}),
    lambda: resolve({"bogus": 1}),
    lambda: resolve({"neuron": "lif"}),
    lambda: resolve({"thresholds": "mean"}),
    lambda: resolve({"bias_correction": "yes"}),
    lambda: parse_pass_specs("correct-bias{rounds=many}"),
    lambda: conversion_pipeline("if", pipelined="yes"),
    lambda: parse_pass_specs("fold-bn{depth=2}"),
    lambda: parse_pass_specs("balance-thresholds{percentile=much}"),
    lambda: parse_pass_specs("nope"),
    lambda: parse_pass_specs("schedule{pipelined=true"),
])  # fmt: skip
def test_bad_settings_and_specs_are_usage_errors(call):
    with pytest.raises(UsageError):
        call()


def test_pass_specs_parse_and_print_back():
    specs = parse_pass_specs("fold-constants, balance-thresholds{percentile=99.5,per_channel=true},schedule")
    assert specs == [("fold-constants", {}), ("balance-thresholds", {"percentile": 99.5, "per_channel": True}),
                     ("schedule", {})]  # fmt: skip
    assert parse_pass_specs(",".join(format_spec(s) for s in specs)) == specs


def small_network():
    """conv → relu → conv → relu, with weights of its own (the shared test RNGs stay untouched)."""
    rng = np.random.default_rng(11)
    ops = [Conv(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), pads=(1,) * 4), Relu(),
           Conv(rng.standard_normal((3, 3, 3, 3)), rng.standard_normal(3), pads=(1,) * 4), Relu()]  # fmt: skip
    return chain(*ops)


def test_a_spec_overrides_the_setting_for_its_pass():
    x = np.random.default_rng(0).uniform(0, 1, (32, 2, 6, 6)).astype(np.float32)
    passes = (
        "fold-constants,canonicalize,fold-bn,lower-pooling,substitute-neurons,"
        "balance-thresholds{percentile=100.0},schedule"
    )
    common = dict(neuron="if", calibration=x, percentile=50.0, thresholds="percentile", per_channel=False)
    maxima = snnc.compile(small_network(), passes=passes, **common)
    median = snnc.compile(small_network(), **common)
    theta = lambda p: [float(n.op.threshold) for n in p.graph.nodes() if n.op.name == "neuron"]  # noqa: E731
    assert all(a > b for a, b in zip(theta(maxima), theta(median)))
    assert maxima.settings.passes[5] == "balance-thresholds{percentile=100.0}" and maxima.settings.percentile == 50.0
