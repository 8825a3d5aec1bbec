"""Kernel builders for weighted layers (convolutions; a dense layer is a 1×1 one): the
event-driven form for spikes, the dense register-blocked form for analog values and iLIF's bit
masks, and the SOP counter. Weights are laid out per form by plan._conv_geometry."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from llvmlite import ir
from snnc.targets.cpu.irbuild import (
    F32,
    I32,
    I64,
    Function,
    add_count,
    constant_typed,
    i64,
    load_typed,
    load_vector,
    splat,
    store_typed,
    store_vector,
)
from snnc.targets.cpu.listing import list_where
from snnc.targets.cpu.llvm import vector_registers, vector_width


def weighted(f: Function, k: dict) -> None:
    """A convolution (a dense layer is a 1×1 one), in the form that suits its input."""
    if k["mode"] == "spikes":
        scatter_synapses(f, k)
    elif k.get("depthwise"):
        depthwise_synapses(f, k)
    else:
        gather_synapses(f, k)


def scatter_synapses(f: Function, k: dict) -> None:
    """Event-driven form for sparse spikes: per input pixel, the channels that spiked are listed
    (a vector compare, then the set bits; with k["listed"], the IF or MSAT kernel that made the
    spikes has listed them already, per pixel, while they were in L1), and the output windows
    the pixel reaches are updated with all of them, accumulating in registers:
    out[oy, ox, o] += Σ_events x[iy, ix, c] · w[c, ky, kx, o], with oy·SH = iy + PT − ky·DH
    (and the same for x). A silent pixel costs a few vector compares. The windows a pixel
    reaches share one pass over its events where they fit the register tile: all those of a
    kernel row (all KW at stride 1; at stride SW, the columns with kx·DW ≡ ix + PL mod SW, which
    the loops know as they run over ix in groups of SW), and those of several rows where a row's
    windows take few registers (16 channels), away from the borders. More independent
    accumulators per event, so the adds are not waiting on each other (an FMA's latency is 4
    cycles; one window of 16 channels is 2 vectors), and fewer loops over the events.
    The synaptic operations are counted on the way, events × the pixel's fan-out (count_events
    counts them for the other forms).
    Weights: (C, KH, KW, Og); grouped convolutions take one event at a time."""
    b, a = f.b, f.args
    _fill_with_bias(f, k)
    wide = I32 if k["narrow"] else I64
    sops = f.variable(wide, ir.Constant(wide, 0))

    def pixel_events(iy, ix, rows: list[int], columns: list[int]) -> None:
        index = b.add(b.mul(iy, i64(k["IW"])), ix)
        pixel = b.mul(index, i64(k["C"]))
        if k.get("listed"):  # the neuron kernel before listed them: events[pixel …], event_counts[index]
            count = b.sext(f.load(a["event_counts"], index), I64)
        else:
            count = list_events(f, k["C"], f.at(a["src"], pixel), a["events"])
        with b.if_then(b.icmp_signed(">", count, i64(0))):
            fan_out = f.load(a["fan_out"], index)
            if wide is I32:
                f.add_to(sops, b.mul(b.trunc(count, I32), fan_out))
            else:
                f.add_to(sops, b.mul(count, b.sext(fan_out, I64)))
            _pixel_into_outputs(f, k, pixel, count, iy, ix, rows, columns)

    def input_row(iy, row_residue: int) -> None:
        rows = reaching(row_residue, k["PT"], k["DH"], k["SH"], k["KH"])
        if rows:  # else no output row is reached from here: the pixels' fan-out is 0
            by_residue(f, k["IW"], k["SW"], lambda ix, residue: pixel_events(
                iy, ix, rows, reaching(residue, k["PL"], k["DW"], k["SW"], k["KW"])))  # fmt: skip

    by_residue(f, k["IH"], k["SH"], input_row)
    add_count(f, k, b.load(sops) if wide is I64 else b.zext(b.load(sops), I64))


def _pixel_into_outputs(f: Function, k: dict, pixel, count, iy, ix, rows: list[int], columns: list[int]) -> None:
    """A pixel's events into every output window it reaches, through the kernel rows `rows`
    and columns `columns` (those whose strides line up with (iy, ix)). Away from the borders,
    in passes of as many kernel rows as the register tile holds (16 channels: two rows of three
    windows, 12 vectors; one pass per row takes 3 loops over the events where this takes 2);
    elsewhere, or when a pass holds one row only, row by row."""
    b = f.b
    if not columns:
        return  # no output column is reached from here: the pixel's fan-out is 0
    per_pass = SCATTER_ACCUMULATORS // (len(columns) * -(-k["O"] // vector_width()))
    if k["G"] > 1 or len(rows) < 2 or per_pass < 2 or not ROWS_TOGETHER:
        _row_by_row(f, k, pixel, count, iy, ix, columns)
        return
    out_rows = [output_coordinate(f, iy, i64(ky), k["PT"], k["DH"], k["SH"], k["OH"])[0] for ky in rows]
    out_columns = [output_coordinate(f, ix, i64(kx), k["PL"], k["DW"], k["SW"], k["OW"])[0] for kx in columns]
    inside = b.and_(_within(f, out_rows, k["OH"]), _within(f, out_columns, k["OW"]))
    with b.if_else(inside) as (whole, partial):
        with whole:
            for first in range(0, len(rows), per_pass):
                targets = [_target(f, k, oy, ox, i64(ky), i64(kx))
                           for ky, oy in zip(rows[first : first + per_pass], out_rows[first : first + per_pass])
                           for kx, ox in zip(columns, out_columns)]  # fmt: skip
                _apply_events(f, k, pixel, count, targets)
        with partial:
            _row_by_row(f, k, pixel, count, iy, ix, columns)


def _within(f: Function, outputs: list, size: int):
    """Whether all of `outputs` (decreasing, as the kernel position grows) are in [0, size)."""
    return f.b.and_(f.b.icmp_signed(">=", outputs[-1], i64(0)), f.b.icmp_signed("<", outputs[0], i64(size)))


def _row_by_row(f: Function, k: dict, pixel, count, iy, ix, columns: list[int]) -> None:
    """A pixel's events into the output rows it reaches, one kernel row at a time."""
    b = f.b
    with f.loop(k["KH"]) as ky:
        oy, valid_y = output_coordinate(f, iy, ky, k["PT"], k["DH"], k["SH"], k["OH"])
        with b.if_then(valid_y):
            if k["KW"] > 1 and k["G"] == 1:
                _row_or_windows(f, k, pixel, count, oy, ix, ky, columns)
            else:
                _each_window(f, k, pixel, count, oy, ix, ky)


def reaching(residue: int, pad: int, dilation: int, stride: int, size: int) -> list[int]:
    """The kernel positions kk through which an input position i ≡ residue (mod stride) can
    reach an output: those with (i + pad − kk·dilation) divisible by the stride. A pixel that
    none reaches has no synapses (fan-out 0), and is skipped."""
    return [kk for kk in range(size) if (residue + pad - kk * dilation) % stride == 0]


def by_residue(f: Function, count: int, stride: int, body) -> None:
    """body(i, i mod stride) for i < count, in order, with i mod stride known when the code is
    generated: the loop runs over groups of `stride` positions, written out."""
    b = f.b
    with f.loop(count // stride) as group:
        for residue in range(stride):
            body(b.add(b.mul(group, i64(stride)), i64(residue)), residue)
    for residue in range(count % stride):
        body(i64(count // stride * stride + residue), residue)


def _fill_with_bias(f: Function, k: dict) -> None:
    """dst[p·O + o] = bias[o]: in vectors, with the bias in registers, where O allows."""
    b, a = f.b, f.args
    lanes = vector_width()
    if k["O"] % lanes or k["O"] > SCATTER_ACCUMULATORS * lanes:  # more bias vectors would not stay in registers
        with f.loop(k["OH"] * k["OW"]) as p, f.loop(k["O"]) as o:
            f.store(f.load(a["bias"], o), a["dst"], b.add(b.mul(p, i64(k["O"])), o))
        return
    vector = ir.VectorType(F32, lanes)
    bias = [load_vector(f, a["bias"], i64(j), vector) for j in range(0, k["O"], lanes)]
    with f.loop(k["OH"] * k["OW"]) as p:
        for j, value in enumerate(bias):
            store_vector(f, value, a["dst"], b.add(b.mul(p, i64(k["O"])), i64(j * lanes)))


def _row_or_windows(f: Function, k: dict, pixel, count, oy, ix, ky, columns: list[int]) -> None:
    """A kernel row's windows in one pass when the pixel reaches the output columns of all of
    `columns`, else window by window."""
    b = f.b
    outputs = [output_coordinate(f, ix, i64(kx), k["PL"], k["DW"], k["SW"], k["OW"])[0] for kx in columns]
    whole_row = _within(f, outputs, k["OW"])
    with b.if_else(whole_row) as (whole, partial):
        with whole:
            targets = [_target(f, k, oy, ox, ky, i64(kx)) for kx, ox in zip(columns, outputs)]
            _apply_events(f, k, pixel, count, targets)
        with partial:
            _each_window(f, k, pixel, count, oy, ix, ky)


def _each_window(f: Function, k: dict, pixel, count, oy, ix, ky) -> None:
    """The events of a pixel into one kernel row's windows, one window at a time."""
    b = f.b
    with f.loop(k["KW"]) as kx:
        ox, valid_x = output_coordinate(f, ix, kx, k["PL"], k["DW"], k["SW"], k["OW"])
        with b.if_then(valid_x):
            target = _target(f, k, oy, ox, ky, kx)
            if k["G"] > 1:
                _apply_events_grouped(f, k, pixel, count, *target)
            else:
                _apply_events(f, k, pixel, count, [target])


def _target(f: Function, k: dict, oy, ox, ky, kx) -> tuple:
    """(the output row's offset in dst, the window's index in the weights)."""
    b = f.b
    return b.mul(b.add(b.mul(oy, i64(k["OW"])), ox), i64(k["O"])), b.add(b.mul(ky, i64(k["KW"])), kx)


def list_events(f: Function, channels: int, inputs, events):
    """Writes the channels c < `channels` with inputs[c] ≠ 0 to events[0 : count] (and may write
    up to `channels` slots); returns count (i64). Without branches (listing.list_where)."""
    b = f.b

    def nonzero(c, typ):
        return b.fcmp_unordered("!=", load_typed(f, inputs, c, typ), constant_typed(typ, 0.0))

    return list_where(f, channels, nonzero, events)


def _apply_events(f: Function, k: dict, pixel, count, targets: list[tuple]) -> None:
    """dst[out + o] += Σ_e x[pixel + c_e] · w[c_e, window, o] for each (out, window) target, a
    register tile of output channels at a time (all targets' accumulators live together).
    With k["scaled"] (every spike is θ_c, and the weights hold w·θ_c), an event adds its weights."""
    b, a = f.b, f.args
    lanes = vector_width()
    vector = ir.VectorType(F32, lanes)
    fmuladd_vector, fmuladd = _fmuladd(f, vector)
    windows = k["KH"] * k["KW"]
    for start, width in _channel_tiles(k["O"], len(targets), lanes):
        vectors, scalars = divmod(width, lanes)
        rows = [b.add(out, i64(start)) for out, _ in targets]
        accs = [[f.variable(vector, load_vector(f, a["dst"], b.add(row, i64(j * lanes)), vector))
                 for j in range(vectors)] for row in rows]  # fmt: skip
        tails = [[f.variable(F32, f.load(a["dst"], b.add(row, i64(vectors * lanes + j)))) for j in range(scalars)]
                 for row in rows]  # fmt: skip
        events = _events_of(f, k, pixel)
        with f.loop(count) as e:
            channel = b.sext(f.load(events, e), I64)
            value = None if k.get("scaled") else f.load(a["src"], b.add(pixel, channel))
            broadcast = None if value is None else splat(f, value, vector)
            for (_, window), row_accs, row_tails in zip(targets, accs, tails):
                offset = b.add(b.mul(b.add(b.mul(channel, i64(windows)), window), i64(k["O"])), i64(start))
                weights = f.at(a["weight"], offset)
                for j, acc in enumerate(row_accs):
                    _add_event(f, acc, load_vector(f, weights, i64(j * lanes), vector), broadcast, fmuladd_vector)
                for j, acc in enumerate(row_tails):
                    _add_event(f, acc, f.load(weights, vectors * lanes + j), value, fmuladd)
        for row, row_accs, row_tails in zip(rows, accs, tails):
            for j, acc in enumerate(row_accs):
                store_vector(f, b.load(acc), a["dst"], b.add(row, i64(j * lanes)))
            for j, acc in enumerate(row_tails):
                f.store(b.load(acc), a["dst"], b.add(row, i64(vectors * lanes + j)))


def _add_event(f: Function, acc, weights, value, fmuladd) -> None:
    """acc += value·weights, or acc += weights where the weights carry the value (value None)."""
    b = f.b
    b.store(b.fadd(b.load(acc), weights) if value is None else b.call(fmuladd, [value, weights, b.load(acc)]), acc)


def _events_of(f: Function, k: dict, pixel):
    """The pixel's list of events: the kernel's scratch, or its slots in the lists the neuron kernel made."""
    return f.at(f.args["events"], pixel) if k.get("listed") else f.args["events"]


def _channel_tiles(channels: int, targets: int, lanes: int) -> list[tuple[int, int]]:
    """(start, width) tiles of the output channels, as even as whole vectors allow, with at most
    SCATTER_ACCUMULATORS vectors across all targets (at least one vector per tile)."""
    vectors = -(-channels // lanes)
    tiles = max(1, -(-vectors * targets // SCATTER_ACCUMULATORS))
    per_tile = -(-vectors // tiles) * lanes
    return [(start, min(per_tile, channels - start)) for start in range(0, channels, per_tile)]


def _apply_events_grouped(f: Function, k: dict, pixel, count, out, window) -> None:
    """Grouped convolutions: one event at a time, into its group's output channels."""
    b, a = f.b, f.args
    per_group_out, per_group_in, windows = k["O"] // k["G"], k["C"] // k["G"], k["KH"] * k["KW"]
    events = _events_of(f, k, pixel)
    with f.loop(count) as e:
        channel = b.sext(f.load(events, e), I64)
        value = f.load(a["src"], b.add(pixel, channel))
        group_base = b.mul(b.sdiv(channel, i64(per_group_in)), i64(per_group_out))
        weights = f.at(a["weight"], b.mul(b.add(b.mul(channel, i64(windows)), window), i64(per_group_out)))
        outputs = f.at(a["dst"], b.add(out, group_base))
        with f.loop(per_group_out) as j:
            f.store(b.fadd(f.load(outputs, j), b.fmul(value, f.load(weights, j))), outputs, j)


SCATTER_ACCUMULATORS = 12  # accumulator vectors per tile in the event-driven form (of 16 registers)
ROWS_TOGETHER = True  # tests set False: one kernel row per pass over the events, to compare with
PIXEL_TILE = 6  # output pixels computed together: each weight vector loaded serves all of them
# Weight vectors per channel tile, by vector registers: 6 × 2 accumulators fit AVX2's 16, 6 × 4
# AVX-512's 32 (measured against 6×2, 12×2, 8×3 and 4×4 at 16 lanes: CIFAR VGG-16 iLIF T=8,
# 2.27 → 2.03 × onnxruntime's time, ResNet-18 1.71 → 1.52, the VGG fixture 1.25 → 1.24).
VECTOR_TILE = {16: 2, 32: 4}
SINGLE_PIXEL_VECTORS = {16: 12, 32: 24}  # a one-pixel output (a dense layer): vectors of channels at a time
L1_WEIGHT_BYTES = 32 * 1024  # a channel tile's weights beyond this are read window by window


def gather_synapses(f: Function, k: dict) -> None:
    """Dense form for analog values and iLIF (whose inputs are mostly non-zero), register-
    blocked like a GEMM micro-kernel: a tile of output pixels × output channels accumulates in
    vector registers while the window's inputs stream past,
    acc[p, o] += x[iy_p + ky·DH, ix_p + kx·DW, c] · w[g, ky, kx, c, o].
    The input is read from a zero-padded copy (IHp × IWp × C), so no bounds are checked.
    Where a channel tile's weights for the whole kernel do not fit in L1, the windows are the
    outer loop (each tile's sums go through dst between windows, in the same order, so the
    result is the same to the bit) and one window's weights stay in L1 across the pixel tiles.
    A one-pixel output (a dense layer) has no pixels to share a weight with: it takes wider
    channel tiles instead, so that the FMAs are independent.
    Weights: per group, per channel tile, (KH, KW, Cg, tile width) (gather_weights): a tile
    reads one contiguous stream. Laid out (G, KH, KW, Cg, Og), a tile's rows were Og floats
    apart, 2 KB at 512 channels: two to a 4 KB page, where the hardware's prefetchers stop, so
    a layer whose weights come from memory for every image waited on it row after row (CIFAR
    ResNet-18's 512-channel 3×3 layers took 1.7–1.8× the cycles they take now)."""
    lanes = vector_width()
    per_group_out = k["O"] // k["G"]
    positions = k["OH"] * k["OW"]
    chunks = [(start, width // lanes, width % lanes) for start, width in channel_chunks(per_group_out, positions)]
    with f.loop(k["G"]) as g:
        for start, vectors, scalars in chunks:
            pixels = PIXEL_TILE if vectors else 1
            full, rest = divmod(positions, pixels)
            weight_bytes = 4 * k["KH"] * k["KW"] * (k["C"] // k["G"]) * (vectors * lanes + scalars)
            by_window = weight_bytes > L1_WEIGHT_BYTES and k["KH"] * k["KW"] > 1
            with _each_window_if(f, k, by_window) as window:
                with f.loop(full) as tile_index:
                    first = f.b.mul(tile_index, i64(pixels))
                    _gather_tile(f, k, g, first, pixels, start, vectors, scalars, window)
                if rest:
                    _gather_tile(f, k, g, i64(full * pixels), rest, start, vectors, scalars, window)


def channel_chunks(per_group_out: int, positions: int) -> list[tuple[int, int]]:
    """(first output channel, width) of the gather form's channel tiles, within a group."""
    tile = (VECTOR_TILE if positions > 1 else SINGLE_PIXEL_VECTORS)[vector_registers()] * vector_width()
    return [(start, min(tile, per_group_out - start)) for start in range(0, per_group_out, tile)]


def gather_weights(weight: np.ndarray, positions: int) -> np.ndarray:
    """The gather form's weights, (G, KH, KW, Cg, Og), laid out per group and channel tile:
    [g][tile][ky][kx][c][o within the tile], flat."""
    chunks = channel_chunks(weight.shape[-1], positions)
    return np.concatenate([weight[g, ..., start : start + width].ravel()
                           for g in range(weight.shape[0]) for start, width in chunks])  # fmt: skip


@contextmanager
def _each_window_if(f: Function, k: dict, by_window: bool):
    """Yields (ky, kx) inside loops over the kernel's windows, or None (and no loop)."""
    if not by_window:
        yield None
        return
    with f.loop(k["KH"]) as ky, f.loop(k["KW"]) as kx:
        yield ky, kx


def _gather_tile(f: Function, k: dict, g, first, pixels: int, start: int, vectors: int, scalars: int,
                 window=None) -> None:  # fmt: skip
    """One tile's sums over every window (window None), or over window (ky, kx) only, added to
    what dst holds from the windows before it (to the bias at the first)."""
    b, a = f.b, f.args
    lanes = vector_width()
    per_group_out, per_group_in = k["O"] // k["G"], k["C"] // k["G"]
    vector = ir.VectorType(F32, lanes)
    fmuladd_vector, fmuladd = _fmuladd(f, vector)
    channel0 = b.add(b.mul(g, i64(per_group_out)), i64(start))
    padded_width = k["IW"] + k["PL"] + k["PR"]
    bases, outs = [], []
    for position, pixel in tile_pixels(f, k, first, pixels, padded_width):
        bases.append(f.at(a["src"], b.add(b.mul(pixel, i64(k["C"])), b.mul(g, i64(per_group_in)))))
        outs.append(b.add(b.mul(position, i64(k["O"])), channel0))
    at_first_window = None if window is None else b.icmp_signed("==", b.add(*window), i64(0))

    def initial(out, lane: int, typ: ir.Type):
        """The bias (first window) or dst's partial sum for channels channel0 + lane …"""
        bias = load_typed(f, a["bias"], b.add(channel0, i64(lane)), typ)
        if window is None:
            return bias
        return b.select(at_first_window, bias, load_typed(f, a["dst"], b.add(out, i64(lane)), typ))

    vector_accs = [[f.variable(vector, initial(out, j * lanes, vector)) for j in range(vectors)] for out in outs]
    scalar_accs = [[f.variable(F32, initial(out, vectors * lanes + j, F32)) for j in range(scalars)] for out in outs]

    width, kernel_in = vectors * lanes + scalars, k["KH"] * k["KW"] * per_group_in
    tile_weights = b.add(b.mul(g, i64(kernel_in * per_group_out)), i64(kernel_in * start))  # gather_weights

    def accumulate(ky, kx):
        shift = b.mul(b.add(b.mul(b.mul(ky, i64(k["DH"])), i64(padded_width)), b.mul(kx, i64(k["DW"]))), i64(k["C"]))
        window_index = b.add(b.mul(ky, i64(k["KW"])), kx)
        weights = f.at(a["weight"], b.add(tile_weights, b.mul(window_index, i64(per_group_in * width))))
        with f.loop(per_group_in) as c:
            row = b.mul(c, i64(width))
            w_vectors = [load_vector(f, weights, b.add(row, i64(j * lanes)), vector) for j in range(vectors)]
            w_scalars = [f.load(weights, b.add(row, i64(vectors * lanes + j))) for j in range(scalars)]
            for p in range(pixels):
                value = f.load(bases[p], b.add(shift, c))
                broadcast = splat(f, value, vector)
                for acc, w in zip(vector_accs[p], w_vectors):
                    b.store(b.call(fmuladd_vector, [broadcast, w, b.load(acc)]), acc)
                for acc, w in zip(scalar_accs[p], w_scalars):
                    b.store(b.call(fmuladd, [value, w, b.load(acc)]), acc)

    if window is None:
        with f.loop(k["KH"]) as ky, f.loop(k["KW"]) as kx:
            accumulate(ky, kx)
    else:
        accumulate(*window)
    for p in range(pixels):
        for j, acc in enumerate(vector_accs[p]):
            store_vector(f, b.load(acc), a["dst"], b.add(outs[p], i64(j * lanes)))
        for j, acc in enumerate(scalar_accs[p]):
            f.store(b.load(acc), a["dst"], b.add(outs[p], i64(vectors * lanes + j)))


DEPTHWISE_PIXELS = 4  # output pixels of a depthwise convolution sharing each weight vector


def depthwise_synapses(f: Function, k: dict) -> None:
    """Depthwise convolutions (one input channel per output channel, G = C = O) for analog
    values and iLIF, vectorized along the channels, which are contiguous:
    out[p, c] = b[c] + Σ_{ky,kx} x[iy_p + ky·DH, ix_p + kx·DW, c] · w[ky, kx, c],
    from the zero-padded input, summed in the gather form's order (windows row by row), for
    DEPTHWISE_PIXELS output pixels at a time that share each weight vector loaded. The gather
    form would take one channel at a time. Weights: (KH, KW, C)."""
    lanes = vector_width()
    positions = k["OH"] * k["OW"]
    full, rest = divmod(positions, DEPTHWISE_PIXELS)
    vectors = k["C"] // lanes
    with f.loop(full) as tile:
        first = f.b.mul(tile, i64(DEPTHWISE_PIXELS))
        _depthwise_tile(f, k, first, DEPTHWISE_PIXELS, vectors)
    if rest:
        _depthwise_tile(f, k, i64(full * DEPTHWISE_PIXELS), rest, vectors)


def _depthwise_tile(f: Function, k: dict, first, pixels: int, vectors: int) -> None:
    """`pixels` output pixels from position `first`: all channels, a vector at a time, then the
    channels past the last whole vector one at a time."""
    b, a = f.b, f.args
    lanes = vector_width()
    padded_width = k["IW"] + k["PL"] + k["PR"]
    tile = tile_pixels(f, k, first, pixels, padded_width)
    bases = [f.at(a["src"], b.mul(pixel, i64(k["C"]))) for _, pixel in tile]
    outs = [f.at(a["dst"], b.mul(position, i64(k["C"]))) for position, _ in tile]

    def channels(channel, typ) -> None:
        fmuladd = _fmuladd(f, ir.VectorType(F32, lanes))[0 if isinstance(typ, ir.VectorType) else 1]
        sums = [load_typed(f, a["bias"], channel, typ)] * pixels
        for ky in range(k["KH"]):
            for kx in range(k["KW"]):
                weight = load_typed(f, a["weight"], b.add(channel, i64((ky * k["KW"] + kx) * k["C"])), typ)
                shift = i64((ky * k["DH"] * padded_width + kx * k["DW"]) * k["C"])
                for p in range(pixels):
                    value = load_typed(f, bases[p], b.add(shift, channel), typ)
                    sums[p] = b.call(fmuladd, [value, weight, sums[p]])
        for p in range(pixels):
            store_typed(f, sums[p], outs[p], channel)

    with f.loop(vectors) as j:
        channels(b.mul(j, i64(lanes)), ir.VectorType(F32, lanes))
    for channel in range(vectors * lanes, k["C"]):
        channels(i64(channel), F32)


def tile_pixels(f: Function, k: dict, first, pixels: int, padded_width: int) -> list[tuple]:
    """(output position, the zero-padded input pixel its window starts at) for `pixels`
    positions from `first` (the dense forms read a padded copy: plan.zero_padded, vnni.pack_codes)."""
    b = f.b
    tile = []
    for p in range(pixels):
        position = b.add(first, i64(p))
        oy, ox = b.sdiv(position, i64(k["OW"])), b.srem(position, i64(k["OW"]))
        tile.append((position, b.add(b.mul(b.mul(oy, i64(k["SH"])), i64(padded_width)), b.mul(ox, i64(k["SW"])))))
    return tile


def _fmuladd(f: Function, vector: ir.VectorType) -> tuple[ir.Function, ir.Function]:
    """llvm.fmuladd for the vector and for one float: a fused multiply-add where the CPU has one."""
    return (f.intrinsic(f"llvm.fmuladd.v{vector.count}f32", vector, [vector] * 3),
            f.intrinsic("llvm.fmuladd.f32", F32, [F32] * 3))  # fmt: skip


def count_events(f: Function, k: dict) -> None:
    """Synaptic operations of a weighted op on iLIF's bit masks: Σ_i popcount(mask_i) · fan_out_i
    (the event-driven form counts its own)."""
    b, a = f.b, f.args
    wide = I32 if k["narrow"] else I64
    total = f.variable(wide, ir.Constant(wide, 0))
    popcount = f.intrinsic("llvm.ctpop.i32", I32, [I32])
    with f.loop(k["n"]) as i:
        fan_out = b.sext(f.load(a["fan_out"], i), wide) if wide is I64 else f.load(a["fan_out"], i)
        f.add_to(total, b.mul(b.zext(b.call(popcount, [f.load(a["src"], i)]), wide), fan_out))
    add_count(f, k, b.load(total) if wide is I64 else b.zext(b.load(total), I64))


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
