"""What the engines compute, recorded, so that a restructuring can show it changed nothing.

    python bench/behaviour.py record /tmp/behaviour.npz   # before the restructuring
    python bench/behaviour.py check /tmp/behaviour.npz    # after it [--calibration-engine reference]

Both fixtures × IF (T = 16), iLIF (T = 8) and MSAT (T = 16), each compiled for the accel target
with 128 calibration images and adaptive exits calibrated on them (budget 2 points), then
32 test images run on all five engines: the float reference (runtime/snn.py), the cpu target's
native code, the fixed-point reference, the cpu target's fixed-point code and the accelerator
simulator. Kept: logits, per-sample steps, spike and SOP counts per layer and, from the
simulator, cycles per image. `check` recomputes everything and compares bit for bit (exit 1 on
any difference, listing it). A recording made when calibration ran on the numpy reference
(before issue 24) needs `--calibration-engine reference` to compare like with like: onnxruntime's
sums round differently (thresholds move by an ulp). A recording holds the behaviour of the
commit that made it; it is not kept in bench/results/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

import snnc.passes  # noqa: E402

import snnc  # noqa: E402

FIXTURES = ("fmnist_vgg", "fmnist_resnet")
MODELS = {"if": 16, "ilif": 8, "msat": 16}
ENGINES = ("reference", "native", "fixed", "native-fixed", "accel")
CALIBRATION, IMAGES = 128, 32


def record(calibration_engine: str = "onnxruntime") -> dict[str, np.ndarray]:
    passes = [f"{name}{{engine={calibration_engine}}}" if name == "balance-thresholds" else name
              for name in snnc.passes.DEFAULT_PASSES]  # fmt: skip
    examples = ROOT / "examples"
    with np.load(examples / "fmnist_calib.npz") as calib, np.load(examples / "fmnist_test.npz") as test:
        x_calib = calib["x"][:CALIBRATION]
        x = test["x"][:IMAGES]
    arrays = {}
    for fixture in FIXTURES:
        for neuron, steps in MODELS.items():
            program = snnc.compile(examples / f"{fixture}.onnx", target="accel", neuron=neuron, timesteps=steps,
                                   calibration=x_calib, passes=passes)  # fmt: skip
            program.calibrate_exits(x_calib, budget=2.0)
            for engine in ENGINES:
                result = program.run(x, engine=engine, threads=1)
                prefix = f"{fixture}/{neuron}/{engine}"
                arrays[f"{prefix}/logits"] = result.logits
                arrays[f"{prefix}/steps"] = result.steps
                for kind in ("spikes", "sops"):
                    for layer, count in getattr(result, kind).items():
                        arrays[f"{prefix}/{kind}/{layer}"] = np.int64(count)
                if result.hardware is not None:
                    arrays[f"{prefix}/cycles"] = result.hardware.cycles
                print(prefix, flush=True)
    return arrays


def compare(expected: dict, actual: dict) -> list[str]:
    differences = [f"only in the recording: {k}" for k in sorted(set(expected) - set(actual))]
    differences += [f"only now: {k}" for k in sorted(set(actual) - set(expected))]
    for key in sorted(set(expected) & set(actual)):
        a, b = np.asarray(expected[key]), np.asarray(actual[key])
        if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b):
            differences.append(f"differs: {key}")
    return differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["record", "check"])
    parser.add_argument("path")
    parser.add_argument("--calibration-engine", choices=["onnxruntime", "reference"], default="onnxruntime")
    args = parser.parse_args()
    arrays = record(args.calibration_engine)
    if args.mode == "record":
        np.savez_compressed(args.path, **arrays)
        print(f"recorded {len(arrays)} arrays in {args.path}")
        return 0
    with np.load(args.path) as recording:
        expected = {k: recording[k] for k in recording.files}
    differences = compare(expected, arrays)
    print("\n".join(differences) or f"identical: {len(arrays)} arrays, bit for bit")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
