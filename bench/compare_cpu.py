"""Images per second of one network on the cpu target: one thread, batch 64, median of 5 runs.

    python bench/compare_cpu.py fmnist_vgg if 32

For comparing two commits side by side: install the older one elsewhere
(`pip install --no-deps --target /tmp/old <checkout>`) and alternate
`PYTHONPATH=/tmp/old python bench/compare_cpu.py …` with the current install's run.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from snnc.targets.cpu.runner import CompiledNetwork

import snnc

ROOT = Path(__file__).parents[1]


def main() -> None:
    model, neuron, timesteps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    x = np.load(ROOT / "examples" / "fmnist_test.npz")["x"][:64]
    calibration = np.load(ROOT / "examples" / "fmnist_calib.npz")["x"][:256]
    program = snnc.compile(ROOT / "examples" / f"{model}.onnx", neuron=neuron, timesteps=timesteps,
                           calibration=calibration)  # fmt: skip
    network = CompiledNetwork(program.graph, cache=None)
    network.run(x, timesteps, threads=1)  # warm-up
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        network.run(x, timesteps, threads=1)
        seconds.append(time.perf_counter() - start)
    rate = len(x) / statistics.median(seconds)
    print(f"{Path(snnc.__file__).parent} {model} {neuron} T={timesteps}: {rate:.1f} img/s")


if __name__ == "__main__":
    main()
