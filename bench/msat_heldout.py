"""Accuracy and fidelity to the ANN of IF and MSAT settings on held-out training images, to
choose MSAT's defaults without looking at the test set (issue 4; its figures are in `git show 88d5220:BENCHMARKS.md`).

    python bench/msat_heldout.py vgg 8,16,32,64,128 '{"if": {"neuron": "if"}, "g1": {"msat": {"burst": 1}}}'

Images 50,000 to 50,000 + --images of the training split; thresholds from the first 1,000
training images; the cpu target on all cores. Each setting is a dict of snnc.compile keywords,
with "neuron" (default msat). Per T: accuracy (the fixtures were trained on these images, so it
ranks settings and does not report accuracy), agreement with the ANN's class, and the RMS
difference between the SNN's logits and the ANN's, which needs no labels and varies less from
sample to sample than accuracy. One run at the largest T per setting: the readout's estimate
after step t is the T = t network's output for IF and MSAT (their dynamics do not depend on T).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from snnc.targets.cpu.runner import CompiledNetwork

import snnc
from snnc.data import load_arrays

ROOT = Path(__file__).parents[1]
HELD_OUT = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=["vgg", "resnet"])
    parser.add_argument("timesteps", help="comma-separated, e.g. 8,16,32")
    parser.add_argument("settings", help='JSON: {"name": {compile keywords}, ...}')
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    x, y = load_arrays("fashion-mnist", "train", HELD_OUT + args.images)
    calibration, x, y = x[:1000], x[HELD_OUT:], y[HELD_OUT:]
    path = ROOT / "examples" / f"fmnist_{args.model}.onnx"
    ann = snnc.execute(snnc.import_onnx(path), x)[0].reshape(len(x), -1)
    print(f"{args.model} ANN {100 * (ann.argmax(1) == y).mean():.2f} %")
    checkpoints = [int(t) for t in args.timesteps.split(",")]
    for name, options in json.loads(args.settings).items():
        options = dict(options)
        neuron = options.pop("neuron", "msat")
        start = time.perf_counter()
        program = snnc.compile(path, neuron=neuron, timesteps=max(checkpoints), calibration=calibration, **options)
        trace = CompiledNetwork(program.graph).run(x, max(checkpoints), trace=True).trace
        seconds = time.perf_counter() - start
        for steps in checkpoints:
            logits = trace[:, steps - 1]
            accuracy = 100 * (logits.argmax(1) == y).mean()
            agreement = 100 * (logits.argmax(1) == ann.argmax(1)).mean()
            rmse = np.sqrt(((logits - ann) ** 2).mean())
            print(f"{args.model} {name:>10} T={steps:<4} accuracy {accuracy:6.2f} %  agrees with the ANN "
                  f"{agreement:6.2f} %  logit RMSE {rmse:.3f}  ({seconds:.0f} s for all T)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
