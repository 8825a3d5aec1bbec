"""Where the cpu target's time goes: cycles per kernel (llvm.readcyclecounter around each call).

    python bench/profile_cpu.py [--model fmnist_vgg] [--neuron if] [--timesteps 32] [--threads 1] [--batch 64]

Prints images per second (median of 3 runs; the counters add a little) and each kernel's share
of the cycles, then the shares per kernel kind. A profile, not a benchmark: bench_cpu.py
measures speed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from snnc.targets.cpu.runner import CompiledNetwork

import snnc

ROOT = Path(__file__).parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="fmnist_vgg")
    parser.add_argument("--neuron", default="if", choices=["if", "ilif", "msat"])
    parser.add_argument("--timesteps", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    x = np.load(ROOT / "examples" / "fmnist_test.npz")["x"][: args.batch]
    calibration = np.load(ROOT / "examples" / "fmnist_calib.npz")["x"]
    program = snnc.compile(ROOT / "examples" / f"{args.model}.onnx", neuron=args.neuron, timesteps=args.timesteps,
                           calibration=calibration)  # fmt: skip
    network = CompiledNetwork(program.graph, cache=None, profile=True)
    network.run(x, args.timesteps, threads=args.threads)  # warm-up
    network.kernel_cycles[:] = 0
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        network.run(x, args.timesteps, threads=args.threads)
        seconds.append(time.perf_counter() - start)
    print(f"{args.model} {args.neuron} T={args.timesteps}: {len(x) / statistics.median(seconds):.1f} img/s "
          f"({args.threads} thread(s), batch {len(x)})")  # fmt: skip
    shares = network.kernel_cycles / max(network.kernel_cycles.sum(), 1)
    by_kind: dict[str, float] = {}
    for index, (kernel, share) in enumerate(zip(network.plan.kernels, shares)):
        shape = "×".join(str(kernel.args[key]) for key in ("C", "IH", "IW", "O") if key in kernel.args)
        print(f"{index:3d} {kernel.kind:12s} {kernel.phase:7s} {shape:16s} {100 * share:5.1f} %")
        by_kind[kernel.kind] = by_kind.get(kernel.kind, 0.0) + share
    ranked = sorted(by_kind.items(), key=lambda item: -item[1])
    print("by kind: " + ", ".join(f"{kind} {100 * share:.1f} %" for kind, share in ranked))


if __name__ == "__main__":
    main()
