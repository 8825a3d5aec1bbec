"""One network, several chip counts and both mapping objectives: CIFAR ResNet-18 (`snnc zoo`,
seed 0), iLIF T = 8, the default chip otherwise; segments, off-chip and link bytes, latency,
images/s and energy per image from the simulator on a few random images.

    python bench/accel_chips.py [--images 2] [--out bench/results/accel_chips.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from snnc.targets.accel.config import DEFAULT

import snnc
from snnc import zoo

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "accel_chips.json"))
    args = parser.parse_args()
    model = zoo.build("cifar-resnet18", seed=0)
    rng = np.random.default_rng(1)
    calibration, x = (rng.random((n, 3, 32, 32), dtype=np.float32) for n in (16, args.images))
    rows = []
    for chips in (1, 2, 5):
        for objective in ("energy", "latency"):
            chip = dataclasses.replace(DEFAULT, chips=chips, objective=objective)
            program = snnc.compile(model, "accel", 8, calibration=calibration, neuron="ilif", chip=chip)
            summary = program.run(x).hardware.summary()
            plan = program.accel().plan()
            rows.append({"chips": chips, "objective": objective, "segments": len(plan["segments"]),
                         **{k: plan["off_chip_bytes_per_image"][k] for k in ("dram_bytes", "link_bytes")},
                         **{k: summary[k] for k in ("latency_us", "images_per_s_streaming", "energy_uj",
                                                    "ann_energy_uj", "snn_ann_energy_ratio")},
                         "dram_uj": summary["energy_breakdown_uj"]["dram"],
                         "link_uj": summary["energy_breakdown_uj"]["link"],
                         "static_uj": summary["energy_breakdown_uj"]["static"]})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    command = "python bench/accel_chips.py" + (f" --images {args.images}" if args.images != 2 else "")
    Path(args.out).write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
