"""JIT time ÷ onnxruntime's ANN time, one thread each, paired rounds: the cpu target's speed
against the network it came from.

    python bench/ratios.py [--rounds 5] [--out bench/results/ratios.json] [--neurons msat,...]

(`--neurons`: only those rows are measured again; the others stay as the file has them.)

Configurations: both Fashion-MNIST fixtures × iLIF T=8, IF T=32 and MSAT T=32 at batch 64, and
iLIF T=8 at batch 1 (64 calls of one image, against 64 such calls of onnxruntime); CIFAR
ResNet-18 (`snnc zoo`, seed 0) iLIF T=8 at batch 64. Every iLIF configuration runs in both
numeric modes: float32 ("native") and the fixed-point mode ("native-fixed": int8 weights, the
accelerator's numbers; its hidden synapses on VNNI where the CPU has it). Fixtures calibrate on the 512 bundled
calibration images and run the bundled test images; the CIFAR network on uniform random
images (seed 1). Each round times the compiled program, then onnxruntime, on the same inputs
(CPU seconds of this process); the figure is the median of the per-round ratios. Fixture rows
at batch 64 also give the engine's accuracy on the full Fashion-MNIST test set (10,000 images;
`apt-get install dataset-fashion-mnist`; skipped without it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import snnc
from snnc import zoo
from snnc.data import load_arrays
from snnc.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [(fixture, neuron, steps, batch, engine) for fixture in ("fmnist_vgg", "fmnist_resnet")
           for neuron, steps, batch in (("ilif", 8, 64), ("ilif", 8, 1), ("if", 32, 64), ("msat", 32, 64))
           for engine in (("native", "native-fixed") if neuron == "ilif" else ("native",))]  # fmt: skip
CONFIGS += [("cifar-resnet18", "ilif", 8, 64, engine) for engine in ("native", "native-fixed")]


def inputs(name: str) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(the ONNX model, calibration images, test images)."""
    if name.startswith("fmnist"):
        calibration = np.load(ROOT / "examples" / "fmnist_calib.npz")["x"]
        test = np.load(ROOT / "examples" / "fmnist_test.npz")["x"][:64]
        return (ROOT / "examples" / f"{name}.onnx").read_bytes(), calibration, test
    rng = np.random.default_rng(1)
    calibration, test = (rng.random((64, 3, 32, 32), dtype=np.float32) for _ in range(2))
    return zoo.build(name, seed=0).SerializeToString(), calibration, test


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def one_thread_session(model: bytes) -> ort.InferenceSession:
    """onnxruntime on one thread, as the JIT runs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def ratio(name: str, neuron: str, steps: int, batch: int, engine: str, rounds: int) -> dict:
    model, calibration, test = inputs(name)
    program = snnc.compile(model, "cpu", steps, calibration=calibration, neuron=neuron)
    session = one_thread_session(model)
    feed_name = session.get_inputs()[0].name
    chunks = [test[i : i + batch] for i in range(0, len(test), batch)]

    def jit() -> None:
        for chunk in chunks:
            program.run(chunk, threads=1, engine=engine)

    def ann() -> None:
        for chunk in chunks:
            session.run(None, {feed_name: chunk})

    jit()
    ann()  # warm-up: the object code is loaded, onnxruntime has planned its memory
    times = [(cpu_seconds(jit), cpu_seconds(ann)) for _ in range(rounds)]
    accuracy = test_accuracy(program, engine) if name.startswith("fmnist") and batch == 64 else None
    return {"network": name, "neuron": neuron, "T": steps, "batch": batch, "engine": engine, "accuracy": accuracy,
            "jit_ms_per_image": round(1e3 * statistics.median(j for j, _ in times) / len(test), 4),
            "ann_ms_per_image": round(1e3 * statistics.median(a for _, a in times) / len(test), 4),
            "jit_over_ann": round(statistics.median(j / a for j, a in times), 3)}  # fmt: skip


def test_accuracy(program, engine: str) -> float | None:
    try:
        x, y = load_arrays("fashion-mnist", "test")
    except DataError:
        return None
    return float(np.mean(program.run(x, engine=engine).logits.argmax(1) == y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ratios.json"))
    parser.add_argument("--neurons", help="measure only these neuron models' rows again (comma-separated)")
    args = parser.parse_args()
    kept = json.loads(Path(args.out).read_text())["rows"] if args.neurons else []
    chosen = args.neurons.split(",") if args.neurons else None
    key = lambda row: (row["network"], row["neuron"], row["T"], row["batch"], row["engine"])  # noqa: E731
    rows = {key(row): row for row in kept}
    for config in CONFIGS:
        if chosen is None or config[1] in chosen:
            row = ratio(*config, args.rounds)
            rows[key(row)] = row
            print(json.dumps(row), flush=True)
    result = {"command": "python bench/ratios.py" + (f" --rounds {args.rounds}" if args.rounds != 5 else ""),
              "threads": 1, "rows": list(rows.values())}  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
