"""-t nir: the exported graph computes what snnc's reference simulation computes (checked by an
independent NIR interpreter, tests/interop/nir_oracle.py), in every importer's form; what NIR
cannot say is refused by name."""

from __future__ import annotations

import nir
import numpy as np
import pytest
from snnc.runtime.snn import simulate
from snnc.targets.nir.export import export, nir_bytes, write_nir
from snnc.targets.nir.flavors import FLAVORS, nir_conversion

import snnc
from snnc.errors import UnsupportedError, UsageError
from tests.interop import nir_oracle
from tests.targets.accel.conftest import FAMILIES, family_graph

T = 16
EXPORTABLE = ["plain", "strided", "avg_pool", "max_pool", "grouped", "depthwise", "relu6", "linear_bottleneck",
              "residual", "shortcut_conv", "global_pool"]  # fmt: skip
RESIDUAL = {"residual", "shortcut_conv", "linear_bottleneck"}


def compiled(family: str, flavor: str, data, **overrides):
    conversion = {**nir_conversion(flavor), **overrides}
    with pytest.warns(UserWarning) if family == "max_pool" else _nothing():
        return snnc.compile(family_graph(FAMILIES[family]), calibration=data, timesteps=T, **conversion)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def neuron_spikes(result) -> list[int]:
    return [count for _, count in sorted(result.spikes.items())]


@pytest.mark.parametrize("flavor", list(FLAVORS))
@pytest.mark.parametrize("family", EXPORTABLE)
def test_the_export_computes_what_the_reference_simulates(family, flavor, family_data, tmp_path):
    program = compiled(family, flavor, family_data)
    if family in RESIDUAL and not FLAVORS[flavor].fan_in:
        with pytest.raises(UnsupportedError, match="residual addition a step late"):
            program.to_nir(flavor)
        return
    write_nir(tmp_path / "net.nir", program.to_nir(flavor))
    graph = nir.read(tmp_path / "net.nir")  # through the file, as an importer reads it
    x = family_data.astype(np.float64)
    logits, spikes = nir_oracle.run(graph, x, T)
    reference = simulate(program.graph, x, T, dtype=np.float64)
    scale = np.abs(reference.logits).max()
    np.testing.assert_allclose(logits.reshape(reference.logits.shape), reference.logits, atol=1e-3 * scale)
    neurons = [n.name for n in program.graph.nodes() if n.op.name == "neuron"]
    exported = [spikes[name] for name in graph.nodes if isinstance(graph.nodes[name], (nir.IF, nir.LIF))]
    assert sorted(exported) == sorted(reference.spikes[name] for name in neurons)


def test_folded_thresholds_are_one_and_per_neuron_ones_are_the_networks(family_data):
    program = compiled("plain", "nir", family_data)
    thresholds = [n.op.threshold.reshape(-1) for n in program.graph.nodes() if n.op.name == "neuron"]
    per_neuron = [node for node in program.to_nir("nir").nodes.values() if isinstance(node, nir.IF)]
    for theta, node in zip(thresholds, per_neuron):
        np.testing.assert_allclose(node.v_threshold[:, 0, 0], theta, rtol=1e-6)
    folded = compiled("plain", "sinabs", family_data).to_nir("sinabs")
    assert all(np.all(node.v_threshold == 1) for node in folded.nodes.values() if isinstance(node, nir.IF))


def test_each_flavor_takes_the_forms_its_importer_reads(family_data):
    sinabs = compiled("avg_pool", "sinabs", family_data).to_nir("sinabs")
    assert any(isinstance(node, nir.SumPool2d) for node in sinabs.nodes.values())
    snntorch = compiled("avg_pool", "snntorch", family_data).to_nir("snntorch")
    kinds = {type(node).__name__ for node in snntorch.nodes.values()}
    assert "LIF" in kinds and "AvgPool2d" in kinds and "Flatten" not in kinds and "Affine" not in kinds
    jelly = compiled("plain", "spikingjelly", family_data).to_nir("spikingjelly")
    assert all(np.all(node.r == 1e4) for node in jelly.nodes.values() if isinstance(node, nir.IF))
    assert jelly.metadata["dt"] == 1e-4 and jelly.metadata["reset"] == "zero"


def test_metadata_says_how_to_run_it(family_data):
    graph = compiled("plain", "nir", family_data).to_nir("nir")
    meta = graph.metadata
    assert meta["timesteps"] == T and meta["reset"] == "subtract" and meta["v_init"] == 0.0
    assert "every step" in meta["input_encoding"] and "divided by timesteps" in meta["readout"]
    assert nir_bytes(graph)[:8] == b"\x89HDF\r\n\x1a\n"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"neuron": "ilif"}, "no ilif neuron"),
        ({"neuron": "msat"}, "no MSAT neuron"),
        ({"v_init": 0.5}, "no initial membrane"),
        ({"maxpool": "gate"}, "no max pooling of spike trains"),
    ],
)
def test_what_nir_cannot_say_is_refused_by_name(overrides, message, family_data):
    family = "max_pool" if "maxpool" in overrides else "plain"
    program = snnc.compile(family_graph(FAMILIES[family]), calibration=family_data, timesteps=T,
                           **{**nir_conversion("nir"), **overrides})  # fmt: skip
    with pytest.raises(UnsupportedError, match=message):
        program.to_nir("nir")


def test_padded_pooling_and_a_wrong_reset_are_refused(family_data):
    with pytest.warns(UserWarning):
        padded = snnc.compile(family_graph(FAMILIES["padded_max_pool"]), calibration=family_data, timesteps=T,
                              **nir_conversion("nir"))  # fmt: skip
    with pytest.raises(UnsupportedError, match="padded"):
        padded.to_nir("nir")
    subtracting = compiled("plain", "nir", family_data)
    with pytest.raises(UnsupportedError, match="resets to zero"):
        subtracting.to_nir("snntorch")
    with pytest.raises(UsageError, match="flavor must be one of"):
        export(subtracting.graph, T, "lava")
