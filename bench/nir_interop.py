"""NIR export and import against the other libraries' own importers (issue 28).

    python bench/nir_interop.py [--images 2000] [--out bench/results/nir_interop.json]

Needs torch and the importers (`pip install torch==2.13.0 snntorch nirtorch; pip install --no-deps
sinabs spikingjelly loguru pbr`, as .ci/run does). For both Fashion-MNIST fixtures, IF T = 32,
calibration on the 512 bundled images, the first `--images` of the Fashion-MNIST test set (2,000:
the importers and the numpy reference take about 20 minutes for them on 2 cores):

- snnc's default IF (v(0) = θ/2, gated max pooling, subtract reset) on its cpu target, and the
  ANN: what the network is worth before any export;
- each export form (`--nir-flavor`): the same conversion in the form NIR and that importer can
  say, simulated by snnc's numpy reference (what the export costs), then written, read back
  with `nir.read` and run by the importer (snnTorch, SpikingJelly, Sinabs; NIR as written by
  snnc's own import, compiled for -t cpu): its accuracy, the share of images whose prediction is
  the reference's, and its spikes against the reference's;
- a network built and exported by Sinabs itself (random weights, 1×16×16 input), compiled by
  snnc for -t cpu and -t accel: its outputs against Sinabs' own simulation.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import nir
import numpy as np
from snnc.targets.nir.export import export_notes, write_nir
from snnc.targets.nir.flavors import FLAVORS, nir_conversion

import snnc
from snnc.datasets import fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.interop import importers  # noqa: E402  (the runners the optional tests use)

T = 32
CASES = [("fmnist_vgg", "snntorch"), ("fmnist_vgg", "spikingjelly"), ("fmnist_vgg", "sinabs"), ("fmnist_vgg", "nir"),
         ("fmnist_resnet", "snntorch"), ("fmnist_resnet", "spikingjelly"), ("fmnist_resnet", "sinabs"),
         ("fmnist_resnet", "nir")]  # fmt: skip
CHUNK = 500  # images an importer runs at once (memory: chunk × the largest layer × 8 bytes)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return round(100 * float((logits.argmax(1) == labels).mean()), 2)


def in_chunks(fn, x: np.ndarray) -> tuple[np.ndarray, dict]:
    logits, spikes = [], {}
    for start in range(0, len(x), CHUNK):
        part, counts = fn(x[start : start + CHUNK])
        logits.append(part)
        spikes = {k: spikes.get(k, 0) + v for k, v in counts.items()}
    return np.concatenate(logits), spikes


def baseline(fixture: str, calibration, x, labels) -> dict:
    program = snnc.compile(ROOT / "examples" / f"{fixture}.onnx", calibration=calibration, timesteps=T, neuron="if")
    (ann,) = snnc.execute(snnc.import_onnx(ROOT / "examples" / f"{fixture}.onnx"), x)
    return {"ann": accuracy(ann, labels), "snnc_default_if": accuracy(program.run(x).logits, labels)}


def converted(fixture: str, flavor: str, calibration, x, cache: dict):
    """The program in the flavor's form and its reference simulation (flavors of one form share them)."""
    key = (fixture, tuple(sorted(nir_conversion(flavor).items())))
    if key not in cache:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max pools become average pools, with a warning
            program = snnc.compile(ROOT / "examples" / f"{fixture}.onnx", calibration=calibration, timesteps=T,
                                   **nir_conversion(flavor))  # fmt: skip
        cache[key] = program, program.run(x, engine="reference")
    return cache[key]


def export_case(fixture: str, flavor: str, calibration, x, labels, folder: Path, cache: dict) -> dict:
    row = {"fixture": fixture, "flavor": flavor, "importer": FLAVORS[flavor].importer}
    program, reference = converted(fixture, flavor, calibration, x, cache)
    row["export_form_accuracy"] = accuracy(reference.logits, labels)
    row["changes"] = export_notes(program.settings.conversion, flavor)[1:-1]
    try:
        graph = program.to_nir(flavor)
    except snnc.SnncError as exc:
        row["refused"] = str(exc)
        return row
    path = folder / f"{fixture}_{flavor}.nir"
    write_nir(path, graph)
    row["file_bytes"] = path.stat().st_size
    if flavor == "nir":  # NIR as written: snnc's own import is its reader, compiled for -t cpu
        back = snnc.compile(path, timesteps=T)
        began = time.process_time()
        result = back.run(x, threads=1)
        logits, spikes = result.logits, result.spikes
    else:
        read = nir.read(path)
        began = time.process_time()
        logits, spikes = in_chunks(lambda part: importers.run(flavor, read, part, T), x)
    row["importer_cpu_s"] = round(time.process_time() - began, 1)
    row["importer_accuracy"] = accuracy(logits, labels)
    row["agreement"] = round(100 * float((logits.argmax(1) == reference.logits.argmax(1)).mean()), 2)
    ours, theirs = sum(reference.spikes.values()), sum(spikes.values())
    row["spikes_relative_difference"] = (theirs - ours) / ours
    return row


def sinabs_made(folder: Path) -> dict:
    """A network Sinabs builds and exports, through snnc to the cpu and accel targets."""
    import sinabs.layers as sl
    import torch
    from sinabs.activation import SingleSpike

    torch.manual_seed(0)
    batch, steps = 64, 16
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), sl.IAFSqueeze(batch_size=batch, spike_fn=SingleSpike), sl.SumPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), sl.IAFSqueeze(batch_size=batch, spike_fn=SingleSpike), sl.SumPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16 * 4 * 4, 32), sl.IAFSqueeze(batch_size=batch, spike_fn=SingleSpike),
        torch.nn.Linear(32, 10),
    )  # fmt: skip
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    x = np.random.default_rng(2).uniform(0, 1, (batch, 1, 16, 16)).astype(np.float32)
    graph, theirs = importers.sinabs_export_and_run(net, x, steps)
    shapes = {"input": (batch, 1, 16, 16)}
    cpu = snnc.compile(graph, timesteps=steps, reset="subtract", input_shapes=shapes)
    accel = snnc.compile(graph, target="accel", timesteps=steps, reset="subtract", calibration=x, input_shapes=shapes)
    rows = {}
    for name, logits in (("reference", cpu.run(x, engine="reference").logits), ("cpu", cpu.run(x).logits),
                         ("accel", accel.run(x).logits)):  # fmt: skip
        rows[name] = {"agreement": round(100 * float((logits.argmax(1) == theirs.argmax(1)).mean()), 2),
                      "max_abs_difference": float(np.abs(logits - theirs).max())}  # fmt: skip
    return {"network": "Sinabs: conv 8, IAF, sum-pool, conv 16, IAF, sum-pool, dense 32, IAF, dense 10",
            "images": batch, "timesteps": steps, "against_sinabs": rows}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nir_interop.json")
    args = parser.parse_args()
    calibration = np.load(ROOT / "examples" / "fmnist_calib.npz")["x"]
    x, labels = fashion_mnist("test")
    x, labels = x[: args.images], labels[: args.images]
    results = {"timesteps": T, "images": len(x), "calibration_images": len(calibration), "baselines": {}, "rows": []}
    cache = {}
    with tempfile.TemporaryDirectory() as folder:
        for fixture in ("fmnist_vgg", "fmnist_resnet"):
            results["baselines"][fixture] = baseline(fixture, calibration, x, labels)
            print(fixture, results["baselines"][fixture], flush=True)
        for fixture, flavor in CASES:
            row = export_case(fixture, flavor, calibration, x, labels, Path(folder), cache)
            print(json.dumps(row), flush=True)
            results["rows"].append(row)
        results["library_made"] = sinabs_made(Path(folder))
        print(json.dumps(results["library_made"]), flush=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
