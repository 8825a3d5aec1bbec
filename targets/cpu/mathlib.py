"""exp and softplus for float32 as plain arithmetic (no libm calls), so that the loops that use
them vectorize: llvmlite gives no way to tell LLVM's vectorizer about a vector math library,
and with a scalar expf call per neuron and step the MSAT network ran 2× slower.

Both follow Cephes' single-precision algorithms (about 1 ulp from the correctly rounded
result; numpy's own float32 exp and log1p differ from them in the last bit at times, which is
the "rounding flip" tolerance the cpu target is tested with):

    exp(x) = 2^n·p(r),  n = round(x·log2 e),  r = x − n·ln 2 (in two parts),  |r| ≤ ln2/2
    log(y) = e·ln 2 + log(m),  y = m·2^e with m in [√½, √2),  log(m) by a degree-9 polynomial
    softplus(d) = ln(1 + e^d) = max(d, 0) + log(1 + e^−|d|)

The polynomials run as chains of fused multiply-adds (llvm.fma: one rounding per step, in
hardware on every x86-64 CPU since 2013): a third shorter dependency chain than multiply then
add, which made MSAT's neuron kernel 1.25× faster.
"""

from __future__ import annotations

from llvmlite import ir
from snnc.targets.cpu.irbuild import F32, I32, Function, f32

EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
LOG_POLY = (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
            -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1)  # fmt: skip
LN2_HI, LN2_LO = 0.693359375, -2.12194440e-4
LOG2E = 1.44269504088896341
SQRT_HALF = 0.707106781186547524


def _i32(value: int) -> ir.Constant:
    return ir.Constant(I32, value)


def minimum(f: Function, a, b):
    return f.b.select(f.b.fcmp_ordered("<", a, b), a, b)


def maximum(f: Function, a, b):
    return f.b.select(f.b.fcmp_ordered(">", a, b), a, b)


def _horner(f: Function, coefficients, x):
    b = f.b
    result = f32(coefficients[0])
    fma = f.intrinsic("llvm.fma.f32", F32, [F32, F32, F32])
    for c in coefficients[1:]:
        result = b.call(fma, [result, x, f32(c)])
    return result


def exp(f: Function, x):
    """e^x for float32 x; saturates at e^±87.3 (the reference overflows to inf/0 beyond, which
    gives the same thresholds after the sigmoid)."""
    b = f.b
    x = maximum(f, minimum(f, x, f32(88.3)), f32(-87.3))
    n = b.call(f.intrinsic("llvm.floor.f32", F32, [F32]), [b.fadd(b.fmul(x, f32(LOG2E)), f32(0.5))])
    r = b.fsub(b.fsub(x, b.fmul(n, f32(LN2_HI))), b.fmul(n, f32(LN2_LO)))
    poly = b.fadd(b.fadd(b.fmul(_horner(f, EXP_POLY, r), b.fmul(r, r)), r), f32(1.0))
    scale = b.bitcast(b.shl(b.add(b.fptosi(n, I32), _i32(127)), _i32(23)), F32)
    return b.fmul(poly, scale)


def log(f: Function, y):
    """ln y for a positive, normal float32 y."""
    b = f.b
    bits = b.bitcast(y, I32)
    exponent = b.sub(b.lshr(bits, _i32(23)), _i32(126))
    mantissa = b.bitcast(b.or_(b.and_(bits, _i32(0x807FFFFF)), _i32(0x3F000000)), F32)  # in [0.5, 1)
    small = b.fcmp_ordered("<", mantissa, f32(SQRT_HALF))
    exponent = b.sitofp(b.sub(exponent, b.zext(small, I32)), F32)
    m = b.fsub(b.select(small, b.fadd(mantissa, mantissa), mantissa), f32(1.0))
    z = b.fmul(m, m)
    poly = b.fmul(b.fmul(_horner(f, LOG_POLY, m), m), z)
    poly = b.fadd(poly, b.fmul(exponent, f32(LN2_LO)))
    poly = b.fsub(poly, b.fmul(z, f32(0.5)))
    return b.fadd(b.fadd(m, poly), b.fmul(exponent, f32(LN2_HI)))


def softplus(f: Function, d):
    """softplus(d) = ln(1 + e^d) = max(d, 0) + log(1 + e^−|d|) (no overflow for large d)."""
    b = f.b
    tail = exp(f, b.select(b.fcmp_ordered("<", d, f32(0.0)), d, b.fneg(d)))
    return b.fadd(maximum(f, d, f32(0.0)), log(f, b.fadd(f32(1.0), tail)))
