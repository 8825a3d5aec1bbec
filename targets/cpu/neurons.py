"""Kernel builders for the time-stepped parts: IF and iLIF neuron layers (MSAT has msat.py) and
the readout (accumulation, the per-step estimate trace, the adaptive-exit check, the final
mean). Their semantics are the reference simulator's (runtime/snn.py, runtime/adaptive.py),
operation for operation, so that float32 results agree up to the last bit.
"""

from __future__ import annotations

import math

from llvmlite import ir
from snnc.targets.cpu.irbuild import (
    F32,
    I1,
    I8,
    I32,
    I64,
    Function,
    add_count,
    constant_typed,
    i64,
    load_typed,
    splat,
    store_typed,
    type_suffix,
)
from snnc.targets.cpu.llvm import vector_width
from snnc.targets.cpu.synapses import list_events


def integrate_and_fire(f: Function, k: dict) -> None:
    """V += I; s = [V ≥ θ]; V −= s·θ (or V = 0); out = s·θ; record s. With k["channels"] = C
    (a multiple of the vector width), θ is read per channel (channel_theta[c] for the
    channels-last element p·C + c), not per neuron: one stream less to read per step; the loop
    over a pixel's channels is written in vectors. With k["events"], the kernel also lists each
    pixel's spikes for the event-driven synapses that read this layer (synapses.list_events)."""
    b, a = f.b, f.args
    lanes = vector_width()
    channels = k.get("channels")
    if channels is None or channels % lanes:
        channels, lanes = None, 1
    floats, ints = (ir.VectorType(F32, lanes), ir.VectorType(I32, lanes)) if lanes > 1 else (F32, I32)
    spikes = f.variable(ints, constant_typed(ints, 0))  # i32 lanes: 8 to a vector where i64 gives 4

    def neurons(i, theta, record: bool) -> None:
        v = b.fadd(load_typed(f, a["membrane"], i, floats), synaptic_current(f, k, i, floats))
        fired = b.fcmp_ordered(">=", v, theta)
        after = b.fsub(v, theta) if k["reset"] == "subtract" else constant_typed(floats, 0.0)
        store_typed(f, b.select(fired, after, v), a["membrane"], i)
        store_typed(f, b.select(fired, theta, constant_typed(floats, 0.0)), a["dst"], i)
        b.store(b.add(b.load(spikes), b.zext(fired, ints)), spikes)
        if record:
            store_typed(f, b.zext(fired, ir.VectorType(I8, lanes) if lanes > 1 else I8), a["record"], i)

    def update(record: bool) -> None:
        if channels is None:
            with f.loop(k["n"]) as i:
                neurons(i, f.load(a["theta"], i), record)
            if "events" in k:
                with f.loop(k["n"] // k["channels"]) as p:
                    list_spikes(f, k, p)
            return

        def pixel_vector(p, c) -> None:
            neurons(b.add(b.mul(p, i64(channels)), c), load_typed(f, a["channel_theta"], c, floats), record)

        vectors = channels // lanes
        with f.loop(k["n"] // channels) as p:
            if vectors <= UNROLLED_VECTORS:  # a pixel's channels written out: no inner loop
                for j in range(vectors):
                    pixel_vector(p, i64(j * lanes))
            else:
                with f.loop(vectors) as j:
                    pixel_vector(p, b.mul(j, i64(lanes)))
            if "events" in k:  # the pixel's spikes while they are in L1
                list_spikes(f, k, p)

    with_optional_record(f, update)
    total = b.load(spikes)
    if lanes > 1:
        total = b.call(f.intrinsic(f"llvm.vector.reduce.add.{type_suffix(ints)}", I32, [ints]), [total])
    add_count(f, k, b.sext(total, I64))


UNROLLED_VECTORS = 4  # channel vectors per pixel up to which IF's loop over them is written out


def synaptic_current(f: Function, k: dict, i, typ: ir.Type):
    """I of neuron i (a vector of neurons from i, as typ is): src[i], or the residual add fused
    into the neuron's kernel, addends0[i] + addends1[i] + …, left to right as the add kernel sums."""
    inputs = [f"addends{j}" for j in range(len(k["addends"]))] if "addends" in k else ["src"]
    total = load_typed(f, f.args[inputs[0]], i, typ)
    for name in inputs[1:]:
        total = f.b.fadd(total, load_typed(f, f.args[name], i, typ))
    return total


def list_spikes(f: Function, k: dict, p) -> None:
    """events[p·C …] = the channels of pixel p that spiked (dst ≠ 0), event_counts[p] = how
    many (C = k["channels"]): the lists the event-driven synapses after this layer would
    otherwise make, each of them, made while the spikes are in L1."""
    b, a = f.b, f.args
    first = b.mul(p, i64(k["channels"]))
    count = list_events(f, k["channels"], f.at(a["dst"], first), f.at(a["events"], first))
    f.store(b.trunc(count, I32), a["event_counts"], p)


def ilif(f: Function, k: dict) -> None:
    """Emission of T bits: V = I + v_init·θ·2^−T; T times V ← 2V, s = [V ≥ θ], V −= s·θ.
    out = θ·(bits as a T-bit integer)·2^−T, the value the spikes encode; mask = the bits.
    ILIF_VECTORS vectors of neurons run all T steps in registers (the steps are a loop inside
    the one over the neurons; the vectors' chains are independent, so they overlap), so the
    layer is read and written once, not once per step."""
    lanes = vector_width()
    spikes = f.variable(I64, i64(0))

    def emit(record: bool) -> None:
        width = lanes * ILIF_VECTORS
        blocks = k["n"] // width
        with f.loop(blocks) as block:
            _ilif_neurons(f, k, f.b.mul(block, i64(width)), lanes, ILIF_VECTORS, spikes, record)
        for first in range(blocks * width, k["n"] // lanes * lanes, lanes):
            _ilif_neurons(f, k, i64(first), lanes, 1, spikes, record)
        for first in range(k["n"] // lanes * lanes, k["n"]):
            _ilif_neurons(f, k, i64(first), 1, 1, spikes, record)

    with_optional_record(f, emit)
    add_count(f, k, f.b.load(spikes))


ILIF_VECTORS = 4  # vectors of neurons stepped together: four independent dependency chains


def _ilif_neurons(f: Function, k: dict, first, lanes: int, vectors: int, spikes, record: bool) -> None:
    """iLIF for `vectors` vectors of `lanes` neurons from `first` (lanes = 1: one neuron)."""
    b, a = f.b, f.args
    floats, ints = (ir.VectorType(F32, lanes), ir.VectorType(I32, lanes)) if lanes > 1 else (F32, I32)

    starts = [b.add(first, i64(j * lanes)) for j in range(vectors)]
    scale = splat(f, a["scale"], floats) if lanes > 1 else a["scale"]
    thetas = [load_typed(f, a["theta"], start, floats) for start in starts]
    potentials, masks = [], []
    for start, theta in zip(starts, thetas):
        bias = b.fmul(b.fmul(constant_typed(floats, k["v_init"]), theta), scale)
        potentials.append(f.variable(floats, b.fadd(load_typed(f, a["src"], start, floats), bias)))
        masks.append(f.variable(ints, constant_typed(ints, 0)))

    def stepped() -> None:
        with f.loop(a["T"]) as step:
            for start, theta, v, mask in zip(starts, thetas, potentials, masks):
                doubled = b.fmul(b.load(v), constant_typed(floats, 2.0))
                fired = b.fcmp_ordered(">=", doubled, theta)
                b.store(b.select(fired, b.fsub(doubled, theta), doubled), v)
                b.store(b.or_(b.shl(b.load(mask), constant_typed(ints, 1)), b.zext(fired, ints)), mask)
                if record:
                    bits = b.zext(fired, ir.VectorType(I8, lanes) if lanes > 1 else I8)
                    store_typed(f, bits, a["record"], b.add(b.mul(step, i64(k["n"])), start))

    if record or not ILIF_CLOSED_FORM:  # a record needs each step's bits as they are made
        stepped()
    else:
        closed = b.and_(b.icmp_signed("<=", a["T"], i64(CLOSED_FORM_STEPS)), _closed_form_thetas(f, thetas))
        with b.if_else(closed) as (at_once, step_by_step):
            with at_once:
                for theta, v, mask in zip(thetas, potentials, masks):
                    b.store(_bits_at_once(f, b.load(v), theta, scale, ints), mask)
            with step_by_step:
                stepped()
    for start, theta, mask in zip(starts, thetas, masks):
        bits = b.load(mask)
        store_typed(f, b.fmul(b.fmul(theta, b.uitofp(bits, floats)), scale), a["dst"], start)
        store_typed(f, bits, a["mask"], start)
        count = b.call(f.intrinsic(f"llvm.ctpop.{type_suffix(ints)}", ints, [ints]), [bits])
        if lanes > 1:
            count = b.call(f.intrinsic(f"llvm.vector.reduce.add.{type_suffix(ints)}", I32, [ints]), [count])
        f.add_to(spikes, b.zext(count, I64))


# The T steps' bits at once (below) where T ≤ CLOSED_FORM_STEPS: the product a·(1/θ) is then
# within 2^(T−23) < 1 of a/θ, so the floor is off by at most one, which the remainder corrects.
CLOSED_FORM_STEPS = 20
CLOSED_FORM_THETA = 2.0**100  # θ up to this: 2^T·V < 2^T·θ cannot overflow
ILIF_CLOSED_FORM = True  # tests set False to compare with the step-by-step form


def _bits_at_once(f: Function, v, theta, scale, ints):
    """The bits the T steps make from V (V ← 2V, s = [V ≥ θ], V −= s·θ), in one pass:
    V ≥ θ: all T (V stays ≥ θ); V < 0 (or NaN): none; else the integer q = ⌊2^T·V/θ⌋, as the
    steps compute it exactly: doubling is exact, and so is each 2V − θ, with θ ≤ 2V < 2θ
    (Sterbenz), so after T steps V_T = 2^T·V − q·θ with 0 ≤ V_T < θ. q is found from
    ⌊2^T·V·(1/θ)⌋ and put right by the sign of the remainder 2^T·V − q·θ, a fused multiply-add
    (one rounding, which keeps the sign): < 0, q is one too many; ≥ θ, one too few."""
    b, typ = f.b, v.type

    def c(value):
        return constant_typed(typ, value)

    fma = f.intrinsic(f"llvm.fma.{type_suffix(typ)}", typ, [typ] * 3)
    power = b.fdiv(c(1.0), scale)  # 2^T (scale is 2^−T)
    scaled = b.fmul(v, power)
    q = b.call(f.intrinsic(f"llvm.floor.{type_suffix(typ)}", typ, [typ]), [b.fmul(scaled, b.fdiv(c(1.0), theta))])
    remainder = b.call(fma, [b.fneg(q), theta, scaled])
    q = b.select(b.fcmp_ordered("<", remainder, c(0.0)), b.fsub(q, c(1.0)), q)
    q = b.select(b.fcmp_ordered(">=", remainder, theta), b.fadd(q, c(1.0)), q)
    q = b.select(b.fcmp_ordered(">=", v, c(0.0)), q, c(0.0))
    q = b.select(b.fcmp_ordered(">=", v, theta), b.fsub(power, c(1.0)), q)
    return b.fptoui(q, ints)


def _closed_form_thetas(f: Function, thetas):
    """Whether every θ is in (0, CLOSED_FORM_THETA] (else the block steps: θ ≤ 0 follows no
    expansion, and 2^T·V might overflow)."""
    b = f.b
    inside = None
    for theta in thetas:
        lanes = b.and_(b.fcmp_ordered(">", theta, constant_typed(theta.type, 0.0)),
                       b.fcmp_ordered("<=", theta, constant_typed(theta.type, CLOSED_FORM_THETA)))  # fmt: skip
        if isinstance(theta.type, ir.VectorType):
            lanes = b.call(f.intrinsic(f"llvm.vector.reduce.and.v{theta.type.count}i1", I1, [lanes.type]), [lanes])
        inside = lanes if inside is None else b.and_(inside, lanes)
    return inside


def with_optional_record(f: Function, body) -> None:
    """Two versions of a neuron loop, so that the common one (not recorded) vectorizes."""
    null = ir.Constant(I8.as_pointer(), None)
    with f.b.if_else(f.b.icmp_unsigned("==", f.args["record"], null)) as (without, with_record):
        with without:
            body(False)
        with with_record:
            body(True)


# -- the readout ---------------------------------------------------------------------------------
def accumulate(f: Function, k: dict) -> None:
    """acc += w_step·I (w = 1 without fitted step weights)."""
    b, a = f.b, f.args
    weight = f.load(a["weights"], a["step"]) if "weights" in k else None
    with f.loop(k["n"]) as i:
        current = f.load(a["src"], i)
        if weight is not None:
            current = b.fmul(current, weight)
        f.store(b.fadd(f.load(a["dst"], i), current), a["dst"], i)


def _estimate(f: Function, i, steps):
    """The readout's estimate acc/(t + 1) of class i."""
    return f.b.fdiv(f.load(f.args["src"], i), steps)


def trace(f: Function, k: dict) -> None:
    """trace[(sample·T + step)·K + i] = the estimate after this step (when a trace is asked for)."""
    b, a = f.b, f.args
    null = ir.Constant(F32.as_pointer(), None)
    with b.if_then(b.icmp_unsigned("!=", a["trace"], null)):
        steps = b.sitofp(b.add(a["step"], i64(1)), F32)
        row = b.mul(b.add(b.mul(a["sample"], a["T"]), a["step"]), i64(k["n"]))
        with f.loop(k["n"]) as i:
            f.store(_estimate(f, i, steps), a["trace"], b.add(row, i))


def exit_check(f: Function, k: dict) -> None:
    """flag = confidence(estimate) ≥ threshold, in runtime.adaptive.confidence's operation order."""
    b, a = f.b, f.args
    steps = b.sitofp(b.add(a["step"], i64(1)), F32)
    running_sum = k["metric"] == "sum-softmax"

    def estimate(i):  # sum-softmax: (acc/(t + 1))·(t + 1), rounded twice as numpy does
        value = _estimate(f, i, steps)
        return b.fmul(value, steps) if running_sum else value

    confidence = readout_confidence(f, estimate, k["n"], k["metric"], F32)
    passed = b.fcmp_ordered(">=", confidence, f.load(a["threshold"], 0))
    f.store(b.zext(passed, I32), a["flag"], 0)


def readout_confidence(f: Function, estimate, classes: int, metric: str, kind: ir.Type):
    """The confidence of the estimates estimate(i), i < classes (for sum-softmax, `estimate`
    gives the running sums), in runtime.adaptive.confidence's operation order, in float32 or
    float64 (`kind`)."""
    b = f.b
    suffix = "f32" if kind == F32 else "f64"
    exp = f.intrinsic(f"llvm.exp.{suffix}", kind, [kind])
    log = f.intrinsic(f"llvm.log.{suffix}", kind, [kind])
    top, leader = f.variable(kind, ir.Constant(kind, float("-inf"))), f.variable(I64, i64(0))
    with f.loop(classes) as i:
        value = estimate(i)
        leads = b.fcmp_ordered(">", value, b.load(top))
        b.store(b.select(leads, value, b.load(top)), top)
        b.store(b.select(leads, i, b.load(leader)), leader)
    zero, one = ir.Constant(kind, 0.0), ir.Constant(kind, 1.0)
    total, weighted, rest = f.variable(kind, zero), f.variable(kind, zero), f.variable(kind, zero)
    maximum = b.load(top)
    with f.loop(classes) as i:
        z = b.fsub(estimate(i), maximum)
        e = b.call(exp, [z])
        b.store(b.fadd(b.load(total), e), total)
        b.store(b.fadd(b.load(weighted), b.fmul(e, z)), weighted)
        b.store(b.fadd(b.load(rest), b.select(b.icmp_signed("==", i, b.load(leader)), zero, e)), rest)
    if metric == "max-softmax":
        return b.fdiv(one, b.load(total))
    if metric == "sum-softmax":  # 1 − 1/(1 + ln(1 + 1/r)); r = 0 gives ∞ and 1
        log_odds = b.call(log, [b.fadd(one, b.fdiv(one, b.load(rest)))])
        return b.fsub(one, b.fdiv(one, b.fadd(one, log_odds)))
    entropy = b.fsub(b.call(log, [b.load(total)]), b.fdiv(b.load(weighted), b.load(total)))
    return b.fsub(one, b.fdiv(entropy, ir.Constant(kind, math.log(classes))))


def mean(f: Function, k: dict) -> None:
    """out = acc / steps run (T, or the exit step + 1)."""
    steps = f.b.sitofp(f.args["T"], F32)
    with f.loop(k["n"]) as i:
        f.store(f.b.fdiv(f.load(f.args["src"], i), steps), f.args["dst"], i)
