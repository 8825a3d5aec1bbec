"""Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2016) for the dense form of 3×3,
stride-1 convolutions: iLIF's decoded activations and analog values, where the synapses are a
dense product (the event-driven form for spikes is untouched).

Each 2×2 tile of outputs comes from a 4×4 tile of (zero-padded) inputs d:

    Y = Aᵀ [U ⊙ V] A,   V = Bᵀ d B (per input channel),   U = G g Gᵀ (per channel pair),
    M_ξ = Σ_c V_ξ,c · U_ξ,c,o  for each of the 16 positions ξ: 16 products over channels,

so a tile costs 16·C·O multiply-adds where the direct form costs 4·9·C·O: 2.25× fewer. Bᵀ and
Aᵀ hold only 0 and ±1, so the transforms are additions; U is computed once, in float64, and
rounded to float32. The result differs from the direct sum by rounding only (the order of the
additions differs, as between any two engines: the jit-vs-reference tests' "rounding flips").

The 16 products are one grouped 1×1 convolution over the tiles (16 groups, V laid out
[tile][ξ][c] and M [tile][ξ][o]), run by the gather form (synapses.gather_synapses): the plan
emits winograd-input, that convolution, and winograd-output. V and M are scratch, one pair of
regions for all the network's Winograd layers (plan: the largest of them)."""

from __future__ import annotations

import numpy as np
from snnc.targets.cpu.irbuild import Function, i64

B_T = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))
A_T = ((1, 1, 1, 0), (0, 1, -1, -1))
POSITIONS = 16  # ξ = 4·r + s, r and s the rows and columns of the 4×4 tile

# Where it pays (bench/winograd.py: each 3×3 stride-1 layer of the fixtures and CIFAR ResNet-18 /
# VGG-16 in both forms, cycles of its kernels): the layers chosen by these two thresholds take
# 0.46–0.79 of the direct form's cycles (16 channels: 0.63; 4×4 outputs of 256–512 channels, 4
# tiles: 0.71–0.79); every layer left out is slower as Winograd: inputs of 1 or 3 channels (3–5×:
# the transforms outweigh the few products) and 2×2 outputs (1 tile, 1.9×: U, 16 matrices where
# the direct form reads 9, comes from memory for every image, and one tile shares it).
MIN_CHANNELS = 16
MIN_TILES = 4
ENABLED = True  # tests set False to compare with the direct form


def suits(geometry: dict) -> bool:
    """Whether a convolution's dense form runs as Winograd F(2×2, 3×3)."""
    g = geometry
    shape = (g["KH"], g["KW"], g["SH"], g["SW"], g["DH"], g["DW"], g["G"])
    rows, columns = tiles(g)
    return (ENABLED and shape == (3, 3, 1, 1, 1, 1, 1) and min(g["C"], g["O"]) >= MIN_CHANNELS
            and rows * columns >= MIN_TILES)  # fmt: skip


def tiles(geometry: dict) -> tuple[int, int]:
    """Tile rows and columns: the output rounded up to even sizes, halved."""
    return -(-geometry["OH"] // 2), -(-geometry["OW"] // 2)


def transformed_weights(weight: np.ndarray) -> np.ndarray:
    """U = G g Gᵀ as (16, C, O) float32, from the gather form's weights (1, 3, 3, C, O)."""
    g = np.asarray(G, np.float64)
    u = np.einsum("ry,sx,yxco->rsco", g, g, np.asarray(weight[0], np.float64))
    return u.reshape(POSITIONS, *weight.shape[3:]).astype(np.float32)


def _combine(f: Function, coefficients, values):
    """Σ coefficient·value for coefficients in {0, ±1}, as additions and subtractions."""
    b, total = f.b, None
    for coefficient, value in zip(coefficients, values):
        if coefficient == 0:
            continue
        if total is None:
            total = value if coefficient > 0 else b.fneg(value)
        else:
            total = b.fadd(total, value) if coefficient > 0 else b.fsub(total, value)
    return total


def _sandwich(f: Function, left, tile):
    """left · tile · leftᵀ for a tile given as a list of rows."""
    rows = [[_combine(f, row, [tile[i][j] for i in range(len(tile))]) for j in range(len(tile[0]))] for row in left]
    return [[_combine(f, row, rows[r]) for row in left] for r in range(len(rows))]


def winograd_input(f: Function, k: dict) -> None:
    """V[tile][ξ][c] = (Bᵀ d B)_ξ, d the 4×4 inputs from the padded copy (PW pixels a row) at
    (2·ty, 2·tx). The loop over channels is contiguous and vectorizes."""
    b, a = f.b, f.args
    channels, width = k["C"], k["PW"]
    with f.loop(k["TH"]) as ty, f.loop(k["TW"]) as tx:
        corner = b.add(b.mul(b.mul(ty, i64(2)), i64(width)), b.mul(tx, i64(2)))
        tile = b.add(b.mul(ty, i64(k["TW"])), tx)
        sources = [[f.at(a["src"], b.mul(b.add(corner, i64(i * width + j)), i64(channels))) for j in range(4)]
                   for i in range(4)]  # fmt: skip
        target = f.at(a["dst"], b.mul(tile, i64(POSITIONS * channels)))
        with f.loop(channels) as c:
            v = _sandwich(f, B_T, [[f.load(source, c) for source in row] for row in sources])
            for xi in range(POSITIONS):
                f.store(v[xi // 4][xi % 4], target, b.add(i64(xi * channels), c))


def winograd_output(f: Function, k: dict) -> None:
    """dst[2·ty + p, 2·tx + q, o] = (Aᵀ M A)_pq + bias[o], where inside the OH × OW output. The
    tiles of a last odd row or column are their own loops (fewer stores, bounds known)."""
    b, a = f.b, f.args
    out = k["O"]
    full_rows, full_columns = k["OH"] // 2, k["OW"] // 2
    row_ranges = [(0, full_rows, 2)] + ([(full_rows, full_rows + 1, 1)] if k["OH"] % 2 else [])
    column_ranges = [(0, full_columns, 2)] + ([(full_columns, full_columns + 1, 1)] if k["OW"] % 2 else [])
    for first_row, last_row, rows in row_ranges:
        for first_column, last_column, columns in column_ranges:
            with f.loop(last_row - first_row) as i, f.loop(last_column - first_column) as j:
                ty, tx = b.add(i, i64(first_row)), b.add(j, i64(first_column))
                tile = b.add(b.mul(ty, i64(k["TW"])), tx)
                source = f.at(a["src"], b.mul(tile, i64(POSITIONS * out)))
                corner = b.add(b.mul(b.mul(ty, i64(2)), i64(k["OW"])), b.mul(tx, i64(2)))
                with f.loop(out) as o:
                    m = [[f.load(source, b.add(i64((4 * r + s) * out), o)) for s in range(4)] for r in range(4)]
                    y = _sandwich(f, A_T, m)
                    bias = f.load(a["bias"], o)
                    for p in range(rows):
                        for q in range(columns):
                            pixel = b.add(corner, i64(p * k["OW"] + q))
                            f.store(b.fadd(y[p][q], bias), a["dst"], b.add(b.mul(pixel, i64(out)), o))
