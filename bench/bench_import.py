"""Import + reference execution against onnxruntime's session creation + run, on one model.

    python bench/bench_import.py [MODEL.onnx ...] [--repeats 5] [--batch 1] [--out bench/results/import.jsonl]

Each measurement runs in a fresh subprocess (so peak memory is that run's alone); snnc and
onnxruntime alternate, and the figures are medians over the repeats. Default model: the
largest one the tests use (the onnx package's light VGG-19, 143.7 M parameters).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import onnx

DEFAULT_MODEL = Path(onnx.__file__).parent / "backend/test/data/light/light_vgg19.onnx"

WORKER = r"""
import json, resource, sys, time
import numpy as np
which, path, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
import onnx, onnxruntime as ort, snnc
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if which == "snnc":
    graph = snnc.import_onnx(path)
    name = graph.inputs[0]
    x = np.random.default_rng(0).random(graph.type(name).concrete(batch), dtype=np.float32)
    ready = time.perf_counter()
    snnc.execute(graph, x)
else:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [batch] + [d for d in inp.shape[1:]]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    ready = time.perf_counter()
    session.run(None, {inp.name: x})
end = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"load_s": ready - start, "run_s": end - ready, "total_s": end - start,
                  "peak_mib": peak / 1024, "added_mib": (peak - base) / 1024}))
"""


def measure(which: str, model: Path, batch: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, which, str(model), str(batch)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(model: Path, repeats: int, batch: int) -> dict:
    runs = {"snnc": [], "onnxruntime": []}
    for _ in range(repeats):
        for which in runs:
            runs[which].append(measure(which, model, batch))
    medians = {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for w, rs in runs.items()}
    ratio = {k: medians["snnc"][k] / medians["onnxruntime"][k] for k in ("total_s", "peak_mib", "added_mib")}
    return {"model": model.name, "batch": batch, "repeats": repeats, "median": medians, "snnc/onnxruntime": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, default=[DEFAULT_MODEL])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the results here, a JSON line per model")
    args = parser.parse_args()
    results = []
    for model in args.models:
        result = bench(model, args.repeats, args.batch)
        results.append(result)
        print(json.dumps(result, indent=1))
        snnc_m, ort_m, ratio = result["median"]["snnc"], result["median"]["onnxruntime"], result["snnc/onnxruntime"]
        print(
            f"{model.name}: snnc import+run {snnc_m['total_s']:.2f} s (import {snnc_m['load_s']:.2f} s), "
            f"peak {snnc_m['peak_mib']:.0f} MiB | onnxruntime session+run {ort_m['total_s']:.2f} s, "
            f"peak {ort_m['peak_mib']:.0f} MiB | ratio time {ratio['total_s']:.2f}x, "
            f"peak memory {ratio['peak_mib']:.2f}x"
        )
    if args.out:
        partial = args.out.with_suffix(".partial")
        partial.write_text("".join(json.dumps(r) + "\n" for r in results))
        partial.replace(args.out)


if __name__ == "__main__":
    main()
