"""MSAT against IF image by image, on the test set: is a gap in accuracy a worse conversion, or
a few images where the ANN itself is wrong?

    python bench/msat_vs_if.py [NAME ...]   # → bench/results/msat_vs_if.jsonl (the table: bench/docs.py)

Every network of bench/rate_suite.py (the held-out suite and both fixtures), IF and MSAT at
T = 32 and 64 with their defaults, calibrated on held-out training images 0–511 as there; the
full Fashion-MNIST test set. Per pair: each engine's accuracy and agreement with the ANN's
class (onnxruntime), the images only MSAT gets right and those only IF gets right, and the
exact two-sided McNemar p-value of that split (a binomial test on the discordant images: how
often chance alone splits them at least this unevenly). Nothing here chooses a setting. Rows
are appended as they finish; a row already there is not run again.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from rate_suite import FIXTURES, SUITE, ann_logits, append, finished, held_out  # the same networks and split

import snnc
from snnc.datasets import fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "msat_vs_if.jsonl"
MODELS = {path.stem.removeprefix("fmnist_"): path for path in SUITE + FIXTURES}
STEPS = (32, 64)


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar: P(a split of n = only_a + only_b fair coin flips at least as uneven)."""
    n, low = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(low + 1)) / 2**n
    return min(1.0, 2 * tail)


def predictions(model: Path, neuron: str, steps: int, calibration: np.ndarray, x: np.ndarray) -> np.ndarray:
    program = snnc.compile(model, neuron=neuron, timesteps=steps, calibration=calibration)
    return program.run(x, threads=2).logits.argmax(axis=1)


def percent(hits: np.ndarray) -> float:
    return round(float(hits.mean() * 100), 2)


def row(name: str, steps: int, calibration: np.ndarray, x: np.ndarray, y: np.ndarray, ann: np.ndarray) -> dict:
    msat, if_ = (predictions(MODELS[name], neuron, steps, calibration, x) for neuron in ("msat", "if"))
    only_msat, only_if = (msat == y) & (if_ != y), (if_ == y) & (msat != y)
    return {"network": name, "T": steps, "images": len(y), "ann": percent(ann == y),
            "msat": percent(msat == y), "if": percent(if_ == y),
            "msat_agreement": percent(msat == ann), "if_agreement": percent(if_ == ann),
            "only_msat_right": int(only_msat.sum()), "only_if_right": int(only_if.sum()),
            "mcnemar_p": round(mcnemar_p(int(only_msat.sum()), int(only_if.sum())), 3),
            "only_if_right_ann_wrong": int((only_if & (ann != y)).sum())}  # fmt: skip


def main() -> None:
    held_x, _ = held_out()
    x, y = fashion_mnist("test")
    done = finished(RESULTS, "network", "T")
    for name in sys.argv[1:] or MODELS:
        ann = ann_logits(MODELS[name], x).argmax(axis=1)
        for steps in STEPS:
            if (name, steps) in done:
                continue
            append(RESULTS, row(name, steps, held_x[:512], x, y, ann))


if __name__ == "__main__":
    main()
