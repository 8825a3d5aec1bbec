"""How far IF and MSAT at T = 32 are from what this core can do: their event-driven synapses'
work against the rate at which the core adds weight rows, measured.

    python bench/bounds.py [--rounds 5] [--out bench/results/bounds.json]

1. Event adds, a microkernel with no snnc kernel in it: acc[j] += w[row_e, j] over events e,
   12 accumulator vectors (the event-driven form's register tile; with AVX-512, 192 floats:
   one weight row of 768 bytes per event), rows drawn from a table of S bytes, 8 KiB to
   16 MiB. Two row orders: uniform at random, and in increasing order within groups of 16 (a
   pixel's events come in channel order); the faster of the two is the rate used below, so
   the bounds are the optimistic ones. Synaptic operations (one float add each) per CPU
   second, median of the rounds. The best rate over the tables of 8–24 KiB stands for L1,
   over 96–384 KiB for L2.
2. The same work with the weights blocked into L1, as a form that tiled a layer's channels
   would run it: a 24 KiB table (a block of input channels for 16 output channels), and per
   pixel its 9 output windows loaded, its events added, the windows stored; by events per
   pixel. Best cases throughout: the windows come from a buffer in L1, and every pixel has the
   same number of events, so the loop's exit is predicted.
3. Per fixture, IF and MSAT at T = 32, batch 64 (the bundled test images, calibration on the
   512 bundled images): the JIT's and onnxruntime's CPU seconds per image, paired rounds
   (as bench/ratios.py); SOPs per image from the run's counts; how the JIT's time splits
   between the event-driven synapse kernels and the rest, from a profiled build's cycles per
   kernel (llvm.readcyclecounter) applied to the unprofiled time.
4. What the ratio to onnxruntime would be with the synapses at the L2 rate (the VGG
   fixture's hidden convolutions hold 36–576 KiB of weights, the ResNet fixture's 2–144 KiB;
   L1 holds 32 KiB), at the blocked rate (the best over the events per pixel) or at the L1
   rate, the rest as measured; with the synapses at the L1 rate
   and nothing else; and SOPs ÷ the ANN's multiply-adds, the ratio if an event add cost what
   one of onnxruntime's multiply-adds does (this core loads 16 floats a cycle and
   multiply-adds 16: the two peaks are the same rate, and onnxruntime runs near its own).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import json
import statistics
import time
from pathlib import Path

import numpy as np
from llvmlite import ir
from ratios import cpu_seconds, inputs, one_thread_session  # the same fixtures and timing
from snnc.targets.cpu import llvm
from snnc.targets.cpu.irbuild import F32, I32, I64, Function, i64, load_vector, store_vector
from snnc.targets.cpu.layout import aligned_zeros
from snnc.targets.cpu.runner import CompiledNetwork

import snnc
from snnc.report import ann_macs

ROOT = Path(__file__).resolve().parents[1]
ACCUMULATORS = 12  # synapses.SCATTER_ACCUMULATORS
TABLE_KIB = (8, 16, 24, 48, 96, 192, 384, 768, 1536, 4096, 16384)
EVENTS = 1 << 17  # per call: 25 M adds
GROUP = 16  # rows in increasing order within groups of this many ("sorted")
L1_KIB, L2_KIB = (8, 16, 24), (96, 192, 384)  # tables whose best rate stands for L1, L2 (here 32 KiB, 1 MiB)
WINDOWS = 9  # blocked: a 3×3 kernel's windows, one vector (16 output channels) each
BLOCKED_KIB = 24  # blocked: the weights of a block of input channels, in L1
OUT_PIXELS = 16  # blocked: the output windows cycle through this many pixels' (9 KiB)
EVENTS_PER_PIXEL = (1, 2, 4, 6, 8, 12)


def event_adds_kernel():
    """void event_adds(float *weights, i32 *rows, i64 events, float *out): the microkernel."""
    args = [("weights", F32.as_pointer()), ("rows", I32.as_pointer()), ("events", I64), ("out", F32.as_pointer())]
    lanes = llvm.vector_width()
    vector = ir.VectorType(F32, lanes)

    def body(f: Function) -> None:
        b, a = f.b, f.args
        accumulators = [f.variable(vector, ir.Constant(vector, [0.0] * lanes)) for _ in range(ACCUMULATORS)]
        with f.loop(a["events"]) as e:
            add_row(f, accumulators, b.sext(f.load(a["rows"], e), I64), vector)
        for j, accumulator in enumerate(accumulators):
            store_vector(f, b.load(accumulator), a["out"], i64(j * lanes))

    return (*native("event_adds", args, body), ACCUMULATORS * lanes)


def add_row(f: Function, accumulators: list, row, vector: ir.VectorType) -> None:
    """accumulators[k] += weights[row, k]: one event (rows as long as the accumulators)."""
    b, lanes = f.b, vector.count
    start = b.mul(row, i64(len(accumulators) * lanes))
    for k, accumulator in enumerate(accumulators):
        weights = load_vector(f, f.args["weights"], b.add(start, i64(k * lanes)), vector)
        b.store(b.fadd(b.load(accumulator), weights), accumulator)


def native(name: str, args: list[tuple[str, ir.Type]], body) -> tuple:
    """(library, ctypes function) for `void name(args)` whose body `body(f)` builds."""
    module = ir.Module(name)
    module.triple, module.data_layout = llvm.module_header()
    f = Function(module, name, args, internal=False)
    body(f)
    f.finish()
    library = llvm.NativeLibrary(llvm.compile_ir(str(module)))
    ctypes_of = {F32.as_pointer(): ctypes.POINTER(ctypes.c_float), I32.as_pointer(): ctypes.POINTER(ctypes.c_int32),
                 I64: ctypes.c_int64}  # fmt: skip
    return library, library.function(name, None, *(ctypes_of[typ] for _, typ in args))


def event_add_rates(rounds: int) -> list[dict]:
    """SOPs per CPU second of the microkernel, per table size and row order."""
    library, function, row_floats = event_adds_kernel()
    rng = np.random.default_rng(0)
    out = np.zeros(row_floats, np.float32)
    rows_out = []
    for kib in TABLE_KIB:
        weights = random_table(rng, kib)
        random_rows = rng.integers(0, weights.size // row_floats, EVENTS).astype(np.int32)
        orders = {"random": random_rows, "sorted": np.sort(random_rows.reshape(-1, GROUP), axis=1).ravel()}
        rates = {}
        for order, rows in orders.items():
            rows = np.ascontiguousarray(rows)  # held here: the pointers below must outlive the calls
            call = functools.partial(function, floats(weights), ints(rows), EVENTS, floats(out))
            rates[order] = rate(call, EVENTS * row_floats, rounds)
        gsops = {f"{order}_gsops": round(speed / 1e9, 2) for order, speed in rates.items()}
        rows_out.append({"table_kib": kib, **gsops})
        print(json.dumps(rows_out[-1]), flush=True)
    del library
    return rows_out


def blocked_adds_kernel():
    """void blocked_adds(float *weights, i32 *rows, i64 pixels, i64 per_pixel, float *out): per
    pixel, its WINDOWS output windows (one vector each) loaded from out, `per_pixel` events added
    into them, and stored back: the event-driven form with its weights blocked into L1."""
    args = [("weights", F32.as_pointer()), ("rows", I32.as_pointer()), ("pixels", I64), ("per_pixel", I64),
            ("out", F32.as_pointer())]  # fmt: skip
    lanes = llvm.vector_width()
    vector = ir.VectorType(F32, lanes)

    def body(f: Function) -> None:
        b, a = f.b, f.args
        with f.loop(a["pixels"]) as p:
            windows = b.mul(b.and_(p, i64(OUT_PIXELS - 1)), i64(WINDOWS * lanes))
            accumulators = [f.variable(vector, load_vector(f, a["out"], b.add(windows, i64(k * lanes)), vector))
                            for k in range(WINDOWS)]  # fmt: skip
            with f.loop(a["per_pixel"]) as j:
                add_row(f, accumulators, b.sext(f.load(a["rows"], b.add(b.mul(p, a["per_pixel"]), j)), I64), vector)
            for k, accumulator in enumerate(accumulators):
                store_vector(f, b.load(accumulator), a["out"], b.add(windows, i64(k * lanes)))

    return (*native("blocked_adds", args, body), WINDOWS * lanes)


def blocked_add_rates(rounds: int) -> list[dict]:
    """SOPs per CPU second with the weights blocked into L1 (a BLOCKED_KIB table, a pixel's
    events in increasing row order), by events per pixel: the weights' best case, and each
    pixel's windows loaded and stored once per block (from a small buffer in L1: their best case
    too; the same number of events at every pixel, so the loop's exit is predicted)."""
    library, function, row_floats = blocked_adds_kernel()
    rng = np.random.default_rng(1)
    weights = random_table(rng, BLOCKED_KIB)
    out = aligned_zeros(OUT_PIXELS * row_floats, np.float32)
    rows_out = []
    for per_pixel in EVENTS_PER_PIXEL:
        pixels = EVENTS // per_pixel
        rows = rng.integers(0, weights.size // row_floats, (pixels, per_pixel)).astype(np.int32)
        rows = np.ascontiguousarray(np.sort(rows, axis=1))
        call = functools.partial(function, floats(weights), ints(rows), pixels, per_pixel, floats(out))
        speed = rate(call, pixels * per_pixel * row_floats, rounds)
        rows_out.append({"events_per_pixel": per_pixel, "gsops": round(speed / 1e9, 2)})
        print(json.dumps(rows_out[-1]), flush=True)
    del library
    return rows_out


def random_table(rng, kib: int) -> np.ndarray:
    """kib KiB of weights, starting on a cache line as the kernels' do (else a load may straddle two)."""
    weights = aligned_zeros(kib * 1024 // 4, np.float32)
    weights[:] = rng.standard_normal(weights.size)
    return weights


def floats(array: np.ndarray):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def ints(array: np.ndarray):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))


def rate(call, adds: int, rounds: int) -> float:
    """Adds per CPU second of `call` (which makes `adds` adds): median over rounds of 8 calls, after one."""
    call()
    times = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(8):
            call()
        times.append(time.process_time() - start)
    return 8 * adds / statistics.median(times)


def best_rate(rates: list[dict], kibs) -> float:
    """The faster row order's rate (SOPs per second), the best over the tables of `kibs` KiB."""
    chosen = [r for r in rates if r["table_kib"] in kibs]
    return 1e9 * max(max(r["random_gsops"], r["sorted_gsops"]) for r in chosen)


def network_row(name: str, neuron: str, rounds: int, rate_l1: float, rate_l2: float, rate_blocked: float) -> dict:
    """The JIT against onnxruntime, the synapses' share and SOPs, and the bounds, for one fixture."""
    steps = 32
    model, calibration, test = inputs(name)
    program = snnc.compile(model, "cpu", steps, calibration=calibration, neuron=neuron)
    session = one_thread_session(model)
    feed = {session.get_inputs()[0].name: test}
    result = program.run(test, threads=1)
    session.run(None, feed)  # warm-up
    times = [(cpu_seconds(lambda: program.run(test, threads=1)), cpu_seconds(lambda: session.run(None, feed)))
             for _ in range(rounds)]  # fmt: skip
    jit_s = statistics.median(j for j, _ in times) / len(test)
    ann_s = statistics.median(a for _, a in times) / len(test)
    layers, synapse_share = synapse_layers(program, test, steps, result.sops)
    sops = sum(layer["sops_per_image"] for layer in layers)
    macs = ann_macs(program.graph)
    synapse_s, rest_s = synapse_share * jit_s, (1 - synapse_share) * jit_s
    for layer in layers:
        layer["gsops"] = round(layer["sops_per_image"] / (layer["share"] * jit_s) / 1e9, 2)
        layer["sops_per_image"] = int(layer["sops_per_image"])
        del layer["share"]
    return {"network": name, "neuron": neuron, "T": steps, "batch": len(test),
            "jit_ms_per_image": round(1e3 * jit_s, 4), "ann_ms_per_image": round(1e3 * ann_s, 4),
            "jit_over_ann": round(statistics.median(j / a for j, a in times), 3),
            "sops_per_image": int(sops), "synapse_share": round(synapse_share, 3),
            "synapse_gsops": round(sops / synapse_s / 1e9, 2),
            "bound_l2": round((sops / rate_l2 + rest_s) / ann_s, 2),
            "bound_l1": round((sops / rate_l1 + rest_s) / ann_s, 2),
            "bound_blocked": round((sops / rate_blocked + rest_s) / ann_s, 2),
            "floor_l1": round(sops / rate_l1 / ann_s, 2), "ann_macs_per_image": int(macs),
            "ann_gmacs": round(macs / ann_s / 1e9, 1), "sops_over_macs": round(sops / macs, 2),
            "layers": layers}  # fmt: skip


def synapse_layers(program, test, steps: int, sops: dict) -> tuple[list[dict], float]:
    """Each event-driven layer's weights, SOPs per image and share of the cycles (profiled
    build), and the synapses' share of all cycles."""
    network = CompiledNetwork(program.graph, cache=None, profile=True)
    network.run(test, steps, threads=1)
    network.kernel_cycles[:] = 0
    network.run(test, steps, threads=1)
    total = network.kernel_cycles.sum()
    layers = []
    for kernel, cycles in zip(network.plan.kernels, network.kernel_cycles):
        k = kernel.args
        if kernel.kind != "weighted" or kernel.phase != "step" or k.get("mode") != "spikes":
            continue
        weights = k["C"] * k["KH"] * k["KW"] * (k["O"] // k["G"]) * 4
        layers.append({"layer": kernel.node, "weight_kib": round(weights / 1024, 1),
                       "sops_per_image": sops[kernel.node] / len(test), "share": cycles / total})  # fmt: skip
    return layers, sum(layer["share"] for layer in layers)


def plot(result: dict, path: Path) -> None:
    """The microkernel's rate against its table's size, with each fixture layer's achieved rate at its weights' size."""
    from snnc.plotting import pyplot, save_figure

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.5))
    kib = [r["table_kib"] for r in result["event_adds"]]
    for order in ("random", "sorted"):
        rates = [r[f"{order}_gsops"] for r in result["event_adds"]]
        axis.plot(kib, rates, marker="o", label=f"event adds, {order} rows")
    for row, marker in zip(result["networks"], "sDv^"):
        label = f"{row['network'].removeprefix('fmnist_')} {row['neuron'].upper()} T = {row['T']} layers"
        axis.scatter([layer["weight_kib"] for layer in row["layers"]], [layer["gsops"] for layer in row["layers"]],
                     marker=marker, label=label)  # fmt: skip
    axis.set_xscale("log")
    axis.set_xlabel("weight table (KiB)")
    axis.set_ylabel("G synaptic operations / CPU s")
    axis.set_ylim(bottom=0)
    axis.axvline(32, color="grey", linestyle=":")
    axis.axvline(1024, color="grey", linestyle=":")
    axis.legend(fontsize=8)
    axis.set_title("Event adds against the weights' size, L1 (32 KiB) and L2 (1 MiB) dotted; the fixtures' layers")
    save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "bounds.json"))
    args = parser.parse_args()
    rates = event_add_rates(args.rounds)
    blocked = blocked_add_rates(args.rounds)
    rate_blocked = 1e9 * max(r["gsops"] for r in blocked)
    rate_l1, rate_l2 = best_rate(rates, L1_KIB), best_rate(rates, L2_KIB)
    networks = []
    for name in ("fmnist_vgg", "fmnist_resnet"):
        for neuron in ("if", "msat"):
            networks.append(network_row(name, neuron, args.rounds, rate_l1, rate_l2, rate_blocked))
            print(json.dumps({key: value for key, value in networks[-1].items() if key != "layers"}), flush=True)
    result = {"command": "python bench/bounds.py" + (f" --rounds {args.rounds}" if args.rounds != 5 else ""),
              "threads": 1, "l1_table_kib": list(L1_KIB), "l2_table_kib": list(L2_KIB),
              "l1_gsops": round(rate_l1 / 1e9, 2), "l2_gsops": round(rate_l2 / 1e9, 2),
              "blocked_gsops": round(rate_blocked / 1e9, 2),
              "event_adds": rates, "blocked_kib": BLOCKED_KIB, "blocked_adds": blocked,
              "networks": networks}  # fmt: skip
    out = Path(args.out)
    temporary = out.with_suffix(".tmp")
    temporary.write_text(json.dumps(result, indent=1) + "\n")
    temporary.replace(out)
    plot(result, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
