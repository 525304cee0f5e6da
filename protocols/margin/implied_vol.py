"""Implied volatility of Black-76 and Black-Scholes prices: a vectorized solver that never raises.

Every price gets a ``(sigma, status)`` pair. ``status`` is an :class:`IvStatus`; ``sigma`` holds, by
status:

=================== =================================================================
status              sigma
=================== =================================================================
OK                  the implied volatility (annualised), ``|price(sigma) - price|`` at
                    the rounding level of the Black formula
BELOW_INTRINSIC     ``0.0``: the price is at or below the lower no-arbitrage bound
                    (no time value left, or less), the limit ``sigma -> 0``
ABOVE_UPPER_BOUND   ``+inf``: the price is at or above ``D F`` (call) or ``D K``
                    (put), the limit ``sigma -> inf``
ZERO_TIME           ``NaN``: ``t_years <= 0``; every volatility gives the same price
NOT_CONVERGED       the best bracketed estimate (finite); should not happen, tested
BAD_INPUT           ``NaN``: a non-finite input, ``forward``/``strike``/``discount``
                    ``<= 0``
=================== =================================================================

A venue marking options treats anything but ``OK`` as "no usable IV" (Deribit marked an empty book
at 60% and clamped mark IV to [30%, 100%], DOMAIN.md A1 [S]); ``0`` and ``inf`` clamp naturally.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np

from protocols.margin._jit import kernel

__all__ = [
    "IvStatus",
    "black76_implied_vol",
    "black76_implied_vol_coin",
    "black76_implied_vol_scalar",
    "bs_implied_vol",
]

_INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT_2 = 0.7071067811865476
_EPS = 2.220446049250313e-16
_S_MAX = 80.0  # total vol sigma sqrt(T) at which b(x, s) equals its upper bound in float64
_MAX_ITER = 100


class IvStatus(IntEnum):
    """Outcome of an implied-volatility solve (see the module docstring for ``sigma``)."""

    OK = 0
    BELOW_INTRINSIC = 1
    ABOVE_UPPER_BOUND = 2
    ZERO_TIME = 3
    NOT_CONVERGED = 4
    BAD_INPUT = 5


# Plain ints for the kernels (numba freezes module-level ints as constants).
_OK = int(IvStatus.OK)
_BELOW_INTRINSIC = int(IvStatus.BELOW_INTRINSIC)
_ABOVE_UPPER_BOUND = int(IvStatus.ABOVE_UPPER_BOUND)
_ZERO_TIME = int(IvStatus.ZERO_TIME)
_NOT_CONVERGED = int(IvStatus.NOT_CONVERGED)
_BAD_INPUT = int(IvStatus.BAD_INPUT)


@kernel
def _normalised_otm_call(x, s):
    """``b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2)`` for ``x <= 0``, and the scale
    of its rounding error.

    Near the money (``d1 > 0 > d2``) ``b = e^{x/2} [N(d1) - N(d2)] + 2 sinh(x/2) N(d2)`` with
    ``N(d1) - N(d2) = (erf(d1/sqrt 2) + erf(-d2/sqrt 2)) / 2``: a sum of positive terms, accurate
    to the last bits even for a tiny ``s`` (the textbook form cancels two halves there). Further
    out both ``N`` are tails, taken from ``erfc``; their difference loses ``log10(|x| / s^2)``
    digits, which the steepness of ``b`` in ``s`` there gives back in ``s``.
    """
    d1 = x / s + 0.5 * s
    d2 = d1 - s
    n_d2 = 0.5 * math.erfc(-d2 * _INV_SQRT_2)
    if d1 > 0.0:
        spread = 0.5 * (math.erf(d1 * _INV_SQRT_2) + math.erf(-d2 * _INV_SQRT_2))
        b = math.exp(0.5 * x) * spread + 2.0 * math.sinh(0.5 * x) * n_d2
        return b, b
    big = math.exp(0.5 * x) * 0.5 * math.erfc(-d1 * _INV_SQRT_2)
    return big - math.exp(-0.5 * x) * n_d2, big


@kernel
def _solve_normalised(beta, x):
    """Total volatility ``s`` with ``b(x, s) = beta``, for ``x <= 0`` and ``0 < beta < e^{x/2}``.

    Returns ``(s, converged)``. Newton on ``ln b`` (concave in ``s``, so Newton from the left of
    the root stays left and converges monotonically) inside a bracket ``[lo, hi]`` that every
    evaluation tightens; a step leaving the bracket is replaced by bisection.
    """
    ln_beta = math.log(beta)
    # Initial guess. Inflection point s_c = sqrt(2|x|) of b: below it ln b ~ C - x^2 / (2 s^2)
    # (the Mills-ratio asymptote, matched at s_c); above it the ATM-like guess sqrt(2 pi) beta.
    s = math.sqrt(2.0 * math.pi) * beta * math.exp(-0.5 * x)
    if x < 0.0:
        s_c = math.sqrt(-2.0 * x)
        b_c, _ = _normalised_otm_call(x, s_c)
        if beta < b_c:
            s = -x / math.sqrt(2.0 * (math.log(b_c) - 0.25 * x - ln_beta))
        else:
            s = max(s, s_c)
    lo = 0.0
    hi = _S_MAX
    s = min(max(s, 1e-300), _S_MAX)
    for _ in range(_MAX_ITER):
        b, noise = _normalised_otm_call(x, s)
        if abs(b - beta) <= 8.0 * _EPS * noise:
            return s, True
        if b < beta:
            lo = s
        else:
            hi = s
        slope = _INV_SQRT_2PI * math.exp(-0.5 * (x * x / (s * s) + 0.25 * s * s))  # db/ds
        if b > 0.0 and slope > 0.0:
            s_new = s - (math.log(b) - ln_beta) * b / slope
        else:
            s_new = -1.0  # underflow: b(s) is 0 here, the root is to the right
        if not (lo < s_new < hi):
            s_new = 0.5 * (lo + hi) if hi < _S_MAX else min(2.0 * max(lo, 1e-3), 0.5 * (lo + hi))
        if abs(s_new - s) <= 4.0 * _EPS * s_new or hi - lo <= 4.0 * _EPS * hi:
            return s_new, True
        s = s_new
    return s, False


@kernel
def black76_implied_vol_scalar(price, forward, strike, t_years, discount, is_call):
    """Black-76 implied volatility of one price; returns ``(sigma, status)`` (``status`` an int).

    Parameters
    ----------
    price
        Option price in the forward's currency (USD), discounted with ``discount``.
    forward, strike
        USD, > 0.
    t_years
        Time to expiry in years.
    discount
        Discount factor to expiry, ``exp(-r T)`` (1.0 for Deribit-style marks).
    is_call
        True for a call.

    Notes
    -----
    Normalised as in Jäckel (2015), "Let's be rational": with ``x = ln(F/K)`` the undiscounted
    price of the out-of-the-money option, divided by ``sqrt(F K)``, is ``b(-|x|, s)`` with total
    volatility ``s = sigma sqrt(T)`` (an OTM put at ``x`` is an OTM call at ``-x``). An
    in-the-money price is turned into the OTM one by put-call parity, ``C - P = F - K``. Bounds:
    ``0 < p_otm < min(F, K)``; ``b`` is increasing in ``s``, so the root is unique.
    """
    if (
        not (
            math.isfinite(price)
            and math.isfinite(forward)
            and math.isfinite(strike)
            and math.isfinite(discount)
            and not math.isnan(t_years)
        )
        or forward <= 0.0
        or strike <= 0.0
        or discount <= 0.0
    ):
        return math.nan, _BAD_INPUT
    if t_years <= 0.0:
        return math.nan, _ZERO_TIME
    undiscounted = price / discount
    intrinsic = max(forward - strike, 0.0) if is_call else max(strike - forward, 0.0)
    otm_price = undiscounted - intrinsic  # the OTM option's price, by put-call parity
    if otm_price <= 0.0:
        return 0.0, _BELOW_INTRINSIC
    if otm_price >= min(forward, strike):
        return math.inf, _ABOVE_UPPER_BOUND
    x = -abs(math.log(forward / strike))
    s, converged = _solve_normalised(otm_price / (math.sqrt(forward) * math.sqrt(strike)), x)
    sigma = s / math.sqrt(t_years)
    if not math.isfinite(sigma):  # T below ~1e-300: s finite but sigma overflows
        return math.inf, _NOT_CONVERGED
    return sigma, _OK if converged else _NOT_CONVERGED


@kernel
def black76_implied_vol(price, forward, strike, t_years, discount, is_call):
    """Black-76 implied volatility over 1-D arrays of equal length ``n``.

    Returns
    -------
    sigma : (n,) float64
        Annualised implied volatility; on failure the value documented for its status.
    status : (n,) int8
        :class:`IvStatus` codes.

    Notes
    -----
    See :func:`black76_implied_vol_scalar`; scalars broadcast with ``np.broadcast_to``.
    """
    n = price.shape[0]
    sigma = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    for i in range(n):
        sigma[i], status[i] = black76_implied_vol_scalar(
            price[i], forward[i], strike[i], t_years[i], discount[i], is_call[i]
        )
    return sigma, status


@kernel
def black76_implied_vol_coin(price_coin, forward, strike, t_years, discount, is_call):
    """Implied volatility of coin-margined prices (Deribit: premium in the underlying).

    ``price_coin`` is in coin per unit of underlying; the USD price is ``price_coin * forward``.
    Same returns as :func:`black76_implied_vol`.
    """
    n = price_coin.shape[0]
    sigma = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    for i in range(n):
        sigma[i], status[i] = black76_implied_vol_scalar(
            price_coin[i] * forward[i], forward[i], strike[i], t_years[i], discount[i], is_call[i]
        )
    return sigma, status


@kernel
def bs_implied_vol(price, spot, strike, t_years, rate, div_yield, is_call):
    """Black-Scholes-Merton implied volatility (continuous yield) over 1-D arrays.

    Notes
    -----
    The BSM price is Black-76 on ``F = S e^{(r-q)T}`` with ``D = e^{-rT}`` (DOMAIN.md B1), so this
    solves Black-76 with those. Returns as :func:`black76_implied_vol`.
    """
    n = price.shape[0]
    sigma = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    for i in range(n):
        t = t_years[i]
        forward = spot[i] * math.exp((rate[i] - div_yield[i]) * t)
        sigma[i], status[i] = black76_implied_vol_scalar(
            price[i], forward, strike[i], t, math.exp(-rate[i] * t), is_call[i]
        )
    return sigma, status
