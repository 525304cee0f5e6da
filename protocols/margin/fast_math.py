"""Elementary functions for kernels that must vectorise: ``exp``, ``ln`` and ``N(x)`` with no
libm call.

numba compiles ``math.exp``/``math.log``/``math.erfc`` to libm calls, and a call stops LLVM from
vectorising the loop around it. These are plain arithmetic on the IEEE bits (the two bit casts
are numba intrinsics, free in LLVM), inlined into the caller's loop; each is within an ulp or
two of libm (tested against it). Used by the fused Taylor kernel (:mod:`taylor_kernels`).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from protocols.margin._jit import kernel

__all__ = ["exp_fast", "exp_into", "log_positive", "log_positive_into", "norm_cdf_given_exp"]

_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_PI = 0.5641895835477563
_SQRT_2 = 1.4142135623730951
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: k * _LN2_HI is exact, |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN_ARG = -708.0  # exp below this is < 3.3e-308: returned as 0 (no subnormals)
_EXP_MAX_ARG = 709.0  # 2^k stays a normal double; exp(709) = 8.2e307
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000  # exponent bits of 1.0

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969)
# 631-638; coefficients of SPECFUN CALERF (ACM TOMS 715), relative error < 1e-16 in each range.
_A0, _A1, _A2, _A3, _A4 = (
    3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
    3.20937758913846947e03, 1.85777706184603153e-1,
)  # fmt: skip
_B0, _B1, _B2, _B3 = (
    2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
    2.84423683343917062e03,
)  # fmt: skip
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8 = (
    5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
    2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
    2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8,
)  # fmt: skip
_D0, _D1, _D2, _D3, _D4, _D5, _D6, _D7 = (
    1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
    1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
    3.43936767414372164e03, 1.23033935480374942e03,
)  # fmt: skip
_P0, _P1, _P2, _P3, _P4, _P5 = (
    3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
    1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2,
)  # fmt: skip
_Q0, _Q1, _Q2, _Q3, _Q4 = (
    2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
    6.05183413124413191e-2, 2.33520497626869185e-3,
)  # fmt: skip
# 1/k! for the Taylor polynomial of exp on |r| <= ln(2)/2 (truncation < 1e-17)
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13 = (
    1.0 / math.factorial(k) for k in range(2, 14)
)


@kernel(inline="always")  # numba-IR inlining: as an LLVM call it spilled every register
def norm_cdf_given_exp(x, e):
    """Standard normal ``N(x)`` given ``e = exp(-x^2 / 2)``, without a transcendental call.

    Notes
    -----
    With ``y = |x| / sqrt 2``, ``N(-|x|) = erfc(y) / 2`` by Cody's CALERF forms:
    ``erfc(y) = 1 - y A(y^2) / B(y^2)`` for ``y <= 0.46875``; ``erfc(y) = e C(y) / D(y)`` for
    ``y <= 4``; ``erfc(y) = e (1/sqrt(pi) - P(1/y^2) / (y^2 Q(1/y^2))) / y`` beyond, with
    ``P, Q`` multiplied through by ``y^10`` so no second division is needed
    (``exp(-y^2) = e``, the factor the caller already has for the normal density). All three
    are evaluated and one numerator/denominator pair selected: no branch, one division, so
    a loop over it vectorises. Relative error < 1e-14 for ``|x| < 10`` (< 1e-16 from the
    rationals; the rest is ``e``'s own rounding, as for any ``erfc(x / sqrt 2)``).
    """
    y = abs(x) * _INV_SQRT_2
    y = y if y < 40.0 else 40.0  # beyond, e == 0 and N is 0 or 1; keeps the powers finite
    w = y * y
    num_a = (((_A4 * w + _A0) * w + _A1) * w + _A2) * w + _A3
    den_b = (((w + _B0) * w + _B1) * w + _B2) * w + _B3
    num_c = ((((((((_C8 * y + _C0) * y + _C1) * y + _C2) * y + _C3) * y + _C4) * y + _C5) * y
              + _C6) * y + _C7)  # fmt: skip
    den_d = ((((((((y + _D0) * y + _D1) * y + _D2) * y + _D3) * y + _D4) * y + _D5) * y + _D6)
             * y + _D7)  # fmt: skip
    num_p = ((((_P4 * w + _P3) * w + _P2) * w + _P1) * w + _P0) * w + _P5  # y^10 P(1/y^2)
    den_q = ((((_Q4 * w + _Q3) * w + _Q2) * w + _Q1) * w + _Q0) * w + 1.0  # y^10 Q(1/y^2)
    small = y <= 0.46875
    mid = y <= 4.0
    num_tail = 0.5 * e * (_INV_SQRT_PI * w * den_q - num_p)
    num = 0.5 * (den_b - y * num_a) if small else (0.5 * e * num_c if mid else num_tail)
    den = den_b if small else (den_d if mid else y * w * den_q)
    lower = num / den  # N(-|x|)
    return 1.0 - lower if x >= 0.0 else lower


# fdlibm e_log.c (Sun Microsystems, 1993): log(1 + f) = f - hfsq + s (hfsq + R(s^2)),
# s = f / (2 + f), R a minimax polynomial; error < 1 ulp.
_LG1, _LG2, _LG3, _LG4, _LG5, _LG6, _LG7 = (
    6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
    2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
    1.479819860511658591e-01,
)  # fmt: skip


# fdlibm e_log.c (Sun Microsystems, 1993): log(1 + f) = f - hfsq + s (hfsq + R(s^2)),
# s = f / (2 + f), R a minimax polynomial; error < 1 ulp.
_LG1, _LG2, _LG3, _LG4, _LG5, _LG6, _LG7 = (
    6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
    2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
    1.479819860511658591e-01,
)  # fmt: skip


@intrinsic
def _float_bits(typingctx, x):
    """The IEEE-754 bits of a float64, as an int64 (an LLVM ``bitcast``: no instruction)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, x):
    """The float64 whose IEEE-754 bits are the int64 ``x``."""
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@kernel(fastmath={"contract"}, inline="always")
def exp_fast(a):
    """``exp(a)``; 0 below -708 (libm gives a subnormal < 3.3e-308 there), ``a`` above 709
    counts as 709.

    Notes
    -----
    ``exp(a) = 2^k exp(r)``, ``k = round(a / ln 2)``, ``r = a - k ln 2`` with ``ln 2`` split in
    two (Cody-Waite) so ``|r| <= ln(2)/2`` exactly; ``exp(r)`` by its Taylor polynomial of
    degree 13 (truncation < 1e-17) and ``2^k`` built from its IEEE bits. Within 1 ulp of
    libm's ``exp`` over ``[-708, 709]`` (tested).
    """
    a_c = a if a > _EXP_MIN_ARG else _EXP_MIN_ARG  # no out-of-range float-to-int
    a_c = a_c if a_c < _EXP_MAX_ARG else _EXP_MAX_ARG
    kf = math.floor(a_c * _LOG2E + 0.5)
    r = (a_c - kf * _LN2_HI) - kf * _LN2_LO
    p = (((((((((((_E13 * r + _E12) * r + _E11) * r + _E10) * r + _E9) * r + _E8) * r + _E7)
               * r + _E6) * r + _E5) * r + _E4) * r + _E3) * r + _E2) * r  # fmt: skip
    scale = _bits_float((np.int64(kf) + 1023) << 52)  # 2^k
    return ((p * r + r) + 1.0) * scale if a >= _EXP_MIN_ARG else 0.0


@kernel(fastmath={"contract"}, inline="always")
def log_positive(x):
    """``ln(x)`` for a positive normal double (anything else gives garbage, never an error).

    Notes
    -----
    ``x = 2^k m`` from the IEEE bits, ``m`` moved into ``[sqrt(2)/2, sqrt(2))``; then fdlibm's
    ``log(1 + f) = f - (hfsq - s (hfsq + R))`` with ``f = m - 1``, ``s = f / (2 + f)`` and
    ``k ln 2`` added in two parts. Within 1 ulp of libm's ``log`` (tested); ``ln 1 = 0``
    exactly.
    """
    hx = _float_bits(x)
    mant = _bits_float((hx & _MANTISSA) | _ONE_BITS)  # in [1, 2)
    big = mant > _SQRT_2
    mant = 0.5 * mant if big else mant
    dk = np.float64((hx >> 52) - 1023) + (1.0 if big else 0.0)
    f = mant - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    r = t2 + t1
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)


@kernel
def exp_into(arg, out):
    """``out[:] = exp_fast(arg)`` elementwise (vectorised); returns ``out``."""
    for j in range(arg.shape[0]):
        out[j] = exp_fast(arg[j])
    return out


@kernel
def log_positive_into(arg, out):
    """``out[:] = log_positive(arg)`` elementwise (vectorised); returns ``out``."""
    for j in range(arg.shape[0]):
        out[j] = log_positive(arg[j])
    return out
