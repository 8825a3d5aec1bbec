"""The MSAT neuron kernel (snnc.ir.ops_snn.MsatNeuron), in runtime.snn's operation order:

    V += I;  θ_t = θ_max (t = 0), else θ_max·sigmoid(z),
    z = τ_mp·(α·Δ + V_T + k_a·softplus(Δ/k_i)) + τ_rd·exp(−I/C),  Δ = V_prev − V̄;
    s = [V ≥ θ_t] (γ = 1) or clamp(floor(V/θ_t), 0, γ);  V −= s·θ_t;  out = s·θ_t,

with the spikes of the first `mask_steps` steps scaled by the confidence mask. V_prev, the
post-reset V of the last step, is the membrane before this step's input; `total` sums them.

θ_t (three exp and a log) is most of the work, and it only matters where the neuron can fire:
where V + I < θ_t, s = 0 and V, out = 0 are the same for any threshold above V + I, θ_max
among them (θ_t ≤ θ_max). So per tile of THRESHOLD_TILE neurons, the kernel lists those that
pass a cheap test that no neuron able to fire fails (`may_fire`: a lower bound of θ_t from z's
terms, with no exp or log), and computes θ_t for those only; the others fire against θ_max.
On the Fashion-MNIST fixtures 13–15 % of neuron-steps pass the test (11–13 % fire), where
51 % pass V + I ≥ 0, the test it replaces.

θ_max, where the layer has one (per-layer balancing, the default), is read once per call, not
per neuron: no θ stream to read per neuron and step, none to pack (VGG 1.05×). It stays a
run-time value, so recalibrating reuses the object code.

Where convolutions read the layer, the kernel also lists each pixel's spikes for them
(neurons.list_spikes), a tile at a time while they are in L1, and a residual add before it is
summed as its input is read (neurons.synaptic_current), as the IF kernel does.
"""

from __future__ import annotations

import math

from llvmlite import ir
from snnc.targets.cpu import mathlib
from snnc.targets.cpu.irbuild import (
    F32,
    I1,
    I32,
    I64,
    Function,
    add_count,
    constant_typed,
    f32,
    i64,
    load_typed,
    splat,
    type_suffix,
)
from snnc.targets.cpu.listing import list_where
from snnc.targets.cpu.llvm import vector_width
from snnc.targets.cpu.neurons import list_spikes, synaptic_current, with_optional_record

# Neurons listed at a time: the list, the packs and the thresholds (4 KB each) stay in L1.
# 1024 rather than 512 halves the padding of the threshold loop's last iteration (VGG 1.02×).
THRESHOLD_TILE = 1024
# The threshold is a chain of ~60 dependent operations per vector, more than the core's
# scheduler sees past; the vectorizer is asked to run vectors side by side, how many by lanes.
# 4 made the kernel 1.5× faster when half the neuron-steps were listed (cd27c0e); now that
# 13–15 % are, AVX-512's 16 lanes do best with 2 (whole MSAT T = 32 runs against 4, paired,
# 7 rounds: VGG fixture 0.92×, ResNet 0.93×; 1 vector: 0.99×, 0.98×). Narrower vectors keep 4.
THRESHOLD_INTERLEAVE = {4: 4, 8: 4, 16: 2}
SKIP_BOUNDED = True  # tests set False: θ_t computed for every neuron, to compare with
# The lower bound of θ_t is taken BOUND_MARGIN lower, 4× more than a rounding of z moves θ_t
# where z's terms are at most BOUND_RANGE in size (hyperparameters ≥ 0 that sum to at most
# TRUSTED_SCALE keep them there wherever the bound is above 0; see may_fire).
BOUND_MARGIN = 2.0**-8
BOUND_RANGE = 256.0
TRUSTED_SCALE = 8.0


def msat(f: Function, k: dict) -> None:
    """One step of an MSAT layer (the module docstring has the math)."""
    b, a = f.b, f.args
    spikes = f.variable(I32, ir.Constant(I32, 0))  # i32 lanes: 8 to a vector where i64 gives 4
    adapting = b.icmp_signed("!=", a["step"], i64(0))
    elapsed = b.sitofp(a["step"], F32)
    confidence = confidence_window(f, k)
    # Whole iterations of the vectorized threshold loop: a scalar remainder of up to unit − 1
    # neurons per tile would cost as much as the vectors; the extra slots compute garbage and
    # store it to thresholds[THRESHOLD_TILE], a slot no neuron reads.
    interleave = THRESHOLD_INTERLEAVE[vector_width()]
    unit = vector_width() * interleave
    listed, thresholds = f.scratch(THRESHOLD_TILE + unit, I32), f.scratch(THRESHOLD_TILE + 1)
    uniform = "layer_theta" in k  # one θ_max for the whole layer: read once, not per neuron
    layer_theta = f.load(a["layer_theta"], 0) if uniform else None
    packed_names = ("delta", "current") if uniform else ("delta", "current", "theta")
    packed = {name: f.scratch(THRESHOLD_TILE + unit) for name in packed_names}

    def theta_max(i, typ):
        """θ_max of neuron i (a vector of them, as typ is)."""
        if not uniform:
            return load_typed(f, a["theta"], i, typ)
        return splat(f, layer_theta, typ) if isinstance(typ, ir.VectorType) else layer_theta

    def potential(i, typ):
        """V + I, before the spike."""
        return b.fadd(load_typed(f, a["membrane"], i, typ), synaptic_current(f, k, i, typ))

    def threshold_inputs(i, typ) -> dict:
        """What θ_t reads, for neuron i (a vector of them, as typ is): Δ = V_prev − V̄, I, θ_max."""
        span = splat(f, elapsed, typ) if isinstance(typ, ir.VectorType) else elapsed
        mean = b.fdiv(load_typed(f, a["total"], i, typ), span)
        delta = b.fsub(load_typed(f, a["membrane"], i, typ), mean)
        return dict(delta=delta, current=synaptic_current(f, k, i, typ), theta=theta_max(i, typ))

    def listable(i, typ):
        """Whether θ_t is computed for neuron i."""
        if not SKIP_BOUNDED:
            return _true(typ)
        inputs = threshold_inputs(i, typ)
        return may_fire(f, k, potential(i, typ), inputs["delta"], inputs["current"], inputs["theta"])

    def adapted_thresholds(start, length) -> None:
        """thresholds[j] = θ_t of neuron start + j where it may fire, θ_max elsewhere."""
        with f.loop(length) as j:
            f.store(theta_max(b.add(start, j), F32), thresholds, j)

        def pack(name):  # LLVM computes each block's inputs once, for the test and the packs
            return lambda j, typ: threshold_inputs(b.add(start, j), typ)[name], packed[name]

        packs = [pack(name) for name in packed]
        count = list_where(f, length, lambda j, typ: listable(b.add(start, j), typ), listed, packs)
        with f.loop(unit) as r:
            f.store(ir.Constant(I32, THRESHOLD_TILE), listed, b.add(count, r))
        whole = b.and_(b.add(count, i64(unit - 1)), i64(-unit))
        with f.loop(whole, interleave) as q:
            delta, current = f.load(packed["delta"], q), f.load(packed["current"], q)
            theta = layer_theta if uniform else f.load(packed["theta"], q)
            f.store(_msat_threshold(f, k, theta, delta, current), thresholds, b.sext(f.load(listed, q), I64))

    def fire(start, length, record: bool) -> None:
        with f.loop(length) as j:
            i = b.add(start, j)
            v = potential(i, F32)
            theta = b.select(adapting, f.load(thresholds, j), theta_max(i, F32))
            if k["burst"] == 1:
                fired = b.uitofp(b.fcmp_ordered(">=", v, theta), F32)
            else:
                floor = f.intrinsic("llvm.floor.f32", F32, [F32])
                ratio = b.call(floor, [b.fdiv(v, theta)])
                ratio = b.select(b.fcmp_ordered(">", ratio, f32(0.0)), ratio, f32(0.0))
                fired = b.select(b.fcmp_ordered("<", ratio, f32(k["burst"])), ratio, f32(k["burst"]))
            v = b.fsub(v, b.fmul(fired, theta))
            if confidence is not None:
                in_window, keep = confidence
                fired = b.select(in_window, b.fmul(fired, keep(i)), fired)
            f.store(v, a["membrane"], i)
            f.store(b.fadd(f.load(a["total"], i), v), a["total"], i)
            sent = b.fmul(fired, theta)
            f.store(sent, a["dst"], i)
            f.add_to(spikes, b.fptosi(fired, I32))
            if record:  # what the step sends (float32: plan.value_records)
                f.store(sent, b.bitcast(a["record"], F32.as_pointer()), i)

    listed_per_tile = "events" in k and THRESHOLD_TILE % k["channels"] == 0

    def update(record: bool) -> None:
        with f.tiles(k["n"], THRESHOLD_TILE) as (start, length):
            with b.if_then(adapting):
                adapted_thresholds(start, length)
            fire(start, length, record)
            if listed_per_tile:  # the tile's pixels, while their spikes are in L1
                first = b.udiv(start, i64(k["channels"]))
                with f.loop(b.udiv(length, i64(k["channels"]))) as p:
                    list_spikes(f, k, b.add(first, p))
        if "events" in k and not listed_per_tile:
            with f.loop(k["n"] // k["channels"]) as p:
                list_spikes(f, k, p)

    with_optional_record(f, update)
    add_count(f, k, b.sext(b.load(spikes), I64))


def may_fire(f: Function, k: dict, v, delta, current, theta_max):
    """False only where V + I = v < θ_t for sure: v < θ_max·σ_lo·(1 − BOUND_MARGIN), with σ_lo a
    lower bound of sigmoid(z) from a lower bound z_lo of z, piecewise linear in Δ and I:

        softplus(x) ≥ max(0, ln 2 + x/2)   (the tangent at 0 of a convex function)
        exp(y) ≥ max(0, 1 + y)
        sigmoid(z) ≥ (1 + z)/(2 + z) = W/(1 + W) with W = max(0, 1 + z)   (e^−z ≤ 1/(1 + z))

    In units scaled by s = θ_max (normalized units; s = 1 in absolute ones) no division is
    needed: with W = max(0, s + s·z_lo), v ≥ θ_max·W/(s + W) is v·(s + W) ≥ θ_max·W. About 20
    vector operations for 8 neurons, against ~60 per vector for θ_t itself.
    (τ_mp·k_a < 0: softplus(x) ≤ max(0, x) + ln 2 bounds that term; τ_rd < 0: no cheap bound,
    and the test is v ≥ 0.) NaN passes.

    How close the computed θ_t is to the true one: with α, τ_mp, k_a, τ_rd ≥ 0 the terms of z
    can only cancel where z_lo ≤ −1 (the bound is 0) or where they are all moderate, since the
    true terms outgrow their bounds (e^y against 1 + y, softplus against its tangent); rounding
    then moves θ_t by far less than the margin. With other signs (α·Δ against softplus, say),
    a neuron whose terms exceed BOUND_RANGE is listed, which keeps the rounding of z small."""
    at_or_above_zero = f.b.fcmp_unordered(">=", v, constant_typed(v.type, 0.0))
    tau_mp = k["tau_mp"] if k["use_dtt"] else 0.0
    tau_rd = k["tau_rd"] if k["use_det"] else 0.0
    if tau_rd < 0 or abs(tau_mp) * (1 + abs(k["k_a"])) > BOUND_RANGE:
        return at_or_above_zero
    s = theta_max if k["units"] == "normalized" else constant_typed(v.type, 1.0)
    w = _scaled_bound(f, k, s, delta, current, theta_max)
    b, margin = f.b, constant_typed(v.type, 1.0 - BOUND_MARGIN)
    reaches = b.fcmp_unordered(">=", b.fmul(v, b.fadd(s, w)), b.fmul(b.fmul(theta_max, margin), w))
    trusted = min(k["alpha"], tau_mp, k["k_a"], tau_rd) >= 0 and tau_mp * (1 + k["k_a"]) + tau_rd <= TRUSTED_SCALE
    return reaches if trusted else b.or_(reaches, b.not_(_in_range(f, k, s, delta, current, theta_max)))


def _scaled_bound(f: Function, k: dict, s, delta, current, theta_max):
    """W = max(0, s + s·z_lo) = max(0, τ_mp·α·Δ − τ_mp·θ_max + s + softplus term + exp term)."""
    b, typ = f.b, delta.type
    tau_mp = k["tau_mp"] if k["use_dtt"] else 0.0

    def c(value):
        return constant_typed(typ, float(value))

    def muladd(x, y, z):
        return b.call(f.intrinsic(f"llvm.fmuladd.{type_suffix(typ)}", typ, [typ] * 3), [x, y, z])

    def positive_part(x):
        return mathlib.maximum(f, x, c(0.0))

    offset = b.fmul(theta_max, c(1.0 - tau_mp)) if k["units"] == "normalized" else muladd(theta_max, c(-tau_mp), c(1))
    w = muladd(delta, c(tau_mp * k["alpha"]), offset)
    if k["use_dtt"]:
        scale = tau_mp * k["k_a"]  # of softplus(Δ/k_i)
        if scale >= 0:  # scale·max(0, ln 2 + x/2)
            softplus = positive_part(muladd(delta, c(scale / (2 * k["k_i"])), b.fmul(s, c(scale * math.log(2)))))
        else:  # scale·(max(0, x) + ln 2)
            linear = b.fmul(delta, c(scale / k["k_i"]))
            softplus = muladd(s, c(scale * math.log(2)), mathlib.minimum(f, linear, c(0.0)))
        w = b.fadd(w, softplus)
    if k["use_det"]:  # τ_rd·max(0, 1 − I/C)
        w = b.fadd(w, positive_part(muladd(current, c(-k["tau_rd"] / k["c_det"]), b.fmul(s, c(k["tau_rd"])))))
    return positive_part(w)


def _in_range(f: Function, k: dict, s, delta, current, theta_max):
    """|τ_mp|·(|α| + |k_a|/k_i)·|Δ| ≤ BOUND_RANGE·s and τ_rd·exp(−I/(C·s)) ≤ BOUND_RANGE (θ_max > 0):
    where z's terms are small enough for the margin to cover their rounding."""
    b, typ = f.b, delta.type
    inside = b.fcmp_ordered(">", theta_max, constant_typed(typ, 0.0))
    tau_mp = k["tau_mp"] if k["use_dtt"] else 0.0
    size = abs(tau_mp) * (abs(k["alpha"]) + abs(k["k_a"]) / k["k_i"])
    if size > 0:
        magnitude = b.call(f.intrinsic(f"llvm.fabs.{type_suffix(typ)}", typ, [typ]), [delta])
        limit = b.fmul(s, constant_typed(typ, BOUND_RANGE / size))
        inside = b.and_(inside, b.fcmp_ordered("<=", magnitude, limit))
    if k["use_det"] and k["tau_rd"] > 0:
        floor = b.fmul(s, constant_typed(typ, -k["c_det"] * math.log(BOUND_RANGE / k["tau_rd"])))
        inside = b.and_(inside, b.fcmp_ordered(">=", current, floor))
    return inside


def _true(typ: ir.Type) -> ir.Constant:
    """An i1 true, or a vector of them as wide as typ."""
    return constant_typed(ir.VectorType(I1, typ.count) if isinstance(typ, ir.VectorType) else I1, 1)


def confidence_window(f: Function, k: dict):
    """MSAT's spike confidence, which scales the spikes of the first k["mask_steps"] steps by
    mask[step, i]: (whether this step is in that window, i → mask[step, i]), or None when the
    layer has no mask (outside the window row 0 is read, and the select ignores it)."""
    if k["mask_steps"] == 0:
        return None
    b, step = f.b, f.args["step"]
    in_window = b.icmp_signed("<", step, i64(k["mask_steps"]))
    row = b.mul(b.select(in_window, step, i64(0)), i64(k["n"]))
    return in_window, lambda i: f.load(f.args["mask"], b.add(row, i))


def _msat_threshold(f: Function, k: dict, theta_max, delta, current):
    """θ_t = θ_max·sigmoid(z), z = τ_mp·(α·Δ + V_T + k_a·softplus(Δ/k_i)) + τ_rd·exp(−I/C), in
    snnc.models.msat.threshold's operation order (normalized units: Δ, I in units of θ_max)."""
    b = f.b
    if k["units"] == "normalized":
        delta, current = b.fdiv(delta, theta_max), b.fdiv(current, theta_max)
    vt = f32(-1.0) if k["units"] == "normalized" else b.fneg(theta_max)
    z = f32(0.0)
    if k["use_dtt"]:
        softplus = mathlib.softplus(f, b.fdiv(delta, f32(k["k_i"])))
        dtt = b.fadd(b.fadd(b.fmul(f32(k["alpha"]), delta), vt), b.fmul(f32(k["k_a"]), softplus))
        z = b.fadd(z, b.fmul(f32(k["tau_mp"]), dtt))
    if k["use_det"]:
        z = b.fadd(z, b.fmul(f32(k["tau_rd"]), mathlib.exp(f, b.fdiv(b.fneg(current), f32(k["c_det"])))))
    e = mathlib.exp(f, b.fneg(z))
    return b.fmul(theta_max, b.fdiv(f32(1.0), b.fadd(f32(1.0), e)))
