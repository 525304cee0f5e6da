"""Standard margin (DOMAIN.md A1): hand-computed positions, Deribit futures examples, reference."""

from __future__ import annotations

import numpy as np
import pytest

from protocols.margin.book import InstrumentKind, PositionBook
from protocols.margin.margin_references import random_book, standard_margin_ref
from protocols.margin.option_kernels import black76_price
from protocols.margin.standard_margin import (
    MarginCurrency,
    StandardMarginParams,
    aevo_params,
    standard_margin,
)

S = 60_000.0
FUT, CALL, PUT = InstrumentKind.FUTURE, InstrumentKind.CALL, InstrumentKind.PUT


def _one(kind, size, strike=0.0, t=0.0, iv=0.0):
    return PositionBook(
        account=np.array([0]),
        kind=np.array([int(kind)]),
        size_base=np.array([size]),
        strike_usd=np.array([strike]),
        t_years=np.array([t]),
        iv=np.array([iv]),
        n_accounts=1,
    )


def _mark_coin(kind, strike, t, iv):
    return black76_price(S, strike, t, iv, 1.0, kind == CALL) / S


def test_short_call_by_hand():
    k, t, iv = 66_000.0, 30 / 365, 0.6
    mark = _mark_coin(CALL, k, t, iv)
    r = standard_margin(_one(CALL, -2.0, k, t, iv), S)
    otm = (k - S) / S  # 0.10
    assert r.initial[0] == pytest.approx(2 * (max(0.15 - otm, 0.10) + mark), rel=1e-12)
    assert r.initial[0] == pytest.approx(2 * (0.10 + mark), rel=1e-12)
    assert r.maintenance[0] == pytest.approx(2 * (0.075 + mark), rel=1e-12)
    usd = standard_margin(_one(CALL, -2.0, k, t, iv), S, aevo_params(), currency=MarginCurrency.USD)
    assert usd.maintenance[0] == pytest.approx(2 * (0.10 * S + mark * S), rel=1e-12)
    assert usd.initial[0] == pytest.approx(2 * (0.10 * S + mark * S), rel=1e-12)


def test_short_put_near_the_money_by_hand():
    k, t, iv = 57_000.0, 14 / 365, 0.5
    mark = _mark_coin(PUT, k, t, iv)
    r = standard_margin(_one(PUT, -1.0, k, t, iv), S)
    assert r.initial[0] == pytest.approx(0.15 - 0.05 + mark, rel=1e-12)
    assert r.maintenance[0] == pytest.approx(0.075 + mark, rel=1e-12)


def test_deep_itm_short_put_initial_is_floored_at_maintenance():
    k, t, iv = 4 * S, 30 / 365, 0.6  # mark ~ 3 coins: 0.075 x mark > 0.15
    mark = _mark_coin(PUT, k, t, iv)
    assert mark > 2.0
    r = standard_margin(_one(PUT, -1.0, k, t, iv), S)
    assert r.maintenance[0] == pytest.approx(1.075 * mark, rel=1e-12)
    assert r.initial[0] == pytest.approx(r.maintenance[0], rel=1e-12)


@pytest.mark.parametrize("kind", [CALL, PUT])
def test_long_option_needs_its_premium_only(kind):
    k, t, iv = 62_000.0, 7 / 365, 0.8
    r = standard_margin(_one(kind, 3.0, k, t, iv), S)
    assert r.initial[0] == pytest.approx(3 * _mark_coin(kind, k, t, iv), rel=1e-12)
    assert r.maintenance[0] == 0.0


@pytest.mark.parametrize(("size", "im_btc"), [(25.0, 0.53125), (350.0, 13.125), (-25.0, 0.53125)])
def test_deribit_futures_examples(size, im_btc):
    # test.deribit.com/pages/docs/futures: IM 2% + 0.5% per 100 BTC (its worked examples)
    r = standard_margin(_one(FUT, size), S)
    assert r.initial[0] == pytest.approx(im_btc, rel=1e-12)
    q = abs(size)
    assert r.maintenance[0] == pytest.approx(q * (0.015 + 0.005 * q / 100), rel=1e-12)
    usd = standard_margin(_one(FUT, size), S, currency=MarginCurrency.USD)
    assert usd.initial[0] == pytest.approx(im_btc * S, rel=1e-12)


@pytest.mark.parametrize("currency", list(MarginCurrency))
@pytest.mark.parametrize("params", [StandardMarginParams(), aevo_params()])
@pytest.mark.parametrize(("seed", "n", "n_accounts"), [(1, 0, 2), (2, 1, 1), (3, 2000, 300)])
def test_standard_margin_matches_numpy_reference(currency, params, seed, n, n_accounts):
    book = random_book(np.random.default_rng(seed), n, n_accounts, S)
    r = standard_margin(book, S, params, currency=currency)
    im, mm = standard_margin_ref(book, S, params, currency)
    assert r.currency is currency
    np.testing.assert_allclose(r.initial, im, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(r.maintenance, mm, rtol=1e-11, atol=1e-12)
    assert (r.initial >= r.maintenance - 1e-9 * np.abs(r.initial)).all()


def test_usd_margin_is_coin_margin_times_index():
    book = random_book(np.random.default_rng(9), 500, 50, S)
    coin = standard_margin(book, S)
    usd = standard_margin(book, S, currency=MarginCurrency.USD)
    np.testing.assert_allclose(usd.initial, coin.initial * S, rtol=1e-12)
    np.testing.assert_allclose(usd.maintenance, coin.maintenance * S, rtol=1e-12)


def test_standard_margin_rejects_bad_input():
    with pytest.raises(ValueError, match=r"standard_margin\.index_usd: must be > 0"):
        standard_margin(_one(FUT, 1.0), 0.0)
    with pytest.raises(ValueError, match=r"StandardMarginParams\.short_call_mm_frac: must be >= 0"):
        StandardMarginParams(short_call_mm_frac=-0.1)
    with pytest.raises(ValueError, match=r"StandardMarginParams\.option_im_floor_frac"):
        StandardMarginParams(option_im_floor_frac=0.2)
