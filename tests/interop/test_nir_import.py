"""NIR in: a NIR graph of IF neurons imports into an SNN graph that snnc's engines run as NIR says
(checked against the independent interpreter tests/interop/nir_oracle.py), compiles for the cpu
and accel targets, and what has no snnc equivalent, or a file that reaches beyond itself, is
refused by name."""

from __future__ import annotations

import h5py
import nir
import numpy as np
import pytest
from snnc.runtime.snn import simulate
from snnc.targets.nir.export import write_nir
from snnc.targets.nir.flavors import nir_conversion

import snnc
from snnc.errors import FileError, InvalidModelError, UnsupportedError
from snnc.frontend.nir_import import import_nir, is_nir
from tests.interop import nir_oracle
from tests.targets.accel.conftest import FAMILIES, family_graph

T = 16
RNG = np.random.default_rng(7)


def small_nir(reset: str | None = None, lif_tau: float | None = None, threshold=1.0) -> nir.NIRGraph:
    """Conv → IF → SumPool → Flatten → Affine → IF → Affine, as Sinabs' or snnTorch's exports write it."""
    conv_w = RNG.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.6
    dense_w = RNG.standard_normal((6, 4 * 3 * 3)).astype(np.float32) * 0.4
    out_w = RNG.standard_normal((3, 6)).astype(np.float32)

    def neuron(shape):
        if lif_tau is not None:
            tau = np.full(shape, lif_tau)
            return nir.LIF(tau=tau, r=tau, v_leak=np.zeros(shape), v_threshold=np.full(shape, threshold))
        return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, threshold, np.float32))

    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "conv": nir.Conv2d(
            input_shape=np.array([6, 6]),
            weight=conv_w,
            stride=np.array([1, 1]),
            padding=np.array([1, 1]),
            dilation=np.array([1, 1]),
            groups=1,
            bias=np.full(4, 0.1, np.float32),
        ),  # fmt: skip
        "if1": neuron((4, 6, 6)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 3, 3])}, start_dim=0),
        "dense": nir.Affine(weight=dense_w, bias=np.full(6, 0.05, np.float32)),
        "if2": neuron((6,)),
        "out": nir.Affine(weight=out_w, bias=np.zeros(3, np.float32)),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    chain = list(nodes)
    metadata = {"reset": reset} if reset else {}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain, chain[1:])), metadata=metadata)


def inputs(count=32) -> np.ndarray:
    return RNG.uniform(0, 1, (count, 2, 6, 6)).astype(np.float32)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_an_imported_graph_runs_as_nir_says(reset):
    graph = small_nir(reset)
    x = inputs()
    expected, spikes = nir_oracle.run(graph, x.astype(np.float64), T)
    imported = import_nir(graph)
    assert [n.op.reset for n in imported.nodes() if n.op.name == "neuron"] == [reset, reset]
    result = simulate(imported, x, T, dtype=np.float64)
    np.testing.assert_allclose(result.logits, expected, rtol=1e-5, atol=1e-6)
    assert sorted(result.spikes.values()) == sorted(spikes.values())


def test_without_a_reset_in_the_file_it_is_nirs_reset_to_v_reset():
    imported = import_nir(small_nir())
    assert {n.op.reset for n in imported.nodes() if n.op.name == "neuron"} == {"zero"}
    assert {n.op.reset for n in import_nir(small_nir(), reset="subtract").nodes() if n.op.name == "neuron"} == {
        "subtract"
    }


def test_a_lif_whose_leak_vanishes_in_float32_is_if_and_a_leaky_one_is_refused():
    graph = small_nir("subtract", lif_tau=1e12)
    x = inputs()
    expected, _ = nir_oracle.run(graph, x.astype(np.float64), T)
    result = simulate(import_nir(graph), x, T, dtype=np.float64)
    np.testing.assert_allclose(result.logits, expected, atol=1e-6)
    with pytest.raises(UnsupportedError, match="'if1'.*LIF with a leak"):
        import_nir(small_nir(lif_tau=20.0))


def test_an_imported_graph_compiles_for_cpu_and_accel(tmp_path):
    path = tmp_path / "small.nir"
    write_nir(path, small_nir("subtract", threshold=0.8))
    assert is_nir(path)
    x = inputs(48)
    cpu = snnc.compile(path, timesteps=T)
    native, reference = cpu.run(x), cpu.run(x, engine="reference")
    assert (native.logits.argmax(1) == reference.logits.argmax(1)).mean() >= 0.95
    assert abs(sum(native.spikes.values()) / sum(reference.spikes.values()) - 1) < 0.01
    accel = snnc.compile(path, target="accel", timesteps=T, calibration=x)
    chip, fixed = accel.run(x), accel.run(x, engine="fixed")
    np.testing.assert_array_equal(chip.logits, fixed.logits)
    assert chip.hardware.summary()["energy_uj"] > 0


def test_the_round_trip_through_snnc_export_is_the_same_network(family_data, tmp_path):
    program = snnc.compile(family_graph(FAMILIES["shortcut_conv"]), calibration=family_data, timesteps=T,
                           **nir_conversion("nir"))  # fmt: skip
    write_nir(tmp_path / "net.nir", program.to_nir("nir"))
    back = import_nir(tmp_path / "net.nir")
    before = simulate(program.graph, family_data, T, dtype=np.float64)
    after = simulate(back, family_data, T, dtype=np.float64)
    np.testing.assert_allclose(after.logits, before.logits, atol=1e-3 * np.abs(before.logits).max())
    assert sorted(after.spikes.values()) == sorted(before.spikes.values())


def test_nodes_without_an_snnc_equivalent_are_named():
    graph = small_nir()
    graph.nodes["if2"] = nir.CubaLIF(tau_syn=np.ones(6), tau_mem=np.ones(6), r=np.ones(6), v_leak=np.zeros(6),
                                     v_threshold=np.ones(6))  # fmt: skip
    with pytest.raises(UnsupportedError, match="'if2' \\(CubaLIF\\): a synaptic current"):
        import_nir(graph)
    varying = small_nir()
    varying.nodes["if1"].v_threshold[0, 0, 0] = 2.0
    with pytest.raises(UnsupportedError, match="varies within a channel"):
        import_nir(varying)
    recurrent = small_nir()
    recurrent.edges.append(("if2", "dense"))
    with pytest.raises(UnsupportedError, match="recurrent"):
        import_nir(recurrent)


def test_a_file_that_reaches_other_files_or_declares_too_much_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "net.nir"
    write_nir(path, small_nir())
    linked = tmp_path / "linked.nir"
    write_nir(linked, small_nir())
    with h5py.File(linked, "a") as file:
        file["node/extra"] = h5py.ExternalLink("/etc/passwd", "/")
    with pytest.raises(FileError, match="is a link"):
        import_nir(linked)
    external = tmp_path / "external.nir"
    write_nir(external, small_nir())
    with h5py.File(external, "a") as file:
        file.create_dataset("node/raw", shape=(4,), dtype="f4", external=[(str(tmp_path / "raw.bin"), 0, 16)])
    with pytest.raises(FileError, match="keeps its data in other files"):
        import_nir(external)
    monkeypatch.setenv("SNNC_MAX_DATA_BYTES", "1000")
    with pytest.raises(FileError, match="declare more than"):
        import_nir(path)
    monkeypatch.delenv("SNNC_MAX_DATA_BYTES")
    broken = tmp_path / "broken.nir"
    with h5py.File(broken, "w") as file:
        file["version"] = "1.0"
        file["node/type"] = "NIRGraph"
    with pytest.raises(InvalidModelError, match="not a valid NIR graph"):
        import_nir(broken)
