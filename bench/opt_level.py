"""LLVM's optimization level: compile time against run time, to choose the default.

    python bench/opt_level.py [--networks fmnist_vgg,fmnist_resnet,cifar-resnet18,cifar-mobilenetv2]

For each network, neuron configuration (iLIF T=8; IF T=32) and level 0–3 (the new pass
manager's speed level and the code generator's level together, targets/cpu/llvm.py), a fresh
process compiles with no object cache and reports the CPU seconds of code generation and LLVM
(`codegen`, `llvm-*` stages) and the median time of 3 runs on 16 images, one thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = (("ilif", 8), ("if", 32))


def model_and_images(name: str):
    from snnc import zoo

    if name.startswith("fmnist"):
        images = np.load(ROOT / "examples" / "fmnist_calib.npz")["x"]
        return ROOT / "examples" / f"{name}.onnx", images[:64], images[64:80]
    rng = np.random.default_rng(1)
    side = 32 if name.startswith("cifar") else 224
    calibration, images = (rng.random((count, 3, side, side), np.float32) for count in (64, 16))
    return zoo.build(name, seed=0), calibration, images


def child(name: str, neuron: str, timesteps: int, level: int) -> dict:
    from snnc.targets.cpu import llvm

    llvm.SPEED_LEVEL = llvm.CODEGEN_LEVEL = level
    from snnc.targets.cpu.runner import CompiledNetwork

    import snnc
    from snnc.timing import recording

    model, calibration, images = model_and_images(name)
    program = snnc.compile(model, "cpu", timesteps, calibration=calibration, neuron=neuron)
    with recording() as stages:
        network = CompiledNetwork(program.graph, cache=None)
    table = stages.table()
    llvm_cpu = sum(row["cpu"] for stage, row in table.items() if stage == "codegen" or stage.startswith("llvm"))
    network.run(images, timesteps, program.latency_steps, threads=1)
    times = []
    for _ in range(3):
        start = time.process_time()
        network.run(images, timesteps, program.latency_steps, threads=1)
        times.append(time.process_time() - start)
    return {"network": name, "neuron": neuron, "T": timesteps, "level": level, "compile_cpu_s": round(llvm_cpu, 2),
            "run_cpu_s": round(statistics.median(times), 4)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="fmnist_vgg,fmnist_resnet,cifar-resnet18,cifar-mobilenetv2")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "opt_level.jsonl"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, neuron, steps, level = args.child
        print(json.dumps(child(name, neuron, int(steps), int(level))))
        return
    with open(args.out, "w") as out:
        for name in args.networks.split(","):
            for neuron, steps in CONFIGS:
                for level in range(4):
                    command = [sys.executable, __file__, "--child", name, neuron, str(steps), str(level)]
                    line = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()
                    print(line, flush=True)
                    out.write(line + "\n")


if __name__ == "__main__":
    main()
