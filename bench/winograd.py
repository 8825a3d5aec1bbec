"""The float iLIF's dense-form shortcuts, measured: Winograd F(2×2, 3×3) layer by layer against
the direct form (which layers it pays on: targets/cpu/winograd.py's thresholds), the networks
with and without it and with iLIF's bits made at once, and what Winograd does to the results.

    python bench/winograd.py [--rounds 5] [--out bench/results/winograd.json]

iLIF T = 8, float32, one thread, batch 64 (CIFAR: 16). Layers: every 3×3 stride-1 convolution
of the two Fashion-MNIST fixtures and CIFAR ResNet-18 / VGG-16 (`snnc zoo`, seed 0), in both
forms (the thresholds lifted so that every such layer has a Winograd form), cycles per image of
its kernels (llvm.readcyclecounter; pad, transforms and products), median over paired rounds
of the ratio. Networks: CPU seconds per image of the whole program, "direct" (the form before,
steps one at a time), "winograd" (the default layer choice), "winograd + bits at once" (the
default), median over paired rounds. Results: the full Fashion-MNIST test set (10,000 images)
on both fixtures, direct against Winograd (predictions that differ, spikes and SOPs); bits at
once against the steps must be identical, bit for bit (asserted); the predictions of each form
against the numpy reference simulator's (whose sums run in yet another order). Fixtures calibrate on the
512 bundled images; CIFAR networks on uniform random images (seed 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from snnc.targets.cpu import neurons, winograd
from snnc.targets.cpu.plan import build_plan
from snnc.targets.cpu.runner import CompiledNetwork

import snnc
from snnc import zoo
from snnc.data import load_arrays
from snnc.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = ("fmnist_vgg", "fmnist_resnet", "cifar-resnet18", "cifar-vgg16")
STEPS = 8
LAYER_KINDS = ("pad", "weighted", "winograd-input", "winograd-output")
FORMS = {"direct": (False, False), "winograd": (True, False), "winograd + bits at once": (True, True)}


def program_and_images(name: str):
    if name.startswith("fmnist"):
        calibration = np.load(ROOT / "examples" / "fmnist_calib.npz")["x"]
        images = np.load(ROOT / "examples" / "fmnist_test.npz")["x"][:64]
        model = ROOT / "examples" / f"{name}.onnx"
    else:
        rng = np.random.default_rng(1)
        calibration, images = (rng.random((16, 3, 32, 32), dtype=np.float32) for _ in range(2))
        model = zoo.build(name, seed=0).SerializeToString()
    return snnc.compile(model, "cpu", STEPS, calibration=calibration, neuron="ilif"), images


def network(graph, use_winograd: bool, at_once: bool, profile: bool = False, every_layer: bool = False):
    """The compiled network in one form (the module switches are read while it is built)."""
    saved = winograd.ENABLED, winograd.MIN_CHANNELS, winograd.MIN_TILES, neurons.ILIF_CLOSED_FORM
    winograd.ENABLED, neurons.ILIF_CLOSED_FORM = use_winograd, at_once
    if every_layer:
        winograd.MIN_CHANNELS = winograd.MIN_TILES = 1
    try:
        return CompiledNetwork(graph, cache=None, profile=profile)
    finally:
        winograd.ENABLED, winograd.MIN_CHANNELS, winograd.MIN_TILES, neurons.ILIF_CLOSED_FORM = saved


def layer_cycles(net, images) -> dict[str, float]:
    """Cycles per image of each 3×3 stride-1 layer's kernels, in one run."""
    net.kernel_cycles[:] = 0
    net.run(images, STEPS, threads=1)
    cycles: dict[str, float] = {}
    for kernel, count in zip(net.plan.kernels, net.kernel_cycles):
        if kernel.kind in LAYER_KINDS:
            cycles[kernel.node] = cycles.get(kernel.node, 0.0) + count / len(images)
    return cycles


def layers(name: str, graph, images, rounds: int) -> list[dict]:
    direct = network(graph, False, True, profile=True)
    every = network(graph, True, True, profile=True, every_layer=True)
    chosen = {k.node for k in build_plan(graph).kernels if k.kind == "winograd-input"}  # the default choice
    candidates = {k.node: k.args for k in every.plan.kernels if k.kind == "winograd-output"}
    shapes = {k.node: k.args for k in direct.plan.kernels if k.kind == "weighted"}
    for net in (direct, every):
        net.run(images, STEPS, threads=1)  # warm-up
    paired = [(layer_cycles(direct, images), layer_cycles(every, images)) for _ in range(rounds)]
    rows = []
    for node, args in candidates.items():
        ratios = [w[node] / d[node] for d, w in paired]
        rows.append({"network": name, "layer": node, "C": shapes[node]["C"], "O": args["O"], "OH": args["OH"],
                     "OW": args["OW"], "tiles": args["TH"] * args["TW"],
                     "direct_cycles": round(statistics.median(d[node] for d, _ in paired)),
                     "winograd_cycles": round(statistics.median(w[node] for _, w in paired)),
                     "ratio": round(statistics.median(ratios), 3), "chosen": node in chosen})  # fmt: skip
    return rows


def whole(name: str, nets: dict, images, rounds: int) -> dict:
    for net in nets.values():
        net.run(images, STEPS, threads=1)
    seconds: dict[str, list[float]] = {form: [] for form in nets}
    for _ in range(rounds):
        for form, net in nets.items():
            start = time.process_time()
            net.run(images, STEPS, threads=1)
            seconds[form].append(time.process_time() - start)
    per_image = {form: statistics.median(s) / len(images) * 1e3 for form, s in seconds.items()}
    return {"network": name, "batch": len(images), "ms_per_image": {f: round(v, 4) for f, v in per_image.items()},
            "winograd_over_direct": round(statistics.median(w / d for w, d in zip(seconds["winograd"],
                                                                                 seconds["direct"])), 3),
            "all_over_direct": round(statistics.median(w / d for w, d in zip(seconds["winograd + bits at once"],
                                                                            seconds["direct"])), 3)}  # fmt: skip


def results(name: str, program, nets: dict) -> dict | None:
    try:
        x, y = load_arrays("fashion-mnist", "test")
    except DataError:
        return None
    runs = {form: net.run(x, STEPS) for form, net in nets.items()}
    reference = program.run(x, engine="reference").logits.argmax(1)
    stepped, at_once = runs["winograd"], runs["winograd + bits at once"]
    assert np.array_equal(stepped.logits, at_once.logits), "bits at once changed the logits"
    assert stepped.spikes == at_once.spikes and stepped.sops == at_once.sops, "bits at once changed the counts"
    direct, fast = runs["direct"], runs["winograd"]
    spikes = (sum(fast.spikes.values()), sum(direct.spikes.values()))
    sops = (sum(fast.sops.values()), sum(direct.sops.values()))
    return {"network": name, "images": len(x),
            "accuracy": {"direct": float(np.mean(direct.logits.argmax(1) == y)),
                         "winograd": float(np.mean(fast.logits.argmax(1) == y))},
            "predictions_differ": int(np.sum(direct.logits.argmax(1) != fast.logits.argmax(1))),
            "reference_predictions_differ": {"direct": int(np.sum(direct.logits.argmax(1) != reference)),
                                             "winograd": int(np.sum(fast.logits.argmax(1) != reference))},
            "spikes_relative_change": (spikes[0] - spikes[1]) / spikes[1],
            "sops_relative_change": (sops[0] - sops[1]) / sops[1],
            "largest_logit_difference": float(np.abs(direct.logits - fast.logits).max()),
            "bits_at_once_identical": True}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "winograd.json"))
    args = parser.parse_args()
    out = {"command": "python bench/winograd.py" + (f" --rounds {args.rounds}" if args.rounds != 5 else ""),
           "threads": 1, "T": STEPS, "min_channels": winograd.MIN_CHANNELS, "min_tiles": winograd.MIN_TILES,
           "layers": [], "networks": [], "results": []}  # fmt: skip
    for name in NETWORKS:
        program, images = program_and_images(name)
        out["layers"] += layers(name, program.graph, images, args.rounds)
        nets = {form: network(program.graph, *switches) for form, switches in FORMS.items()}
        out["networks"].append(whole(name, nets, images, args.rounds))
        print(json.dumps(out["networks"][-1]), flush=True)
        if name.startswith("fmnist"):
            found = results(name, program, nets)
            if found is not None:
                out["results"].append(found)
                print(json.dumps(found), flush=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
