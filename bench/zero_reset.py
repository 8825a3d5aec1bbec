"""Reset to zero (what snnTorch's and SpikingJelly's NIR importers run): thresholds chosen by an
error model that knows the reset, against the one that assumes subtraction, on held-out images.

    python bench/zero_reset.py [--out bench/results/zero_reset.json]

The held-out suite (examples/suite/*.onnx, trained on the first 55,000 training images), IF T = 32,
v_init = 0 and reset to zero (the `snntorch` and `spikingjelly` NIR forms), error thresholds per
channel with bias correction; calibration on held-out images 0–511, accuracy on held-out images
1,000–2,999 (bench/rate_suite.py's split). The test set is not used. Each variant compiles with its
own threshold cache, so that neither reads the other's thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import snnc
from snnc.models import base

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from rate_suite import held_out  # noqa: E402  (the held-out split the defaults were chosen on)

T = 32
KNOWS_RESET = base.NeuronModel.expected_output


def assumes_subtraction(self, activation, theta, timesteps, v_init, reset="subtract"):
    """The error model before: every reset taken for a subtraction."""
    return KNOWS_RESET(self, activation, theta, timesteps, v_init, "subtract")


def accuracy(path: Path, model, calibration, x, labels, cache: str) -> float:
    base.NeuronModel.expected_output = model
    os.environ["SNNC_CACHE_DIR"] = cache
    try:
        program = snnc.compile(path, calibration=calibration, timesteps=T, neuron="if", reset="zero", v_init=0.0)
    finally:
        base.NeuronModel.expected_output = KNOWS_RESET
    return round(100 * float((program.run(x).logits.argmax(1) == labels).mean()), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "zero_reset.json")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    x, y = held_out()
    calibration, test, labels = x[:512], x[1000:3000], y[1000:3000]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for path in sorted((ROOT / "examples" / "suite").glob("*.onnx")):
            (ann,) = snnc.execute(snnc.import_onnx(path), test)
            row = {"network": path.stem, "ann": round(100 * float((ann.argmax(1) == labels).mean()), 2),
                   "assumes_subtraction": accuracy(path, assumes_subtraction, calibration, test, labels,
                                                   f"{folder}/subtract"),
                   "knows_reset": accuracy(path, KNOWS_RESET, calibration, test, labels, f"{folder}/zero")}  # fmt: skip
            print(json.dumps(row), flush=True)
            rows.append(row)
    args.out.write_text(json.dumps({"timesteps": T, "images": len(test), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
