"""Implied-vol solver: round trips on a wide grid, status codes at the edges, real Deribit marks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from protocols.margin.deribit_marks import load_deribit_quotes
from protocols.margin.greek_kernels import PRICE, black76_greeks_coin
from protocols.margin.implied_vol import (
    IvStatus,
    black76_implied_vol,
    black76_implied_vol_coin,
    black76_implied_vol_scalar,
    bs_implied_vol,
)
from protocols.margin.option_kernels import black76_price, black76_prices, bs_prices


def _grid():
    """Calls and puts over log-moneyness -8..8 standard deviations, T 30 s..10 y, vol 1%..250%."""
    z, t, vol = np.meshgrid(
        np.linspace(-8.0, 8.0, 33),
        np.geomspace(1e-6, 10.0, 15),
        np.geomspace(0.01, 2.5, 12),
        indexing="ij",
    )
    z, t, vol = z.ravel(), t.ravel(), vol.ravel()
    n = z.size
    forward = np.full(n, 100.0)
    strike = forward * np.exp(z * vol * np.sqrt(t))
    disc = np.exp(-0.05 * t)
    return (
        np.concatenate([forward, forward]),
        np.concatenate([strike, strike]),
        np.concatenate([t, t]),
        np.concatenate([vol, vol]),
        np.concatenate([disc, disc]),
        np.repeat([True, False], n),
    )


def test_black76_implied_vol_round_trips_over_a_wide_grid():
    f, k, t, vol, disc, call = _grid()
    price = black76_prices(f, k, t, vol, disc, call)
    sigma, status = black76_implied_vol(price, f, k, t, disc, call)
    otm_value = black76_prices(f, k, t, vol, disc, k >= f)  # the price's time value, exactly
    intrinsic = np.maximum(np.where(call, f - k, k - f), 0.0)
    priced = price / disc - intrinsic > 0.0  # a time value that survived float64 rounding
    assert np.all(status[priced] == IvStatus.OK)
    assert np.all(status[~priced] == IvStatus.BELOW_INTRINSIC)
    assert np.all(sigma[~priced] == 0.0)
    scale = disc * np.maximum(f, k)  # the size of the terms the price is computed from
    assert np.all(otm_value[~priced] < 1e-13 * scale[~priced])  # lost to rounding, nothing else
    # An OTM price, or an ITM one whose time value is >= 1e-6 of the terms the price is made of,
    # pins sigma down tightly; a deeper ITM price carries too few digits of time value to say
    # more than the repricing check below.
    otm = call == (k >= f)
    conditioned = (otm | (otm_value > 1e-6 * scale)) & (price > 1e-250)
    assert conditioned.sum() > 0.6 * priced.sum()
    assert np.abs(sigma[conditioned] / vol[conditioned] - 1.0).max() < 1e-9
    # Everywhere solved: repricing gives the price back to float64 rounding of its parts.
    repriced = black76_prices(f, k, t, sigma, disc, call)
    assert np.all(np.abs(repriced - price)[priced] <= 1e-13 * scale[priced])


def test_black76_implied_vol_matches_brentq_reference():
    rng = np.random.default_rng(11)
    n = 200
    f = rng.uniform(50.0, 150.0, n)
    k = f * np.exp(rng.uniform(-1.0, 1.0, n))
    t = rng.uniform(0.01, 3.0, n)
    vol = rng.uniform(0.05, 2.0, n)
    call = k >= f  # OTM: the reference solves on a price that is all time value
    price = black76_prices(f, k, t, vol, np.ones(n), call)
    sigma, status = black76_implied_vol(price, f, k, t, np.ones(n), call)
    assert np.all(status == IvStatus.OK)
    for i in range(n):
        ref = brentq(
            lambda s, i=i: black76_price(f[i], k[i], t[i], s, 1.0, call[i]) - price[i],
            1e-6,
            10.0,
            xtol=1e-15,
            rtol=1e-15,
        )
        assert sigma[i] == pytest.approx(ref, rel=1e-9)


def test_bs_implied_vol_round_trips_with_yield():
    rng = np.random.default_rng(12)
    n = 500
    s = rng.uniform(50.0, 150.0, n)
    k = s * np.exp(rng.uniform(-0.8, 0.8, n))
    t = rng.uniform(0.01, 3.0, n)
    r = rng.uniform(-0.01, 0.1, n)
    q = rng.uniform(0.0, 0.06, n)
    vol = rng.uniform(0.05, 2.0, n)
    call = rng.random(n) < 0.5
    price = bs_prices(s, k, t, r, q, vol, call)
    sigma, status = bs_implied_vol(price, s, k, t, r, q, call)
    forward = s * np.exp((r - q) * t)
    otm_value = bs_prices(s, k, t, r, q, vol, k >= forward)
    conditioned = otm_value > 1e-6 * price
    assert conditioned.sum() > 0.9 * n
    assert np.all(status[conditioned] == IvStatus.OK)
    np.testing.assert_allclose(sigma[conditioned], vol[conditioned], rtol=1e-9)


def test_coin_implied_vol_round_trips_coin_prices():
    n = 50
    f = np.full(n, 68_000.0)
    k = np.linspace(40_000.0, 120_000.0, n)
    t = np.full(n, 30.0 / 365.0)
    vol = np.linspace(0.4, 1.0, n)
    call = k >= f
    price_coin = black76_greeks_coin(f, k, t, vol, np.ones(n), call)[PRICE]
    sigma, status = black76_implied_vol_coin(price_coin, f, k, t, np.ones(n), call)
    assert np.all(status == IvStatus.OK)
    np.testing.assert_allclose(sigma, vol, rtol=1e-10)


def test_coin_implied_vol_reproduces_shipped_deribit_mark_ivs():
    """Deribit coin marks (rounded to 0.0001 BTC) give back Deribit's mark IV where vega allows."""
    for asset in ("BTC", "ETH"):
        q = load_deribit_quotes(asset)
        n = q["t_years"].size
        one = np.ones(n)
        sigma, status = black76_implied_vol_coin(
            q["mark_price_coin"], q["forward_usd"], q["strike_usd"], q["t_years"], one, q["is_call"]
        )
        assert np.all(status != IvStatus.BAD_INPUT)
        vega_coin_per_unit = (
            black76_greeks_coin(
                q["forward_usd"], q["strike_usd"], q["t_years"], q["mark_iv"], one, q["is_call"]
            )[3]
            * 100
        )
        # half a price tick moves the IV by 0.00005 / vega; keep quotes where that is < 0.5 pt
        informative = (q["mark_price_coin"] >= 0.001) & (0.00005 / vega_coin_per_unit < 0.005)
        assert informative.sum() > 0.6 * n
        assert np.all(status[informative] == IvStatus.OK)
        err = np.abs(sigma - q["mark_iv"])[informative]
        assert np.median(err) < 0.001  # a tenth of a vol point
        assert np.quantile(err, 0.98) < 0.01


# ------------------------------------------------------------------ status codes
@pytest.mark.parametrize(
    ("price", "forward", "strike", "t_years", "discount", "is_call", "status", "sigma"),
    [
        (19.0, 120.0, 100.0, 1.0, 1.0, True, IvStatus.BELOW_INTRINSIC, 0.0),  # below F - K
        (20.0, 120.0, 100.0, 1.0, 1.0, True, IvStatus.BELOW_INTRINSIC, 0.0),  # at intrinsic
        (0.0, 100.0, 120.0, 1.0, 1.0, True, IvStatus.BELOW_INTRINSIC, 0.0),  # OTM, worth 0
        (-1.0, 100.0, 100.0, 1.0, 1.0, False, IvStatus.BELOW_INTRINSIC, 0.0),  # negative price
        (9.4, 100.0, 90.0, 1.0, 0.95, True, IvStatus.BELOW_INTRINSIC, 0.0),  # < D (F - K)
        (100.0, 100.0, 90.0, 1.0, 1.0, True, IvStatus.ABOVE_UPPER_BOUND, math.inf),  # = F
        (101.0, 100.0, 90.0, 1.0, 1.0, True, IvStatus.ABOVE_UPPER_BOUND, math.inf),
        (96.0, 100.0, 100.0, 1.0, 0.95, True, IvStatus.ABOVE_UPPER_BOUND, math.inf),  # > D F
        (90.0, 100.0, 90.0, 1.0, 1.0, False, IvStatus.ABOVE_UPPER_BOUND, math.inf),  # put = K
        (5.0, 100.0, 100.0, 0.0, 1.0, True, IvStatus.ZERO_TIME, math.nan),
        (5.0, 100.0, 100.0, -0.1, 1.0, True, IvStatus.ZERO_TIME, math.nan),
        (math.nan, 100.0, 100.0, 1.0, 1.0, True, IvStatus.BAD_INPUT, math.nan),
        (5.0, math.inf, 100.0, 1.0, 1.0, True, IvStatus.BAD_INPUT, math.nan),
        (5.0, 0.0, 100.0, 1.0, 1.0, True, IvStatus.BAD_INPUT, math.nan),
        (5.0, 100.0, -1.0, 1.0, 1.0, True, IvStatus.BAD_INPUT, math.nan),
        (5.0, 100.0, 100.0, 1.0, 0.0, True, IvStatus.BAD_INPUT, math.nan),
        (5.0, 100.0, 100.0, math.nan, 1.0, True, IvStatus.BAD_INPUT, math.nan),
    ],
)
def test_implied_vol_status_codes_at_and_beyond_the_bounds(
    price, forward, strike, t_years, discount, is_call, status, sigma
):
    got_sigma, got_status = black76_implied_vol_scalar(
        price, forward, strike, t_years, discount, is_call
    )
    assert got_status == status
    if math.isnan(sigma):
        assert math.isnan(got_sigma)
    else:
        assert got_sigma == sigma
    arr_sigma, arr_status = black76_implied_vol(
        *(np.array([v]) for v in (price, forward, strike, t_years, discount, is_call))
    )
    assert arr_status[0] == status and arr_status.dtype == np.int8
    assert np.array_equal(arr_sigma, [got_sigma], equal_nan=True)


def test_implied_vol_tiny_expiry_and_extreme_vol():
    # 0.1 s to expiry at 80% vol, ATM and slightly OTM; and an 800% vol one-year option.
    t = 0.1 / (365 * 86400)
    for k in (100.0, 100.01):
        price = black76_price(100.0, k, t, 0.8, 1.0, True)
        sigma, status = black76_implied_vol_scalar(price, 100.0, k, t, 1.0, True)
        assert status == IvStatus.OK and sigma == pytest.approx(0.8, rel=1e-8)
    price = black76_price(100.0, 100.0, 1.0, 8.0, 1.0, False)
    sigma, status = black76_implied_vol_scalar(price, 100.0, 100.0, 1.0, 1.0, False)
    assert status == IvStatus.OK and sigma == pytest.approx(8.0, rel=1e-9)
    # At 2000% the price equals its upper bound K in float64: no vol can be recovered.
    price = black76_price(100.0, 100.0, 1.0, 20.0, 1.0, False)
    assert black76_implied_vol_scalar(price, 100.0, 100.0, 1.0, 1.0, False)[1] == (
        IvStatus.ABOVE_UPPER_BOUND
    )


def test_iv_status_is_a_small_intenum():
    assert [s.name for s in IvStatus] == [
        "OK",
        "BELOW_INTRINSIC",
        "ABOVE_UPPER_BOUND",
        "ZERO_TIME",
        "NOT_CONVERGED",
        "BAD_INPUT",
    ]
    assert all(isinstance(s.value, int) for s in IvStatus)


_any_float = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=400, deadline=None)
@given(_any_float, _any_float, _any_float, _any_float, _any_float, st.booleans())
def test_implied_vol_never_raises_and_nan_always_has_a_status(price, f, k, t, disc, call):
    sigma, status = black76_implied_vol_scalar(price, f, k, t, disc, call)
    status = IvStatus(status)  # a known code
    if math.isnan(sigma):
        assert status in (IvStatus.ZERO_TIME, IvStatus.BAD_INPUT)
    if status == IvStatus.OK:
        assert math.isfinite(sigma) and sigma >= 0.0  # 0 only by underflow (e.g. T = 1e216)
    assert status != IvStatus.NOT_CONVERGED or math.isfinite(sigma)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(1e-3, 1e5),
    st.floats(-5.0, 5.0),
    st.floats(1e-12, 10.0),
    st.floats(0.005, 3.0),
    st.floats(0.3, 1.0),
    st.booleans(),
)
def test_implied_vol_recovers_sigma_whenever_the_price_has_time_value(f, mny, t, vol, disc, call):
    k = f * math.exp(mny)
    price = black76_price(f, k, t, vol, disc, call)
    sigma, status = black76_implied_vol_scalar(price, f, k, t, disc, call)
    if price / disc - max(f - k if call else k - f, 0.0) > 0.0:
        assert status == IvStatus.OK
        repriced = black76_price(f, k, t, sigma, disc, call)
        assert abs(repriced - price) <= 1e-13 * disc * max(f, k)
    else:
        assert status == IvStatus.BELOW_INTRINSIC
