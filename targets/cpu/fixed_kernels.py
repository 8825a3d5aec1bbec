"""The fixed-point code's kernels and its entry point (codegen.Numeric hooks for integers), for a
fixed-point plan (fixed_plan.py):

    void snnc_fixed_run(int64 *input, int64 *counts, int64 *readout, int64 *params, int8 *weights,
                        double *fparams, int64 *ws, int8 **records, int64 *steps, int64 n, int64 exits)

per sample: `counts` (T, C) per-step counters, `readout` (T + 1, K) integer readout currents,
`steps` the steps the time loop ran (T unless `exits` is set and the exit check fired),
`records` one (n, T, neurons) uint8 buffer per neuron layer or null. All arithmetic is the
fixed-point reference's (runtime/fixed.py, snnc/models/fixed_msat.py) on int64: shifts are
arithmetic (numpy's >> on int64), and a truncating division is used only where a clamp at 0
follows, where it agrees with numpy's floor division.
"""

from __future__ import annotations

from llvmlite import ir
from snnc.targets.cpu import neurons, vnni
from snnc.targets.cpu.codegen import Numeric
from snnc.targets.cpu.irbuild import I8, I64, Function, i64
from snnc.targets.cpu.layout import Kernel
from snnc.targets.cpu.msat import confidence_window
from snnc.targets.cpu.synapses import output_coordinate

from snnc.models.fixed_msat import LUT_HIGH, LUT_LOW, LUT_SHIFT, ONE

ENTRY = "snnc_fixed_run"
F64 = ir.DoubleType()
ELEMENT = {"input": I64, "ws": I64, "params": I64, "weights": I8, "fparams": F64}


def f64(value: float) -> ir.Constant:
    return ir.Constant(F64, float(value))


# -- synapses and pools ----------------------------------------------------------------------------
def synapse(f: Function, k: dict) -> None:
    """dst += W·(src << shift): a convolution (a dense layer is a 1×1 one) in scatter form,
    out[oy, ox, g·O/G + :O/G] += x[iy, ix, c]·w[c, ky, kx, :] with oy·SH = iy + PT − ky·DH,
    g = c's group, for each non-zero x; or an identity shortcut, dst[i] += x[i]·w[channel of i]."""
    b, a = f.b, f.args
    if k["form"] == "identity":
        with f.loop(k["n"] // k["C"]) as p, f.loop(k["C"]) as c:
            i = b.add(b.mul(p, i64(k["C"])), c)
            value = b.shl(f.load(a["src"], i), i64(k["shift"]))
            f.store(b.add(f.load(a["dst"], i), b.mul(value, b.sext(f.load(a["weight"], c), I64))), a["dst"], i)
        return
    with f.loop(k["IH"]) as iy, f.loop(k["IW"]) as ix, f.loop(k["C"]) as c:
        value = f.load(a["src"], b.add(b.mul(b.add(b.mul(iy, i64(k["IW"])), ix), i64(k["C"])), c))
        with b.if_then(b.icmp_signed("!=", value, i64(0))), f.loop(k["KH"]) as ky:
            value = b.shl(value, i64(k["shift"]))
            oy, valid_y = output_coordinate(f, iy, ky, k["PT"], k["DH"], k["SH"], k["OH"])
            with b.if_then(valid_y), f.loop(k["KW"]) as kx:
                ox, valid_x = output_coordinate(f, ix, kx, k["PL"], k["DW"], k["SW"], k["OW"])
                with b.if_then(valid_x):
                    per_group_out = k["O"] // k["G"]
                    group_base = b.mul(b.sdiv(c, i64(k["C"] // k["G"])), i64(per_group_out))
                    pixel = b.mul(b.add(b.mul(oy, i64(k["OW"])), ox), i64(k["O"]))
                    out = f.at(a["dst"], b.add(pixel, group_base))
                    row = b.add(b.mul(b.add(b.mul(c, i64(k["KH"])), ky), i64(k["KW"])), kx)
                    weights = f.at(a["weight"], b.mul(row, i64(per_group_out)))
                    with f.loop(per_group_out) as o:
                        f.store(b.add(f.load(out, o), b.mul(value, b.sext(f.load(weights, o), I64))), out, o)


def _windows(f: Function, k: dict, visit, padded: bool = False) -> None:
    """For each pooled (py, px, c): visit(output index, [source index per window slot]) in the
    window's row-major order (channel-last layout). `padded`: the window starts PT rows and PL
    columns before the input (k["PT"], k["PL"]), and each slot is (index, inside: i1), its
    index 0 where it lies outside."""
    b = f.b
    with f.loop(k["OH"]) as py, f.loop(k["OW"]) as px, f.loop(k["C"]) as c:
        out = b.add(b.mul(b.add(b.mul(py, i64(k["OW"])), px), i64(k["C"])), c)
        sources = []
        for ky in range(k["KH"]):
            for kx in range(k["KW"]):
                y = b.add(b.mul(py, i64(k["SH"])), i64(ky - (k["PT"] if padded else 0)))
                x = b.add(b.mul(px, i64(k["SW"])), i64(kx - (k["PL"] if padded else 0)))
                index = b.add(b.mul(b.add(b.mul(y, i64(k["IW"])), x), i64(k["C"])), c)
                if padded:
                    inside = b.and_(_below(f, y, k["IH"]), _below(f, x, k["IW"]))
                    index = (b.select(inside, index, i64(0)), inside)
                sources.append(index)
        visit(out, sources)


def _padded(k: dict) -> bool:
    return any(k.get(side, 0) for side in ("PT", "PL", "PB", "PR"))


def _below(f: Function, value, size: int):
    """0 ≤ value < size, as one unsigned compare."""
    return f.b.icmp_unsigned("<", value, i64(size))


def _larger(f: Function, value, best):
    return f.b.select(f.b.icmp_signed(">", value, best), value, best)


def sum_pool(f: Function, k: dict) -> None:
    def visit(out, sources):
        total = i64(0)
        for source in sources:
            total = f.b.add(total, f.load(f.args["src"], source))
        f.store(total, f.args["dst"], out)

    _windows(f, k, visit)


def max_pool(f: Function, k: dict) -> None:
    """The max over each window; a padded cell (outside the input) never wins (runtime/fixed.py max_pool_int)."""
    padded = _padded(k)
    lowest = i64(-(2**63))

    def visit(out, sources):
        best = lowest if padded else f.load(f.args["src"], sources[0])
        for source in sources if padded else sources[1:]:
            if padded:
                index, inside = source
                value = f.b.select(inside, f.load(f.args["src"], index), lowest)
            else:
                value = f.load(f.args["src"], source)
            best = _larger(f, value, best)
        f.store(best, f.args["dst"], out)

    _windows(f, k, visit, padded)


def gate(f: Function, k: dict) -> None:
    """Running max pooling (runtime/fixed.py running_max_pool): sums[j] is what input j has sent
    before this step; each window sends max(sums + src) − max(sums) over its cells inside the
    input. The sums take this step's events after every window has read them (windows may overlap)."""
    b, a = f.b, f.args
    padded = _padded(k)
    lowest = i64(-(2**63))

    def visit(out, sources):
        before, after = lowest, lowest
        for source in sources:
            index, inside = source if padded else (source, None)
            sent = f.load(a["sums"], index)
            now = b.add(sent, f.load(a["src"], index))
            if padded:
                sent, now = b.select(inside, sent, lowest), b.select(inside, now, lowest)
            before, after = _larger(f, sent, before), _larger(f, now, after)
        f.store(b.sub(after, before), a["dst"], out)

    _windows(f, k, visit, padded)
    with f.loop(k["IH"] * k["IW"] * k["C"]) as j:
        f.store(b.add(f.load(a["sums"], j), f.load(a["src"], j)), a["sums"], j)


# -- counters ------------------------------------------------------------------------------------
def _counter(f: Function, k: dict, step):
    """Pointer to counts[step·C + counter] (the plan's C counters per step; the caller passes
    counts at the kernel's counter: codegen.CALL_SITE)."""
    return f.at(f.args["counts"], f.b.mul(step, i64(k["counters"])))


def _add_to_counter(f: Function, k: dict, step, value) -> None:
    pointer = _counter(f, k, step)
    f.b.store(f.b.add(f.b.load(pointer), value), pointer)


def count(f: Function, k: dict) -> None:
    """Synaptic operations this step: Σ_j counts_j·fan_out_j; with k["events"], the counts are
    src_j ≠ 0 (a running max's events are one spike whatever their payload)."""
    b, a = f.b, f.args
    total = f.variable(I64, i64(0))
    with f.loop(k["n"]) as j:
        counts = f.load(a["src"], j)
        if k.get("events"):
            counts = b.zext(b.icmp_signed("!=", counts, i64(0)), I64)
        f.add_to(total, b.mul(counts, f.load(a["fan_out"], j)))
    _add_to_counter(f, k, a["step"], b.load(total))


def count_bits(f: Function, k: dict) -> None:
    """The same per step t from T-bit codes: the spike of step t is bit T − 1 − t (all steps
    in one pass over the codes)."""
    b, a = f.b, f.args
    totals = [f.variable(I64, i64(0)) for _ in range(k["T"])]
    with f.loop(k["n"]) as j:
        code, fan_out = f.load(a["src"], j), f.load(a["fan_out"], j)
        for t, total in enumerate(totals):
            f.add_to(total, b.mul(b.and_(b.ashr(code, i64(k["T"] - 1 - t)), i64(1)), fan_out))
    for t, total in enumerate(totals):
        _add_to_counter(f, k, i64(t), b.load(total))


def bit_plane(f: Function, k: dict) -> None:
    b, a = f.b, f.args
    shift = b.sub(i64(k["T"] - 1), a["step"])
    with f.loop(k["n"]) as j:
        f.store(b.and_(b.ashr(f.load(a["src"], j), shift), i64(1)), a["dst"], j)


# -- neurons -------------------------------------------------------------------------------------
def _input_current(f: Function, k: dict, i):
    """I = W·events + static + B."""
    b, a = f.b, f.args
    current = b.add(f.load(a["current"], i), f.load(a["bias"], i))
    return b.add(current, f.load(a["static"], i)) if "static" in k else current


def integrate_and_fire(f: Function, k: dict) -> None:
    """V += I; s = [V ≥ Θ]; V −= s·Θ (or V = 0)."""
    b, a = f.b, f.args
    spikes = f.variable(I64, i64(0))

    def update(record: bool) -> None:
        with f.loop(k["n"]) as i:
            theta = f.load(a["theta"], i)
            v = b.add(f.load(a["membrane"], i), _input_current(f, k, i))
            fired = b.icmp_signed(">=", v, theta)
            after = b.sub(v, theta) if k["reset"] == "subtract" else i64(0)
            f.store(b.select(fired, after, v), a["membrane"], i)
            f.store(b.zext(fired, I64), a["events"], i)
            f.add_to(spikes, b.zext(fired, I64))
            if record:
                f.store(b.zext(fired, I8), a["record"], i)

    neurons.with_optional_record(f, update)
    _add_to_counter(f, k, a["step"], b.load(spikes))


def _lookup(f: Function, table, u):
    """The nearest of a table's 256 entries: index clamp((u + 8) >> 4, −128, 127) + 128."""
    b = f.b
    index = b.ashr(b.add(u, i64(1 << (LUT_SHIFT - 1))), i64(LUT_SHIFT))
    index = b.select(b.icmp_signed("<", index, i64(LUT_LOW)), i64(LUT_LOW), index)
    index = b.select(b.icmp_signed(">", index, i64(LUT_HIGH)), i64(LUT_HIGH), index)
    return f.load(table, b.sub(index, i64(LUT_LOW)))


def _q8(f: Function, constant: int, value):
    return f.b.ashr(f.b.mul(i64(constant), value), i64(8))


def msat(f: Function, k: dict) -> None:
    """MSAT's threshold unit (snnc/models/fixed_msat.py), element for element: θ_t = Θ at t = 0,
    else max(1, Θ·SIG(DTT + DET) >> 8); s = [V ≥ θ_t] or clamp(V / θ_t, 0, γ); V −= s·θ_t;
    dropped spikes (confidence) keep their charge spent; the event is the payload s·g."""
    b, a = f.b, f.args
    spikes = f.variable(I64, i64(0))
    step = a["step"]
    first = b.icmp_signed("==", step, i64(0))
    elapsed = b.select(first, i64(1), step)
    inverse_step = b.sdiv(b.add(i64(1 << 16), b.sdiv(elapsed, i64(2))), elapsed)  # ⌊2^16/t⌉
    confidence = confidence_window(f, k)

    def update(record: bool) -> None:
        with f.loop(k["n"]) as i:
            theta_max, current = f.load(a["theta"], i), _input_current(f, k, i)
            v = b.add(f.load(a["membrane"], i), current)
            fraction = _msat_fraction(f, k, i, current, inverse_step)
            fraction = b.select(first, i64(ONE), fraction)
            adapted = b.ashr(b.mul(theta_max, fraction), i64(8))
            adapted = b.select(b.icmp_signed("<", adapted, i64(1)), i64(1), adapted)
            theta = b.select(first, theta_max, adapted)
            if k["burst"] == 1:
                fired = b.zext(b.icmp_signed(">=", v, theta), I64)
            else:
                ratio = b.sdiv(v, theta)  # truncated, but the clamp at 0 makes it the floor's
                ratio = b.select(b.icmp_signed("<", ratio, i64(0)), i64(0), ratio)
                fired = b.select(b.icmp_signed(">", ratio, i64(k["burst"])), i64(k["burst"]), ratio)
            v = b.sub(v, b.mul(fired, theta))
            if confidence is not None:
                in_window, keep = confidence
                fired = b.select(in_window, b.mul(fired, b.sext(keep(i), I64)), fired)
            f.store(v, a["membrane"], i)
            f.store(b.add(f.load(a["total"], i), v), a["total"], i)
            f.store(b.mul(fired, fraction), a["events"], i)
            f.store(fired, a["spike_counts"], i)
            f.add_to(spikes, fired)
            if record:
                f.store(b.zext(b.icmp_signed("!=", fired, i64(0)), I8), a["record"], i)

    neurons.with_optional_record(f, update)
    _add_to_counter(f, k, step, b.load(spikes))


def _msat_fraction(f: Function, k: dict, i, current, inverse_step):
    """g = SIG(DTT + DET) in Q8, from the last post-reset membrane (the membrane before this
    step's input), the running mean and the current."""
    b, a = f.b, f.args
    r = f.load(a["reciprocal"], i)
    mean = b.ashr(b.mul(f.load(a["total"], i), inverse_step), i64(16))
    d = b.ashr(b.mul(b.sub(f.load(a["membrane"], i), mean), r), i64(16))
    z = i64(0)
    if k["use_dtt"]:
        u = _q8(f, k["inv_k_i"], d)
        softplus = b.select(b.icmp_signed(">=", u, i64(8 * ONE)), u, _lookup(f, a["softplus"], u))
        inner = b.add(b.sub(_q8(f, k["alpha"], d), i64(ONE)), _q8(f, k["k_a"], softplus))
        z = b.add(z, _q8(f, k["tau_mp"], inner))
    if k["use_det"]:
        x = b.ashr(b.mul(current, r), i64(16))
        z = b.add(z, _q8(f, k["tau_rd"], _lookup(f, a["exp"], b.neg(_q8(f, k["inv_c"], x)))))
    return _lookup(f, a["sigmoid"], z)


def ilif(f: Function, k: dict) -> None:
    """V = P + 2^T·B + v0; T times V ← 2V, s = [V ≥ 2^T·Θ], V −= s·2^T·Θ; the bits, most
    significant first, form the code the next layers read. That is binary long division: the
    code is ⌊V/Θ⌋ clamped to [0, 2^T − 1], computed here in one pass: in float64, then corrected
    in integers (a quotient rounded up to the next integer is one too high), so exactly. Each
    step's spikes are the codes' bit T − 1 − t, counted on the way."""
    b, a = f.b, f.args
    steps = k["T"]
    floor = f.intrinsic("llvm.floor.f64", F64, [F64])

    def emit(record: bool) -> None:
        spikes = [f.variable(I64, i64(0)) for _ in range(steps)]
        with f.loop(k["n"]) as i:
            potential = b.add(f.load(a["src"], i), f.load(a["offset"], i))
            theta = f.load(a["theta"], i)
            quotient = b.fdiv(b.sitofp(potential, F64), b.sitofp(theta, F64))
            quotient = _clamp(b, quotient, f64(-1.0), f64(2.0**steps), b.fcmp_ordered)
            code = b.fptosi(b.call(floor, [quotient]), I64)
            code = b.sub(code, b.zext(b.icmp_signed(">", b.mul(code, theta), potential), I64))
            code = _clamp(b, code, i64(0), i64(2**steps - 1), b.icmp_signed)
            f.store(code, a["events"], i)
            for t, count in enumerate(spikes):
                bit = b.and_(b.lshr(code, i64(steps - 1 - t)), i64(1))
                f.add_to(count, bit)
                if record:
                    f.store(b.trunc(bit, I8), a["record"], b.add(i64(t * k["n"]), i))
        for t, count in enumerate(spikes):
            _add_to_counter(f, k, i64(t), b.load(count))

    neurons.with_optional_record(f, emit)


def _clamp(b: ir.IRBuilder, value, low, high, compare):
    value = b.select(compare("<", value, low), low, value)
    return b.select(compare(">", value, high), high, value)


# -- the readout -----------------------------------------------------------------------------------
def store_row(f: Function, k: dict) -> None:
    """readout[row·K + i] = src[i] (0 without a source)."""
    b, a = f.b, f.args
    row = i64(k["T"]) if k["row"] == "T" else a["step"]
    base = f.at(a["readout"], b.mul(row, i64(k["n"])))
    with f.loop(k["n"]) as i:
        f.store(f.load(a["src"], i) if "src" in a else i64(0), base, i)


def exit_check(f: Function, k: dict) -> None:
    """flag = [confidence ≥ the native threshold], in float64 from sums[i] += w_t·I_i·scale_i.
    The native threshold sits a margin above the calibrated one, so this check never stops a
    sample before the float32 definition would; numpy then finds the exact exit step."""
    b, a = f.b, f.args
    sums = b.bitcast(a["sums"], F64.as_pointer())
    steps = b.sitofp(b.add(a["step"], i64(1)), F64)
    weight = f.load(a["weights"], a["step"]) if "weights" in a else f64(1.0)
    with f.loop(k["n"]) as i:
        current = b.add(f.load(a["current"], i), f.load(a["bias"], i))
        if "static" in a:
            current = b.add(current, f.load(a["static"], i))
        value = b.fmul(b.fmul(b.sitofp(current, F64), f.load(a["scale"], i)), weight)
        f.store(b.fadd(f.load(sums, i), value), sums, i)
    running_sum = k["metric"] == "sum-softmax"

    def estimate(i):  # the running sum itself, or the mean
        return f.load(sums, i) if running_sum else b.fdiv(f.load(sums, i), steps)

    confidence = neurons.readout_confidence(f, estimate, k["n"], k["metric"], F64)
    passed = b.fcmp_ordered(">=", confidence, f.load(a["threshold"], 0))
    f.store(b.zext(passed, I64), a["flag"], 0)


def fill(f: Function, k: dict) -> None:
    with f.loop(k["dst"].size) as i:
        f.store(i64(k["value"]), f.args["dst"], i)


def copy(f: Function, k: dict) -> None:
    with f.loop(k["n"]) as i:
        f.store(f.load(f.args["src"], i), f.args["dst"], i)


COUNTS, RECORD, STEP = I64.as_pointer(), I8.as_pointer(), I64
KERNEL_BUILDERS = {
    "synapse": (synapse, {}),
    "pack-codes": (vnni.pack_codes, {}),
    "vnni-synapse": (vnni.synapse, {}),
    "sum-pool": (sum_pool, {}),
    "max-pool": (max_pool, {}),
    "gate": (gate, {}),
    "count": (count, {"counts": COUNTS, "step": STEP}),
    "count-bits": (count_bits, {"counts": COUNTS}),
    "bit-plane": (bit_plane, {"step": STEP}),
    "if": (integrate_and_fire, {"counts": COUNTS, "record": RECORD, "step": STEP}),
    "msat": (msat, {"counts": COUNTS, "record": RECORD, "step": STEP}),
    "ilif": (ilif, {"counts": COUNTS, "record": RECORD}),
    "store-row": (store_row, {"readout": COUNTS, "step": STEP}),
    "exit-check": (exit_check, {"step": STEP}),
    "fill": (fill, {}),
    "copy": (copy, {}),
}


class Fixed(Numeric):
    """int64 values, int8 weights, float64 exit arithmetic; T a constant; per-sample counters and
    readout rows; the time loop stops on the exit flag only when the call asks for exits."""

    name = "fixed"
    module_name = "snnc_fixed"
    entry = ENTRY
    entry_args = (
        ("input", I64.as_pointer()), ("counts", I64.as_pointer()), ("readout", I64.as_pointer()),
        ("params", I64.as_pointer()), ("weights", I8.as_pointer()), ("fparams", F64.as_pointer()),
        ("ws", I64.as_pointer()), ("records", I8.as_pointer().as_pointer()), ("steps", I64.as_pointer()),
        ("n", I64), ("exits", I64),
    )  # fmt: skip
    kernels = KERNEL_BUILDERS

    def element(self, space: str) -> ir.Type:
        return ELEMENT[space]

    def kernel_args(self, plan, kernel: Kernel) -> dict:
        return {"T": plan.timesteps, "counters": len(plan.counters), **kernel.args}

    def bases(self, main: Function, plan, sample) -> dict:
        a, b = main.args, main.b
        T = plan.timesteps
        return {
            "input": main.at(a["input"], b.mul(sample, i64(plan.input_size))),
            "counts": main.at(a["counts"], b.mul(sample, i64(T * len(plan.counters)))),
            "readout": main.at(a["readout"], b.mul(sample, i64((T + 1) * plan.classes))),
        }

    def timesteps(self, main: Function, plan):
        return i64(plan.timesteps)

    def stop(self, main: Function, plan):
        if plan.exit_flag is None:
            return None
        b, a = main.b, main.args
        flag = main.at(a["ws"], plan.exit_flag.offset)
        return lambda: b.and_(b.icmp_signed("!=", b.load(flag), i64(0)), b.icmp_signed("!=", a["exits"], i64(0)))


FIXED = Fixed()
