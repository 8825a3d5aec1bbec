"""Energy per image on the default chip, by kind, for both Fashion-MNIST fixtures: iLIF T = 8,
IF T = 32 and MSAT T = 32, the SNN beside the same network as an ANN on the same chip.

    python bench/accel_dataflow.py [--images 64] [--out bench/results/accel_dataflow.json]

The thresholds come from the 512 bundled calibration images; the first `--images` bundled test
images run through the chip simulator. To compare with another commit, install that commit
alone (`pip install --no-deps --target /tmp/old <checkout>`) and run this file with
PYTHONPATH=/tmp/old from outside the checkout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import snnc
from snnc.errors import SnncError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [(model, neuron, steps) for model in ("fmnist_vgg", "fmnist_resnet")
           for neuron, steps in (("ilif", 8), ("if", 32), ("msat", 32))]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "accel_dataflow.json"))
    args = parser.parse_args()
    calibration = np.load(ROOT / "examples" / "fmnist_calib.npz")["x"]
    test = np.load(ROOT / "examples" / "fmnist_test.npz")
    x, y = test["x"][: args.images], test["y"][: args.images]
    rows = []
    for model, neuron, steps in CONFIGS:
        try:
            program = snnc.compile(ROOT / "examples" / f"{model}.onnx", "accel", steps, calibration=calibration,
                                   neuron=neuron)  # fmt: skip
        except SnncError as exc:  # e.g. a membrane wider than the state word at this T
            rows.append({"network": model, "neuron": neuron, "T": steps, "error": str(exc)})
            print(json.dumps(rows[-1]), flush=True)
            continue
        result = program.run(x)
        summary = result.hardware.summary()
        rows.append({"network": model, "neuron": neuron, "T": steps,
                     "accuracy": float(np.mean(result.logits.argmax(1) == y)), "cycles": summary["cycles"],
                     "energy_uj": summary["energy_uj"], "ann_energy_uj": summary["ann_energy_uj"],
                     "snn_ann_energy_ratio": summary["snn_ann_energy_ratio"],
                     "energy_breakdown_uj": summary["energy_breakdown_uj"],
                     "ann_breakdown_uj": summary["ann_breakdown_uj"]})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    command = "python bench/accel_dataflow.py" + (f" --images {args.images}" if args.images != 64 else "")
    Path(args.out).write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
