"""PortfolioMarginExchange liquidation: incremental de-risking, penalty and auction, insurance, ADL,
socialised loss; value conservation over random trade sequences, price moves and expiries."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.margin.deribit_marks import default_surface
from protocols.option_series import ListingParams
from protocols.pm_exchange import (
    PERP,
    LiquidationMode,
    MarginMode,
    PmExchangeParams,
    PortfolioMarginExchange,
)
from protocols.types import EventKind, FixedPrice, TxStatus

SPOT = 3000.0


class World:
    """A ledger, a bank, an ETH oracle moved by hand and one exchange with a funded backstop."""

    def __init__(self, *, insurance: float = 0.0, backstop: float = 50_000.0, **params) -> None:
        self.ledger = Ledger(("USDC",))
        self.usdc = self.ledger.asset_id("USDC")
        self.events = EventLog()
        self.bank = self.ledger.open_holder("bank")
        self.ledger.mint(self.bank, self.usdc, 1e12, "genesis")
        self.oracle = FixedPrice(SPOT)
        self.ex = PortfolioMarginExchange(
            "pm",
            self.ledger,
            self.events,
            asset="ETH",
            oracle=self.oracle,
            surface=default_surface("ETH"),
            params=PmExchangeParams(**params),
            step_seconds=3600,
        )
        self.ex.seed_insurance(self.bank, insurance)
        self.ex.seed_backstop(self.bank, backstop)

    def account(self, cash: float, mode: MarginMode = MarginMode.PORTFOLIO) -> int:
        holder = self.ledger.open_holder(f"user{self.ledger.n_holders}")
        self.ledger.transfer(self.bank, holder, self.usdc, cash)
        a = self.ex.open_account(holder, mode)
        assert self.ex.deposit(a, cash) == TxStatus.OK
        return a

    def series(self, *, call: bool = True, strike: float = SPOT, tenor_days: float = 28.0) -> int:
        return self.ex.series.find(is_call=call, strike_usd=strike, tenor_days=tenor_days, step=0)

    def venue_check(self) -> None:
        self.ledger.check_conservation()
        ex = self.ex
        unsettled = sum(ex.unsettled_pnl_usd(a) for a in range(ex.n_accounts))
        assert ex.clearing_usd - unsettled + ex.unbacked_usd == pytest.approx(0.0, abs=1e-5)

    def details(self, kind: EventKind) -> list[str]:
        cols = self.events.columns
        return [d for k, d in zip(cols["kind"], cols["detail"], strict=True) if k == kind.name]


def _short_calls(w: World, cash: float) -> tuple[int, int, dict[int, float]]:
    """An account short two call strikes and long some perp, against a rich counterparty."""
    x, y = w.account(cash), w.account(1e7)
    book = {w.series(strike=3000.0): -10.0, w.series(strike=3150.0, tenor_days=14.0): -10.0}
    for sid, q in book.items():
        assert w.ex.trade(x, y, sid, q, w.ex.mark_price(sid)) == TxStatus.OK
    assert w.ex.trade(x, y, PERP, 4.0, SPOT) == TxStatus.OK
    return x, y, {**book, PERP: 4.0}


def test_pm_exchange_liquidation_lowers_mm_every_step_and_stops_once_healthy() -> None:
    w = World(penalty_frac=0.0)
    ex = w.ex
    x, _, start = _short_calls(w, 12_000.0)
    w.oracle.price_usd = 3600.0
    ex.accrue(1)
    equity, _, mm = ex.account_margin(x)
    assert equity < 0.8 * mm
    summary = ex.liquidate()
    trace = [(b, a) for acc, b, a in ex.last_liquidation_trace if acc == x]
    assert summary.n_accounts == 1 and len(trace) >= 2
    assert all(after < before for before, after in trace)
    equity_after, _, mm_after = ex.account_margin(x)
    assert equity_after == pytest.approx(equity)  # closed at the mark, no penalty
    assert equity_after >= mm_after
    assert equity_after < trace[-1][0]  # the last round was needed: no over-liquidation
    left = ex.positions_of(x)
    assert left  # incremental: the account keeps part of its book
    for inst, q in start.items():
        closed = q - left.get(inst, 0.0)
        assert ex.position(ex.backstop_account, inst) == pytest.approx(closed, abs=1e-12)
        assert abs(left.get(inst, 0.0)) <= abs(q) + 1e-12
    assert w.events.count(EventKind.LIQUIDATION) == len(trace)
    w.venue_check()


def test_pm_exchange_liquidation_of_a_hedged_book_scales_it_without_raising_mm() -> None:
    w = World(penalty_frac=0.0)
    ex = w.ex
    x, y = w.account(15_000.0), w.account(1e7)
    sid = w.series(strike=3000.0, tenor_days=7.0)
    assert ex.trade(x, y, sid, -20.0, ex.mark_price(sid)) == TxStatus.OK
    assert ex.trade(x, y, PERP, -ex.account_greeks(x)[0], SPOT) == TxStatus.OK
    equity, im, _ = ex.account_margin(x)
    assert ex.withdraw(x, equity - 1.05 * im) == TxStatus.OK
    ex.surface = ex.surface.scaled(1.6)  # a vol spike: the short calls lose, delta stays ~0
    ex.accrue(1)
    equity, _, mm = ex.account_margin(x)
    assert equity < mm and abs(ex.account_greeks(x)[0]) < 0.5
    ex.liquidate()
    trace = ex.last_liquidation_trace
    assert trace and all(after <= before * (1 + 1e-12) for _, before, after in trace)
    # closing the perp alone would unhedge the calls: some rounds cut both legs together
    assert any("," in d.split()[0] for d in w.details(EventKind.LIQUIDATION))
    equity, _, mm = ex.account_margin(x)
    assert equity >= mm or not ex.positions_of(x)
    w.venue_check()


_INSTRUMENTS = ((False, 2700.0, 14.0), (True, 3300.0, 7.0), None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    short=st.floats(1.0, 10.0),
    sizes=st.lists(st.floats(-8.0, 8.0), min_size=3, max_size=3),
    crash=st.floats(0.1, 0.45),
    down=st.booleans(),
    vol_scale=st.floats(0.8, 1.5),
    cushion=st.floats(1.0, 1.3),
    mode=st.sampled_from(MarginMode),
)
def test_pm_exchange_liquidation_never_raises_mm_over_random_books_and_crashes(
    short, sizes, crash, down, vol_scale, cushion, mode
) -> None:
    w = World(insurance=5_000.0)
    ex = w.ex
    x, y = w.account(1e6, mode), w.account(1e8)
    shorted = (not down, SPOT, 28.0)  # the ATM option the crash hurts, plus a random book
    for spec, q in zip((shorted, *_INSTRUMENTS), [-short, *sizes], strict=True):
        if abs(q) < 1e-3:
            continue
        inst = PERP if spec is None else w.series(call=spec[0], strike=spec[1], tenor_days=spec[2])
        assert ex.trade(x, y, inst, q, ex.mark_price(inst)) == TxStatus.OK
    equity, im, _ = ex.account_margin(x)
    spare = min(equity - cushion * im, ex.cash_usd(x))
    if spare > 1.0:
        assert ex.withdraw(x, spare) == TxStatus.OK
    ex.surface = ex.surface.scaled(vol_scale)  # a vol shock with the crash
    w.oracle.price_usd = SPOT * (1.0 - crash if down else 1.0 + crash)
    ex.accrue(3)
    ex.liquidate()
    for _, before, after in ex.last_liquidation_trace:
        assert after <= before + 1e-9 * max(1.0, before)
    equity, _, mm = ex.account_margin(x)
    assert equity >= mm - 1e-6 or not ex.positions_of(x)
    if not ex.positions_of(x):
        assert equity >= -1e-6  # a deficit was resolved (insurance, ADL or write-off)
    w.venue_check()
    event(f"rounds: {min(len(ex.last_liquidation_trace), 3)}+")
    event(f"flat: {not ex.positions_of(x)}, deficit: {w.events.count(EventKind.INSURANCE) > 0}")


def test_pm_exchange_penalty_mode_pays_the_insurance_fund_a_share_of_closed_notional() -> None:
    w = World(penalty_frac=0.002)
    ex = w.ex
    x, _, _ = _short_calls(w, 12_000.0)
    w.oracle.price_usd = 3400.0
    ex.accrue(1)
    equity = ex.account_equity_usd(x)
    fund = ex.insurance_fund_usd
    s = ex.liquidate()
    assert s.volume_usd > 0.0 and s.auction_discount_usd == 0.0
    assert s.penalty_usd == pytest.approx(0.002 * s.volume_usd)
    assert ex.insurance_fund_usd - fund == pytest.approx(s.penalty_usd)
    assert ex.account_equity_usd(x) == pytest.approx(equity - s.penalty_usd)
    assert all(
        d.startswith("instruments=") and "mode=penalty" in d
        for d in w.details(EventKind.LIQUIDATION)
    )
    w.venue_check()


def test_pm_exchange_auction_mode_pays_the_backstop_a_discount_growing_per_round() -> None:
    w = World(liquidation_mode=LiquidationMode.AUCTION, auction_step_frac=0.0005)
    ex = w.ex
    x, _, _ = _short_calls(w, 12_000.0)
    w.oracle.price_usd = 3400.0
    ex.accrue(1)
    fund, backstop = ex.insurance_fund_usd, ex.account_equity_usd(ex.backstop_account)
    equity = ex.account_equity_usd(x)
    s = ex.liquidate()
    assert s.penalty_usd == 0.0 and s.auction_discount_usd > 0.0
    assert ex.insurance_fund_usd == fund
    gain = ex.account_equity_usd(ex.backstop_account) - backstop
    assert gain == pytest.approx(s.auction_discount_usd)
    assert ex.account_equity_usd(x) == pytest.approx(equity - s.auction_discount_usd)
    cols = w.events.columns
    for kind, value, detail in zip(cols["kind"], cols["value_usd"], cols["detail"], strict=True):
        if kind != "LIQUIDATION":
            continue
        rounds = int(re.search(r"rounds=(\d+)", detail).group(1))
        discount = float(re.search(r"discount_usd=([\d.e+-]+)", detail).group(1))
        released = float(re.search(r"mm_released_usd=([\d.e+-]+)", detail).group(1))
        assert rounds >= 1
        assert discount == pytest.approx(min(rounds * 0.0005, 0.015) * value, rel=1e-5)
        # the first round whose discount covers the backstop's reservation (or the cap)
        assert (rounds - 1) * 0.0005 * value < 0.25 * released or rounds * 0.0005 >= 0.015
    w.venue_check()


def test_pm_exchange_insurance_then_adl_of_the_most_profitable_leveraged_positions() -> None:
    w = World(insurance=1_000.0)
    ex = w.ex
    a, d = w.account(7_000.0), w.account(1e6)
    b, c, f = w.account(2_500.0), w.account(1e6), w.account(20_000.0)
    for taker, maker, q in ((b, a, 4.0), (c, a, 6.0), (f, d, 10.0)):
        assert ex.trade(taker, maker, PERP, q, SPOT) == TxStatus.OK
    w.oracle.price_usd = 4000.0
    ex.accrue(1)
    s = ex.liquidate()
    assert s.insurance_paid_usd == pytest.approx(1_000.0)
    assert ex.insurance_fund_usd == pytest.approx(0.0, abs=1e-9)
    # deficit 3000 = 10 coins x 1000 loss - 7000 cash; ADL recovers the 2000 left
    assert s.bad_debt_usd == 0.0 and ex.bad_debt_total == 0.0
    assert ex.account_equity_usd(a) == pytest.approx(0.0, abs=1e-6)
    # ranked by PnL% x leverage: b (2.5k cash) first, then f (20k), c (1M) untouched
    assert ex.position(b, PERP) == 0.0
    assert ex.position(f, PERP) == pytest.approx(4.0)
    assert ex.position(c, PERP) == 6.0
    assert ex.position(ex.backstop_account, PERP) == pytest.approx(0.0, abs=1e-12)
    assert w.events.count(EventKind.ADL) == 2 and s.adl_volume_usd == pytest.approx(10 * 4000.0)
    assert all("price_usd=3800" in det for det in w.details(EventKind.ADL))
    ex.accrue(2)
    w.venue_check()


def test_pm_exchange_settlement_deficit_goes_to_insurance_then_is_socialised() -> None:
    w = World(insurance=500.0)
    ex = w.ex
    short, long_ = w.account(1_000.0), w.account(50_000.0)
    sid = w.series(strike=3000.0, tenor_days=7.0)
    assert ex.trade(long_, short, sid, 1.0, ex.mark_price(sid)) == TxStatus.OK
    short_cash, long_cash = ex.cash_usd(short), ex.cash_usd(long_)
    w.oracle.price_usd = 6000.0
    ex.accrue(int(ex.series.expiry_step[sid]))
    assert ex.cash_usd(short) == 0.0 and ex.account_equity_usd(short) == pytest.approx(0.0)
    deficit = 3000.0 - short_cash
    assert ex.insurance_paid_total == pytest.approx(500.0)
    assert ex.bad_debt_total == pytest.approx(deficit - 500.0)
    assert w.events.count(EventKind.BAD_DEBT) == 1
    assert w.events.count(EventKind.SOCIALISED_LOSS) == 1
    # the long receives what the short and the fund could pay, not the full intrinsic
    assert ex.cash_usd(long_) - long_cash == pytest.approx(short_cash + 500.0)
    assert ex.unsettled_pnl_usd(long_) == pytest.approx(0.0, abs=1e-9)
    assert ex.unbacked_usd == pytest.approx(0.0, abs=1e-9)
    w.venue_check()


def test_pm_exchange_liquidate_is_a_no_op_for_healthy_accounts() -> None:
    w = World()
    x, _, _ = _short_calls(w, 40_000.0)
    before = (w.ex.cash_usd(x), w.ex.positions_of(x))
    s = w.ex.liquidate()
    assert s.n_accounts == 0 and s.volume_usd == 0.0
    assert (w.ex.cash_usd(x), w.ex.positions_of(x)) == before
    assert w.events.count(EventKind.LIQUIDATION) == 0
    params = dataclasses.replace(w.ex.params, liquidation_target_mm_mult=1.25)
    w.ex.params = params
    assert w.ex.params.liquidation_target_mm_mult == 1.25
    np.testing.assert_array_equal(w.ex.margin_state().equity_usd >= 0.0, True)


_ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["option", "perp", "move", "step", "liquidate"]),
        st.integers(0, 3),
        st.integers(0, 3),
        st.floats(-8.0, 8.0),
        st.floats(-0.2, 0.2),
    ),
    min_size=5,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=_ACTIONS)
def test_pm_exchange_conserves_value_through_trades_settlement_and_liquidation(actions) -> None:
    w = World(insurance=2_000.0, backstop=20_000.0, listing=ListingParams(expiries_days=(1.0, 3.0)))
    ex = w.ex
    accts = [w.account(c, m) for c, m in ((4_000.0, 0), (9_000.0, 1), (40_000.0, 1), (6e3, 0))]
    call = int(ex.series.active_ids()[3])  # ATM 1-day call
    opening = [(0, 2, PERP, -20.0, SPOT), (1, 3, call, -12.0, ex.mark_price(call))]
    statuses = [ex.trade(accts[i], accts[j], sid, q, p) for i, j, sid, q, p in opening]
    step = 0
    for kind, i, j, size, move in actions:
        taker, maker = accts[i], accts[j]
        if kind == "option" and taker != maker:
            live = ex.series.active_ids()
            sid = int(live[(i + 3 * j) % live.size])
            statuses.append(ex.trade(taker, maker, sid, size, ex.mark_price(sid) * (1.0 + move)))
        elif kind == "perp" and taker != maker and size != 0.0:
            price = w.oracle.price_usd * (1.0 + 0.1 * move)
            statuses.append(ex.trade(taker, maker, PERP, size, price))
        elif kind == "move":
            w.oracle.price_usd *= 1.0 + 2.0 * move
        elif kind == "step":
            step += 6 * (i + 1)
            ex.accrue(step)
        else:
            ex.liquidate()
        w.venue_check()
    ex.accrue(step + 24 * 4)  # every listed option has expired and settled
    ex.liquidate()
    w.venue_check()
    event(f"trades ok: {min(statuses.count(TxStatus.OK), 3)}+")
    event(f"liquidation events: {min(w.events.count(EventKind.LIQUIDATION), 1)}+")
    event(f"deficits: {min(w.events.count(EventKind.INSURANCE), 1)}+")
    assert min(w.ledger.balances_of_asset(w.usdc)) >= 0.0
