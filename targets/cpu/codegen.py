"""LLVM IR for a plan: one internal function per kernel (pointer arguments marked noalias, so
the vectorizer needs no runtime overlap checks) and the entry point that runs them per sample:

    void snnc_run(float *input, float *output, int64 *counts, float *params, int32 *index,
                  float *ws, int32 *iws, int8 **records, int64 *steps, float *trace,
                  int64 n, int64 T, float scale)

`records` holds one pointer per neuron layer (null: not recorded) to a (n, T, neurons) uint8
buffer; `steps` receives the steps each sample ran (T, or fewer after an adaptive exit);
`trace` (or null) a (n, T, K) float buffer of the readout's per-step estimates. Loop bounds and
offsets are constants; T and the parameter values are not.
"""

from __future__ import annotations

from llvmlite import ir
from snnc.targets.cpu import neurons
from snnc.targets.cpu.irbuild import ENTRY, F32, I1, I8, I32, I64, Function, add_count, element, f32, i64, step_loop
from snnc.targets.cpu.llvm import module_header, vector_width
from snnc.targets.cpu.plan import Kernel, Plan, Region

__all__ = ["ENTRY", "generate"]


def pointer_args(kernel: Kernel, extra: dict[str, ir.Type]) -> list[tuple[str, ir.Type]]:
    """The kernel's regions as typed pointer arguments (in a fixed order), then the extras."""
    args = []
    for key, value in kernel.args.items():
        if isinstance(value, Region):
            args.append((key, element(value.space).as_pointer()))
        elif isinstance(value, tuple) and value and isinstance(value[0], Region):
            args += [(f"{key}{i}", element(r.space).as_pointer()) for i, r in enumerate(value)]
    return args + list(extra.items())


# -- kernels: each builds the body of one function ---------------------------------------------
def weighted(f: Function, k: dict) -> None:
    """A convolution (a dense layer is a 1×1 one), in the form that suits its input."""
    if k["mode"] == "spikes":
        scatter_synapses(f, k)
    else:
        gather_synapses(f, k)


def scatter_synapses(f: Function, k: dict) -> None:
    """Event-driven form for sparse spikes: per input pixel, the channels that spiked are listed
    (a vector compare, then the set bits), and each output row the pixel reaches is updated
    once with all of them, accumulating in registers:
    out[oy, ox, o] += Σ_events x[iy, ix, c] · w[c, ky, kx, o], with oy·SH = iy + PT − ky·DH
    (and the same for x). A silent pixel costs a few vector compares. Weights: (C, KH, KW, Og);
    grouped convolutions take one event at a time."""
    b, a = f.b, f.args
    with f.loop(k["OH"] * k["OW"]) as p, f.loop(k["O"]) as o:
        f.store(f.load(a["bias"], o), a["dst"], b.add(b.mul(p, i64(k["O"])), o))
    with f.loop(k["IH"]) as iy, f.loop(k["IW"]) as ix:
        pixel = b.mul(b.add(b.mul(iy, i64(k["IW"])), ix), i64(k["C"]))
        count = _list_events(f, k, f.at(a["src"], pixel))
        with b.if_then(b.icmp_signed(">", count, i64(0))), f.loop(k["KH"]) as ky:
            oy, valid_y = output_coordinate(f, iy, ky, k["PT"], k["DH"], k["SH"], k["OH"])
            with b.if_then(valid_y), f.loop(k["KW"]) as kx:
                ox, valid_x = output_coordinate(f, ix, kx, k["PL"], k["DW"], k["SW"], k["OW"])
                with b.if_then(valid_x):
                    out = b.mul(b.add(b.mul(oy, i64(k["OW"])), ox), i64(k["O"]))
                    window = b.add(b.mul(ky, i64(k["KW"])), kx)
                    _apply_events(f, k, pixel, count, out, window)


def _list_events(f: Function, k: dict, inputs):
    """Writes the channels c with inputs[c] ≠ 0 to events[0 : count]; returns count (i64)."""
    b, a = f.b, f.args
    lanes = vector_width()
    vector, bitmask = ir.VectorType(F32, lanes), ir.IntType(lanes)
    zero_vector = ir.Constant(vector, [0.0] * lanes)
    cttz = f.intrinsic("llvm.cttz.i32", I32, [I32, I1])
    count = f.variable(I64, i64(0))
    blocks = k["C"] // lanes
    with f.loop(blocks) as block:
        first = b.mul(block, i64(lanes))
        nonzero = b.fcmp_unordered("!=", _load_vector(f, inputs, first, vector), zero_vector)
        pending = f.variable(I32, b.zext(b.bitcast(nonzero, bitmask), I32))
        check, body, done = (b.append_basic_block(n) for n in ("events.check", "events.body", "events.done"))
        b.branch(check)
        b.position_at_end(check)
        b.cbranch(b.icmp_unsigned("!=", b.load(pending), ir.Constant(I32, 0)), body, done)
        b.position_at_end(body)
        bits = b.load(pending)
        b.store(b.and_(bits, b.sub(bits, ir.Constant(I32, 1))), pending)
        channel = b.add(first, b.zext(b.call(cttz, [bits, ir.Constant(I1, 1)]), I64))
        f.store(b.trunc(channel, I32), a["events"], b.load(count))
        f.add_to(count, i64(1))
        b.branch(check)
        b.position_at_end(done)
    for channel in range(blocks * lanes, k["C"]):
        with b.if_then(b.fcmp_unordered("!=", f.load(inputs, channel), f32(0.0))):
            f.store(ir.Constant(I32, channel), a["events"], b.load(count))
            f.add_to(count, i64(1))
    return b.load(count)


def _apply_events(f: Function, k: dict, pixel, count, out, window) -> None:
    """out[out : out + O] += Σ_e x[pixel + c_e] · w[c_e, window, :], a register tile at a time."""
    if k["G"] > 1:
        _apply_events_grouped(f, k, pixel, count, out, window)
        return
    b, a = f.b, f.args
    lanes = vector_width()
    vector = ir.VectorType(F32, lanes)
    fmuladd_vector, fmuladd = _fmuladd(f, vector)
    windows = k["KH"] * k["KW"]
    tile = SCATTER_TILE * lanes
    for start in range(0, k["O"], tile):
        width = min(tile, k["O"] - start)
        vectors, scalars = divmod(width, lanes)
        row = b.add(out, i64(start))
        accs = [f.variable(vector, _load_vector(f, a["dst"], b.add(row, i64(j * lanes)), vector))
                for j in range(vectors)]  # fmt: skip
        tails = [f.variable(F32, f.load(a["dst"], b.add(row, i64(vectors * lanes + j)))) for j in range(scalars)]
        with f.loop(count) as e:
            channel = b.sext(f.load(a["events"], e), I64)
            value = f.load(a["src"], b.add(pixel, channel))
            weights = f.at(a["weight"], b.add(b.mul(b.add(b.mul(channel, i64(windows)), window), i64(k["O"])),
                                              i64(start)))  # fmt: skip
            splat = _splat(f, value, vector)
            for j, acc in enumerate(accs):
                w = _load_vector(f, weights, i64(j * lanes), vector)
                b.store(b.call(fmuladd_vector, [splat, w, b.load(acc)]), acc)
            for j, acc in enumerate(tails):
                b.store(b.call(fmuladd, [value, f.load(weights, vectors * lanes + j), b.load(acc)]), acc)
        for j, acc in enumerate(accs):
            _store_vector(f, b.load(acc), a["dst"], b.add(row, i64(j * lanes)))
        for j, acc in enumerate(tails):
            f.store(b.load(acc), a["dst"], b.add(row, i64(vectors * lanes + j)))


def _apply_events_grouped(f: Function, k: dict, pixel, count, out, window) -> None:
    """Grouped convolutions: one event at a time, into its group's output channels."""
    b, a = f.b, f.args
    per_group_out, per_group_in, windows = k["O"] // k["G"], k["C"] // k["G"], k["KH"] * k["KW"]
    with f.loop(count) as e:
        channel = b.sext(f.load(a["events"], e), I64)
        value = f.load(a["src"], b.add(pixel, channel))
        group_base = b.mul(b.sdiv(channel, i64(per_group_in)), i64(per_group_out))
        weights = f.at(a["weight"], b.mul(b.add(b.mul(channel, i64(windows)), window), i64(per_group_out)))
        outputs = f.at(a["dst"], b.add(out, group_base))
        with f.loop(per_group_out) as j:
            f.store(b.fadd(f.load(outputs, j), b.fmul(value, f.load(weights, j))), outputs, j)


SCATTER_TILE = 8  # accumulator vectors per output row tile in the event-driven form
PIXEL_TILE = 6  # output pixels computed together: each weight vector loaded serves all of them
VECTOR_TILE = 2  # weight vectors per channel tile: 6 × 2 accumulators fit in 16 vector registers


def gather_synapses(f: Function, k: dict) -> None:
    """Dense form for analog values and iLIF (whose inputs are mostly non-zero), register-
    blocked like a GEMM micro-kernel: a tile of output pixels × output channels accumulates in
    vector registers while the window's inputs stream past,
    acc[p, o] += x[iy_p + ky·DH, ix_p + kx·DW, c] · w[g, ky, kx, c, o].
    The input is read from a zero-padded copy (IHp × IWp × C), so no bounds are checked.
    Weights: (G, KH, KW, Cg, Og)."""
    lanes = vector_width()
    per_group_out = k["O"] // k["G"]
    chunks = []
    for start in range(0, per_group_out, VECTOR_TILE * lanes):
        width = min(VECTOR_TILE * lanes, per_group_out - start)
        chunks.append((start, width // lanes, width % lanes))
    positions = k["OH"] * k["OW"]
    with f.loop(k["G"]) as g:
        for start, vectors, scalars in chunks:
            pixels = PIXEL_TILE if vectors else 1
            full, rest = divmod(positions, pixels)
            with f.loop(full) as tile:
                _gather_tile(f, k, g, f.b.mul(tile, i64(pixels)), pixels, start, vectors, scalars)
            if rest:
                _gather_tile(f, k, g, i64(full * pixels), rest, start, vectors, scalars)


def _gather_tile(f: Function, k: dict, g, first, pixels: int, start: int, vectors: int, scalars: int) -> None:
    b, a = f.b, f.args
    lanes = vector_width()
    per_group_out, per_group_in = k["O"] // k["G"], k["C"] // k["G"]
    vector = ir.VectorType(F32, lanes)
    fmuladd_vector, fmuladd = _fmuladd(f, vector)
    channel0 = b.add(b.mul(g, i64(per_group_out)), i64(start))
    padded_width = k["IW"] + k["PL"] + k["PR"]
    bases, outs = [], []
    for p in range(pixels):
        position = b.add(first, i64(p))
        oy, ox = b.sdiv(position, i64(k["OW"])), b.srem(position, i64(k["OW"]))
        pixel = b.add(b.mul(b.mul(oy, i64(k["SH"])), i64(padded_width)), b.mul(ox, i64(k["SW"])))
        bases.append(f.at(a["src"], b.add(b.mul(pixel, i64(k["C"])), b.mul(g, i64(per_group_in)))))
        outs.append(b.add(b.mul(position, i64(k["O"])), channel0))
    vector_accs = [[f.variable(vector, _load_vector(f, a["bias"], b.add(channel0, i64(j * lanes)), vector))
                    for j in range(vectors)] for _ in range(pixels)]  # fmt: skip
    scalar_accs = [[f.variable(F32, f.load(a["bias"], b.add(channel0, i64(vectors * lanes + j))))
                    for j in range(scalars)] for _ in range(pixels)]  # fmt: skip
    with f.loop(k["KH"]) as ky, f.loop(k["KW"]) as kx:
        shift = b.mul(b.add(b.mul(b.mul(ky, i64(k["DH"])), i64(padded_width)), b.mul(kx, i64(k["DW"]))), i64(k["C"]))
        window = b.add(b.mul(b.add(b.mul(g, i64(k["KH"])), ky), i64(k["KW"])), kx)
        weights = f.at(a["weight"], b.add(b.mul(window, i64(per_group_in * per_group_out)), i64(start)))
        with f.loop(per_group_in) as c:
            row = b.mul(c, i64(per_group_out))
            w_vectors = [_load_vector(f, weights, b.add(row, i64(j * lanes)), vector) for j in range(vectors)]
            w_scalars = [f.load(weights, b.add(row, i64(vectors * lanes + j))) for j in range(scalars)]
            for p in range(pixels):
                value = f.load(bases[p], b.add(shift, c))
                splat = _splat(f, value, vector)
                for acc, w in zip(vector_accs[p], w_vectors):
                    b.store(b.call(fmuladd_vector, [splat, w, b.load(acc)]), acc)
                for acc, w in zip(scalar_accs[p], w_scalars):
                    b.store(b.call(fmuladd, [value, w, b.load(acc)]), acc)
    for p in range(pixels):
        for j, acc in enumerate(vector_accs[p]):
            _store_vector(f, b.load(acc), a["dst"], b.add(outs[p], i64(j * lanes)))
        for j, acc in enumerate(scalar_accs[p]):
            f.store(b.load(acc), a["dst"], b.add(outs[p], i64(vectors * lanes + j)))


def _load_vector(f: Function, pointer, index, vector: ir.VectorType):
    return f.b.load(f.b.bitcast(f.at(pointer, index), vector.as_pointer()), align=4)


def _store_vector(f: Function, value, pointer, index) -> None:
    f.b.store(value, f.b.bitcast(f.at(pointer, index), value.type.as_pointer()), align=4)


def _splat(f: Function, value, vector: ir.VectorType):
    """The scalar in every lane (a broadcast)."""
    lanes = vector.count
    first = f.b.insert_element(ir.Constant(vector, None), value, ir.Constant(I32, 0))
    return f.b.shuffle_vector(first, ir.Constant(vector, None), ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))


def _fmuladd(f: Function, vector: ir.VectorType) -> tuple[ir.Function, ir.Function]:
    """llvm.fmuladd for the vector and for one float: a fused multiply-add where the CPU has one."""
    return (f.intrinsic(f"llvm.fmuladd.v{vector.count}f32", vector, [vector] * 3),
            f.intrinsic("llvm.fmuladd.f32", F32, [F32] * 3))  # fmt: skip


def count_events(f: Function, k: dict) -> None:
    """Synaptic operations of a weighted op: Σ_i events_i · fan_out_i, where events are the
    non-zero steps of input i (rate coding) or its spikes (iLIF: bits set in its mask)."""
    b, a = f.b, f.args
    total = f.variable(I64, i64(0))
    popcount = f.intrinsic("llvm.ctpop.i32", I32, [I32])
    with f.loop(k["n"]) as i:
        if k["mode"] == "mask":
            events = b.zext(b.call(popcount, [f.load(a["src"], i)]), I64)
        else:
            events = b.zext(b.fcmp_unordered("!=", f.load(a["src"], i), f32(0.0)), I64)
        f.add_to(total, b.mul(events, b.sext(f.load(a["fan_out"], i), I64)))
    add_count(f, k, b.load(total))


def output_coordinate(f: Function, i, kk, pad: int, dilation: int, stride: int, size: int):
    """(o, valid) with o·stride = i + pad − kk·dilation, 0 ≤ o < size."""
    b = f.b
    shifted = b.sub(b.add(i, i64(pad)), b.mul(kk, i64(dilation)))
    if stride == 1:
        out = shifted
        valid = b.and_(b.icmp_signed(">=", shifted, i64(0)), b.icmp_signed("<", shifted, i64(size)))
    else:
        out = b.sdiv(shifted, i64(stride))
        aligned = b.icmp_signed("==", b.srem(shifted, i64(stride)), i64(0))
        inside = b.and_(b.icmp_signed(">=", shifted, i64(0)), b.icmp_signed("<", out, i64(size)))
        valid = b.and_(aligned, inside)
    return out, valid


def window(f: Function, k: dict) -> None:
    """out[i] = reduce over j of src[map[i·K + j]] (entries < 0 are padding), × coef[i] for sums."""
    b, a = f.b, f.args
    integer = k["reduce"] == "or"
    initial = ir.Constant(I32, 0) if integer else f32(float("-inf") if k["reduce"] == "max" else 0.0)
    with f.loop(k["n"]) as i:
        acc = f.variable(I32 if integer else F32, initial)
        with f.loop(k["K"]) as j:
            source = b.sext(f.load(a["map"], b.add(b.mul(i, i64(k["K"])), j)), I64)
            with b.if_then(b.icmp_signed(">=", source, i64(0))):
                value, current = f.load(a["src"], source), b.load(acc)
                if integer:
                    b.store(b.or_(current, value), acc)
                elif k["reduce"] == "max":
                    b.store(b.select(b.fcmp_ordered(">", value, current), value, current), acc)
                else:
                    b.store(b.fadd(current, value), acc)
        result = b.load(acc)
        if "coef" in k:
            result = b.fmul(result, f.load(a["coef"], i))
        f.store(result, a["dst"], i)


def gate(f: Function, k: dict) -> None:
    """Gated max pooling: count each input's spikes; each window passes the input that has
    fired most so far (ties: the first in window order)."""
    b, a = f.b, f.args
    with f.loop(k["n_in"]) as i:
        fired = b.uitofp(b.fcmp_unordered("!=", f.load(a["src"], i), f32(0.0)), F32)
        f.store(b.fadd(f.load(a["counts"], i), fired), a["counts"], i)
    with f.loop(k["n"]) as i:
        best, passed = f.variable(F32, f32(-1.0)), f.variable(F32, f32(0.0))
        with f.loop(k["K"]) as j:
            source = b.sext(f.load(a["map"], b.add(b.mul(i, i64(k["K"])), j)), I64)
            with b.if_then(b.icmp_signed(">=", source, i64(0))):
                count = f.load(a["counts"], source)
                with b.if_then(b.fcmp_ordered(">", count, b.load(best))):
                    b.store(count, best)
                    b.store(f.load(a["src"], source), passed)
        f.store(b.load(passed), a["dst"], i)


def elementwise_sum(f: Function, k: dict, combine: str) -> None:
    """dst = src0 + src1 + … (left to right, as the reference adds), or their bitwise OR."""
    b, a = f.b, f.args
    sources = [a[f"srcs{i}"] for i in range(len(k["srcs"]))]
    with f.loop(k["n"]) as i:
        total = f.load(sources[0], i)
        for source in sources[1:]:
            total = b.or_(total, f.load(source, i)) if combine == "or" else b.fadd(total, f.load(source, i))
        f.store(total, a["dst"], i)


def affine(f: Function, k: dict) -> None:
    b, a = f.b, f.args
    with f.loop(k["n"]) as i:
        scaled = b.fmul(f.load(a["src"], i), f.load(a["scale"], i))
        f.store(b.fadd(scaled, f.load(a["shift"], i)), a["dst"], i)


def scatter(f: Function, k: dict) -> None:
    with f.loop(k["n"]) as i:
        f.store(f.load(f.args["src"], i), f.args["dst"], f.b.sext(f.load(f.args["map"], i), I64))


def fill(f: Function, k: dict) -> None:
    value = f.args["value"] if "value" in f.args else ir.Constant(element(k["dst"].space), k["value"])
    with f.loop(k["dst"].size) as i:
        f.store(value, f.args["dst"], i)


def scaled_fill(f: Function, k: dict) -> None:
    """The initial membrane v_init·θ."""
    with f.loop(k["n"]) as i:
        f.store(f.b.fmul(f32(k["value"]), f.load(f.args["src"], i)), f.args["dst"], i)


# -- the module --------------------------------------------------------------------------------
KERNEL_BUILDERS = {
    "weighted": (weighted, {}),
    "count-events": (count_events, {"counts": I64.as_pointer()}),
    "window": (window, {}),
    "gate": (gate, {}),
    "add": (lambda f, k: elementwise_sum(f, k, "add"), {}),
    "or": (lambda f, k: elementwise_sum(f, k, "or"), {}),
    "accumulate": (neurons.accumulate, {"step": I64}),
    "trace": (neurons.trace, {"trace": F32.as_pointer(), "sample": I64, "step": I64, "T": I64}),
    "exit-check": (neurons.exit_check, {"step": I64}),
    "mean": (neurons.mean, {"T": I64}),
    "affine": (affine, {}),
    "scatter": (scatter, {}),
    "fill": (fill, {}),
    "scaled-fill": (scaled_fill, {}),
    "if": (neurons.integrate_and_fire, {"counts": I64.as_pointer(), "record": I8.as_pointer()}),
    "ilif": (neurons.ilif, {"counts": I64.as_pointer(), "record": I8.as_pointer(), "T": I64, "scale": F32}),
    "msat": (neurons.msat, {"counts": I64.as_pointer(), "record": I8.as_pointer(), "step": I64}),
}


def generate(plan: Plan, profile: bool = False) -> str:
    """The LLVM IR text of the whole program. With `profile`, each kernel call adds its cycle
    count (llvm.readcyclecounter) to counts[plan.counters + kernel index]."""
    module = ir.Module(name="snnc")
    module.triple, module.data_layout = module_header()
    main = Function(module, ENTRY, [
        ("input", F32.as_pointer()), ("output", F32.as_pointer()), ("counts", I64.as_pointer()),
        ("params", F32.as_pointer()), ("index", I32.as_pointer()), ("ws", F32.as_pointer()),
        ("iws", I32.as_pointer()), ("records", I8.as_pointer().as_pointer()), ("steps", I64.as_pointer()),
        ("trace", F32.as_pointer()), ("n", I64), ("T", I64), ("scale", F32),
    ], internal=False)  # fmt: skip
    functions = [_kernel_function(module, index, kernel) for index, kernel in enumerate(plan.kernels)]
    a, b = main.args, main.b
    with main.loop(a["n"]) as sample:
        bases = {
            "input": main.at(a["input"], b.mul(sample, i64(plan.input_size))),
            "output": main.at(a["output"], b.mul(sample, i64(plan.output_size))),
        }
        calls = lambda phase, **scalars: [  # noqa: E731
            _call(main, bases, fn, kernel, plan.counters + i if profile else None, sample=sample, **scalars)
            for i, (fn, kernel) in enumerate(zip(functions, plan.kernels)) if kernel.phase == phase
        ]  # fmt: skip
        calls("static")
        calls("init")
        steps_run = a["T"]
        if any(k.phase == "step" for k in plan.kernels):
            steps_run = _step_loop(main, plan, lambda step: calls("step", step=step))
        main.store(steps_run, a["steps"], sample)
        calls("final", T=steps_run)
    main.finish()
    return str(module)


def _step_loop(main: Function, plan: Plan, body):
    """for (t = 0; t < T; t++) { body(t); if (exit flag) break; } → the steps run."""
    b, a = main.b, main.args
    stop = None
    if plan.exit_flag is not None:
        flag = main.at(a["iws"], plan.exit_flag.offset)
        stop = lambda: b.icmp_signed("!=", b.load(flag), ir.Constant(I32, 0))  # noqa: E731
    return step_loop(main, a["T"], body, stop)


def _kernel_function(module: ir.Module, index: int, kernel: Kernel) -> ir.Function:
    build, extra = KERNEL_BUILDERS[kernel.kind]
    extra = dict(extra)
    if kernel.kind == "fill" and kernel.args["value"] == "full":
        extra["value"] = I32
    f = Function(module, f"k{index}_{kernel.kind.replace('-', '_')}", pointer_args(kernel, extra))
    build(f, kernel.args)
    f.finish()
    return f.fn


def _call(main: Function, bases: dict, fn: ir.Function, kernel: Kernel, slot, sample, step=None, **scalars) -> None:
    """Call a kernel: regions become pointers into their buffers; other arguments come from
    `scalars` (the phase's step, the steps run) or the entry point's own arguments."""
    b, a = main.b, main.args
    scalars = {"sample": sample, "step": step, **scalars}
    values = []
    for arg in fn.args:
        name = arg.name
        region = kernel.args.get(name)
        if region is None and name.startswith("srcs"):
            region = kernel.args["srcs"][int(name[4:])]
        if isinstance(region, Region):
            base = bases.get(region.space, a.get(region.space))
            values.append(main.at(base, region.offset))
        elif name == "record":
            values.append(_record_pointer(main, kernel, sample, step))
        elif name == "value":  # the all-steps mask (1 << T) − 1
            values.append(b.sub(b.shl(ir.Constant(I32, 1), b.trunc(a["T"], I32)), ir.Constant(I32, 1)))
        elif scalars.get(name) is not None:
            values.append(scalars[name])
        else:
            values.append(a[name])
    if slot is None:
        b.call(fn, values)
        return
    clock = main.intrinsic("llvm.readcyclecounter", I64, [])
    begin = b.call(clock, [])
    b.call(fn, values)
    pointer = main.at(a["counts"], slot)
    b.store(b.add(b.load(pointer), b.sub(b.call(clock, []), begin)), pointer)


def _record_pointer(main: Function, kernel: Kernel, sample, step):
    """records[layer] + (sample·T + step)·n, or null when the layer is not recorded."""
    b, a = main.b, main.args
    base = b.load(main.at(a["records"], kernel.args["layer"]))
    row = b.mul(sample, a["T"])
    if step is not None:
        row = b.add(row, step)
    offset = b.mul(row, i64(kernel.args["n"]))
    null = ir.Constant(I8.as_pointer(), None)
    return b.select(b.icmp_unsigned("==", base, null), null, b.gep(base, [offset]))
