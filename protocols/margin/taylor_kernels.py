"""The fused kernel of the delta-gamma-vega (Taylor) portfolio margin: Greeks straight into sums.

:func:`taylor_aggregates` returns what ``portfolio_kernels.greek_aggregates`` returns (the same
maths, equal to rounding) from the same book, but computes only what the expansion needs and
adds it straight into the per-account sums, never materialising per-position Greek arrays.
It walks the book in chunks of :data:`CHUNK_ROWS` rows, in three loops per chunk:

1. gather (scalar): read the rows and look up ``sqrt(T)``, the vol term factor ``g(T)`` and
   ``ln(F/K)`` in two small direct-mapped memo tables keyed by the bits of ``t_years`` and of
   ``strike_usd`` (venues list a few dozen expiries and a few hundred strikes; a miss only
   recomputes, so any book gives the same result, a book of distinct strikes just slower);
   futures and expired options get neutral inputs so the next loop needs no branch;
2. price (branch-free, so LLVM vectorises it): ``d1``, ``d2``, ``exp(-d^2/2)`` by
   :func:`exp_nonpositive_into` (no libm call), ``N(d)`` from that exponential by
   :func:`norm_cdf_given_exp` (Cody's rational ``erfc``; libm ``erfc`` costs several
   ``exp``), then every per-row contribution to the 13 account columns;
3. scatter (scalar): add the contributions to the rows' accounts, in row order.

The vol Greeks come scaled by ``sigma g`` without dividing by ``sigma``:
``vega sigma g = F n(d1) sd g``, ``vanna sigma g = -n(d1) d2 g``,
``volga (sigma g)^2 = F n(d1) sd d1 d2 g^2`` with ``sd = sigma sqrt T``.
Conventions as ``portfolio_kernels``: USD-margined, undiscounted Black-76 on the forward.
"""

from __future__ import annotations

import math

import numpy as np

from protocols.margin._jit import kernel
from protocols.margin.book import InstrumentKind
from protocols.margin.portfolio_kernels import N_AGG

__all__ = ["CHUNK_ROWS", "exp_nonpositive_into", "norm_cdf_given_exp", "taylor_aggregates"]

CHUNK_ROWS = 128
"""Rows per chunk: the chunk's ~30 work columns stay in the L1 cache."""

_FUTURE = int(InstrumentKind.FUTURE)
_CALL = int(InstrumentKind.CALL)
_N_COLS = 6 + N_AGG  # greeks then charge aggregates, as the two returned arrays

_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT_PI = 0.5641895835477563
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: k * _LN2_HI is exact, |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN_ARG = -708.0  # exp below this is < 3.3e-308: returned as 0 (no subnormals)
_HASH_MULT = -7046029254386353131  # 0x9E3779B97F4A7C15 (Fibonacci hashing) as a signed int64
_T_MEMO_BITS = 8
_K_MEMO_BITS = 12

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


@kernel(fastmath={"contract"})
def exp_nonpositive_into(arg, out, scale_bits, m):
    """``out[:m] = exp(arg[:m])`` for ``arg <= 0``, in two vectorisable loops; returns ``out``.

    ``scale_bits`` is an int64 work array of at least ``m`` entries. Arguments below -708
    give 0 (libm gives a subnormal < 3.3e-308 there).

    Notes
    -----
    ``exp(a) = 2^k exp(r)``, ``k = round(a / ln 2)``, ``r = a - k ln 2`` with ``ln 2`` split in
    two (Cody-Waite) so ``|r| <= ln(2)/2`` exactly; ``exp(r)`` by its Taylor polynomial of
    degree 13 (truncation < 1e-17) and ``2^k`` built from its IEEE bits. Within 1 ulp of
    libm's ``exp`` over ``[-708, 0]`` (tested).
    """
    for j in range(m):
        a = arg[j]
        a_c = a if a > _EXP_MIN_ARG else _EXP_MIN_ARG  # no out-of-range float-to-int below
        kf = math.floor(a_c * _LOG2E + 0.5)
        r = (a_c - kf * _LN2_HI) - kf * _LN2_LO
        p = (((((((((((_E13 * r + _E12) * r + _E11) * r + _E10) * r + _E9) * r + _E8) * r + _E7)
                   * r + _E6) * r + _E5) * r + _E4) * r + _E3) * r + _E2) * r  # fmt: skip
        out[j] = (p * r + r) + 1.0 if a >= _EXP_MIN_ARG else 0.0
        scale_bits[j] = (np.int64(kf) + 1023) << 52
    scale = scale_bits.view(np.float64)
    for j in range(m):
        out[j] *= scale[j]
    return out


@kernel
def _slot(bits, n_bits):
    """Slot of a memo table of ``2^n_bits`` entries for the float64 ``bits`` of a key."""
    return ((bits ^ (bits >> 32)) * _HASH_MULT >> (64 - n_bits)) & ((1 << n_bits) - 1)


@kernel(fastmath={"contract"})
def _black76_into(f, strike, x, sd, inv_sd, work, scale_bits, out, m):
    """Black-76 call ``F N(d1) - K N(d2)`` and ``N(d1)`` of chunk rows ``j < m``, branch-free.

    ``x = ln(F/K)``, ``sd = sigma sqrt T > 0``; writes the call to ``out[0]``, ``N(d1)`` to
    ``out[1]``, and leaves ``d1, d2, exp(-d1^2/2)`` in ``work[0], work[1], work[4]``.
    """
    for j in range(m):
        d1 = x[j] * inv_sd[j] + 0.5 * sd[j]
        d2 = d1 - sd[j]
        work[0, j] = d1
        work[1, j] = d2
        work[2, j] = -0.5 * d1 * d1
        work[3, j] = -0.5 * d2 * d2
    exp_nonpositive_into(work[2], work[4], scale_bits, m)
    exp_nonpositive_into(work[3], work[5], scale_bits, m)
    for j in range(m):
        n1 = norm_cdf_given_exp(work[0, j], work[4, j])
        out[0, j] = f * n1 - strike[j] * norm_cdf_given_exp(work[1, j], work[5, j])
        out[1, j] = n1


@kernel
def _carry_into(f, strike, kind, size_base, iv, t_years, row, work, scale_bits, px, col, m):
    """``col[5] = size (V(T - lookahead) - V(T))`` of live options, from ``row[1]``
    (``sqrt(max(T - lookahead, 0))``), ``row[2]`` (``ln(F/K)``) and ``row[5]`` (``V(T)``);
    overwrites ``row[3:5]`` (``sd``, ``1/sd``) with the later ones."""
    for j in range(m):
        sd_later = iv[j] * row[1, j]
        row[3, j] = sd_later if sd_later > 0.0 else 1.0
        row[4, j] = 1.0 / row[3, j]
    _black76_into(f, strike, row[2], row[3], row[4], work, scale_bits, px, m)
    for j in range(m):
        k = strike[j]
        is_call = kind[j] == _CALL
        live = (kind[j] != _FUTURE) & (t_years[j] > 0.0) & (iv[j] > 0.0)
        intrinsic = f - k if is_call else k - f
        intrinsic = intrinsic if intrinsic > 0.0 else 0.0
        later = px[0, j] if is_call else px[0, j] - f + k
        later = later if iv[j] * row[1, j] > 0.0 else intrinsic
        col[5, j] = size_base[j] * (later - row[5, j]) if live else 0.0


@kernel
def _flush(run, a, greeks, agg):
    """Add the running sums ``run`` to account ``a``."""
    for c in range(6):
        greeks[a, c] += run[c]
    for c in range(N_AGG):
        agg[a, c] += run[6 + c]


@kernel
def _scatter(account, col, run, a_run, greeks, agg, m):
    """Add chunk contributions ``col[:, j]`` to ``account[j]``'s sums, in row order.

    Consecutive rows of one account (a venue stores a book grouped by account) are summed in
    registers and flushed once per run, so the memory sums see one add per account and run.
    """
    r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12 = (
        run[0], run[1], run[2], run[3], run[4], run[5], run[6], run[7], run[8], run[9],
        run[10], run[11], run[12],
    )  # fmt: skip
    for j in range(m):
        a = account[j]
        if a != a_run:
            greeks[a_run, 0] += r0
            greeks[a_run, 1] += r1
            greeks[a_run, 2] += r2
            greeks[a_run, 3] += r3
            greeks[a_run, 4] += r4
            greeks[a_run, 5] += r5
            agg[a_run, 0] += r6
            agg[a_run, 1] += r7
            agg[a_run, 2] += r8
            agg[a_run, 3] += r9
            agg[a_run, 4] += r10
            agg[a_run, 5] += r11
            agg[a_run, 6] += r12
            r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = r8 = r9 = r10 = r11 = r12 = 0.0
            a_run = a
        r0 += col[0, j]
        r1 += col[1, j]
        r2 += col[2, j]
        r3 += col[3, j]
        r4 += col[4, j]
        r5 += col[5, j]
        r6 += col[6, j]
        r7 += col[7, j]
        r8 += col[8, j]
        r9 += col[9, j]
        r10 += col[10, j]
        r11 += col[11, j]
        r12 += col[12, j]
    run[0], run[1], run[2], run[3], run[4], run[5], run[6] = r0, r1, r2, r3, r4, r5, r6
    run[7], run[8], run[9], run[10], run[11], run[12] = r7, r8, r9, r10, r11, r12
    return a_run


@kernel
def taylor_aggregates(
    account, kind, size_base, strike_usd, t_years, iv, forward_usd, term, charges, n_accounts
):
    """Per-account Greeks of the delta-gamma-vega approximation and the charge aggregates.

    Parameters
    ----------
    account, kind, size_base, strike_usd, t_years, iv
        The :class:`~protocols.margin.book.PositionBook` arrays (C-contiguous).
    forward_usd
        Forward (index) price, USD per coin, > 0.
    term, charges
        :meth:`ScenarioGrid.kernel_arrays` packs.
    n_accounts
        Number of accounts.

    Returns
    -------
    greeks : (n_accounts, 6) as ``portfolio_kernels.greek_aggregates``: ``[delta_base,
        gamma_per_usd, vega_usd, vanna_base, volga_usd, carry_usd]``
    agg : (n_accounts, N_AGG) charge aggregates, columns ``portfolio_kernels.AGG_COLUMNS``
    status : (n_accounts,) int64, always ``OK`` (the vol floor is not modelled)

    Notes
    -----
    ``d1 = ln(F/K) / sd + sd / 2``, ``d2 = d1 - sd``, ``sd = sigma sqrt T``; ``delta = N(d1)``
    (call) or ``N(d1) - 1`` (put), ``gamma = n(d1) / (F sd)``, the vol Greeks per unit of the
    grid's vol shock as in the module docstring, the price ``F N(d1) - K N(d2)`` (puts by
    parity) for the premium of long options and ``carry = V(T - lookahead) - V(T)``.
    ``T <= 0``: intrinsic value, step delta, no other Greek. Every row computes the option
    formulas (on neutral inputs ``x = 0, sd = 1`` when it is a future or expired) and selects
    what it adds: on a mixed book a mispredicted branch costs more than the arithmetic.
    """
    n = account.shape[0]
    greeks = np.zeros((n_accounts, 6))
    agg = np.zeros((n_accounts, N_AGG))
    status = np.zeros(n_accounts, dtype=np.int64)
    f = forward_usd
    lookahead = term[6]
    cap_rate = max(charges[0], 0.5 * charges[1])
    cap_on = cap_rate > 0.0
    cap_den = cap_rate * f if cap_on else 1.0
    # memo tables keyed by float64 bits (-1 is a NaN's: no book value); a miss recomputes
    t_bits = t_years.view(np.int64)
    k_bits = strike_usd.view(np.int64)
    t_key = np.full(1 << _T_MEMO_BITS, -1, dtype=np.int64)
    t_val = np.empty((1 << _T_MEMO_BITS, 3))  # sqrt T, g(T), sqrt(max(T - lookahead, 0))
    k_key = np.full(1 << _K_MEMO_BITS, -1, dtype=np.int64)
    k_val = np.empty(1 << _K_MEMO_BITS)  # ln(F/K)
    # chunk columns: g, sqrt(T - la), ln(F/K), sd, 1/sd, price
    row = np.empty((6, CHUNK_ROWS))
    work = np.empty((6, CHUNK_ROWS))
    scale_bits = np.empty(CHUNK_ROWS, dtype=np.int64)
    px = np.empty((2, CHUNK_ROWS))
    col = np.empty((_N_COLS, CHUNK_ROWS))
    run = np.zeros(_N_COLS)
    a_run = account[0] if n > 0 else 0
    for lo in range(0, n, CHUNK_ROWS):
        m = min(CHUNK_ROWS, n - lo)
        for j in range(m):  # 1. gather from the memo tables
            i = lo + j
            h = _slot(t_bits[i], _T_MEMO_BITS)
            if t_key[h] != t_bits[i]:
                t_key[h] = t_bits[i]
                tt = max(t_years[i], 0.0)
                dte = tt * 365.0
                p = term[3] if dte < term[2] else term[4]
                t_val[h, 0] = math.sqrt(tt)
                t_val[h, 1] = math.exp(p * math.log(term[0] / max(dte, term[1])))
                t_val[h, 2] = math.sqrt(max(tt - lookahead, 0.0))
            hk = _slot(k_bits[i], _K_MEMO_BITS)
            if k_key[hk] != k_bits[i]:
                k_key[hk] = k_bits[i]
                k_val[hk] = math.log(f / strike_usd[i]) if strike_usd[i] > 0.0 else 0.0
            # neutral inputs x = 0, sd = 1 for futures and expired options
            live = (kind[i] != _FUTURE) & (t_years[i] > 0.0) & (iv[i] > 0.0)
            row[0, j] = t_val[h, 1]
            row[1, j] = t_val[h, 2]
            row[2, j] = k_val[hk] if live else 0.0
            row[3, j] = iv[i] * t_val[h, 0] if live else 1.0
        for j in range(m):
            row[4, j] = 1.0 / row[3, j]
        strike = strike_usd[lo : lo + m]
        _black76_into(f, strike, row[2], row[3], row[4], work, scale_bits, px, m)
        for j in range(m):  # 2. per-row contributions, branch-free
            i = lo + j
            s = size_base[i]
            k = strike_usd[i]
            fut = kind[i] == _FUTURE
            is_call = kind[i] == _CALL
            live = (not fut) & (t_years[i] > 0.0) & (iv[i] > 0.0)
            sd = row[3, j]
            g = row[0, j]
            d1 = work[0, j]
            d2 = work[1, j]
            pdf = _INV_SQRT_2PI * work[4, j]
            call = px[0, j]
            nd1 = px[1, j]
            intrinsic = f - k if is_call else k - f
            step = (1.0 if f > k else 0.0) if is_call else (-1.0 if f < k else 0.0)
            price = (call if is_call else call - f + k) if live else max(intrinsic, 0.0)
            delta = (nd1 if is_call else nd1 - 1.0) if live else step
            row[5, j] = price
            long = s > 0.0
            short = s < 0.0
            long_option = long & (not fut)
            d_raw = s if fut else s * delta
            premium = s * price if long_option else 0.0
            cap = premium / cap_den
            capped = cap_on & long_option & (abs(d_raw) > cap)
            d = math.copysign(cap, d_raw) if capped else d_raw
            vega_g = f * pdf * sd * g  # vega x sigma g: USD per unit of vol shock
            col[0, j] = d_raw
            col[1, j] = s * pdf * row[4, j] / f if live else 0.0
            col[2, j] = s * vega_g if live else 0.0
            col[3, j] = -(s * pdf * d2 * g) if live else 0.0
            col[4, j] = s * vega_g * d1 * d2 * g if live else 0.0
            col[5, j] = 0.0
            col[6, j] = d
            col[7, j] = abs(d)
            col[8, j] = -s if short & (not fut) else 0.0
            col[9, j] = s if fut & long else 0.0
            col[10, j] = -s if fut & short else 0.0
            col[11, j] = premium
            col[12, j] = 1.0 if (fut & (s != 0.0)) | ((not fut) & short) else 0.0
        if lookahead > 0.0:
            _carry_into(f, strike, kind[lo : lo + m], size_base[lo : lo + m], iv[lo : lo + m],
                        t_years[lo : lo + m], row, work, scale_bits, px, col, m)  # fmt: skip
        a_run = _scatter(account[lo : lo + m], col, run, a_run, greeks, agg, m)
    if n > 0:
        _flush(run, a_run, greeks, agg)
    return greeks, agg, status
