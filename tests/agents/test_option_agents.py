"""Option agents' decisions, against small fakes of the option venues (the /tmp API names) and
the real perp exchange: makers hedge by their rule and book their costs, protection buyers size
and roll, speculators follow the signal, vol sellers respect margin, LPs run on drawdown."""

from __future__ import annotations

import dataclasses
import math

import mesa
import numpy as np
import pytest

from agents.hedging import HedgeParams, HedgeRule, whalley_wilmott_half_width
from agents.market_maker import MarketMaker
from agents.option_trader import OptionStyle, OptionTrader, OptionVenue
from agents.options_lp import ExitReason, OptionsLP
from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.margin.greek_kernels import DELTA, GAMMA, black76_greeks_usd
from protocols.margin.option_kernels import black76_price
from protocols.option_series import ListingParams, SeriesTable
from protocols.perp import PerpExchange
from protocols.perp_params import PerpCollateralParams, PerpMarketParams, PerpParams
from protocols.types import EventKind, FixedPrice, TxStatus

S0, MARK_VOL, STEP_SECONDS = 3000.0, 0.6, 3600
PERP_FEE = 0.0004


# ------------------------------------------------------------------------------- fakes
class FakePM:
    """Cash + positions per account; Black-76 marks at one vol; IM = Deribit-style short IM."""

    PERP = -1

    def __init__(self, ledger: Ledger, oracle: FixedPrice, step_seconds: int) -> None:
        self.ledger, self.oracle = ledger, oracle
        self.holder = ledger.open_holder("fake-pm")
        self.usdc = ledger.asset_id("USDC")
        self.series = SeriesTable(ListingParams(), step_seconds=step_seconds)
        self.series.list_all(0, oracle.price_usd)
        self.step = 0
        self.owners: list[int] = []
        self.cash: list[float] = []
        self.pos: list[dict[int, float]] = []
        self.greeks_override: dict[int, tuple[float, float]] = {}
        self.trades: list[tuple[int, int, int, float, float]] = []

    def open_account(self, owner_holder: int, mode=None) -> int:
        self.owners.append(owner_holder)
        self.cash.append(0.0)
        self.pos.append({})
        return len(self.cash) - 1

    def deposit(self, account: int, amount_usd: float) -> TxStatus:
        self.ledger.transfer(self.owners[account], self.holder, self.usdc, amount_usd)
        self.cash[account] += amount_usd
        return TxStatus.OK

    def mark_vol(self, series_id: int) -> float:
        return MARK_VOL

    def mark_price(self, instrument: int) -> float:
        s, t = self.series, float(self.series.t_years(instrument, self.step))
        return black76_price(
            self.oracle.price_usd,
            float(s.strike_usd[instrument]),
            t,
            MARK_VOL,
            1.0,
            bool(s.is_call[instrument]),
        )

    def position(self, account: int, instrument: int) -> float:
        return self.pos[account].get(instrument, 0.0)

    def positions_of(self, account: int) -> dict[int, float]:
        return {k: v for k, v in self.pos[account].items() if v != 0.0}

    def _im(self, account: int) -> float:
        # short options only: max(0.15 - OTM/S, 0.10) S + mark per coin (DOMAIN.md A1, USD)
        spot, s = self.oracle.price_usd, self.series
        total = 0.0
        for sid, q in self.pos[account].items():
            if q < 0.0:
                k = float(s.strike_usd[sid])
                otm = max(k - spot, 0.0) if s.is_call[sid] else max(spot - k, 0.0)
                total += -q * (max(0.15 - otm / spot, 0.10) * spot + self.mark_price(sid))
        return total

    def account_equity_usd(self, account: int) -> float:
        return self.cash[account] + sum(
            q * self.mark_price(i) for i, q in self.pos[account].items()
        )

    def margin_state(self):
        n = len(self.cash)
        eq = np.array([self.account_equity_usd(a) for a in range(n)])
        im = np.array([self._im(a) for a in range(n)])
        return eq, im, 0.5 * im

    def account_margin(self, account: int) -> tuple[float, float, float]:
        im = self._im(account)
        return self.account_equity_usd(account), im, 0.5 * im

    def account_greeks(self, account: int) -> tuple[float, float, float, float]:
        if account in self.greeks_override:
            return (*self.greeks_override[account], 0.0, 0.0)
        ids = np.array(sorted(self.pos[account]), dtype=np.int64)
        q = np.array([self.pos[account][i] for i in ids])
        n = ids.size
        g = black76_greeks_usd(
            np.full(n, self.oracle.price_usd),
            self.series.strike_usd[ids],
            self.series.t_years(ids, self.step),
            np.full(n, MARK_VOL),
            np.ones(n),
            self.series.is_call[ids],
        )
        return float(q @ g[DELTA]), float(q @ g[GAMMA]), 0.0, 0.0

    def trade(self, taker: int, maker: int, instrument: int, size_base: float, price_usd: float):
        before = [self._im(a) for a in (taker, maker)]
        for a, dq in ((taker, size_base), (maker, -size_base)):
            self.pos[a][instrument] = self.pos[a].get(instrument, 0.0) + dq
            self.cash[a] -= dq * price_usd
        for a, b in zip((taker, maker), before, strict=True):
            if self._im(a) > b and self.account_equity_usd(a) < self._im(a):
                for x, dq in ((taker, size_base), (maker, -size_base)):  # undo
                    self.pos[x][instrument] -= dq
                    self.cash[x] += dq * price_usd
                return TxStatus.HEALTH_TOO_LOW
        self.trades.append((taker, maker, instrument, size_base, price_usd))
        return TxStatus.OK


@dataclasses.dataclass(frozen=True)
class FakeQuote:
    status: TxStatus
    premium_usd: float = 0.0
    fee_usd: float = 0.0


class FakeAMM:
    """Black-76 at one vol, 1% fee; LP deposits are minted at once by :meth:`process`."""

    name = "fake-amm"
    asset = "ETH"

    def __init__(self, ledger: Ledger, oracle: FixedPrice, step_seconds: int) -> None:
        self.ledger, self.oracle = ledger, oracle
        self.holder = ledger.open_holder("fake-amm")
        self.usdc = ledger.asset_id("USDC")
        self.lp_asset = "LP-OPT-ETH"
        self.lp_id = ledger.add_asset(self.lp_asset)
        self.series = SeriesTable(ListingParams(), step_seconds=step_seconds)
        self.series.list_all(0, oracle.price_usd)
        self.step = 0
        self.holdings: dict[tuple[int, int], float] = {}
        self.deposits: list[tuple[int, float]] = []
        self.withdrawals: list[tuple[int, float]] = []
        self.share_price_usd = 1.0
        self.nav_usd = 1e6
        self.net_delta_base = 0.0
        self.breaker = False

    def quote(self, series_id: int, size_base: float, is_buy: bool) -> FakeQuote:
        if not self.series.active[series_id]:
            return FakeQuote(TxStatus.TRADING_CLOSED)
        s, t = self.series, float(self.series.t_years(series_id, self.step))
        unit = black76_price(
            self.oracle.price_usd,
            float(s.strike_usd[series_id]),
            t,
            MARK_VOL,
            1.0,
            bool(s.is_call[series_id]),
        )
        premium = unit * size_base
        return FakeQuote(TxStatus.OK, premium, 0.01 * premium)

    def buy(self, holder: int, series_id: int, size_base: float) -> FakeQuote:
        q = self.quote(series_id, size_base, True)
        cost = q.premium_usd + q.fee_usd
        if self.ledger.balance(holder, self.usdc) < cost:
            return dataclasses.replace(q, status=TxStatus.INSUFFICIENT_BALANCE)
        self.ledger.transfer(holder, self.holder, self.usdc, cost)
        key = (holder, series_id)
        self.holdings[key] = self.holdings.get(key, 0.0) + size_base
        return q

    def sell(self, holder: int, series_id: int, size_base: float) -> FakeQuote:
        q = self.quote(series_id, size_base, False)
        self.ledger.transfer(self.holder, holder, self.usdc, q.premium_usd - q.fee_usd)
        self.holdings[(holder, series_id)] -= size_base
        return q

    def position(self, holder: int, series_id: int) -> float:
        return self.holdings.get((holder, series_id), 0.0)

    def expire_all(self, step: int) -> None:
        """Settle every live series at once (payout ignored) and list new boards."""
        ids = self.series.active_ids()
        for key in [k for k in self.holdings if k[1] in set(ids.tolist())]:
            self.holdings[key] = 0.0
        self.series.settle(ids, step, self.oracle.price_usd)
        self.step = step

    def request_deposit(self, holder: int, amount_usd: float) -> TxStatus:
        self.ledger.transfer(holder, self.holder, self.usdc, amount_usd)
        self.deposits.append((holder, amount_usd))
        return TxStatus.QUEUED

    def process(self) -> None:
        for holder, amount in self.deposits:
            self.ledger.mint(holder, self.lp_id, amount / self.share_price_usd, "lp")
        self.deposits.clear()

    def request_withdrawal(self, holder: int, shares: float) -> TxStatus:
        self.withdrawals.append((holder, shares))
        return TxStatus.QUEUED

    def breaker_active(self, step: int) -> bool:
        return self.breaker


class FakeModel(mesa.Model):
    """The attributes option agents read (/tmp/options_api.md), with the real PerpExchange."""

    def __init__(self, *, skew_scale_usd: float = 1e11, seed: int = 0) -> None:
        super().__init__(rng=np.random.default_rng(seed))
        self.step_seconds = STEP_SECONDS
        self.stable_asset = "USDC"
        self.ledger = Ledger(("USDC", "ETH"))
        self.events = EventLog()
        self.oracle = FixedPrice(S0)
        params = PerpParams(
            markets=(
                PerpMarketParams(
                    asset="ETH", taker_fee_frac=PERP_FEE, skew_scale_usd=skew_scale_usd
                ),
            ),
            collateral=(PerpCollateralParams(asset="USDC", haircut=1.0),),
        )
        self.perp = PerpExchange(
            "perp",
            self.ledger,
            self.events,
            oracles={"ETH": self.oracle},
            params=params,
            step_seconds=STEP_SECONDS,
        )
        bank = self.ledger.open_holder("bank")
        self.endow(bank, "USDC", 1e9)
        self.perp.seed_vault(bank, 1e9)
        self.pm_exchange = FakePM(self.ledger, self.oracle, STEP_SECONDS)
        self.options_amm = FakeAMM(self.ledger, self.oracle, STEP_SECONDS)
        self.option_makers: list[MarketMaker] = []
        self.trend = (S0, S0)

    def endow(self, holder: int, asset: str, amount: float) -> None:
        self.ledger.mint(holder, self.ledger.asset_id(asset), amount, "endowment")

    def oracle_price(self, asset: str) -> float:
        return 1.0 if asset == "USDC" else self.oracle.price_usd

    def signal(self, asset: str) -> tuple[float, float]:
        return self.trend

    def set_step(self, step: int) -> None:
        self.steps = step
        self.pm_exchange.step = self.options_amm.step = step


def _maker(model: FakeModel, hedge: HedgeParams, capital_usd: float = 1e6) -> MarketMaker:
    mm = MarketMaker(
        model,
        period_seconds=60.0,
        asset="ETH",
        hedge=hedge,
        capital_usd=capital_usd,
        quote_spread_vol_points=2.0,
    )
    model.option_makers.append(mm)
    return mm


def _trader(model: FakeModel, style: OptionStyle, venue: OptionVenue, **kw) -> OptionTrader:
    return OptionTrader(
        model,
        style=style,
        venue=venue,
        asset="ETH",
        capital_usd=kw.pop("capital_usd", 1e5),
        period_seconds=3600.0,
        **kw,
    )


# ------------------------------------------------------------------------------- market maker
def test_market_maker_hedges_only_when_delta_leaves_the_band() -> None:
    model = FakeModel()
    mm = _maker(model, HedgeParams(rule=HedgeRule.DELTA_BAND, band_base=1.0))
    pm, perp = model.pm_exchange, model.perp
    pm.greeks_override[mm.pm_account] = (0.8, 1e-3)
    mm.act()
    assert mm.n_rebalances == 0 and perp.position(mm.perp_account, "ETH")[0] == 0.0
    pm.greeks_override[mm.pm_account] = (-2.5, 1e-3)
    mm.act()
    assert mm.n_rebalances == 1
    assert perp.position(mm.perp_account, "ETH")[0] == pytest.approx(2.5)
    assert mm.book_delta_gamma()[0] == pytest.approx(0.0)
    mm.act()  # hedged: nothing to do
    assert mm.n_rebalances == 1
    assert model.events.count(EventKind.HEDGE) == 1
    assert len(mm.pnl_history) == 3


def test_market_maker_whalley_wilmott_trades_to_the_band_edge() -> None:
    hedge = HedgeParams(rule=HedgeRule.WHALLEY_WILMOTT, risk_aversion=1e-4)
    model = FakeModel()
    mm = _maker(model, hedge)
    gamma = 0.05  # a book of ~70 ATM options
    half = whalley_wilmott_half_width(gamma, S0, hedge.cost_frac, hedge.risk_aversion)
    model.pm_exchange.greeks_override[mm.pm_account] = (0.9 * half, gamma)
    mm.act()
    assert mm.n_rebalances == 0
    model.pm_exchange.greeks_override[mm.pm_account] = (half + 3.0, gamma)
    mm.act()
    assert model.perp.position(mm.perp_account, "ETH")[0] == pytest.approx(-3.0)


def test_market_maker_fixed_interval_hedges_on_schedule() -> None:
    model = FakeModel()
    mm = _maker(model, HedgeParams(rule=HedgeRule.FIXED_INTERVAL, interval_steps=5))
    traded = []
    for step in range(13):
        model.set_step(step)
        model.pm_exchange.greeks_override[mm.pm_account] = (0.1 * (step + 1), 1e-3)
        before = mm.n_rebalances
        mm.act()
        if mm.n_rebalances > before:
            traded.append(step)
    assert traded == [0, 5, 10]


def test_market_maker_books_fee_and_signed_slippage() -> None:
    skew_scale = 1e7  # a thin perp: a 10 ETH trade moves the fill 0.15%
    model = FakeModel(skew_scale_usd=skew_scale)
    mm = _maker(model, HedgeParams(rule=HedgeRule.DELTA_BAND, band_base=1.0))
    perp = model.perp
    model.pm_exchange.greeks_override[mm.pm_account] = (-10.0, 0.0)
    fees_before = perp.fees_total
    mm.act()  # buys 10 ETH into an empty book: fill = S (1 + 10 S / skew / 2)
    fill = S0 * (1.0 + 0.5 * 10.0 * S0 / skew_scale)
    assert mm.hedge_fee_usd == pytest.approx(10.0 * fill * PERP_FEE)
    assert mm.hedge_fee_usd == pytest.approx(perp.fees_total - fees_before)
    assert mm.hedge_slippage_usd == pytest.approx((fill - S0) * 10.0)
    assert mm.hedge_cost_usd == pytest.approx(mm.hedge_fee_usd + mm.hedge_slippage_usd)
    # another account goes long 40 ETH; the maker's next hedge sells into that skew above the
    # index, which earns slippage (negative cost)
    other = model.ledger.open_holder("whale")
    model.endow(other, "USDC", 1e7)
    acct = perp.open_account(other)
    perp.deposit(acct, "USDC", 1e7)
    perp.trade(acct, "ETH", 40.0)
    slip_before = mm.hedge_slippage_usd
    model.pm_exchange.greeks_override[mm.pm_account] = (-8.0, 0.0)  # net +2: sell 2
    mm.act()
    assert perp.position(mm.perp_account, "ETH")[0] == pytest.approx(8.0)
    assert mm.hedge_slippage_usd < slip_before


def test_market_maker_quotes_around_the_mark_and_refuses_when_margin_is_tight() -> None:
    model = FakeModel()
    mm = _maker(model, HedgeParams(rule=HedgeRule.DELTA_BAND), capital_usd=2e4)
    pm = model.pm_exchange
    sid = pm.series.find(is_call=True, strike_usd=S0, tenor_days=28.0, step=0)
    mark = pm.mark_price(sid)
    ask, bid = mm.quote(sid, 1.0, True), mm.quote(sid, 1.0, False)
    t = float(pm.series.t_years(sid, 0))
    k = float(pm.series.strike_usd[sid])
    assert ask == pytest.approx(black76_price(S0, k, t, MARK_VOL + 0.02, 1.0, True))
    assert bid == pytest.approx(black76_price(S0, k, t, MARK_VOL - 0.02, 1.0, True))
    assert bid < mark < ask
    # PM equity 15k; one short call adds ~0.15 S + mark = ~700 USD of IM: 40 of them (~28k) is too
    # much at 80% utilisation, 10 (~7k) is fine
    assert mm.quote(sid, 40.0, True) is None
    assert mm.quote(sid, 10.0, True) is not None
    assert (mm.n_refusals, mm.n_quotes) == (1, 3)
    # a maker already short 20 may always buy back
    pm.pos[mm.pm_account][sid] = -20.0
    assert mm.quote(sid, 20.0, True) is None
    assert mm.quote(sid, 20.0, False) is not None


# ------------------------------------------------------------------------------- option traders
@pytest.mark.parametrize("venue", list(OptionVenue))
def test_protection_buyer_buys_puts_sized_to_its_holding_and_rolls(venue) -> None:
    model = FakeModel()
    _maker(model, HedgeParams(rule=HedgeRule.DELTA_BAND), capital_usd=1e7)
    trader = _trader(model, OptionStyle.PROTECTION, venue, premium_budget_frac=0.1)
    spot_base = 9e4 / S0
    assert model.ledger.balance(trader.wallet, model.ledger.asset_id("ETH")) == spot_base
    trader.act()
    series = trader.venue_obj.series
    sid = trader.series_id
    assert not series.is_call[sid]
    assert series.strike_usd[sid] == 2700.0  # 0.9 S on a 25 USD tick
    assert series.expiry_step[sid] == 28 * 24  # the 28-day board
    assert trader.position(sid) == pytest.approx(spot_base)
    trader.act()  # still protected: no second purchase
    assert trader.n_buys == 1
    # expiry: every board settles and is relisted; the trader rolls into the new 28-day put
    model.set_step(28 * 24)
    if venue is OptionVenue.AMM:
        model.options_amm.expire_all(28 * 24)
    else:
        pm = model.pm_exchange
        pm.series.settle(pm.series.active_ids(), 28 * 24, S0)
        pm.pos[trader.pm_account].clear()
    trader.act()
    assert trader.n_buys == 2 and trader.series_id != sid
    assert series.expiry_step[trader.series_id] == 2 * 28 * 24
    assert trader.position(trader.series_id) == pytest.approx(spot_base)


def test_protection_buyer_buys_less_when_premiums_exceed_its_cash() -> None:
    model = FakeModel()
    trader = _trader(model, OptionStyle.PROTECTION, OptionVenue.AMM, premium_budget_frac=0.01)
    trader.act()  # 1,000 USD for puts on 33 ETH of ~3% premium each (~3,000 USD): about a third
    held = trader.position(trader.series_id)
    assert 0.0 < held < 99e3 / S0
    assert trader.cash_usd() == pytest.approx(0.02 * 1e3, abs=1.0)  # spent 98% of the cash


@pytest.mark.parametrize("venue", list(OptionVenue))
def test_speculator_direction_follows_the_signal(venue) -> None:
    model = FakeModel()
    _maker(model, HedgeParams(rule=HedgeRule.DELTA_BAND), capital_usd=1e7)
    trader = _trader(model, OptionStyle.SPECULATOR, venue, moneyness=0.95)
    series = trader.venue_obj.series
    model.trend = (S0 * 1.0005, S0)  # inside the 0.2% band: no view
    trader.act()
    assert trader.n_buys == 0
    model.trend = (S0 * 1.01, S0)  # up-trend: a call above the spot
    trader.act()
    call = trader.series_id
    assert series.is_call[call] and series.strike_usd[call] > S0
    assert trader.position(call) > 0.0
    model.trend = (S0 * 0.99, S0)  # the trend turns: sell the call back, then buy a put
    trader.act()
    assert trader.position(call) == pytest.approx(0.0) and trader.n_sells == 1
    trader.act()
    put = trader.series_id
    assert not series.is_call[put] and series.strike_usd[put] < S0
    assert trader.position(put) > 0.0


def test_vol_seller_sells_strangles_up_to_its_leverage_then_buys_back_when_tight() -> None:
    model = FakeModel()
    mm = _maker(model, HedgeParams(rule=HedgeRule.DELTA_BAND), capital_usd=1e8)
    trader = _trader(model, OptionStyle.VOL_SELLER, OptionVenue.PM, leverage=0.5)
    pm = model.pm_exchange
    for _ in range(6):
        trader.act()
    equity, initial = trader._margin()
    # at the target, up to the bid-ask spread it paid (selling at the bid lowers equity)
    assert initial / equity == pytest.approx(0.5, rel=0.05)
    assert trader.n_sells == 2  # one strangle filled the gap; then it added nothing
    shorts = {sid: q for sid, q in pm.positions_of(trader.pm_account).items() if q < 0.0}
    assert sorted(bool(pm.series.is_call[s]) for s in shorts) == [False, True]  # a strangle
    assert all(q == pytest.approx(-pm.position(mm.pm_account, s)) for s, q in shorts.items())
    # a rally makes the short call expensive: utilisation passes the stop and it buys back
    model.oracle.price_usd = S0 * 1.25
    trader.act()
    assert trader.n_buybacks == 2
    assert all(q == pytest.approx(0.0) for q in pm.positions_of(trader.pm_account).values())


def test_vol_seller_adds_nothing_when_margin_is_already_tight() -> None:
    model = FakeModel()
    _maker(model, HedgeParams(rule=HedgeRule.DELTA_BAND), capital_usd=1e8)
    trader = _trader(model, OptionStyle.VOL_SELLER, OptionVenue.PM, leverage=0.2)
    pm = model.pm_exchange
    sid = pm.series.find(is_call=True, strike_usd=S0, tenor_days=28.0, step=0)
    pm.pos[trader.pm_account][sid] = -40.0  # IM ~ 40 x 700 = 28k of 100k equity: 0.28 > 0.2
    trader.act()
    assert trader.n_sells == 0 and trader.n_buybacks == 0


# ------------------------------------------------------------------------------- LPs
def _lp(model: FakeModel, **kw) -> OptionsLP:
    kw = {"max_drawdown_frac": 0.1, "max_delta_frac": 0.2, **kw}
    lp = OptionsLP(model, period_seconds=3600.0, capital_usd=1e5, **kw)
    lp.act()  # queue the deposit
    model.options_amm.process()
    return lp


def test_options_lp_deposits_then_withdraws_everything_on_drawdown() -> None:
    model = FakeModel()
    amm = model.options_amm
    lp = _lp(model)
    assert lp.deposit_status is TxStatus.QUEUED and lp.shares() == pytest.approx(1e5)
    amm.share_price_usd = 1.2
    lp.act()  # new peak
    amm.share_price_usd = 1.1  # -8.3% from the peak: stays
    lp.act()
    assert amm.withdrawals == [] and lp.exit_reason is ExitReason.NONE
    amm.share_price_usd = 1.07  # -10.8%: runs with all its shares
    lp.act()
    assert amm.withdrawals == [(lp.wallet, pytest.approx(1e5))]
    assert lp.exit_reason is ExitReason.DRAWDOWN
    assert model.events.count(EventKind.RUN) == 1
    lp.act()  # asked once
    assert len(amm.withdrawals) == 1


@pytest.mark.parametrize("trigger", ["delta", "breaker"])
def test_options_lp_withdraws_on_pool_delta_or_breaker(trigger) -> None:
    model = FakeModel()
    amm = model.options_amm
    lp = _lp(model)
    lp.act()
    assert amm.withdrawals == []
    if trigger == "delta":
        amm.net_delta_base = 0.25 * amm.nav_usd / S0  # 25% of NAV > 20%
    else:
        amm.breaker = True
    lp.act()
    assert len(amm.withdrawals) == 1
    expected = ExitReason.DELTA if trigger == "delta" else ExitReason.BREAKER
    assert lp.exit_reason is expected


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda m: _maker(m, HedgeParams(rule=HedgeRule.DELTA_BAND), -1.0), "capital_usd"),
        (
            lambda m: _trader(m, OptionStyle.VOL_SELLER, OptionVenue.AMM),
            "OptionTrader.venue: must be PM for VOL_SELLER",
        ),
        (
            lambda m: _trader(m, OptionStyle.PROTECTION, OptionVenue.AMM, moneyness=1.5),
            r"OptionTrader.moneyness: must be in \(0, 1\]",
        ),
        (
            lambda m: _trader(m, OptionStyle.VOL_SELLER, OptionVenue.PM, leverage=0.95),
            "OptionTrader.leverage: must satisfy",
        ),
        (lambda m: _lp(m, max_drawdown_frac=0.0), r"OptionsLP.max_drawdown_frac: must be in"),
    ],
)
def test_option_agents_reject_bad_parameters(build, message) -> None:
    with pytest.raises(ValueError, match=message):
        build(FakeModel())


def test_market_maker_pnl_history_starts_flat() -> None:
    model = FakeModel()
    mm = _maker(model, HedgeParams(rule=HedgeRule.DELTA_BAND))
    mm.act()
    assert mm.pnl_history == [pytest.approx(0.0, abs=1e-6)]
    assert math.isfinite(mm.value_usd())
