"""OptionsAMM trading and settlement: marks from the surface, IV impact, premium and fee accounting,
trade limits, cash settlement (DOMAIN.md A6)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.margin.deribit_marks import default_surface
from protocols.margin.option_kernels import black76_price
from protocols.option_series import ListingParams
from protocols.options_amm import OptionsAMM
from protocols.options_amm_params import OptionsAmmParams
from protocols.types import EventKind, FixedPrice, TxStatus

STEP = 60
SPOT = 3000.0


class World:
    """Ledger, bank, a fixed ETH oracle and an unhedged options AMM seeded by the bank."""

    def __init__(self, *, pool_usd: float = 10e6, **overrides) -> None:
        self.ledger = Ledger(("USDC", "ETH"))
        self.events = EventLog()
        self.bank = self.ledger.open_holder("bank")
        self.ledger.mint(self.bank, 0, 1e12, "genesis")
        self.oracle = FixedPrice(SPOT)
        params = OptionsAmmParams(board_settlement_cb_seconds=0.0, **overrides)
        self.amm = OptionsAMM(
            "opt",
            self.ledger,
            self.events,
            asset="ETH",
            oracle=self.oracle,
            params=params,
            surface=default_surface("ETH"),
            step_seconds=STEP,
        )
        assert self.amm.seed(self.bank, pool_usd) == TxStatus.OK

    def user(self, usd: float = 1e6) -> int:
        holder = self.ledger.open_holder(f"user{self.ledger.n_holders}")
        self.ledger.transfer(self.bank, holder, 0, usd)
        return holder

    def usdc(self, holder: int) -> float:
        return self.ledger.balance(holder, 0)

    def sid(self, strike: float = SPOT, tenor: float = 28.0, is_call: bool = True) -> int:
        return self.amm.series.find(is_call=is_call, strike_usd=strike, tenor_days=tenor, step=0)

    def mark(self, sid: int) -> float:
        s, amm = self.amm.series, self.amm
        t = float(s.t_years(sid, amm._step))
        return black76_price(SPOT, s.strike_usd[sid], t, amm.vol(sid), 1.0, bool(s.is_call[sid]))


def test_options_amm_marks_new_boards_from_the_surface() -> None:
    w = World()
    surface, s = default_surface("ETH"), w.amm.series
    assert s.active_ids().size == 42  # 3 boards x 7 strikes x call/put
    for sid in s.active_ids():
        t, k = float(s.t_years(sid, 0)), float(s.strike_usd[sid])
        atm = float(surface.implied_vol(SPOT, SPOT, t))
        assert w.amm.base_iv(s.expiry_step[sid]) == pytest.approx(atm)
        assert w.amm.skew(sid) == pytest.approx(float(surface.implied_vol(SPOT, k, t)) / atm)
        assert w.amm.vol(sid) == pytest.approx(float(surface.implied_vol(SPOT, k, t)))
    assert w.amm.lp_asset == "LP-OPT-ETH" and w.amm.share_price_usd == 1.0


def test_options_amm_listing_skews_are_clamped_to_the_gwav_band() -> None:
    # one-day board: the surface's wings are beyond skew 2 of ATM; Lyra's skew GWAV band is
    # [0.5, 2], so a raw wing skew would read as a permanent skew variance
    w = World(listing=ListingParams(expiries_days=(1.0,)))
    amm, surface = w.amm, default_surface("ETH")
    raw = [
        float(surface.implied_vol(SPOT, amm.series.strike_usd[i], 1 / 365.0))
        / float(surface.implied_vol(SPOT, SPOT, 1 / 365.0))
        for i in amm.series.active_ids()
    ]
    assert max(raw) > 2.0
    skews = [amm.skew(i) for i in amm.series.active_ids()]
    assert skews == pytest.approx([min(max(r, 0.5), 2.0) for r in raw])
    u = w.user()
    assert amm.buy(u, w.sid(tenor=1.0), 1.0).status == TxStatus.OK
    amm.accrue(0)
    assert amm.max_skew_variance == pytest.approx(0.0075 / 5.0)


def test_options_amm_one_standard_size_moves_base_iv_one_vol_point() -> None:
    w = World()
    amm, u = w.amm, w.user()
    call, put, other = w.sid(), w.sid(is_call=False), w.sid(strike=3150.0)
    expiry = amm.series.expiry_step[call]
    base0, skew0, other0 = amm.base_iv(expiry), amm.skew(call), amm.skew(other)
    week = amm.base_iv(amm.series.expiry_step[w.sid(tenor=7.0)])
    assert amm.buy(u, call, 5.0).status == TxStatus.OK
    assert amm.base_iv(expiry) == pytest.approx(base0 + 0.01)
    assert amm.skew(call) == pytest.approx(skew0 + 0.0075)
    assert amm.skew(put) == amm.skew(call)  # calls and puts of a strike share the skew
    assert amm.skew(other) == other0
    assert amm.base_iv(amm.series.expiry_step[w.sid(tenor=7.0)]) == week
    assert amm.sell(u, call, 5.0).status == TxStatus.OK
    assert amm.base_iv(expiry) == pytest.approx(base0)
    assert amm.skew(call) == pytest.approx(skew0)


def test_options_amm_trade_is_priced_at_the_post_trade_vol() -> None:
    w = World()
    amm, sid = w.amm, w.sid(strike=3150.0)
    vol = (amm.base_iv(amm.series.expiry_step[sid]) + 0.02) * (amm.skew(sid) + 0.015)
    q = amm.quote(sid, 10.0, True)
    t = float(amm.series.t_years(sid, 0))
    assert q.status == TxStatus.OK and q.vol == pytest.approx(vol)
    assert q.premium_usd == pytest.approx(10.0 * black76_price(SPOT, 3150.0, t, vol, 1.0, True))
    assert q.fee_usd == pytest.approx(q.fees.total_usd)
    # spot fee 1% of spot per option, option fee 1% of premium (T < 6 weeks: 1x)
    assert q.fees.spot_price_usd == pytest.approx(0.01 * SPOT * 10.0)
    assert q.fees.option_price_usd == pytest.approx(0.01 * q.premium_usd)


def test_options_amm_buy_conserves_value_and_nav_moves_by_fee_plus_mark_change() -> None:
    w = World()
    amm, u = w.amm, w.user()
    held, traded = w.sid(), w.sid(strike=3150.0)
    assert amm.buy(u, held, 10.0).status == TxStatus.OK
    nav0, mark0, user0, pool0 = amm.nav_usd, w.mark(held), w.usdc(u), amm.pool_usd
    q = amm.buy(u, traded, 20.0)
    assert q.status == TxStatus.OK
    w.ledger.check_conservation()
    assert w.usdc(u) == pytest.approx(user0 - q.premium_usd - q.fee_usd)
    assert amm.pool_usd == pytest.approx(pool0 + q.premium_usd + q.fee_usd)
    # the pool is short 10 of `held`, whose mark rose with the board's base IV
    mark_change = -10.0 * (w.mark(held) - mark0)
    assert mark_change < 0.0
    assert amm.nav_usd - nav0 == pytest.approx(q.fee_usd + mark_change, rel=1e-9, abs=1e-6)
    assert amm.position(u, traded) == 20.0 and amm.positions_of(u) == {held: 10.0, traded: 20.0}


def test_options_amm_sell_pays_premium_minus_fees_floored_at_zero() -> None:
    w = World()
    amm, u, sid = w.amm, w.user(), w.sid()
    assert amm.buy(u, sid, 6.0).status == TxStatus.OK
    before = w.usdc(u)
    q = amm.sell(u, sid, 2.0)
    assert q.status == TxStatus.OK and q.fees.vega_util_usd == 0.0  # |pool vega| shrinks
    assert w.usdc(u) - before == pytest.approx(q.premium_usd - q.fee_usd)
    amm.params = dataclasses.replace(amm.params, fee_scale=1e4)
    after_first, pool = w.usdc(u), amm.pool_usd
    q = amm.sell(u, sid, 4.0)
    assert q.status == TxStatus.OK and q.fee_usd == q.premium_usd > 0.0  # fee capped at premium
    assert w.usdc(u) == after_first and amm.pool_usd == pool  # the seller receives nothing
    assert amm.positions_of(u) == {}
    w.ledger.check_conservation()


def test_options_amm_vega_util_fee_is_charged_when_pool_vega_grows() -> None:
    w = World()
    amm, u, sid = w.amm, w.user(), w.sid()
    q = amm.buy(u, sid, 10.0)
    assert q.fees.vega_util_usd > 0.0 and amm.net_vega_usd < 0.0
    assert amm.quote(sid, 5.0, False).fees.vega_util_usd == 0.0


def test_options_amm_trade_limits_return_their_status() -> None:
    w = World()
    amm, u = w.amm, w.user()
    deep = w.sid(strike=3750.0, tenor=7.0)
    q = amm.buy(u, deep, 1.0)
    assert q.status == TxStatus.LIMIT_EXCEEDED and q.delta < 0.15
    sid = w.sid()
    base = amm.base_iv(amm.series.expiry_step[sid])
    amm.params = dataclasses.replace(amm.params, max_base_iv=base + 0.015)
    assert amm.buy(u, sid, 10.0).status == TxStatus.LIMIT_EXCEEDED  # +0.02 > max
    assert amm.base_iv(amm.series.expiry_step[sid]) == base and amm.position(u, sid) == 0.0
    assert amm.buy(u, sid, 5.0).status == TxStatus.OK
    amm.params = dataclasses.replace(amm.params, min_vol=amm.vol(sid))
    assert amm.sell(u, sid, 1.0).status == TxStatus.LIMIT_EXCEEDED  # a sell lowers vol
    assert amm.sell(u, sid, 6.0).status == TxStatus.LIMIT_EXCEEDED
    amm.params = dataclasses.replace(amm.params, min_vol=0.0)
    assert amm.sell(u, sid, 6.0).status == TxStatus.INSUFFICIENT_BALANCE  # holds 5
    assert amm.buy(u, 10_000, 1.0).status == TxStatus.TRADING_CLOSED
    assert amm.buy(u, sid, 0.0).status == TxStatus.INVALID_AMOUNT
    with pytest.raises(ValueError, match=r"OptionsAMM\.quote: size_base must be finite"):
        amm.buy(u, sid, float("nan"))
    poor = w.user(10.0)
    assert amm.buy(poor, sid, 1.0).status == TxStatus.INSUFFICIENT_BALANCE
    assert amm.positions_of(poor) == {} and w.usdc(poor) == 10.0


def test_options_amm_trading_closes_twelve_hours_before_expiry() -> None:
    w = World()
    amm, u, sid = w.amm, w.user(), w.sid(tenor=7.0)
    expiry = int(amm.series.expiry_step[sid])
    amm.accrue(expiry - 720)  # exactly 12 h left: still open (Lyra: closed if now + cutoff > T)
    assert amm.buy(u, sid, 1.0).status == TxStatus.OK
    amm.accrue(expiry - 719)
    assert amm.buy(u, sid, 1.0).status == TxStatus.TRADING_CLOSED
    assert amm.sell(u, sid, 1.0).status == TxStatus.TRADING_CLOSED


def test_options_amm_refuses_buys_beyond_free_liquidity() -> None:
    w = World(pool_usd=20_000.0)
    amm, u, sid = w.amm, w.user(), w.sid()
    assert amm.buy(u, sid, 10.0).status == TxStatus.INSUFFICIENT_LIQUIDITY  # locks 30,000
    assert amm.buy(u, sid, 5.0).status == TxStatus.OK
    assert amm.locked_collateral_usd == pytest.approx(5.0 * SPOT)
    put = w.sid(is_call=False)
    assert amm.buy(u, put, 2.0).status == TxStatus.OK
    assert amm.locked_collateral_usd == pytest.approx(5.0 * SPOT + 2.0 * 3000.0)


def test_options_amm_vol_scale_iv_floor_and_params_setter() -> None:
    w = World()
    amm, sid = w.amm, w.sid()
    raw = amm.vol(sid)
    amm.params = dataclasses.replace(amm.params, vol_scale=1.2)
    assert amm.vol(sid) == pytest.approx(1.2 * raw)
    q = amm.quote(sid, 5.0, True)
    assert q.vol == pytest.approx(
        1.2 * (amm.base_iv(amm.series.expiry_step[sid]) + 0.01) * (amm.skew(sid) + 0.0075)
    )
    amm.params = dataclasses.replace(amm.params, iv_floor=1.5)
    assert amm.vol(sid) == 1.5 and amm.quote(sid, 1.0, True).vol == 1.5
    with pytest.raises(ValueError, match=r"OptionsAMM\.params: listing must not change"):
        listing = dataclasses.replace(amm.params.listing, strike_tick_usd=50.0)
        amm.params = dataclasses.replace(amm.params, listing=listing)
    with pytest.raises(ValueError, match=r"OptionsAMM\.params: must be OptionsAmmParams"):
        amm.params = None


def test_options_amm_settlement_pays_intrinsic_value_and_conserves() -> None:
    w = World()
    amm, u1, u2 = w.amm, w.user(), w.user()
    atm, put, otm = w.sid(tenor=7.0), w.sid(2850.0, 7.0, False), w.sid(3150.0, 7.0)
    for holder, sid, size in ((u1, atm, 4.0), (u1, put, 3.0), (u2, otm, 2.0)):
        assert amm.buy(holder, sid, size).status == TxStatus.OK
    expiry = int(amm.series.expiry_step[atm])
    b1, b2, pool = w.usdc(u1), w.usdc(u2), amm.pool_usd
    w.oracle.price_usd = 3300.0
    amm.accrue(expiry - 1)
    assert amm.settlement_paid_total_usd == 0.0
    amm.accrue(expiry)
    assert w.usdc(u1) - b1 == pytest.approx(4.0 * 300.0)  # the put expires worthless
    assert w.usdc(u2) - b2 == pytest.approx(2.0 * 150.0)
    assert pool - amm.pool_usd == pytest.approx(1500.0)
    assert amm.settlement_paid_total_usd == pytest.approx(1500.0)
    assert amm.positions_of(u1) == {} and amm.positions_of(u2) == {}
    assert w.events.count(EventKind.SETTLEMENT) == 14
    assert amm.settlement_shortfall_total_usd == 0.0
    new = amm.series.active_ids()
    assert new.size == 42 and 3300.0 in amm.series.strike_usd[new]
    assert not amm.series.active[[atm, put, otm]].any()
    assert amm.locked_collateral_usd == 0.0
    w.ledger.check_conservation()


def test_options_amm_settlement_shortfall_is_paid_pro_rata_without_crashing() -> None:
    w = World(pool_usd=10_000.0)
    amm, u1, u2 = w.amm, w.user(), w.user()
    sid = w.sid(tenor=7.0)
    assert amm.buy(u1, sid, 2.0).status == TxStatus.OK
    assert amm.buy(u2, sid, 1.0).status == TxStatus.OK
    b1, b2, pool = w.usdc(u1), w.usdc(u2), amm.pool_usd
    w.oracle.price_usd = 9000.0  # owed 3 x 6,000 = 18,000
    amm.accrue(int(amm.series.expiry_step[sid]))
    assert amm.pool_usd == pytest.approx(0.0, abs=1e-6)
    assert w.usdc(u1) - b1 == pytest.approx(2.0 / 3.0 * pool)
    assert w.usdc(u2) - b2 == pytest.approx(1.0 / 3.0 * pool)
    assert amm.settlement_paid_total_usd == pytest.approx(pool)
    assert amm.settlement_shortfall_total_usd == pytest.approx(18_000.0 - pool)
    assert w.events.count(EventKind.BAD_DEBT) == 1
    assert amm.nav_usd == pytest.approx(0.0, abs=1e-6)
    w.ledger.check_conservation()
    assert np.all(amm.book.pool_size == 0.0)
