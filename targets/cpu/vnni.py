"""iLIF's synapses in the fixed-point mode as one integer product on VNNI (AVX-512 VNNI's
vpdpbusd: 64 products of an unsigned byte and a signed byte, summed in fours into 16 int32 lanes,
per instruction: four times float32's multiply-adds per cycle).

A hidden iLIF layer's input is its source's T-bit codes (T ≤ 8: a byte) and its weights are
int8, so dst += W·codes is exact in int32 while fan-in × 255 × 128 < 2^31 (the plan checks; the
sum is then widened into the int64 potential). The codes are first packed into bytes inside a
zero border, with the channels padded to a multiple of 4 (pack_codes); the convolution (a dense
layer is a 1×1 one) then runs register-blocked like the float dense form (synapses.py): a tile of
output pixels × output channels accumulates in vector registers while the window streams past,
acc[p, o] += Σ_j code[iy_p + ky·DH, ix_p + kx·DW, 4·c4 + j] · w[ky, kx, c4, o, j].
Weights: (KH, KW, Cp/4, Op, 4) int8, channels and outputs padded with zeros (Op: to 16).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from snnc.targets.cpu.irbuild import I8, I32, I64, Function, i64, splat
from snnc.targets.cpu.synapses import tile_pixels

LANES = 16  # int32 lanes of a zmm register
PIXELS, VECTORS = 6, 4  # the register tile: 24 accumulators of AVX-512's 32 registers
INT32_PRODUCTS = (2**31 - 1) // (255 * 128)  # the largest fan-in whose sums int32 holds exactly
VECTOR = ir.VectorType(I32, LANES)
WIDE = ir.VectorType(I64, LANES)


def available(features: str) -> bool:
    return {"+avx512f", "+avx512vnni"} <= set(features.split(","))


def weight_layout(weight: np.ndarray) -> np.ndarray:
    """(O, C, KH, KW) int8 → (KH, KW, Cp/4, Op, 4), zero-padded (Cp: to 4, Op: to 16)."""
    out_channels, channels, kh, kw = weight.shape
    cp, op = -(-channels // 4) * 4, -(-out_channels // LANES) * LANES
    padded = np.zeros((kh, kw, cp, op), np.int8)
    padded[:, :, :channels, :out_channels] = weight.transpose(2, 3, 1, 0)
    return np.ascontiguousarray(padded.reshape(kh, kw, cp // 4, 4, op).transpose(0, 1, 2, 4, 3))


def pack_codes(f: Function, k: dict) -> None:
    """bytes[((y + PT)·Wp + x + PL)·Cp + c] = src[(y·IW + x)·C + c] (codes < 256); the border and
    the padded channels are never written (the workspace starts zeroed)."""
    b, a = f.b, f.args
    packed = b.bitcast(a["dst"], I8.as_pointer())
    with f.loop(k["IH"]) as y, f.loop(k["IW"]) as x:
        source = f.at(a["src"], b.mul(b.add(b.mul(y, i64(k["IW"])), x), i64(k["C"])))
        row = b.add(b.mul(b.add(y, i64(k["PT"])), i64(k["Wp"])), b.add(x, i64(k["PL"])))
        target = f.at(packed, b.mul(row, i64(k["Cp"])))
        with f.loop(k["C"]) as c:
            f.store(b.trunc(f.load(source, c), I8), target, c)


def synapse(f: Function, k: dict) -> None:
    """dst (int64, (OH, OW, O)) += the convolution of the packed codes; see the module docstring."""
    positions = k["OH"] * k["OW"]
    blocks = k["Op"] // LANES
    for first_block in range(0, blocks, VECTORS):
        vectors = min(VECTORS, blocks - first_block)
        full, rest = divmod(positions, PIXELS)
        with f.loop(full) as tile:
            _tile(f, k, f.b.mul(tile, i64(PIXELS)), PIXELS, first_block, vectors)
        if rest:
            _tile(f, k, i64(full * PIXELS), rest, first_block, vectors)


def _tile(f: Function, k: dict, first, pixels: int, first_block: int, vectors: int) -> None:
    """`pixels` output positions from `first` × `vectors` blocks of 16 output channels from
    `first_block`: int32 sums in registers over every window and channel group, then widened
    into dst."""
    b, a = f.b, f.args
    dot = f.intrinsic("llvm.x86.avx512.vpdpbusd.512", VECTOR, [VECTOR] * 3)
    packed = b.bitcast(a["src"], I8.as_pointer())
    tile = tile_pixels(f, k, first, pixels, k["Wp"])
    bases = [f.at(packed, b.mul(pixel, i64(k["Cp"]))) for _, pixel in tile]
    zero = ir.Constant(VECTOR, [0] * LANES)
    accs = [[f.variable(VECTOR, zero) for _ in range(vectors)] for _ in range(pixels)]
    groups = k["Cp"] // 4
    with f.loop(k["KH"]) as ky, f.loop(k["KW"]) as kx:
        shift = b.mul(b.add(b.mul(b.mul(ky, i64(k["DH"])), i64(k["Wp"])), b.mul(kx, i64(k["DW"]))), i64(k["Cp"]))
        window = b.mul(b.add(b.mul(ky, i64(k["KW"])), kx), i64(groups))
        with f.loop(groups) as group:
            row = b.mul(b.add(window, group), i64(k["Op"] * 4))
            weights = [_load(f, a["weight"], b.add(row, i64((first_block + v) * LANES * 4)), VECTOR)
                       for v in range(vectors)]  # fmt: skip
            offset = b.add(shift, b.mul(group, i64(4)))
            for p in range(pixels):
                codes = splat(f, _load(f, bases[p], offset, I32), VECTOR)
                for acc, weight in zip(accs[p], weights):
                    b.store(b.call(dot, [b.load(acc), codes, weight]), acc)
    for p, (position, _) in enumerate(tile):
        out = f.at(a["dst"], b.mul(position, i64(k["O"])))
        for v in range(vectors):
            _add_into(f, out, (first_block + v) * LANES, b.load(accs[p][v]), k["O"])


def _load(f: Function, pointer, byte_offset, typ: ir.Type):
    """A `typ` from `pointer` (bytes) + byte_offset, unaligned."""
    address = f.b.gep(f.b.bitcast(pointer, I8.as_pointer()), [byte_offset], inbounds=True)
    return f.b.load(f.b.bitcast(address, typ.as_pointer()), align=1)


def _add_into(f: Function, out, start: int, sums, channels: int) -> None:
    """out[start + i] += sums[i] (widened to int64) for the lanes below `channels`."""
    b = f.b
    if start + LANES <= channels:
        target = b.bitcast(f.at(out, i64(start)), WIDE.as_pointer())
        b.store(b.add(b.load(target, align=8), b.sext(sums, WIDE)), target, align=8)
        return
    for lane in range(max(0, channels - start)):
        value = b.sext(b.extract_element(sums, ir.Constant(I32, lane)), I64)
        f.store(b.add(f.load(out, start + lane), value), out, start + lane)
