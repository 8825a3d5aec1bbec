"""Listing, without branches, which elements of a range satisfy a condition: the event-driven
synapses list the channels of a pixel that spiked, MSAT lists the neurons that can fire.

Eight elements at a time: their condition's mask (a byte) picks the row of a 256-row table that
lists its set bits; the row is stored whole at list[count] (the next block overwrites the
unused tail) and count grows by the mask's popcount. Which elements qualify is data, so a loop
over the set bits would mispredict its exit at almost every block."""

from __future__ import annotations

from llvmlite import ir
from snnc.targets.cpu.irbuild import F32, I8, I32, I64, Function, i64, splat, store_vector
from snnc.targets.cpu.llvm import host_features

BLOCK = 8  # elements listed at a time (a byte of mask; the table has 2^8 rows)
UNROLLED_BLOCKS = 8  # up to 64 elements of a known count, the blocks are written out


def list_where(f: Function, count, condition, listed, packs=()) -> ir.Value:
    """Writes the i < count with condition(i, typ) to listed[0 : n] (i32, in increasing order)
    and returns n (i64); may write up to BLOCK slots past n, never past listed[count − 1].
    condition(i, typ) builds an i1, or a <BLOCK x i1> for elements i … i + BLOCK − 1, as typ is
    F32 or <BLOCK x float>. count: an int, or an i64 known only at run time.
    packs: (value, packed) with value(i, typ) building a float (vector) as condition does and
    packed a float pointer; packed[r] = value(listed[r]) (the listed elements' values,
    contiguous, so that loops over them need no gathers)."""
    b = f.b
    vector = ir.VectorType(F32, BLOCK)
    table = _table(f.module)
    popcount = f.intrinsic("llvm.ctpop.i8", I8, [I8])
    total = f.variable(I64, i64(0))

    def list_block(first) -> None:
        mask = b.bitcast(condition(first, vector), I8)
        lanes = b.load(b.gep(table, [ir.Constant(I32, 0), b.zext(mask, I64)], inbounds=True), align=32)
        store_vector(f, b.add(lanes, splat(f, b.trunc(first, I32), lanes.type)), listed, b.load(total))
        for value, packed in packs:
            store_vector(f, permute(f, value(first, vector), lanes), packed, b.load(total))
        f.add_to(total, b.zext(b.call(popcount, [mask]), I64))

    def list_one(i) -> None:
        f.store(b.trunc(i, I32), listed, b.load(total))
        for value, packed in packs:
            f.store(value(i, F32), packed, b.load(total))
        f.add_to(total, b.zext(condition(i, F32), I64))

    if isinstance(count, int) and count // BLOCK <= UNROLLED_BLOCKS:
        for block in range(count // BLOCK):
            list_block(i64(block * BLOCK))
        for i in range(count // BLOCK * BLOCK, count):
            list_one(i64(i))
        return b.load(total)
    count = i64(count) if isinstance(count, int) else count
    blocks = b.udiv(count, i64(BLOCK))
    with f.loop(blocks) as block:
        list_block(b.mul(block, i64(BLOCK)))
    first_left = b.mul(blocks, i64(BLOCK))
    with f.loop(b.sub(count, first_left)) as j:
        list_one(b.add(first_left, j))
    return b.load(total)


def permute(f: Function, values, lanes):
    """result[l] = values[lanes[l]] (<BLOCK x float>, <BLOCK x i32>): one instruction (vpermps)
    on AVX2; elsewhere lane by lane (LLVM IR has no shuffle by a mask known only at run time)."""
    b = f.b
    if USE_PERMPS and "+avx2" in host_features():
        return b.call(f.intrinsic("llvm.x86.avx2.permps", values.type, [values.type, lanes.type]), [values, lanes])
    result = ir.Constant(values.type, None)
    for lane in range(BLOCK):
        index = ir.Constant(I32, lane)
        result = b.insert_element(result, b.extract_element(values, b.extract_element(lanes, index)), index)
    return result


USE_PERMPS = True  # tests turn it off to check the portable permute


def _table(module: ir.Module) -> ir.GlobalVariable:
    """row m = the positions of m's set bits, in increasing order, padded with zeros."""
    existing = module.globals.get("snnc_event_table")
    if existing is not None:
        return existing
    row_type = ir.VectorType(I32, BLOCK)
    rows = [[bit for bit in range(BLOCK) if mask >> bit & 1] for mask in range(2**BLOCK)]
    table = ir.GlobalVariable(module, ir.ArrayType(row_type, len(rows)), "snnc_event_table")
    padded = [ir.Constant(row_type, r + [0] * (BLOCK - len(r))) for r in rows]
    table.initializer = ir.Constant(table.type.pointee, padded)
    table.global_constant = True
    table.linkage = "internal"
    table.align = 32
    return table
