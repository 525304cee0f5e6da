"""Price and Greeks kernels: DOMAIN.md B1 vectors, QuantLib, parity, finite differences, twins."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.margin.greek_kernels import (
    DELTA,
    GAMMA,
    GREEK_ROWS,
    PRICE,
    RHO,
    THETA,
    VEGA,
    black76_greeks_coin,
    black76_greeks_coin_into,
    black76_greeks_usd,
    black76_greeks_usd_into,
    bs_greeks_usd,
    bs_greeks_usd_into,
)
from protocols.margin.option_kernels import black76_price, black76_prices, bs_price, bs_prices
from protocols.margin.pricing_references import (
    numpy_black76_greeks_coin,
    numpy_black76_greeks_usd,
    numpy_black76_prices,
    numpy_bs_greeks_usd,
    numpy_bs_prices,
)


def _arr(*values):
    return [np.atleast_1d(np.asarray(v, dtype=float)) for v in values]


def _bs(s, k, t, r, q, vol, call):
    return bs_greeks_usd(*_arr(s, k, t, r, q, vol), np.atleast_1d(call))[:, 0]


def _b76(f, k, t, vol, disc, call, coin=False):
    kern = black76_greeks_coin if coin else black76_greeks_usd
    return kern(*_arr(f, k, t, vol, disc), np.atleast_1d(call))[:, 0]


def _close(actual, desired, atol):
    """``|actual - desired| <= atol`` elementwise, ``atol`` an array or a scalar."""
    np.testing.assert_array_less(np.abs(np.asarray(actual) - desired), atol)


def _random_inputs(rng: np.random.Generator, n: int):
    spot = rng.uniform(50.0, 150.0, n)
    strike = spot * np.exp(rng.uniform(-0.7, 0.7, n))
    t = rng.uniform(0.02, 3.0, n)
    rate = rng.uniform(-0.01, 0.10, n)
    q = rng.uniform(0.0, 0.06, n)
    vol = rng.uniform(0.05, 1.5, n)
    call = rng.random(n) < 0.5
    return spot, strike, t, rate, q, vol, call


# ------------------------------------------------------------------ DOMAIN.md B1 vectors
def test_bs_greeks_hull_example_15_6():
    call = _bs(42, 40, 0.5, 0.10, 0.0, 0.20, True)
    put = _bs(42, 40, 0.5, 0.10, 0.0, 0.20, False)
    assert call[PRICE] == pytest.approx(4.759422, abs=1e-6)
    assert put[PRICE] == pytest.approx(0.808599, abs=1e-6)
    assert call[DELTA] == pytest.approx(0.779131, abs=1e-6)
    assert call[GAMMA] == pytest.approx(0.049963, abs=1e-6)
    assert call[VEGA] * 100 == pytest.approx(8.813415, abs=1e-6)
    assert call[THETA] * 365 == pytest.approx(-4.559092, abs=1e-6)
    assert call[RHO] * 100 == pytest.approx(13.982046, abs=1e-6)
    assert bs_price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, True) == pytest.approx(4.759422, abs=1e-6)


def test_bs_greeks_hull_chapter_19_example():
    t = 20.0 / 52.0
    call = _bs(49, 50, t, 0.05, 0.0, 0.20, True)
    put = _bs(49, 50, t, 0.05, 0.0, 0.20, False)
    expected_call = {PRICE: 2.400527, DELTA: 0.521605, GAMMA: 0.065544}
    for row, value in expected_call.items():
        assert call[row] == pytest.approx(value, abs=1e-6)
    assert call[VEGA] * 100 == pytest.approx(12.10548, abs=1e-5)
    assert call[VEGA] == pytest.approx(0.121, abs=5e-4)  # Hull: 0.121 per 1%
    assert call[THETA] * 365 == pytest.approx(-4.30533, abs=1e-5)
    assert call[THETA] == pytest.approx(-0.0118, abs=5e-5)  # Hull: per calendar day
    assert call[RHO] * 100 == pytest.approx(8.906962, abs=1e-6)
    assert put[PRICE] == pytest.approx(2.448175, abs=1e-6)
    assert put[DELTA] == pytest.approx(-0.478395, abs=1e-6)
    assert put[THETA] * 365 == pytest.approx(-1.852947, abs=1e-6)
    assert put[RHO] * 100 == pytest.approx(-9.957518, abs=1e-6)


def test_bs_price_haug_generalised_put_with_yield():
    put = _bs(75, 70, 0.5, 0.10, 0.05, 0.35, False)
    call = _bs(75, 70, 0.5, 0.10, 0.05, 0.35, True)
    assert put[PRICE] == pytest.approx(4.086954, abs=1e-6)
    assert call[PRICE] == pytest.approx(10.649138, abs=1e-6)
    assert bs_price(75.0, 70.0, 0.5, 0.10, 0.05, 0.35, False) == pytest.approx(4.086954, abs=1e-6)


def test_black76_hull_futures_option_example():
    t = 4.0 / 12.0
    disc = math.exp(-0.09 * t)
    call = _b76(20, 20, t, 0.25, disc, True)
    put = _b76(20, 20, t, 0.25, disc, False)
    assert call[PRICE] == pytest.approx(1.116641, abs=1e-6)
    assert put[PRICE] == pytest.approx(1.116641, abs=1e-6)
    assert call[DELTA] == pytest.approx(0.513139, abs=1e-6)
    assert call[GAMMA] == pytest.approx(0.133765, abs=1e-6)
    assert call[VEGA] * 100 == pytest.approx(4.458817, abs=1e-6)
    assert black76_price(20.0, 20.0, t, 0.25, disc, True) == pytest.approx(1.116641, abs=1e-6)


@pytest.mark.parametrize("model", ["bs", "black76"])
def test_greeks_crypto_atm_row(model):
    t = 30.0 / 365.0
    args = (60_000, 60_000, t, 0.0, 0.0, 0.60) if model == "bs" else (60_000, 60_000, t, 0.60, 1.0)
    kern = _bs if model == "bs" else _b76
    call, put = kern(*args, True), kern(*args, False)
    assert call[PRICE] == pytest.approx(4112.364431, abs=1e-5)
    assert put[PRICE] == pytest.approx(4112.364431, abs=1e-5)
    assert call[DELTA] == pytest.approx(0.534270, abs=1e-6)
    assert call[GAMMA] == pytest.approx(3.9e-5, abs=5e-7)
    assert call[VEGA] * 100 == pytest.approx(6837.057, abs=1e-3)
    assert call[VEGA] == pytest.approx(68.37, abs=5e-3)
    assert call[THETA] == pytest.approx(-68.3706, abs=1e-4)


def test_greeks_crypto_otm_row():
    t = 7.0 / 365.0
    call = _bs(3000, 3300, t, 0.0, 0.0, 0.70, True)
    put = _bs(3000, 3300, t, 0.0, 0.0, 0.70, False)
    assert call[PRICE] == pytest.approx(26.216667, abs=1e-6)
    assert put[PRICE] == pytest.approx(326.216667, abs=1e-6)
    assert call[DELTA] == pytest.approx(0.174966, abs=1e-6)
    assert call[VEGA] == pytest.approx(1.070806, abs=1e-6)
    assert call[THETA] == pytest.approx(-5.35403, abs=1e-5)


def test_black76_coin_greeks_are_deribit_premium_adjusted():
    f, k, t, vol = 60_000.0, 65_000.0, 30.0 / 365.0, 0.6
    usd = _b76(f, k, t, vol, 1.0, True)
    coin = _b76(f, k, t, vol, 1.0, True, coin=True)
    assert coin[PRICE] == pytest.approx(usd[PRICE] / f, rel=1e-14)
    assert coin[DELTA] == pytest.approx(usd[DELTA] - usd[PRICE] / f, rel=1e-13)  # DOMAIN.md B1
    assert coin[GAMMA] == pytest.approx(usd[GAMMA] - coin[DELTA] / f, rel=1e-12)
    for row in (VEGA, THETA, RHO):
        assert coin[row] == pytest.approx(usd[row] / f, rel=1e-14)


def test_greek_rows_name_units():
    assert GREEK_ROWS == (
        "price",
        "delta",
        "gamma",
        "vega_per_vol_point",
        "theta_per_day",
        "rho_per_pct",
    )
    assert tuple(range(6)) == (PRICE, DELTA, GAMMA, VEGA, THETA, RHO)


# ------------------------------------------------------------------ QuantLib
def test_bs_greeks_match_quantlib_analytic_european_engine():
    rng = np.random.default_rng(20240524)
    n = 1500
    today = ql.Date(24, 5, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot_q, rate_q, div_q, vol_q = (ql.SimpleQuote(0.0) for _ in range(4))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot_q),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(div_q), dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(rate_q), dc)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vol_q), dc)
        ),
    )
    engine = ql.AnalyticEuropeanEngine(process)
    spot, strike, _, rate, q, vol, call = _random_inputs(rng, n)
    days = rng.integers(1, 3 * 365, n)
    t = days / 365.0
    ours = bs_greeks_usd(spot, strike, t, rate, q, vol, call)
    theirs = np.empty((6, n))
    for i in range(n):
        spot_q.setValue(spot[i])
        rate_q.setValue(rate[i])
        div_q.setValue(q[i])
        vol_q.setValue(vol[i])
        kind = ql.Option.Call if call[i] else ql.Option.Put
        option = ql.VanillaOption(
            ql.PlainVanillaPayoff(kind, strike[i]), ql.EuropeanExercise(today + int(days[i]))
        )
        option.setPricingEngine(engine)
        theirs[:, i] = (
            option.NPV(),
            option.delta(),
            option.gamma(),
            option.vega() / 100,
            option.theta() / 365,
            option.rho() / 100,
        )
    scale = np.array([spot, np.ones(n), 1 / spot, spot, spot, spot])  # each row's natural size
    np.testing.assert_array_less(np.abs(ours - theirs) / scale, 1e-10)


def test_black76_greeks_match_quantlib_black_calculator():
    rng = np.random.default_rng(7)
    n = 3000
    forward, strike, t, rate, _, vol, call = _random_inputs(rng, n)
    disc = np.exp(-rate * t)
    ours = black76_greeks_usd(forward, strike, t, vol, disc, call)
    for i in range(n):
        kind = ql.Option.Call if call[i] else ql.Option.Put
        bc = ql.BlackCalculator(
            ql.PlainVanillaPayoff(kind, strike[i]), forward[i], vol[i] * math.sqrt(t[i]), disc[i]
        )
        expected = (bc.value(), bc.deltaForward(), bc.gammaForward(), bc.vega(t[i]) / 100)
        scale = (forward[i], 1.0, 1.0 / forward[i], forward[i])
        for row, (value, size) in enumerate(zip(expected, scale, strict=True)):
            assert abs(ours[row, i] - value) <= 1e-11 * size, (row, i)


# ------------------------------------------------------------------ parity, FD, degenerate
def test_bs_put_call_parity_in_price_and_greeks():
    rng = np.random.default_rng(1)
    spot, strike, t, rate, q, vol, _ = _random_inputs(rng, 2000)
    c = bs_greeks_usd(spot, strike, t, rate, q, vol, np.ones(2000, dtype=bool))
    p = bs_greeks_usd(spot, strike, t, rate, q, vol, np.zeros(2000, dtype=bool))
    dq, dr = np.exp(-q * t), np.exp(-rate * t)
    _close(c[PRICE] - p[PRICE], spot * dq - strike * dr, 1e-11 * spot)
    np.testing.assert_allclose(c[DELTA] - p[DELTA], dq, atol=1e-14)
    np.testing.assert_allclose(c[GAMMA], p[GAMMA], rtol=1e-14)
    np.testing.assert_allclose(c[VEGA], p[VEGA], rtol=1e-14)


def test_black76_put_call_parity_usd_and_coin():
    rng = np.random.default_rng(2)
    f, k, t, rate, _, vol, _ = _random_inputs(rng, 2000)
    disc = np.exp(-rate * t)
    calls, puts = np.ones(2000, dtype=bool), np.zeros(2000, dtype=bool)
    c = black76_greeks_usd(f, k, t, vol, disc, calls)
    p = black76_greeks_usd(f, k, t, vol, disc, puts)
    _close(c[PRICE] - p[PRICE], disc * (f - k), 1e-11 * f)
    np.testing.assert_allclose(c[DELTA] - p[DELTA], disc, atol=1e-14)
    cc = black76_greeks_coin(f, k, t, vol, disc, calls)
    pc = black76_greeks_coin(f, k, t, vol, disc, puts)
    np.testing.assert_allclose(cc[PRICE] - pc[PRICE], disc * (1.0 - k / f), atol=1e-13)
    np.testing.assert_allclose(cc[DELTA] - pc[DELTA], disc * k / f, atol=1e-13)  # F d(1-K/F)/dF


def test_bs_greeks_match_central_finite_differences():
    rng = np.random.default_rng(3)
    s, k, t, r, q, vol, call = _random_inputs(rng, 400)
    g = bs_greeks_usd(s, k, t, r, q, vol, call)

    def price(**bump):
        a = {"s": s, "t": t, "r": r, "vol": vol} | bump
        return bs_prices(a["s"], k, a["t"], a["r"], q, a["vol"], call)

    h = 1e-4 * s
    _close(g[DELTA], (price(s=s + h) - price(s=s - h)) / (2 * h), 1e-6)
    gamma_fd = (price(s=s + h) - 2 * price() + price(s=s - h)) / h**2
    _close(g[GAMMA], gamma_fd, 1e-4 * np.abs(g[GAMMA]) + 1e-6 / s)
    dv = 1e-5
    _close(g[VEGA], (price(vol=vol + dv) - price(vol=vol - dv)) / (2 * dv) / 100, 1e-7 * s)
    dt = 1e-5
    _close(g[THETA], -(price(t=t + dt) - price(t=t - dt)) / (2 * dt) / 365, 1e-7 * s)
    dr = 1e-6
    _close(g[RHO], (price(r=r + dr) - price(r=r - dr)) / (2 * dr) / 100, 1e-7 * s)


@pytest.mark.parametrize("coin", [False, True])
def test_black76_greeks_match_central_finite_differences(coin):
    rng = np.random.default_rng(4)
    f, k, t, r, _, vol, call = _random_inputs(rng, 400)
    kern = black76_greeks_coin if coin else black76_greeks_usd
    g = kern(f, k, t, vol, np.exp(-r * t), call)

    def price(ff=f, tt=t, rr=r, vv=vol):
        return kern(ff, k, tt, vv, np.exp(-rr * tt), call)[PRICE]

    h = 1e-4 * f
    if coin:  # Delta_coin = F dc/dF; Gamma_coin = d(Delta_coin)/dF

        def delta(ff):
            return ff * (price(ff=ff + 1e-4 * ff) - price(ff=ff - 1e-4 * ff)) / (2e-4 * ff)

        _close(g[DELTA], delta(f), 1e-6)
        gamma_fd = (delta(f + h) - delta(f - h)) / (2 * h)
        _close(g[GAMMA], gamma_fd, 1e-3 * np.abs(g[GAMMA]) + 1e-5 / f)
    else:
        _close(g[DELTA], (price(ff=f + h) - price(ff=f - h)) / (2 * h), 1e-6)
        gamma_fd = (price(ff=f + h) - 2 * price() + price(ff=f - h)) / h**2
        _close(g[GAMMA], gamma_fd, 1e-4 * np.abs(g[GAMMA]) + 1e-6 / f)
    size = 1.0 if coin else f
    dv, dt, dr = 1e-5, 1e-5, 1e-6
    _close(g[VEGA], (price(vv=vol + dv) - price(vv=vol - dv)) / (2 * dv) / 100, 1e-7 * size)
    _close(g[THETA], -(price(tt=t + dt) - price(tt=t - dt)) / (2 * dt) / 365, 1e-7 * size)
    _close(g[RHO], (price(rr=r + dr) - price(rr=r - dr)) / (2 * dr) / 100, 1e-7 * size)


def test_greeks_at_expiry_and_zero_vol_are_intrinsic_without_nan():
    s = np.array([110.0, 90.0, 110.0, 90.0, 110.0, 100.0])
    k = np.full(6, 100.0)
    t = np.array([0.0, 0.0, -1.0, 0.5, 0.5, 0.5])
    vol = np.array([0.5, 0.5, 0.5, 0.0, 0.0, 0.0])
    call = np.array([True, False, False, True, True, False])
    zero = np.zeros(6)
    g = bs_greeks_usd(s, k, t, zero, zero, vol, call)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g[PRICE], [10.0, 10.0, 0.0, 0.0, 10.0, 0.0])
    np.testing.assert_allclose(g[DELTA], [1.0, -1.0, 0.0, 0.0, 1.0, 0.0])
    assert np.all(g[GAMMA] == 0.0) and np.all(g[VEGA] == 0.0)
    b = black76_greeks_usd(s, k, t, vol, np.full(6, 0.95), call)
    assert np.all(np.isfinite(b))
    np.testing.assert_allclose(b[PRICE], [9.5, 9.5, 0.0, 0.0, 9.5, 0.0])


# ------------------------------------------------------------------ kernels vs NumPy twins
def test_kernels_match_numpy_references_including_degenerate_inputs():
    rng = np.random.default_rng(5)
    s, k, t, r, q, vol, call = _random_inputs(rng, 3000)
    t[:50] = 0.0
    vol[50:100] = 0.0
    disc = np.exp(-r * np.maximum(t, 0.0))
    pairs = [
        (bs_greeks_usd(s, k, t, r, q, vol, call), numpy_bs_greeks_usd(s, k, t, r, q, vol, call)),
        (
            black76_greeks_usd(s, k, t, vol, disc, call),
            numpy_black76_greeks_usd(s, k, t, vol, disc, call),
        ),
        (
            black76_greeks_coin(s, k, t, vol, disc, call),
            numpy_black76_greeks_coin(s, k, t, vol, disc, call),
        ),
    ]
    for ours, ref in pairs:
        np.testing.assert_allclose(ours, ref, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(
        bs_prices(s, k, t, r, q, vol, call),
        numpy_bs_prices(s, k, t, r, q, vol, call),
        rtol=1e-11,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        black76_prices(s, k, t, vol, disc, call),
        numpy_black76_prices(s, k, t, vol, disc, call),
        rtol=1e-11,
        atol=1e-12,
    )
    scalar = [bs_price.py_func(*a) for a in zip(s, k, t, r, q, vol, call, strict=True)]
    np.testing.assert_allclose(bs_prices(s, k, t, r, q, vol, call), scalar, rtol=1e-12, atol=1e-13)


def test_into_kernels_fill_the_callers_array_and_accept_broadcast_views():
    n = 5
    f = np.linspace(90.0, 110.0, n)
    k = np.broadcast_to(100.0, n)
    t = np.broadcast_to(0.25, n)
    vol = np.broadcast_to(0.6, n)
    disc = np.broadcast_to(1.0, n)
    call = np.broadcast_to(True, n)
    out = np.full((6, n), np.nan)
    assert black76_greeks_usd_into(f, k, t, vol, disc, call, out) is out
    np.testing.assert_array_equal(out, black76_greeks_usd(f, k, t, vol, disc, call))
    black76_greeks_coin_into(f, k, t, vol, disc, call, out)
    np.testing.assert_array_equal(out, black76_greeks_coin(f, k, t, vol, disc, call))
    zero = np.broadcast_to(0.0, n)
    bs_greeks_usd_into(f, k, t, zero, zero, vol, call, out)
    # r = q = 0: BS on spot equals Black-76 on the forward, except rho (spot vs forward held fixed)
    np.testing.assert_allclose(
        out[:RHO], black76_greeks_usd(f, k, t, vol, disc, call)[:RHO], rtol=1e-14
    )


# ------------------------------------------------------------------ Hypothesis properties
_spot = st.floats(1.0, 1e6)
_mny = st.floats(-2.0, 2.0)
_t = st.floats(1e-4, 5.0)
_r = st.floats(-0.02, 0.2)
_vol = st.floats(0.01, 3.0)


@settings(max_examples=300, deadline=None)
@given(_spot, _mny, _t, _r, st.floats(0.0, 0.1), _vol, st.booleans())
def test_bs_price_within_no_arbitrage_bounds(s, mny, t, r, q, vol, call):
    k = s * math.exp(mny)
    price = bs_price(s, k, t, r, q, vol, call)
    fwd_s, pv_k = s * math.exp(-q * t), k * math.exp(-r * t)
    tol = 1e-12 * (fwd_s + pv_k)
    lower = max(fwd_s - pv_k, 0.0) if call else max(pv_k - fwd_s, 0.0)
    upper = fwd_s if call else pv_k
    assert lower - tol <= price <= upper + tol


@settings(max_examples=200, deadline=None)
@given(_spot, _mny, _t, _r, _vol, st.booleans(), st.floats(1e-4, 0.2), st.floats(1e-3, 0.5))
def test_bs_price_monotone_in_spot_and_vol(s, mny, t, r, vol, call, bump_s, bump_vol):
    k = s * math.exp(mny)
    base = bs_price(s, k, t, r, 0.0, vol, call)
    tol = 1e-12 * (s + k)
    up_spot = bs_price(s * (1 + bump_s), k, t, r, 0.0, vol, call)
    assert (up_spot >= base - tol) if call else (up_spot <= base + tol)
    assert bs_price(s, k, t, r, 0.0, vol + bump_vol, call) >= base - tol


@settings(max_examples=200, deadline=None)
@given(_spot, _mny, _t, _vol, st.floats(0.5, 1.0), st.booleans())
def test_black76_greeks_signs(f, mny, t, vol, disc, call):
    g = _b76(f, f * math.exp(mny), t, vol, disc, call)
    assert g[GAMMA] >= 0.0 and g[VEGA] >= 0.0
    assert (0.0 <= g[DELTA] <= disc) if call else (-disc <= g[DELTA] <= 0.0)
