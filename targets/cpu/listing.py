"""Listing, without branches, which elements of a range satisfy a condition: the event-driven
synapses list the channels of a pixel that spiked, MSAT lists the neurons that can fire.

A block of elements at a time: their positions, packed to the front by the condition's mask, are
stored whole at list[count] (the next block overwrites the unused tail) and count grows by the
mask's popcount. Which elements qualify is data, so a loop over the set bits would mispredict
its exit at almost every block. With AVX-512, sixteen at a time, packed by the register form
of vpcompressd/vcompressps (the form that writes memory is microcoded on some cores, so the
packed vector is stored as a plain one); else eight, the mask (a byte) picking the row of a
256-row table that lists its set bits, the values moved by vpermps."""

from __future__ import annotations

from llvmlite import ir
from snnc.targets.cpu.irbuild import F32, I8, I32, I64, Function, i64, splat, store_vector
from snnc.targets.cpu.llvm import host_features

BLOCK = 8  # elements listed at a time without AVX-512 (a byte of mask; the table has 2^8 rows)
WIDE_BLOCK = 16  # with AVX-512: a vector of sixteen, packed by vpcompressd / vcompressps
USE_COMPRESS = True  # tests turn it off to check the table on an AVX-512 machine
UNROLLED_BLOCKS = 8  # up to this many blocks of a known count, the blocks are written out


def block_size() -> int:
    """The elements list_where takes at a time on this host."""
    return WIDE_BLOCK if USE_COMPRESS and "+avx512f" in host_features() else BLOCK


def list_where(f: Function, count, condition, listed, packs=()) -> ir.Value:
    """Writes the i < count with condition(i, typ) to listed[0 : n] (i32, in increasing order)
    and returns n (i64); may write up to block_size() slots past n, never past listed[count − 1].
    condition(i, typ) builds an i1, or a <B x i1> for elements i … i + B − 1, as typ is F32 or
    <B x float> (B = block_size()). count: an int, or an i64 known only at run time.
    packs: (value, packed) with value(i, typ) building a float (vector) as condition does and
    packed a float pointer; packed[r] = value(listed[r]) (the listed elements' values,
    contiguous, so that loops over them need no gathers)."""
    b = f.b
    width = block_size()
    vector = ir.VectorType(F32, width)
    mask_type = ir.IntType(width)
    popcount = f.intrinsic(f"llvm.ctpop.i{width}", mask_type, [mask_type])
    pack_block = _compressed if width == WIDE_BLOCK else _table_rows
    total = f.variable(I64, i64(0))

    def list_block(first) -> None:
        selected = condition(first, vector)
        positions, move = pack_block(f, selected)
        store_vector(f, b.add(positions, splat(f, b.trunc(first, I32), positions.type)), listed, b.load(total))
        for value, packed in packs:
            store_vector(f, move(value(first, vector)), packed, b.load(total))
        f.add_to(total, b.zext(b.call(popcount, [b.bitcast(selected, mask_type)]), I64))

    def list_one(i) -> None:
        f.store(b.trunc(i, I32), listed, b.load(total))
        for value, packed in packs:
            f.store(value(i, F32), packed, b.load(total))
        f.add_to(total, b.zext(condition(i, F32), I64))

    if isinstance(count, int) and count // width <= UNROLLED_BLOCKS:
        for block in range(count // width):
            list_block(i64(block * width))
        for i in range(count // width * width, count):
            list_one(i64(i))
        return b.load(total)
    count = i64(count) if isinstance(count, int) else count
    blocks = b.udiv(count, i64(width))
    with f.loop(blocks) as block:
        list_block(b.mul(block, i64(width)))
    first_left = b.mul(blocks, i64(width))
    with f.loop(b.sub(count, first_left)) as j:
        list_one(b.add(first_left, j))
    return b.load(total)


def _compressed(f: Function, selected):
    """(the selected lanes' positions packed to the front, a function packing values alike):
    the register forms of vpcompressd and vcompressps (what is left behind is zero)."""
    b = f.b
    ints = ir.VectorType(I32, WIDE_BLOCK)

    def compress(values):
        name = "llvm.x86.avx512.mask.compress." + ("v16i32" if values.type == ints else "v16f32")
        intrinsic = f.intrinsic(name, values.type, [values.type, values.type, selected.type])
        return b.call(intrinsic, [values, ir.Constant(values.type, None), selected])

    return compress(ir.Constant(ints, list(range(WIDE_BLOCK)))), compress


def _table_rows(f: Function, selected):
    """(the selected lanes' positions packed to the front, a function packing values alike): the
    positions from the 256-row table, the values by permute."""
    b = f.b
    mask = b.bitcast(selected, I8)
    table = _table(f.module)
    lanes = b.load(b.gep(table, [ir.Constant(I32, 0), b.zext(mask, I64)], inbounds=True), align=32)
    return lanes, lambda values: permute(f, values, lanes)


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
