"""The NIR export run by the other libraries' own importers, and networks from those libraries
brought in: optional, they need torch and the importers (CI installs them: .ci/run).

- snnTorch and SpikingJelly run what snnc's reference simulation runs: the same spikes in every
  layer, exactly, on small networks; the same predictions on the fixtures.
- Sinabs runs several spikes per step where v ≥ 2θ and floors its membrane at −θ, which NIR's
  IF does not say: its predictions agree on the VGG fixture, not its spikes.
- A network built and exported by Sinabs itself compiles for -t cpu and -t accel, and snnc
  simulates it as Sinabs does.
- A torch module compiles through snnc.compile(module, example_input=…).
"""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
from snnc.runtime.snn import simulate
from snnc.targets.nir.export import write_nir
from snnc.targets.nir.flavors import nir_conversion

import snnc
from tests.targets.accel.conftest import FAMILIES, family_graph

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.extras

T = 16
FIXTURE_T = 32


def importer_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def need(name: str):
    return pytest.mark.skipif(not importer_available(name), reason=f"{name} is not installed")


def exported(program, flavor, tmp_path) -> nir.NIRGraph:
    write_nir(tmp_path / f"{flavor}.nir", program.to_nir(flavor))
    return nir.read(tmp_path / f"{flavor}.nir")


@pytest.mark.parametrize("family", ["plain", "avg_pool", "shortcut_conv", "depthwise", "global_pool"])
@pytest.mark.parametrize("importer", [pytest.param("snntorch", marks=need("snntorch")),
                                      pytest.param("spikingjelly", marks=need("spikingjelly"))])  # fmt: skip
def test_importers_spike_as_snncs_reference(importer, family, family_data, tmp_path):
    from tests.interop import importers

    program = snnc.compile(family_graph(FAMILIES[family]), calibration=family_data, timesteps=T,
                           **nir_conversion(importer))  # fmt: skip
    graph = exported(program, importer, tmp_path)
    x = family_data.astype(np.float64)
    logits, spikes = importers.run(importer, graph, x, T, double=True)
    reference = simulate(program.graph, x, T, dtype=np.float64)
    assert sorted(spikes.values()) == sorted(reference.spikes.values())
    np.testing.assert_allclose(logits, reference.logits, atol=1e-4 * np.abs(reference.logits).max())


FIXTURE_CASES = [
    pytest.param("fmnist_vgg", "snntorch", marks=need("snntorch")),
    pytest.param("fmnist_vgg", "spikingjelly", marks=need("spikingjelly")),
    pytest.param("fmnist_vgg", "sinabs", marks=need("sinabs")),
    pytest.param("fmnist_resnet", "snntorch", marks=need("snntorch")),
    pytest.param("fmnist_resnet", "spikingjelly", marks=need("spikingjelly")),
]


@pytest.mark.slow
@pytest.mark.parametrize(("fixture", "importer"), FIXTURE_CASES)
def test_the_fixtures_predict_alike_in_each_importer(fixture, importer, tmp_path):
    from snnc.data import load_arrays
    from tests.interop import importers

    calibration, _ = load_arrays("examples/fmnist_calib.npz", "calibration", 128)
    x, _ = load_arrays("examples/fmnist_test.npz", "test", 256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the VGG's max pools become average pools, with a warning
        program = snnc.compile(f"examples/{fixture}.onnx", calibration=calibration, timesteps=FIXTURE_T,
                               **nir_conversion(importer))  # fmt: skip
    logits, _ = importers.run(importer, exported(program, importer, tmp_path), x, FIXTURE_T)
    reference = program.run(x, engine="reference")
    agreement = (logits.argmax(1) == reference.logits.argmax(1)).mean()
    assert agreement >= (0.99 if importer != "sinabs" else 0.9), agreement


@need("sinabs")
def test_a_network_sinabs_exported_compiles_for_cpu_and_accel():
    import sinabs.layers as sl
    from sinabs.activation import SingleSpike

    from tests.interop import importers

    torch.manual_seed(0)
    batch = 16
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), sl.IAFSqueeze(batch_size=batch, spike_fn=SingleSpike),
        sl.SumPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 12),
        sl.IAFSqueeze(batch_size=batch, spike_fn=SingleSpike), torch.nn.Linear(12, 3),
    )  # fmt: skip
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    x = np.random.default_rng(2).uniform(0, 1, (batch, 1, 8, 8)).astype(np.float32)
    graph, theirs = importers.sinabs_export_and_run(net, x, T)
    shapes = {"input": (batch, 1, 8, 8)}
    cpu = snnc.compile(graph, timesteps=T, reset="subtract", input_shapes=shapes)  # Sinabs' IAF subtracts
    ours = cpu.run(x, engine="reference")
    np.testing.assert_allclose(ours.logits, theirs, rtol=1e-4, atol=1e-4)
    native = cpu.run(x)
    assert (native.logits.argmax(1) == ours.logits.argmax(1)).mean() >= 0.9
    accel = snnc.compile(graph, target="accel", timesteps=T, reset="subtract", calibration=x, input_shapes=shapes)
    np.testing.assert_array_equal(accel.run(x).logits, accel.run(x, engine="fixed").logits)


def test_a_torch_module_compiles_and_its_ann_is_the_modules():
    torch.manual_seed(1)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(6 * 4 * 4, 5),
    )  # fmt: skip
    module.eval()
    x = np.random.default_rng(3).uniform(0, 1, (32, 1, 8, 8)).astype(np.float32)
    graph = snnc.import_torch(module, x[:2])
    (ann,) = snnc.execute(graph, x)
    with torch.no_grad():
        expected = module(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(ann, expected, rtol=1e-4, atol=1e-5)
    program = snnc.compile(module, example_input=x[:2], calibration=x, timesteps=8)
    assert (program.run(x).logits.argmax(1) == expected.argmax(1)).mean() >= 0.8
