"""Plain NumPy twins of the pricing kernels, for tests and for the numba-vs-NumPy benchmark.

Each function takes the same arguments in the same order as its kernel in
:mod:`protocols.margin.greek_kernels` (arrays broadcast here, as NumPy does) and returns the same
``(6, n)`` layout (rows :data:`~protocols.margin.greek_kernels.GREEK_ROWS`). They are written the
obvious vectorized way, with whole-array temporaries, which is what the benchmark compares the
single-pass kernels against. ``scipy.special.ndtr`` is the normal distribution function.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

__all__ = [
    "numpy_black76_greeks_coin",
    "numpy_black76_greeks_usd",
    "numpy_black76_prices",
    "numpy_bs_greeks_usd",
    "numpy_bs_prices",
]

_INV_SQRT_2PI = 0.3989422804014327
_DAYS_PER_YEAR = 365.0


def _pdf(x: np.ndarray) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def numpy_bs_greeks_usd(spot, strike, t_years, rate, div_yield, sigma, is_call) -> np.ndarray:
    """Twin of :func:`~protocols.margin.greek_kernels.bs_greeks_usd` (same formulas, NumPy)."""
    s, k, t, r, q, vol, call = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (spot, strike, t_years, rate, div_yield, sigma)),
        np.asarray(is_call, dtype=bool),
    )
    w = np.where(call, 1.0, -1.0)
    tt = np.maximum(t, 0.0)
    dq = np.exp(-q * tt)
    dr = np.exp(-r * tt)
    live = (t > 0.0) & (vol > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sqrt_t = np.sqrt(tt)
        sd = vol * sqrt_t
        d1 = (np.log(s / k) + (r - q) * tt) / sd + 0.5 * sd
        d2 = d1 - sd
        nd1 = ndtr(w * d1)
        nd2 = ndtr(w * d2)
        pdf1 = _pdf(d1)
        price = w * (s * dq * nd1 - k * dr * nd2)
        gamma = dq * pdf1 / (s * sd)
        vega = s * dq * pdf1 * sqrt_t
        theta = -s * dq * pdf1 * vol / (2.0 * sqrt_t) - w * r * k * dr * nd2 + w * q * s * dq * nd1
        rho = w * k * tt * dr * nd2
    fwd_value = w * (s * dq - k * dr)
    itm = fwd_value > 0.0
    out = np.empty((6, *s.shape))
    out[0] = np.where(live, price, np.where(itm, fwd_value, 0.0))
    out[1] = np.where(live, w * dq * nd1, np.where(itm, w * dq, 0.0))
    out[2] = np.where(live, gamma, 0.0)
    out[3] = np.where(live, vega, 0.0) * 0.01
    dead_theta = np.where(itm, w * (q * s * dq - r * k * dr), 0.0)
    out[4] = np.where(live, theta, dead_theta) / _DAYS_PER_YEAR
    out[5] = np.where(live, rho, np.where(itm, w * k * tt * dr, 0.0)) * 0.01
    return out


def numpy_black76_greeks_usd(forward, strike, t_years, sigma, discount, is_call) -> np.ndarray:
    """Twin of :func:`~protocols.margin.greek_kernels.black76_greeks_usd` (NumPy)."""
    f, k, t, vol, disc, call = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (forward, strike, t_years, sigma, discount)),
        np.asarray(is_call, dtype=bool),
    )
    w = np.where(call, 1.0, -1.0)
    live = (t > 0.0) & (vol > 0.0)
    tt = np.maximum(t, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sqrt_t = np.sqrt(tt)
        sd = vol * sqrt_t
        d1 = np.log(f / k) / sd + 0.5 * sd
        d2 = d1 - sd
        nd1 = ndtr(w * d1)
        nd2 = ndtr(w * d2)
        pdf1 = _pdf(d1)
        rate = np.where(tt > 0.0, -np.log(disc) / tt, 0.0)
        price = np.where(live, w * disc * (f * nd1 - k * nd2), disc * np.maximum(w * (f - k), 0.0))
        gamma = disc * pdf1 / (f * sd)
        vega = disc * f * pdf1 * sqrt_t
        decay = -disc * f * pdf1 * vol / (2.0 * sqrt_t)
    itm = w * (f - k) > 0.0
    out = np.empty((6, *f.shape))
    out[0] = price
    out[1] = np.where(live, w * disc * nd1, np.where(itm, w * disc, 0.0))
    out[2] = np.where(live, gamma, 0.0)
    out[3] = np.where(live, vega, 0.0) * 0.01
    out[4] = (np.where(live, decay, 0.0) + rate * price) / _DAYS_PER_YEAR
    out[5] = -tt * price * 0.01
    return out


def numpy_black76_greeks_coin(forward, strike, t_years, sigma, discount, is_call) -> np.ndarray:
    """Twin of :func:`~protocols.margin.greek_kernels.black76_greeks_coin` (NumPy)."""
    out = numpy_black76_greeks_usd(forward, strike, t_years, sigma, discount, is_call)
    f = np.broadcast_to(np.asarray(forward, dtype=float), out.shape[1:])
    out[0] /= f
    out[1] -= out[0]
    out[2] -= out[1] / f
    out[3:] /= f
    return out


def numpy_black76_prices(forward, strike, t_years, sigma, discount, is_call) -> np.ndarray:
    """Twin of :func:`~protocols.margin.option_kernels.black76_prices` (prices only)."""
    f, k, t, vol, disc, call = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (forward, strike, t_years, sigma, discount)),
        np.asarray(is_call, dtype=bool),
    )
    w = np.where(call, 1.0, -1.0)
    live = (t > 0.0) & (vol > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = vol * np.sqrt(np.maximum(t, 0.0))
        d1 = np.log(f / k) / sd + 0.5 * sd
        price = w * disc * (f * ndtr(w * d1) - k * ndtr(w * (d1 - sd)))
    return np.where(live, price, disc * np.maximum(w * (f - k), 0.0))


def numpy_bs_prices(spot, strike, t_years, rate, div_yield, sigma, is_call) -> np.ndarray:
    """Twin of :func:`~protocols.margin.option_kernels.bs_prices`: Black-76 on the forward."""
    s, t, r, q = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (spot, t_years, rate, div_yield))
    )
    tt = np.maximum(t, 0.0)
    forward = s * np.exp((r - q) * tt)
    return numpy_black76_prices(forward, strike, tt, sigma, np.exp(-r * tt), is_call)
