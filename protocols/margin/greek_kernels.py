"""Vectorized price-and-Greeks kernels: Black-Scholes with yield and Black-76, USD and coin.

Every kernel makes one pass over 1-D arrays of equal length ``n`` and writes six rows of one
``(6, n)`` float64 array, in the order of :data:`GREEK_ROWS`::

    price, delta, gamma, vega_per_vol_point, theta_per_day, rho_per_pct = black76_greeks_usd(...)

The ``*_into`` variants write into a caller's preallocated ``out`` (no allocation per step); the
others allocate ``out`` and return it. Scalars broadcast with ``np.broadcast_to(x, n)`` (a stride-0
view, no copy). ``is_call`` is a boolean array.

Units (DOMAIN.md B1):

=================== ====================================================================
row                 unit
=================== ====================================================================
price               USD per unit of underlying (``_usd``) or coin per unit (``_coin``)
delta               dV/dS (BS) or dV/dF (Black-76), per unit of underlying
gamma               d(delta)/dS or d(delta)/dF, per USD
vega_per_vol_point  dV/dsigma / 100: value change for +1 vol point (0.60 -> 0.61)
theta_per_day       -dV/dT / 365: value change over one calendar day, spot/forward fixed
rho_per_pct         dV/dr / 100: value change for +1% in the rate (forward fixed for Black-76)
=================== ====================================================================

Degenerate inputs: at ``t_years <= 0`` or ``sigma <= 0`` the option is worth its (discounted)
intrinsic value, gamma and vega are 0 and delta is a step; the kernels never branch into NaN for
them. Non-positive or non-finite spot/forward/strike give NaN (garbage in, flagged by NaN out); the
caller validates inputs once, not every step.
"""

from __future__ import annotations

import math

import numpy as np

from protocols.margin._jit import kernel

__all__ = [
    "DELTA",
    "GAMMA",
    "GREEK_ROWS",
    "PRICE",
    "RHO",
    "THETA",
    "VEGA",
    "black76_greeks_coin",
    "black76_greeks_coin_into",
    "black76_greeks_usd",
    "black76_greeks_usd_into",
    "bs_greeks_usd",
    "bs_greeks_usd_into",
]

PRICE, DELTA, GAMMA, VEGA, THETA, RHO = range(6)
GREEK_ROWS = ("price", "delta", "gamma", "vega_per_vol_point", "theta_per_day", "rho_per_pct")
"""Row names of every ``(6, n)`` Greeks array, in order."""

_INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT_2 = 0.7071067811865476
_DAYS_PER_YEAR = 365.0


@kernel
def bs_greeks_usd_into(spot, strike, t_years, rate, div_yield, sigma, is_call, out):
    """Black-Scholes-Merton price and Greeks with continuous yield, in USD, into ``out``.

    Parameters
    ----------
    spot, strike : (n,) USD, > 0
    t_years : (n,) time to expiry in years
    rate, div_yield : (n,) continuously compounded rate ``r`` and yield ``q`` per year
    sigma : (n,) annualised lognormal volatility (0.6 = 60%)
    is_call : (n,) bool
    out : (6, n) float64, overwritten with the rows of :data:`GREEK_ROWS`

    Notes
    -----
    With ``w = +1`` for a call and ``-1`` for a put (DOMAIN.md B1; Hull ch. 15 and 19):
    ``V = w [S e^{-qT} N(w d1) - K e^{-rT} N(w d2)]``, ``Delta = w e^{-qT} N(w d1)``,
    ``Gamma = e^{-qT} n(d1) / (S sigma sqrt T)``, ``Vega = S e^{-qT} n(d1) sqrt T``,
    ``Theta = -S e^{-qT} n(d1) sigma / (2 sqrt T) - w r K e^{-rT} N(w d2)
    + w q S e^{-qT} N(w d1)`` (per year), ``Rho = w K T e^{-rT} N(w d2)``; then vega / 100,
    theta / 365, rho / 100. ``N(w d)`` is evaluated with ``erfc``, so the far tails keep their
    relative accuracy (no ``1 - N(d)`` cancellation).
    """
    n = spot.shape[0]
    for i in range(n):
        s = spot[i]
        k = strike[i]
        t = t_years[i]
        r = rate[i]
        q = div_yield[i]
        vol = sigma[i]
        w = 1.0 if is_call[i] else -1.0
        tt = max(t, 0.0)
        dq = math.exp(-q * tt)
        dr = math.exp(-r * tt)
        if t <= 0.0 or vol <= 0.0:
            # Deterministic forward: the option is its discounted intrinsic value.
            fwd_value = w * (s * dq - k * dr)
            itm = fwd_value > 0.0
            out[PRICE, i] = fwd_value if itm else 0.0
            out[DELTA, i] = w * dq if itm else 0.0
            out[GAMMA, i] = 0.0
            out[VEGA, i] = 0.0
            out[THETA, i] = (w * (q * s * dq - r * k * dr) if itm else 0.0) / _DAYS_PER_YEAR
            out[RHO, i] = (w * k * tt * dr if itm else 0.0) * 0.01
            continue
        sqrt_t = math.sqrt(t)
        sd = vol * sqrt_t
        d1 = (math.log(s / k) + (r - q) * t) / sd + 0.5 * sd
        d2 = d1 - sd
        nd1 = 0.5 * math.erfc(-w * d1 * _INV_SQRT_2)  # N(w d1)
        nd2 = 0.5 * math.erfc(-w * d2 * _INV_SQRT_2)  # N(w d2)
        pdf1 = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
        sdq = s * dq
        kdr = k * dr
        out[PRICE, i] = w * (sdq * nd1 - kdr * nd2)
        out[DELTA, i] = w * dq * nd1
        out[GAMMA, i] = dq * pdf1 / (s * sd)
        out[VEGA, i] = sdq * pdf1 * sqrt_t * 0.01
        theta = -sdq * pdf1 * vol / (2.0 * sqrt_t) - w * r * kdr * nd2 + w * q * sdq * nd1
        out[THETA, i] = theta / _DAYS_PER_YEAR
        out[RHO, i] = w * kdr * t * nd2 * 0.01
    return out


@kernel
def bs_greeks_usd(spot, strike, t_years, rate, div_yield, sigma, is_call):
    """:func:`bs_greeks_usd_into` into a new ``(6, n)`` array, which it returns."""
    out = np.empty((6, spot.shape[0]))
    return bs_greeks_usd_into(spot, strike, t_years, rate, div_yield, sigma, is_call, out)


@kernel
def _black76_row(f, k, t, vol, disc, w):
    """Price and Greeks of one Black-76 option (``w = +1`` call, ``-1`` put), USD rows."""
    if t <= 0.0 or vol <= 0.0:
        fwd_value = w * (f - k)
        itm = fwd_value > 0.0
        price = disc * fwd_value if itm else 0.0
        rate = -math.log(disc) / t if t > 0.0 else 0.0
        delta = w * disc if itm else 0.0
        return price, delta, 0.0, 0.0, rate * price / _DAYS_PER_YEAR, -max(t, 0.0) * price * 0.01
    sqrt_t = math.sqrt(t)
    sd = vol * sqrt_t
    d1 = math.log(f / k) / sd + 0.5 * sd
    d2 = d1 - sd
    nd1 = 0.5 * math.erfc(-w * d1 * _INV_SQRT_2)  # N(w d1)
    nd2 = 0.5 * math.erfc(-w * d2 * _INV_SQRT_2)  # N(w d2)
    pdf1 = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    price = w * disc * (f * nd1 - k * nd2)
    rate = -math.log(disc) / t
    theta = (-disc * f * pdf1 * vol / (2.0 * sqrt_t) + rate * price) / _DAYS_PER_YEAR
    return (
        price,
        w * disc * nd1,
        disc * pdf1 / (f * sd),
        disc * f * pdf1 * sqrt_t * 0.01,
        theta,
        -t * price * 0.01,
    )


@kernel
def black76_greeks_usd_into(forward, strike, t_years, sigma, discount, is_call, out):
    """Black-76 price and Greeks (derivatives with respect to the forward), in USD, into ``out``.

    Parameters
    ----------
    forward, strike : (n,) USD, > 0
    t_years : (n,) time to expiry in years
    sigma : (n,) annualised lognormal volatility
    discount : (n,) discount factor ``D = exp(-r T)`` to expiry (1.0 for Deribit-style
        undiscounted marks)
    is_call : (n,) bool
    out : (6, n) float64, overwritten with the rows of :data:`GREEK_ROWS`

    Notes
    -----
    ``V = w D [F N(w d1) - K N(w d2)]``, ``Delta = dV/dF = w D N(w d1)``,
    ``Gamma = D n(d1) / (F sigma sqrt T)``, ``Vega = D F n(d1) sqrt T`` (DOMAIN.md B1, Black-76).
    Theta holds ``F`` fixed: ``-dV/dT = -D F n(d1) sigma / (2 sqrt T) + r V`` with
    ``r = -ln(D) / T`` (QuantLib ``BlackCalculator`` convention). Rho holds ``F`` fixed, as for an
    option on a futures contract: ``dV/dr = -T V``.
    """
    for i in range(forward.shape[0]):
        w = 1.0 if is_call[i] else -1.0
        price, delta, gamma, vega, theta, rho = _black76_row(
            forward[i], strike[i], t_years[i], sigma[i], discount[i], w
        )
        out[PRICE, i] = price
        out[DELTA, i] = delta
        out[GAMMA, i] = gamma
        out[VEGA, i] = vega
        out[THETA, i] = theta
        out[RHO, i] = rho
    return out


@kernel
def black76_greeks_usd(forward, strike, t_years, sigma, discount, is_call):
    """:func:`black76_greeks_usd_into` into a new ``(6, n)`` array, which it returns."""
    out = np.empty((6, forward.shape[0]))
    return black76_greeks_usd_into(forward, strike, t_years, sigma, discount, is_call, out)


@kernel
def black76_greeks_coin_into(forward, strike, t_years, sigma, discount, is_call, out):
    """Black-76 price and Greeks of a coin-margined option (Deribit: premium in the underlying).

    Same arguments as :func:`black76_greeks_usd_into`; ``out`` receives the coin-convention rows.

    Notes
    -----
    The coin premium is ``c = V / F`` (BTC per 1-BTC option when ``V`` is in USD). Rows:

    - ``price``: ``c = V / F``, coin.
    - ``delta``: ``Delta_coin = F dc/dF = Delta_usd - V / F``, coin per unit of underlying: the
      premium-adjusted delta Deribit shows for coin-settled options (DOMAIN.md B1,
      "Deribit/inverse convention", with the forward as the underlying).
    - ``gamma``: ``d(Delta_coin)/dF = Gamma_usd - Delta_coin / F``, per USD.
    - ``vega_per_vol_point``, ``theta_per_day``, ``rho_per_pct``: the USD rows divided by ``F``
      (the forward held fixed), coin per vol point, per calendar day and per 1% rate.
    """
    for i in range(forward.shape[0]):
        f = forward[i]
        w = 1.0 if is_call[i] else -1.0
        price, delta, gamma, vega, theta, rho = _black76_row(
            f, strike[i], t_years[i], sigma[i], discount[i], w
        )
        inv_f = 1.0 / f
        price_coin = price * inv_f
        delta_coin = delta - price_coin
        out[PRICE, i] = price_coin
        out[DELTA, i] = delta_coin
        out[GAMMA, i] = gamma - delta_coin * inv_f
        out[VEGA, i] = vega * inv_f
        out[THETA, i] = theta * inv_f
        out[RHO, i] = rho * inv_f
    return out


@kernel
def black76_greeks_coin(forward, strike, t_years, sigma, discount, is_call):
    """:func:`black76_greeks_coin_into` into a new ``(6, n)`` array, which it returns."""
    out = np.empty((6, forward.shape[0]))
    return black76_greeks_coin_into(forward, strike, t_years, sigma, discount, is_call, out)
