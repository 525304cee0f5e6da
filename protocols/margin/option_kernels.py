"""Numba kernels for option prices (Black-Scholes with continuous yield, Black-76).

Scalar kernels here are the building blocks of every margin kernel that reprices options
(scenario grids, expected shortfall); :func:`black76_prices` and :func:`bs_prices` are their
one-pass array versions, and the price-and-Greeks kernels are in
:mod:`protocols.margin.greek_kernels`. All prices are in USD per one unit of the underlying unless a
name says ``_coin`` (Deribit's coin premium is the USD price divided by the forward).
"""

from __future__ import annotations

import math

import numpy as np

from protocols.margin._jit import kernel

__all__ = [
    "black76_price",
    "black76_prices",
    "bs_price",
    "bs_prices",
    "norm_cdf",
    "norm_pdf",
]

_INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT_2 = 0.7071067811865476


@kernel
def norm_pdf(x):
    """Standard normal density."""
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@kernel
def norm_cdf(x):
    """Standard normal distribution function, via ``erfc`` (accurate in both tails)."""
    return 0.5 * math.erfc(-x * _INV_SQRT_2)


@kernel
def black76_price(forward, strike, t_years, sigma, discount, is_call):
    """Black-76 price of a European option on a forward, in the forward's currency.

    Parameters
    ----------
    forward, strike
        Forward (or futures) price and strike, > 0.
    t_years
        Time to expiry in years; at or below zero the intrinsic value is returned.
    sigma
        Annualised lognormal volatility; at or below zero the discounted intrinsic value.
    discount
        Discount factor ``exp(-r T)`` (1.0 for a crypto option margined in the underlying).
    is_call
        True for a call, False for a put.

    Notes
    -----
    ``C = D [F N(d1) - K N(d2)]``, ``P = D [K N(-d2) - F N(-d1)]`` with
    ``d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt T)``, ``d2 = d1 - sigma sqrt T``
    (DOMAIN.md B1).
    """
    if t_years <= 0.0 or sigma <= 0.0:
        intrinsic = forward - strike if is_call else strike - forward
        return discount * max(intrinsic, 0.0)
    sd = sigma * math.sqrt(t_years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if is_call:
        return discount * (forward * norm_cdf(d1) - strike * norm_cdf(d2))
    return discount * (strike * norm_cdf(-d2) - forward * norm_cdf(-d1))


@kernel
def bs_price(spot, strike, t_years, rate, div_yield, sigma, is_call):
    """Black-Scholes-Merton price with continuous yield ``div_yield``, in USD.

    Notes
    -----
    The forward is ``F = S exp((r - q) T)`` and the price is Black-76 on it with discount
    ``exp(-r T)``; the two forms are algebraically equal (DOMAIN.md B1).
    """
    t = max(t_years, 0.0)
    forward = spot * math.exp((rate - div_yield) * t)
    return black76_price(forward, strike, t, sigma, math.exp(-rate * t), is_call)


@kernel
def black76_prices(forward, strike, t_years, sigma, discount, is_call):
    """:func:`black76_price` over 1-D arrays of equal length ``n``; returns ``(n,)`` USD prices.

    ``is_call`` is a boolean array; scalars broadcast with ``np.broadcast_to(x, n)``.
    """
    n = forward.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = black76_price(forward[i], strike[i], t_years[i], sigma[i], discount[i], is_call[i])
    return out


@kernel
def bs_prices(spot, strike, t_years, rate, div_yield, sigma, is_call):
    """:func:`bs_price` over 1-D arrays of equal length ``n``; returns ``(n,)`` USD prices."""
    n = spot.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = bs_price(
            spot[i], strike[i], t_years[i], rate[i], div_yield[i], sigma[i], is_call[i]
        )
    return out
