"""The float32 code's kernels and its entry point (codegen.Numeric hooks for float32).

    void snnc_run(float *input, float *output, int64 *counts, float *params, int32 *index,
                  float *ws, int32 *iws, int8 **records, int64 *steps, float *trace,
                  int64 n, int64 T, float scale)

`records` holds one pointer per neuron layer (null: not recorded) to a (n, T, neurons) uint8
buffer; `steps` receives the steps each sample ran (T, or fewer after an adaptive exit);
`trace` (or null) a (n, T, K) float buffer of the readout's per-step estimates. Loop bounds and
offsets are constants; T and the parameter values are not. The kernels of weighted layers are
in synapses.py, those of neurons and the readout in neurons.py and msat.py; the layout kernels
(windows, gates, sums, copies) are here.
"""

from __future__ import annotations

from llvmlite import ir
from snnc.targets.cpu import msat, neurons, synapses, winograd
from snnc.targets.cpu.codegen import Numeric
from snnc.targets.cpu.irbuild import ENTRY, F32, I8, I32, I64, Function, element, f32, i64

_LOWEST = f32(float("-inf"))  # where a max starts; a padded cell, never a maximum


# -- kernels: each builds the body of one function (weighted layers: synapses.py) --------------
def window(f: Function, k: dict) -> None:
    """out[i] = reduce over j of src[map[i·K + j]] (entries < 0 are padding), × coef[i] for sums.
    With k["channels"] = C, the map has a row per output pixel p (its channel-0 sources) and
    out[p·C + c] reduces src[map[p·K + j] + c]: the loop over c is contiguous and vectorizes."""
    b, a = f.b, f.args
    initial = _window_initial(k["reduce"])
    if "channels" not in k:
        with f.loop(k["n"]) as i:
            acc = f.variable(initial.type, initial)
            with f.loop(k["K"]) as j:
                source = b.sext(f.load(a["map"], b.add(b.mul(i, i64(k["K"])), j)), I64)
                with b.if_then(b.icmp_signed(">=", source, i64(0))):
                    b.store(_window_combine(f, k["reduce"], b.load(acc), f.load(a["src"], source)), acc)
            _window_store(f, k, b.load(acc), i)
        return
    channels = k["channels"]
    with f.loop(k["n"]) as p:
        row = f.at(a["dst"], b.mul(p, i64(channels)))
        with f.loop(channels) as c:
            f.store(initial, row, c)
        with f.loop(k["K"]) as j:
            source = b.sext(f.load(a["map"], b.add(b.mul(p, i64(k["K"])), j)), I64)
            with b.if_then(b.icmp_signed(">=", source, i64(0))), f.loop(channels) as c:
                f.store(_window_combine(f, k["reduce"], f.load(row, c), f.load(a["src"], b.add(source, c))), row, c)
        if "coef" in k:
            with f.loop(channels) as c:
                _window_store(f, k, f.load(row, c), b.add(b.mul(p, i64(channels)), c))


def _window_initial(reduce: str) -> ir.Constant:
    return ir.Constant(I32, 0) if reduce == "or" else (_LOWEST if reduce == "max" else f32(0.0))


def _window_combine(f: Function, reduce: str, current, value):
    b = f.b
    if reduce == "or":
        return b.or_(current, value)
    if reduce == "max":
        return _larger(f, value, current)
    return b.fadd(current, value)


def _window_store(f: Function, k: dict, result, i) -> None:
    if "coef" in k:
        result = f.b.fmul(result, f.load(f.args["coef"], i))
    f.store(result, f.args["dst"], i)


def gate(f: Function, k: dict) -> None:
    """Running max pooling (runtime/snn.py _gated_max_pool): sums[i] is what input i has sent
    before this step; each window sends max(sums + src) − max(sums) over its inputs, padding
    excluded. The sums take this step's values after every window has read them (windows may
    overlap), or as they are read where each input is in exactly one window (k["fused_count"])."""
    b, a = f.b, f.args
    if "channels" in k:
        _gate_along_channels(f, k)
    else:
        with f.loop(k["n"]) as i:  # selects, not branches: which input leads is data, and unpredictable
            before, after = f.variable(F32, _LOWEST), f.variable(F32, _LOWEST)
            with f.loop(k["K"]) as j:
                source = b.sext(f.load(a["map"], b.add(b.mul(i, i64(k["K"])), j)), I64)
                valid = b.icmp_signed(">=", source, i64(0))
                sent, now = _sent_before_and_after(f, b.select(valid, source, i64(0)), valid)
                b.store(_larger(f, sent, b.load(before)), before)
                b.store(_larger(f, now, b.load(after)), after)
            f.store(b.fsub(b.load(after), b.load(before)), a["dst"], i)
    if not k.get("fused_count"):
        with f.loop(k["n_in"]) as i:
            f.store(b.fadd(f.load(a["sums"], i), f.load(a["src"], i)), a["sums"], i)


def _sent_before_and_after(f: Function, i, valid=None):
    """Input i's sum before and after this step's value; −inf for padding (`valid` false)."""
    sent = f.load(f.args["sums"], i)
    now = f.b.fadd(sent, f.load(f.args["src"], i))
    if valid is None:
        return sent, now
    return f.b.select(valid, sent, _LOWEST), f.b.select(valid, now, _LOWEST)


def _larger(f: Function, value, best):
    return f.b.select(f.b.fcmp_ordered(">", value, best), value, best)


def _gate_along_channels(f: Function, k: dict) -> None:
    """The gate with a map row per output pixel (see window). The window's K sources are
    unrolled inside the loop over the channels, so the maxima stay in registers and the loop
    vectorizes. With k["fused_count"] (every input in exactly one window, no padding), the
    sums are updated here as they are read, not in a pass of their own."""
    b, a = f.b, f.args
    channels = k["channels"]
    with f.loop(k["n"]) as p:
        sources = []
        for j in range(k["K"]):
            source = b.sext(f.load(a["map"], b.add(b.mul(p, i64(k["K"])), i64(j))), I64)
            valid = b.icmp_signed(">=", source, i64(0))
            sources.append((b.select(valid, source, i64(0)), valid))
        row = f.at(a["dst"], b.mul(p, i64(channels)))
        with f.loop(channels) as c:
            before, after = _LOWEST, _LOWEST
            for source, valid in sources:
                i = b.add(source, c)
                if k.get("fused_count"):
                    sent, now = _sent_before_and_after(f, i)
                    f.store(now, a["sums"], i)
                else:
                    sent, now = _sent_before_and_after(f, i, valid)
                before, after = _larger(f, sent, before), _larger(f, now, after)
            f.store(b.fsub(after, before), row, c)


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


def pad(f: Function, k: dict) -> None:
    """The input inside a zero border (plan.zero_padded): row r of the input, IW·C floats, to
    dst[((r + PT)·(IW + PL + PR) + PL)·C …]. Contiguous rows: the copy vectorizes."""
    b, a = f.b, f.args
    row, padded_row = k["IW"] * k["C"], (k["IW"] + k["PL"] + k["PR"]) * k["C"]
    with f.loop(k["IH"]) as r:
        source = f.at(a["src"], b.mul(r, i64(row)))
        target = f.at(a["dst"], b.add(b.mul(r, i64(padded_row)), i64(k["PT"] * padded_row + k["PL"] * k["C"])))
        with f.loop(row) as i:
            f.store(f.load(source, i), target, i)


def fill(f: Function, k: dict) -> None:
    value = f.args["value"] if "value" in f.args else ir.Constant(element(k["dst"].space), k["value"])
    with f.loop(k["dst"].size) as i:
        f.store(value, f.args["dst"], i)


def scaled_fill(f: Function, k: dict) -> None:
    """The initial membrane v_init·θ."""
    with f.loop(k["n"]) as i:
        f.store(f.b.fmul(f32(k["value"]), f.load(f.args["src"], i)), f.args["dst"], i)


KERNEL_BUILDERS = {
    "weighted": (synapses.weighted, {}),
    "count-events": (synapses.count_events, {"counts": I64.as_pointer()}),
    "winograd-input": (winograd.winograd_input, {}),
    "winograd-output": (winograd.winograd_output, {}),
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
    "pad": (pad, {}),
    "fill": (fill, {}),
    "scaled-fill": (scaled_fill, {}),
    "if": (neurons.integrate_and_fire, {"counts": I64.as_pointer(), "record": I8.as_pointer()}),
    "ilif": (neurons.ilif, {"counts": I64.as_pointer(), "record": I8.as_pointer(), "T": I64, "scale": F32}),
    "msat": (msat.msat, {"counts": I64.as_pointer(), "record": I8.as_pointer(), "step": I64}),
}


class Float(Numeric):
    """float32 values, run-time T and parameters; a final phase; exits flagged in iws."""

    name = "float"
    module_name = "snnc"
    entry = ENTRY
    entry_args = (
        ("input", F32.as_pointer()), ("output", F32.as_pointer()), ("counts", I64.as_pointer()),
        ("params", F32.as_pointer()), ("index", I32.as_pointer()), ("ws", F32.as_pointer()),
        ("iws", I32.as_pointer()), ("records", I8.as_pointer().as_pointer()), ("steps", I64.as_pointer()),
        ("trace", F32.as_pointer()), ("n", I64), ("T", I64), ("scale", F32),
    )  # fmt: skip
    kernels = KERNEL_BUILDERS

    def element(self, space: str) -> ir.Type:
        return element(space)

    def extra_args(self, kernel) -> dict:
        extra = {}
        if kernel.kind == "fill" and kernel.args["value"] == "full":
            extra["value"] = I32
        if kernel.kind == "weighted" and "counter" in kernel.args:  # the event-driven form counts its SOPs
            extra["counts"] = I64.as_pointer()
        return extra

    def bases(self, main, plan, sample) -> dict:
        a, b = main.args, main.b
        return {
            "input": main.at(a["input"], b.mul(sample, i64(plan.input_size))),
            "output": main.at(a["output"], b.mul(sample, i64(plan.output_size))),
        }

    def timesteps(self, main, plan):
        return main.args["T"]

    def stop(self, main, plan):
        if plan.exit_flag is None:
            return None
        flag = main.at(main.args["iws"], plan.exit_flag.offset)
        return lambda: main.b.icmp_signed("!=", main.b.load(flag), ir.Constant(I32, 0))

    def special_argument(self, main, name: str):
        if name == "value":  # the all-steps mask (1 << T) − 1
            b = main.b
            return b.sub(b.shl(ir.Constant(I32, 1), b.trunc(main.args["T"], I32)), ir.Constant(I32, 1))
        return None


FLOAT = Float()
