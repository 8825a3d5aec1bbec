"""The model suite on the accelerator with the default configuration (iLIF T = 8): whether each
network maps (`snnc check -t accel`: exit code and first error line, or its cores, segments
and off-chip bytes per image), and for those that map, a few images through the chip
simulator checked bit for bit against the cpu fixed-point mode, with its cycles, latency,
images/s, energy and off-chip traffic per image.

    python bench/accel_suite.py [--images 2] [--calibration 16] [--out bench/results/accel_suite.json]

Weights from `snnc zoo` (seed 0); calibration and test images uniform random (seeds 1 and 2)
at the network's input size. Each network runs in a process of its own, one after the other
(a ResNet-50 compile holds gigabytes): CPU seconds and peak memory are that process's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def one(name: str, images: int, calibration: int, folder: Path) -> dict:
    """In the child process: check, then simulate and compare."""
    import time

    import snnc
    from snnc import zoo
    from snnc.cli import main as snnc_main

    model = zoo.build(name, seed=0)
    path = folder / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    calib = folder / f"{name}_calib.npz"
    np.savez(calib, x=np.random.default_rng(1).random((calibration, *shape), dtype=np.float32))
    report_path = folder / f"{name}_check.json"
    with open(report_path, "w") as out:
        saved, sys.stdout = sys.stdout, out
        try:
            code = snnc_main(["check", str(path), "-t", "accel", "-T", "8", "--neuron", "ilif", "--calib", str(calib),
                              "--json", "-q"])  # fmt: skip
        finally:
            sys.stdout = saved
    report = json.loads(report_path.read_text())
    row = {"network": name, "exit_code": code}
    if not report.get("fits"):
        return {**row, "error": report.get("error")}
    plan = report["plan"]
    row.update(cores=report["cores"], chip_cores=report["chip_cores"], segments=len(plan["segments"]),
               off_chip_bytes_per_image=plan["off_chip_bytes_per_image"]["dram_bytes"])  # fmt: skip
    if not images:
        return row
    program = snnc.compile(path, "accel", 8, calibration=np.load(calib)["x"], neuron="ilif")
    x = np.random.default_rng(2).random((images, *shape), dtype=np.float32)
    start = time.process_time()
    chip = program.run(x, engine="accel")
    simulated_s = time.process_time() - start
    fixed = program.run(x, engine="native-fixed")
    exact = bool(np.array_equal(chip.logits, fixed.logits) and chip.spikes == fixed.spikes and chip.sops == fixed.sops)
    summary = chip.hardware.summary()
    row.update(bit_exact_with_native_fixed=exact, images=images, simulator_cpu_s=round(simulated_s, 1),
               cycles=summary["cycles"], latency_us=summary["latency_us"],
               images_per_s_streaming=summary["images_per_s_streaming"], energy_uj=summary["energy_uj"],
               ann_energy_uj=summary["ann_energy_uj"], snn_ann_energy_ratio=summary["snn_ann_energy_ratio"],
               energy_breakdown_uj=summary["energy_breakdown_uj"], off_chip=summary["off_chip"],
               sim_sops_per_s=summary["sim_sops_per_s"])  # fmt: skip
    return row


def run_child(name: str, args) -> dict:
    command = [sys.executable, __file__, "--one", name, "--images", str(args.images),
               "--calibration", str(args.calibration)]  # fmt: skip
    done = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", *command], capture_output=True, text=True)
    user, system, peak_kib = done.stderr.strip().splitlines()[-1].split()
    try:
        row = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        row = {"network": name, "exit_code": done.returncode, "error": done.stderr.strip().splitlines()[-2:]}
    return {**row, "cpu_s": round(float(user) + float(system), 1), "peak_mib": round(int(peak_kib) / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "accel_suite.json"))
    parser.add_argument("--calibration", type=int, default=16, help="calibration images per network")
    parser.add_argument("--images", type=int, default=2, help="images simulated per network that maps (0: none)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: one network
    parser.add_argument("--networks", nargs="*", help="a subset of the suite (default: all)")
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(one(args.one, args.images, args.calibration, Path(folder))))
        return
    from snnc import zoo

    rows = []
    for name in args.networks or zoo.names():
        rows.append(run_child(name, args))
        print(json.dumps(rows[-1]), flush=True)
    options = (("images", args.images, 2), ("calibration", args.calibration, 16))
    command = "python bench/accel_suite.py" + "".join(f" --{k} {v}" for k, v, default in options if v != default)
    Path(args.out).write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
