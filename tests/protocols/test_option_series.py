"""SeriesTable: listing, rolling, settlement and lookup of option series."""

from __future__ import annotations

import numpy as np
import pytest

from protocols.option_series import ListingParams, SeriesTable


def _table() -> SeriesTable:
    params = ListingParams(expiries_days=(1.0, 7.0), strikes_moneyness=(0.9, 1.0, 1.1))
    return SeriesTable(params, step_seconds=3600)


def test_series_table_lists_calls_and_puts_per_strike_and_tenor() -> None:
    t = _table()
    ids = t.list_all(step=0, spot_usd=3012.0)
    assert ids.tolist() == list(range(12))
    # strikes rounded to the 25-USD tick around the spot of listing
    assert sorted(set(t.strike_usd.tolist())) == [2700.0, 3000.0, 3325.0]
    assert t.is_call.sum() == 6
    assert sorted(set(t.expiry_step.tolist())) == [24, 168]
    np.testing.assert_allclose(t.t_years(np.array([0, 6]), 12), [12 / 8760, 156 / 8760])


def test_series_table_rolls_an_expired_board_at_the_new_spot() -> None:
    t = _table()
    t.list_all(step=0, spot_usd=3000.0)
    assert t.expiring(23).size == 0
    due = t.expiring(24)
    assert due.size == 6 and (t.slot[due] == 0).all()
    new = t.settle(due, 24, spot_usd=2000.0)
    assert new.size == 6
    assert not t.active[due].any() and t.active[new].all()
    assert (t.expiry_step[new] == 48).all()
    assert sorted(set(t.strike_usd[new].tolist())) == [1800.0, 2000.0, 2200.0]
    assert t.t_years(due, 30).max() == 0.0


def test_series_table_find_prefers_nearest_expiry_then_strike() -> None:
    t = _table()
    t.list_all(step=0, spot_usd=3000.0)
    sid = t.find(is_call=False, strike_usd=2800.0, tenor_days=6.0, step=0)
    assert not t.is_call[sid] and t.expiry_step[sid] == 168 and t.strike_usd[sid] == 2700.0
    t.settle(t.active_ids(), 0, 3000.0)  # nothing active of the old ids; new boards listed
    assert t.find(is_call=True, strike_usd=3000.0, tenor_days=1.0, step=0) >= 12


def test_series_table_strike_tick_shrinks_with_the_spot() -> None:
    t = SeriesTable(ListingParams(strikes_moneyness=(0.9, 0.95, 1.0, 1.05)), step_seconds=60)
    ids = t.list_board(0, 0, spot_usd=195.0)  # ETH on 2020-03-12: a $1 tick (1% of spot -> 1)
    assert sorted(set(t.strike_usd[ids].tolist())) == [176.0, 185.0, 195.0, 205.0]
    ids = t.list_board(0, 0, spot_usd=60_000.0)  # the 25-USD tick is finer than 1% of spot
    assert sorted(set(t.strike_usd[ids].tolist())) == [54_000.0, 57_000.0, 60_000.0, 63_000.0]


def test_listing_params_name_the_field_and_rule() -> None:
    with pytest.raises(ValueError, match=r"ListingParams.expiries_days: every value must be > 0"):
        ListingParams(expiries_days=(7.0, -1.0))
    with pytest.raises(ValueError, match=r"ListingParams.strike_tick_usd: must be > 0"):
        ListingParams(strike_tick_usd=0.0)
    with pytest.raises(ValueError, match=r"spot_usd must be > 0"):
        _table().list_board(0, 0, float("nan"))
