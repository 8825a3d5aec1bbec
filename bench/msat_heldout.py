"""Accuracy of IF and MSAT settings on held-out training images, to choose MSAT's defaults
without looking at the test set (BENCHMARKS.md, issue 4).

    python bench/msat_heldout.py resnet 8,16,32 '{"if": {"neuron": "if"}, "g2": {"msat": {"burst": 2}}}'

Images 50,000 to 50,000 + --images of the training split (the fixtures were trained on them, so
the figures rank settings; they do not report accuracy), thresholds from the first 1,000
training images, the cpu target on all cores. Each setting is a dict of snnc.compile keywords,
with "neuron" (default msat).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from snnc.runtime.jit import CompiledNetwork

import snnc
from snnc.data import load_arrays

ROOT = Path(__file__).parents[1]
HELD_OUT = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=["vgg", "resnet"])
    parser.add_argument("timesteps", help="comma-separated, e.g. 8,16,32")
    parser.add_argument("settings", help='JSON: {"name": {compile keywords}, ...}')
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    x, y = load_arrays("fashion-mnist", "train", HELD_OUT + args.images)
    calibration, x, y = x[:1000], x[HELD_OUT:], y[HELD_OUT:]
    for name, options in json.loads(args.settings).items():
        options = dict(options)
        neuron = options.pop("neuron", "msat")
        for steps in [int(t) for t in args.timesteps.split(",")]:
            start = time.perf_counter()
            program = snnc.compile(ROOT / "examples" / f"fmnist_{args.model}.onnx", neuron=neuron, timesteps=steps,
                                   calibration=calibration, **options)  # fmt: skip
            logits = CompiledNetwork(program.graph).run(x, steps).logits
            accuracy = 100 * (logits.argmax(1) == y).mean()
            seconds = time.perf_counter() - start
            print(f"{args.model} {name:>14} T={steps:<4} {accuracy:6.2f} %  ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
