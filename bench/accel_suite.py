"""Which networks of the model suite map onto the accelerator with the default configuration:
`snnc check -t accel` on each (iLIF T = 8), its exit code and first error line, or the cores it
takes, and the CPU seconds the compile spent before it answered.

    python bench/accel_suite.py [--out bench/results/accel_suite.json] [--calibration 16]

Weights from `snnc zoo` (seed 0); calibration on uniform random images (seed 1) of the
network's input size. One process per network, one after the other (a ResNet-50 compile holds
gigabytes), so one network's memory does not weigh on the next's time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from snnc import zoo

ROOT = Path(__file__).resolve().parents[1]


def check(name: str, images: int, folder: Path) -> dict:
    model = zoo.build(name, seed=0)
    path = folder / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    calibration = folder / f"{name}_calib.npz"
    np.savez(calibration, x=np.random.default_rng(1).random((images, *shape), dtype=np.float32))
    command = [sys.executable, "-m", "snnc", "check", str(path), "-t", "accel", "-T", "8", "--neuron", "ilif",
               "--calib", str(calibration), "--json", "-q"]  # fmt: skip
    start = time.time()
    done = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", *command], capture_output=True, text=True)
    user, system, peak_kib = done.stderr.strip().splitlines()[-1].split()
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    row = {"network": name, "exit_code": done.returncode, "cpu_s": round(float(user) + float(system), 1),
           "wall_s": round(time.time() - start, 1), "peak_mib": round(int(peak_kib) / 1024)}  # fmt: skip
    if report.get("fits"):
        row.update(cores=report["cores"], chip_cores=report["chip_cores"], program_bytes=report["program_bytes"])
    else:
        row["error"] = report.get("error") or done.stderr.strip().splitlines()[0]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "accel_suite.json"))
    parser.add_argument("--calibration", type=int, default=16, help="calibration images per network")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in zoo.names():
            rows.append(check(name, args.calibration, Path(folder)))
            print(json.dumps(rows[-1]), flush=True)
    command = "python bench/accel_suite.py" + (f" --calibration {args.calibration}" if args.calibration != 16 else "")
    Path(args.out).write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
