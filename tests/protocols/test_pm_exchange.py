"""PortfolioMarginExchange: marks, margin modes, trades, fees, settlement, Greeks, bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.margin.book import InstrumentKind, PositionBook
from protocols.margin.deribit_marks import default_surface
from protocols.margin.margin_references import portfolio_margin_ref, standard_margin_ref
from protocols.margin.pricing_references import numpy_black76_greeks_usd
from protocols.margin.scenario_grid import deribit_grid
from protocols.margin.standard_margin import MarginCurrency
from protocols.pm_exchange import PERP, MarginMode, PmExchangeParams, PortfolioMarginExchange
from protocols.types import EventKind, FixedPrice, TxStatus

STEP_SECONDS = 3600
SPOT = 3000.0


class World:
    """A ledger, a bank, an ETH oracle moved by hand and one exchange."""

    def __init__(self, params: PmExchangeParams | None = None, *, insurance: float = 0.0) -> None:
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
            params=params or PmExchangeParams(),
            step_seconds=STEP_SECONDS,
        )
        if insurance:
            assert self.ex.seed_insurance(self.bank, insurance) == TxStatus.OK

    def account(self, cash: float, mode: MarginMode = MarginMode.PORTFOLIO) -> int:
        holder = self.ledger.open_holder(f"user{self.ledger.n_holders}")
        self.ledger.transfer(self.bank, holder, self.usdc, cash)
        a = self.ex.open_account(holder, mode)
        assert self.ex.deposit(a, cash) == TxStatus.OK
        return a

    def series(self, *, call: bool = True, strike: float = SPOT, tenor_days: float = 28.0) -> int:
        sid = self.ex.series.find(is_call=call, strike_usd=strike, tenor_days=tenor_days, step=0)
        assert sid >= 0
        return sid

    def venue_check(self) -> None:
        """Ledger conservation and the venue's claims invariant."""
        self.ledger.check_conservation()
        ex = self.ex
        unsettled = sum(ex.unsettled_pnl_usd(a) for a in range(ex.n_accounts))
        assert ex.clearing_usd - unsettled + ex.unbacked_usd == pytest.approx(0.0, abs=1e-5)


def _black76(f: float, k: float, t: float, vol: float, call: bool) -> float:
    sd = vol * math.sqrt(t)
    d1 = math.log(f / k) / sd + 0.5 * sd
    n = lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0))  # noqa: E731
    w = 1.0 if call else -1.0
    return w * (f * n(w * d1) - k * n(w * (d1 - sd)))


def test_pm_exchange_marks_options_at_black76_on_the_surface_and_the_perp_at_the_oracle() -> None:
    w = World()
    ex = w.ex
    w.oracle.price_usd = 3100.0
    ex.accrue(5)
    for call, strike in ((True, 3300.0), (False, 2700.0), (True, 3000.0)):
        sid = w.series(call=call, strike=strike)
        t = (ex.series.expiry_step[sid] - 5) * STEP_SECONDS / (365.0 * 86400.0)
        vol = float(default_surface("ETH").implied_vol(3100.0, ex.series.strike_usd[sid], t))
        assert ex.mark_vol(sid) == pytest.approx(vol, rel=1e-12)
        expected = _black76(3100.0, ex.series.strike_usd[sid], t, vol, call)
        assert ex.mark_price(sid) == pytest.approx(expected, rel=1e-9)
    assert ex.mark_price(PERP) == 3100.0


def _hedged_book(w: World, mode: MarginMode) -> tuple[int, int]:
    a, mm = w.account(50_000.0, mode), w.account(1e6)
    sid = w.series(call=True)
    assert w.ex.trade(a, mm, sid, 10.0, w.ex.mark_price(sid)) == TxStatus.OK
    delta = w.ex.account_greeks(a)[0]
    assert w.ex.trade(a, mm, PERP, -delta, SPOT) == TxStatus.OK
    return a, mm


def test_pm_exchange_hedged_book_needs_less_portfolio_than_standard_margin() -> None:
    w = World()
    a, _ = _hedged_book(w, MarginMode.PORTFOLIO)
    assert abs(w.ex.account_greeks(a)[0]) < 1e-9
    im_pm = w.ex.account_margin(a)[1]
    assert w.ex.set_mode(a, MarginMode.STANDARD) == TxStatus.OK
    _, im_std, mm_std = w.ex.account_margin(a)
    assert w.ex.mode_of(a) is MarginMode.STANDARD
    # standard IM charges the call its premium and the perp its own rate; PM nets them
    # (standard MM is lower: a long option carries no maintenance margin there)
    assert im_pm < 0.5 * im_std
    q = abs(w.ex.position(a, PERP))
    assert mm_std == pytest.approx(q * (0.015 + 0.005 / 100.0 * q) * SPOT, rel=1e-12)
    assert w.ex.set_mode(a, MarginMode.PORTFOLIO) == TxStatus.OK
    assert w.ex.account_margin(a)[1] == pytest.approx(im_pm)


def test_pm_exchange_recalibrated_grid_changes_the_portfolio_requirement() -> None:
    w = World()
    x, y = w.account(50_000.0), w.account(1e6)
    sid = w.series(call=False, strike=2850.0)
    assert w.ex.trade(x, y, sid, -5.0, w.ex.mark_price(sid)) == TxStatus.OK
    before = w.ex.margin_state()
    w.ex.params = dataclasses.replace(w.ex.params, grid=deribit_grid(spot_range=0.30))
    after = w.ex.margin_state()
    assert after.initial_usd[x] > 1.3 * before.initial_usd[x]
    assert after.maintenance_usd[x] > 1.3 * before.maintenance_usd[x]
    np.testing.assert_array_equal(after.equity_usd, before.equity_usd)


def test_pm_exchange_grows_accounts_and_instruments_keeping_positions() -> None:
    w = World()
    ex = w.ex
    maker = w.account(1e7)
    accts = [w.account(10_000.0, MarginMode(i % 2)) for i in range(40)]
    sid = w.series(call=True, strike=3150.0, tenor_days=7.0)
    for i, a in enumerate(accts):
        assert ex.trade(
            a, maker, sid if i % 2 else PERP, 1.0 + i / 10, 100.0 if i % 2 else SPOT
        ) == (TxStatus.OK)
    ex.accrue(int(ex.series.expiry_step[sid]) - 1)
    ex.accrue(int(ex.series.expiry_step[sid]))  # a board rolls: more instrument columns
    assert ex.book.n_instruments == 1 + ex.series.n_series > 43
    state = ex.margin_state()
    assert state.equity_usd.shape == (ex.n_accounts,) == (42,)
    assert [ex.position(a, PERP) for a in accts[::2]] == [1.0 + i / 10 for i in range(0, 40, 2)]
    assert ex.position(maker, PERP) == pytest.approx(-sum(1.0 + i / 10 for i in range(0, 40, 2)))
    w.venue_check()


def test_pm_exchange_margin_state_matches_the_reference_margins_per_mode() -> None:
    w = World()
    ex = w.ex
    a, b = _hedged_book(w, MarginMode.PORTFOLIO)
    c = w.account(80_000.0, MarginMode.STANDARD)
    put = w.series(call=False, strike=2700.0, tenor_days=7.0)
    assert ex.trade(c, b, put, -4.0, ex.mark_price(put)) == TxStatus.OK
    assert ex.trade(c, b, PERP, 1.5, SPOT) == TxStatus.OK
    w.oracle.price_usd = 2900.0
    equity, im, mm = ex.margin_state()
    grid = ex.params.grid
    for acc in (a, b, c):
        pos = ex.positions_of(acc)
        ids = np.array(list(pos))
        opt = ids >= 0
        kind = np.full(ids.size, int(InstrumentKind.FUTURE))
        kind[opt] = np.where(ex.series.is_call[ids[opt]], 1, 2)
        t = np.zeros(ids.size)
        t[opt] = ex.series.t_years(ids[opt], ex.step)
        strike = np.full(ids.size, 2900.0)
        strike[opt] = ex.series.strike_usd[ids[opt]]
        iv = np.array([ex.mark_vol(int(i)) if i >= 0 else 0.0 for i in ids])
        book = PositionBook(
            account=np.zeros(ids.size, np.int64),
            kind=kind,
            size_base=np.array(list(pos.values())),
            strike_usd=strike,
            t_years=t,
            iv=iv,
            n_accounts=1,
        )
        if ex.mode_of(acc) is MarginMode.PORTFOLIO:
            req = portfolio_margin_ref(book, 2900.0, grid)[0, 0]
            ref_im, ref_mm = (float(x[0]) for x in grid.initial_and_maintenance(np.array([req])))
        else:
            im_r, mm_r = standard_margin_ref(book, 2900.0, ex.params.standard, MarginCurrency.USD)
            ref_im, ref_mm = float(im_r[0]), float(mm_r[0])
        assert im[acc] == pytest.approx(ref_im, rel=1e-9)
        assert mm[acc] == pytest.approx(ref_mm, rel=1e-9)
        value = sum(q * (ex.mark_price(i) - (SPOT if i == PERP else 0.0)) for i, q in pos.items())
        assert equity[acc] == pytest.approx(ex.cash_usd(acc) + value, rel=1e-12)


def test_pm_exchange_option_trade_moves_premium_and_capped_fees_to_the_fee_holder() -> None:
    w = World()
    ex = w.ex
    a, b = w.account(100_000.0), w.account(100_000.0)
    sid = w.series(call=True, strike=3000.0)
    price = 150.0
    assert ex.trade(a, b, sid, 2.0, price) == TxStatus.OK
    fee = 2.0 * min(0.0003 * SPOT, 0.125 * price)
    assert ex.cash_usd(a) == pytest.approx(100_000.0 - 300.0 - fee)
    assert ex.cash_usd(b) == pytest.approx(100_000.0 + 300.0 - fee)
    assert ex.position(a, sid) == 2.0 and ex.position(b, sid) == -2.0
    assert ex.entry_price(a, sid) == price
    cheap = w.series(call=True, strike=3750.0, tenor_days=7.0)
    fees_before = w.ledger.balance(ex.fee_holder, w.usdc)
    assert ex.trade(a, b, cheap, -1.0, 4.0) == TxStatus.OK  # capped at 12.5% of 4 USD
    assert w.ledger.balance(ex.fee_holder, w.usdc) - fees_before == pytest.approx(2 * 0.5)
    assert ex.fees_total == pytest.approx(2 * fee + 1.0)


def test_pm_exchange_perp_settles_pnl_each_step_and_charges_the_taker_only() -> None:
    w = World()
    ex = w.ex
    a, b = w.account(20_000.0), w.account(20_000.0)
    assert ex.trade(a, b, PERP, 2.0, SPOT) == TxStatus.OK
    fee = 2.0 * SPOT * 0.0005
    assert ex.cash_usd(a) == pytest.approx(20_000.0 - fee)
    assert ex.cash_usd(b) == pytest.approx(20_000.0)
    w.oracle.price_usd = 3100.0
    assert ex.unsettled_pnl_usd(a) == pytest.approx(200.0)
    ex.accrue(1)
    assert ex.cash_usd(a) == pytest.approx(20_000.0 - fee + 200.0)
    assert ex.cash_usd(b) == pytest.approx(20_000.0 - 200.0)
    assert ex.clearing_usd == pytest.approx(0.0, abs=1e-9)
    # reducing at 3050 realises -50 per coin against the last settlement; cost basis stays
    assert ex.trade(a, b, PERP, -1.0, 3050.0) == TxStatus.OK
    assert ex.entry_price(a, PERP) == SPOT
    ex.accrue(2)
    assert ex.cash_usd(a) == pytest.approx(20_000.0 - fee - 3050.0 * 0.0005 + 200.0 - 50.0)
    w.venue_check()


def test_pm_exchange_refuses_a_trade_that_leaves_im_unmet_and_allows_risk_reduction() -> None:
    w = World()
    ex = w.ex
    a, b = w.account(3_000.0), w.account(1e6)
    sid = w.series(call=True, strike=3000.0)
    mark = ex.mark_price(sid)
    before = (ex.cash_usd(a), ex.cash_usd(b))
    assert ex.trade(a, b, sid, -20.0, mark) == TxStatus.HEALTH_TOO_LOW
    assert (ex.cash_usd(a), ex.cash_usd(b)) == before and ex.positions_of(a) == {}
    assert ex.trade(b, a, sid, 4.0, mark) == TxStatus.OK  # the maker side is checked too
    equity, im, _ = ex.account_margin(a)
    assert equity >= im
    assert ex.trade(b, a, sid, 10.0, mark) == TxStatus.HEALTH_TOO_LOW
    w.oracle.price_usd = 3400.0
    equity, im, _ = ex.account_margin(a)
    assert equity < im
    assert ex.trade(b, a, sid, 1.0, ex.mark_price(sid)) == TxStatus.HEALTH_TOO_LOW
    # buying back part of the short lowers IM: always allowed
    assert ex.trade(a, b, sid, 1.0, ex.mark_price(sid)) == TxStatus.OK
    assert ex.position(a, sid) == -3.0
    assert ex.withdraw(a, 1.0) == TxStatus.HEALTH_TOO_LOW


def test_pm_exchange_statuses_for_cash_accounts_and_closed_series() -> None:
    w = World()
    ex = w.ex
    a, b = w.account(100.0), w.account(1e5)
    sid = w.series(call=True, tenor_days=7.0)
    assert ex.trade(a, b, sid, 1.0, 150.0) == TxStatus.INSUFFICIENT_BALANCE
    assert ex.trade(a, 99, sid, 1.0, 150.0) == TxStatus.UNKNOWN_ACCOUNT
    assert ex.trade(a, b, sid, 0.0, 150.0) == TxStatus.INVALID_AMOUNT
    assert ex.withdraw(a, 200.0) == TxStatus.INSUFFICIENT_BALANCE
    assert ex.withdraw(a, 100.0) == TxStatus.OK and ex.cash_usd(a) == 0.0
    assert ex.deposit(a, 1e15) == TxStatus.INSUFFICIENT_BALANCE
    ex.accrue(int(ex.series.expiry_step[sid]))
    assert ex.trade(b, a, sid, 1.0, 0.0) == TxStatus.TRADING_CLOSED


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda ex, a, b: ex.trade(a, b, 10_000, 1.0, 1.0), r"trade\.instrument: must be PERP"),
        (lambda ex, a, b: ex.trade(a, b, PERP, math.nan, 1.0), r"trade\.size_base: must be"),
        (lambda ex, a, b: ex.trade(a, b, PERP, 1.0, 0.0), r"trade\.price_usd: must be .*> 0"),
        (lambda ex, a, b: ex.trade(a, b, 0, 1.0, -1.0), r"trade\.price_usd: must be .*>= 0"),
        (lambda ex, a, b: ex.trade(a, a, PERP, 1.0, 1.0), r"trade\.maker: must differ"),
        (lambda ex, a, b: ex.deposit(a, -1.0), r"deposit\.amount_usd: must be finite and >= 0"),
        (lambda ex, a, b: ex.accrue(-1), r"accrue\.step: must be >= the last step"),
        (lambda ex, a, b: ex.open_account(10**6), r"open_account\.owner_holder: must be"),
        (lambda ex, a, b: setattr(ex, "params", 1), r"params: must be PmExchangeParams"),
        (lambda ex, a, b: ex.set_mode(a, 5), r"set_mode\.mode: must be a MarginMode"),
        (lambda ex, a, b: setattr(ex, "surface", None), r"surface: must be a VolSurface"),
    ],
)
def test_pm_exchange_bad_input_errors_name_the_field_and_rule(call, match) -> None:
    w = World()
    a, b = w.account(1_000.0), w.account(1_000.0)
    with pytest.raises(ValueError, match=match):
        call(w.ex, a, b)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("penalty_frac", -0.1, r"PmExchangeParams\.penalty_frac: must be in \[0, 1\)"),
        ("liquidation_chunk_frac", 0.0, r"liquidation_chunk_frac: must be in \(0, 1\]"),
        ("liquidation_target_mm_mult", 0.9, r"liquidation_target_mm_mult: must be >= 1"),
        ("liquidation_mode", 7, r"liquidation_mode: must be a LiquidationMode"),
        ("grid", None, r"PmExchangeParams\.grid: must be a ScenarioGrid"),
        ("max_liquidation_rounds", 0, r"max_liquidation_rounds: must be an int >= 1"),
    ],
)
def test_pm_exchange_params_reject_bad_values(field, value, match) -> None:
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(PmExchangeParams(), **{field: value})


def test_pm_exchange_settlement_pays_intrinsic_exactly_and_rolls_the_board() -> None:
    w = World()
    ex = w.ex
    a, b = w.account(50_000.0), w.account(50_000.0)
    call = w.series(call=True, strike=2850.0, tenor_days=7.0)
    put = w.series(call=False, strike=3150.0, tenor_days=7.0)
    otm = w.series(call=True, strike=3300.0, tenor_days=7.0)
    for sid, q in ((call, 3.0), (put, -2.0), (otm, 1.0)):
        assert ex.trade(a, b, sid, q, ex.mark_price(sid)) == TxStatus.OK
    cash_a, cash_b = ex.cash_usd(a), ex.cash_usd(b)
    n_before = ex.series.n_series
    w.oracle.price_usd = 3123.0
    expiry = int(ex.series.expiry_step[call])
    ex.accrue(expiry - 1)
    assert ex.cash_usd(a) == cash_a and ex.positions_of(a)
    ex.accrue(expiry)
    payoff = 3.0 * (3123.0 - 2850.0) - 2.0 * (3150.0 - 3123.0)
    assert ex.cash_usd(a) - cash_a == pytest.approx(payoff, abs=1e-9)
    assert ex.cash_usd(b) - cash_b == pytest.approx(-payoff, abs=1e-9)
    assert ex.positions_of(a) == {} and ex.positions_of(b) == {}
    assert w.events.count(EventKind.SETTLEMENT) == 3
    assert ex.settlement_paid_total == pytest.approx(3.0 * 273.0 + 2.0 * 27.0)
    new = np.arange(n_before, ex.series.n_series)
    assert new.size > 0 and (ex.series.expiry_step[new] > expiry).all()
    assert not ex.series.active[[call, put, otm]].any()
    assert ex.trade(a, b, int(new[0]), 1.0, ex.mark_price(int(new[0]))) == TxStatus.OK
    w.venue_check()


def test_pm_exchange_account_greeks_sum_black76_greeks_and_the_perp() -> None:
    w = World()
    ex = w.ex
    a, b = w.account(100_000.0), w.account(1e6)
    c1, p1 = w.series(call=True, strike=3150.0), w.series(call=False, strike=2850.0, tenor_days=7)
    for sid, q in ((c1, 3.0), (p1, -2.0)):
        assert ex.trade(a, b, sid, q, ex.mark_price(sid)) == TxStatus.OK
    assert ex.trade(a, b, PERP, 0.7, SPOT) == TxStatus.OK
    ids = np.array([c1, p1])
    t = ex.series.t_years(ids, 0)
    ref = numpy_black76_greeks_usd(
        SPOT,
        ex.series.strike_usd[ids],
        t,
        np.array([ex.mark_vol(c1), ex.mark_vol(p1)]),
        1.0,
        np.array([True, False]),
    )
    q = np.array([3.0, -2.0])
    delta, gamma, vega, theta = ex.account_greeks(a)
    assert delta == pytest.approx(q @ ref[1] + 0.7, rel=1e-9)
    assert gamma == pytest.approx(q @ ref[2], rel=1e-9)
    assert vega == pytest.approx(q @ ref[3], rel=1e-9)
    assert theta == pytest.approx(q @ ref[4], rel=1e-9)
