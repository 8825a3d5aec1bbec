"""Building LLVM IR with llvmlite: the types, constants and the Function helper (counted loops,
typed element access, intrinsics) that every kernel builder uses."""

from __future__ import annotations

from contextlib import contextmanager

from llvmlite import ir

I1, I8, I32, I64, F32 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64), ir.FloatType()
VOID = ir.VoidType()
ENTRY = "snnc_run"
INT_SPACES = ("iws", "index")


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, int(value))


def f32(value: float) -> ir.Constant:
    return ir.Constant(F32, float(value))


def element(space: str) -> ir.Type:
    return I32 if space in INT_SPACES else F32


class Function:
    """An IRBuilder over one function, with counted loops and typed element access."""

    def __init__(self, module: ir.Module, name: str, args: list[tuple[str, ir.Type]], internal: bool = True):
        self.fn = ir.Function(module, ir.FunctionType(VOID, [t for _, t in args]), name)
        if internal:
            self.fn.linkage = "internal"
        self.args = {}
        for (arg_name, arg_type), value in zip(args, self.fn.args):
            value.name = arg_name
            if isinstance(arg_type, ir.PointerType) and internal:
                value.add_attribute("noalias")
            self.args[arg_name] = value
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.module = module

    def variable(self, typ: ir.Type, initial) -> ir.AllocaInstr:
        with self.b.goto_entry_block():
            slot = self.b.alloca(typ)
        self.b.store(initial, slot)
        return slot

    @contextmanager
    def loop(self, count, interleave: int = 1):
        """for (i = 0; i < count; i++): yields i (i64). Counters live in allocas; mem2reg lifts them.
        interleave > 1 asks LLVM's loop vectorizer to run that many vectors of the body side by
        side per iteration (llvm.loop.interleave.count)."""
        b = self.b
        count = i64(count) if isinstance(count, int) else count
        counter = self.variable(I64, i64(0))
        check, body, done = (b.append_basic_block(n) for n in ("loop.check", "loop.body", "loop.done"))
        b.branch(check)
        b.position_at_end(check)
        index = b.load(counter)
        b.cbranch(b.icmp_signed("<", index, count), body, done)
        b.position_at_end(body)
        yield index
        b.store(b.add(index, i64(1)), counter)
        back_edge = b.branch(check)
        if interleave > 1:
            back_edge.set_metadata("llvm.loop", self._loop_hints(interleave))
        b.position_at_end(done)

    def _loop_hints(self, interleave: int) -> ir.values.MDValue:
        """A loop ID, !{self, !{"llvm.loop.interleave.count", i32 interleave}}. A loop ID must
        refer to itself, which Module.add_metadata (it caches nodes by their operands) cannot
        make, so the node is made empty and given its operands after."""
        hint = self.module.add_metadata([ir.MetaDataString(self.module, "llvm.loop.interleave.count"),
                                         ir.Constant(I32, interleave)])  # fmt: skip
        loop_id = ir.values.MDValue(self.module, [], name=str(len(self.module.metadata)))
        loop_id.operands = (loop_id, hint)
        return loop_id

    def at(self, pointer, index):
        return self.b.gep(pointer, [index if not isinstance(index, int) else i64(index)], inbounds=True)

    def load(self, pointer, index):
        return self.b.load(self.at(pointer, index))

    def store(self, value, pointer, index) -> None:
        self.b.store(value, self.at(pointer, index))

    def add_to(self, slot, value) -> None:
        self.b.store(self.b.add(self.b.load(slot), value), slot)

    def intrinsic(self, name: str, result: ir.Type, args: list[ir.Type]) -> ir.Function:
        """An LLVM intrinsic by its full name (llvm.ctpop.i32, llvm.fmuladd.v8f32, …)."""
        existing = self.module.globals.get(name)
        return existing or ir.Function(self.module, ir.FunctionType(result, args), name)

    def scratch(self, count: int, typ: ir.Type = F32) -> ir.Instruction:
        """An array of `count` elements on the stack (allocated once, in the entry block)."""
        with self.b.goto_entry_block():
            array = self.b.alloca(typ, size=i64(count))
        array.align = 64
        return array

    @contextmanager
    def tiles(self, count: int, tile: int):
        """for each tile of `tile` elements of count: yields (start, length) (i64)."""
        b = self.b
        with self.loop(-(-count // tile)) as t:
            start = b.mul(t, i64(tile))
            left = b.sub(i64(count), start)
            yield start, b.select(b.icmp_signed("<", left, i64(tile)), left, i64(tile))

    def finish(self) -> None:
        self.b.ret_void()


def load_vector(f: Function, pointer, index, vector: ir.VectorType):
    """vector.count elements from pointer[index] (unaligned)."""
    return f.b.load(f.b.bitcast(f.at(pointer, index), vector.as_pointer()), align=4)


def store_vector(f: Function, value, pointer, index) -> None:
    f.b.store(value, f.b.bitcast(f.at(pointer, index), value.type.as_pointer()), align=4)


def load_typed(f: Function, pointer, index, typ: ir.Type):
    """pointer[index] as `typ`: a vector of elements from there, or one element."""
    return load_vector(f, pointer, index, typ) if isinstance(typ, ir.VectorType) else f.load(pointer, index)


def store_typed(f: Function, value, pointer, index) -> None:
    """pointer[index] = value, a vector (from there on) or one element."""
    if isinstance(value.type, ir.VectorType):
        store_vector(f, value, pointer, index)
    else:
        f.store(value, pointer, index)


def constant_typed(typ: ir.Type, value) -> ir.Constant:
    """`value` as `typ`, in every lane when typ is a vector type."""
    return ir.Constant(typ, [value] * typ.count) if isinstance(typ, ir.VectorType) else ir.Constant(typ, value)


def type_suffix(typ: ir.Type) -> str:
    """An intrinsic's type suffix: i32, f32, v8i32, v8f32, …"""
    element = typ.element if isinstance(typ, ir.VectorType) else typ
    name = "f32" if element == F32 else str(element)
    return f"v{typ.count}{name}" if isinstance(typ, ir.VectorType) else name


def splat(f: Function, value, vector: ir.VectorType):
    """The scalar in every lane (a broadcast)."""
    lanes = vector.count
    first = f.b.insert_element(ir.Constant(vector, None), value, ir.Constant(I32, 0))
    return f.b.shuffle_vector(first, ir.Constant(vector, None), ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))


def step_loop(f: Function, bound, body, stop=None):
    """for (t = 0; t < bound; t++) { body(t); if (stop()) break; } → the steps run (i64).
    `stop`: None, or a callable building the i1 that ends the loop early (an adaptive exit)."""
    b = f.b
    counter = f.variable(I64, i64(0))
    check, run, done = (b.append_basic_block(n) for n in ("steps.check", "steps.body", "steps.done"))
    b.branch(check)
    b.position_at_end(check)
    step = b.load(counter)
    b.cbranch(b.icmp_signed("<", step, bound), run, done)
    b.position_at_end(run)
    body(step)
    b.store(b.add(step, i64(1)), counter)
    if stop is None:
        b.branch(check)
    else:
        b.cbranch(stop(), done, check)
    b.position_at_end(done)
    return b.load(counter)


def add_count(f: Function, k: dict, value) -> None:
    """counts[k["counter"]] += value (the caller passes counts at the slot: codegen.CALL_SITE)."""
    slot = f.at(f.args["counts"], 0)
    f.b.store(f.b.add(f.b.load(slot), value), slot)
